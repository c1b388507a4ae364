/// @file surge/balance/least_connections.hpp
/// Least connections (nginx `least_conn`), with leases that count in-flight
/// requests per backend.
#ifndef SURGE_BALANCE_LEAST_CONNECTIONS_HPP
#define SURGE_BALANCE_LEAST_CONNECTIONS_HPP

#include <surge/balance/backend_lease.hpp>
#include <surge/balance/detail/validate.hpp>
#include <surge/balance/weights.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/count_checks.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

namespace surge {

namespace detail {

/// Test seam of least_connections, for surge's own tests only: when set,
/// called by a set_healthy that marks a backend up, between its two steps
/// (the backend's flag and the count of backends up), the window in which
/// another call may see one changed and not the other.
inline void (*set_healthy_hook)() noexcept = nullptr;

/// The state and algorithms of `least_connections` (documented there), in a
/// heap block its leases share: see `lease_block`.
class least_connections_core final : public lease_block, private lease_hook {
 public:
  /// Levels of the equal-weight index: backends holding this many leases or
  /// more are compared through the O(n) overflow scan.
  static constexpr std::size_t levels = 64;
  /// Equal-weight sets up to this size scan counters instead (at that size a
  /// scan is as quick as the index).
  static constexpr std::size_t scan_max = 16;
  /// Key scans over this many backends or more, all up, run in two passes.
  static constexpr std::size_t two_pass_min = 32;
  /// The largest lcm of the scaled weights for which weighted sets keep
  /// exact integer keys (beyond it: the cross-multiplication scan).
  static constexpr std::uint64_t max_key_scale = std::uint64_t{1} << 32;

  explicit least_connections_core(std::size_t n)
      : lease_hook{&give_back_unit}, n_(detail::check_count(n, "least_connections: n")) {
    init();
  }
  explicit least_connections_core(std::span<const double> weights)
      : lease_hook{&give_back_unit},
        n_(weights.size()),
        weight_(detail::check_weights(weights, "least_connections: weights")) {
    init();
  }

  /// Hands the block to the live leases (see lease_block): called by the
  /// owning least_connections' destructor instead of delete.
  void close() noexcept { orphan(this, bits_ ? held_.get() : active_.get(), n_); }

  /// A lease on the least loaded usable backend.
  [[nodiscard]] backend_lease pick() noexcept { return mode_ == path::counters ? pick_scan() : pick_other(); }

  /// Backend i's current number of active leases (0 when out of range).
  [[nodiscard]] std::int64_t active(std::size_t i) const noexcept {
    if (i >= n_) return 0;
    if (!bits_) return active_[i].load(std::memory_order_acquire) / (step_.empty() ? 1 : step_[i]);
    return std::popcount(column(i)) + extra_[i].load();
  }
  /// Marks backend i up or down; false when i is out of range.
  bool set_healthy(std::size_t i, bool up) noexcept {
    if (i >= n_) return false;
    const std::uint64_t b = bit(i);
    // The count goes up before the flag does (taken back if the flag was up
    // already) and down after it, so it is never below the number of flags
    // up: it reads 0 (panic mode) only when every flag was down.
    if (up) {
      if (!(up_[i / 64].load() & b)) {
        up_count_.fetch_add(1);
        if (set_healthy_hook != nullptr) set_healthy_hook();
        if (up_[i / 64].fetch_or(b) & b) up_count_.fetch_sub(1);
      }
    } else {
      if (up_[i / 64].fetch_and(~b) & b) up_count_.fetch_sub(1);
    }
    // A backend that came up (or a switch in or out of panic mode) may hold
    // fewer leases than the hinted minimum: restart the hint at level 0.
    hint_.store(0);
    return true;
  }
  [[nodiscard]] bool healthy(std::size_t i) const noexcept {
    return i < n_ && (up_[i / 64].load(std::memory_order_relaxed) & bit(i)) != 0;
  }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

  /// True when picks compare exact integer keys: equal weights, or exact
  /// weights whose lcm is at most `max_key_scale`; false when weighted picks
  /// cross-multiply in double arithmetic.
  [[nodiscard]] bool keyed() const noexcept { return weight_.empty(); }

  /// Diagnostic for tests: true when the equal-weight index is exactly the
  /// canonical form of the counts (every backend's bits a prefix, overflow
  /// only above a full column, no repair pending) and the level hint is not
  /// above the minimum usable count. Meaningful only while no other call
  /// runs; always true for weighted sets. O(64·n).
  [[nodiscard]] bool index_consistent() const noexcept {
    if (!bits_) return true;
    const bool panic = up_count_.load() == 0;
    std::size_t min_level = levels;
    for (std::size_t i = 0; i < n_; ++i) {
      const std::uint64_t m = column(i);
      const std::int64_t e = extra_[i].load();
      const int cnt = std::popcount(m);
      if (m != prefix(cnt) || e < 0 || (e > 0 && cnt != static_cast<int>(levels))) return false;
      if (repair_[i].load() != 0) return false;
      if (panic || healthy(i)) min_level = std::min(min_level, static_cast<std::size_t>(cnt));
    }
    return hint_.load() <= min_level;
  }

 private:
  // ---- equal weights: the level index -------------------------------------
  //
  // Representation. bits_[w·64 + c] holds, for the 64 backends of word w,
  // bit j set when backend 64w+j holds more than c leases; extra_[i] counts
  // i's leases beyond the bits. i's count is popcount(column(i)) + extra_[i]:
  // every pick adds exactly one unit (a bit it found clear and set, or +1 on
  // extra_) and every release removes exactly one (a bit it found set and
  // cleared, or −1 on extra_), so counts are exact whatever the interleaving.
  // The *canonical* form of a count k is bits 0..min(k,64)−1 set and
  // extra = max(k − 64, 0). Single-threaded every operation keeps the form
  // canonical (a pick sets the lowest clear bit of a backend missing from the
  // minimum level; a release clears the top bit, or takes from extra_ first),
  // so the lowest level from which a usable backend is missing is its count
  // and the minimum — picks are exactly the linear scan's.
  //
  // hint_ is a lower bound of that minimum level (64: every usable backend
  // has a full column). A pick that finds level c full raises it with a CAS
  // c → c+1 and then scans level c again; a release that clears a bit at
  // level h afterwards lowers the hint to h if it is above. All of these are
  // seq_cst, so of a raise and a racing release at level c at least one sees
  // the other (the rescan sees the cleared bit, or the release sees the
  // raised hint) and the hint ends at most c. set_healthy stores 0 after its
  // change.

  static constexpr std::uint64_t bit(std::size_t i) noexcept { return std::uint64_t{1} << (i % 64); }
  static constexpr std::uint64_t prefix(int k) noexcept {
    return k >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << k) - 1;
  }
  // Word w's levels are adjacent (bits_[w·64 + c]): a backend's neighbouring
  // levels share a cache line.
  std::atomic<std::uint64_t>& word(std::size_t c, std::size_t i) const noexcept { return bits_[i / 64 * levels + c]; }
  bool has(std::size_t c, std::size_t i) const noexcept { return (word(c, i).load() & bit(i)) != 0; }
  // Level bits of backend i as one word (bit c: i is in level c).
  std::uint64_t column(std::size_t i) const noexcept {
    std::uint64_t m = 0;
    for (std::size_t c = 0; c < levels; ++c)
      if (has(c, i)) m |= std::uint64_t{1} << c;
    return m;
  }
  // Backends of word w a pick may choose: the up ones, or all in panic mode.
  std::uint64_t usable(std::size_t w, bool panic) const noexcept {
    return panic ? (w + 1 == words_ ? last_mask_ : ~std::uint64_t{0}) : up_[w].load();
  }

  void init() {
    words_ = (n_ + 63) / 64;
    last_mask_ = n_ % 64 == 0 ? ~std::uint64_t{0} : (std::uint64_t{1} << (n_ % 64)) - 1;
    up_.reset(new std::atomic<std::uint64_t>[words_]);
    for (std::size_t w = 0; w < words_; ++w)
      up_[w].store(w + 1 == words_ ? last_mask_ : ~std::uint64_t{0}, std::memory_order_relaxed);
    up_count_.store(n_, std::memory_order_relaxed);
    // Equal weights order backends exactly as no weights do.
    if (!weight_.empty() && std::all_of(weight_.begin(), weight_.end(), [&](double w) { return w == weight_[0]; }))
      weight_.clear();
    const bool equal = weight_.empty();
    if (!equal) {
      step_ = key_steps(weight_);
      if (!step_.empty()) weight_.clear();  // keyed: the steps say it all
    }
    if (!equal && step_.empty()) {
      // Cross-multiplied: scale by a power of two (exact) so the largest
      // weight is below 1 and no count·weight product can overflow.
      detail::scale_below_one(weight_, "least_connections: weights", std::numeric_limits<double>::min());
    }
    mode_ = !equal ? (step_.empty() ? path::cross : path::keys) : n_ <= scan_max ? path::counters : path::levels;
    if (!equal || n_ <= scan_max) {
      active_.reset(new std::atomic<std::int64_t>[n_]);
      for (std::size_t i = 0; i < n_; ++i) active_[i].store(0, std::memory_order_relaxed);
      return;
    }
    bits_.reset(new std::atomic<std::uint64_t>[levels * words_]);
    for (std::size_t k = 0; k < levels * words_; ++k) bits_[k].store(0, std::memory_order_relaxed);
    extra_.reset(new std::atomic<std::int64_t>[n_]);
    top_.reset(new std::atomic<std::uint8_t>[n_]);
    repair_.reset(new std::atomic<std::uint32_t>[n_]);
    held_.reset(new std::atomic<std::int64_t>[n_]);
    for (std::size_t i = 0; i < n_; ++i) {
      held_[i].store(0, std::memory_order_relaxed);
      extra_[i].store(0, std::memory_order_relaxed);
      top_[i].store(0, std::memory_order_relaxed);
      repair_[i].store(0, std::memory_order_relaxed);
    }
  }

  // The first backend at or after `start` (rotation order) that is usable and
  // missing from level c; n_ if none.
  std::size_t find_free(std::size_t c, std::size_t start, bool panic) const noexcept {
    const std::atomic<std::uint64_t>* lvl = &bits_[c];
    const std::size_t w0 = start / 64;
    const std::uint64_t from = ~std::uint64_t{0} << (start % 64);
    const std::uint64_t f = ~lvl[w0 * levels].load() & usable(w0, panic) & from;
    if (f) return w0 * 64 + static_cast<std::size_t>(std::countr_zero(f));
    return find_free_rest(lvl, w0, from, panic);
  }
  std::size_t find_free_rest(const std::atomic<std::uint64_t>* lvl, std::size_t w0, std::uint64_t from,
                             bool panic) const noexcept {
    for (std::size_t w = w0 + 1; w < words_; ++w) {
      const std::uint64_t g = ~lvl[w * levels].load() & usable(w, panic);
      if (g) return w * 64 + static_cast<std::size_t>(std::countr_zero(g));
    }
    for (std::size_t w = 0; w < w0; ++w) {
      const std::uint64_t g = ~lvl[w * levels].load() & usable(w, panic);
      if (g) return w * 64 + static_cast<std::size_t>(std::countr_zero(g));
    }
    const std::uint64_t f = ~lvl[w0 * levels].load() & usable(w0, panic) & ~from;
    return f ? w0 * 64 + static_cast<std::size_t>(std::countr_zero(f)) : n_;
  }

  void lower_hint(std::size_t h) noexcept {
    std::size_t c = hint_.load();
    while (c > h && !hint_.compare_exchange_weak(c, h)) {
    }
  }

  // Out of line, reached through pick_other: inlined next to the counter
  // scan it made a caller's loop over small sets 20 % slower (register
  // pressure), and a call costs the index nothing measurable.
  [[gnu::noinline]] backend_lease pick_level() noexcept {
    const std::size_t start = rotor_.load(std::memory_order_relaxed);
    // A load and a store, not a read-modify-write: racing picks may share a
    // start, which only changes how ties break under concurrency.
    rotor_.store(start + 1 == n_ ? 0 : start + 1, std::memory_order_relaxed);
    for (;;) {
      const bool panic = up_count_.load() == 0;
      std::size_t c = hint_.load();
      if (c >= levels) return pick_overflow(start, panic);
      const std::size_t i = find_free(c, start, panic);
      if (i == n_) {
        // Level c is full: raise the hint, then look again (a release may
        // have cleared a bit at level c before the raise was visible to it).
        if (hint_.compare_exchange_strong(c, c + 1) && find_free(c, 0, up_count_.load() == 0) != n_) lower_hint(c);
        continue;
      }
      const std::uint64_t b = bit(i);
      if (word(c, i).fetch_or(b) & b) continue;  // a racing pick took this slot
      top_[i].store(static_cast<std::uint8_t>(c + 1), std::memory_order_relaxed);
      if (c > 0 && !has(c - 1, i)) repair(i);  // raced with a release: a hole below
      held_[i].fetch_add(1, std::memory_order_relaxed);
      return lease_factory::make(i, this, &held_[i], 1, nullptr, static_cast<lease_hook*>(this));
    }
  }

  // Every usable backend has a full column: the fewest overflow units wins,
  // first in rotation order. O(n).
  backend_lease pick_overflow(std::size_t start, bool panic) noexcept {
    std::size_t best = n_;
    std::int64_t best_extra = 0;
    for (std::size_t k = 0; k < n_; ++k) {
      const std::size_t i = start + k < n_ ? start + k : start + k - n_;
      if (!(usable(i / 64, panic) & bit(i))) continue;
      const std::int64_t e = extra_[i].load();
      if (best == n_ || e < best_extra) {
        best = i;
        best_extra = e;
      }
    }
    if (best == n_) best = start;  // every flag flipped down mid-scan
    extra_[best].fetch_add(1);
    top_[best].store(static_cast<std::uint8_t>(levels), std::memory_order_relaxed);
    if (column(best) != prefix(levels)) repair(best);  // raced with a release: bits free below
    held_[best].fetch_add(1, std::memory_order_relaxed);
    return lease_factory::make(best, this, &held_[best], 1, nullptr, static_cast<lease_hook*>(this));
  }

  static void give_back_unit(detail::lease_hook* self, std::size_t i) noexcept {
    static_cast<least_connections_core*>(self)->release_unit(i);
  }

  // The highest level holding backend i, searched from the hint t (i's count
  // when nothing raced); -1 when i is in no level.
  long find_top(std::size_t i, std::size_t t) const noexcept {
    long h = t == 0 ? 0 : static_cast<long>(std::min(t, levels)) - 1;
    if (has(static_cast<std::size_t>(h), i)) {
      while (h + 1 < static_cast<long>(levels) && has(static_cast<std::size_t>(h) + 1, i)) ++h;
      return h;
    }
    while (--h >= 0)
      if (has(static_cast<std::size_t>(h), i)) return h;
    return -1;
  }

  void release_unit(std::size_t i) noexcept {
    const std::uint64_t b = bit(i);
    // Fast path: top_ (i's count when nothing raced) names the top bit, and
    // counts of 64 or more take the general path (overflow units go first).
    // A wrong guess that still clears a set bit is caught by the checks after
    // it, like any race.
    const std::size_t t = top_[i].load(std::memory_order_relaxed);
    if (t - 1 < levels - 1 && (word(t - 1, i).fetch_and(~b) & b)) {
      top_[i].store(static_cast<std::uint8_t>(t - 1), std::memory_order_relaxed);
      if (has(t, i) || extra_[i].load() > 0) repair(i);  // raced with a pick
      lower_hint(t - 1);
      return;
    }
    for (;;) {
      std::int64_t e = extra_[i].load();
      if (e > 0) {
        if (extra_[i].compare_exchange_weak(e, e - 1)) return;
        continue;
      }
      const long h = find_top(i, top_[i].load(std::memory_order_relaxed));
      if (h < 0) {
        // The unit is in a repairer's hands: owe it (extra_ < 0) and let the
        // repair pay it back. The count stays exact meanwhile.
        extra_[i].fetch_sub(1);
        repair(i);
        return;
      }
      const auto level = static_cast<std::size_t>(h);
      if (!(word(level, i).fetch_and(~b) & b)) continue;  // a racing release took it
      top_[i].store(static_cast<std::uint8_t>(level), std::memory_order_relaxed);
      if ((level + 1 < levels && has(level + 1, i)) || extra_[i].load() > 0) repair(i);  // raced with a pick
      lower_hint(level);
      return;
    }
  }

  // Returns backend i's index to its canonical form. Why the index converges:
  // a non-canonical column has a clear bit a below a set bit a+1, or overflow
  // units (or a debt) beside a non-full column. Whichever write came last
  // among the two positions is followed, in its own thread, by a seq_cst load
  // of the other one: a pick that set a+1 checks a, a release that cleared a
  // checks a+1 and extra_, an overflow pick checks the whole column, a debt
  // always asks for repair — so the last writer sees the defect and calls
  // repair(i). Requests are counted in repair_[i]: the thread that raises it
  // from 0 repairs, and keeps repairing until it takes the count back to 0,
  // so a request made during a repair is served by another full pass that
  // starts after it. A pass moves units (the top bit, or one overflow unit)
  // into the lowest hole until it reads a canonical column; each move is an
  // RMW that checks it took or placed a unit, so units are never lost or
  // doubled, only held in hand between a take and a place (a release that
  // finds no bit then owes its unit in extra_).
  void repair(std::size_t i) noexcept {
    if (repair_[i].fetch_add(1) != 0) return;  // the running repairer will pass again
    std::uint32_t requests = 1;
    for (;;) {
      normalize(i);
      requests = repair_[i].fetch_sub(requests) - requests;
      if (requests == 0) return;
    }
  }
  // Puts one unit held in hand into the lowest free level from l (or extra_).
  void place(std::size_t i, std::size_t l) noexcept {
    for (std::size_t c = l; c < levels; ++c)
      if (!(word(c, i).fetch_or(bit(i)) & bit(i))) return;
    extra_[i].fetch_add(1);
  }
  void normalize(std::size_t i) noexcept {
    const std::uint64_t b = bit(i);
    for (;;) {
      const std::uint64_t m = column(i);
      std::int64_t e = extra_[i].load();
      const int cnt = std::popcount(m);
      const bool full = cnt == static_cast<int>(levels);
      if (m == prefix(cnt) && e >= 0 && (e == 0 || full)) {
        top_[i].store(static_cast<std::uint8_t>(cnt), std::memory_order_relaxed);
        return;
      }
      if (m != 0 && (e < 0 || m != prefix(cnt))) {
        // Take the top unit: to pay a debt, or to fill the lowest hole.
        const auto h = static_cast<std::size_t>(63 - std::countl_zero(m));
        if (!(word(h, i).fetch_and(~b) & b)) continue;
        lower_hint(h);
        if (e < 0) {
          extra_[i].fetch_add(1);
        } else {
          place(i, static_cast<std::size_t>(std::countr_zero(~m)));
        }
        continue;
      }
      if (e > 0 && !full && extra_[i].compare_exchange_weak(e, e - 1))
        place(i, static_cast<std::size_t>(std::countr_zero(~m)));
      // Otherwise the reads were not a consistent snapshot: read again.
    }
  }

  // ---- weighted, or at most scan_max backends: a scan of counters ---------

  // Steps L/w_i of exact integer keys (see the class comment), or empty when
  // the weights are not exact or L would exceed max_key_scale.
  static std::vector<std::int64_t> key_steps(const std::vector<double>& weights) {
    const int shift = detail::dyadic_shift(weights);
    if (shift < 0) return {};
    std::vector<std::uint64_t> w;
    w.reserve(weights.size());
    std::uint64_t g = 0;
    for (double x : weights) {
      const double scaled = std::ldexp(x, shift);
      if (scaled > static_cast<double>(max_key_scale)) return {};
      w.push_back(static_cast<std::uint64_t>(scaled));
      g = std::gcd(g, w.back());
    }
    std::uint64_t l = 1;
    for (auto& v : w) {
      v /= g;
      const std::uint64_t q = l / std::gcd(l, v);
      if (q > max_key_scale / v) return {};
      l = q * v;
    }
    std::vector<std::int64_t> step;
    step.reserve(w.size());
    for (std::uint64_t v : w) step.push_back(static_cast<std::int64_t>(l / v));
    return step;
  }

  backend_lease pick_scan() noexcept {
    const std::size_t start = static_cast<std::size_t>(rotor_.fetch_add(1, std::memory_order_relaxed) % n_);
    const std::size_t up = up_count_.load(std::memory_order_relaxed);
    std::size_t best = up != n_ && up != 0 ? scan<false, true>(start) : scan<false, false>(start);
    if (best == n_) best = start;  // every flag flipped down mid-scan
    active_[best].fetch_add(1, std::memory_order_acq_rel);
    return lease_factory::make(best, this, &active_[best]);
  }
  // The other paths, behind one out-of-line call (each a tail call from
  // here): the counter scan inlined next to one call is as quick as alone;
  // next to three, 7 % slower.
  [[gnu::noinline]] backend_lease pick_other() noexcept {
    if (mode_ == path::keys) return pick_keyed();
    return mode_ == path::levels ? pick_level() : pick_cross();
  }
  // Keyed weights.
  [[gnu::noinline]] backend_lease pick_keyed() noexcept {
    const std::size_t start = static_cast<std::size_t>(rotor_.fetch_add(1, std::memory_order_relaxed) % n_);
    const std::size_t up = up_count_.load(std::memory_order_relaxed);
    std::size_t best = up != n_ && up != 0  ? scan<false, true>(start)
                       : n_ >= two_pass_min ? scan_two_pass(start)
                                            : scan<false, false>(start);
    if (best == n_) best = start;  // every flag flipped down mid-scan
    active_[best].fetch_add(step_[best], std::memory_order_acq_rel);
    return lease_factory::make(best, this, &active_[best], step_[best]);
  }
  // Weights cross-multiplied in double arithmetic, on plain counts.
  [[gnu::noinline]] backend_lease pick_cross() noexcept {
    const std::size_t start = static_cast<std::size_t>(rotor_.fetch_add(1, std::memory_order_relaxed) % n_);
    const std::size_t up = up_count_.load(std::memory_order_relaxed);
    std::size_t best = up != n_ && up != 0 ? scan<true, true>(start) : scan<true, false>(start);
    if (best == n_) best = start;  // every flag flipped down mid-scan
    active_[best].fetch_add(1, std::memory_order_acq_rel);
    return lease_factory::make(best, this, &active_[best]);
  }
  // Every backend usable, keys compared as they are (n >= two_pass_min): the
  // first backend in rotation order from `start` with the least key, in two
  // passes over the keys (relaxed loads). The minimum is kept in four
  // independent running minima, so the loads pipeline instead of waiting on
  // one compare chain; then the first backend from `start` holding it. A key
  // that changed between the passes may leave no match: then `start`, as a
  // racing pick may choose any backend. Single-threaded it is exactly the
  // one-pass scan's choice.
  std::size_t scan_two_pass(std::size_t start) const noexcept {
    const std::atomic<std::int64_t>* a = active_.get();
    const auto at = [a](std::size_t i) { return a[i].load(std::memory_order_relaxed); };
    // Unrolled by hand: compilers neither unroll nor keep in registers an
    // array indexed inside a loop of atomic loads.
    std::int64_t l0 = at(0), l1 = l0, l2 = l0, l3 = l0;
    std::size_t i = 1;
    for (; i + 4 <= n_; i += 4) {
      const std::int64_t v0 = at(i), v1 = at(i + 1), v2 = at(i + 2), v3 = at(i + 3);
      l0 = v0 < l0 ? v0 : l0;
      l1 = v1 < l1 ? v1 : l1;
      l2 = v2 < l2 ? v2 : l2;
      l3 = v3 < l3 ? v3 : l3;
    }
    for (; i < n_; ++i) {
      const std::int64_t v = at(i);
      l0 = v < l0 ? v : l0;
    }
    const std::int64_t min = std::min(std::min(l0, l1), std::min(l2, l3));
    for (std::size_t k = start; k < n_; ++k)
      if (at(k) <= min) return k;
    for (std::size_t k = 0; k < start; ++k)
      if (at(k) <= min) return k;
    return start;
  }
  // The first usable backend, in order start, start+1, ..., n-1, 0, ...,
  // start-1, with the least active/weight; n_ if none is usable.
  template <bool Weighted, bool CheckHealth>
  std::size_t scan(std::size_t start) const noexcept {
    std::size_t best = start;
    if constexpr (CheckHealth) {
      std::size_t k = 0;
      while (k < n_ && !healthy(best)) {
        best = best + 1 == n_ ? 0 : best + 1;
        ++k;
      }
      if (k == n_) return n_;
    }
    std::int64_t best_active = active_[best].load(std::memory_order_relaxed);
    auto visit = [&](std::size_t from, std::size_t to) {
      for (std::size_t i = from; i < to; ++i) {
        if constexpr (CheckHealth) {
          if (!healthy(i)) continue;
        }
        const std::int64_t a = active_[i].load(std::memory_order_relaxed);
        bool wins;
        if constexpr (Weighted) {
          wins = static_cast<double>(a) * weight_[best] < static_cast<double>(best_active) * weight_[i];
        } else {
          wins = a < best_active;
        }
        if (wins) {
          best = i;
          best_active = a;
        }
      }
    };
    // Candidates after the first usable one, in rotation order.
    if (best >= start) {
      visit(best + 1, n_);
      visit(0, start);
    } else {
      visit(best + 1, start);
    }
    return best;
  }

  std::size_t n_;
  enum class path : std::uint8_t { counters, levels, keys, cross } mode_ = path::counters;
  std::size_t words_ = 0;
  std::uint64_t last_mask_ = 0;
  std::unique_ptr<std::atomic<std::uint64_t>[]> up_;  // health, one bit per backend
  std::atomic<std::size_t> up_count_{0};
  // Scans: counts (equal or cross-multiplied weights), or keys count·step_
  // (keyed weights).
  std::unique_ptr<std::atomic<std::int64_t>[]> active_;
  // Equal weights: the level index (see above).
  std::unique_ptr<std::atomic<std::uint64_t>[]> bits_;
  std::unique_ptr<std::atomic<std::int64_t>[]> extra_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> top_;  // count hint for releases
  std::unique_ptr<std::atomic<std::uint32_t>[]> repair_;
  std::unique_ptr<std::atomic<std::int64_t>[]> held_;  // leases per backend: the lifetime counters
  std::vector<double> weight_;                         // cross-multiplied weights; empty: equal or keyed
  std::vector<std::int64_t> step_;                     // keyed weights: L/w_i; empty otherwise
  alignas(detail::destructive_interference_size) std::atomic<std::size_t> hint_{0};
  alignas(detail::destructive_interference_size) std::atomic<std::uint64_t> rotor_{0};
};

}  // namespace detail

/// Least connections: `pick()` returns a `backend_lease` on the usable backend
/// with the fewest active leases relative to its weight — backend i beats b
/// when active_i·w_b < active_b·w_i (nginx least_conn's cross-multiplication,
/// no division) — and counts one more active request on it until the lease is
/// released or destroyed. Ties go round robin: the k-th pick (k = 0, 1, ...)
/// starts looking at backend k mod n and the first minimum in the order
/// k, k+1, ..., n-1, 0, ... wins (nginx breaks ties by smooth weighted round
/// robin instead). Down backends are skipped; all down: panic mode (health
/// ignored). Single-threaded, every pick is exactly that choice.
///
/// Equal weights (no weights, or all equal) over more than `scan_max` (16)
/// backends keep a *level index* instead of counters: for each level c < 64 a
/// bitmap of the backends holding at least c + 1 leases (a backend with k
/// leases has bits 0..k-1 set — its count in unary; leases beyond 64 go to a
/// per-backend overflow counter), plus a hint at the lowest level from which a
/// usable backend is missing, i.e. the minimum count. A pick finds the first
/// usable backend at or after the rotation point missing from that level (one
/// 64-bit word per 64 backends, usually the first word looked at) and sets its
/// bit: one atomic fetch_or. A release clears the backend's top bit: one
/// fetch_and. Weighted sets (two or more different weights) and sets of at
/// most 16 backends scan per-backend counters, as nginx does.
///
/// Weighted sets scan *keys* that order like active/weight, so a compare is
/// one integer compare with no dependence on the weights of the best so far
/// (the loads pipeline instead of waiting on a multiply-compare chain). When
/// the weights are exact — multiples of one power of two 2^-k (integers,
/// 2.5, 0.75), scaled by 2^k to integers w_i — with L = lcm(w_i) <= 2^32
/// (e.g. any weights from 1..16, or 1..20), backend i keeps key_i =
/// active_i·(L/w_i), adding its step L/w_i per pick and taking it back per
/// release. Since key_i = L·(active_i/w_i) with L > 0, key_i < key_b exactly
/// when active_i/w_i < active_b/w_b, and ties stay ties: the picks are
/// exactly the cross-multiplied ones. Other weights (not exact, or an lcm
/// above 2^32) scan with the cross-multiplication in double arithmetic, as
/// before. From `two_pass_min` (32) backends, with all of them up, the key
/// scan runs in two passes: the minimum key (four independent running
/// minima), then the first backend in rotation order holding it.
///
/// Complexity: level index — `pick()` O(1) expected, O(n/64) word loads worst
/// case (a sparse minimum level), plus O(n/64) for each level the hint climbs
/// (it restarts at level 0 after `set_healthy`); O(n) (a scan of the overflow
/// counters) while every usable backend holds 64 or more leases. Lease
/// release O(1) (O(64) after a race). `active(i)` O(64). Counter and key
/// scans — `pick()` O(n), release and `active` O(1). Memory: level index 512
/// bytes per 64 backends plus 21 bytes per backend; counter scan 8 bytes per
/// backend, key scan 16, cross-multiplication scan 16.
/// Thread safety: lock-free; `pick`, lease release, `set_healthy`, `active`
/// from any threads. Concurrent picks and releases race (two picks may see
/// the same minimum; the index may for a moment disagree with the counts), so
/// under concurrency the choice is approximate, as with nginx's several
/// workers. Each lease adds and removes exactly one unit, so the counts are
/// exact once the racing calls have returned, and so is the index: it returns
/// to exactly the canonical form of the counts (see the comment on `repair`).
/// Leases may outlive the balancer (see `backend_lease`).
/// Bad input: n == 0, an empty weight list, or a weight <= 0 / not finite
/// throws std::invalid_argument; any positive finite weights work, however
/// large their sum (the cross-multiplied scan scales them by a power of two
/// so that no product overflows), except a weight about 2^1000 times smaller
/// than the largest, which throws std::invalid_argument naming its index
/// (scaled, it would fall below the normal doubles and lose its share);
/// `set_healthy` out of range returns false.
/// With keyed weights a backend holds at most 2^31 − 1 leases at once (a
/// key is at most count·2^32 in 63 bits; 2^31 live leases of 48 bytes take
/// 96 GiB).
class least_connections {
 public:
  /// Levels of the equal-weight index: backends holding this many leases or
  /// more are compared through the O(n) overflow scan.
  static constexpr std::size_t levels = 64;
  /// Equal-weight sets up to this size scan counters instead (at that size a
  /// scan is as quick as the index).
  static constexpr std::size_t scan_max = 16;
  /// Key scans over this many backends or more, all up, run in two passes.
  static constexpr std::size_t two_pass_min = 32;
  /// The largest lcm of the scaled weights for which weighted sets keep
  /// exact integer keys (beyond it: the cross-multiplication scan).
  static constexpr std::uint64_t max_key_scale = std::uint64_t{1} << 32;

  // the engine's own copies (the values are stated here, where users read them)
  static_assert(levels == detail::least_connections_core::levels &&
                scan_max == detail::least_connections_core::scan_max &&
                two_pass_min == detail::least_connections_core::two_pass_min &&
                max_key_scale == detail::least_connections_core::max_key_scale);

  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T, class... Rest>
  explicit least_connections(const T& n, Rest&&... rest) : least_connections(detail::refuse_count(n), std::forward<Rest>(rest)...) {}
  /// n equally weighted backends (`least_connections{3}` too: three backends).
  explicit least_connections(std::size_t n) : core_(new detail::least_connections_core(n)) {}
  /// Weighted backends: `least_connections(surge::weights{5, 1, 1})`.
  explicit least_connections(const weights& w) : core_(new detail::least_connections_core(w.values())) {}

  least_connections(const least_connections&) = delete;
  least_connections& operator=(const least_connections&) = delete;
  /// Live leases stay valid: the counters they give back to are freed by the
  /// last of them (see `backend_lease`).
  ~least_connections() = default;

  /// A lease on the least loaded usable backend.
  [[nodiscard]] backend_lease pick() noexcept { return core_->pick(); }
  /// Backend i's current number of active leases (0 when out of range).
  [[nodiscard]] std::int64_t active(std::size_t i) const noexcept { return core_->active(i); }
  /// Marks backend i up or down; false when i is out of range.
  bool set_healthy(std::size_t i, bool up) noexcept { return core_->set_healthy(i, up); }
  /// True when backend i is marked up (false when i is out of range). Lock-free.
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return core_->healthy(i); }
  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return core_->size(); }
  /// True when picks compare exact integer keys: equal weights, or exact
  /// weights whose lcm is at most `max_key_scale`; false when weighted picks
  /// cross-multiply in double arithmetic.
  [[nodiscard]] bool keyed() const noexcept { return core_->keyed(); }
  /// Diagnostic for tests: true when the equal-weight index is exactly the
  /// canonical form of the counts (every backend's bits a prefix, overflow
  /// only above a full column, no repair pending) and the level hint is not
  /// above the minimum usable count. Meaningful only while no other call
  /// runs; always true for weighted sets. O(64·n).
  [[nodiscard]] bool index_consistent() const noexcept { return core_->index_consistent(); }

 private:
  // Shared with the live leases: its deleter orphans it (see backend_lease).
  std::unique_ptr<detail::least_connections_core, detail::lease_block_closer> core_;
};

}  // namespace surge

#endif  // SURGE_BALANCE_LEAST_CONNECTIONS_HPP
