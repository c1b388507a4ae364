// An HTTP/1.1 reverse proxy on loopback composed from surge's primitives:
//
//   client ─► concurrency_limiter (adaptive, AIMD)      → 503 when shedding
//          ─► keyed_limiter<token_bucket> per client     → 429 + Retry-After
//          ─► sharded_cache of GET responses (TTL)       → X-Cache: HIT | MISS
//          ─► balancer (p2c | maglev by path | wrr | least-conn)
//          ─► circuit_breaker per backend                → skip open ones, 503 if none
//          ─► keep-alive connection pool (per thread)    → backend
//          ◄─ retry on another backend (retry_budget) for idempotent requests
//             on a 5xx or a failed exchange (connect error, timeout,
//             connection lost, malformed answer)
//
// GET /metrics answers in Prometheus text format. Boost.Asio does the I/O
// (one io_context per thread; a connection stays on one thread, with that
// thread's own upstream pool and counters, so the hot path takes no shared
// lock of the gateway's own); Boost.Beast parses HTTP.
#ifndef SURGE_EXAMPLES_GATEWAY_GATEWAY_HPP
#define SURGE_EXAMPLES_GATEWAY_GATEWAY_HPP

#include "io.hpp"

#include <surge/balance/least_connections.hpp>
#include <surge/balance/maglev.hpp>
#include <surge/balance/power_of_two.hpp>
#include <surge/balance/weighted_round_robin.hpp>
#include <surge/cache/cache.hpp>
#include <surge/cache/sharded.hpp>
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/token_bucket.hpp>
#include <surge/metrics/formulas.hpp>
#include <surge/metrics/histogram.hpp>
#include <surge/metrics/meter.hpp>
#include <surge/resilience/circuit_breaker.hpp>
#include <surge/resilience/concurrency_limit.hpp>
#include <surge/resilience/retry.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gateway {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;

/// The balancing policies of the command line's --balancer.
enum class balancer_kind {
  p2c,        ///< power of two choices (least request of two random picks)
  maglev,     ///< Maglev consistent hashing of the request path
  wrr,        ///< smooth weighted round robin (nginx's), shared by the threads
  least_conn  ///< least connections
};

/// "p2c", "maglev", "wrr", "least-conn"; nullopt for anything else.
inline std::optional<balancer_kind> parse_balancer(std::string_view s) {
  if (s == "p2c") return balancer_kind::p2c;
  if (s == "maglev") return balancer_kind::maglev;
  if (s == "wrr") return balancer_kind::wrr;
  if (s == "least-conn") return balancer_kind::least_conn;
  return std::nullopt;
}

/// The breaker settings the gateway uses unless told otherwise: open when
/// half of the last 20 calls (at least 10) failed, probe again after 5 s with
/// 3 calls.
inline surge::circuit_breaker_options default_breaker_options() {
  return {.failure_rate_threshold = 50.0,
          .window_size = 20,
          .minimum_calls = 10,
          .wait_in_open = std::chrono::seconds(5),
          .half_open_calls = 3};
}

/// gateway_server's configuration (designated initialisers). Every feature
/// in front of the balancer is off unless switched on.
struct gateway_options {
  std::uint16_t port = 0;                       ///< 127.0.0.1:port; 0 picks an ephemeral port
  std::vector<std::string> backends{};          ///< "127.0.0.1:port" each (IPv4 literals); 1 to 64, no repeats
  balancer_kind balancer = balancer_kind::p2c;  ///< how a backend is picked for each attempt
  std::size_t threads = 1;                      ///< io threads, [1, 1024]

  /// cache GET 200 responses by Host and target, except those no other
  /// client may see: asked with Authorization or Cache-Control: no-store,
  /// or answered with Set-Cookie, Vary, or Cache-Control: no-store,
  /// no-cache or private; an unsafe
  /// request (POST, PUT, DELETE ...) answered below 400 drops the answer
  /// stored for its Host and target
  bool cache = false;
  std::chrono::milliseconds cache_ttl{1000};  ///< > 0
  std::size_t cache_capacity = 10000;         ///< entries, >= 1
  std::size_t cache_max_body = 1024 * 1024;   ///< larger bodies are not cached

  bool limit = false;                      ///< per-client token buckets
  double rate = 100.0;                     ///< tokens per second per client, > 0
  std::size_t burst = 100;                 ///< bucket size per client, >= 1
  std::string client_header = "X-Client";  ///< the client's key; absent: the peer address
  std::size_t limit_max_keys = 65536;      ///< clients remembered at once

  bool adaptive = false;  ///< adaptive concurrency limit in front of everything
  surge::aimd_limit_options adaptive_limit{
      .initial = 256, .min = 8, .max = 4096, .backoff_ratio = 0.9, .timeout = std::chrono::milliseconds(250)};

  std::size_t retries = 1;             ///< extra attempts per idempotent request
  double retry_budget_tokens = 100.0;  ///< gRPC retry throttling: max_tokens, [0.001, 1000] (thousandths)
  double retry_budget_ratio = 0.1;     ///< tokens earned per success, [0.001, 1000] (thousandths)
  surge::circuit_breaker_options breaker = default_breaker_options();

  std::size_t header_limit = 8 * 1024;                ///< request header bytes; above: 431
  std::size_t body_limit = 1024 * 1024;               ///< request body bytes; above: 413
  std::chrono::milliseconds idle_timeout{30000};      ///< client idle (or slow to send or read) this long: closed
  std::chrono::milliseconds connect_timeout{1000};    ///< to a backend
  std::chrono::milliseconds upstream_timeout{10000};  ///< a backend's whole answer
  std::size_t max_idle_per_backend = 256;             ///< pooled connections per backend per thread

  /// The clock of every time-dependent decision (cache TTL, breaker waits,
  /// limiter refills, latency). Tests pass a manual one.
  std::function<time_point()> clock = [] { return clock_type::now(); };
};

/// The outcomes counted by surge_gateway_requests_total.
enum class outcome : std::size_t { ok, error, limited, shed, unavailable, bad_request };
inline constexpr std::array<const char*, 6> outcome_names{"ok",   "error",       "limited",
                                                          "shed", "unavailable", "bad_request"};

/// The reverse proxy. Runs on its own threads from construction until stop()
/// or destruction. Thread-safe: every public member may be called from any
/// thread. Bad options throw std::invalid_argument naming the field (surge's
/// own types check theirs the same way); a port that cannot be bound, or too
/// few file descriptors for every io thread's reactor, throws
/// boost::system::system_error.
class gateway_server {
 public:
  explicit gateway_server(gateway_options o);
  gateway_server(const gateway_server&) = delete;
  gateway_server& operator=(const gateway_server&) = delete;
  ~gateway_server() { stop(); }

  /// The bound port.
  [[nodiscard]] std::uint16_t port() const noexcept { return pool_.port(); }
  /// Stops serving: closes every connection and joins the threads. Idempotent.
  void stop();

  /// The /metrics page (Prometheus text format).
  [[nodiscard]] std::string metrics_text() const;
  /// The adaptive limit now (0 when adaptive is off).
  [[nodiscard]] std::size_t concurrency_limit() const noexcept { return limiter_ ? limiter_->limit() : 0; }
  /// Backend i's breaker state.
  [[nodiscard]] surge::breaker_state breaker_state(std::size_t i) const { return backends_.at(i)->breaker.state(); }
  /// Attempts sent to backend i so far.
  [[nodiscard]] std::uint64_t backend_requests(std::size_t i) const;
  /// Requests answered with outcome `o` so far.
  [[nodiscard]] std::uint64_t requests(outcome o) const;
  /// The options it was built with.
  [[nodiscard]] const gateway_options& options() const noexcept { return o_; }

 private:
  using request = http::request<http::string_body>;
  using response = http::response<http::string_body>;
  // Coroutines, streams and completion tokens name the io_context's own
  // executor rather than the type-erased any_io_executor: copying one (every
  // operation does, several times) is copying a pointer.
  using executor = asio::io_context::executor_type;
  template <class T>
  using task = asio::awaitable<T, executor>;
  static auto on_done(error_code& ec) { return await_ec<executor>(ec); }
  // An upstream connection with its read buffer and the buffer its requests'
  // heads are written into (both kept across requests), and its deadline.
  struct upstream {
    upstream(const executor& ex, deadline_list& deadlines) : socket(ex), timeout(deadlines, socket) {}
    pool_socket socket;
    beast::flat_buffer buffer;
    std::string head;
    deadline_list::deadline timeout;
  };
  using stream_ptr = std::unique_ptr<upstream>;

  struct cached_response {
    response res;
    time_point expires;
    time_point stored;
  };
  using cache_type = surge::sharded_cache<surge::cache<std::string, std::shared_ptr<const cached_response>>, 16>;
  using keyed_type = surge::keyed_limiter<std::string, surge::token_bucket<>>;
  using limiter_type = surge::concurrency_limiter<surge::aimd_limit>;

  struct backend {
    std::string address;
    tcp::endpoint endpoint;
    surge::circuit_breaker<> breaker;
    std::atomic<bool> down{false};  // marked down in the balancer while its breaker is open
    std::atomic<time_point::rep> revive_at{0};
    // held while the mark changes: the flag and every balancer's view change
    // together, so a breaker opening as revive_due brings the backend back
    // cannot leave a balancer disagreeing with the flag
    std::mutex marking;
    backend(std::string a, tcp::endpoint e, surge::circuit_breaker_options b)
        : address(std::move(a)), endpoint(e), breaker(std::move(b)) {}
  };

  // A relaxed counter written by one thread and read by /metrics.
  struct counter {
    std::atomic<std::uint64_t> v{0};
    void add(std::uint64_t n = 1) noexcept {
      v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void sub(std::uint64_t n = 1) noexcept {
      v.store(v.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
  };

  // Everything one io thread owns.
  struct alignas(64) worker {
    worker(std::size_t backends, time_point now, std::chrono::milliseconds tick)
        : deadlines(tick),
          idle(backends),
          backend_requests(backends),
          backend_inflight(backends),
          meter(surge::rate_meter_options{}, now) {}
    // the deadlines of this thread's sockets, client and upstream: one sweep
    // per tick instead of a timer per read and write
    deadline_list deadlines;
    std::vector<std::vector<stream_ptr>> idle;  // pooled upstream connections per backend
    std::array<counter, outcome_names.size()> outcomes;
    std::vector<counter> backend_requests, backend_inflight;
    counter inflight, cache_hits, cache_misses, limiter_rejections, retries, budget_exhausted;
    counter latency_sum_ns;
    surge::latency_histogram latency;
    surge::rate_meter<> meter;  // per thread: one shared meter is a cache line both threads write per request
    // balancer p2c: per thread too, on the in-flight requests of this thread
    // (as each nginx worker balances its own), so its counts are not shared
    std::unique_ptr<surge::power_of_two_choices> p2c;
  };

  struct upstream_result {
    error_code ec;
    response res;
  };

  struct choice {
    std::size_t index = 0;
    surge::circuit_breaker<>::permit permit;
    surge::backend_lease lease;
  };

  static bool idempotent(http::verb v) noexcept {
    return v == http::verb::get || v == http::verb::head || v == http::verb::put || v == http::verb::delete_;
  }
  // a method that changes nothing on the server (RFC 9110 9.2.1)
  static bool safe(http::verb v) noexcept {
    return v == http::verb::get || v == http::verb::head || v == http::verb::options || v == http::verb::trace;
  }

  void check_options() const;
  task<void> session(pool_socket socket, std::size_t w);
  task<response> handle(worker& w, request& req, const std::string& peer);
  task<upstream_result> exchange(worker& w, std::size_t i, const request& req);
  std::optional<choice> choose(worker& w, std::string_view path, std::uint64_t tried, time_point now);
  surge::backend_lease pick(worker& w, std::string_view path, std::size_t& index);
  void set_down(std::size_t i, bool down);
  void mark_down(std::size_t i, bool down);  // the caller holds backends_[i]->marking
  void revive_due(time_point now);
  response reply(const request& req, http::status s, std::string_view body) const;
  response metrics_response(const request& req) const;
  void count(worker& w, outcome o, time_point start, time_point now);
  void count(worker& w, outcome o, time_point start) { count(w, o, start, o_.clock()); }

  gateway_options o_;
  std::vector<std::unique_ptr<backend>> backends_;
  std::atomic<std::size_t> down_count_{0};
  std::unique_ptr<surge::maglev<>> maglev_;
  std::unique_ptr<surge::shared_weighted_round_robin> wrr_;
  std::unique_ptr<surge::least_connections> least_;
  std::unique_ptr<cache_type> cache_;
  std::unique_ptr<keyed_type> keyed_;
  std::unique_ptr<limiter_type> limiter_;
  std::unique_ptr<surge::retry_budget> budget_;
  std::vector<std::unique_ptr<worker>> workers_;
  io_pool pool_;  // last: its threads stop before the state above goes
};

}  // namespace gateway

#include "gateway_impl.hpp"

#endif  // SURGE_EXAMPLES_GATEWAY_GATEWAY_HPP
