/// @file surge/balance/weighted_round_robin.hpp
/// Weighted round robin, two ways: nginx's smooth WRR (the exact sequence
/// nginx's upstream module produces) and gRPC's lock-free static stride
/// scheduler for hot multi-threaded paths.
#ifndef SURGE_BALANCE_WEIGHTED_ROUND_ROBIN_HPP
#define SURGE_BALANCE_WEIGHTED_ROUND_ROBIN_HPP

#include <surge/balance/detail/health.hpp>
#include <surge/balance/detail/smooth_tournament.hpp>
#include <surge/balance/detail/snapshot.hpp>
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
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

namespace surge {

class shared_weighted_round_robin;

/// Which algorithm a `weighted_round_robin` runs for its picks (all give the
/// same sequence): a precomputed table (O(1)), the kinetic tournament
/// (O(log n)), or nginx's loop over every backend (O(n), inexact weights).
enum class smooth_wrr_algorithm { table, tournament, scan };

/// nginx's smooth weighted round robin (ngx_http_upstream_get_peer): on every
/// pick each usable backend's current weight grows by its weight, the backend
/// with the largest current weight wins (ties to the earlier backend), and the
/// winner's current weight drops by the total. Weights {5, 1, 1} give
/// a a b a c a a — spread out, never a burst of five. From construction
/// (integer weights, all up) any window of sum(weights) consecutive picks
/// holds each backend exactly weight times. A health change leaves other
/// current weights: with every backend up again the windows are exact only
/// after the transient described below ({2, 2, 2, 4}, backend 3 down for two
/// picks after the sixth: the ten picks after it comes back hold backends 2
/// and 3 three times each). Backends marked down are skipped and their current
/// weight frozen, as in nginx; nginx's `effective_weight` (lowered on failures)
/// is not modelled: failures are not reported to this policy. When every
/// backend is down the policy ignores health (panic mode) where nginx
/// would fail the request.
///
/// The O(1) table. While the set of usable backends does not change the
/// sequence is eventually periodic with period W = the sum of their weights:
/// from the all-zero state (construction) the state is zero again after W
/// picks; after a health change the state is whatever the frozen and running
/// current weights were, and the sequence becomes W-periodic after a
/// transient (measured against a transcription of nginx: none or one round
/// of W picks, rarely two or three; docs/balance.md). So construction and
/// every `set_healthy` run nginx's exact algorithm ahead on a copy of the
/// state, round after round of W picks, until a round ends in the state it
/// began with (an exact repeat, so nothing rests on the measurement: without
/// a repeat within the bounds there is no table); the picks so far
/// (transient + one period) become a table and `pick()` is a table read with
/// a position that wraps to the start of the period. The sequence is
/// bit-for-bit the one the O(n) algorithm produces (the tests compare both
/// and a transcription of nginx, with health flaps, on sets of up to 1200
/// backends). The table is used when the weights are *exact*: integers, or
/// multiples of one power of two 2^-k (2.5, 0.75 — scaled by 2^k, then
/// integer arithmetic, which is exactly what double arithmetic on them
/// gives) with a scaled sum below 2^52, and when it fits: at most
/// `table_limit` entries (default 2^20, 4 bytes each) and at most
/// 64·`table_limit` backend visits to build (a step of the build visits
/// every usable backend up to 64 of them, and costs about 4·log2(m) visits
/// above, where it runs the tournament below).
///
/// The O(log n) tournament. Exact weights whose table does not fit (a large
/// W, `table_limit` 0) run nginx's algorithm as a kinetic tournament: each
/// backend's current weight is a line in the pick count, a tree keeps the
/// highest line and the step at which each of its matches changes hands, and
/// a pick replays only the matches that changed (bit-for-bit the same
/// sequence). Only weights whose double sums
/// round (0.1, 1/3: inexact), a product of backends and scaled weight sum
/// past 2^61, or an allocation failure leave `pick()` on nginx's O(n) loop.
/// `algorithm()` says which of the three runs.
///
/// The O(n) path: plain int64 arrays (weights scaled as above, current
/// weights), or double arrays for inexact weights; a branch-free loop
/// (conditional moves, two or four independent running maxima); down
/// backends folded in by scanning a compact ascending list of the up indices.
///
/// Complexity: `pick()` O(1) with the table; O(log m) with the tournament
/// (plus O(log m) per match that changed hands since the last pick,
/// amortised a few); O(n) for inexact weights (O(up backends) while some are
/// down); no allocation on any path. Construction and a `set_healthy` that
/// changes a flag: O(n + L·min(m, 64 + 4·log2 m)) to rebuild the table (L its
/// length ≤ `table_limit`, m the usable backends; never more than
/// 64·`table_limit` backend visits, ≈ 40 ms at the default limit, also when
/// the attempt fails), plus O(position) to fold the old table's position
/// back into the current weights — about 0.14 ms to build at 1000 backends
/// with W = 3000 and 0.22 ms per health change (docs/balance.md's benchmark).
/// Memory: three 8-byte numbers per backend with exact weights (the weight
/// as given, scaled to an integer, and the current weight), two with inexact
/// ones, plus one index and one flag per backend, plus 4 bytes per table
/// entry; the tournament adds about 60 bytes per backend.
/// Thread safety: not thread-safe, `set_healthy` included (like nginx's
/// per-worker state): use one per thread; to share the sequence between
/// threads use `shared_weighted_round_robin` (lock-free picks).
/// Bad input: n == 0, an empty weight list, or a weight that is zero,
/// negative or not finite, throws std::invalid_argument; weights each finite
/// but with twice their sum above DBL_MAX (the running weights reach it) are
/// scaled down together by a power of two (exact, so the sequence is the one
/// of the weights as given: {1e308, 1e308} alternates), and a weight that
/// this scaling would not keep exactly (a subnormal beside such weights: it
/// would round, or become 0) throws std::invalid_argument naming its index;
/// a `table_limit` above 2^28 (a 1 GiB table, ~10 s per build; a larger one
/// would stall construction and each health change for hours) throws
/// std::invalid_argument, and a bool, a character or a floating-point one
/// does not compile; `set_healthy` out of range returns false.
/// Copyable and movable; a moved-from object has no backends left and may
/// only be assigned to or destroyed (its `pick()` would read past them).
class weighted_round_robin {
 public:
  /// Default bound on the table (entries); 0 disables the table.
  static constexpr std::size_t default_table_limit = std::size_t{1} << 20;
  /// The largest `table_limit` accepted.
  static constexpr std::size_t max_table_limit = std::size_t{1} << 28;

  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T, class... Rest>
  explicit weighted_round_robin(const T& n, Rest&&... rest) : weighted_round_robin(detail::refuse_count(n), std::forward<Rest>(rest)...) {}
  /// n backends of weight 1: plain round robin (`weighted_round_robin{3}`
  /// too: three backends).
  explicit weighted_round_robin(std::size_t n)
      : weighted_round_robin(weights(std::vector<double>(detail::check_count(n, "weighted_round_robin: n"), 1.0))) {}
  /// A bool, a character or a floating-point number as the table_limit does
  /// not compile (it would convert to std::size_t silently: 2.9 would be 2).
  template <detail::not_a_count L>
  explicit weighted_round_robin(const weights& w, const L&) : weighted_round_robin(w) {
    static_assert(detail::refused_count<L>,
                  "surge::weighted_round_robin: table_limit must be an integer, not a bool, a character or a "
                  "floating-point number");
  }
  /// Weighted: `weighted_round_robin(surge::weights{5, 1, 1})`; `table_limit`
  /// bounds the O(1) table (entries; 0: no table).
  explicit weighted_round_robin(const weights& w, std::size_t table_limit = default_table_limit)
      : weight_(detail::check_weights(w.values(), "weighted_round_robin: weights")),
        up_(weight_.size(), 1),
        table_limit_(table_limit) {
    if (table_limit > max_table_limit) throw std::invalid_argument("weighted_round_robin: table_limit must be <= 2^28");
    scale_shift_ = detail::fit_sum(weight_, "weighted_round_robin: weights", 2.0);
    const int shift = detail::dyadic_shift(weight_);
    double sum = 0, scaled_sum = 0;
    for (double w : weight_) {
      sum += w;
      if (shift >= 0) scaled_sum += std::ldexp(w, shift);
    }
    integral_ = shift >= 0 && scaled_sum < 0x1.0p52;
    if (integral_) {
      iweight_.reserve(weight_.size());
      for (double w : weight_) iweight_.push_back(static_cast<std::int64_t>(std::ldexp(w, shift)));
      icurrent_.assign(weight_.size(), 0);
      itotal_ = iup_total_ = static_cast<std::int64_t>(scaled_sum);
    } else {
      dcurrent_.assign(weight_.size(), 0.0);
      dtotal_ = dup_total_ = sum;
    }
    up_list_.resize(weight_.size());
    build_table();
  }

  /// The next backend in nginx's smooth sequence.
  [[nodiscard]] std::size_t pick() noexcept {
    if (!table_.empty()) {
      const std::size_t b = table_[pos_];
      pos_ = pos_ + 1 == table_.size() ? loop_ : pos_ + 1;
      return b;
    }
    if (tournament_active_) return tournament_.pick();
    const std::size_t n = weight_.size();
    if (up_count_ == n || up_count_ == 0) {  // all up, or panic: every backend
      return integral_ ? step_all(icurrent_.data(), iweight_.data(), n, itotal_)
                       : step_all(dcurrent_.data(), weight_.data(), n, dtotal_);
    }
    return integral_ ? step_up(icurrent_.data(), iweight_.data(), iup_total_)
                     : step_up(dcurrent_.data(), weight_.data(), dup_total_);
  }

  /// Marks backend i up or down; false when i is out of range. When the flag
  /// changes: folds the table position back into the current weights,
  /// rebuilds the list of up backends and the table (see the class comment
  /// for the cost); O(1) otherwise.
  bool set_healthy(std::size_t i, bool up) noexcept {
    if (i >= weight_.size()) return false;
    if ((up_[i] != 0) == up) return true;
    fold_table();
    up_[i] = up ? 1 : 0;
    std::size_t m = 0;
    double dsum = 0;
    std::int64_t isum = 0;
    for (std::size_t k = 0; k < up_.size(); ++k) {
      if (!up_[k]) continue;
      up_list_[m++] = static_cast<std::uint32_t>(k);
      dsum += weight_[k];
      if (integral_) isum += iweight_[k];
    }
    up_count_ = m;
    dup_total_ = dsum;
    iup_total_ = isum;
    build_table();
    return true;
  }
  /// True when backend i is marked up (false when i is out of range).
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return i < up_.size() && up_[i] != 0; }
  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return weight_.size(); }
  /// Backend i's weight as given (0 out of range).
  [[nodiscard]] double weight(std::size_t i) const noexcept {
    return i < weight_.size() ? std::ldexp(weight_[i], scale_shift_) : 0.0;
  }
  /// True while `pick()` reads the precomputed table (O(1)); false while it
  /// runs the tournament or the O(n) loop (`algorithm()` says which).
  [[nodiscard]] bool table_active() const noexcept { return !table_.empty(); }
  /// The algorithm `pick()` runs now (it changes only in the constructor and
  /// in a `set_healthy` that changes a flag).
  [[nodiscard]] smooth_wrr_algorithm algorithm() const noexcept {
    return !table_.empty()      ? smooth_wrr_algorithm::table
           : tournament_active_ ? smooth_wrr_algorithm::tournament
                                : smooth_wrr_algorithm::scan;
  }
  /// Entries in the table (transient + one period), 0 when inactive.
  [[nodiscard]] std::size_t table_size() const noexcept { return table_.size(); }
  /// The bound given to the constructor.
  [[nodiscard]] std::size_t table_limit() const noexcept { return table_limit_; }

 private:
  friend class shared_weighted_round_robin;  // reads the table, sets the position

  // The table's picks [0, pos_) applied to icurrent_ (which holds the state
  // at table entry 0), then the table dropped; or the tournament's state
  // written back: icurrent_ is the live state.
  void fold_table() noexcept {
    if (tournament_active_) {
      tournament_.store(icurrent_.data());
      tournament_active_ = false;
    }
    if (table_.empty()) return;
    const bool all = up_count_ == 0 || up_count_ == weight_.size();
    const std::int64_t total = all ? itotal_ : iup_total_;
    const auto steps = static_cast<std::int64_t>(pos_);
    for (std::size_t k = 0; k < pos_; ++k) icurrent_[table_[k]] -= total;
    for (std::size_t i = 0; i < weight_.size(); ++i)
      if (all || up_[i]) icurrent_[i] += steps * iweight_[i];
    table_.clear();
    pos_ = loop_ = 0;
  }

  // Runs the exact algorithm ahead on a copy of the state, W picks per round,
  // until a round ends where it began (see the class comment); keeps the
  // table only if that happens within the bounds.
  // Without a table, exact weights run the tournament when its arithmetic
  // fits (see the class comment).
  void build_table() noexcept {
    table_.clear();
    pos_ = loop_ = 0;
    tournament_active_ = false;
    if (!integral_) return;
    const std::size_t n = weight_.size();
    const bool all = up_count_ == 0 || up_count_ == n;
    const std::int64_t total = all ? itotal_ : iup_total_;
    try {
      std::vector<std::uint32_t> members;
      if (all) {
        members.resize(n);
        for (std::size_t i = 0; i < n; ++i) members[i] = static_cast<std::uint32_t>(i);
      }
      const std::span<const std::uint32_t> in_play =
          all ? std::span<const std::uint32_t>(members) : std::span<const std::uint32_t>(up_list_.data(), up_count_);
      std::int64_t max_abs = 0;
      for (const std::uint32_t i : in_play)
        max_abs = std::max(max_abs, icurrent_[i] < 0 ? -icurrent_[i] : icurrent_[i]);
      const bool tournament_fits = detail::smooth_tournament::fits(in_play.size(), total, max_abs);
      if (!try_table(in_play, total, tournament_fits) && tournament_fits) {
        tournament_.reset(in_play, iweight_.data(), icurrent_.data(), total);
        tournament_active_ = true;
      }
    } catch (...) {  // std::bad_alloc: stay on the O(n) path
      table_.clear();
      loop_ = 0;
      tournament_active_ = false;
    }
  }

  // Runs the exact algorithm ahead on a copy of the state, W picks per round,
  // until a round ends where it began; keeps the table if that happens within
  // the bounds. Large sets step with the tournament. May throw bad_alloc.
  bool try_table(std::span<const std::uint32_t> in_play, std::int64_t total, bool tournament_fits) {
    const auto period = static_cast<std::uint64_t>(total);
    const std::size_t m = in_play.size();
    if (table_limit_ == 0 || period > table_limit_) return false;
    const bool by_tournament = m > 64 && tournament_fits;
    const std::uint64_t step_cost = by_tournament ? 64 + 4 * std::bit_width(m) : m;
    const std::uint64_t max_visits = 64 * static_cast<std::uint64_t>(table_limit_);
    const bool all = m == weight_.size();
    std::vector<std::int64_t> sim(icurrent_), round_start(icurrent_);
    std::vector<std::uint32_t> table;
    detail::smooth_tournament sim_tournament;
    for (;;) {
      const std::uint64_t len = table.size() + period;
      if (len > table_limit_ || len * step_cost > max_visits) return false;
      if (by_tournament) {
        sim_tournament.reset(in_play, iweight_.data(), sim.data(), total);
        for (std::uint64_t k = 0; k < period; ++k) table.push_back(sim_tournament.pick());
        sim_tournament.store(sim.data());
      } else {
        for (std::uint64_t k = 0; k < period; ++k) {
          const std::size_t b =
              all ? step_all(sim.data(), iweight_.data(), m, total) : step_up(sim.data(), iweight_.data(), total);
          table.push_back(static_cast<std::uint32_t>(b));
        }
      }
      if (sim == round_start) break;
      round_start = sim;
    }
    loop_ = table.size() - static_cast<std::size_t>(period);
    table_ = std::move(table);
    return true;
  }

  // One round of ngx_http_upstream_get_peer over every backend, with L
  // independent running maxima (lane k sees indices = k mod L; strict `>`
  // keeps the earliest within a lane) merged with ties to the lower index:
  // L short compare chains instead of one long one.
  template <class T>
  static std::size_t step_all(T* cur, const T* w, std::size_t n, T total) noexcept {
    return n >= 32  ? step_lanes<4>(cur, w, n, total)
           : n >= 4 ? step_lanes<2>(cur, w, n, total)
                    : step_lanes<1>(cur, w, n, total);
  }
  template <std::size_t L, class T>
  static std::size_t step_lanes(T* cur, const T* w, std::size_t n, T total) noexcept {
    std::size_t best[L];
    T top[L];
    for (std::size_t k = 0; k < L; ++k) {
      top[k] = cur[k] += w[k];
      best[k] = k;
    }
    std::size_t i = L;
    for (; i + L <= n; i += L) {
      for (std::size_t k = 0; k < L; ++k) {
        const T c = cur[i + k] += w[i + k];
        const bool wins = c > top[k];  // branch-free: the winner is unpredictable
        best[k] = wins ? i + k : best[k];
        top[k] = wins ? c : top[k];
      }
    }
    for (std::size_t k = 1; k < L; ++k) {
      const bool wins = top[k] > top[0] || (top[k] == top[0] && best[k] < best[0]);
      best[0] = wins ? best[k] : best[0];
      top[0] = wins ? top[k] : top[0];
    }
    for (; i < n; ++i) {  // the tail: later indices, so strict `>` keeps ties earlier
      const T c = cur[i] += w[i];
      const bool wins = c > top[0];
      best[0] = wins ? i : best[0];
      top[0] = wins ? c : top[0];
    }
    cur[best[0]] = top[0] - total;
    return best[0];
  }

  // The same over the up backends only (ascending indices, so the first
  // maximum is the earliest backend); down backends keep their current weight.
  template <class T>
  std::size_t step_up(T* cur, const T* w, T total) const noexcept {
    const std::uint32_t* up = up_list_.data();
    const std::size_t m = up_count_;
    std::size_t best = up[0];
    T top = cur[best] += w[best];
    for (std::size_t k = 1; k < m; ++k) {
      const std::size_t i = up[k];
      const T c = cur[i] += w[i];
      const bool wins = c > top;
      best = wins ? i : best;
      top = wins ? c : top;
    }
    cur[best] = top - total;
    return best;
  }

  std::vector<double> weight_;  // scaled by 2^-scale_shift_ when their sum was not finite
  int scale_shift_ = 0;
  std::vector<std::uint8_t> up_;  // 1 = up
  // Ascending indices of the up backends (when some are down) in its first
  // up_count_ entries. Sized n once, so that set_healthy (noexcept) never
  // allocates: a reserve() would not survive a copy.
  std::vector<std::uint32_t> up_list_;
  std::size_t up_count_ = weight_.size();
  bool integral_ = false;                    // exact weights: scaled by 2^k to integers
  std::vector<std::int64_t> iweight_;        // integral_: the weights as integers (scaled)
  std::vector<std::int64_t> icurrent_;       // integral_: current weights
  std::vector<double> dcurrent_;             // !integral_: current weights
  std::int64_t itotal_ = 0, iup_total_ = 0;  // sums of all / of the up weights
  double dtotal_ = 0, dup_total_ = 0;        // the same, summed in index order as the loop would
  std::size_t table_limit_;
  std::vector<std::uint32_t> table_;      // precomputed picks; empty: tournament or O(n) path
  detail::smooth_tournament tournament_;  // the live state while tournament_active_
  bool tournament_active_ = false;
  std::size_t pos_ = 0;   // next table entry
  std::size_t loop_ = 0;  // where the period starts (after the transient)
};

/// nginx's smooth weighted round robin shared by many threads: the same
/// sequence as `weighted_round_robin` (which it wraps), with a lock-free
/// `pick()` whenever that policy's table is active — each pick takes the
/// next position of the published table with one relaxed `fetch_add` (the
/// wrap to the start of the period is a best-effort compare-exchange, so the
/// common pick has no division) inside an RCU-style read
/// section, and never blocks. Picks from several threads take distinct
/// consecutive positions: together they are exactly nginx's sequence, each
/// thread seeing a subsequence. When the table is not active (inexact
/// weights, over `table_limit`) `pick()` runs the O(n) algorithm under a
/// mutex. `set_healthy` takes the mutex, folds the published position into
/// the current weights, rebuilds and publishes the new table (readers never
/// wait for it); picks racing a `set_healthy` return valid backends, but
/// the positions they take after the fold are not carried into the new
/// state, so the sequence is exact only across health changes that do not
/// race picks.
///
/// Complexity: as `weighted_round_robin`; `pick()` O(1) with the table;
/// `set_healthy` adds a copy of that policy.
/// Memory: that policy plus a second copy of the table (the published one),
/// and while `set_healthy` runs, a copy of that policy (it works on one).
/// Thread safety: thread-safe; `pick()` lock-free while the table is
/// active (else a mutex), `healthy` lock-free, `set_healthy` serialised by
/// the mutex and blocks no table reader. Bad input: as
/// `weighted_round_robin`; `set_healthy` may throw std::bad_alloc (copying
/// the policy or the new table), and then changes nothing (strong
/// guarantee). Not copyable or movable.
class shared_weighted_round_robin {
 public:
  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T, class... Rest>
  explicit shared_weighted_round_robin(const T& n, Rest&&... rest) : shared_weighted_round_robin(detail::refuse_count(n), std::forward<Rest>(rest)...) {}
  /// n backends of weight 1 (`shared_weighted_round_robin{3}` too).
  explicit shared_weighted_round_robin(std::size_t n) : core_(n), health_(core_.size()), cell_(snapshot(core_)) {}
  /// A bool, a character or a floating-point number as the table_limit does
  /// not compile (it would convert to std::size_t silently: 2.9 would be 2).
  template <detail::not_a_count L>
  explicit shared_weighted_round_robin(const weights& w, const L&) : shared_weighted_round_robin(w) {
    static_assert(detail::refused_count<L>,
                  "surge::shared_weighted_round_robin: table_limit must be an integer, not a bool, a character or a "
                  "floating-point number");
  }
  /// Weighted: `shared_weighted_round_robin(surge::weights{5, 1, 1})`.
  explicit shared_weighted_round_robin(const weights& w,
                                       std::size_t table_limit = weighted_round_robin::default_table_limit)
      : core_(w, table_limit), health_(core_.size()), cell_(snapshot(core_)) {}

  /// The next backend in nginx's smooth sequence.
  [[nodiscard]] std::size_t pick() {
    for (;;) {
      const std::size_t b = cell_.read([](const table& t) { return t.next(); });
      if (b != npos) return b;
      std::lock_guard<std::mutex> lock(mutex_);
      if (!core_.table_active()) return core_.pick();
      // a table was published after our read: take it from there
    }
  }

  /// Marks backend i up or down; false when i is out of range. Blocks only
  /// other writers and O(n)-mode picks (the mutex); see
  /// `weighted_round_robin::set_healthy` for the cost.
  bool set_healthy(std::size_t i, bool up) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (i >= core_.size()) return false;
    if (core_.healthy(i) == up) return true;
    // The change is made on a copy and published before the copy replaces
    // the engine: an allocation that fails on the way leaves the published
    // table and the engine as they were, still in step with each other.
    weighted_round_robin next(core_);
    if (next.table_active()) {
      const std::uint64_t taken =
          cell_.read([](const table& t) { return t.pos.value.load(std::memory_order_relaxed); });
      next.pos_ = table::index(taken, next.table_.size(), next.loop_);
    }
    next.set_healthy(i, up);
    cell_.publish(snapshot(next));
    core_ = std::move(next);
    health_.set(i, up);
    return true;
  }
  /// True when backend i is marked up (false when i is out of range). Lock-free.
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return health_.size(); }
  /// True while `pick()` is the lock-free table read.
  [[nodiscard]] bool table_active() const {
    return cell_.read([](const table& t) { return !t.entries.empty(); });
  }

 private:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // An immutable copy of the core's table; only the position moves.
  struct table {
    std::vector<std::uint32_t> entries;  // empty: O(n) mode
    std::size_t loop = 0;
    mutable detail::padded<std::atomic<std::uint64_t>> pos;

    // Table entry of logical position p (positions past the end wrap into
    // the period).
    static std::size_t index(std::uint64_t p, std::size_t len, std::size_t loop) noexcept {
      return p < len ? static_cast<std::size_t>(p) : loop + static_cast<std::size_t>((p - loop) % (len - loop));
    }
    // Invariant: a counter value v is the logical position v, and every
    // v >= loop names the same entry as v ± whole periods (`index`). The
    // compare-exchange replaces the counter only while it still holds p + 1,
    // and then by k + 1, which is p + 1 less whole periods (both >= loop):
    // the same logical position, whatever happened in between (ABA included).
    // So the pull-back never changes which entries are handed out — it only
    // keeps the counter small — and `index` is always < len (len > loop: the
    // period is at least 1). A failed pull-back leaves the counter above len;
    // the next uncontended taker pulls it back, and index() reduces any value
    // (a wrap at 2^64 would need about 2^64 takes past the end with every
    // pull-back failing; even then every index stays in range).
    std::size_t next() const noexcept {
      const std::size_t len = entries.size();
      if (len == 0) return npos;
      const std::uint64_t p = pos.value.fetch_add(1, std::memory_order_relaxed);
      if (p < len) return entries[static_cast<std::size_t>(p)];
      // Past the end: wrap; pull the counter back by whole periods unless
      // someone took a position since (then the later taker does it).
      const std::size_t k = index(p, len, loop);
      std::uint64_t expected = p + 1;
      pos.value.compare_exchange_strong(expected, k + 1, std::memory_order_relaxed);
      return entries[k];
    }
  };

  static std::shared_ptr<const table> snapshot(const weighted_round_robin& core) {
    auto t = std::make_shared<table>();
    t->entries = core.table_;
    t->loop = core.loop_;
    t->pos.value.store(core.pos_, std::memory_order_relaxed);
    return t;
  }

  weighted_round_robin core_;  // guarded by mutex_ (its table: the writer's copy)
  detail::health_set health_;
  detail::snapshot_cell<table> cell_;
  std::mutex mutex_;
};

namespace detail {
/// gRPC's static stride rule: backend i of scaled weight w (in [1, 65535]) is
/// taken in generation g when (w·g + i·32767) mod 65535 >= 65535 − w. Exact
/// for every g: w·(g mod 65535) stays below 2^32, where w·g would wrap at
/// 2^64 (and i·32767 fits for any index a vector can hold).
[[nodiscard]] constexpr bool stride_takes(std::uint64_t w, std::uint64_t generation, std::uint64_t i) noexcept {
  constexpr std::uint64_t m = 65535;
  return (w * (generation % m) + i * (m / 2)) % m >= m - w;
}
}  // namespace detail

/// gRPC's static stride scheduler: weights are scaled to round(w / max w ·
/// 65535), so the largest is 65535 whatever their magnitude (tiny weights,
/// denormal ones included, keep their ratios), the smallest kept at least 1;
/// a shared sequence number s is split into a backend index i = s mod n and
/// a generation g = s / n, and backend i is taken when (w_i·g + i·32767) mod
/// 65535 >= 65535 - w_i, i.e. w_i times in every 65535 generations, spread
/// out. The sequence from one thread is
/// exactly gRPC's (StaticStrideScheduler::Pick with a counter from 0), except
/// that the counter is 64-bit (gRPC's wraps at 2^32) and gRPC's clamping of
/// weights to [0.01, 10]·mean is not applied: proportions are the weights'
/// own, up to the 16-bit quantisation. Down backends are skipped; all down:
/// panic mode (health ignored).
///
/// Range and wrap-around: i = s mod n is always a valid index, and the rule
/// is computed exactly for every generation (with g mod 65535, so w_i·g never
/// wraps); the counter itself wraps after 2^64 turns, ending its last
/// generation early. Concurrent picks take distinct counter values (one
/// fetch_add each), so threads together follow the single sequence.
///
/// Complexity: `pick()` expected O(max weight / mean weight) loop turns (one
/// relaxed fetch_add each; 1 when weights are equal), plus the skipped turns
/// of down backends. Thread safety: lock-free; every member may be called
/// concurrently (a pick racing `set_healthy(i, false)` may still return i;
/// picks that happen after it returns do not, unless in panic mode). Bad
/// input: as `weighted_round_robin`.
class stride_weighted_round_robin {
 public:
  /// A bool, a character or a floating-point number as the backend count
  /// does not compile (it would convert to std::size_t silently).
  template <detail::not_a_count T, class... Rest>
  explicit stride_weighted_round_robin(const T& n, Rest&&... rest) : stride_weighted_round_robin(detail::refuse_count(n), std::forward<Rest>(rest)...) {}
  /// n backends of weight 1 (`stride_weighted_round_robin{3}` too).
  explicit stride_weighted_round_robin(std::size_t n)
      : scaled_(detail::check_count(n, "stride_weighted_round_robin: n"), static_cast<std::uint32_t>(max_weight)),
        health_(n) {}
  /// Weighted: `stride_weighted_round_robin(surge::weights{5, 1, 1})`.
  explicit stride_weighted_round_robin(const weights& w)
      : scaled_(scale(detail::check_weights(w.values(), "stride_weighted_round_robin: weights"))),
        health_(scaled_.size()) {}

  /// The largest scaled weight (gRPC's): the heaviest backend's weight scales
  /// to it.
  static constexpr std::uint64_t max_weight = 65535;

  /// The next backend of the stride sequence, skipping down ones (see the
  /// class comment). Lock-free.
  [[nodiscard]] std::size_t pick() noexcept {
    const std::uint64_t n = scaled_.size();
    for (;;) {
      const std::uint64_t seq = seq_.fetch_add(1, std::memory_order_relaxed);
      const std::uint64_t i = seq % n;
      const std::uint64_t generation = seq / n;
      const std::uint64_t w = scaled_[i];
      if (!detail::stride_takes(w, generation, i)) continue;
      if (!health_.usable(i)) continue;
      return static_cast<std::size_t>(i);
    }
  }

  /// Marks backend i up or down; false when i is out of range. Lock-free.
  bool set_healthy(std::size_t i, bool up) noexcept { return health_.set(i, up); }
  /// True when backend i is marked up (false when i is out of range). Lock-free.
  [[nodiscard]] bool healthy(std::size_t i) const noexcept { return health_.up(i); }
  /// The number of backends, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return scaled_.size(); }
  /// Backend i's weight after scaling to [1, 65535].
  [[nodiscard]] std::uint32_t scaled_weight(std::size_t i) const noexcept {
    return i < scaled_.size() ? scaled_[i] : 0;
  }

 private:
  static std::vector<std::uint32_t> scale(const std::vector<double>& w) {
    const double top = *std::max_element(w.begin(), w.end());
    std::vector<std::uint32_t> out(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
      // w / top first: it is in (0, 1], where 65535 / top would overflow for
      // a top below about 3.6e-304.
      const auto s = static_cast<std::uint32_t>(std::lround(w[i] / top * static_cast<double>(max_weight)));
      out[i] = std::max<std::uint32_t>(s, 1);
    }
    return out;
  }

  std::vector<std::uint32_t> scaled_;
  detail::health_set health_;
  alignas(detail::destructive_interference_size) std::atomic<std::uint64_t> seq_{0};
};

}  // namespace surge

#endif  // SURGE_BALANCE_WEIGHTED_ROUND_ROBIN_HPP
