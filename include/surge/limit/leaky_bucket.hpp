/// @file surge/limit/leaky_bucket.hpp
/// The leaky bucket in its two classic forms: a *meter* that polices arrivals
/// exactly as nginx `limit_req` does (admit, delay or reject), and a *pacer*
/// that shapes callers to an even spacing as uber-go/ratelimit does.
#ifndef SURGE_LIMIT_LEAKY_BUCKET_HPP
#define SURGE_LIMIT_LEAKY_BUCKET_HPP

#include <surge/detail/backoff.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/limit/detail/epoch_word.hpp>
#include <surge/limit/detail/rate_units.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace surge {

/// What a meter decided for one arrival.
enum class meter_decision : std::uint8_t {
  admit,  ///< pass now
  delay,  ///< pass after `delay` (nginx: the request is held, then served)
  reject  ///< refuse (nginx: 503); the meter's state is unchanged
};

/// A meter's answer: the decision and, for `delay`, how long to hold the request.
template <class Duration>
struct meter_result {
  meter_decision decision = meter_decision::reject;  ///< Admit, delay or reject.
  Duration delay{};  ///< How long to hold a delayed request; zero unless `decision` is delay.
  /// True unless rejected.
  [[nodiscard]] bool admitted() const noexcept { return decision != meter_decision::reject; }
};

/// `delay` value meaning nginx's `nodelay`: every admitted request passes at once.
inline constexpr std::size_t nodelay = std::numeric_limits<std::size_t>::max();

/// nginx's rate units for leaky_bucket::nginx: `rate=Nr/s` or `rate=Nr/m`.
enum class nginx_rate_unit : std::uint8_t { per_second, per_minute };

/// A leaky-bucket **meter** (policing) with the semantics of one key of nginx
/// `limit_req zone=... rate=R; limit_req burst=B [delay=D | nodelay];`.
///
/// Each arrival adds one request to an *excess* that drains at R per second;
/// with e the excess after the arrival (never below 0; the first arrival on a
/// fresh meter has e = 0): e > B is **rejected** and changes nothing; e <= D
/// is **admitted** at once; otherwise it is **delayed** by (e - D) / R. So
/// burst B admits B + 1 requests at one instant, and with delay D the first
/// D + 1 of them pass undelayed. D defaults to 0 (nginx without `delay=`),
/// `nodelay` makes D infinite. (This is GCRA with limit tau = B / R.)
///
/// **Two arithmetic modes.**
/// - *exact* (the constructor): excess is kept in exact token units (binary
///   fractions of a token, so nothing is rounded per request) on one atomic
///   word; delays are exact for the clock readings rounded down to a token
///   unit (below), so up to one unit (at most 1 ns at rates of 0.24/s and
///   more whose burst refills within 6.5 days) short of the ideal, and
///   rounded up to the clock tick. Lock-free (the move of the epoch, below,
///   serialises with other moves on a spin flag held for a few instructions).
/// - *nginx-exact* (`leaky_bucket::nginx(...)`): nginx's own integer
///   arithmetic, bit for bit: time read in whole milliseconds
///   (ngx_current_msec), rate in milli-requests per second (`R*1000/60` for
///   r/m, truncated), drained excess `rate*ms/1000` truncated per update, the
///   stamp moved only when at least a millisecond passed, delays truncated to
///   whole milliseconds. Use it to reproduce an nginx configuration's
///   decisions; the two modes differ by those roundings and by a clock going
///   backwards (below). Thread-safe via
///   a spin flag held for a few instructions (not lock-free).
///
/// **Clock going backwards**: never credits and never moves state back. The
/// exact mode judges a reading at itself: one older than the last admitted
/// arrival's sees that arrival's excess plus the step back, so it may be
/// delayed or rejected where nginx, counting 0 ms, would not. In
/// nginx mode a backward step counts as 0 ms (nginx also does this, except
/// that a step of more than 60 s counts as 1 ms and moves its stamp back;
/// surge does not reproduce that exception).
///
/// **Clock readings at the limits** (time_point::min()/max(), readings more
/// than 292 years apart, ticks coarser than 1 ns) are valid: conversions and
/// differences saturate, never overflow; a reading far after the last one
/// finds the meter fresh, and delays saturate to duration::max(). No horizon:
/// readings are counted in token units (at most 1 ns for rates >= 0.24/s
/// whose burst, or slack, refills within 6.5 days; see rate_units.hpp) from
/// an epoch that a call moves to its own reading once that reading is 2^53
/// units (52 days or more) past it, rounding the state by less than a unit
/// toward later (never crediting); so does a per-key state, which keeps its
/// own epoch. The construction time given is only the first epoch: any time
/// point, a clock's epoch included, is fine. A reading more than 2^54 units
/// older than the one that moved the epoch is judged as if 2^54 units old.
///
/// Complexity: admit is O(1). Thread safety: see the modes. Bad input: rate
/// below 1e-18, NaN, infinite or > 1e9 requests/s (nginx mode: rate 0 or
/// above 2^40, or a unit that is neither per_second nor per_minute) throw
/// std::invalid_argument naming the argument. burst up to 2^40; delay >
/// burst behaves as nodelay. A bool, a character or a floating-point burst,
/// delay or nginx rate does not compile.
template <class Clock = std::chrono::steady_clock>
class leaky_bucket {
  static constexpr std::int64_t empty_tat = detail::epoch_word::empty;

 public:
  using clock_type = Clock;                       ///< The clock the meter reads.
  using duration = typename Clock::duration;      ///< Clock's duration (delays).
  using time_point = typename Clock::time_point;  ///< Clock's time point.
  using result = meter_result<duration>;          ///< What admit() returns.

  /// Per-key state for keyed_limiter (exact mode: the excess horizon and its
  /// epoch; nginx mode: excess, stamp and whether the node exists). 24 bytes.
  struct state_type {
    std::int64_t tat = empty_tat;  ///< Exact mode: when the excess drains to 0, in token units from `stamp`.
    std::int64_t excess = 0;       ///< nginx mode: the excess, in milli-requests.
    /// Exact mode: the epoch of `tat`, a clock reading in ns; nginx mode: the
    /// last update, in ms (the node exists when tat != its initial value).
    std::int64_t stamp = 0;
  };

  /// Exact-mode meter: rate R per second, burst B, delay D (nodelay: none).
  explicit leaky_bucket(double rate_per_second, std::size_t burst = 0, std::size_t delay = 0)
      : leaky_bucket(rate_per_second, burst, delay, Clock::now()) {}

  /// A bool, a character or a floating-point number as the burst or the
  /// delay does not compile (it would convert to std::size_t silently: 2.9
  /// would be 2, '4' 52).
  template <class B, class D = std::size_t>
  requires(detail::not_a_count<B> || detail::not_a_count<D>)
  explicit leaky_bucket(double rate_per_second, const B&, const D& = {}, time_point now = {})
      : leaky_bucket(rate_per_second, 0, 0, now) {
    static_assert(detail::refused_count<B, D>,
                  "surge::leaky_bucket: burst and delay must be integers, not bools, characters or floating-point "
                  "numbers");
  }

  /// As above with the construction time (the epoch of clock readings) given.
  leaky_bucket(double rate_per_second, std::size_t burst, std::size_t delay, time_point now)
      : rate_(rate_per_second), burst_(burst), delay_(delay), tat_(ns_of(now)) {
    if (!detail::rate_units::valid_rate(rate_per_second) || rate_per_second > 1e9)
      throw std::invalid_argument("surge::leaky_bucket: rate_per_second must be finite, >= 1e-18 and <= 1e9");
    if (burst > (std::size_t{1} << 40)) throw std::invalid_argument("surge::leaky_bucket: burst must be <= 2^40");
    units_ = detail::rate_units::make(rate_per_second, burst + 1);
    burst_u_ = units_.tokens(burst);
    delay_u_ = delay >= burst ? detail::unit_limit : units_.tokens(delay);
  }

  /// nginx-exact meter for `rate=<rate>r/s` (or r/m), `burst=<burst>`,
  /// `delay=<delay>` or nodelay. Throws std::invalid_argument for rate 0, a
  /// rate too large for nginx's arithmetic (> 2^40), burst > 2^40, or a unit
  /// that is neither per_second nor per_minute (a cast integer).
  [[nodiscard]] static leaky_bucket nginx(std::size_t rate, nginx_rate_unit unit, std::size_t burst = 0,
                                          std::size_t delay = 0) {
    if (rate == 0 || rate > (std::size_t{1} << 40))
      throw std::invalid_argument("surge::leaky_bucket::nginx: rate must be in [1, 2^40]");
    if (unit != nginx_rate_unit::per_second && unit != nginx_rate_unit::per_minute)
      throw std::invalid_argument("surge::leaky_bucket::nginx: unit must be per_second or per_minute");
    if (burst > (std::size_t{1} << 40))
      throw std::invalid_argument("surge::leaky_bucket::nginx: burst must be <= 2^40");
    const double per_second = unit == nginx_rate_unit::per_second ? static_cast<double>(rate) : rate / 60.0;
    leaky_bucket b(std::min(per_second, 1e9), burst, delay, time_point{});
    b.nginx_ = true;
    b.rate_ = per_second;  // as constructed (the exact-mode part, unused here, is capped at 1e9)
    b.rate_m_ = static_cast<std::int64_t>(rate) * 1000 / (unit == nginx_rate_unit::per_second ? 1 : 60);
    b.burst_m_ = static_cast<std::int64_t>(burst) * 1000;
    b.delay_m_ = delay >= (std::size_t{1} << 40) ? std::numeric_limits<std::int64_t>::max() / 2
                                                 : static_cast<std::int64_t>(delay) * 1000;
    return b;
  }

  /// A bool, a character or a floating-point number as the rate, the burst or
  /// the delay does not compile (it would convert to std::size_t silently:
  /// 2.5r/s would be 2r/s).
  template <class R, class B = std::size_t, class D = std::size_t>
  requires(detail::not_a_count<R> || detail::not_a_count<B> || detail::not_a_count<D>)
  [[nodiscard]] static leaky_bucket nginx(const R&, nginx_rate_unit unit, const B& = {}, const D& = {}) {
    static_assert(detail::refused_count<R, B, D>,
                  "surge::leaky_bucket::nginx: rate, burst and delay must be integers, not bools, characters or "
                  "floating-point numbers");
    return nginx(std::size_t{1}, unit);
  }

  /// Copies configuration and state (a snapshot; not synchronised with
  /// concurrent use of `other`).
  leaky_bucket(const leaky_bucket& o) noexcept
      : units_(o.units_),
        rate_(o.rate_),
        burst_(o.burst_),
        delay_(o.delay_),
        burst_u_(o.burst_u_),
        delay_u_(o.delay_u_),
        nginx_(o.nginx_),
        rate_m_(o.rate_m_),
        burst_m_(o.burst_m_),
        delay_m_(o.delay_m_),
        tat_(o.tat_.load()),
        ng_(o.ng_) {}
  leaky_bucket& operator=(const leaky_bucket&) = delete;

  /// Decides one arrival now. O(1).
  [[nodiscard]] result admit() noexcept { return admit(Clock::now()); }

  /// Decides one arrival at `now`.
  [[nodiscard]] result admit(time_point now) noexcept {
    if (nginx_) return locked([&] { return admit_state(ng_, now); });
    const std::int64_t now_ns = ns_of(now);
    detail::epoch_word::view v = tat_.load();
    std::int64_t epoch = v.epoch;
    std::int64_t now_u = units_.units(detail::sub_sat(now_ns, epoch));
    for (;;) {
      if (v.epoch != epoch) {  // moved since: convert the reading again
        epoch = v.epoch;
        now_u = units_.units(detail::sub_sat(now_ns, epoch));
      }
      if (needs_rebase(v.value, now_u)) {
        tat_.rebase(
            v, now_ns, [&](std::int64_t tat) { return needs_rebase(tat, now_u); },
            [&](std::int64_t tat) { return detail::shift_epoch(tat, now_u, empty_tat); });
        v = tat_.load();
        continue;
      }
      std::int64_t excess = 0;
      if (!exact_step(v.value, now_u, excess)) {
        if (tat_.same_generation(v)) return result{meter_decision::reject, duration::zero()};
        v = tat_.load();
        continue;
      }
      if (tat_.store(v, now_u + excess)) return exact_delay(excess, now_u, now_ns, v.epoch);
    }
  }

  /// True when the meter is back to its fresh state at `now`: the next arrival
  /// is decided exactly as on a new meter. A racing observer.
  [[nodiscard]] bool full(time_point now = Clock::now()) const noexcept {
    if (nginx_) return locked([&] { return full_state(ng_, now); });
    for (;;) {
      const detail::epoch_word::view v = tat_.load();
      const bool full = full_exact(v.value, units_.units(detail::sub_sat(ns_of(now), v.epoch)));
      if (tat_.same_generation(v)) return full;
    }
  }

  /// The drain rate in requests per second, as constructed (an nginx meter
  /// with a per-minute rate: that rate / 60).
  [[nodiscard]] double rate() const noexcept { return rate_; }
  /// The burst B, as constructed.
  [[nodiscard]] std::size_t burst() const noexcept { return burst_; }
  /// The delay threshold D, as constructed (`nodelay` for nginx's nodelay).
  [[nodiscard]] std::size_t delay() const noexcept { return delay_; }
  /// True for a meter made by nginx() (nginx's integer arithmetic).
  [[nodiscard]] bool nginx_mode() const noexcept { return nginx_; }

  // ---- per-key state, for keyed_limiter (the caller serialises access) ----

  /// The state of a fresh meter.
  [[nodiscard]] static state_type initial_state() noexcept { return state_type{}; }

  /// Decides one arrival against `s` with this meter's configuration. Not
  /// thread-safe for the same `s`.
  [[nodiscard]] result admit_state(state_type& s, time_point now) const noexcept {
    if (nginx_) return nginx_step(s, now);
    const std::int64_t now_ns = ns_of(now);
    std::int64_t now_u = units_.units(detail::sub_sat(now_ns, s.stamp));
    if (needs_rebase(s.tat, now_u)) {
      s.tat = detail::shift_epoch(s.tat, now_u, empty_tat);
      s.stamp = now_ns;
      now_u = 0;
    }
    std::int64_t excess = 0;
    if (!exact_step(s.tat, now_u, excess)) return result{meter_decision::reject, duration::zero()};
    s.tat = now_u + excess;
    return exact_delay(excess, now_u, now_ns, s.stamp);
  }

  /// True when `s` decides the next arrival at `now` as a fresh state would.
  [[nodiscard]] bool full_state(const state_type& s, time_point now) const noexcept {
    if (s.tat == empty_tat) return true;
    if (nginx_) {
      const std::int64_t ms = std::max<std::int64_t>(0, detail::sub_sat(ms_of(now), s.stamp));
      return s.excess + 1000 <= drained(ms);
    }
    return full_exact(s.tat, units_.units(detail::sub_sat(ns_of(now), s.stamp)));
  }

 private:
  /// Runs f() (noexcept) holding the nginx-mode spin flag.
  template <class F>
  auto locked(F&& f) const noexcept {
    detail::backoff<> bo;
    while (lock_.exchange(true, std::memory_order_acquire)) bo.pause();
    const auto r = f();
    lock_.store(false, std::memory_order_release);
    return r;
  }

  static std::int64_t ns_of(time_point t) noexcept { return detail::to_ns_sat(t.time_since_epoch()); }
  static std::int64_t ms_of(time_point t) noexcept {
    const std::int64_t ns = ns_of(t);  // floor to whole milliseconds
    return ns / 1'000'000 - (ns % 1'000'000 < 0 ? 1 : 0);
  }

  /// Exact mode: whether a state must first move its epoch to the reading
  /// now_u units after it: readings 2^53 units or more after the epoch, or
  /// (on a fresh state, which has nothing to keep) as far before it. States
  /// keep within [-2^54 - 2^51, 2^53 + 2^51] of their epoch: calls re-base
  /// first, and a reading far before a live state rejects (its excess is
  /// over 2^51 units, more than any burst) or stores at most a burst past it.
  static bool needs_rebase(std::int64_t tat, std::int64_t now_u) noexcept {
    return now_u >= detail::rebase_at || (tat == empty_tat && now_u <= -detail::rebase_at);
  }

  /// Exact mode: the state decides the next arrival as a fresh one would.
  bool full_exact(std::int64_t tat, std::int64_t now_u) const noexcept {
    return tat == empty_tat || tat + units_.token() <= now_u;
  }

  /// Exact mode: excess after an arrival at now_u on state tat; false = reject.
  bool exact_step(std::int64_t tat, std::int64_t now_u, std::int64_t& excess) const noexcept {
    if (tat == empty_tat) {
      excess = 0;
      return true;
    }
    excess = std::max<std::int64_t>(0, tat + units_.token() - now_u);
    return excess <= burst_u_;
  }

  /// The answer for an arrival at now_u (now_ns) with `excess`, on a state
  /// whose epoch is `epoch`.
  result exact_delay(std::int64_t excess, std::int64_t now_u, std::int64_t now_ns, std::int64_t epoch) const noexcept {
    if (excess <= delay_u_) return result{meter_decision::admit, duration::zero()};
    const std::int64_t ns = units_.wait_ns(epoch, now_ns, now_u + (excess - delay_u_));
    if (ns <= 0) return result{meter_decision::admit, duration::zero()};
    return result{meter_decision::delay, detail::from_ns_ceil<duration>(ns)};
  }

  /// rate_m * ms / 1000, saturated (nginx's drained milli-requests).
  std::int64_t drained(std::int64_t ms) const noexcept {
    if (ms >= std::numeric_limits<std::int64_t>::max() / rate_m_) return std::numeric_limits<std::int64_t>::max() / 2;
    return rate_m_ * ms / 1000;
  }

  /// nginx mode: ngx_http_limit_req_lookup + ngx_http_limit_req_account for one limit.
  result nginx_step(state_type& s, time_point now) const noexcept {
    const std::int64_t now_ms = ms_of(now);
    if (s.tat == empty_tat) {  // a new node: excess 0, stamp now
      s.tat = 0;
      s.excess = 0;
      s.stamp = now_ms;
      return result{meter_decision::admit, duration::zero()};
    }
    const std::int64_t ms = std::max<std::int64_t>(0, detail::sub_sat(now_ms, s.stamp));
    const std::int64_t excess = std::max<std::int64_t>(0, s.excess - drained(ms) + 1000);
    if (excess > burst_m_) return result{meter_decision::reject, duration::zero()};
    s.excess = excess;
    if (ms != 0) s.stamp = now_ms;
    if (excess <= delay_m_) return result{meter_decision::admit, duration::zero()};
    const std::int64_t delay_ms = (excess - delay_m_) * 1000 / rate_m_;
    if (delay_ms == 0) return result{meter_decision::admit, duration::zero()};
    constexpr std::int64_t ms_limit = std::numeric_limits<std::int64_t>::max() / 1'000'000;
    const std::int64_t delay_ns = delay_ms > ms_limit ? std::numeric_limits<std::int64_t>::max() : delay_ms * 1'000'000;
    return result{meter_decision::delay, detail::from_ns_ceil<duration>(delay_ns)};
  }

  detail::rate_units units_;
  double rate_ = 1.0;
  std::size_t burst_ = 0;
  std::size_t delay_ = 0;
  std::int64_t burst_u_ = 0;
  std::int64_t delay_u_ = 0;
  bool nginx_ = false;
  std::int64_t rate_m_ = 1000;
  std::int64_t burst_m_ = 0;
  std::int64_t delay_m_ = 0;
  detail::epoch_word tat_;  // exact mode: the TAT and its epoch
  mutable std::atomic<bool> lock_{false};
  state_type ng_{};
};

/// A leaky-bucket **pacer** (shaping) with the semantics of uber-go/ratelimit
/// (its lock-free int64 limiter): `take()` returns the time at which the
/// caller may proceed so that callers are spaced 1/rate apart. With slack S
/// (default 10, uber's default; 0 is uber's WithoutSlack), up to S permissions
/// left unused during a pause may be taken back to back afterwards: after a
/// long pause S + 1 callers proceed at once, then the spacing resumes. The
/// first call proceeds at once.
///
/// take() never sleeps: it returns the time point to wait until (the caller's
/// `now` when no wait is needed); a thread caller does
/// `std::this_thread::sleep_until(p.take())`, a coroutine awaits its
/// executor's sleep. The spacing is exact (the interval is kept in token
/// units, where uber truncates time.Second/rate to whole nanoseconds);
/// returned times are rounded up to the clock tick. The schedule starts
/// from a reading (the first call's, or the one a gap restarts it at)
/// rounded down to a token unit, so the k-th slot after it may be up to one
/// unit (at most 1 ns at rates of 0.24/s and more whose slack refills
/// within 6.5 days) earlier than that reading + k/rate.
///
/// Clock going backwards: never credits, never moves the state back. Clock
/// readings at the limits saturate (the returned time point at
/// time_point::max(), never wrapping to the past); so does the schedule: a
/// slot 2^62 ns (146 years) or more after the pacer's epoch, or 2^54 token
/// units past it (callers far ahead of the rate: at least 2^22 slots, or 104
/// days at 1e9/s), is time_point::max(), and later callers are told the same.
/// No horizon: as the meter's, the epoch (first the construction time, any
/// time point) moves to a call's reading once that reading is 2^53 units past
/// it, rounding the state by less than a unit toward later.
/// Complexity O(1). Lock-free: one atomic word updated by CAS (the move of the
/// epoch, once per 2^53 units of clock readings, serialises with other moves
/// on a spin flag held for a few instructions). Bad input:
/// rate below 1e-18, NaN, infinite or > 1e9 per second, or slack > 2^32, throw
/// std::invalid_argument; a bool, a character or a floating-point slack does
/// not compile.
template <class Clock = std::chrono::steady_clock>
class leaky_bucket_pacer {
 public:
  using clock_type = Clock;                       ///< The clock the pacer reads.
  using duration = typename Clock::duration;      ///< Clock's duration.
  using time_point = typename Clock::time_point;  ///< Clock's time point (what take() returns).

  /// A pacer of `rate_per_second` calls per second that may catch up on up to
  /// `slack` unused permissions; see the class comment for the bad input it
  /// refuses. Reads the clock once (the epoch).
  explicit leaky_bucket_pacer(double rate_per_second, std::size_t slack = 10)
      : leaky_bucket_pacer(rate_per_second, slack, Clock::now()) {}

  /// A bool, a character or a floating-point number as the slack does not
  /// compile (it would convert to std::size_t silently: 2.9 would be 2, '4' 52).
  template <detail::not_a_count S>
  explicit leaky_bucket_pacer(double rate_per_second, const S&, time_point now = {})
      : leaky_bucket_pacer(rate_per_second, 0, now) {
    static_assert(detail::refused_count<S>,
                  "surge::leaky_bucket_pacer: the slack must be an integer, not a bool, a character or a "
                  "floating-point number");
  }

  /// As above with the construction time (the epoch of clock readings) given.
  leaky_bucket_pacer(double rate_per_second, std::size_t slack, time_point now) : state_(ns_of(now)) {
    if (!detail::rate_units::valid_rate(rate_per_second) || rate_per_second > 1e9)
      throw std::invalid_argument("surge::leaky_bucket_pacer: rate_per_second must be finite, >= 1e-18 and <= 1e9");
    if (slack > (std::size_t{1} << 32)) throw std::invalid_argument("surge::leaky_bucket_pacer: slack must be <= 2^32");
    units_ = detail::rate_units::make(rate_per_second, slack + 1);
    per_ = units_.token();
    slack_u_ = units_.tokens(slack);
  }

  /// Claims the next slot; returns when the caller may proceed. Lock-free.
  [[nodiscard]] time_point take() noexcept { return take(Clock::now()); }

  /// take at the given clock reading.
  [[nodiscard]] time_point take(time_point now) noexcept {
    const std::int64_t now_ns = ns_of(now);
    detail::epoch_word::view v = state_.load();
    std::int64_t epoch = v.epoch;
    std::int64_t now_u = units_.units(detail::sub_sat(now_ns, epoch));
    std::int64_t next = 0;
    for (;;) {
      if (v.epoch != epoch) {  // moved since: convert the reading again
        epoch = v.epoch;
        now_u = units_.units(detail::sub_sat(now_ns, epoch));
      }
      const std::int64_t last = v.value;
      // Move the epoch to readings 2^53 units after it, or as far before it
      // while the pacer is fresh; the schedule then stays within +-2^55.
      const auto needs_rebase = [&](std::int64_t l) {
        return now_u >= detail::rebase_at || (l == never && now_u <= -detail::rebase_at);
      };
      if (needs_rebase(last)) {
        // a slot more than 2^54 units back decides alike for every reading since
        state_.rebase(v, now_ns, needs_rebase, [&](std::int64_t l) { return detail::shift_epoch(l, now_u, never); });
        v = state_.load();
        continue;
      }
      if (last == never || (slack_u_ == 0 && now_u - last > per_))
        next = now_u;  // first call, or strict pacing after a gap: start from now
      else if (slack_u_ > 0 && now_u - last > slack_u_ + per_)
        next = now_u - slack_u_;  // long gap: keep at most `slack` unused permissions
      else
        next = last + per_;          // last < schedule_limit, per_ <= 2^32: no overflow
      if (next >= schedule_limit) {  // past what the pacer can tell apart: refused, nothing stored
        if (state_.same_generation(v)) return time_point::max();
        v = state_.load();
        continue;
      }
      if (state_.store(v, next)) break;
    }
    if (next <= now_u) return now;
    const std::int64_t at_ns = units_.ns_at(next);  // saturates at 2^62 ns
    if (at_ns >= ns_limit) return time_point::max();
    const std::int64_t wait = detail::add_sat(detail::sub_sat(v.epoch, now_ns), at_ns);
    if (wait <= 0) return now;
    return detail::later_sat(now, detail::from_ns_ceil<duration>(wait));
  }

 private:
  static constexpr std::int64_t never = detail::epoch_word::empty;
  /// The schedule (in units from the epoch) stops here: callers ahead of it
  /// are told time_point::max(), and the state stays within its word.
  static constexpr std::int64_t schedule_limit = std::int64_t{1} << 54;
  /// ns_at's saturation: a slot this far (or further) after the epoch is
  /// past what the pacer can tell apart, so time_point::max().
  static constexpr std::int64_t ns_limit = std::int64_t{1} << 62;
  static std::int64_t ns_of(time_point t) noexcept { return detail::to_ns_sat(t.time_since_epoch()); }

  detail::rate_units units_;
  std::int64_t per_ = 1;
  std::int64_t slack_u_ = 0;
  detail::epoch_word state_;  // the last slot handed out, and its epoch
};

}  // namespace surge

#endif  // SURGE_LIMIT_LEAKY_BUCKET_HPP
