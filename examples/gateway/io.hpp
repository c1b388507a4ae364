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

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
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
/// instead of throwing. Executor: the coroutine's executor type
/// (asio::awaitable's second parameter).
template <class Executor = asio::any_io_executor>
auto await_ec(error_code& ec) {
  return asio::redirect_error(asio::use_awaitable_t<Executor>{}, ec);
}

/// t + d, or the clock's last instant when that sum would overflow: a
/// timeout or a lifetime too long to represent never ends.
template <class Rep, class Period>
std::chrono::steady_clock::time_point add_saturated(std::chrono::steady_clock::time_point t,
                                                    std::chrono::duration<Rep, Period> d) noexcept {
  using time_point = std::chrono::steady_clock::time_point;
  if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(time_point::max() - t))
    return time_point::max();
  return t + std::chrono::duration_cast<time_point::duration>(d);
}

/// A socket bound to one io_context's own executor type (no type erasure).
using pool_socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;

/// N io_contexts, one thread each, plus one loopback acceptor (on the first)
/// that gives each accepted connection to the next context in turn, so a
/// connection lives on one thread for its whole life and what it touches per
/// thread needs no lock. start() binds and runs; stop() (idempotent) stops
/// every context, joins the threads and destroys the contexts (and with them
/// every coroutine still suspended on them). A failed accept (out of file
/// descriptors or memory) pauses accepting for `accept_pause`, and so does
/// running out of memory handing a connection to its context (that
/// connection is closed) or arming the next accept.
class io_pool {
 public:
  /// Called on the connection's own thread with the socket and that thread's
  /// index in [0, threads).
  using on_accept = std::function<void(pool_socket, std::size_t)>;

  explicit io_pool(std::size_t threads) {
    if (threads == 0 || threads > 1024) throw std::invalid_argument("threads must be in [1, 1024]");
    for (std::size_t i = 0; i < threads; ++i) {
      // one thread runs each context, and a socket is only ever used on its
      // context's thread: the reactor's per-socket locks can go (the
      // scheduler keeps its lock, for the acceptor's cross-thread posts)
      contexts_.push_back(std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO));
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
    pause_.emplace(*contexts_[0]);
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
    pause_.reset();
    guards_.clear();
    if (before_destroy) before_destroy();
    contexts_.clear();
  }

  /// How long accepting pauses after an accept fails (out of file
  /// descriptors or memory) before it tries again.
  static constexpr std::chrono::milliseconds accept_pause{100};

  /// The bound port (0 before start()).
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  /// The number of io_contexts (0 after stop()).
  [[nodiscard]] std::size_t size() const noexcept { return contexts_.size(); }
  /// Context i, i < size().
  [[nodiscard]] asio::io_context& context(std::size_t i) { return *contexts_[i]; }

 private:
  void accept_next() {
    const std::size_t i = next_++ % contexts_.size();
    acceptor_->async_accept(*contexts_[i], [this, i](error_code ec, pool_socket s) {
      if (ec == asio::error::operation_aborted || !acceptor_ || !acceptor_->is_open()) return;
      if (!ec) {
        error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        try {
          asio::post(*contexts_[i], [this, i, sock = std::move(s)]() mutable { handler_(std::move(sock), i); });
          accept_next();
          return;
        } catch (const std::exception&) {
          // out of memory handing the connection over (it closes) or
          // accepting the next: thrown on, it would stop accepting for good
        }
      }
      // out of file descriptors (EMFILE, ENFILE) or memory: the connection
      // stays queued, so accepting again at once fails at once, a busy loop
      // for as long as it lasts; pause first (as nginx and Go's net/http
      // do), while closing connections give descriptors back
      pause_->expires_after(accept_pause);
      pause_->async_wait([this](error_code e) {
        if (!e) accept_next();
      });
    });
  }

  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> pause_;  // after a failed accept
  on_accept handler_;
  std::size_t next_ = 0;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

/// The deadlines of one io thread's sockets, enforced by one periodic sweep
/// instead of a timer per socket operation (beast::basic_stream arms,
/// cancels and dispatches a timer on every read and write: on a proxy that
/// is four timer round trips per request). A `deadline` registers a socket;
/// `after(d)` sets its deadline to at least d from now (the sweep runs every
/// `tick`, so at most d + 2 ticks); when the sweep finds it passed it closes
/// the socket, so the pending operation ends with an error, and `expired()`
/// turns that error into beast::error::timeout. Single-threaded: the list,
/// its deadlines and the sweep belong to one io_context's thread.
class deadline_list {
 public:
  using clock = std::chrono::steady_clock;

  class deadline {
   public:
    deadline(deadline_list& list, pool_socket& socket) : list_(&list), socket_(&socket) { list.link(this); }
    deadline(const deadline&) = delete;
    deadline& operator=(const deadline&) = delete;
    ~deadline() { list_->unlink(this); }

    /// The socket is closed once `d` has passed (and not before; never when
    /// the time it would pass is beyond the clock's range).
    void after(std::chrono::milliseconds d) noexcept {
      at_ = add_saturated(list_->now_ + list_->tick_, d);
      expired_ = false;
    }
    /// No deadline (a pooled connection waiting for its next request).
    void never() noexcept { at_ = clock::time_point::max(); }
    /// True when the sweep closed the socket; `ec` becomes timeout then.
    bool expired(error_code& ec) const noexcept {
      if (expired_) ec = beast::error::timeout;
      return expired_;
    }

   private:
    friend class deadline_list;
    deadline_list* list_;
    pool_socket* socket_;
    deadline* prev_ = nullptr;
    deadline* next_ = nullptr;
    clock::time_point at_ = clock::time_point::max();
    bool expired_ = false;
  };

  /// `tick`: how often the sweep runs, in (0, 1 s].
  explicit deadline_list(std::chrono::milliseconds tick) : tick_(tick), now_(clock::now()) {
    if (tick.count() <= 0 || tick > std::chrono::seconds(1)) throw std::invalid_argument("tick must be in (0, 1 s]");
  }
  deadline_list(const deadline_list&) = delete;
  deadline_list& operator=(const deadline_list&) = delete;

  /// Starts the sweep on `ctx` (call once, before its thread runs or on it).
  void start(asio::io_context& ctx) {
    timer_.emplace(ctx);
    arm();
  }
  /// Destroys the sweep's timer (before its io_context goes; the context
  /// must no longer run). Registered deadlines may outlive it.
  void stop() noexcept { timer_.reset(); }

 private:
  void arm() {
    timer_->expires_after(tick_);
    timer_->async_wait([this](error_code ec) {
      if (ec || !timer_) return;
      now_ = clock::now();
      for (deadline* d = head_; d != nullptr; d = d->next_) {
        if (d->at_ <= now_ && !d->expired_) {
          d->expired_ = true;
          error_code ignored;
          d->socket_->close(ignored);
        }
      }
      arm();
    });
  }
  void link(deadline* d) noexcept {
    d->next_ = head_;
    if (head_) head_->prev_ = d;
    head_ = d;
  }
  void unlink(deadline* d) noexcept {
    if (d->prev_)
      d->prev_->next_ = d->next_;
    else
      head_ = d->next_;
    if (d->next_) d->next_->prev_ = d->prev_;
  }

  clock::duration tick_;
  clock::time_point now_;
  deadline* head_ = nullptr;
  std::optional<asio::steady_timer> timer_;
};

/// Writes an HTTP/1.x message as one gathered write: the start line and the
/// fields formatted into `head` (reused across messages, so no allocation
/// once it has grown), then the body, in one sendmsg where the socket takes
/// it all. The message is written as its fields say: framing (Content-Length)
/// must already be right, as prepare_payload() makes it. Beast's serializer
/// hands the socket one buffer per field and walks them through layers of
/// buffer views on every write; this is one string append per field.
template <bool IsRequest, class Executor = asio::any_io_executor, class Socket>
auto async_write_message(Socket& socket, std::string& head, const http::message<IsRequest, http::string_body>& m,
                         error_code& ec) {
  head.clear();
  const unsigned v = m.version();
  const char version[] = {
      'H', 'T', 'T', 'P', '/', static_cast<char>('0' + v / 10 % 10), '.', static_cast<char>('0' + v % 10)};
  if constexpr (IsRequest) {
    head.append(sv(m.method_string()));
    head += ' ';
    head.append(sv(m.target()));
    head += ' ';
    head.append(version, sizeof version);
  } else {
    const unsigned code = m.result_int();
    head.append(version, sizeof version);
    head += ' ';
    head += static_cast<char>('0' + code / 100 % 10);
    head += static_cast<char>('0' + code / 10 % 10);
    head += static_cast<char>('0' + code % 10);
    head += ' ';
    head.append(sv(m.reason()));
  }
  head += "\r\n";
  for (const auto& f : m) {
    head.append(sv(f.name_string()));
    head += ": ";
    head.append(sv(f.value()));
    head += "\r\n";
  }
  head += "\r\n";
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(m.body())};
  return asio::async_write(socket, buffers, await_ec<Executor>(ec));
}

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
