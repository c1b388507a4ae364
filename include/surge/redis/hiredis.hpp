/// @file surge/redis/hiredis.hpp
/// A surge::redis::connection over hiredis (the only surge header that
/// includes hiredis; link the `surge::redis` CMake target).
#ifndef SURGE_REDIS_HIREDIS_HPP
#define SURGE_REDIS_HIREDIS_HPP

#include <surge/detail/count_checks.hpp>
#include <surge/redis/connection.hpp>
#include <surge/redis/detail/resolve.hpp>

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace surge::redis {

/// The longest timeout a connection or pool waits (2^50 µs, 35 years);
/// longer ones are capped to it rather than overflowing the deadline.
inline constexpr std::chrono::microseconds longest_timeout{std::int64_t{1} << 50};

/// One TCP connection to Redis through hiredis: connects on first use (and
/// again after any fault) with a connect timeout, pipelines every call's
/// commands in one buffer, and sends them and waits for the replies no
/// longer than the call's timeout (a non-blocking socket, polled against one
/// deadline). After a fault
/// the connection is dropped, so a late reply is never read by a later call.
/// A connection idle for `idle_check` (default 100 ms) or more is first
/// checked (one poll with no wait) for a close by the server (its idle
/// `timeout`, a restart, `CLIENT KILL`) and reopened, so that such a close
/// does not fail the next call; an `idle_check` of 0 checks before every call.
/// Timeouts are capped at 2^50 µs (35 years): longer ones mean "no limit"
/// (and an `idle_check` that long, never).
/// A host name is looked up (getaddrinfo) on a thread of its own at each
/// connect and waited for no longer than the connect's budget, so a name
/// server that does not answer costs the call its timeout, not the
/// resolver's seconds; a numeric address needs no lookup and no thread. The
/// addresses found are tried in the resolver's order within the same budget.
///
/// **SIGPIPE.** hiredis writes with write(2): a write to a connection the
/// server has closed raises SIGPIPE, whose default action ends the process.
/// As with any hiredis client, ignore it (`std::signal(SIGPIPE, SIG_IGN)`,
/// as servers do); the write then fails and the call reports fault::broken.
///
/// Complexity: one write (more when the socket's buffer fills) and as many
/// reads as the replies need per call.
/// Thread safety: not thread-safe — one thread at a time uses a connection
/// (give each thread its own, or share a hiredis_pool).
/// Bad input: an empty host, a port outside [1, 65535], a connect timeout
/// <= 0 or an idle_check < 0 throw std::invalid_argument naming the argument;
/// so does a pipeline() holding an empty command (Redis answers nothing to
/// one, so the call would wait out its timeout and pair the replies after
/// it with the wrong commands), before anything is sent.
/// Faults are results, never exceptions (std::bad_alloc aside, which drops
/// the connection like a fault: nothing of that call is read by a later one).
class hiredis_connection {
 public:
  /// Does not connect yet: the first pipeline() does, within its timeout and
  /// `connect_timeout`, whichever is shorter. `idle_check`: see the class
  /// comment.
  hiredis_connection(std::string host, int port,
                     std::chrono::microseconds connect_timeout = std::chrono::milliseconds(100),
                     std::chrono::microseconds idle_check = std::chrono::milliseconds(100))
      : host_(std::move(host)),
        port_(port),
        connect_timeout_(connect_timeout),
        idle_check_(std::min(idle_check, longest_timeout)) {
    if (host_.empty()) throw std::invalid_argument("surge::redis::hiredis_connection: host must not be empty");
    if (port < 1 || port > 65535)
      throw std::invalid_argument("surge::redis::hiredis_connection: port must be in [1, 65535]");
    if (connect_timeout <= std::chrono::microseconds::zero())
      throw std::invalid_argument("surge::redis::hiredis_connection: connect_timeout must be > 0");
    if (idle_check < std::chrono::microseconds::zero())
      throw std::invalid_argument("surge::redis::hiredis_connection: idle_check must be >= 0");
  }
  /// Takes over `o`'s settings and open connection (if any); `o` is left
  /// without a connection.
  hiredis_connection(hiredis_connection&& o) noexcept
      : host_(std::move(o.host_)),
        port_(o.port_),
        connect_timeout_(o.connect_timeout_),
        ctx_(std::move(o.ctx_)),
        idle_check_(o.idle_check_),
        last_used_(o.last_used_) {}
  hiredis_connection& operator=(hiredis_connection&&) = delete;
  hiredis_connection(const hiredis_connection&) = delete;
  hiredis_connection& operator=(const hiredis_connection&) = delete;
  ~hiredis_connection() = default;

  /// Sends `cmds` in one write and reads their replies, all within `timeout`
  /// (connecting first if needed). Never throws for a fault; throws
  /// std::invalid_argument for an empty command (nothing sent), and passes on
  /// a std::bad_alloc after dropping the connection.
  pipeline_result pipeline(std::span<const command> cmds, std::chrono::microseconds timeout) {
    for (const command& cmd : cmds)
      if (cmd.empty())
        throw std::invalid_argument("surge::redis::hiredis_connection: cmds: a command must not be empty");
    using steady = std::chrono::steady_clock;
    timeout = std::min(timeout, longest_timeout);
    const auto start = steady::now();
    const auto deadline = start + timeout;
    pipeline_result res;
    if (cmds.empty()) return res;
    if (ctx_ && start - last_used_ >= idle_check_ && closed_by_peer()) ctx_.reset();
    last_used_ = start;
    if (!ctx_ && !connect(std::min(timeout, connect_timeout_), res)) return res;
    redisContext* c = ctx_.get();
    try {
      std::vector<const char*> argv;
      std::vector<std::size_t> lens;
      for (const command& cmd : cmds) {
        argv.clear();
        lens.clear();
        for (const std::string& a : cmd) {
          argv.push_back(a.data());
          lens.push_back(a.size());
        }
        if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK)
          return fail(res, fault::broken, "could not format the command");
      }
      for (int done = 0; !done;) {
        if (!wait(POLLOUT, deadline)) return fail(res, fault::timeout, "write timed out");
        if (redisBufferWrite(c, &done) != REDIS_OK) return fail(res, fault::broken, error_text());
      }
      res.replies.reserve(cmds.size());
      while (res.replies.size() < cmds.size()) {
        void* raw = nullptr;
        if (redisGetReplyFromReader(c, &raw) != REDIS_OK) return fail(res, fault::protocol, error_text());
        if (raw != nullptr) {
          const std::unique_ptr<void, reply_free> owned(raw);
          res.replies.push_back(convert(static_cast<const redisReply*>(raw)));
          continue;
        }
        if (!wait(POLLIN, deadline)) return fail(res, fault::timeout, "no reply within the timeout");
        if (redisBufferRead(c) != REDIS_OK) return fail(res, fault::broken, error_text());
      }
    } catch (...) {  // std::bad_alloc: commands formatted but not sent, or replies
      ctx_.reset();  // not read, must never be taken for a later call's
      throw;
    }
    return res;
  }

  /// True while a connection is open (it is opened lazily).
  [[nodiscard]] bool connected() const noexcept { return ctx_ != nullptr; }
  /// Closes the connection; the next call reconnects.
  void disconnect() noexcept { ctx_.reset(); }
  /// The server's host, as constructed.
  [[nodiscard]] const std::string& host() const noexcept { return host_; }
  /// The server's port, as constructed.
  [[nodiscard]] int port() const noexcept { return port_; }

 private:
  struct context_free {
    void operator()(redisContext* c) const noexcept { redisFree(c); }
  };
  struct reply_free {
    void operator()(void* r) const noexcept { freeReplyObject(r); }
  };

  bool connect(std::chrono::microseconds budget, pipeline_result& res) {
    if (budget <= std::chrono::microseconds::zero()) {
      res.status = fault::timeout;
      res.message = "no time left to connect";
      return false;
    }
    using steady = std::chrono::steady_clock;
    const auto deadline = steady::now() + budget;
    const std::string where = host_ + ":" + std::to_string(port_);
    detail::resolved r = detail::resolve(host_, deadline);
    if (!r.error.empty()) {
      res.status = r.timed_out ? fault::timeout : fault::unreachable;
      res.message = "cannot connect to " + where + ": " + r.error;
      return false;
    }
    std::unique_ptr<redisContext, context_free> c;
    std::string why;
    for (const std::string& address : r.addresses) {  // in the resolver's order, each within what is left
      const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - steady::now());
      if (left <= std::chrono::microseconds::zero()) {
        res.status = fault::timeout;
        res.message =
            "cannot connect to " + where + ": no time left to connect" + (why.empty() ? "" : " (" + why + ")");
        return false;
      }
      timeval tv{};
      tv.tv_sec = static_cast<decltype(tv.tv_sec)>(left.count() / 1'000'000);
      tv.tv_usec = static_cast<decltype(tv.tv_usec)>(left.count() % 1'000'000);
      c.reset(redisConnectWithTimeout(address.c_str(), port_, tv));
      if (c && !c->err) break;
      why = c ? std::string(c->errstr) : std::string("out of memory");
      c.reset();
    }
    if (!c) {
      res.status = fault::unreachable;
      res.message = "cannot connect to " + where + ": " + why;
      return false;
    }
    // Non-blocking from here on, so that no write blocks past the call's
    // deadline: a write sends what the socket takes and the loop polls for
    // the rest. Without REDIS_BLOCK, hiredis reads EAGAIN as "try again".
    const int flags = ::fcntl(c->fd, F_GETFL);
    if (flags < 0 || ::fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      res.status = fault::broken;
      res.message = std::string("cannot make the socket non-blocking: ") + std::strerror(errno);
      return false;
    }
    c->flags &= ~REDIS_BLOCK;
    ctx_ = std::move(c);
    return true;
  }

  /// An idle connection with something to read (no reply is due: the
  /// server's close, or bytes out of step) or hung up.
  bool closed_by_peer() const noexcept {
    pollfd p{ctx_->fd, POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;  // ready, hung up, or the poll failed
  }

  pipeline_result& fail(pipeline_result& res, fault f, std::string why) {
    res.status = f;
    res.message = std::move(why);
    res.replies.clear();
    ctx_.reset();  // never read a late reply as the next call's
    return res;
  }

  std::string error_text() const {
    if (ctx_ && ctx_->err) return std::string(ctx_->errstr);
    return "connection closed";
  }

  /// Waits until the socket is ready for `events` or the deadline passes.
  bool wait(short events, std::chrono::steady_clock::time_point deadline) const {
    for (;;) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) return false;
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{};
      ts.tv_sec = static_cast<decltype(ts.tv_sec)>(ns / 1'000'000'000);
      ts.tv_nsec = static_cast<decltype(ts.tv_nsec)>(ns % 1'000'000'000);
      pollfd p{ctx_->fd, events, 0};
      const int r = ppoll(&p, 1, &ts, nullptr);
      if (r > 0) return true;  // ready, or an error the next read/write reports
      if (r < 0 && errno != EINTR) return false;
    }
  }

  static reply convert(const redisReply* r) {
    reply out;
    switch (r->type) {
      case REDIS_REPLY_INTEGER:
        out.type = reply::kind::integer;
        out.integer = r->integer;
        break;
      case REDIS_REPLY_STRING:
        out.type = reply::kind::string;
        out.str.assign(r->str, r->len);
        break;
      case REDIS_REPLY_STATUS:
        out.type = reply::kind::status;
        out.str.assign(r->str, r->len);
        break;
      case REDIS_REPLY_ERROR:
        out.type = reply::kind::error;
        out.str.assign(r->str, r->len);
        break;
      case REDIS_REPLY_ARRAY:
        out.type = reply::kind::array;
        out.elements.reserve(r->elements);
        for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
        break;
      default:
        out.type = reply::kind::nil;
        break;
    }
    return out;
  }

  std::string host_;
  int port_;
  std::chrono::microseconds connect_timeout_;
  std::unique_ptr<redisContext, context_free> ctx_;
  std::chrono::microseconds idle_check_;
  std::chrono::steady_clock::time_point last_used_{};
};

/// A fixed set of hiredis_connections shared by any number of threads: each
/// pipeline() borrows an idle connection (waiting for one at most the call's
/// timeout; a fault::timeout if none frees up) and returns it afterwards.
///
/// Complexity: one lock to borrow and one to return per call.
/// Thread safety: thread-safe.
/// Bad input: a size of 0 or above 65536 throws std::invalid_argument (as do
/// hiredis_connection's, and its pipeline()'s empty command); a bool, a
/// character or a floating-point size does not compile.
class hiredis_pool {
 public:
  /// The most connections a pool holds (Redis's default client limit is 10000).
  static constexpr std::size_t max_size = 65536;

  /// A bool, a character or a floating-point number as the size does not
  /// compile (it would convert to std::size_t silently: 2.9 would be 2, '4' 52).
  template <surge::detail::not_a_count N>
  hiredis_pool(std::string host, int port, const N&, std::chrono::microseconds connect_timeout = {},
               std::chrono::microseconds idle_check = {})
      : hiredis_pool(std::move(host), port, 1u, connect_timeout, idle_check) {
    static_assert(surge::detail::refused_count<N>,
                  "surge::redis::hiredis_pool: the size must be an integer, not a bool, a character or a "
                  "floating-point number");
  }
  /// `size` connections to host:port, each opened lazily on its first use.
  /// Throws std::invalid_argument when size is 0 or above 65536 (past any
  /// server's client limit), or for a bad host, port or connect_timeout or
  /// idle_check (as hiredis_connection).
  hiredis_pool(std::string host, int port, std::size_t size,
               std::chrono::microseconds connect_timeout = std::chrono::milliseconds(100),
               std::chrono::microseconds idle_check = std::chrono::milliseconds(100)) {
    if (size == 0 || size > max_size)
      throw std::invalid_argument("surge::redis::hiredis_pool: size must be in [1, 65536]");
    all_.reserve(size);
    idle_.reserve(size);
    for (std::size_t i = 0; i < size; ++i) {
      all_.push_back(std::make_unique<hiredis_connection>(host, port, connect_timeout, idle_check));
      idle_.push_back(all_.back().get());
    }
  }

  /// hiredis_connection::pipeline on a borrowed connection, the wait for one
  /// counted in `timeout`.
  pipeline_result pipeline(std::span<const command> cmds, std::chrono::microseconds timeout) {
    using steady = std::chrono::steady_clock;
    timeout = std::min(timeout, longest_timeout);
    const auto start = steady::now();
    hiredis_connection* c = nullptr;
    {
      std::unique_lock lock(mutex_);
      if (!ready_.wait_for(lock, timeout, [&] { return !idle_.empty(); })) {
        pipeline_result r;
        r.status = fault::timeout;
        r.message = "no idle connection in the pool within the timeout";
        return r;
      }
      c = idle_.back();
      idle_.pop_back();
    }
    struct give_back {  // also when the call throws (std::bad_alloc): the pool keeps its size
      hiredis_pool& pool;
      hiredis_connection* c;
      ~give_back() {
        {
          std::lock_guard lock(pool.mutex_);
          pool.idle_.push_back(c);  // capacity reserved: never allocates
        }
        pool.ready_.notify_one();
      }
    } returned{*this, c};
    const auto left = timeout - std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start);
    return c->pipeline(cmds, std::max(left, std::chrono::microseconds(1)));
  }

  /// The number of connections, as constructed.
  [[nodiscard]] std::size_t size() const noexcept { return all_.size(); }

 private:
  std::vector<std::unique_ptr<hiredis_connection>> all_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<hiredis_connection*> idle_;
};

static_assert(connection<hiredis_connection>);
static_assert(connection<hiredis_pool>);

}  // namespace surge::redis

#endif  // SURGE_REDIS_HIREDIS_HPP
