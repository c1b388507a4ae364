/// @file surge/cache/wtinylfu.hpp
/// A bounded cache with adaptive W-TinyLFU eviction (Caffeine's design): an
/// LRU admission window, a segmented LRU main region, a TinyLFU admission
/// filter, and a window size tuned online by hill climbing.
#ifndef SURGE_CACHE_WTINYLFU_HPP
#define SURGE_CACHE_WTINYLFU_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include <surge/cache/cache_base.hpp>
#include <surge/cache/detail/frequency_sketch.hpp>
#include <surge/cache/detail/index_list.hpp>
#include <surge/cache/stats.hpp>
#include <surge/detail/key_checks.hpp>

namespace surge {
namespace detail {

/// W-TinyLFU (Einziger, Friedman and Manes, 2017) with Caffeine's adaptive
/// window. Three LRU lists: the window, where every new entry starts; main's
/// probation segment; main's protected segment (80 % of main), which a
/// probation entry joins on its first hit (protected overflow is demoted back
/// to probation). When the cache is full and the window is at its target, the
/// window's oldest entry (the candidate) competes with probation's oldest (the
/// victim): the candidate is admitted to probation only if the frequency
/// sketch rates it more popular by at least 2 sightings; a candidate rated at
/// least 6 but not that much more popular still wins with probability 1/128
/// (so an attacker who floods the victim's sketch counters cannot lock a hot
/// key out forever).
///
/// Why a margin of 2 and not 1: the comparison is biased toward the
/// candidate by one sighting. The candidate was just seen (that sighting
/// brought it in); the victim is the entry of main seen longest ago. Among
/// keys of equal popularity (a loop, a scan, a zigzag, any flat stretch of a
/// trace) the candidate is therefore ahead by one in the current aging period
/// almost always, and a strict "more popular" admits it and evicts a key
/// that is just as popular, often the very next one needed: main churns like
/// an LRU. Demanding one more sighting than that bias keeps a stable set in
/// main on flat popularity, and costs a genuinely rising key one sighting.
///
/// Speed without changing a decision: a hit whose key has all four sketch
/// counters at 15 (marked in its node, for the sketch's current epoch) skips
/// the sketch, whose sighting would change nothing; about three hits in four
/// on a Zipf workload. Admission reads the victim's estimate only when the
/// candidate's could beat it. The sketch lines an insertion needs are
/// prefetched (hints only): the new key's as soon as put hashes it, the next
/// admission candidate's when it becomes the window's oldest; and the engine
/// prefetches that candidate's index slot (likely_victim), which the next
/// eviction usually erases.
///
/// Hill climbing (after Caffeine's climber): every `sample` requests (hits
/// plus insertions) the sample's hit ratio is compared with the previous
/// one's. Samples that began before the cache was full, or that have almost
/// no hits (under 1 %: a scan, a cold start), are ignored; the first full one
/// is the baseline. Then the window moves by the step: on in the same
/// direction when the ratio did not drop by a point or more (so a flat start
/// is probed, not sat on), back otherwise, and back as well at a bound. The
/// step starts at 6.25 % of the capacity toward recency, restarts there after
/// a change of 5 points or more (a phase change) and otherwise decays by 2 %
/// per sample. The window moves by whole entries (the step rounded toward
/// zero): below a capacity of 16 a step is less than one entry, so the
/// window stays at its initial single entry. A larger window favours recency
/// (bursts, moving working sets), a smaller one frequency (skewed, stable
/// popularity).
class wtinylfu_policy {
 public:
  struct links_type {
    index_links order;
    std::uint8_t region = 0;
    /// The sketch epoch in which all four of the key's counters were seen
    /// saturated (0: not known to be): until the epoch changes a sighting
    /// cannot change the sketch, so it is skipped. In the node's padding.
    std::uint16_t saturated = 0;
  };
  static_assert(sizeof(links_type) == 12, "the region and the saturation mark sit in the links' padding");

  explicit wtinylfu_policy(std::size_t nodes)
      : capacity_(nodes - 1), sketch_(nodes - 1), sample_(sample_size(nodes - 1)) {
    reset_sizes();
  }

  // The hot hooks are forced inline: in a large caller (a whole program's
  // worth of instantiations) the compiler otherwise keeps them out of line,
  // and the calls cost about 6 % of the throughput (measured in the cache
  // benchmark's single-thread scenario).

  /// A put or get_or_insert_with of the key with hash `h`: if it inserts,
  /// on_insert records a sighting, so its sketch line is loaded now, while
  /// the engine probes the index and picks the victim.
  void before_put(std::uint32_t h) const noexcept { sketch_.prefetch(h); }

  template <class Links>
  [[gnu::always_inline]] void on_insert(std::uint32_t i, Links&& links) noexcept {
    record(i, links);
    push(i, window, links);
    while (size_[window] > window_max_) move(regions_[window].first, probation, links);
    // The window's oldest entry is the next insertion's admission candidate,
    // whose estimate will be read then: start loading its sketch line now
    // (its node was just linked or read, so its hash is at hand), so that
    // the miss overlaps the operations in between instead of stalling the
    // next eviction.
    if (!regions_[window].empty()) sketch_.prefetch(links.hash(regions_[window].first));
    if (--sample_left_ == 0) climb(links);
  }

  template <class Links>
  [[gnu::always_inline]] void on_access(std::uint32_t i, Links&& links) noexcept {
    if (links(i).saturated != sketch_.epoch()) record(i, links);
    const std::uint8_t r = links(i).region;
    if (r == probation) {
      move(i, protect, links);
      demote_protected(links);
    } else {
      regions_[r].move_to_back(i, order_links(links));
    }
    ++sample_hits_;
    if (--sample_left_ == 0) climb(links);
  }

  template <class Links>
  void on_remove(std::uint32_t i, Links&& links) noexcept {
    const std::uint8_t r = links(i).region;
    regions_[r].unlink(i, order_links(links));
    --size_[r];
  }

  template <class Links>
  [[nodiscard, gnu::always_inline]] std::uint32_t victim(Links&& links) noexcept {
    warm_ = true;
    const std::uint32_t main_victim =
        !regions_[probation].empty() ? regions_[probation].first : regions_[protect].first;
    if (size_[window] >= window_max_ && !regions_[window].empty()) {
      const std::uint32_t candidate = regions_[window].first;
      if (main_victim == index_npos) return candidate;
      if (!admit(links.hash(candidate), links.hash(main_victim))) return candidate;
      move(candidate, probation, links);
      return main_victim;
    }
    return main_victim != index_npos ? main_victim : regions_[window].first;
  }

  /// The window's oldest entry: the next admission candidate, which the next
  /// eviction removes unless it wins the duel (most candidates lose: on the
  /// benchmark's Zipf workload about 19 in 20). A hint for the engine, which
  /// prefetches the node's index slot; its node was just touched (see
  /// on_insert), so reading its hash costs no miss.
  [[nodiscard]] std::uint32_t likely_victim() const noexcept { return regions_[window].first; }

  void clear() noexcept {
    for (auto& r : regions_) r = index_list{};
    for (auto& s : size_) s = 0;
    sketch_.clear();
    reset_sizes();
  }

  [[nodiscard]] std::size_t memory_bytes() const noexcept { return sketch_.memory_bytes(); }

  /// The window's current target size (for tests and the simulator).
  [[nodiscard]] std::size_t window_capacity() const noexcept { return window_max_; }

 private:
  static constexpr std::uint8_t window = 0, probation = 1, protect = 2;

  /// Requests per hill-climbing sample.
  static std::size_t sample_size(std::size_t capacity) noexcept { return capacity < 100 ? 1000 : 10 * capacity; }

  void reset_sizes() noexcept {
    window_max_ = capacity_ / 100 > 0 ? capacity_ / 100 : 1;
    set_main();
    step_ = static_cast<double>(capacity_) * step_share;  // first toward recency: 1 % is already near the bottom
    previous_ratio_ = 0;
    sample_hits_ = 0;
    sample_left_ = sample_;
    rng_ = 0x2545F4914F6CDD1DULL;
    warm_ = sample_warm_ = has_baseline_ = false;
  }
  void set_main() noexcept {
    main_max_ = capacity_ - window_max_;
    protected_max_ = main_max_ - main_max_ / 5;
  }

  template <class Links>
  static auto order_links(Links& links) noexcept {
    return [&links](std::uint32_t i) noexcept -> index_links& { return links(i).order; };
  }
  /// One sighting of node i's key in the sketch, and its saturation mark.
  template <class Links>
  [[gnu::always_inline]] void record(std::uint32_t i, Links& links) noexcept {
    const std::uint16_t e = sketch_.epoch();
    const bool saturated = sketch_.increment(links.hash(i));
    if (sketch_.epoch() == e) {
      links(i).saturated = saturated ? e : 0;
    } else {  // the sighting made the sketch halve its counters
      links(i).saturated = 0;
      if (sketch_.epoch() == 1) forget_saturation(links);  // wrapped: old marks could match again
    }
  }
  template <class Links>
  [[gnu::noinline]] void forget_saturation(Links& links) noexcept {  // once per 65535 halvings
    for (const index_list& r : regions_) {
      for (std::uint32_t i = r.first; i != index_npos; i = links(i).order.next) links(i).saturated = 0;
    }
  }
  template <class Links>
  void push(std::uint32_t i, std::uint8_t r, Links& links) noexcept {
    links(i).region = r;
    regions_[r].push_back(i, order_links(links));
    ++size_[r];
  }
  template <class Links>
  void move(std::uint32_t i, std::uint8_t r, Links& links) noexcept {
    on_remove(i, links);
    push(i, r, links);
  }
  template <class Links>
  void demote_protected(Links& links) noexcept {
    while (size_[protect] > protected_max_) move(regions_[protect].first, probation, links);
  }

  [[nodiscard]] bool admit(std::uint32_t candidate, std::uint32_t victim) noexcept {
    const unsigned c = sketch_.frequency(candidate);
    static_assert(admit_margin < warm);
    if (c <= admit_margin)
      return false;  // cannot be ahead, and too cold for the random pass: no need to read the victim
    const unsigned v = sketch_.frequency(victim);
    if (c > v + admit_margin) return true;
    if (c < warm) return false;
    rng_ ^= rng_ << 13;  // xorshift64
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return (rng_ & 127) == 0;
  }

  template <class Links>
  [[gnu::noinline]] void climb(Links& links) noexcept {  // once per sample: kept out of the hot path
    const double ratio = static_cast<double>(sample_hits_) / static_cast<double>(sample_);
    sample_hits_ = 0;
    sample_left_ = sample_;
    const bool counted = sample_warm_;
    sample_warm_ = warm_;
    // A sample that began before the cache was full, or with (almost) no hits
    // (a scan, a cold start), says nothing about the window's size.
    if (!counted || capacity_ < 2 || ratio < noise) return;
    if (!has_baseline_) {  // the first full sample is the baseline
      previous_ratio_ = ratio;
      has_baseline_ = true;
      return;
    }
    const double change = ratio - previous_ratio_;
    previous_ratio_ = ratio;
    // Worse beyond noise: step back. Otherwise go on (probing on, even when
    // the change is within noise, so that a flat start is left behind).
    const double amount = change <= -noise ? -step_ : step_;
    const double restart = static_cast<double>(capacity_) * step_share;
    step_ = (change >= restart_threshold || change <= -restart_threshold) ? (amount >= 0 ? restart : -restart)
                                                                          : amount * step_decay;
    std::size_t moved = 0;
    if (amount > 0) {
      moved = grow_window(static_cast<std::size_t>(amount), links);
    } else if (amount < 0) {
      moved = shrink_window(static_cast<std::size_t>(-amount), links);
    }
    if (moved == 0) step_ = -step_;  // at a bound: the only way left is back
  }

  template <class Links>
  std::size_t grow_window(std::size_t quota, Links& links) noexcept {
    if (quota > main_max_ - 1) quota = main_max_ - 1;  // main keeps at least 1
    window_max_ += quota;
    set_main();
    demote_protected(links);
    for (std::size_t k = 0; k < quota && size_[window] < window_max_; ++k) {
      const std::uint32_t i = !regions_[probation].empty() ? regions_[probation].first : regions_[protect].first;
      if (i == index_npos) break;
      move(i, window, links);
    }
    return quota;
  }

  template <class Links>
  std::size_t shrink_window(std::size_t quota, Links& links) noexcept {
    if (quota > window_max_ - 1) quota = window_max_ - 1;  // the window keeps at least 1
    window_max_ -= quota;
    set_main();
    while (size_[window] > window_max_) move(regions_[window].first, probation, links);
    return quota;
  }

  static constexpr double step_share = 0.0625;
  static constexpr double restart_threshold = 0.05;
  static constexpr double step_decay = 0.98;
  static constexpr double noise = 0.01;  // sample-to-sample changes below 1 point are noise
  static constexpr unsigned warm = 6;
  static constexpr unsigned admit_margin = 1;  // the candidate's own fresh sighting (see the class comment)

  std::size_t capacity_;
  frequency_sketch sketch_;
  std::size_t sample_;
  index_list regions_[3];
  std::size_t size_[3] = {0, 0, 0};
  std::size_t window_max_ = 1, main_max_ = 0, protected_max_ = 0;
  double step_ = 0, previous_ratio_ = 0;
  std::size_t sample_hits_ = 0;
  std::size_t sample_left_ = 0;  // requests left in the current sample (counted down: one test per request)
  std::uint64_t rng_ = 0;
  bool warm_ = false, sample_warm_ = false, has_baseline_ = false;
};

}  // namespace detail

/// The policy class of eviction_policy::wtinylfu.
template <>
struct detail::policy_for<eviction_policy::wtinylfu> {
  using type = detail::wtinylfu_policy;  ///< The policy class.
};

/// A fixed-capacity key -> value cache with adaptive W-TinyLFU eviction, the
/// design of Java's Caffeine: new entries enter a small LRU window; leaving
/// it, they must beat main's least valuable entry on estimated popularity by
/// two sightings (a
/// 4-bit count-min sketch, one cache line per key, aged by halving) to stay, so
/// one-off keys and scans never flush the popular ones; main is a segmented
/// LRU (probation, protected). The window's share of the capacity (1 % at
/// first, at least one entry) is tuned online by hill climbing on the sampled
/// hit ratio: it grows on recency-friendly workloads (loops, bursts) and
/// shrinks on frequency-skewed ones. The climber moves whole entries, 6.25 %
/// of the capacity at most: below a capacity of 16 the window stays at one
/// entry. Usually the best hit ratio of surge's policies; see the cache docs
/// for the table.
///
/// `get`, `get_or_insert_with` and `put` each record one sighting of the key
/// in the sketch (a miss-then-insert is one sighting); `peek` and `contains`
/// record nothing and change no order or stats. Everything else (options,
/// TTL, listener, heterogeneous lookup, exception guarantees, invalidation of
/// returned pointers) is exactly as for lru_cache. Admission and hill climbing
/// are deterministic (a fixed seed), so a given sequence of calls always
/// evicts the same entries.
///
/// Memory: nodes are 32 bytes for 8-byte keys and values (the region tag and
/// a saturation mark sit in the padding), plus 16 to 32 bytes of index and 8 to 16 bytes of sketch
/// per entry of capacity (64 bytes of sketch at least), all allocated at construction; no
/// operation allocates afterwards.
///
/// Complexity: O(1) expected per operation, amortised for window resizing:
/// once every sample of 10 x capacity requests (1000 below capacity 100) the
/// climber moves at most 6.25 % of the capacity between window and main, and
/// after 10 x capacity counted sightings (80 below a capacity of 8; then
/// about every half as many) the sketch halves its counters (O(capacity)).
/// `clear`, `purge_expired`, `for_each` and the destructor are O(capacity).
///
/// Thread safety: not thread-safe. Use sharded_cache to share one.
///
/// Bad input: capacity 0 (or above `max_capacity`) and a zero, negative or NaN
/// ttl throw std::invalid_argument (a bool, a character or a floating-point
/// capacity does not compile); user exceptions as for lru_cache (basic
/// guarantee).
///
/// Members: cache_base's (all of them, constructors under this name:
/// `wtinylfu_cache<K, V> c(capacity, options)`).
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>,
          class Clock = std::chrono::steady_clock>
class wtinylfu_cache : public cache_base<Key, Value, Hash, KeyEqual, Clock, eviction_policy::wtinylfu> {
  SURGE_DETAIL_CHECK_HASHED_KEY("surge::wtinylfu_cache", Key, Hash, KeyEqual);
  using base = cache_base<Key, Value, Hash, KeyEqual, Clock, eviction_policy::wtinylfu>;

 public:
  using base::base;

  /// The admission window's current share of the capacity, in entries (1 %
  /// at construction, at least 1, then moved by the hill climber; always 1
  /// below a capacity of 16). O(1).
  [[nodiscard]] std::size_t window_capacity() const noexcept { return this->policy().window_capacity(); }
};

}  // namespace surge

#endif  // SURGE_CACHE_WTINYLFU_HPP
