// A small HTTP/1.1 backend for the gateway example: answers every GET/POST
// with 200 and a short body after a configurable latency (an asio timer, so a
// slow backend still serves many requests at once), fails a configurable
// fraction with 500, and can be reconfigured at run time through
// POST /control?latency=MS&jitter=MS&error_rate=F.
#ifndef SURGE_EXAMPLES_GATEWAY_BACKEND_HPP
#define SURGE_EXAMPLES_GATEWAY_BACKEND_HPP

#include "io.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>

namespace gateway {

/// backend_server's configuration (designated initialisers).
struct backend_options {
  std::uint16_t port = 0;                 ///< 127.0.0.1:port; 0 picks an ephemeral port
  std::size_t threads = 1;                ///< io_context threads, [1, 1024]
  std::string name{};                     ///< sent back as X-Backend; empty: "backend-<port>"
  std::chrono::milliseconds latency{0};   ///< added before each answer, >= 0 (max(): no answer)
  std::chrono::milliseconds jitter{0};    ///< plus uniform [0, jitter], >= 0
  double error_rate = 0.0;                ///< probability of a 500, [0, 1]
  std::chrono::seconds idle_timeout{30};  ///< closes a connection idle this long, > 0 (too long for the clock: never)
};

/// The backend's run-time settings, as GET /control reports them.
struct backend_settings {
  std::chrono::milliseconds latency{0};  ///< added before each answer
  std::chrono::milliseconds jitter{0};   ///< plus uniform [0, jitter]
  double error_rate = 0.0;               ///< probability of a 500
};

/// An HTTP/1.1 server on 127.0.0.1 running on its own threads from
/// construction until stop() or destruction. Thread-safe: every member may be
/// called from any thread. Bad options (negative latency or jitter, an error
/// rate outside [0, 1] or NaN, an idle timeout <= 0, threads 0) throw
/// std::invalid_argument naming the field; a port that cannot be bound
/// throws boost::system::system_error.
class backend_server {
 public:
  explicit backend_server(backend_options o = {}) : o_(std::move(o)), pool_(o_.threads) {
    set_latency(o_.latency);
    set_jitter(o_.jitter);
    set_error_rate(o_.error_rate);
    if (o_.idle_timeout.count() <= 0) throw std::invalid_argument("backend_server: idle_timeout must be > 0");
    pool_.start(
        o_.port,
        [this](tcp::socket s, std::size_t) { asio::co_spawn(s.get_executor(), session(std::move(s)), asio::detached); },
        [this](std::uint16_t p) {
          if (o_.name.empty()) o_.name = "backend-" + std::to_string(p);
        });
  }
  backend_server(const backend_server&) = delete;
  backend_server& operator=(const backend_server&) = delete;
  ~backend_server() { stop(); }

  /// The bound port.
  [[nodiscard]] std::uint16_t port() const noexcept { return pool_.port(); }
  /// Its X-Backend value.
  [[nodiscard]] const std::string& name() const noexcept { return o_.name; }
  /// Requests answered (control requests excluded).
  [[nodiscard]] std::uint64_t requests() const noexcept { return requests_.load(std::memory_order_relaxed); }

  /// The latency of the answers from now on; throws std::invalid_argument
  /// when d < 0.
  void set_latency(std::chrono::milliseconds d) {
    if (d.count() < 0) throw std::invalid_argument("backend_server: latency must be >= 0");
    latency_ms_.store(d.count(), std::memory_order_relaxed);
  }
  /// The jitter of the answers from now on; throws std::invalid_argument
  /// when d < 0.
  void set_jitter(std::chrono::milliseconds d) {
    if (d.count() < 0) throw std::invalid_argument("backend_server: jitter must be >= 0");
    jitter_ms_.store(d.count(), std::memory_order_relaxed);
  }
  /// The share of answers that are 500s from now on; throws
  /// std::invalid_argument outside [0, 1] (NaN included).
  void set_error_rate(double r) {
    if (!(r >= 0.0 && r <= 1.0)) throw std::invalid_argument("backend_server: error_rate must be in [0, 1]");
    error_rate_.store(r, std::memory_order_relaxed);
  }
  /// The run-time settings now.
  [[nodiscard]] backend_settings settings() const noexcept {
    return {std::chrono::milliseconds(latency_ms_.load(std::memory_order_relaxed)),
            std::chrono::milliseconds(jitter_ms_.load(std::memory_order_relaxed)),
            error_rate_.load(std::memory_order_relaxed)};
  }

  /// Stops serving: closes every connection and joins the threads. Idempotent.
  void stop() { pool_.stop(); }

 private:
  using request = http::request<http::string_body>;
  using response = http::response<http::string_body>;

  response text(const request& req, http::status status, std::string body) const {
    response res(status, req.version());
    res.set(http::field::server, "surge_gateway_backend");
    res.set(http::field::content_type, "text/plain");
    res.set("X-Backend", o_.name);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();  // the GET's length, no body
    return res;
  }

  std::string settings_text() const {
    const backend_settings s = settings();
    return "latency=" + std::to_string(s.latency.count()) + "&jitter=" + std::to_string(s.jitter.count()) +
           "&error_rate=" + std::to_string(s.error_rate) + "\n";
  }

  response control(const request& req) {
    const std::string_view target = sv(req.target());
    const std::size_t q = target.find('?');
    const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    if (req.method() == http::verb::post) {
      // validate everything first, so a bad request changes nothing
      std::optional<long long> lat, jit;
      std::optional<double> err;
      bool bad = false;
      if (auto v = query_param(query, "latency")) bad |= !(lat = parse_number<long long>(*v)) || *lat < 0;
      if (auto v = query_param(query, "jitter")) bad |= !(jit = parse_number<long long>(*v)) || *jit < 0;
      if (auto v = query_param(query, "error_rate"))
        bad |= !(err = parse_number<double>(*v)) || !(*err >= 0.0 && *err <= 1.0);
      if (bad)
        return text(req, http::status::bad_request,
                    "bad control: latency and jitter are milliseconds >= 0, error_rate is in [0, 1]\n");
      if (lat) set_latency(std::chrono::milliseconds(*lat));
      if (jit) set_jitter(std::chrono::milliseconds(*jit));
      if (err) set_error_rate(*err);
    } else if (req.method() != http::verb::get) {
      return text(req, http::status::method_not_allowed, "GET or POST /control\n");
    }
    return text(req, http::status::ok, settings_text());
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    asio::steady_timer delay(stream.get_executor());
    thread_local std::minstd_rand rng(std::random_device{}());
    error_code ec;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(8 * 1024 * 1024);
      stream.expires_at(add_saturated(std::chrono::steady_clock::now(), o_.idle_timeout));
      co_await http::async_read(stream, buffer, parser, await_ec(ec));
      if (ec) break;
      request req = parser.release();
      response res;
      const std::string_view target = sv(req.target());
      if (target == "/control" || target.starts_with("/control?")) {
        res = control(req);
      } else {
        requests_.fetch_add(1, std::memory_order_relaxed);
        const backend_settings s = settings();
        // a wait beyond the clock's range never ends
        auto wait = s.latency;
        if (s.jitter.count() > 0) {
          const std::chrono::milliseconds extra(std::uniform_int_distribution<long long>(0, s.jitter.count())(rng));
          wait = extra > std::chrono::milliseconds::max() - wait ? std::chrono::milliseconds::max() : wait + extra;
        }
        if (wait.count() > 0) {
          delay.expires_at(add_saturated(std::chrono::steady_clock::now(), wait));
          co_await delay.async_wait(await_ec(ec));
          if (ec) break;
        }
        const bool fail = s.error_rate > 0.0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng) < s.error_rate;
        res = fail ? text(req, http::status::internal_server_error, "injected failure from " + o_.name + "\n")
                   : text(req, http::status::ok, "hello from " + o_.name + "\n");
      }
      const bool keep = res.keep_alive();
      stream.expires_at(add_saturated(std::chrono::steady_clock::now(), o_.idle_timeout));
      co_await http::async_write(stream, res, await_ec(ec));
      if (ec || !keep) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  backend_options o_;
  std::atomic<std::int64_t> latency_ms_{0};
  std::atomic<std::int64_t> jitter_ms_{0};
  std::atomic<double> error_rate_{0.0};
  std::atomic<std::uint64_t> requests_{0};
  io_pool pool_;  // last: its threads stop before the state above goes
};

}  // namespace gateway

#endif  // SURGE_EXAMPLES_GATEWAY_BACKEND_HPP
