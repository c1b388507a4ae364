// Reference implementations of the cache policies surge does not ship, for the
// cache_sim example's --reference-policies option: FIFO, Clock, 2Q, ARC, LIRS
// and W-TinyLFU with a static 1 % window. Each follows libCacheSim's
// implementation (the simulator that produced the traces' reference hit
// ratios) decision for decision, including its parameters and the details
// where it departs from the paper, so that the hit ratios it publishes can be
// reproduced and each policy's mean computed. Object-count caches (every
// object has size 1). Written for clarity, not speed: lists and hash maps of
// the standard library. Not part of the surge library.
#pragma once

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cache_sim::reference {

using key = std::uint64_t;

/// An ordered set of keys, front = most recently placed, each key carrying an
/// `Info`. Every operation is O(1) expected. Preconditions (key present or
/// absent, list not empty) are the caller's.
template <class Info = bool>
class keyed_list {
 public:
  [[nodiscard]] bool contains(key k) const { return where_.count(k) != 0; }
  [[nodiscard]] Info* find(key k) {
    auto it = where_.find(k);
    return it == where_.end() ? nullptr : &it->second.second;
  }
  void push_front(key k, Info info = {}) {
    order_.push_front(k);
    where_.emplace(k, std::make_pair(order_.begin(), info));
  }
  void move_to_front(key k) { order_.splice(order_.begin(), order_, where_.at(k).first); }
  bool erase(key k) {
    auto it = where_.find(k);
    if (it == where_.end()) return false;
    order_.erase(it->second.first);
    where_.erase(it);
    return true;
  }
  [[nodiscard]] key front() const { return order_.front(); }
  [[nodiscard]] key back() const { return order_.back(); }
  key pop_back() {
    const key k = order_.back();
    erase(k);
    return k;
  }
  [[nodiscard]] std::size_t size() const { return order_.size(); }
  [[nodiscard]] bool empty() const { return order_.empty(); }

 private:
  std::list<key> order_;
  std::unordered_map<key, std::pair<std::list<key>::iterator, Info>> where_;
};

/// FIFO: a hit changes nothing; a miss evicts the oldest insertion.
class fifo {
 public:
  explicit fifo(std::size_t size) : size_(size) {}
  bool access(key k) {
    if (q_.contains(k)) return true;
    if (size_ == 0) return false;
    if (q_.size() == size_) q_.pop_back();
    q_.push_front(k);
    return false;
  }

 private:
  std::size_t size_;
  keyed_list<> q_;
};

/// Clock with one reference bit (libCacheSim "Clock"): a hit sets the bit; a
/// new key enters at the head with the bit clear; eviction takes the oldest
/// entry, giving each one whose bit is set a second chance (bit cleared, moved
/// to the head).
class clock {
 public:
  explicit clock(std::size_t size) : size_(size) {}
  bool access(key k) {
    if (bool* referenced = q_.find(k)) {
      *referenced = true;
      return true;
    }
    if (size_ == 0) return false;
    if (q_.size() == size_) {
      while (*q_.find(q_.back())) {
        *q_.find(q_.back()) = false;
        q_.move_to_front(q_.back());
      }
      q_.pop_back();
    }
    q_.push_front(k, false);
    return false;
  }

 private:
  std::size_t size_;
  keyed_list<> q_;
};

/// 2Q, full version (Johnson and Shasha, VLDB'94), as libCacheSim runs it:
/// A1in a FIFO of 25 % of the size, A1out a ghost FIFO of 50 % of the size
/// (keys only), Am an LRU of the rest. A new key enters A1in; a key found in
/// A1out enters Am. When the cache is full, A1in gives its oldest key to
/// A1out if it holds more than its share, else Am evicts its least recent.
/// (A1in may grow past its share while Am is not yet full; Am also never
/// grows past its own share.)
class two_q {
 public:
  explicit two_q(std::size_t size)
      : size_(size),
        in_size_(static_cast<std::size_t>(static_cast<double>(size) * 0.25)),
        out_size_(static_cast<std::size_t>(static_cast<double>(size) * 0.5)),
        am_size_(size - in_size_) {}
  bool access(key k) {
    if (in_.contains(k)) return true;
    const bool ghost = out_.erase(k);
    if (am_.contains(k)) {
      am_.move_to_front(k);
      return true;
    }
    if (in_size_ == 0) return false;  // libCacheSim admits nothing then
    while (in_.size() + am_.size() + 1 > size_) evict();
    if (ghost) {
      if (am_size_ == 0) return false;
      while (am_.size() + 1 > am_size_) am_.pop_back();
      am_.push_front(k);
    } else {
      in_.push_front(k);
    }
    return false;
  }

 private:
  void evict() {
    if (in_.size() > in_size_ || am_.empty()) {
      const key victim = in_.pop_back();
      if (out_size_ == 0) return;
      while (out_.size() + 1 > out_size_) out_.pop_back();
      out_.push_front(victim);
    } else {
      am_.pop_back();
    }
  }
  std::size_t size_, in_size_, out_size_, am_size_;
  keyed_list<> in_, out_, am_;
};

/// ARC (Megiddo and Modha, FAST'03) as libCacheSim implements it: T1 (seen
/// once recently) and T2 (seen at least twice) resident LRU lists, B1 and B2
/// their ghost lists, and the target size p of T1, which a hit in B1 raises
/// by max(|B2|/|B1|, 1) and a hit in B2 lowers by max(|B1|/|B2|, 1).
class arc {
 public:
  explicit arc(std::size_t size) : size_(size) {}
  bool access(key k) {
    if (t1_.contains(k)) {
      t1_.erase(k);
      t2_.push_front(k);
      return true;
    }
    if (t2_.contains(k)) {
      t2_.move_to_front(k);
      return true;
    }
    const auto c = static_cast<double>(size_);
    bool in_b1 = false, in_b2 = false;
    if (b1_.contains(k)) {
      in_b1 = true;
      p_ = std::min(p_ + std::max(static_cast<double>(b2_.size()) / static_cast<double>(b1_.size()), 1.0), c);
      b1_.erase(k);
    } else if (b2_.contains(k)) {
      in_b2 = true;
      p_ = std::max(p_ - std::max(static_cast<double>(b1_.size()) / static_cast<double>(b2_.size()), 1.0), 0.0);
      b2_.erase(k);
    }
    if (size_ == 0) return false;
    while (t1_.size() + t2_.size() + 1 > size_) {
      if (in_b1 || in_b2) {
        replace(in_b2);
      } else if (t1_.size() + b1_.size() + 1 > size_) {  // L1 (T1 + B1) is full
        if (!b1_.empty()) {
          b1_.pop_back();
          replace(false);
        } else {
          t1_.pop_back();  // no ghost kept
        }
      } else {
        if (t1_.size() + b1_.size() + t2_.size() + b2_.size() >= 2 * size_ && !b2_.empty()) b2_.pop_back();
        replace(false);
      }
    }
    if (in_b1 || in_b2) {
      t2_.push_front(k);
    } else {
      t1_.push_front(k);
    }
    return false;
  }

 private:
  /// Evicts T1's least recent into B1, or T2's into B2.
  void replace(bool hit_in_b2) {
    const auto t1 = static_cast<double>(t1_.size());
    if ((!t1_.empty() && (t1 > p_ || (t1 == p_ && hit_in_b2))) || t2_.empty()) {
      b1_.push_front(t1_.pop_back());
    } else {
      b2_.push_front(t2_.pop_back());
    }
  }
  std::size_t size_;
  double p_ = 0;
  keyed_list<> t1_, t2_, b1_, b2_;
};

/// LIRS (Jiang and Zhang, SIGMETRICS'02) as libCacheSim implements it: 1 % of
/// the size (at least one entry) for resident HIR keys, the rest for LIR keys;
/// the stack S holds LIR keys and recently seen HIR keys (resident or not) and
/// is pruned so that its bottom is always a LIR key; Q lists the resident HIR
/// keys; S is limited to twice the cache size by dropping its oldest
/// non-resident HIR keys. libCacheSim's details, kept here: a new key becomes
/// LIR directly while the LIR share has room; a hit on a resident HIR key that
/// is not in S demotes the least recent LIR key first.
class lirs {
 public:
  explicit lirs(std::size_t size)
      : size_(size),
        hir_limit_(std::max<std::size_t>(1, static_cast<std::size_t>(0.01 * static_cast<double>(size)))),
        lir_limit_(size > hir_limit_ ? size - hir_limit_ : 0) {}

  bool access(key k) {
    const bool hit = lookup(k);
    if (!hit) admit(k);
    // Keep S at most twice the cache size.
    while (s_.size() > 2 * size_ && !non_resident_.empty()) s_.erase(non_resident_.pop_back());
    return hit;
  }

 private:
  struct entry {
    bool lir = false;
    bool resident = true;
  };

  bool lookup(key k) {
    const bool in_s = s_.contains(k), in_q = q_.contains(k);
    if (in_s) s_.move_to_front(k);
    if (in_q) q_.move_to_front(k);
    if (in_s) {
      entry& e = *s_.find(k);
      if (e.lir) {
        prune();
        return true;
      }
      if (!e.resident) return false;
      // A resident HIR key in S becomes LIR.
      if (in_q) {
        q_.erase(k);
        --hir_count_;
      }
      while (lir_count_ + 1 > lir_limit_ && !s_.empty()) evict_lir();
      s_.find(k)->lir = true;
      ++lir_count_;
      return true;
    }
    if (in_q) {  // a resident HIR key not in S: it re-enters S as HIR
      while (lir_count_ + 1 > lir_limit_ && !s_.empty()) evict_lir();
      s_.push_front(k, entry{false, true});
      return true;
    }
    return false;
  }

  void admit(key k) {
    if (size_ == 0) return;
    if (entry* e = s_.find(k)) {  // a non-resident HIR key in S becomes LIR
      while (lir_count_ + 1 > lir_limit_ && !s_.empty()) evict_lir();
      non_resident_.erase(k);
      while (lir_count_ + hir_count_ + 1 > size_) {
        while (hir_count_ >= hir_limit_ && !q_.empty()) evict_hir();
        evict_lir();
      }
      e = s_.find(k);
      e->lir = true;
      e->resident = true;
      ++lir_count_;
      return;
    }
    if (lir_limit_ == 0) return;  // libCacheSim refuses the key
    const bool full = lir_count_ + 1 > lir_limit_ && hir_count_ + 1 > hir_limit_;
    if (full) {
      while (hir_count_ + 1 > hir_limit_ && !q_.empty()) evict_hir();
    }
    while (lir_count_ + hir_count_ + 1 > size_ && !q_.empty()) evict_hir();
    if (lir_count_ + 1 <= lir_limit_) {
      s_.push_front(k, entry{true, true});
      ++lir_count_;
    } else {
      s_.push_front(k, entry{false, true});
      q_.push_front(k);
      ++hir_count_;
    }
  }

  /// Demotes the bottom of S (a LIR key) to a resident HIR key at Q's front.
  void evict_lir() {
    const key victim = s_.pop_back();
    --lir_count_;
    while (hir_count_ + 1 > hir_limit_ && !q_.empty()) evict_hir();
    if (q_.contains(victim)) {
      q_.move_to_front(victim);
    } else {
      q_.push_front(victim);
      ++hir_count_;
    }
    prune();
  }

  /// Evicts Q's least recent key; if it is still in S it stays there as a
  /// non-resident HIR key.
  void evict_hir() {
    const key victim = q_.pop_back();
    --hir_count_;
    if (entry* e = s_.find(victim)) {
      e->resident = false;
      if (!non_resident_.contains(victim)) non_resident_.push_front(victim);
    }
  }

  /// Removes HIR keys from the bottom of S until a LIR key is there.
  void prune() {
    while (s_.size() > 1) {
      const key bottom = s_.back();
      const entry& e = *s_.find(bottom);
      if (e.lir) break;
      if (!e.resident) non_resident_.erase(bottom);
      s_.pop_back();
    }
  }

  std::size_t size_, hir_limit_, lir_limit_;
  std::size_t lir_count_ = 0, hir_count_ = 0;
  keyed_list<entry> s_;        // the LIRS stack
  keyed_list<> q_;             // resident HIR keys
  keyed_list<> non_resident_;  // non-resident HIR keys in S, newest first
};

/// XXH64 of the eight little-endian bytes of `v` (the xxHash specification's
/// path for inputs shorter than 32 bytes).
inline std::uint64_t xxh64_u64(std::uint64_t v, std::uint64_t seed) {
  constexpr std::uint64_t p1 = 0x9E3779B185EBCA87ULL, p2 = 0xC2B2AE3D27D4EB4FULL, p3 = 0x165667B19E3779F9ULL,
                          p4 = 0x85EBCA77C2B2AE63ULL, p5 = 0x27D4EB2F165667C5ULL;
  auto rotl = [](std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  std::uint64_t h = seed + p5 + 8;
  h ^= rotl(v * p2, 31) * p1;
  h = rotl(h, 27) * p1 + p4;
  h ^= h >> 33;
  h *= p2;
  h ^= h >> 29;
  h *= p3;
  h ^= h >> 32;
  return h;
}

/// libCacheSim's frequency sketch for W-TinyLFU: a counting Bloom filter
/// sized for `entries` keys at a 0.1 % error (about 14.4 counters per key, 10
/// hash functions by double hashing of two seeded XXH64s); adding a key
/// increments all its counters, its estimate is their minimum, and decay
/// halves every counter.
class counting_bloom_filter {
 public:
  explicit counting_bloom_filter(std::size_t entries) {
    const double per_entry = -std::log(0.001) / 0.480453013918201;  // ln(2)^2
    hashes_ = static_cast<unsigned>(std::ceil(0.693147180559945 * per_entry));
    auto n = static_cast<unsigned>(std::min(std::ceil(per_entry * static_cast<double>(entries)), double{INT_MAX}));
    if (n < hashes_) n = 2 * hashes_;
    counters_.assign(n, 0);
  }
  unsigned estimate(key k) const {
    unsigned least = UINT_MAX;
    for_each_counter(k, [&](unsigned i) { least = std::min(least, counters_[i]); });
    return least;
  }
  void add(key k) {
    for_each_counter(k, [&](unsigned i) { ++counters_[i]; });
  }
  void decay() {
    for (unsigned& c : counters_) c >>= 1;
  }

 private:
  template <class F>
  void for_each_counter(key k, F&& f) const {
    // 32-bit arithmetic, as in libCacheSim.
    const auto a = static_cast<std::uint32_t>(xxh64_u64(k, 0x12345678));
    const auto b = static_cast<std::uint32_t>(xxh64_u64(k, 0x12344321));
    const auto n = static_cast<std::uint32_t>(counters_.size());
    for (std::uint32_t i = 0; i < hashes_; ++i) f(static_cast<std::uint32_t>(a + i * b) % n);
  }
  unsigned hashes_ = 0;
  std::vector<unsigned> counters_;
};

/// libCacheSim's segmented LRU with segments of 1:4 (probation, protected),
/// the main cache of its W-TinyLFU. A hit in probation promotes the key to
/// protected; protected overflows into probation's front, and probation
/// overflowing then evicts. A new key goes to the first segment with room.
class segmented_lru {
 public:
  explicit segmented_lru(std::size_t size)
      : size_(size),
        limit_{static_cast<std::size_t>(1.0 / 5 * static_cast<double>(size)),
               static_cast<std::size_t>(4.0 / 5 * static_cast<double>(size))} {}
  [[nodiscard]] bool contains(key k) const { return seg_[0].contains(k) || seg_[1].contains(k); }
  [[nodiscard]] std::size_t size() const { return seg_[0].size() + seg_[1].size(); }
  [[nodiscard]] std::size_t capacity() const { return size_; }
  [[nodiscard]] std::size_t probation_limit() const { return limit_[0]; }
  /// On a hit: promote or refresh `k`. Returns false when `k` is absent.
  bool touch(key k) {
    if (seg_[1].contains(k)) {
      seg_[1].move_to_front(k);
      return true;
    }
    if (!seg_[0].erase(k)) return false;
    seg_[1].push_front(k);
    while (seg_[1].size() > limit_[1]) cool(1);
    return true;
  }
  [[nodiscard]] key victim() const { return seg_[0].empty() ? seg_[1].back() : seg_[0].back(); }
  void evict() { (seg_[0].empty() ? seg_[1] : seg_[0]).pop_back(); }
  void insert(key k) {
    for (std::size_t i = 0; i < 2; ++i) {
      if (seg_[i].size() + 1 <= limit_[i]) {
        seg_[i].push_front(k);
        return;
      }
    }
    while (size() + 1 > size_ && size() > 0) evict();
    seg_[0].push_front(k);
  }

 private:
  void cool(std::size_t i) {
    if (i == 0) {
      evict();
      return;
    }
    seg_[i - 1].push_front(seg_[i].pop_back());
    while (seg_[i - 1].size() > limit_[i - 1]) cool(i - 1);
  }
  std::size_t size_;
  std::size_t limit_[2];
  keyed_list<> seg_[2];
};

/// W-TinyLFU with a static window of 1 % (libCacheSim "WTinyLFU", its
/// defaults): an LRU window, a segmented-LRU main cache, admission by a
/// counting Bloom filter (the window's oldest key enters main when its
/// estimate beats main's victim's), the filter halved every 32 × main-size
/// hits in main. libCacheSim's details, kept here: a hit in the window does
/// not count in the filter; each admission decision counts the candidate
/// once more; the window is not bounded by itself (it gives its oldest keys
/// to main while main has room), and after an admission the next window key
/// is considered too, until one is refused or the window is empty.
class wtinylfu_static {
 public:
  explicit wtinylfu_static(std::size_t size)
      : size_(size),
        window_size_(static_cast<std::size_t>(static_cast<double>(size) * 0.01)),
        main_(size - window_size_),
        sketch_(size - window_size_),
        sample_(32 * (size - window_size_)) {}
  bool access(key k) {
    const bool in_window = window_.contains(k);
    if (in_window) window_.move_to_front(k);
    if (main_.touch(k)) {
      sketch_.add(k);
      if (++requests_ >= sample_) {
        requests_ = 0;
        sketch_.decay();
      }
      return true;
    }
    if (in_window) return true;
    if (window_size_ == 0 || main_.probation_limit() == 0) return false;  // libCacheSim admits nothing
    while (window_.size() + main_.size() + 1 > size_) evict();
    window_.push_front(k);
    sketch_.add(k);
    return false;
  }

 private:
  void evict() {
    for (;;) {
      if (window_.empty()) {
        main_.evict();
        return;
      }
      const key candidate = window_.back();
      bool evicted = false;
      if (main_.size() + 1 <= main_.capacity()) {
        window_.pop_back();
        main_.insert(candidate);
      } else if (sketch_.estimate(candidate) > sketch_.estimate(main_.victim())) {
        main_.evict();
        window_.pop_back();
        main_.insert(candidate);
      } else {
        window_.pop_back();
        evicted = true;
      }
      sketch_.add(candidate);
      if (evicted) return;
    }
  }
  std::size_t size_, window_size_;
  segmented_lru main_;
  counting_bloom_filter sketch_;
  std::size_t sample_, requests_ = 0;
  keyed_list<> window_;
};

/// The keys as libCacheSim reads a text trace: each line interned as a GLib
/// quark, i.e. numbered 1, 2, 3, ... in order of first appearance. Only
/// W-TinyLFU's sketch hashes keys, so only it sees the difference (with the
/// trace's own keys its hit ratios move by a few tenths of a point).
inline std::vector<key> intern(const std::vector<key>& keys) {
  std::unordered_map<key, key> id;
  id.reserve(keys.size() / 4 + 16);
  std::vector<key> out;
  out.reserve(keys.size());
  for (const key k : keys) out.push_back(id.try_emplace(k, id.size() + 1).first->second);
  return out;
}

/// Replays `keys` through a reference policy. Returns the hits.
template <class Policy>
std::size_t replay(Policy& policy, const std::vector<key>& keys) {
  std::size_t hits = 0;
  for (const key k : keys) hits += policy.access(k) ? 1 : 0;
  return hits;
}

}  // namespace cache_sim::reference
