/// @file surge/resilience/retry.hpp
/// Retries with backoff: the AWS "Exponential Backoff and Jitter" formulas
/// and gRPC's connection backoff as generators over an injected random
/// engine, gRPC's retry throttling as `retry_budget`, and `retry(policy, f)` /
/// `co_await retry_async(policy, timer, f)` that put them together.
#ifndef SURGE_RESILIENCE_RETRY_HPP
#define SURGE_RESILIENCE_RETRY_HPP

#include <surge/detail/saturate.hpp>
#include <surge/exec/await_result.hpp>
#include <surge/exec/operation_cancelled.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

namespace surge {

namespace detail {

using retry_ns = std::chrono::nanoseconds;

/// min(cap, base * 2^n) without overflow (0 < base <= cap).
[[nodiscard]] constexpr retry_ns capped_exponential(retry_ns base, retry_ns cap, std::uint64_t n) noexcept {
  if (n >= 63 || base.count() > (cap.count() >> n)) return cap;
  return retry_ns(base.count() << n);
}

/// Uniform in [lo, hi] (lo <= hi).
template <class URBG>
retry_ns uniform_between(URBG& g, retry_ns lo, retry_ns hi) {
  return retry_ns(std::uniform_int_distribution<std::int64_t>(lo.count(), hi.count())(g));
}

/// Uniform in [0, 1).
template <class URBG>
double unit_interval(URBG& g) {
  const double u = std::generate_canonical<double, std::numeric_limits<double>::digits>(g);
  return u < 1.0 ? u : std::nextafter(1.0, 0.0);  // generate_canonical may return 1.0
}

/// A delay clamped to [0, 2^62 ns] (146 years), so that now + delay cannot
/// overflow a clock counting nanoseconds since boot or since 1970.
[[nodiscard]] constexpr retry_ns clamp_delay(retry_ns d) noexcept {
  constexpr retry_ns limit(std::int64_t{1} << 62);
  return d < retry_ns::zero() ? retry_ns::zero() : (d > limit ? limit : d);
}

/// What a backoff's next() returned, in nanoseconds: a chrono duration
/// converts saturating (a delay in hours past 292 years does not wrap), any
/// other type by its own conversion.
template <class Rep, class Period>
[[nodiscard]] retry_ns delay_of(std::chrono::duration<Rep, Period> d) noexcept {
  return retry_ns(to_ns_sat(d));
}
template <class D>
[[nodiscard]] retry_ns delay_of(const D& d) {
  return retry_ns(d);
}

inline void check_base_cap(const char* who, retry_ns base, retry_ns cap) {
  if (base <= retry_ns::zero()) throw std::invalid_argument(std::string(who) + ": base must be > 0");
  if (cap < base) throw std::invalid_argument(std::string(who) + ": cap must be >= base");
}

}  // namespace detail

/// What retry() needs from a backoff: `next(g)` gives the delay before the
/// next retry (the first call: before the first retry), `reset()` starts over.
template <class B, class URBG = std::mt19937_64>
concept backoff_generator = std::copy_constructible<B> && requires(B b, URBG& g) {
  { b.next(g) } -> std::convertible_to<std::chrono::nanoseconds>;
  b.reset();
};

/// No jitter: AWS "Exponential", the delay is `temp = min(cap, base * 2^n)`.
struct no_jitter {
  /// Returns `temp` unchanged (draws nothing from the generator).
  template <class URBG>
  static std::chrono::nanoseconds apply(std::chrono::nanoseconds temp, URBG&) noexcept {
    return temp;
  }
};

/// AWS "Full Jitter": `random_between(0, temp)`, inclusive.
struct full_jitter {
  /// A uniformly random delay in [0, temp], drawn from g.
  template <class URBG>
  static std::chrono::nanoseconds apply(std::chrono::nanoseconds temp, URBG& g) {
    return detail::uniform_between(g, std::chrono::nanoseconds::zero(), temp);
  }
};

/// AWS "Equal Jitter": `temp / 2 + random_between(0, temp / 2)`; in integer
/// nanoseconds the result is in [ceil(temp / 2), temp].
struct equal_jitter {
  /// A uniformly random delay in [ceil(temp / 2), temp], drawn from g.
  template <class URBG>
  static std::chrono::nanoseconds apply(std::chrono::nanoseconds temp, URBG& g) {
    const std::chrono::nanoseconds half = temp / 2;
    return (temp - half) + detail::uniform_between(g, std::chrono::nanoseconds::zero(), half);
  }
};

/// Exponential backoff: for the n-th retry (n from 0),
/// `temp = min(cap, base * 2^n)`, then `Jitter` (no_jitter, full_jitter or equal_jitter) turns temp
/// into the delay. `base * 2^n` saturates at cap (never overflows).
/// Defaults: base 100 ms, cap 10 s. O(1); a value type (not thread-safe: one
/// per retry sequence). Bad input: base <= 0 or cap < base throw
/// std::invalid_argument naming the argument.
template <class Jitter>
class basic_exponential_backoff {
 public:
  /// The defaults: base 100 ms, cap 10 s.
  basic_exponential_backoff() noexcept = default;
  /// The given base and cap; throws std::invalid_argument when base <= 0 or
  /// cap < base.
  basic_exponential_backoff(std::chrono::nanoseconds base, std::chrono::nanoseconds cap) : base_(base), cap_(cap) {
    detail::check_base_cap("surge::exponential_backoff", base, cap);
  }
  /// temp for the n-th retry (n from 0): the delay before jitter.
  [[nodiscard]] std::chrono::nanoseconds delay(std::uint64_t n) const noexcept {
    return detail::capped_exponential(base_, cap_, n);
  }
  /// The delay before the next retry (temp for this retry, jittered with g);
  /// then advances to the next retry. Saturates at cap, never overflows.
  template <class URBG>
  std::chrono::nanoseconds next(URBG& g) {
    return Jitter::apply(delay(n_++), g);
  }
  /// Starts over: the next delay is the first retry's.
  void reset() noexcept { n_ = 0; }
  /// The base delay.
  [[nodiscard]] std::chrono::nanoseconds base() const noexcept { return base_; }
  /// The cap: no delay is longer.
  [[nodiscard]] std::chrono::nanoseconds cap() const noexcept { return cap_; }

 private:
  std::chrono::nanoseconds base_ = std::chrono::milliseconds(100);
  std::chrono::nanoseconds cap_ = std::chrono::seconds(10);
  std::uint64_t n_ = 0;
};

/// `min(cap, base * 2^n)`: AWS "Exponential", no jitter.
using exponential_backoff = basic_exponential_backoff<no_jitter>;
/// AWS "Full Jitter": `random_between(0, min(cap, base * 2^n))`.
using full_jitter_backoff = basic_exponential_backoff<full_jitter>;
/// AWS "Equal Jitter": `temp / 2 + random_between(0, temp / 2)`.
using equal_jitter_backoff = basic_exponential_backoff<equal_jitter>;

/// AWS "Decorrelated Jitter": `sleep = min(cap, random_between(base, sleep * 3))`
/// with sleep starting at base (`sleep * 3` saturates). Every delay is in
/// [base, cap]. As exponential_backoff otherwise.
class decorrelated_jitter_backoff {
 public:
  /// The defaults: base 100 ms, cap 10 s.
  decorrelated_jitter_backoff() noexcept = default;
  /// The given base and cap; throws std::invalid_argument when base <= 0 or
  /// cap < base.
  decorrelated_jitter_backoff(std::chrono::nanoseconds base, std::chrono::nanoseconds cap)
      : base_(base), cap_(cap), sleep_(base) {
    detail::check_base_cap("surge::decorrelated_jitter_backoff", base, cap);
  }
  /// The delay before the next retry: uniformly random in [base, 3 * previous]
  /// (saturated), capped at cap; drawn from g.
  template <class URBG>
  std::chrono::nanoseconds next(URBG& g) {
    constexpr std::int64_t third = std::numeric_limits<std::int64_t>::max() / 3;
    const std::chrono::nanoseconds hi = sleep_.count() > third ? std::chrono::nanoseconds::max() : sleep_ * 3;
    sleep_ = std::min(cap_, detail::uniform_between(g, base_, hi));
    return sleep_;
  }
  /// Starts over: the next delay is drawn from [base, 3 * base].
  void reset() noexcept { sleep_ = base_; }
  /// The base delay.
  [[nodiscard]] std::chrono::nanoseconds base() const noexcept { return base_; }
  /// The cap: no delay is longer.
  [[nodiscard]] std::chrono::nanoseconds cap() const noexcept { return cap_; }

 private:
  std::chrono::nanoseconds base_ = std::chrono::milliseconds(100);
  std::chrono::nanoseconds cap_ = std::chrono::seconds(10);
  std::chrono::nanoseconds sleep_ = base_;
};

/// grpc_backoff's parameters, with gRPC's connection-backoff defaults.
struct grpc_backoff_options {
  std::chrono::nanoseconds base_delay = std::chrono::seconds(1);   ///< > 0
  double multiplier = 1.6;                                         ///< finite, >= 1
  double jitter = 0.2;                                             ///< [0, 1]
  std::chrono::nanoseconds max_delay = std::chrono::seconds(120);  ///< >= base_delay
};

/// gRPC's connection backoff as grpc-go computes it: for the n-th retry (n
/// from 0), `b = min(base_delay * multiplier^n, max_delay)`, then
/// `b * random(1 - jitter, 1 + jitter)` (with the defaults, random(0.8, 1.2)):
/// jitter is applied after the cap, so a delay may exceed max_delay by the
/// jitter fraction. Computed in double, then saturated into nanoseconds.
/// O(1); a value type. Bad input: options out of range throw
/// std::invalid_argument naming the field.
class grpc_backoff {
 public:
  /// gRPC's defaults (grpc_backoff_options{}).
  grpc_backoff() noexcept = default;
  /// The given options; throws std::invalid_argument naming the first field
  /// out of range.
  explicit grpc_backoff(grpc_backoff_options o) : o_(o) {
    const auto bad = [](const char* what) { throw std::invalid_argument(std::string("surge::grpc_backoff: ") + what); };
    if (o.base_delay <= std::chrono::nanoseconds::zero()) bad("base_delay must be > 0");
    if (!(o.multiplier >= 1.0) || !std::isfinite(o.multiplier)) bad("multiplier must be finite and >= 1");
    if (!(o.jitter >= 0.0 && o.jitter <= 1.0)) bad("jitter must be in [0, 1]");
    if (o.max_delay < o.base_delay) bad("max_delay must be >= base_delay");
  }
  /// The n-th delay before jitter: min(base_delay * multiplier^n, max_delay).
  [[nodiscard]] double unjittered_ns(std::uint64_t n) const noexcept {
    const double max = static_cast<double>(o_.max_delay.count());
    const double b = static_cast<double>(o_.base_delay.count()) * std::pow(o_.multiplier, static_cast<double>(n));
    return b < max ? b : max;  // also when b is +inf
  }
  /// The delay before the next retry: unjittered_ns(n) times a uniform factor
  /// in [1 - jitter, 1 + jitter] drawn from g, saturated into nanoseconds.
  template <class URBG>
  std::chrono::nanoseconds next(URBG& g) {
    double b = unjittered_ns(n_++);
    if (o_.jitter > 0.0) b *= 1.0 + o_.jitter * (detail::unit_interval(g) * 2.0 - 1.0);
    if (!(b > 0.0)) return std::chrono::nanoseconds::zero();
    if (b >= 0x1p63) return std::chrono::nanoseconds::max();  // every double below 2^63 fits in int64
    return std::chrono::nanoseconds(static_cast<std::int64_t>(b));
  }
  /// Starts over: the next delay is the first retry's.
  void reset() noexcept { n_ = 0; }
  /// The options in use.
  [[nodiscard]] const grpc_backoff_options& options() const noexcept { return o_; }

 private:
  grpc_backoff_options o_{};
  std::uint64_t n_ = 0;
};

/// gRPC retry throttling (gRFC A6) with grpc-go's arithmetic, exactly: the
/// token count starts at `max_tokens`; a failed call takes 1 token (not below
/// 0) and may be retried only if more than max_tokens / 2 remain after that;
/// a successful call adds `token_ratio` (not above max_tokens). Tokens are
/// kept in thousandths in one integer, so e.g. ten successes at ratio 0.1 add
/// exactly 1 (grpc-go's float64 would leave 5.999...).
/// Complexity: O(1). Thread safety: lock-free (one CAS loop per call).
/// Bad input: max_tokens or token_ratio NaN, infinite, rounding to less than
/// 0.001 or more than 1000 throw std::invalid_argument naming the argument.
/// Both are rounded to the nearest thousandth.
class retry_budget {
 public:
  /// A full budget of `max_tokens` tokens, refilled by `token_ratio` per
  /// success; throws std::invalid_argument for the bad input above.
  retry_budget(double max_tokens, double token_ratio) {
    // judged as rounded to thousandths: [0.0005, 1000.0005) rounds into [0.001, 1000]
    if (!(max_tokens >= 0.0005 && max_tokens < 1000.0005))
      throw std::invalid_argument("surge::retry_budget: max_tokens must be in [0.001, 1000] (3 decimals)");
    if (!(token_ratio >= 0.0005 && token_ratio < 1000.0005))
      throw std::invalid_argument("surge::retry_budget: token_ratio must be in [0.001, 1000] (3 decimals)");
    max_ = std::max<std::int64_t>(1, std::llround(max_tokens * 1000.0));
    ratio_ = std::llround(token_ratio * 1000.0);
    tokens_.store(max_, std::memory_order_relaxed);
  }
  retry_budget(const retry_budget&) = delete;
  retry_budget& operator=(const retry_budget&) = delete;

  /// A call failed (in a way the caller would retry): takes one token and
  /// says whether the retry may go ahead (tokens > max_tokens / 2 after).
  [[nodiscard]] bool on_failure() noexcept {
    std::int64_t t = tokens_.load(std::memory_order_relaxed);
    std::int64_t next = 0;
    do {
      next = std::max<std::int64_t>(0, t - 1000);
    } while (!tokens_.compare_exchange_weak(t, next, std::memory_order_relaxed));
    return 2 * next > max_;
  }
  /// A call succeeded: adds token_ratio.
  void on_success() noexcept {
    std::int64_t t = tokens_.load(std::memory_order_relaxed);
    while (t < max_ && !tokens_.compare_exchange_weak(t, std::min(max_, t + ratio_), std::memory_order_relaxed)) {
    }
  }
  /// Tokens now (a racing observer).
  [[nodiscard]] double tokens() const noexcept { return static_cast<double>(milli_tokens()) / 1000.0; }
  /// Tokens now, exactly, in thousandths (a racing observer).
  [[nodiscard]] std::int64_t milli_tokens() const noexcept { return tokens_.load(std::memory_order_relaxed); }
  /// True when a failure now would still be allowed a retry (racing observer).
  [[nodiscard]] bool can_retry() const noexcept { return 2 * std::max<std::int64_t>(0, milli_tokens() - 1000) > max_; }
  /// The capacity, as rounded to thousandths.
  [[nodiscard]] double max_tokens() const noexcept { return static_cast<double>(max_) / 1000.0; }
  /// Tokens a success adds, as rounded to thousandths.
  [[nodiscard]] double token_ratio() const noexcept { return static_cast<double>(ratio_) / 1000.0; }

 private:
  std::atomic<std::int64_t> tokens_{0};
  std::int64_t max_ = 1000;
  std::int64_t ratio_ = 100;
};

/// The default retry predicate: every exception is retryable; every returned
/// value is a success, whatever its type (retry() never asks it about a
/// returned value, not even a std::exception_ptr or std::nullptr_t one).
struct retry_on_any_exception {
  /// True: every exception is retried.
  bool operator()(const std::exception_ptr&) const noexcept { return true; }
};

/// What retry() does. `retryable` decides which failures are retried: called
/// with the `std::exception_ptr` of a thrown exception (if callable so; if
/// not, exceptions are never retried and propagate at once) and with the
/// returned value as `const R&` (if callable so; if not, every value is a
/// success; retry_on_any_exception, the default, is never called with a
/// value). A predicate of your own is called with a returned value through
/// whichever overload accepts `const R&`: when R converts to
/// std::exception_ptr (std::exception_ptr, std::nullptr_t), one taking only
/// `const std::exception_ptr&` receives the values too. `max_attempts` counts the first call (gRPC's maxAttempts and
/// resilience4j's maxAttempts): >= 1. With a `budget`, every retryable
/// failure takes a token (and a refused one ends the retries) and every
/// success adds one, as grpc-go does; non-retryable failures leave it alone.
/// A value type (retry copies it; the budget, shared, must outlive the
/// calls). Bad input: max_attempts 0 makes retry throw std::invalid_argument.
template <class Backoff = exponential_backoff, class Retryable = retry_on_any_exception>
struct retry_policy {
  /// Calls in all, the first included; >= 1.
  std::size_t max_attempts = 3;
  /// Produces the delay before each retry (reset at the start of each retry() call).
  Backoff backoff{};
  /// Decides which failures are retried (see above).
  Retryable retryable{};
  /// An optional shared retry budget (null: none); must outlive the calls.
  retry_budget* budget = nullptr;
};

/// Sleeps on the calling thread; returns false (early) when `token` is stopped.
/// Stateless and thread-safe; delays are clamped to [0, 2^62 ns].
struct thread_sleeper {
  /// Sleeps for `d`; true when the whole delay passed, false when `token`
  /// was stopped first.
  bool operator()(std::chrono::nanoseconds d, const std::stop_token& token) const {
    d = detail::clamp_delay(d);
    if (!token.stop_possible()) {
      std::this_thread::sleep_for(d);
      return true;
    }
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, token, d, [] { return false; });
    return !token.stop_requested();
  }
};

namespace detail {

/// Holds a result of type R (a value, a reference, or nothing for void).
template <class R>
struct retry_result {
  using stored = std::conditional_t<std::is_reference_v<R>, std::reference_wrapper<std::remove_reference_t<R>>, R>;
  std::optional<stored> value;
  std::exception_ptr error;  ///< set instead when the attempt threw
  template <class F>
  void run(F& f) {
    value.reset();
    value.emplace(std::invoke(f));
  }
  template <class A>
  void set(A&& a) {
    value.reset();
    value.emplace(std::forward<A>(a));
  }
  R take_or_rethrow() {
    if (error) std::rethrow_exception(error);
    if constexpr (std::is_reference_v<R>) {
      return value->get();
    } else {
      return std::move(*value);
    }
  }
  const std::remove_reference_t<R>& view() const {
    if constexpr (std::is_reference_v<R>) {
      return value->get();
    } else {
      return *value;
    }
  }
};
template <>
struct retry_result<void> {
  template <class F>
  void run(F& f) {
    std::invoke(f);
  }
  std::exception_ptr error;
  void take_or_rethrow() {
    if (error) std::rethrow_exception(error);
  }
};

template <class P>
bool retry_error(P& p, const std::exception_ptr& e) {
  if constexpr (std::is_invocable_r_v<bool, P&, const std::exception_ptr&>) {
    return std::invoke(p, e);
  } else {
    return false;
  }
}

template <class P, class R>
bool retry_value(P& p, const retry_result<R>& r) {
  // the default predicate answers about exceptions only: a returned value
  // (even a std::exception_ptr) must not reach its exception overload
  if constexpr (!std::is_void_v<R> && !std::is_same_v<std::remove_cv_t<P>, retry_on_any_exception>) {
    if constexpr (std::is_invocable_r_v<bool, P&, const std::remove_reference_t<R>&>) {
      return std::invoke(p, r.view());
    }
  }
  return false;
}

/// After attempt number `attempt` ended with `error` or `r`: the delay before
/// the next attempt, or nullopt when the retries are over. Feeds the budget
/// as grpc-go does: a success adds to it; a retryable failure takes a token
/// before the attempt count is checked.
template <class Policy, class R, class URBG>
std::optional<retry_ns> retry_delay(Policy& policy, const retry_result<R>& r, std::size_t attempt, URBG& g) {
  const std::exception_ptr& error = r.error;
  const bool retryable = error ? retry_error(policy.retryable, error) : retry_value(policy.retryable, r);
  if (!retryable) {
    if (!error && policy.budget) policy.budget->on_success();
    return std::nullopt;
  }
  const bool budget_ok = policy.budget == nullptr || policy.budget->on_failure();
  if (!budget_ok || attempt >= policy.max_attempts) return std::nullopt;
  return clamp_delay(delay_of(policy.backoff.next(g)));
}

/// Validates the policy and rewinds its backoff.
template <class Policy>
void start_retry(Policy& p) {
  if (p.max_attempts == 0) throw std::invalid_argument("surge::retry: max_attempts must be >= 1");
  p.backoff.reset();
}

inline void throw_if_stopped(const std::stop_token& token) {
  if (token.stop_requested()) throw operation_cancelled{};
}

inline std::uint64_t retry_seed() {
  static std::atomic<std::uint64_t> counter{0};
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ counter.fetch_add(0x9e3779b97f4a7c15u);
}

inline std::mt19937_64& retry_engine() {
  thread_local std::mt19937_64 engine(retry_seed());
  return engine;
}

}  // namespace detail

/// Calls `f()` until it succeeds, `policy.max_attempts` calls were made, the
/// budget refuses, or a failure is not retryable; between attempts sleeps
/// `policy.backoff.next(g)` through `sleep(delay, token)` (which returns false
/// when woken by a stop request). Returns f's last result, or rethrows its
/// last exception. A stop requested on `token` before an attempt or during a
/// sleep throws surge::operation_cancelled (f is not called again).
/// Thread safety: as thread-safe as `f` and `g` (the policy is copied; its
/// budget is shared and lock-free). Bad input: max_attempts 0 throws
/// std::invalid_argument.
template <class Backoff, class Retryable, class F, class Sleeper, class URBG>
requires std::invocable<F&> && backoff_generator<Backoff, URBG> std::invoke_result_t<F&> retry(
    retry_policy<Backoff, Retryable> policy, F&& f, Sleeper&& sleep, URBG& g, std::stop_token token = {}) {
  using result = std::invoke_result_t<F&>;
  detail::start_retry(policy);
  for (std::size_t attempt = 1;; ++attempt) {
    detail::throw_if_stopped(token);
    detail::retry_result<result> r;
    try {
      r.run(f);
    } catch (...) {
      r.error = std::current_exception();
    }
    const std::optional<std::chrono::nanoseconds> d = detail::retry_delay(policy, r, attempt, g);
    if (!d) return r.take_or_rethrow();
    if (!std::invoke(sleep, *d, std::as_const(token))) throw operation_cancelled{};
  }
}

/// retry() sleeping on this thread (thread_sleeper) with a per-thread
/// std::mt19937_64 seeded from std::random_device.
template <class Backoff, class Retryable, class F>
requires std::invocable<F&> std::invoke_result_t<F&> retry(retry_policy<Backoff, Retryable> policy, F&& f,
                                                           std::stop_token token = {}) {
  return retry(std::move(policy), std::forward<F>(f), thread_sleeper{}, detail::retry_engine(), std::move(token));
}

/// The coroutine form: `co_await retry_async(policy, timer, f)`, where `f()`
/// returns an awaitable (e.g. surge::task<R>); sleeps between attempts with
/// `co_await timer.sleep_for(delay, token)`, never blocking a thread. Same
/// semantics as retry(); a stop request during a sleep ends it at once with
/// surge::operation_cancelled. `f`, `policy` and (in this overload) a
/// std::mt19937_64 seeded from std::random_device live in the coroutine
/// frame; `t` must outlive it. Delays are rounded up to Clock's tick. The
/// result type is surge::await_result_t of what `f()` returns; where
/// `co_await` of it yields another type (it has both a member and a free
/// `operator co_await`), the call does not compile rather than convert it.
template <class Backoff, class Retryable, class Clock, class F>
requires std::invocable<F&> task<await_result_t<std::invoke_result_t<F&>>> retry_async(
    retry_policy<Backoff, Retryable> policy, timer<Clock>& t, F f, std::stop_token token = {}) {
  std::mt19937_64 g(detail::retry_seed());
  co_return co_await retry_async(std::move(policy), t, std::move(f), g, std::move(token));
}

/// retry_async with the caller's random engine (which must outlive the
/// coroutine and not be used concurrently elsewhere).
template <class Backoff, class Retryable, class Clock, class F, class URBG>
requires std::invocable<F&> && backoff_generator<Backoff, URBG> task<await_result_t<std::invoke_result_t<F&>>>
retry_async(retry_policy<Backoff, Retryable> policy, timer<Clock>& t, F f, URBG& g, std::stop_token token = {}) {
  using result = await_result_t<std::invoke_result_t<F&>>;
  detail::start_retry(policy);
  for (std::size_t attempt = 1;; ++attempt) {
    detail::throw_if_stopped(token);
    detail::retry_result<result> r;
    try {
      if constexpr (std::is_void_v<result>) {
        co_await std::invoke(f);
      } else {
        r.set(detail::as_await_result<result>(co_await std::invoke(f)));
      }
    } catch (...) {
      r.error = std::current_exception();
    }
    const std::optional<std::chrono::nanoseconds> d = detail::retry_delay(policy, r, attempt, g);
    if (!d) co_return r.take_or_rethrow();
    // rounded up to the clock's tick, saturated (a delay of years overflows a
    // picosecond clock: it then sleeps until time_point::max(), until stopped)
    co_await t.sleep_for(detail::from_ns_ceil<typename Clock::duration>(d->count()), token);
  }
}

}  // namespace surge

#endif  // SURGE_RESILIENCE_RETRY_HPP
