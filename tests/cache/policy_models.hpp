// Naive reference models of SIEVE, S3-FIFO and W-TinyLFU replacement, written
// the obvious way with std::list and std::map, for run_with_model (see
// reference_model.hpp). Each spells out its policy's rules independently of
// the index-linked implementation; W-TinyLFU's model uses surge's frequency
// sketch (tested on its own) so that both see the same estimates.
#pragma once

#include <surge/cache/detail/frequency_sketch.hpp>
#include <surge/cache/detail/slot_index.hpp>

#include <cstdint>
#include <functional>
#include <iterator>
#include <list>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace cache_model {

/// Map semantics and stats for any replacement order `Order`, which offers
/// insert(k), touch(k), remove(k), victim() -> key, clear().
template <class Order>
class ordered_model {
 public:
  template <class... A>
  ordered_model(std::size_t capacity, A&&... a) : capacity_(capacity), order_(capacity, std::forward<A>(a)...) {}

  std::optional<int> get(int k) {
    auto it = values_.find(k);
    if (it == values_.end()) {
      ++misses;
      return std::nullopt;
    }
    ++hits;
    order_.touch(k);
    return it->second;
  }
  std::optional<int> peek(int k) const {
    auto it = values_.find(k);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  bool put(int k, int v) {
    auto it = values_.find(k);
    if (it != values_.end()) {
      it->second = v;
      order_.touch(k);
      return false;
    }
    insert(k, v);
    return true;
  }
  int get_or_insert(int k, int v) {
    auto it = values_.find(k);
    if (it != values_.end()) {
      ++hits;
      order_.touch(k);
      return it->second;
    }
    ++misses;
    insert(k, v);
    return v;
  }
  bool erase(int k) {
    if (values_.erase(k) == 0) return false;
    order_.remove(k);
    return true;
  }
  void clear() {
    values_.clear();
    order_.clear();
  }
  std::size_t size() const { return values_.size(); }
  std::map<int, int> contents() const { return values_; }
  const Order& order() const { return order_; }

  std::vector<std::pair<int, int>> evicted;
  std::uint64_t hits = 0, misses = 0, insertions = 0;

 private:
  void insert(int k, int v) {
    if (values_.size() == capacity_) {
      const int victim = order_.victim();
      order_.remove(victim);
      evicted.emplace_back(victim, values_.at(victim));
      values_.erase(victim);
    }
    values_.emplace(k, v);
    order_.insert(k);
    ++insertions;
  }

  std::size_t capacity_;
  Order order_;
  std::map<int, int> values_;
};

/// The 32-bit hash the caches give their policies for an int key.
inline std::uint32_t key_hash(int k) { return surge::detail::index_hash(std::hash<int>{}(k)); }

/// SIEVE: a FIFO (oldest first), visited bits, a hand moving oldest -> newest.
class sieve_order {
 public:
  explicit sieve_order(std::size_t) {}
  void insert(int k) { pos_[k] = {queue_.insert(queue_.end(), k), false}; }
  void touch(int k) { pos_.at(k).second = true; }
  void remove(int k) {
    auto it = pos_.at(k).first;
    if (hand_ == it) hand_ = std::next(it);
    queue_.erase(it);
    pos_.erase(k);
  }
  int victim() {
    auto h = hand_ == queue_.end() ? queue_.begin() : hand_;
    while (pos_.at(*h).second) {
      pos_.at(*h).second = false;
      if (++h == queue_.end()) h = queue_.begin();
    }
    hand_ = h;
    return *h;
  }
  void clear() {
    queue_.clear();
    pos_.clear();
    hand_ = queue_.end();
  }

 private:
  std::list<int> queue_;
  std::map<int, std::pair<std::list<int>::iterator, bool>> pos_;
  std::list<int>::iterator hand_ = queue_.end();
};

/// S3-FIFO: small and main FIFOs, 2-bit frequencies, a ghost ring of hashes.
class s3fifo_order {
 public:
  explicit s3fifo_order(std::size_t capacity)
      : small_target_(capacity / 10 > 0 ? capacity / 10 : 1),
        ghost_(capacity > small_target_ ? capacity - small_target_ : 1) {}
  void insert(int k) {
    bool main = false;
    for (auto& g : ghost_) {
      if (g.second && g.first == key_hash(k)) {
        g.second = false;
        main = true;
        break;
      }
    }
    push(k, main);
  }
  void touch(int k) {
    int& f = entries_.at(k).freq;
    if (f < 3) ++f;
  }
  void remove(int k) {
    entry& e = entries_.at(k);
    (e.main ? main_ : small_).erase(e.it);
    entries_.erase(k);
  }
  int victim() {
    for (;;) {
      if (!small_.empty() && (small_.size() >= small_target_ || main_.empty())) {
        const int k = small_.front();
        if (entries_.at(k).freq == 0) {
          ghost_[head_] = {key_hash(k), true};
          head_ = (head_ + 1) % ghost_.size();
          return k;
        }
        remove(k);
        push(k, true);
        continue;
      }
      const int k = main_.front();
      entry& e = entries_.at(k);
      if (e.freq == 0) return k;
      --e.freq;
      main_.splice(main_.end(), main_, e.it);
    }
  }
  void clear() {
    small_.clear();
    main_.clear();
    entries_.clear();
    for (auto& g : ghost_) g = {0, false};
    head_ = 0;
  }

 private:
  struct entry {
    std::list<int>::iterator it;
    bool main;
    int freq;
  };
  void push(int k, bool main) {
    auto& q = main ? main_ : small_;
    entries_[k] = {q.insert(q.end(), k), main, 0};
  }
  std::size_t small_target_;
  std::list<int> small_, main_;
  std::map<int, entry> entries_;
  std::vector<std::pair<std::uint32_t, bool>> ghost_;
  std::size_t head_ = 0;
};

/// W-TinyLFU: window, probation and protected LRU lists; TinyLFU admission
/// (ahead by 2 sightings) with the 1/128 chance for warm candidates; the hill
/// climber.
class wtinylfu_order {
 public:
  explicit wtinylfu_order(std::size_t capacity) : capacity_(capacity), sketch_(capacity) { reset(); }
  void insert(int k) {
    sketch_.increment(key_hash(k));
    push(k, 0);
    while (lists_[0].size() > window_max_) move(lists_[0].front(), 1);
    ++misses_;
    climb();
  }
  void touch(int k) {
    sketch_.increment(key_hash(k));
    const int r = where_.at(k).first;
    if (r == 1) {
      move(k, 2);
      demote();
    } else {
      move(k, r);
    }
    ++hits_;
    climb();
  }
  void remove(int k) {
    auto [r, it] = where_.at(k);
    lists_[r].erase(it);
    where_.erase(k);
  }
  int victim() {
    std::optional<int> main_victim;
    if (!lists_[1].empty()) {
      main_victim = lists_[1].front();
    } else if (!lists_[2].empty()) {
      main_victim = lists_[2].front();
    }
    warm_ = true;
    if (lists_[0].size() >= window_max_ && !lists_[0].empty()) {
      const int candidate = lists_[0].front();
      if (!main_victim) return candidate;
      if (!admit(candidate, *main_victim)) return candidate;
      move(candidate, 1);
      return *main_victim;
    }
    return main_victim ? *main_victim : lists_[0].front();
  }
  void clear() {
    for (auto& l : lists_) l.clear();
    where_.clear();
    sketch_.clear();
    reset();
  }
  std::size_t window_max() const { return window_max_; }

 private:
  void reset() {
    window_max_ = capacity_ / 100 > 0 ? capacity_ / 100 : 1;
    step_ = static_cast<double>(capacity_) * 0.0625;
    previous_ = 0;
    hits_ = misses_ = 0;
    rng_ = 0x2545F4914F6CDD1DULL;
    warm_ = sample_warm_ = baseline_ = false;
  }
  std::size_t main_max() const { return capacity_ - window_max_; }
  std::size_t protected_max() const { return main_max() - main_max() / 5; }
  void push(int k, int r) { where_[k] = {r, lists_[r].insert(lists_[r].end(), k)}; }
  void move(int k, int r) {
    remove(k);
    push(k, r);
  }
  void demote() {
    while (lists_[2].size() > protected_max()) move(lists_[2].front(), 1);
  }
  bool admit(int candidate, int victim) {
    const unsigned c = sketch_.frequency(key_hash(candidate)), v = sketch_.frequency(key_hash(victim));
    if (c > v + 1) return true;  // ahead by more than the candidate's own fresh sighting
    if (c < 6) return false;
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return (rng_ & 127) == 0;
  }
  void climb() {
    const std::size_t sample = capacity_ < 100 ? 1000 : 10 * capacity_;
    if (hits_ + misses_ < sample) return;
    const double ratio = static_cast<double>(hits_) / static_cast<double>(hits_ + misses_);
    hits_ = misses_ = 0;
    const bool counted = sample_warm_;  // samples that began with the cache full
    sample_warm_ = warm_;
    if (!counted || capacity_ < 2 || ratio < 0.01) return;
    if (!baseline_) {
      previous_ = ratio;
      baseline_ = true;
      return;
    }
    const double change = ratio - previous_;
    previous_ = ratio;
    const double amount = change <= -0.01 ? -step_ : step_;
    const double restart = static_cast<double>(capacity_) * 0.0625;
    step_ = (change >= 0.05 || change <= -0.05) ? (amount >= 0 ? restart : -restart) : amount * 0.98;
    std::size_t quota = 0;
    if (amount > 0) {
      quota = std::min(static_cast<std::size_t>(amount), main_max() - 1);
      window_max_ += quota;
      demote();
      for (std::size_t i = 0; i < quota && lists_[0].size() < window_max_; ++i) {
        if (!lists_[1].empty()) {
          move(lists_[1].front(), 0);
        } else if (!lists_[2].empty()) {
          move(lists_[2].front(), 0);
        } else {
          break;
        }
      }
    } else if (amount < 0) {
      quota = std::min(static_cast<std::size_t>(-amount), window_max_ - 1);
      window_max_ -= quota;
      while (lists_[0].size() > window_max_) move(lists_[0].front(), 1);
    }
    if (quota == 0) step_ = -step_;
  }

  std::size_t capacity_;
  surge::detail::frequency_sketch sketch_;
  std::list<int> lists_[3];  // window, probation, protected; least recent first
  std::map<int, std::pair<int, std::list<int>::iterator>> where_;
  std::size_t window_max_ = 1;
  double step_ = 0, previous_ = 0;
  std::size_t hits_ = 0, misses_ = 0;
  std::uint64_t rng_ = 0;
  bool warm_ = false, sample_warm_ = false, baseline_ = false;
};

}  // namespace cache_model
