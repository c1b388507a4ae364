/// @file surge/redis/token_bucket.hpp
/// A token bucket shared by every instance of a service: GCRA computed by a
/// Lua script on Redis, with the meaning of surge::token_bucket.
#ifndef SURGE_REDIS_TOKEN_BUCKET_HPP
#define SURGE_REDIS_TOKEN_BUCKET_HPP

#include <surge/detail/count_checks.hpp>
#include <surge/limit/token_bucket.hpp>
#include <surge/redis/connection.hpp>
#include <surge/redis/detail/script.hpp>
#include <surge/resilience/circuit_breaker.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace surge::redis {

/// What a token_bucket does when Redis cannot answer (unreachable, timed out,
/// connection lost, or the circuit breaker open).
enum class fault_policy : std::uint8_t {
  fail_open,    ///< admit every request (availability first)
  fail_closed,  ///< refuse every request (the limit first)
  local,        ///< a local surge::token_bucket per key at rate / instances, burst max(1, burst / instances)
  raise,        ///< throw surge::redis::error
};

/// Who made a decision.
enum class decision_source : std::uint8_t {
  redis,        ///< the shared bucket on Redis
  fail_open,    ///< Redis faulted; the fail_open policy admitted
  fail_closed,  ///< Redis faulted; the fail_closed policy refused
  local,        ///< Redis faulted; the local fallback bucket decided
};

/// The answer to try_acquire / peek (go-redis/redis_rate's Result).
struct decision {
  /// True when the request may proceed (its tokens were taken, for try_acquire).
  bool allowed = false;
  /// Tokens left after this call (the whole tokens there now); 0 when a
  /// fault policy decided.
  std::uint64_t remaining = 0;
  /// Zero when allowed; otherwise how long until the same request can pass if
  /// nobody else takes tokens (rounded up to the microsecond: never too early);
  /// microseconds::max() when n > burst (it never can). Under a fault policy:
  /// the breaker's open time (fail_closed) or the local bucket's wait (local).
  std::chrono::microseconds retry_after{0};
  /// How long until the bucket is full again (and its key expires).
  std::chrono::microseconds reset_after{0};
  /// The server's TIME at the decision, microseconds since the Unix epoch
  /// (zero when a fault policy decided).
  std::chrono::microseconds server_time{0};
  /// Who decided: Redis, or which fault policy.
  decision_source source = decision_source::redis;
  fault cause = fault::none;  ///< why a fault policy decided (none when source is redis)
};

/// Thrown for a Redis fault under fault_policy::raise.
class error : public std::runtime_error {
 public:
  /// A fault `f`, with `what` as the message.
  error(fault f, const std::string& what) : std::runtime_error(what), fault_(f) {}
  /// The fault that made the call fail.
  [[nodiscard]] fault kind() const noexcept { return fault_; }

 private:
  fault fault_;
};

/// Thrown whatever the policy when Redis answers something the limiter cannot
/// use: a script error, a key holding another type or foreign data, a reply
/// of the wrong shape, or bytes that are not RESP. These are bugs or
/// misconfiguration, not outages; the message names the key and the reply.
class reply_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Configuration of a redis::token_bucket beyond rate and burst.
struct options {
  /// Budget of each call's round trip(s), connecting included: no call takes
  /// longer than this before its fault policy decides.
  std::chrono::microseconds timeout{50'000};
  /// What a call decides when Redis faults (see fault_policy).
  fault_policy on_fault = fault_policy::fail_closed;
  /// Instances sharing the limit, for fault_policy::local (each then admits
  /// rate / instances with burst max(1, burst / instances)).
  std::size_t instances = 1;
  /// A lease's tokens must be spent within this time of being taken.
  std::chrono::microseconds lease_hold{1'000'000};
  /// Consecutive faults that open the circuit breaker (0: never open).
  std::uint32_t breaker_failures = 3;
  /// How long the breaker stays open before one call probes Redis again.
  std::chrono::microseconds breaker_open_for{1'000'000};
  /// Keys the local fallback remembers at most (>= 1; a new key past it
  /// starts the fallback afresh).
  std::size_t local_max_keys = 10'000;
};

/// A rate limit shared through Redis: every instance constructing a
/// token_bucket with the same prefix, rate and burst shares one bucket per
/// key. The meaning is surge::token_bucket's (x/time/rate's): `rate` tokens
/// per second, `burst` passing at one instant after a long idle, n tokens per
/// request; for one key, a sequence of requests gets the decisions a local
/// surge::token_bucket gives at the server's timestamps.
///
/// **On the server.** A Lua script (EVALSHA, falling back to EVAL when the
/// server lost its script cache) runs GCRA on one string key per bucket,
/// reading the server's TIME (no client clock skew), in integer microseconds
/// with the rate as an exact fraction of tokens per microsecond (see
/// docs/redis.md: no float drift). An admitted call writes the key with a TTL
/// equal to the time until the bucket is full again; a refused call writes
/// nothing; an expired key answers as the old state would have.
///
/// **Leases.** lease(key, k) takes up to k tokens in one round trip and
/// serves them locally; the unused ones are given back when the lease ends
/// (the part of them still ahead of the server's clock). The fleet never
/// admits more than the bucket allows from the time the tokens were taken;
/// tokens may be spent up to `lease_hold` after.
///
/// **Faults.** Every call's round trip is bounded by `options.timeout`. When
/// Redis is unreachable, times out, the connection breaks or Redis answers
/// that it cannot serve now (OOM, BUSY, LOADING, READONLY, MASTERDOWN,
/// TRYAGAIN, CLUSTERDOWN, MISCONF, NOREPLICAS, or "ERR max number of
/// clients reached": fault::unavailable), `on_fault` decides (the decision's `source` and `cause` say so), and a
/// surge::circuit_breaker around the connection (open after
/// `breaker_failures` faults in a row, for `breaker_open_for`, then one
/// probe) makes a dead Redis cost one fast local decision per call rather
/// than a timeout per call. No exception escapes for
/// a Redis fault except under fault_policy::raise; a reply the limiter cannot
/// use throws reply_error (from try_acquire_many after every key's command
/// ran). A state with more debt than this bucket's burst (written by a
/// bucket of a larger burst under the same prefix, or before the server's
/// clock stepped back) refuses until it drains. A lease must end before its
/// bucket is destroyed.
///
/// Complexity: one round trip per call (try_acquire_many: one for all keys);
/// O(1) work per key on the server. leased_tokens::try_acquire is local, O(1).
/// Thread safety: as thread-safe as `Connection` (hiredis_connection: one
/// thread at a time; hiredis_pool: any number of threads); the breaker and
/// the local fallback are internally locked. Leases are not thread-safe.
/// Bad input: rate <= 0, NaN, infinite or > 1e12; burst 0 or > 2^40, or
/// (burst + 1) x the rate's denominator (script_rate()) above 2^52, e.g. a
/// burst above about 4.5 million at 0.001 tokens/s, or a rate whose closest
/// fraction that fits is more than a millionth below it (1.5/s with a burst
/// of 3e9); timeout or lease_hold <= 0, breaker_open_for < 0, or any of the
/// three above 2^60 ns (36 years: deadlines are clock readings plus these);
/// instances 0 or rate / instances below 1e-18; breaker_failures above
/// 2^20 - 1; local_max_keys 0; a key
/// prefix containing '{' or '}' (it would override the keys' Cluster hash
/// tags): each throws std::invalid_argument naming the argument. A bool, a
/// character or a floating-point burst does not compile. lease(key,
/// 0) throws std::invalid_argument naming k.
/// n > burst is refused with retry_after = microseconds::max().
template <connection Connection, class Clock = std::chrono::steady_clock>
class token_bucket {
 public:
  /// The local clock (circuit breaker, local fallback, lease expiry).
  using clock_type = Clock;
  /// Clock's time point.
  using time_point = typename Clock::time_point;

  class leased_tokens;

  /// A bool, a character or a floating-point number as the burst does not
  /// compile (it would convert to std::size_t silently: 2.9 would be 2, '4' 52).
  template <surge::detail::not_a_count B>
  token_bucket(Connection& conn, std::string key_prefix, double rate_per_second, const B&, options opts = {})
      : token_bucket(conn, std::move(key_prefix), rate_per_second, 1u, std::move(opts)) {
    static_assert(surge::detail::refused_count<B>,
                  "surge::redis::token_bucket: the burst must be an integer, not a bool, a character or a "
                  "floating-point number");
  }
  /// Shares the bucket named by `key_prefix` + key on `conn` (which must
  /// outlive this object). Throws std::invalid_argument (see class doc).
  token_bucket(Connection& conn, std::string key_prefix, double rate_per_second, std::size_t burst, options opts = {})
      : conn_(&conn),
        prefix_(std::move(key_prefix)),
        rate_(rate_per_second),
        burst_(burst),
        opts_(checked(opts, rate_per_second)),
        breaker_(breaker_options(opts_)) {
    if (!std::isfinite(rate_per_second) || rate_per_second <= 0 || rate_per_second > 1e12)
      throw std::invalid_argument("surge::redis::token_bucket: rate_per_second must be finite, > 0 and <= 1e12");
    if (burst == 0 || burst > (std::size_t{1} << 40))
      throw std::invalid_argument("surge::redis::token_bucket: burst must be in [1, 2^40]");
    if (prefix_.find_first_of("{}") != std::string::npos)
      throw std::invalid_argument(
          "surge::redis::token_bucket: key_prefix must not contain '{' or '}' (it would override the keys' "
          "Redis Cluster hash tags)");
    units_ = detail::make_rational_rate(rate_per_second, burst);
    // no fraction, or only one more than a millionth below the rate (1.5/s
    // with a burst of 3e9 would get 1/s): refused rather than slowed
    if (units_.a == 0 ||
        static_cast<double>(units_.a) * 1e6 / static_cast<double>(units_.b) < rate_per_second * (1 - 1e-6))
      throw std::invalid_argument(
          "surge::redis::token_bucket: rate_per_second and burst: no fraction of tokens per microsecond within "
          "2^52 / (burst + 1) is within a millionth of the rate (lower burst or use a simpler rate)");
    if (opts.breaker_failures == 0) breaker_.transition_to(breaker_state::disabled);
    sha_ = detail::sha1_hex(detail::gcra_script);
    cap_ = units_.b * static_cast<std::int64_t>(burst);
    a_ = detail::hex_arg(units_.a);
    b_ = detail::hex_arg(units_.b);
    cap_s_ = detail::hex_arg(cap_);
  }

  token_bucket(const token_bucket&) = delete;
  token_bucket& operator=(const token_bucket&) = delete;

  /// Takes n tokens from `key`'s bucket if all n are there (x/time/rate's
  /// AllowN at the server's time). One round trip. A bool, a character or a
  /// floating-point count does not compile (2.5 would take 2 tokens, 0.5 none).
  [[nodiscard]] decision try_acquire(std::string_view key, std::size_t n = 1) {
    return try_acquire(key, n, Clock::now());
  }
  /// try_acquire with the local clock reading given (used by the breaker and
  /// the local fallback only; Redis decides on its own clock).
  [[nodiscard]] decision try_acquire(std::string_view key, std::size_t n, time_point now) {
    return one(key, n, 'a', now);
  }
  /// try_acquire with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <surge::detail::not_a_count N>
  decision try_acquire(std::string_view, const N&, time_point = {}) {
    static_assert(surge::detail::refused_count<N>,
                  "surge::redis::token_bucket::try_acquire: n must be an integer, not a bool, a character or "
                  "a floating-point number");
    return {};
  }

  /// The decision try_acquire(key, n) would get now, taking nothing. A bool,
  /// a character or a floating-point count does not compile.
  [[nodiscard]] decision peek(std::string_view key, std::size_t n = 1) { return peek(key, n, Clock::now()); }
  /// peek with the local clock reading given (as try_acquire).
  [[nodiscard]] decision peek(std::string_view key, std::size_t n, time_point now) { return one(key, n, 'p', now); }
  /// peek with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <surge::detail::not_a_count N>
  decision peek(std::string_view, const N&, time_point = {}) {
    static_assert(surge::detail::refused_count<N>,
                  "surge::redis::token_bucket::peek: n must be an integer, not a bool, a character or "
                  "a floating-point number");
    return {};
  }

  /// try_acquire(key, n) for every key, in one pipelined round trip; the
  /// decisions in the order of `keys`. A fault decides every key by policy.
  /// A bool, a character or a floating-point count does not compile.
  template <std::ranges::input_range Keys>
  requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
  [[nodiscard]] std::vector<decision> try_acquire_many(const Keys& keys, std::size_t n = 1) {
    return try_acquire_many(keys, n, Clock::now());
  }
  /// try_acquire_many with the local clock reading given (as try_acquire).
  template <std::ranges::input_range Keys>
  requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
  [[nodiscard]] std::vector<decision> try_acquire_many(const Keys& keys, std::size_t n, time_point now) {
    std::vector<std::string> full;
    for (auto&& k : keys) full.push_back(full_key(std::string_view(k)));
    if (full.empty()) return {};
    std::vector<command> cmds;
    cmds.reserve(full.size());
    for (const auto& fk : full) cmds.push_back(script_command(fk, n, 'a'));
    std::vector<decision> out;
    out.reserve(full.size());
    round_trip rt = run(cmds, now);
    for (std::size_t i = 0; i < full.size(); ++i)
      out.push_back(rt.f == fault::none ? parse(rt.replies[i], full[i], 'a', n).d : fallback(full[i], n, 'a', rt, now));
    return out;
  }
  /// try_acquire_many with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <std::ranges::input_range Keys, surge::detail::not_a_count N>
  requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
  std::vector<decision> try_acquire_many(const Keys&, const N&, time_point = {}) {
    static_assert(surge::detail::refused_count<N>,
                  "surge::redis::token_bucket::try_acquire_many: n must be an integer, not a bool, a character or "
                  "a floating-point number");
    return {};
  }

  /// Forgets `key`'s state (the bucket is full again). Returns fault::none on
  /// success; a fault otherwise (fault_policy::raise throws instead). Throws
  /// reply_error when Redis answers the DEL with an error (an ACL that denies
  /// it, a Cluster node that does not own the key): nothing was forgotten.
  fault reset(std::string_view key) { return reset(key, Clock::now()); }
  /// reset with the local clock reading given (as try_acquire).
  fault reset(std::string_view key, time_point now) {
    const command cmd{"DEL", full_key(key)};
    round_trip rt = run(std::span<const command>(&cmd, 1), now, false);
    if (rt.f != fault::none && opts_.on_fault == fault_policy::raise) throw error(rt.f, rt.message);
    if (rt.f == fault::none && rt.replies[0].type != reply::kind::integer)
      throw reply_error("surge::redis::token_bucket: key '" + cmd[1] + "': Redis did not delete it: " +
                        (rt.replies[0].type == reply::kind::error ? rt.replies[0].str : "not an integer reply"));
    return rt.f;
  }

  /// Takes up to k tokens (at most burst) from `key` in one round trip, to be
  /// served locally by the returned lease; what it does not use goes back to
  /// the bucket when it ends. A lease with nothing granted carries the
  /// refusal (result().retry_after). Under a fault the policy grants: k, at
  /// most burst (fail_open), 0 (fail_closed) or what the local fallback has.
  /// A bool, a character or a floating-point k does not compile.
  [[nodiscard]] leased_tokens lease(std::string_view key, std::size_t k) { return lease(key, k, Clock::now()); }
  /// lease with a count that is not an integer (a bool, a character or a
  /// floating-point number): refused at compile time, with one line naming it.
  template <surge::detail::not_a_count N>
  leased_tokens lease(std::string_view, const N&, time_point = {}) {
    static_assert(surge::detail::refused_count<N>,
                  "surge::redis::token_bucket::lease: k must be an integer, not a bool, a character or "
                  "a floating-point number");
    return {};
  }
  /// lease with the local clock reading given (also the lease's start, from
  /// which lease_hold counts; any reading is valid: the lease's end saturates
  /// at time_point::max()).
  [[nodiscard]] leased_tokens lease(std::string_view key, std::size_t k, time_point now) {
    if (k == 0) throw std::invalid_argument("surge::redis::token_bucket::lease: k must be >= 1");
    const std::string fk = full_key(key);
    const std::size_t want = std::min(k, burst_);
    const command cmd = script_command(fk, want, 'l');
    round_trip rt = run(std::span<const command>(&cmd, 1), now);
    leased_tokens l;
    const auto hold = std::chrono::duration_cast<typename Clock::duration>(opts_.lease_hold);
    l.expires_ = now > time_point::max() - hold ? time_point::max() : now + hold;  // saturated
    if (rt.f == fault::none) {
      const parsed p = parse(rt.replies[0], fk, 'l', want);
      l.decision_ = p.d;
      l.granted_ = l.left_ = p.granted;
      if (p.granted > 0) {
        l.owner_ = this;
        l.key_ = fk;
        l.tat_us_ = p.tat_us;
        l.tat_units_ = p.tat_units;
      }
      return l;
    }
    l.decision_ = fallback(fk, 1, 'a', rt, now);
    std::size_t g = 0;
    if (l.decision_.source == decision_source::fail_open) {
      g = want;
    } else if (l.decision_.allowed) {  // local: one taken by fallback(); take what else is there at once
      g = 1 + local_take_upto(fk, want - 1, now);
    }
    l.granted_ = l.left_ = g;
    return l;
  }

  /// The Redis key of `key`: the prefix followed by the key. Hash tags in
  /// `key` ("user:{42}") decide its Cluster slot, since the prefix has none.
  [[nodiscard]] std::string full_key(std::string_view key) const {
    std::string s;
    s.reserve(prefix_.size() + key.size());
    s.append(prefix_).append(key);
    return s;
  }

  /// Redis Cluster's hash slot of a full key (CRC16 of its hash tag or of all
  /// of it, mod 16384).
  [[nodiscard]] static std::uint16_t cluster_slot(std::string_view full) noexcept { return detail::cluster_slot(full); }

  /// Tokens per second, as constructed.
  [[nodiscard]] double rate() const noexcept { return rate_; }
  /// The burst, as constructed.
  [[nodiscard]] std::size_t burst() const noexcept { return burst_; }
  /// The options, as constructed.
  [[nodiscard]] const options& config() const noexcept { return opts_; }
  /// The rate the script uses, as tokens per microsecond = numerator /
  /// denominator (equal to the rate given for decimal and simple rates).
  [[nodiscard]] std::pair<std::int64_t, std::int64_t> script_rate() const noexcept { return {units_.a, units_.b}; }
  /// True while the circuit breaker keeps calls away from Redis.
  [[nodiscard]] bool breaker_open() const noexcept {
    const breaker_state st = breaker_.state();
    return st == breaker_state::open || st == breaker_state::forced_open || st == breaker_state::half_open;
  }
  /// The circuit breaker around the connection (for its state, metrics and
  /// listener-free manual transitions).
  [[nodiscard]] surge::circuit_breaker<Clock>& breaker() noexcept { return breaker_; }
  /// The script's source and SHA-1 (to SCRIPT LOAD it ahead, if wanted).
  [[nodiscard]] static std::string_view script() noexcept { return detail::gcra_script; }
  /// The SHA-1 of script(), in lowercase hex (what EVALSHA sends).
  [[nodiscard]] const std::string& script_sha() const noexcept { return sha_; }

  /// Tokens taken by lease(), served locally. Move-only; not
  /// thread-safe. Ending it (destructor, release(), move-assignment) gives
  /// its unused tokens back in one round trip, ignoring faults (tokens not
  /// given back are lost to the fleet for a while, never over-admitted).
  class leased_tokens {
   public:
    /// An empty lease: nothing granted, nothing to give back.
    leased_tokens() = default;
    /// Takes over `o`'s tokens; `o` is left empty.
    leased_tokens(leased_tokens&& o) noexcept { take(std::move(o)); }
    /// Ends this lease (giving its unused tokens back), then takes over `o`'s;
    /// `o` is left empty. Self-assignment does nothing.
    leased_tokens& operator=(leased_tokens&& o) noexcept {
      if (this != &o) {
        release();
        take(std::move(o));
      }
      return *this;
    }
    ~leased_tokens() { release(); }

    /// Takes n of the leased tokens if n are left and the lease has not
    /// outlived lease_hold. O(1), no round trip. A bool, a character or a
    /// floating-point count does not compile.
    [[nodiscard]] bool try_acquire(std::size_t n = 1) noexcept { return try_acquire(n, Clock::now()); }
    /// try_acquire at the given clock reading.
    [[nodiscard]] bool try_acquire(std::size_t n, time_point now) noexcept {
      if (n > left_ || now >= expires_) return false;
      left_ -= n;
      return true;
    }
    /// try_acquire with a count that is not an integer (a bool, a character or a
    /// floating-point number): refused at compile time, with one line naming it.
    template <surge::detail::not_a_count N>
    bool try_acquire(const N&, time_point = {}) noexcept {
      static_assert(surge::detail::refused_count<N>,
                    "surge::redis::token_bucket::leased_tokens::try_acquire: n must be an integer, not a bool, a "
                    "character or a floating-point number");
      return false;
    }
    /// Tokens still to serve (before expiry).
    [[nodiscard]] std::size_t remaining() const noexcept { return left_; }
    /// Tokens the lease got.
    [[nodiscard]] std::size_t granted() const noexcept { return granted_; }
    /// The decision that made the lease (retry_after when nothing was granted).
    [[nodiscard]] const decision& result() const noexcept { return decision_; }
    /// Gives the unused tokens back now (one round trip, faults ignored).
    void release() noexcept {
      if (owner_ != nullptr && left_ > 0) {
        try {
          owner_->give_back(key_, left_, tat_us_, tat_units_);
        } catch (...) {  // a reply_error here must not escape a destructor
        }
      }
      owner_ = nullptr;
      left_ = 0;
    }

   private:
    friend class token_bucket;
    void take(leased_tokens&& o) noexcept {
      owner_ = std::exchange(o.owner_, nullptr);
      key_ = std::move(o.key_);
      tat_us_ = o.tat_us_;
      tat_units_ = o.tat_units_;
      left_ = std::exchange(o.left_, 0);
      granted_ = std::exchange(o.granted_, 0);
      expires_ = o.expires_;
      decision_ = std::exchange(o.decision_, decision{});
    }
    token_bucket* owner_ = nullptr;
    std::string key_;
    std::int64_t tat_us_ = 0;     // the bucket's TAT after the lease: microseconds
    std::int64_t tat_units_ = 0;  // and units (1/a microsecond)
    std::size_t left_ = 0;
    std::size_t granted_ = 0;
    time_point expires_{};
    decision decision_{};
  };

 private:
  struct round_trip {
    fault f = fault::none;
    std::string message;
    std::vector<reply> replies;
  };
  struct parsed {
    decision d;
    std::size_t granted = 0;
    std::int64_t tat_us = 0;     // the TAT after the call (leases): microseconds
    std::int64_t tat_units = 0;  // and units
  };

  /// The units n tokens are (n * b), or cap + 1 when n > burst (never there).
  [[nodiscard]] std::int64_t units_of(std::size_t n) const noexcept {
    return n > burst_ ? cap_ + 1 : static_cast<std::int64_t>(n) * units_.b;
  }

  /// EVALSHA of the script for one key (see detail::gcra_script for ARGV).
  /// Modes 'a', 'p': n tokens; 'l': up to n tokens; 'g': n tokens back to a
  /// lease's TAT (tat_us, tat_units).
  command script_command(const std::string& fk, std::size_t n, char mode, std::int64_t tat_us = 0,
                         std::int64_t tat_units = 0) const {
    if (mode == 'l')
      return {"EVALSHA", sha_, "1", fk, "l", a_, cap_s_, detail::hex_arg(static_cast<std::int64_t>(n)), b_};
    command c{"EVALSHA", sha_, "1", fk, std::string(1, mode), a_, cap_s_, detail::hex_arg(units_of(n))};
    if (mode == 'g') {
      c.push_back(detail::hex_arg(tat_us));
      c.push_back(detail::hex_arg(tat_units));
    }
    return c;
  }

  decision one(std::string_view key, std::size_t n, char mode, time_point now) {
    const std::string fk = full_key(key);
    const command cmd = script_command(fk, n, mode);
    round_trip rt = run(std::span<const command>(&cmd, 1), now);
    if (rt.f != fault::none) return fallback(fk, n, mode, rt, now);
    return parse(rt.replies[0], fk, mode, n).d;
  }

  void give_back(const std::string& fk, std::size_t n, std::int64_t tat_us, std::int64_t tat_units) {
    const command cmd = script_command(fk, n, 'g', tat_us, tat_units);
    round_trip rt = run(std::span<const command>(&cmd, 1), Clock::now());
    if (rt.f == fault::none) (void)parse(rt.replies[0], fk, 'g', n);
  }

  /// floor(x / y) and ceil(x / y) for y > 0.
  static std::int64_t floor_div(std::int64_t x, std::int64_t y) noexcept {
    return x / y - ((x % y != 0 && x < 0) ? 1 : 0);
  }
  static std::int64_t ceil_div(std::int64_t x, std::int64_t y) noexcept {
    return x / y + ((x % y != 0 && x > 0) ? 1 : 0);
  }

  static bool noscript(const reply& r) noexcept {
    return r.type == reply::kind::error && r.str.rfind("NOSCRIPT", 0) == 0;
  }

  /// An error reply saying the server cannot serve now (out of memory, busy
  /// with a script, loading, a read-only replica, writes stopped by a failed
  /// save or too few replicas, its client limit reached, ...): a fault, not a
  /// bug.
  static bool unavailable(const reply& r) noexcept {
    if (r.type != reply::kind::error) return false;
    // what the server sends a connection past maxclients before closing it
    if (r.str.rfind("ERR max number of clients", 0) == 0) return true;
    for (const std::string_view p :
         {"OOM", "BUSY", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "MISCONF", "NOREPLICAS"})
      if (r.str.size() >= p.size() && r.str.compare(0, p.size(), p) == 0 &&
          (r.str.size() == p.size() || r.str[p.size()] == ' '))
        return true;
    return false;
  }

  /// One round trip through the breaker, with EVAL for scripts the server no
  /// longer knows, within one timeout budget. Throws reply_error for a
  /// protocol fault.
  round_trip run(std::span<const command> cmds, time_point now, bool scripts = true) {
    round_trip rt;
    if (!breaker_.try_acquire_permission(now)) {
      rt.f = fault::circuit_open;
      rt.message = "surge::redis::token_bucket: circuit breaker open after repeated Redis faults";
      return rt;
    }
    // given back when the call throws (the Connection's exception, a
    // std::bad_alloc, a protocol fault): a half-open breaker's one probe
    // would otherwise stay taken and refuse every later call as circuit_open
    struct permit_guard {
      surge::circuit_breaker<Clock>& breaker;
      bool held = true;
      ~permit_guard() {
        if (held) breaker.release_permission();
      }
    } permit{breaker_};
    using steady = std::chrono::steady_clock;
    const auto start = steady::now();
    pipeline_result res = conn_->pipeline(cmds, opts_.timeout);
    if (res.status == fault::none && res.replies.size() != cmds.size()) {
      res.status = fault::protocol;
      res.message = "connection returned " + std::to_string(res.replies.size()) + " replies for " +
                    std::to_string(cmds.size()) + " commands";
    }
    if (res.status == fault::none && scripts) {
      std::vector<command> again;
      std::vector<std::size_t> where;
      for (std::size_t i = 0; i < res.replies.size(); ++i) {
        if (!noscript(res.replies[i])) continue;
        command c = cmds[i];
        c[0] = "EVAL";
        c[1] = std::string(detail::gcra_script);
        again.push_back(std::move(c));
        where.push_back(i);
      }
      if (!again.empty()) {
        const auto left = opts_.timeout - std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start);
        if (left <= std::chrono::microseconds::zero()) {
          res.status = fault::timeout;
          res.message = "timed out before EVAL (the server had lost the script)";
        } else {
          pipeline_result r2 = conn_->pipeline(again, left);
          if (r2.status == fault::none && r2.replies.size() != again.size()) {
            r2.status = fault::protocol;
            r2.message = "connection returned the wrong number of replies";
          }
          if (r2.status != fault::none) {
            res.status = r2.status;
            res.message = std::move(r2.message);
          } else {
            for (std::size_t j = 0; j < where.size(); ++j) res.replies[where[j]] = std::move(r2.replies[j]);
          }
        }
      }
    }
    const auto elapsed = std::chrono::duration_cast<typename Clock::duration>(steady::now() - start);
    if (res.status == fault::none) {
      for (const reply& r : res.replies) {
        if (!unavailable(r)) continue;
        res.status = fault::unavailable;
        res.message = r.str;
        break;
      }
    }
    if (res.status == fault::protocol)
      throw reply_error("surge::redis::token_bucket: the server's reply is not RESP (is it Redis?): " + res.message);
    permit.held = false;  // reported below, as a success or a failure
    if (res.status != fault::none) {
      breaker_.on_failure(elapsed, now);
      rt.f = res.status;
      rt.message = "surge::redis::token_bucket: Redis " + std::string(to_string(res.status)) + ": " + res.message;
      return rt;
    }
    breaker_.on_success(elapsed, now);
    rt.replies = std::move(res.replies);
    return rt;
  }

  /// The script's reply ({now, d} or, for a lease, {now, d, granted}) as a
  /// decision for `mode` and n tokens; throws reply_error when it is not one.
  parsed parse(const reply& r, const std::string& fk, char mode, std::size_t n) const {
    const auto bad = [&](const std::string& why) {
      return reply_error("surge::redis::token_bucket: key '" + fk + "': " + why);
    };
    if (r.type == reply::kind::error) throw bad("Redis replied with an error: " + r.str);
    const std::size_t size = mode == 'l' ? 3 : 2;
    if (r.type != reply::kind::array || r.elements.size() != size) throw bad("unexpected reply to the limiter script");
    for (const reply& e : r.elements)
      if (e.type != reply::kind::integer) throw bad("unexpected reply to the limiter script");
    const std::int64_t now = r.elements[0].integer, x = r.elements[1].integer;
    const bool allowed = x >= 0;
    const std::int64_t debt = allowed ? x : -1 - x;  // units, after the call
    const std::int64_t m = mode == 'l' ? r.elements[2].integer : 0;
    // an admitted call leaves a debt within cap (< 2^52); a refused one may
    // find more: a state written by a bucket of a larger burst or another
    // rate under the same prefix, or before the server's clock stepped back
    const bool lease_ok = mode != 'l' || (allowed == (m > 0) && m >= 0 && static_cast<std::uint64_t>(m) <= n);
    // the server's time in microseconds is below 2^52 (until the year 2112)
    if (now <= 0 || now >= detail::script_limit || (allowed && debt > cap_) || debt >= max_debt || !lease_ok)
      throw bad("the limiter script returned impossible values");
    const std::int64_t a = units_.a, b = units_.b;
    parsed p;
    p.d.allowed = allowed;
    p.d.remaining = (mode == 'l' && !allowed) || debt >= cap_ ? 0 : static_cast<std::uint64_t>((cap_ - debt) / b);
    p.d.reset_after = std::chrono::microseconds(ceil_div(debt, a));
    p.d.server_time = std::chrono::microseconds(now);
    if (!allowed) {
      if (mode != 'l' && n > burst_)
        p.d.retry_after = std::chrono::microseconds::max();
      else
        p.d.retry_after = std::chrono::microseconds(
            std::max<std::int64_t>(0, ceil_div(debt + (mode == 'l' ? b : units_of(n)) - cap_, a)));
    }
    if (mode == 'l' && allowed) {
      p.granted = static_cast<std::size_t>(m);
      p.tat_us = now + floor_div(debt, a);
      p.tat_units = debt - floor_div(debt, a) * a;
    }
    return p;
  }

  /// The policy's decision for n tokens of fk under a fault; `mode` 'p' (a
  /// peek) takes nothing from the local fallback.
  decision fallback(const std::string& fk, std::size_t n, char mode, const round_trip& rt, time_point now) {
    decision d;
    d.cause = rt.f;
    switch (opts_.on_fault) {
      case fault_policy::raise:
        throw error(rt.f, rt.message);
      case fault_policy::fail_open:
        d.allowed = n <= burst_;
        d.retry_after = d.allowed ? std::chrono::microseconds::zero() : std::chrono::microseconds::max();
        d.source = decision_source::fail_open;
        return d;
      case fault_policy::fail_closed:
        d.allowed = false;
        d.retry_after = n <= burst_ ? opts_.breaker_open_for : std::chrono::microseconds::max();
        d.source = decision_source::fail_closed;
        return d;
      case fault_policy::local: {
        decision l = local_take(fk, n, now, mode != 'p');
        l.cause = rt.f;
        return l;
      }
    }
    return d;
  }

  /// The local fallback's decision for n tokens of fk, taking them when
  /// `take` (a peek does not). Each key has a surge::token_bucket of rate /
  /// instances and burst max(1, burst / instances); n above that local burst
  /// but within the global one waits for Redis (retry_after breaker_open_for),
  /// never "never".
  decision local_take(const std::string& fk, std::size_t n, time_point now, bool take = true) {
    decision d;
    d.source = decision_source::local;
    std::lock_guard lock(local_mutex_);
    auto it = local_.find(fk);
    if (it == local_.end()) {
      if (local_.size() >= opts_.local_max_keys) local_.clear();  // a new key past the bound: start afresh
      const double r = rate_ / static_cast<double>(opts_.instances);
      const std::size_t b = std::max<std::size_t>(1, burst_ / opts_.instances);
      it = local_.emplace(fk, std::make_unique<surge::token_bucket<Clock>>(r, b, now)).first;
    }
    surge::token_bucket<Clock>& bucket = *it->second;
    const auto wait = bucket.time_until_available(n, now);
    d.allowed = take ? bucket.try_acquire(n, now) : wait == Clock::duration::zero();
    if (!d.allowed) {
      if (n > burst_)
        d.retry_after = std::chrono::microseconds::max();
      else if (n > bucket.burst())  // above the local share (not a saturated wait: a slow share has those)
        d.retry_after = opts_.breaker_open_for;
      else
        d.retry_after = std::chrono::ceil<std::chrono::microseconds>(wait);
    }
    return d;
  }

  /// Takes up to k more tokens of fk's local bucket in one step (a lease of
  /// 2^40 tokens took them one call at a time); returns how many.
  std::size_t local_take_upto(const std::string& fk, std::size_t k, time_point now) {
    std::lock_guard lock(local_mutex_);
    const auto it = local_.find(fk);
    if (it == local_.end() || k == 0) return 0;
    const double there = std::floor(it->second->tokens(now));
    // tokens() is within a unit of the exact count: step down past rounding
    std::size_t g = there >= static_cast<double>(k) ? k : there > 0 ? static_cast<std::size_t>(there) : 0;
    while (g > 0 && !it->second->try_acquire(g, now)) --g;
    return g;
  }

  /// `o`, or std::invalid_argument naming the first bad field (see the class
  /// comment), before anything converts its durations.
  static options checked(const options& o, double rate) {
    const auto bad = [](const char* what) {
      throw std::invalid_argument(std::string("surge::redis::token_bucket: options.") + what);
    };
    // deadlines are local clock readings plus these: at most 2^60 ns each
    constexpr std::chrono::microseconds longest{(std::int64_t{1} << 60) / 1000};
    if (o.timeout <= std::chrono::microseconds::zero() || o.timeout > longest)
      bad("timeout must be > 0 and <= 2^60 ns");
    if (o.instances == 0) bad("instances must be >= 1");
    if (rate > 0 && rate / static_cast<double>(o.instances) < 1e-18)  // (a bad rate is named after this)
      bad("instances must leave a local rate >= 1e-18/s");
    if (o.lease_hold <= std::chrono::microseconds::zero() || o.lease_hold > longest)
      bad("lease_hold must be > 0 and <= 2^60 ns");
    if (o.breaker_open_for < std::chrono::microseconds::zero() || o.breaker_open_for > longest)
      bad("breaker_open_for must be >= 0 and <= 2^60 ns");
    if (o.breaker_failures > (1u << 20) - 1) bad("breaker_failures must be <= 2^20 - 1");
    if (o.local_max_keys == 0) bad("local_max_keys must be >= 1");
    return o;
  }

  /// The breaker opens when the last `breaker_failures` calls all faulted,
  /// stays open `breaker_open_for`, then lets one probe decide.
  static typename surge::circuit_breaker<Clock>::options breaker_options(const options& o) {
    const std::size_t n = std::max<std::uint32_t>(1, o.breaker_failures);
    // only faults open it: a slow answer within the timeout is a success
    // (the breaker's default would open it after n answers over 60 s)
    return {.failure_rate_threshold = 100.0,
            .slow_call_duration = std::chrono::nanoseconds::max(),
            .window = window_type::count_based,
            .window_size = n,
            .minimum_calls = n,
            .wait_in_open = o.breaker_open_for,
            .half_open_calls = 1};
  }

  Connection* conn_;
  std::string prefix_;
  double rate_;
  std::size_t burst_;
  options opts_;
  surge::circuit_breaker<Clock> breaker_;
  detail::rational_rate units_{};
  std::int64_t cap_ = 0;  // burst * b: the units of a full bucket
  // a refusal may report a debt above cap_ (see parse); anything from 2^60 on is no state of ours
  static constexpr std::int64_t max_debt = std::int64_t{1} << 60;
  std::string sha_, a_, b_, cap_s_;
  std::mutex local_mutex_;
  std::unordered_map<std::string, std::unique_ptr<surge::token_bucket<Clock>>> local_;
};

}  // namespace surge::redis

#endif  // SURGE_REDIS_TOKEN_BUCKET_HPP
