// Shared plumbing of the gateway example: the Boost.Asio/Beast names, a set of
// io_context threads, a loopback acceptor that hands each connection to one of
// them, and small helpers for command lines and query strings.
#ifndef SURGE_EXAMPLES_GATEWAY_IO_HPP
#define SURGE_EXAMPLES_GATEWAY_IO_HPP

// (Boost 1.74's awaitable.hpp uses std::exchange without including <utility>)
#include <utility>

// Boost 1.74 enables co_await on clang only with <experimental/coroutine>
// (libc++ of its day); clang 14 in C++20 mode with libstdc++ has the
// standard <coroutine>, which Boost already selects (BOOST_ASIO_HAS_STD_COROUTINE).
#if defined(__clang__) && !defined(BOOST_ASIO_HAS_CO_AWAIT) && defined(__cpp_impl_coroutine)
#if __has_include(<coroutine>)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#endif
#endif

#include <boost/asio.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

/// Beast's (boost::) string_view as a std::string_view.
inline std::string_view sv(beast::string_view s) noexcept { return {s.data(), s.size()}; }

/// The ways our coroutines wait: co_await op(..., await_ec(ec)) fills ec
/// instead of throwing.
inline auto await_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

/// N io_contexts, one thread each, plus one loopback acceptor (on the first)
/// that gives each accepted connection to the next context in turn, so a
/// connection lives on one thread for its whole life and what it touches per
/// thread needs no lock. start() binds and runs; stop() (idempotent) stops
/// every context, joins the threads and destroys the contexts (and with them
/// every coroutine still suspended on them).
class io_pool {
 public:
  /// Called on the connection's own thread with the socket and that thread's
  /// index in [0, threads).
  using on_accept = std::function<void(tcp::socket, std::size_t)>;

  explicit io_pool(std::size_t threads) {
    if (threads == 0 || threads > 1024) throw std::invalid_argument("threads must be in [1, 1024]");
    for (std::size_t i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      // a context with nothing to do yet must not return from run()
      guards_.push_back(asio::make_work_guard(*contexts_.back()));
    }
  }
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;
  ~io_pool() { stop(); }

  /// Binds 127.0.0.1:port (0: an ephemeral port), calls on_bound(port), then
  /// starts the threads. Throws boost::system::system_error when the port
  /// cannot be bound.
  void start(std::uint16_t port, on_accept handler, const std::function<void(std::uint16_t)>& on_bound = {}) {
    handler_ = std::move(handler);
    acceptor_.emplace(*contexts_[0]);
    const tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), port);
    acceptor_->open(ep.protocol());
    acceptor_->set_option(asio::socket_base::reuse_address(true));
    acceptor_->bind(ep);
    acceptor_->listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_->local_endpoint().port();
    if (on_bound) on_bound(port_);
    accept_next();
    for (auto& c : contexts_) {
      threads_.emplace_back([ctx = c.get()] {
        // handlers report their own errors; an exception here is a bug in one
        // connection, not a reason to stop serving the others
        for (;;) {
          try {
            ctx->run();
            return;
          } catch (const std::exception&) {
          }
        }
      });
    }
  }

  /// Stops accepting, stops and joins every thread, then runs `before_destroy`
  /// (to release what lives on the contexts) and destroys the contexts.
  void stop(const std::function<void()>& before_destroy = {}) {
    if (stopped_.exchange(true)) return;
    for (auto& c : contexts_) c->stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    acceptor_.reset();
    guards_.clear();
    if (before_destroy) before_destroy();
    contexts_.clear();
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::size_t size() const noexcept { return contexts_.size(); }
  [[nodiscard]] asio::io_context& context(std::size_t i) { return *contexts_[i]; }

 private:
  void accept_next() {
    const std::size_t i = next_++ % contexts_.size();
    acceptor_->async_accept(*contexts_[i], [this, i](error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor_ || !acceptor_->is_open()) return;
      if (!ec) {
        s.set_option(tcp::no_delay(true), ec);
        asio::post(*contexts_[i], [this, i, sock = std::move(s)]() mutable { handler_(std::move(sock), i); });
      }
      accept_next();
    });
  }

  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::optional<tcp::acceptor> acceptor_;
  on_accept handler_;
  std::size_t next_ = 0;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

/// The value of `name` in a query string "a=1&b=2" (after the '?'), if any.
inline std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

/// Parses a whole decimal number (integer or floating point); nullopt if it
/// is not one.
template <class T>
std::optional<T> parse_number(std::string_view s) {
  T value{};
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (s.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

}  // namespace gateway

#endif  // SURGE_EXAMPLES_GATEWAY_IO_HPP
