/// @file surge/limit/token_bucket.hpp
/// A lock-free token bucket (GCRA on one atomic word) with the semantics of
/// golang.org/x/time/rate's Limiter: AllowN, ReserveN (with a maximum wait and
/// Cancel), SetLimit and SetBurst.
#ifndef SURGE_LIMIT_TOKEN_BUCKET_HPP
#define SURGE_LIMIT_TOKEN_BUCKET_HPP

#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/detail/count_checks.hpp>
#include <surge/limit/detail/rate_units.hpp>
#include <surge/detail/read_sections.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

namespace surge {

namespace detail {
/// Test hook of token_bucket, for surge's own tests only: the primary template
/// does nothing (its call compiles to nothing). A test specializes it for a
/// bucket of a clock of its own to act at a fixed point inside a call (to
/// "stall" it deterministically); it is a friend of token_bucket, so the
/// specialization may also read the bucket's private state.
template <class Bucket>
struct token_bucket_hooks {
  /// Called by try_acquire when it has decided to admit, right before its CAS.
  static void before_cas(Bucket&) noexcept {}
  /// Called by try_acquire right after the CAS that admitted it.
  static void after_cas(Bucket&) noexcept {}
  /// Called by a reconfiguration while it waits for a call in progress on
  /// another thread (see the private `slot`).
  static void while_quiescing(Bucket&) noexcept {}
  /// Called by an admitting call (before its CAS) or a set_rate/set_burst
  /// (after its CAS) when it found the latest reading older than its own,
  /// right before raising it.
  static void before_latest(Bucket&) noexcept {}
};
}  // namespace detail

/// Why a reservation was or was not granted.
enum class reserve_status : std::uint8_t {
  granted,           ///< the tokens are the caller's after `delay`
  exceeds_burst,     ///< n > burst: can never be granted (x/time/rate: ok == false)
  exceeds_max_wait,  ///< the wait would be longer than the caller's max_wait (or than reserve() tells apart)
};

/// A token bucket: `rate` tokens per second refill a bucket that holds at most
/// `burst` tokens; a request for n tokens passes when n tokens are there.
///
/// **Burst** is how many unit requests pass at one instant after a long idle
/// (x/time/rate's `b`, governor's `max_burst`, Bucket4j's capacity). The
/// bucket starts full.
///
/// **Semantics** are those of golang.org/x/time/rate for the same rate, burst
/// and arrival times: `try_acquire(n, t)` is `AllowN(t, n)`, `reserve(n,
/// max_wait, t)` is `reserveN` (ReserveN when max_wait is unbounded), `cancel`
/// is `CancelAt`, `set_rate`/`set_burst` are `SetLimitAt`/`SetBurstAt` (the
/// tokens present at t are kept; a larger burst does not fill the bucket, a
/// smaller one caps it). Differences, all deliberate: arithmetic is exact
/// (x/time/rate keeps float64 tokens; see below); delays are rounded *up* to
/// the clock tick (x/time/rate truncates, so its caller may wake a fraction of
/// a nanosecond early); and readings older than the latest (below).
///
/// **Representation.** GCRA ("generic cell rate algorithm", as in Rust's
/// governor): the state is one 64-bit atomic word holding the theoretical
/// arrival time TAT (when the bucket will be full again), measured in token
/// units of 2^-F token (docs/limit.md, "Time is integer"), plus the low
/// 8 bits of the configuration's generation; the configuration itself sits in
/// two slots stamped with the full 64-bit generation and read seqlock-style,
/// so no call computes with a mixture of two configurations, and the
/// observers re-check the word (see the private `slot`). try_acquire, reserve
/// and cancel decide by a CAS on the word (a refusal by reloading it), and
/// the 8-bit tag repeats every 256 generations: so every 128th
/// reconfiguration waits for the calls in progress on other threads to
/// finish (a grace period), and no call can find a later generation's word
/// equal to the one it read. The wait is normally short; it lasts as long as
/// a thread stopped inside a call stays stopped (see docs/limit.md).
/// tokens(t) = burst - max(0, TAT - t). A request
/// for n tokens moves TAT by exactly n << F units, so admissions never drift:
/// over any horizon the limiter admits exactly what the ideal (real-number)
/// bucket admits for clock readings rounded down to one unit (at most 1 ns for
/// rates of 0.24/s and above whose burst refills within 6.5 days; longer for a
/// longer refill, see rate_units.hpp). The rate itself is taken exactly from the double given
/// (relative error < 2^-62). No `double` in the state.
///
/// **Readings older than the latest** (a caller preempted between reading the
/// clock and calling, threads whose readings interleave, a clock that goes
/// back): a reading earlier than the latest one the bucket admitted a call at
/// (or was reconfigured at by set_rate/set_burst) counts as that latest
/// reading — no time elapsed, so nothing is credited for the step back and
/// nothing is refused for it either (x/time/rate's advance(), which then
/// moves its `last` stamp back and credits the interval a second time when
/// time returns; surge never moves its state back). The latest reading is
/// kept beside the state word, on its cache line, and only ever raised: by
/// an admitting call right before the CAS that admits it (so a call that
/// loses that CAS to another one and is then refused leaves its reading
/// there too), by set_rate/set_burst after theirs. A set_rate/set_burst
/// therefore always sees the reading of every call admitted before it; a
/// call taking or observing tokens that races with the one raising it may
/// still be judged at its own, earlier reading, which never means more
/// tokens.
///
/// **Horizon.** Clock readings are taken relative to an epoch; after 2^53
/// units (52 to 104 days at rates from 0.24/s to 1e9/s whose burst refills
/// within 6.5 days, where a unit lasts 0.5 to 1 ns; longer at slower rates or
/// longer refills, less above 1e9/s) the next call re-bases the epoch (one
/// CAS, rounding down by < 1 unit, never crediting). A bucket in debt then
/// owes up to one unit more, so a wait or time_to_act given before the
/// re-base may be that much early (at most 1 ns under the same conditions;
/// the epoch is a whole nanosecond and a unit boundary generally is not, so
/// the move cannot be exact). Admissions are never early for it.
///
/// **Clock readings at the limits** (time_point::min()/max(), readings more
/// than 292 years apart, ticks coarser than 1 ns) are valid: conversions and
/// differences saturate, never overflow. A reading far after the epoch
/// re-bases (the bucket is full, as after any long idle); one far before it
/// is a reading older than the latest (above), except that a bucket nothing
/// was taken from since its construction, or since a set_rate/set_burst (or
/// re-base) that found it full, is full at any reading, however early (so is
/// a fresh per-key state): a step back takes nothing away from it. Waits (delay, time_until_available) are
/// the true wait saturated to duration::max(); time_to_act saturates at
/// time_point::max().
///
/// Complexity: every operation O(1); try_acquire/reserve/cancel retry their CAS
/// under contention (lock-free: some thread always makes progress).
/// Thread safety: Lock-free; every member may be called from any number of
/// threads. set_rate/set_burst (and the re-base a call makes at the horizon)
/// serialise among themselves on a spin flag (callers of the other members
/// never wait on it); every 128th of them also waits for the calls then in
/// progress on other threads to finish. A thread's first call registers it
/// (a 64-byte record, allocated once and reused after the thread exits; a
/// noexcept call that cannot allocate it terminates).
/// Bad input: rate below 1e-18 (one token per 31.7 billion years), NaN,
/// infinite or > 1e12, or burst 0 or > 2^40 throw
/// std::invalid_argument from the constructor and set_rate/set_burst (use
/// `unlimited()` for no limit); a bool, a character or a floating-point
/// burst does not compile in the constructor. n > burst never passes: try_acquire returns
/// false, reserve says `exceeds_burst`, time_until_available returns
/// duration::max(), acquire throws std::invalid_argument. cancel applies once
/// per reservation (a reservation is move-only; cancel consumes it).
template <class Clock = std::chrono::steady_clock>
class token_bucket {
  static constexpr std::int64_t tat_limit = std::int64_t{1} << 54;
  // The word's TAT of a full bucket (a fresh one, or one full when last
  // reconfigured; reconfigure stores up to 2^20 below it): full at any
  // reading, however early. Every other TAT is above -2^53 (a call on a full
  // marker re-bases first, and one in debt only moves its TAT up), so "at or
  // below full_tat" tells a full marker apart.
  static constexpr std::int64_t full_tat = -(std::int64_t{1} << 54);
  // A per-key state's TAT of a fresh key: max(tat, now) is now at any reading.
  static constexpr std::int64_t fresh_state_tat = std::numeric_limits<std::int64_t>::min();
  // Generations between grace periods: under half the 256 the word's tag tells apart.
  static constexpr std::uint64_t quiesce_every = 128;

 public:
  using clock_type = Clock;                       ///< The clock the bucket reads.
  using duration = typename Clock::duration;      ///< Clock's duration (waits, delays).
  using time_point = typename Clock::time_point;  ///< Clock's time point.

  /// The answer of reserve(): x/time/rate's Reservation. Move-only, so that
  /// one reservation is one object, and cancel() can be applied to it once:
  /// cancel consumes it (sets `cancelled`; a second cancel does nothing). A
  /// moved-from reservation is empty (not granted, 0 tokens, delay
  /// duration::max()).
  struct reservation {
    reserve_status status = reserve_status::exceeds_burst;  ///< granted, or why not
    std::size_t tokens = 0;                                 ///< n reserved (0 when not granted)
    time_point time_to_act{};          ///< when the tokens are the caller's (saturated to time_point::max())
    duration delay = duration::max();  ///< time_to_act - now (0 if now), duration::max() if not granted
    bool cancelled = false;            ///< set by cancel(): its tokens were given back (or could not be)

    /// An empty reservation (not granted, 0 tokens, delay duration::max()).
    reservation() = default;
    reservation(const reservation&) = delete;
    reservation& operator=(const reservation&) = delete;
    /// Takes `o`'s reservation; `o` is left empty.
    reservation(reservation&& o) noexcept { *this = std::move(o); }
    /// Takes `o`'s reservation (this one's is dropped without a cancel); `o`
    /// is left empty.
    reservation& operator=(reservation&& o) noexcept {
      status = o.status;
      tokens = o.tokens;
      time_to_act = o.time_to_act;
      delay = o.delay;
      cancelled = o.cancelled;
      tat_after_ = o.tat_after_;
      generation_ = o.generation_;
      o.status = reserve_status::exceeds_burst;
      o.tokens = 0;
      o.time_to_act = time_point{};
      o.delay = duration::max();
      return *this;
    }
    ~reservation() = default;

    /// True when granted (x/time/rate's OK()).
    [[nodiscard]] bool ok() const noexcept { return status == reserve_status::granted; }
    /// ok().
    explicit operator bool() const noexcept { return ok(); }

   private:
    friend class token_bucket;      // reserve() fills these, cancel() reads them
    std::int64_t tat_after_ = 0;    // TAT right after this reservation
    std::uint64_t generation_ = 0;  // the configuration it was made under (full width)
  };

  /// A bool, a character or a floating-point number as the burst does not
  /// compile (it would convert to std::size_t silently: 2.9 would be 2, '4' 52).
  template <detail::not_a_count B>
  token_bucket(double rate_per_second, const B&, time_point now = {}) : token_bucket(rate_per_second, 1u, now) {
    static_assert(detail::refused_count<B>,
                  "surge::token_bucket: the burst must be an integer, not a bool, a character or a floating-point "
                  "number");
  }
  /// `rate_per_second` tokens per second, at most `burst` at once; full.
  /// Throws std::invalid_argument naming the bad argument (see class doc).
  token_bucket(double rate_per_second, std::size_t burst) : token_bucket(rate_per_second, burst, Clock::now()) {}

  /// As above, with the construction time given (the epoch clock readings are
  /// measured from).
  token_bucket(double rate_per_second, std::size_t burst, time_point now) {
    check(rate_per_second, burst);
    publish_slot(0, detail::rate_units::make(rate_per_second, burst), ns_of(now), burst, rate_per_second);
    word_.store(pack(full_tat, 0), std::memory_order_release);
  }

  /// A bucket that grants everything at once (x/time/rate's rate.Inf).
  /// set_rate and set_burst have no effect on it.
  [[nodiscard]] static token_bucket unlimited() {
    token_bucket b(1.0, 1);
    b.unlimited_ = true;
    return b;
  }

  /// Copies the configuration and the state as of now. Not thread-safe with
  /// respect to `other` being modified (a snapshot); used to move buckets into
  /// containers before sharing them.
  token_bucket(const token_bucket& other) noexcept
      : latest_ns_(other.latest_ns_.load(std::memory_order_relaxed)), unlimited_(other.unlimited_) {
    config c;
    const std::uint64_t w = other.load_config(c);
    publish_slot(0, c.units, c.epoch, c.burst, c.rate);
    word_.store(pack(tat_of(w), 0), std::memory_order_release);
  }
  token_bucket& operator=(const token_bucket&) = delete;

  // ---- the hot path -----------------------------------------------------

  /// Takes n tokens if all n are there now; x/time/rate's AllowN(now, n).
  /// n == 0 passes unless reservations have put the bucket in debt (as in
  /// x/time/rate). O(1), lock-free. A bool, a character or a floating-point
  /// count does not compile (2.5 would take 2 tokens, 0.5 none).
  [[nodiscard]] bool try_acquire(std::size_t n = 1) noexcept { return try_acquire(n, Clock::now()); }
  /// try_acquire with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <detail::not_a_count N>
  bool try_acquire(const N&, time_point = {}) noexcept {
    static_assert(detail::refused_count<N>,
                  "surge::token_bucket::try_acquire: n must be an integer, not a bool, a character or a "
                  "floating-point number");
    return false;
  }

  /// try_acquire at the given clock reading (pre-read `now`).
  [[nodiscard]] bool try_acquire(std::size_t n, time_point now) noexcept {
    if (unlimited_) return true;
    const std::int64_t now_ns = judged_ns(ns_of(now));
    std::uint32_t spins = first_pause;
    detail::read_section section;
    std::uint64_t w = word_.load(std::memory_order_acquire);
    for (;;) {
      config c;
      if (!load_hot(w, c)) {  // a reconfiguration moved on: start over
        w = word_.load(std::memory_order_acquire);
        continue;
      }
      // n > burst is refused before any re-base: a refusal changes nothing
      // (a re-base at a far reading would have left the bucket full)
      bool ok = n <= c.burst;
      std::int64_t next = 0;
      if (ok) {
        const std::int64_t now_u = c.units.units(detail::sub_sat(now_ns, c.epoch));
        if (rebased(now_u, now_ns, w, section)) continue;
        // n <= burst keeps n << f below 2^51 (rate_units::make's choice of f)
        next = std::max(tat_of(w), now_u) + static_cast<std::int64_t>(static_cast<std::uint64_t>(n) << c.units.f);
        ok = next - now_u <= c.burst_u;
      }
      if (!ok) {
        // validate the configuration we read (it may have been reconfigured)
        const std::uint64_t again = word_.load(std::memory_order_acquire);
        if (again == w) return false;
        w = again;
        continue;
      }
      detail::token_bucket_hooks<token_bucket>::before_cas(*this);  // nothing, except in a test
      admitted_at(now_ns);
      if (word_.compare_exchange_strong(w, pack(next, gen_of(w)), std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        detail::token_bucket_hooks<token_bucket>::after_cas(*this);  // nothing, except in a test
        return true;
      }
      contention_pause(spins, w);
    }
  }

  // ---- reservations ------------------------------------------------------

  /// Reserves n tokens now; x/time/rate's ReserveN(now, n): granted whenever
  /// n <= burst, with the delay after which the caller may act (refused as
  /// `exceeds_max_wait` only if outstanding reservations already reach 2^54
  /// units ahead, over 100 days, or the wait would end 2^62 ns (146 years) or
  /// more after the bucket's epoch: at 1e-9/s, built at the clock's zero, a
  /// fifth token of debt). O(1), lock-free. A bool, a character or a
  /// floating-point count does not compile.
  [[nodiscard]] reservation reserve(std::size_t n = 1) noexcept { return reserve(n, duration::max(), Clock::now()); }
  /// reserve with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <detail::not_a_count N>
  reservation reserve(const N&, duration = {}, time_point = {}) noexcept {
    static_assert(detail::refused_count<N>,
                  "surge::token_bucket::reserve: n must be an integer, not a bool, a character or a "
                  "floating-point number");
    return {};
  }

  /// Reserves n tokens if the wait is at most `max_wait` (x/time/rate's
  /// internal reserveN(t, n, maxFutureReserve), as used by WaitN with a
  /// deadline); otherwise nothing changes and status says why. The wait
  /// bounded is the delay reported: from the caller's reading, also when that
  /// reading is older than the latest admitted one.
  [[nodiscard]] reservation reserve(std::size_t n, duration max_wait) noexcept {
    return reserve(n, max_wait, Clock::now());
  }

  /// reserve at the given clock reading.
  [[nodiscard]] reservation reserve(std::size_t n, duration max_wait, time_point now) noexcept {
    reservation r;
    if (unlimited_) {
      r.status = reserve_status::granted;
      r.tokens = n;
      r.time_to_act = now;
      r.delay = duration::zero();
      return r;
    }
    const std::int64_t read_ns = ns_of(now);
    const std::int64_t now_ns = judged_ns(read_ns);
    std::uint32_t spins = first_pause;
    detail::read_section section;
    std::uint64_t w = word_.load(std::memory_order_acquire);
    for (;;) {
      config c;
      if (!load_slot(w, c)) {
        w = word_.load(std::memory_order_acquire);
        continue;
      }
      reserve_status st = reserve_status::granted;
      std::int64_t next = 0, wait_ns = 0;
      if (n > c.burst) {  // refused before any re-base, which would leave the bucket full
        st = reserve_status::exceeds_burst;
      } else {
        const std::int64_t now_u = c.units.units(detail::sub_sat(now_ns, c.epoch));
        if (rebased(now_u, now_ns, w, section)) continue;
        next = std::max(tat_of(w), now_u) + c.units.tokens(n);
        // the tokens are the caller's when tokens(t) >= 0, i.e. t >= next - burst
        const std::int64_t act_u = next - c.units.tokens(c.burst);
        // the wait from the caller's reading, which max_wait bounds
        wait_ns = detail::add_sat(act_u <= now_u ? 0 : wait_until(c, act_u, now_ns), detail::sub_sat(now_ns, read_ns));
        if (next >= tat_limit || wait_ns > max_ns(max_wait)) st = reserve_status::exceeds_max_wait;
      }
      if (st != reserve_status::granted) {
        const std::uint64_t again = word_.load(std::memory_order_acquire);
        if (again != w) {
          w = again;
          continue;
        }
        r.status = st;
        return r;
      }
      admitted_at(now_ns);
      if (word_.compare_exchange_strong(w, pack(next, gen_of(w)), std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        r.status = st;
        r.tokens = n;
        r.delay = to_duration(wait_ns);
        r.time_to_act = detail::later_sat(now, r.delay);
        r.tat_after_ = next;
        r.generation_ = c.generation;
        return r;
      }
      contention_pause(spins, w);
    }
  }

  /// Gives back a reservation's tokens as far as later reservations allow;
  /// x/time/rate's CancelAt(now): nothing happens when `r` was not granted,
  /// reserved 0 tokens, or its time_to_act is already before `now`; otherwise
  /// r.tokens minus the tokens reserved after r are restored (capped at burst).
  /// **Once**: cancel consumes `r` (sets r.cancelled, whether or not anything
  /// was restored); cancelling it again does nothing (x/time/rate's second
  /// CancelAt restores the tokens again). Three more deliberate differences: a
  /// set_rate/set_burst between reserve and cancel makes cancel restore
  /// nothing (x/time/rate converts at the old rate), as does the bucket's own
  /// re-base of its epoch (a reconfiguration too, once in 52 days of readings
  /// or more), and cancel never restores
  /// more than r.tokens (x/time/rate can, after an earlier cancel of a
  /// reservation that was not its latest, since its `lastEvent` is not rolled
  /// back then). O(1), lock-free; thread-safe for distinct reservations (one
  /// reservation is one object: do not cancel the same one from two threads).
  void cancel(reservation& r) noexcept { cancel(r, Clock::now()); }

  /// cancel at the given clock reading.
  void cancel(reservation& r, time_point now) noexcept {
    if (r.cancelled) return;
    r.cancelled = true;
    if (unlimited_ || !r.ok() || r.tokens == 0 || r.time_to_act < now) return;
    const std::int64_t now_ns = judged_ns(ns_of(now));
    detail::read_section section;
    std::uint64_t w = word_.load(std::memory_order_acquire);
    for (;;) {
      config c;
      if (!load_slot(w, c)) {
        w = word_.load(std::memory_order_acquire);
        continue;
      }
      if (c.generation != r.generation_) return;
      const std::int64_t now_u = c.units.units(detail::sub_sat(now_ns, c.epoch));
      const std::int64_t tat = tat_of(w);
      // tokens reserved after r: TAT - r.tat_after_; never restore more than r took
      const std::int64_t restore = std::min(c.units.tokens(r.tokens), c.units.tokens(r.tokens) - (tat - r.tat_after_));
      if (restore <= 0 || tat <= now_u) return;
      const std::int64_t next = std::max(now_u, tat - restore);
      if (word_.compare_exchange_weak(w, pack(next, gen_of(w)), std::memory_order_acq_rel, std::memory_order_acquire))
        return;
    }
  }

  /// How long until n tokens are there (zero if now), assuming nobody else
  /// takes any; duration::max() when n > burst. O(1); a racing observer.
  /// A bool, a character or a floating-point count does not compile.
  [[nodiscard]] duration time_until_available(std::size_t n = 1) const noexcept {
    return time_until_available(n, Clock::now());
  }
  /// time_until_available with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <detail::not_a_count N>
  duration time_until_available(const N&, time_point = {}) const noexcept {
    static_assert(detail::refused_count<N>,
                  "surge::token_bucket::time_until_available: n must be an integer, not a bool, a character or a "
                  "floating-point number");
    return {};
  }

  /// time_until_available at the given clock reading.
  [[nodiscard]] duration time_until_available(std::size_t n, time_point now) const noexcept {
    if (unlimited_) return duration::zero();
    const std::int64_t read_ns = ns_of(now);
    const std::int64_t now_ns = judged_ns(read_ns);
    return observe([&](std::uint64_t w, const config& c) {
      if (n > c.burst) return duration::max();
      const std::int64_t now_u = c.units.units(detail::sub_sat(now_ns, c.epoch));
      const std::int64_t act_u = now_u + debt_at(tat_of(w), now_u) + c.units.tokens(n) - c.units.tokens(c.burst);
      if (act_u <= now_u) return duration::zero();
      return to_duration(detail::add_sat(wait_until(c, act_u, now_ns), detail::sub_sat(now_ns, read_ns)));
    });
  }

  /// Blocks the calling thread until n tokens are its own: reserve(n), then
  /// sleep for the delay on std::this_thread. A thin convenience; coroutine
  /// callers use reserve() and their executor's sleep_for. Thread-safe.
  /// Throws std::invalid_argument, naming n and the burst and taking nothing,
  /// when n > burst: such a request could never be granted (try_acquire
  /// returns false for it, reserve says `exceeds_burst`). A bool, a
  /// character or a floating-point count does not compile.
  void acquire(std::size_t n = 1) {
    for (;;) {
      const reservation r = reserve(n);
      if (r.status == reserve_status::exceeds_burst)
        throw std::invalid_argument("surge::token_bucket::acquire: n = " + std::to_string(n) +
                                    " can never be granted: it exceeds burst = " + std::to_string(burst()));
      if (r.ok()) {
        if (r.delay > duration::zero()) std::this_thread::sleep_for(r.delay);
        return;
      }
      // exceeds_max_wait: reservations already run 2^54 units (over 100 days)
      // ahead, or past 2^62 ns after the epoch; wait until they are due, then
      // reserve again
      std::this_thread::sleep_for(time_until_available(n));
    }
  }
  /// acquire with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <detail::not_a_count N>
  void acquire(const N&) {
    static_assert(detail::refused_count<N>,
                  "surge::token_bucket::acquire: n must be an integer, not a bool, a character or a "
                  "floating-point number");
  }

  // ---- reconfiguration (x/time/rate SetLimitAt / SetBurstAt) --------------

  /// Changes the rate from now on; the tokens present now are kept, except
  /// that outstanding reservations (negative tokens) are kept only as far as
  /// the horizon reserve() keeps to: a debt that would take longer than 2^54
  /// units (over 100 days) to refill at the new rate is cut to that.
  /// Throws std::invalid_argument for a bad rate. Lock-free for the other
  /// members; serialised with other set_* calls. Every 128th reconfiguration
  /// of a bucket waits for the calls then in progress on other threads to
  /// finish (a grace period; see the class comment); if a thread is stopped
  /// inside a call (a debugger, SIGSTOP), that one waits until it resumes.
  void set_rate(double rate_per_second) { set_rate(rate_per_second, Clock::now()); }
  /// set_rate at the given clock reading (one older than the latest reading
  /// the bucket admitted a call or was reconfigured at is judged at that one,
  /// as every call is).
  void set_rate(double rate_per_second, time_point now) {
    check(rate_per_second, 1);
    reconfigure(ns_of(now), rate_per_second, 0, false);
  }

  /// Changes the burst from now on; the tokens present now are kept (capped
  /// at the new burst). Throws std::invalid_argument for burst 0 or > 2^40.
  /// Thread safety and the grace period as for set_rate. A bool, a character
  /// or a floating-point burst does not compile.
  void set_burst(std::size_t burst) { set_burst(burst, Clock::now()); }
  /// set_burst with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <detail::not_a_count B>
  void set_burst(const B&, time_point = {}) {
    static_assert(detail::refused_count<B>,
                  "surge::token_bucket::set_burst: the burst must be an integer, not a bool, a character or a "
                  "floating-point number");
  }
  /// set_burst at the given clock reading (judged as set_rate's).
  void set_burst(std::size_t burst, time_point now) {
    check(1.0, burst);
    reconfigure(ns_of(now), 0.0, burst, true);
  }

  // ---- observers ---------------------------------------------------------

  /// Tokens per second (+inf when unlimited).
  [[nodiscard]] double rate() const noexcept {
    return unlimited_ ? std::numeric_limits<double>::infinity() : current().rate;
  }
  /// The burst.
  [[nodiscard]] std::size_t burst() const noexcept { return static_cast<std::size_t>(current().burst); }
  /// Tokens available at `now` (negative when reservations are outstanding);
  /// x/time/rate's TokensAt. A racing observer.
  [[nodiscard]] double tokens(time_point now = Clock::now()) const noexcept {
    if (unlimited_) return std::numeric_limits<double>::infinity();
    const std::int64_t now_ns = judged_ns(ns_of(now));
    return observe([&](std::uint64_t w, const config& c) {
      const std::int64_t now_u = c.units.units(detail::sub_sat(now_ns, c.epoch));
      const std::int64_t have = c.units.tokens(c.burst) - debt_at(tat_of(w), now_u);
      return std::ldexp(static_cast<double>(have), -static_cast<int>(c.units.f));
    });
  }
  /// True when the bucket is full at `now` (indistinguishable from a fresh one).
  [[nodiscard]] bool full(time_point now = Clock::now()) const noexcept {
    if (unlimited_) return true;
    const std::int64_t now_ns = judged_ns(ns_of(now));
    return observe([&](std::uint64_t w, const config& c) {
      return debt_at(tat_of(w), c.units.units(detail::sub_sat(now_ns, c.epoch))) == 0;
    });
  }

  // ---- per-key state, for keyed_limiter (the caller serialises access) ----

  /// The state keyed_limiter keeps per key: the TAT and its own epoch (16
  /// bytes; no latest admitted reading: a per-key call is judged at the
  /// reading it is given, and one older than an admitted call's sees that
  /// call's debit); the rate and burst are this bucket's. No horizon: a
  /// state's epoch is its first reading, and a try_acquire_state whose reading
  /// is 2^53 units past it moves it there (as the bucket's own epoch moves);
  /// set_rate/set_burst on this bucket do not apply to states.
  struct state_type {
    /// Theoretical arrival time, in token units from `epoch` (fresh: INT64_MIN, full at any reading).
    std::int64_t tat = fresh_state_tat;
    /// The state's epoch, a clock reading in ns.
    std::int64_t epoch = 0;
  };

  /// The state of a fresh (full) bucket.
  [[nodiscard]] static state_type initial_state() noexcept { return state_type{}; }

  /// try_acquire against `s` with this bucket's configuration. Not
  /// thread-safe for the same `s`.
  [[nodiscard]] bool try_acquire_state(state_type& s, std::size_t n, time_point now) const noexcept {
    if (unlimited_) return true;
    const config c = current();
    if (n > c.burst) return false;
    const std::int64_t now_ns = ns_of(now);
    std::int64_t now_u = c.units.units(detail::sub_sat(now_ns, s.epoch));
    if (s.tat == fresh_state_tat || now_u >= detail::rebase_at) {
      // a fresh state, or a reading 2^53 units past the state's epoch: move
      // the epoch to the reading (the TAT rounded by < 1 unit toward later; a
      // TAT more than 2^54 units back decides alike for every later reading)
      s.tat = detail::shift_epoch(s.tat, now_u, fresh_state_tat);
      s.epoch = now_ns;
      now_u = 0;
    }
    const std::int64_t next = std::max(s.tat, now_u) + c.units.tokens(n);
    if (next - now_u > c.units.tokens(c.burst)) return false;
    s.tat = next;
    return true;
  }

  /// time_until_available for state `s`.
  [[nodiscard]] duration time_until_available_state(const state_type& s, std::size_t n, time_point now) const noexcept {
    if (unlimited_) return duration::zero();
    const config c = current();
    if (n > c.burst) return duration::max();
    const std::int64_t now_ns = ns_of(now);
    const std::int64_t now_u = c.units.units(detail::sub_sat(now_ns, s.epoch));
    const std::int64_t act_u = std::max(s.tat, now_u) + c.units.tokens(n) - c.units.tokens(c.burst);
    if (act_u <= now_u) return duration::zero();
    return to_duration(c.units.wait_ns(s.epoch, now_ns, act_u));
  }

  /// True when `s` is full at `now`: indistinguishable from a fresh state.
  [[nodiscard]] bool full_state(const state_type& s, time_point now) const noexcept {
    if (unlimited_) return true;
    const config c = current();
    return s.tat <= c.units.units(detail::sub_sat(ns_of(now), s.epoch));
  }

 private:
  template <class Bucket>
  friend struct detail::token_bucket_hooks;

  struct config {
    detail::rate_units units;
    std::int64_t epoch = 0;
    std::uint64_t burst = 1;
    std::int64_t burst_u = 1;
    double rate = 1.0;
    std::uint64_t generation = 0;  ///< full width: which reconfiguration this is
  };
  // One of two configuration slots, read seqlock-style. The writer (serialised
  // by writer_) fills the slot of generation g + 1, the one the word does not
  // name, and only then swings the word to it; the slot it rewrites next is
  // the one of generation g, after the word has moved on. Each slot carries a
  // full-width stamp: 2g + 1 while it is being written, 2g when it holds
  // generation g. A reader loads the stamp, the fields (acquire), the stamp
  // again, and uses the fields only if both stamps agree, are even and name
  // the word's generation (the word keeps its low 8 bits): so it never
  // computes with a mixture of two configurations, however many
  // reconfigurations it sleeps through. The field stores are release, so a
  // reader that saw any rewritten field also sees the odd stamp stored before
  // it. (No standalone fence: ThreadSanitizer does not model them.)
  //
  // What the slots cannot do alone: a CAS on the word is the only place a
  // call commits, and it compares only the word, whose generation tag is 8
  // bits. No layout of one 64-bit word makes "no CAS succeeds for a
  // computation made under an earlier configuration" impossible: a TAT needs
  // about 55 bits (units of at most 1 ns, 2^53 before a re-base, reservations
  // up to 2^54 ahead), every generation can be driven to any TAT in that
  // range, and a call may stay suspended, holding such a value, for as long
  // as it takes. So the writer bounds how far behind a call in progress can
  // be: every call that loads the word does so inside a read section
  // (detail::read_section: two plain stores to its thread's own counter),
  // and every quiesce_every (128) generations the writer, after publishing,
  // waits for every section then open on another thread to close
  // (detail::read_sections::quiesce: one process-wide barrier, then a scan).
  // A section open after that holds a word of one of the last 128
  // generations, so neither its CAS nor the hot read_slot's 8-bit stamp
  // compare can meet a generation 256 later. The writer waits holding
  // writer_; a call never waits for writer_ inside its section (rebased()
  // closes it first), so the two cannot wait for each other. (The designs
  // that put the check in the call instead cost every call: a 16-byte CAS
  // on (TAT, full generation) about 4 ns more per admitted call; calls that
  // register with the writer by atomic RMWs on this line, 2x to 15x.)
  struct slot {
    std::atomic<std::uint64_t> stamp{0};
    std::atomic<std::uint64_t> m{0};
    std::atomic<std::uint64_t> sf{0};
    std::atomic<std::int64_t> epoch{0};
    std::atomic<std::uint64_t> burst{1};
    std::atomic<std::int64_t> burst_u{1};
    std::atomic<std::uint64_t> rate_bits{0};
  };

  /// Reads the configuration word `w` names into c; false when the slot no
  /// longer (or not yet) holds it consistently: the caller reloads the word.
  bool load_hot(std::uint64_t w, config& c) const noexcept {
    // a branch, not an index: the predictor lets the slot loads start before
    // the word's load completes (an index would make them wait for it)
    return (w & 1u) ? read_slot<true>(slots_[1], w, c) : read_slot<true>(slots_[0], w, c);
  }
  bool load_slot(std::uint64_t w, config& c) const noexcept { return read_slot<false>(slots_[w & 1u], w, c); }

  /// The seqlock read of one slot, for a word w the caller loaded with
  /// acquire. Hot (try_acquire): the fields it needs (not the rate) and one
  /// stamp load, after them: the acquire load of w already ordered the
  /// publication of w's generation before these loads, so a stamp still
  /// naming that generation means no writer touched the slot in between;
  /// only across a wrap of the word's 8-bit generation could it pass a
  /// mixture, and the grace periods keep every call in progress from seeing
  /// one (see `slot`). The other callers also check the stamp before the
  /// fields.
  template <bool Hot>
  static bool read_slot(const slot& s, std::uint64_t w, config& c) noexcept {
    const std::uint64_t stamp = Hot ? 0 : s.stamp.load(std::memory_order_acquire);
    c.units.m = s.m.load(std::memory_order_acquire);
    const std::uint64_t sf = s.sf.load(std::memory_order_acquire);
    c.units.s = static_cast<std::uint32_t>(sf & 0xffffffffu);
    c.units.f = static_cast<std::uint32_t>(sf >> 32) & 63u;
    c.epoch = s.epoch.load(std::memory_order_acquire);
    c.burst = s.burst.load(std::memory_order_acquire);
    c.burst_u = s.burst_u.load(std::memory_order_acquire);
    if constexpr (!Hot) c.rate = std::bit_cast<double>(s.rate_bits.load(std::memory_order_acquire));
    const std::uint64_t after = s.stamp.load(std::memory_order_acquire);
    c.generation = after >> 1;
    // even (not being written) and naming w's generation, in one compare
    return (after & 0x1ffu) == (gen_of(w) << 1) && (Hot || after == stamp);
  }

  /// A consistent (word, configuration) pair: the configuration the word
  /// names, read while the word did not change. Returns the word.
  std::uint64_t load_config(config& c) const noexcept {
    for (;;) {
      const std::uint64_t w = word_.load(std::memory_order_acquire);
      if (load_slot(w, c) && word_.load(std::memory_order_acquire) == w) return w;
    }
  }
  /// The current configuration.
  config current() const noexcept {
    detail::read_section section;
    config c;
    load_config(c);
    return c;
  }
  /// f(word, config) for a consistent pair, re-checked (seqlock style): the
  /// answer is the one for a state the bucket was in during the call.
  template <class F>
  auto observe(F&& f) const noexcept {
    detail::read_section section;
    for (;;) {
      config c;
      const std::uint64_t w = load_config(c);
      const auto r = f(w, c);
      if (word_.load(std::memory_order_acquire) == w) return r;
    }
  }

  /// Nanoseconds from now_ns until unit reading act_u of configuration c
  /// (rate_units::wait_ns).
  static std::int64_t wait_until(const config& c, std::int64_t act_u, std::int64_t now_ns) noexcept {
    return c.units.wait_ns(c.epoch, now_ns, act_u);
  }

  // Contention management for the CAS loops. A thread whose CAS lost to
  // another stays off the word's cache line for a while (16 relax hints at
  // first, doubling to 256; a relax hint lasts ~25 ns on the AMD EPYC of
  // docs/limit.md, and its length varies by CPU) and then reloads it, so the
  // winner completes a streak of calls with the line in its own cache instead
  // of ping-ponging it on every call. Each call still decides exactly, on the
  // word it CASes, at the reading it was given; only the order in which calls
  // land changes. It costs nothing uncontended. bench/limit_bench.cpp
  // measures it (docs/limit.md).
  static constexpr std::uint32_t first_pause = 16;
  static constexpr std::uint32_t last_pause = 256;
  void contention_pause(std::uint32_t& spins, std::uint64_t& w) const noexcept {
    for (std::uint32_t i = 0; i < spins; ++i) detail::cpu_relax();
    if (spins < last_pause) spins *= 2;
    w = word_.load(std::memory_order_acquire);
  }

  static void check(double rate, std::size_t burst) {
    if (!detail::rate_units::valid_rate(rate) || rate > detail::max_rate)
      throw std::invalid_argument("surge::token_bucket: rate_per_second must be finite, >= 1e-18 and <= 1e12");
    if (burst == 0 || burst > (std::size_t{1} << 40))
      throw std::invalid_argument("surge::token_bucket: burst must be in [1, 2^40]");
  }

  static std::int64_t ns_of(time_point t) noexcept { return detail::to_ns_sat(t.time_since_epoch()); }
  /// The reading a call is judged at: the caller's, or the latest admitted
  /// one when that is later (see the class comment).
  std::int64_t judged_ns(std::int64_t read_ns) const noexcept {
    return std::max(read_ns, latest_ns_.load(std::memory_order_relaxed));
  }
  /// Raises the latest reading to now_ns, never lowers it: one load while
  /// readings do not move on, else a CAS that only a racing raise can fail.
  /// An admitting call raises it before its CAS on the word, so a
  /// reconfiguration that loads a word holding the admission (acquire) and
  /// then this reading sees it.
  void admitted_at(std::int64_t now_ns) noexcept {
    std::int64_t latest = latest_ns_.load(std::memory_order_relaxed);
    while (latest < now_ns) {
      detail::token_bucket_hooks<token_bucket>::before_latest(*this);  // nothing, except in a test
      if (latest_ns_.compare_exchange_weak(latest, now_ns, std::memory_order_relaxed)) return;
    }
  }
  static std::int64_t max_ns(duration d) noexcept { return std::min(detail::to_ns_sat(d), std::int64_t{1} << 62); }
  /// ns -> duration, rounded up to the clock's tick, saturated.
  static duration to_duration(std::int64_t ns) noexcept { return detail::from_ns_ceil<duration>(ns); }

  static std::uint64_t pack(std::int64_t tat, std::uint64_t gen) noexcept {
    return (static_cast<std::uint64_t>(tat) << 8) | (gen & 0xffu);
  }
  static std::int64_t tat_of(std::uint64_t w) noexcept { return static_cast<std::int64_t>(w) >> 8; }
  /// Units by which the word's TAT is ahead of now_u (0 when the bucket is
  /// full); a full marker is full at any reading, even one below it.
  static std::int64_t debt_at(std::int64_t tat, std::int64_t now_u) noexcept {
    return tat <= full_tat ? 0 : std::max<std::int64_t>(0, tat - now_u);
  }
  static std::uint64_t gen_of(std::uint64_t w) noexcept { return w & 0xffu; }

  void publish_slot(std::uint64_t gen, const detail::rate_units& u, std::int64_t epoch, std::uint64_t burst,
                    double rate) noexcept {
    slot& s = slots_[gen & 1u];
    s.stamp.store(2 * gen + 1, std::memory_order_relaxed);  // odd: being written
    s.m.store(u.m, std::memory_order_release);
    s.sf.store(static_cast<std::uint64_t>(u.s) | (static_cast<std::uint64_t>(u.f) << 32), std::memory_order_release);
    s.epoch.store(epoch, std::memory_order_release);
    s.burst.store(burst, std::memory_order_release);
    s.burst_u.store(u.tokens(burst), std::memory_order_release);
    s.rate_bits.store(std::bit_cast<std::uint64_t>(rate), std::memory_order_release);
    s.stamp.store(2 * gen, std::memory_order_release);
  }

  void rebase(std::int64_t now_ns) noexcept { reconfigure(now_ns, 0.0, 0, false, true); }

  /// Whether a call at now_u on TAT `tat` must first move the epoch to its
  /// reading: one 2^53 units or more after the epoch, or as far before it on
  /// a full marker (which a saturated reading would see in debt). A bucket in
  /// debt is judged in place at an earlier reading (the reading only adds to
  /// the debt, and waits are taken in ns): moved back, its TAT could pass the
  /// 2^54 units the word holds, and cutting it there would credit tokens.
  static bool needs_rebase(std::int64_t tat, std::int64_t now_u) noexcept {
    return now_u >= detail::rebase_at || (tat <= full_tat && now_u <= -detail::rebase_at);
  }

  /// Re-bases the epoch when needs_rebase; then reloads w and returns true
  /// (the caller starts over). The caller's read section is closed
  /// meanwhile: a re-base is a reconfiguration, which may wait for the
  /// sections of other threads, and they may be waiting for it.
  bool rebased(std::int64_t now_u, std::int64_t now_ns, std::uint64_t& w, detail::read_section& section) noexcept {
    if (!needs_rebase(tat_of(w), now_u)) return false;
    section.leave();
    rebase(now_ns);
    section.enter();
    w = word_.load(std::memory_order_acquire);
    return true;
  }

  /// Re-expresses the state under a new rate and/or burst and a new epoch
  /// (now), keeping the tokens present at `now` (x/time/rate's advance(t) then
  /// assignment), rounding against the caller (never crediting). A
  /// set_rate/set_burst judges `now` (a reading older than the latest counts
  /// as the latest) and records it as the latest: re-expressed at a reading,
  /// the state must not move back from it. A re-base keeps its caller's
  /// reading, which decided it (judged later, it might not move the epoch
  /// the caller needs moved).
  void reconfigure(std::int64_t now_ns, double new_rate, std::uint64_t new_burst, bool burst_change,
                   bool only_rebase = false) noexcept {
    if (unlimited_) return;
    detail::backoff<> bo;
    while (writer_.exchange(true, std::memory_order_acquire)) bo.pause();
    const std::int64_t read_ns = now_ns;
    std::uint64_t w = word_.load(std::memory_order_acquire);
    for (;;) {
      config c;
      if (!load_slot(w, c)) {  // cannot happen while we hold writer_; kept total
        w = word_.load(std::memory_order_acquire);
        continue;
      }
      // judged under writer_ (after every earlier set_rate/set_burst recorded
      // its reading) and after loading w (whose admissions recorded theirs
      // before their CAS)
      if (!only_rebase) now_ns = judged_ns(read_ns);
      const std::int64_t now_u = c.units.units(detail::sub_sat(now_ns, c.epoch));
      if (only_rebase && !needs_rebase(tat_of(w), now_u)) break;  // someone else re-based (or took tokens)
      const double rate = (only_rebase || burst_change) ? c.rate : new_rate;
      const std::uint64_t burst = (only_rebase || !burst_change) ? c.burst : new_burst;
      const detail::rate_units nu =
          only_rebase ? c.units : detail::rate_units::make(rate, std::max<std::uint64_t>(burst, c.burst));
      // tokens at now, in old units (may be negative: outstanding reservations)
      const std::int64_t debt = debt_at(tat_of(w), now_u);
      const std::int64_t have = c.units.tokens(c.burst) - debt;
      const std::int64_t have_new = convert_down(have, c.units.f, nu.f);
      const std::int64_t debt_new = std::max<std::int64_t>(0, nu.tokens(burst) - have_new);
      const std::uint64_t gen = c.generation + 1;
      // a full bucket's TAT carries the generation's high bits (any TAT at or
      // below now means full), so the word after a reconfiguration of a full
      // bucket differs from every earlier one even when the low 8 bits repeat
      const std::int64_t full = full_tat - static_cast<std::int64_t>((gen >> 8) & 0xfffffu);
      const std::int64_t tat = debt_new == 0 ? full : std::min(debt_new, tat_limit);
      publish_slot(gen, nu, now_ns, burst, rate);
      if (word_.compare_exchange_weak(w, pack(tat, gen), std::memory_order_acq_rel, std::memory_order_acquire)) {
        if (!only_rebase) admitted_at(now_ns);
        // generations advance by one under writer_: every quiesce_every-th waits
        if (gen % quiesce_every == 0)
          detail::read_sections::quiesce([this] { detail::token_bucket_hooks<token_bucket>::while_quiescing(*this); });
        break;
      }
    }
    writer_.store(false, std::memory_order_release);
  }

  /// x units of 2^-from token in units of 2^-to token, rounded down.
  static std::int64_t convert_down(std::int64_t x, std::uint32_t from, std::uint32_t to) noexcept {
    if (to >= from) {
      const unsigned sh = to - from;
      const std::int64_t lim = detail::unit_limit >> sh;
      if (x > lim) return detail::unit_limit;
      if (x < -lim) return -detail::unit_limit;
      return static_cast<std::int64_t>(static_cast<std::uint64_t>(x) << sh);
    }
    return x >> (from - to);  // arithmetic shift: floor
  }

  alignas(detail::cache_line_size) std::atomic<std::uint64_t> word_{0};  // the state; its own line with the config
  // The latest reading a call was admitted at or a set_rate/set_burst was
  // judged at (relaxed, never lowered: a call admitted at an older reading
  // that finishes last must not put it back; raised by an admitting call
  // before its CAS, by a reconfiguration after its own).
  std::atomic<std::int64_t> latest_ns_{std::numeric_limits<std::int64_t>::min()};
  bool unlimited_ = false;
  std::atomic<bool> writer_{false};
  slot slots_[2];
};

}  // namespace surge

#endif  // SURGE_LIMIT_TOKEN_BUCKET_HPP
