// gateway_server's member definitions (included at the end of gateway.hpp).
#ifndef SURGE_EXAMPLES_GATEWAY_GATEWAY_IMPL_HPP
#define SURGE_EXAMPLES_GATEWAY_GATEWAY_IMPL_HPP

#include <cmath>
#include <cstdio>
#include <iterator>
#include <new>
#include <span>

#include <unistd.h>

namespace gateway {

namespace detail {

/// "a.b.c.d:port" as an endpoint; throws std::invalid_argument naming `what`.
inline tcp::endpoint parse_endpoint(const std::string& s, const char* what) {
  const std::size_t colon = s.rfind(':');
  const auto port =
      colon == std::string::npos ? std::nullopt : parse_number<unsigned>(std::string_view(s).substr(colon + 1));
  error_code ec;
  const auto addr =
      colon == std::string::npos ? asio::ip::address_v4{} : asio::ip::make_address_v4(s.substr(0, colon), ec);
  if (!port || *port == 0 || *port > 65535 || ec)
    throw std::invalid_argument(std::string(what) + ": \"" + s + "\" is not an IPv4 address:port");
  return {addr, static_cast<std::uint16_t>(*port)};
}

/// Puts an absolute-form target (`http://host:port/path?q`, which a server
/// must accept: RFC 9112 3.2.2) in origin-form (`/path?q`; `/?q` when the
/// path is empty), with its authority (less any userinfo) as the Host,
/// which it replaces; so the cache, the balancer and the backend see one
/// target per resource. Other targets are left as they are.
template <class Request>
void to_origin_form(Request& req) {
  const std::string_view target = sv(req.target());
  const std::size_t scheme_end = target.find("://");
  const std::string_view scheme = target.substr(0, scheme_end);
  if (scheme_end == std::string_view::npos ||
      !(beast::iequals(beast::string_view(scheme.data(), scheme.size()), "http") ||
        beast::iequals(beast::string_view(scheme.data(), scheme.size()), "https")))
    return;
  const std::string_view rest = target.substr(scheme_end + 3);
  const std::size_t authority_end = std::min(rest.find_first_of("/?"), rest.size());
  std::string_view authority = rest.substr(0, authority_end);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string origin(rest.substr(authority_end));
  if (origin.empty() || origin.front() == '?') origin.insert(0, 1, '/');
  const std::string host(authority);
  req.target(origin);
  req.set(http::field::host, host);
}

/// Whether `host` is a Host field value, uri-host [":" port] (RFC 9112 3.2,
/// RFC 3986 3.2.2): a name or IPv4 address of letters, digits, `-._~%` and
/// `!$&'()*+,;=`, or an IP literal in brackets (those and `:`), then an
/// optional `:` and digits; or empty, as for a target without an authority.
inline bool valid_host(std::string_view host) noexcept {
  const auto allowed = [](char c, std::string_view others) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           others.find(c) != std::string_view::npos;
  };
  const std::size_t open = !host.empty() && host.front() == '[' ? 1 : 0;
  const std::size_t end = open ? host.find(']') : std::min(host.find(':'), host.size());  // of the name
  if (end == std::string_view::npos) return false;
  for (const char c : host.substr(open, end - open))
    if (!allowed(c, open ? "-._~%!$&'()*+,;=:" : "-._~%!$&'()*+,;=")) return false;
  const std::string_view port = host.substr(end + open);
  if (port.empty()) return true;
  if (port.front() != ':') return false;
  for (const char c : port.substr(1))
    if (c < '0' || c > '9') return false;
  return true;
}

/// Hop-by-hop headers: never forwarded (RFC 9110 7.6.1).
inline bool hop_by_hop(http::field f) noexcept {
  switch (f) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::proxy_authorization:
    case http::field::proxy_authenticate:
      return true;
    default:
      return false;
  }
}

/// Calls f(token) for each non-empty element of the comma-separated lists in
/// every `name` field of `fields`, spaces and tabs around it trimmed.
template <class Fields, class F>
void for_each_token(const Fields& fields, http::field name, F f) {
  for (const auto& field : fields) {
    if (field.name() != name) continue;
    const std::string_view v = sv(field.value());
    for (std::size_t pos = 0; pos <= v.size();) {
      const std::size_t comma = std::min(v.find(',', pos), v.size());
      std::string_view token = v.substr(pos, comma - pos);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
      if (!token.empty()) f(token);
      pos = comma + 1;
    }
  }
}

/// True when `fields` name a transfer coding besides chunked (`gzip,
/// chunked`): the gateway undoes the chunked framing only, and passed on
/// without its Transfer-Encoding the rest of the coding would go unsaid.
template <class Fields>
bool other_transfer_coding(const Fields& fields) {
  bool other = false;
  for_each_token(fields, http::field::transfer_encoding, [&other](std::string_view t) {
    other |= !beast::iequals(beast::string_view(t.data(), t.size()), "chunked");
  });
  return other;
}

/// Drops the hop-by-hop headers, those the Connection header names (e.g.
/// `Connection: close, X-Trace` drops X-Trace too) but Host, and Expect: the
/// gateway has read the whole body already, so the next hop need not ask
/// for it. Host names the resource for every hop, so it is never a
/// connection option (RFC 9110 7.6.1): dropped, it would leave the next hop
/// a request for no site.
template <class Fields>
void strip_hop_by_hop(Fields& fields) {
  std::vector<std::string> named;
  for_each_token(fields, http::field::connection, [&named](std::string_view t) {
    if (!beast::iequals(beast::string_view(t.data(), t.size()), "host")) named.emplace_back(t);
  });
  for (const std::string& n : named) fields.erase(n);
  fields.erase(http::field::expect);
  for (auto it = fields.begin(); it != fields.end();) {
    if (hop_by_hop(it->name()))
      it = fields.erase(it);
    else
      ++it;
  }
}

/// Drops the fields past the first `n`: those Beast's parser added from the
/// trailer section of a chunked body. A recipient must not merge trailer
/// fields into the header section (RFC 9110 6.5.1), and the gateway, which
/// sends every body with its length, has nowhere else to put them.
template <class Fields>
void drop_trailers(Fields& fields, std::size_t n) {
  auto it = fields.begin();
  for (; n > 0 && it != fields.end(); --n) ++it;
  while (it != fields.end()) it = fields.erase(it);
}

/// Whether a cache shared by every client may keep `res` as the answer to
/// `req`'s target for anyone (RFC 9111 3, 3.5 and 5.2.1.5): not when the
/// request carried credentials (Authorization) or said Cache-Control:
/// no-store, nor when the answer sets a cookie, varies with request headers
/// (Vary: the key is the Host and target), or says Cache-Control: no-store,
/// no-cache or private.
template <class Request, class Response>
bool shareable(const Request& req, const Response& res) {
  if (req.count(http::field::authorization) || res.count(http::field::set_cookie) || res.count(http::field::vary))
    return false;
  bool ok = true;
  const auto directive = [](std::string_view t) {
    return beast::string_view(t.data(), std::min(t.find('='), t.size()));
  };
  for_each_token(req, http::field::cache_control,
                 [&](std::string_view t) { ok &= !beast::iequals(directive(t), "no-store"); });
  for_each_token(res, http::field::cache_control, [&](std::string_view t) {
    if (beast::iequals(directive(t), "no-store") || beast::iequals(directive(t), "no-cache") ||
        beast::iequals(directive(t), "private"))
      ok = false;
  });
  return ok;
}

/// True when idle connection `s` (in non-blocking mode) has nothing to read:
/// neither the peer's close nor bytes nobody asked for.
inline bool quiet(pool_socket& s) {
  char c;
  error_code ec;
  s.receive(asio::buffer(&c, 1), pool_socket::message_peek, ec);
  return ec == asio::error::would_block;
}

/// True when `m` has a Content-Length equal to its body's size.
template <class Message>
bool states_length(const Message& m) {
  const auto it = m.find(http::field::content_length);
  return it != m.end() && parse_number<std::size_t>(sv(it->value())) == m.body().size();
}

inline void append_double(std::string& out, double v) {
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%.9g", v);
  out.append(buf, static_cast<std::size_t>(n > 0 ? n : 0));
}

}  // namespace detail

inline gateway_server::gateway_server(gateway_options o) : o_(std::move(o)), pool_(o_.threads) {
  check_options();
  const std::size_t n = o_.backends.size();
  for (std::size_t i = 0; i < n; ++i) {
    surge::circuit_breaker_options b = o_.breaker;
    b.on_state_change = [this, i, user = o_.breaker.on_state_change](surge::breaker_state from,
                                                                     surge::breaker_state to) {
      set_down(i, to == surge::breaker_state::open || to == surge::breaker_state::forced_open);
      if (user) user(from, to);
    };
    const tcp::endpoint endpoint = detail::parse_endpoint(o_.backends[i], "backends");
    for (const auto& other : backends_)
      if (other->endpoint == endpoint)
        throw std::invalid_argument("gateway_options: backends: " + o_.backends[i] +
                                    " repeats an earlier backend's address");
    backends_.push_back(std::make_unique<backend>(o_.backends[i], endpoint, std::move(b)));
  }
  switch (o_.balancer) {
    case balancer_kind::p2c:
      break;  // one per worker, below
    case balancer_kind::maglev:
      maglev_ = std::make_unique<surge::maglev<>>(n);
      break;
    case balancer_kind::wrr:
      wrr_ = std::make_unique<surge::shared_weighted_round_robin>(n);
      break;
    case balancer_kind::least_conn:
      least_ = std::make_unique<surge::least_connections>(n);
      break;
  }
  const time_point now = o_.clock();
  if (o_.cache) cache_ = std::make_unique<cache_type>(o_.cache_capacity);
  if (o_.limit) keyed_ = std::make_unique<keyed_type>(surge::token_bucket<>(o_.rate, o_.burst, now), o_.limit_max_keys);
  if (o_.adaptive) limiter_ = std::make_unique<limiter_type>(surge::aimd_limit(o_.adaptive_limit));
  budget_ = std::make_unique<surge::retry_budget>(o_.retry_budget_tokens, o_.retry_budget_ratio);
  // the deadline sweep's tick: a tenth of the shortest timeout, at most 100 ms
  const auto shortest = std::min({o_.idle_timeout, o_.connect_timeout, o_.upstream_timeout});
  const auto tick = std::clamp(shortest / 10, std::chrono::milliseconds(1), std::chrono::milliseconds(100));
  for (std::size_t i = 0; i < o_.threads; ++i) {
    workers_.push_back(std::make_unique<worker>(n, now, tick));
    if (o_.balancer == balancer_kind::p2c)
      workers_.back()->p2c = std::make_unique<surge::power_of_two_choices>(
          n, surge::power_of_two_options{.seed = surge::power_of_two_options{}.seed + i});
  }
  // each thread's deadline sweep starts before the threads run (its timer is
  // that thread's alone from then on), so a sweep that cannot start (no file
  // descriptor left for its context's reactor) fails the construction
  // instead of leaving its thread without timeouts
  try {
    for (std::size_t i = 0; i < o_.threads; ++i) workers_[i]->deadlines.start(pool_.context(i));
    pool_.start(o_.port, [this](pool_socket s, std::size_t w) {
      asio::co_spawn(s.get_executor(), session(std::move(s), w), asio::detached);
    });
  } catch (...) {
    stop();  // the sweeps started go before their contexts
    throw;
  }
}

inline void gateway_server::check_options() const {
  const auto bad = [](const std::string& what) { throw std::invalid_argument("gateway_options: " + what); };
  if (o_.backends.empty() || o_.backends.size() > 64) bad("backends must hold 1 to 64 addresses");
  if (!o_.clock) bad("clock must be set");
  if (o_.cache_ttl.count() <= 0) bad("cache_ttl must be > 0");
  if (o_.cache && o_.cache_capacity == 0) bad("cache_capacity must be >= 1");
  if (o_.client_header.empty()) bad("client_header must not be empty");
  if (o_.header_limit < 256) bad("header_limit must be >= 256");
  if (o_.idle_timeout.count() <= 0) bad("idle_timeout must be > 0");
  if (o_.connect_timeout.count() <= 0) bad("connect_timeout must be > 0");
  if (o_.upstream_timeout.count() <= 0) bad("upstream_timeout must be > 0");
  if (o_.retries > 16) bad("retries must be <= 16");
  // rate, burst, limit_max_keys, the breaker, adaptive and retry budget
  // options are checked by surge's own constructors
}

inline void gateway_server::stop() {
  pool_.stop([this] {
    // pooled connections and the deadline sweeps belong to the contexts
    // about to go
    for (auto& w : workers_) {
      for (auto& per_backend : w->idle) per_backend.clear();
      w->deadlines.stop();
    }
  });
}

inline std::uint64_t gateway_server::backend_requests(std::size_t i) const {
  std::uint64_t sum = 0;
  for (const auto& w : workers_) sum += w->backend_requests.at(i).get();
  return sum;
}

inline std::uint64_t gateway_server::requests(outcome o) const {
  std::uint64_t sum = 0;
  for (const auto& w : workers_) sum += w->outcomes[static_cast<std::size_t>(o)].get();
  return sum;
}

// ---- balancing -------------------------------------------------------------

inline void gateway_server::set_down(std::size_t i, bool down) {
  const std::lock_guard lock(backends_[i]->marking);
  mark_down(i, down);
}

inline void gateway_server::mark_down(std::size_t i, bool down) {
  backend& b = *backends_[i];
  if (down) {
    b.revive_at.store(add_saturated(o_.clock(), o_.breaker.wait_in_open).time_since_epoch().count(),
                      std::memory_order_relaxed);
  }
  if (b.down.exchange(down) == down) return;
  down_count_.fetch_add(down ? 1 : std::size_t(-1), std::memory_order_relaxed);
  for (auto& w : workers_)
    if (w->p2c) w->p2c->set_healthy(i, !down);
  if (maglev_) maglev_->set_healthy(i, !down);
  if (least_) least_->set_healthy(i, !down);
  if (wrr_) {
    try {
      wrr_->set_healthy(i, !down);
    } catch (const std::bad_alloc&) {
      // out of memory rebuilding its table, it changed nothing (and the
      // breaker's listener, which calls this, must not throw): the mark is
      // undone, so a backend left up is still refused by its breaker (choose
      // moves on) and one left down is tried again by the next revive_due
      b.down.store(!down);
      down_count_.fetch_add(down ? std::size_t(-1) : 1, std::memory_order_relaxed);
    }
  }
}

// A backend whose breaker opened is out of the balancer until its wait is
// over; then it is back in, and the breaker's own half-open probes decide.
inline void gateway_server::revive_due(time_point now) {
  if (down_count_.load(std::memory_order_relaxed) == 0) return;
  const auto t = now.time_since_epoch().count();
  for (std::size_t i = 0; i < backends_.size(); ++i) {
    backend& b = *backends_[i];
    if (!b.down.load(std::memory_order_relaxed) || b.revive_at.load(std::memory_order_relaxed) >= t) continue;
    // again under the lock: a breaker that opened again meanwhile has moved
    // revive_at on
    const std::lock_guard lock(b.marking);
    if (b.revive_at.load(std::memory_order_relaxed) < t) mark_down(i, false);
  }
}

inline surge::backend_lease gateway_server::pick(worker& w, std::string_view path, std::size_t& index) {
  if (w.p2c) {
    surge::backend_lease l = w.p2c->pick();
    index = l.index();
    return l;
  }
  if (least_) {
    surge::backend_lease l = least_->pick();
    index = l.index();
    return l;
  }
  index = maglev_ ? maglev_->pick(path) : wrr_->pick();
  return {};
}

inline std::optional<gateway_server::choice> gateway_server::choose(worker& w, std::string_view path,
                                                                    std::uint64_t tried, time_point now) {
  revive_due(now);
  const std::size_t n = backends_.size();
  choice c;
  std::size_t start = 0;
  // the balancer's choice, twice if it repeats an already tried backend
  for (int attempt = 0; attempt < 2; ++attempt) {
    c.lease = pick(w, path, c.index);
    if (c.index >= n) break;
    start = c.index;
    if ((tried >> c.index) & 1u) continue;
    c.permit = backends_[c.index]->breaker.try_acquire(now);
    if (c.permit) return c;
  }
  // then the others in turn (a breaker that refuses is skipped); the
  // balancers can lease only a backend they picked, so least-connections and
  // p2c do not count an attempt chosen here among its backend's in flight
  c.lease = {};
  for (std::size_t k = 1; k <= n; ++k) {
    const std::size_t i = (start + k) % n;
    if ((tried >> i) & 1u) continue;
    c.permit = backends_[i]->breaker.try_acquire(now);
    if (c.permit) {
      c.index = i;
      return c;
    }
  }
  return std::nullopt;
}

// ---- upstream ----------------------------------------------------------------

inline gateway_server::task<gateway_server::upstream_result> gateway_server::exchange(worker& w, std::size_t i,
                                                                                      const request& req) {
  upstream_result r;
  auto& idle = w.idle[i];
  for (int attempt = 0; attempt < 2; ++attempt) {
    // a request that cannot be sent twice first checks its pooled
    // connection: one the backend closed meanwhile (or sent something unasked
    // on) has something to read, and the others pooled with it are as old, so
    // drop them all (an idempotent request skips the syscall: a stale
    // connection costs it a second attempt below)
    if (!idle.empty() && !idempotent(req.method()) && !detail::quiet(idle.back()->socket)) idle.clear();
    stream_ptr conn;
    const bool reused = !idle.empty();
    if (reused) {
      conn = std::move(idle.back());
      idle.pop_back();
    } else {
      conn = std::make_unique<upstream>(co_await asio::this_coro::executor, w.deadlines);
      conn->timeout.after(o_.connect_timeout);
      co_await conn->socket.async_connect(backends_[i]->endpoint, on_done(r.ec));
      if (conn->timeout.expired(r.ec) || r.ec) co_return r;
      // the connect left the socket registered for writability too (the
      // reactor asks for it while a connect or a write waits, and never drops
      // it): every ACK that frees send space would then wake the io thread
      // for nothing. Handing the descriptor back and in again registers it
      // for reads only, as an accepted socket is (two syscalls per new
      // connection, against one wakeup per request on a pooled one)
      const auto fd = conn->socket.release(r.ec);
      if (r.ec) co_return r;
      conn->socket.assign(tcp::v4(), fd, r.ec);
      if (r.ec) {
        ::close(fd);  // assign() leaves a descriptor it could not register
        co_return r;
      }
      conn->socket.set_option(tcp::no_delay(true), r.ec);
      conn->socket.non_blocking(true, r.ec);  // for quiet(): async operations do not mind
    }
    conn->timeout.after(o_.upstream_timeout);
    co_await async_write_message<true, executor>(conn->socket, conn->head, req, r.ec);
    // interim answers (100 Continue, 103 Early Hints) are read past: the
    // final one follows on the same connection
    std::optional<http::response_parser<http::string_body>> parser;
    // a chunked answer's trailer fields join its header's: counted as its
    // first chunk starts, the header's are told from them
    std::size_t header_fields = 0;
    auto count_header = [&](std::uint64_t, beast::string_view, error_code&) {
      if (header_fields == 0)
        header_fields = static_cast<std::size_t>(std::distance(parser->get().begin(), parser->get().end()));
    };
    while (!r.ec) {
      parser.emplace();
      parser->body_limit(64 * 1024 * 1024);
      if (req.method() == http::verb::head) parser->skip(true);
      parser->on_chunk_header(count_header);
      co_await http::async_read(conn->socket, conn->buffer, *parser, on_done(r.ec));
      const unsigned code = r.ec ? 0 : parser->get().result_int();
      if (code < 100 || code >= 200 || code == 101) break;
    }
    conn->timeout.expired(r.ec);
    // a pooled connection can still close as the request goes out, and
    // whether the backend read it first cannot be told: an idempotent
    // request is tried once more on a fresh connection, any other fails
    if (r.ec && reused && idempotent(req.method()) &&
        (r.ec == http::error::end_of_stream || r.ec == asio::error::connection_reset ||
         r.ec == asio::error::broken_pipe || r.ec == asio::error::eof)) {
      idle.clear();
      continue;
    }
    if (r.ec) co_return r;
    // a 101 switches the connection to another protocol, which the gateway
    // never asks for (it drops the client's Upgrade): a broken answer
    if (parser->get().result() == http::status::switching_protocols) {
      r.ec = http::error::bad_status;
      co_return r;
    }
    if (detail::other_transfer_coding(parser->get())) {
      r.ec = http::error::bad_transfer_encoding;
      co_return r;
    }
    // the parser's keep_alive, not the answer's: an answer without a length
    // ended where the backend closed the connection, whatever its fields say
    const bool open = parser->keep_alive();
    r.res = parser->release();
    if (header_fields != 0) detail::drop_trailers(r.res, header_fields);
    if (open && conn->buffer.size() == 0 && idle.size() < o_.max_idle_per_backend) {
      conn->timeout.never();
      idle.push_back(std::move(conn));
    }
    co_return r;
  }
  co_return r;
}

// ---- the request path ----------------------------------------------------------

inline gateway_server::response gateway_server::reply(const request& req, http::status s, std::string_view body) const {
  response res(s, req.version());
  res.set(http::field::server, "surge_gateway");
  res.set(http::field::content_type, "text/plain");
  res.body() = std::string(body);
  res.prepare_payload();
  // an answer to a HEAD has no body (RFC 9110 9.3.2), only the length a GET's would have
  if (req.method() == http::verb::head) res.body().clear();
  return res;
}

inline void gateway_server::count(worker& w, outcome o, time_point start, time_point now) {
  w.outcomes[static_cast<std::size_t>(o)].add();
  const auto ns = now > start ? std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count() : 0;
  w.latency.record(ns);
  w.latency_sum_ns.add(static_cast<std::uint64_t>(ns));
  w.meter.mark(1, now);
}

inline gateway_server::task<gateway_server::response> gateway_server::handle(worker& w, request& req,
                                                                             const std::string& peer) {
  const time_point start = o_.clock();
  const std::string_view target = sv(req.target());
  const unsigned version = req.version();

  // 0. a body in a transfer coding besides chunked: not implemented (RFC
  // 9112 6.1)
  if (detail::other_transfer_coding(req)) {
    count(w, outcome::bad_request, start);
    co_return reply(req, http::status::not_implemented, "transfer coding not supported (only chunked)\n");
  }

  // 1. adaptive concurrency limit, in front of everything
  limiter_type::token token;
  if (limiter_) {
    token = limiter_->try_acquire(start);
    if (!token) {
      count(w, outcome::shed, start);
      co_return reply(req, http::status::service_unavailable, "overloaded: concurrency limit reached\n");
    }
  }
  w.inflight.add();
  struct inflight_guard {
    counter& c;
    ~inflight_guard() { c.sub(); }
  } guard{w.inflight};

  // 2. per-client rate limit
  if (keyed_) {
    const auto it = req.find(o_.client_header);
    std::string key = it != req.end() ? std::string(sv(it->value())) : peer;
    if (!keyed_->try_acquire(key, 1, start)) {
      const auto wait = keyed_->time_until_available(key, 1, start);
      const double secs = std::chrono::duration<double>(wait).count();
      const long long retry_after = std::max(1LL, static_cast<long long>(std::ceil(std::min(secs, 1e9))));
      w.limiter_rejections.add();
      token.ignore();
      response res = reply(req, http::status::too_many_requests, "rate limited\n");
      res.set(http::field::retry_after, std::to_string(retry_after));
      count(w, outcome::limited, start);
      co_return res;
    }
  }

  // 3. the response cache (GET only), keyed by resource: the Host, a space
  // and the target (RFC 9111 2), so one site's answer is never another's
  // (no target holds a space, so a key has one reading)
  const bool cacheable = cache_ && req.method() == http::verb::get;
  std::string cache_key;
  if (cache_) cache_key = std::string(sv(req[http::field::host])) + ' ' + std::string(target);
  if (cacheable) {
    if (auto hit = cache_->get(cache_key)) {
      if ((*hit)->expires > start) {
        w.cache_hits.add();
        response res = (*hit)->res;
        res.version(req.version());
        res.set("X-Cache", "HIT");
        // its age: the backend's Age plus its time here, in whole seconds,
        // at most 2^31 (RFC 9111 4.2.3 and 5.1)
        constexpr std::uint64_t max_age = std::uint64_t{1} << 31;
        const std::uint64_t given = parse_number<std::uint64_t>(sv(res[http::field::age])).value_or(0);
        const std::int64_t here = std::chrono::duration_cast<std::chrono::seconds>(start - (*hit)->stored).count();
        const std::uint64_t age =
            std::min(given, max_age) + static_cast<std::uint64_t>(std::max<std::int64_t>(here, 0));
        res.set(http::field::age, std::to_string(std::min(age, max_age)));
        token.ignore();
        count(w, outcome::ok, start);
        co_return res;
      }
      cache_->erase(cache_key);
    }
    w.cache_misses.add();
  }

  // 4-6. balancer, breakers, retries
  const std::string_view path = target.substr(0, target.find('?'));
  const bool retryable = idempotent(req.method());
  const std::size_t attempts = retryable ? 1 + o_.retries : 1;
  // the body is whole: it is sent with its length, 0 included, whatever
  // framed it (a chunked one's Transfer-Encoding goes with the hop-by-hop
  // headers, and so does a Content-Length the Connection header names)
  const bool framed = req.chunked() || req.has_content_length();
  detail::strip_hop_by_hop(req);
  if (framed) req.content_length(req.body().size());
  req.keep_alive(true);
  req.version(11);
  // an HTTP/1.0 request may lack a Host; going on as HTTP/1.1 it must have
  // one: empty, as for a target without an authority (RFC 9112 3.2)
  if (req.find(http::field::host) == req.end()) req.set(http::field::host, "");
  std::uint64_t tried = 0;
  std::optional<upstream_result> last;
  bool failed = true;
  bool too_large = false;
  for (std::size_t attempt = 0; attempt < attempts; ++attempt) {
    std::optional<choice> c = choose(w, path, tried, o_.clock());
    if (!c) break;
    if (attempt > 0) w.retries.add();
    tried |= std::uint64_t{1} << c->index;
    w.backend_requests[c->index].add();
    w.backend_inflight[c->index].add();
    upstream_result r = co_await exchange(w, c->index, req);
    w.backend_inflight[c->index].sub();
    const time_point now = o_.clock();
    failed = r.ec || r.res.result_int() >= 500;
    // an answer over the gateway's limits says nothing of the backend's
    // health, and another backend would give the same: no outcome for its
    // breaker (nor the concurrency limit), no retry
    too_large = r.ec == http::error::header_limit || r.ec == http::error::body_limit;
    if (too_large)
      c->permit.release();
    else if (failed)
      c->permit.failure(now);
    else
      c->permit.success(now);
    last = std::move(r);
    if (!failed) {
      budget_->on_success();
      break;
    }
    if (!retryable || too_large) break;
    // every failed attempt takes a token, the last one too (gRPC's retry
    // throttling; a POST, never retried, leaves the budget alone)
    const bool allowed = budget_->on_failure();
    if (attempt + 1 == attempts) break;
    if (!allowed) {
      w.budget_exhausted.add();
      break;
    }
  }

  req.version(version);
  const time_point end = o_.clock();
  if (!last || too_large)
    token.ignore();  // nothing was sent, or the answer was not taken: says nothing about latency
  else if (failed)
    token.dropped(end);
  else
    token.success(end);
  if (!last) {
    count(w, outcome::unavailable, start, end);
    co_return reply(req, http::status::service_unavailable, "no backend available (all circuit breakers open)\n");
  }
  if (last->ec) {
    count(w, outcome::error, start, end);
    co_return reply(req, http::status::bad_gateway, "backend failed: " + last->ec.message() + "\n");
  }
  response res = std::move(last->res);
  // asked before the fields its Connection header names go: those were for
  // the gateway, a cache every client shares
  const bool shareable = cacheable && detail::shareable(req, res);
  detail::strip_hop_by_hop(res);
  res.version(version);
  // the body is whole now: Content-Length replaces any chunked framing (a
  // HEAD answer or a 304 keeps the backend's length of the body it did not
  // send, and a 1xx or 204, which must not carry one, loses any it was
  // given: RFC 9110 8.6); an answer that already says its length, as most
  // do, is left as it is
  const bool no_length = http::to_status_class(res.result()) == http::status_class::informational ||
                         res.result() == http::status::no_content;
  if (no_length)
    res.erase(http::field::content_length);
  else if (req.method() != http::verb::head && res.result() != http::status::not_modified &&
           !detail::states_length(res))
    res.prepare_payload();
  if (cacheable) {
    res.set("X-Cache", "MISS");
    if (res.result() == http::status::ok && res.body().size() <= o_.cache_max_body && shareable)
      cache_->put(cache_key,
                  std::make_shared<const cached_response>(cached_response{res, add_saturated(end, o_.cache_ttl), end}));
  }
  // an unsafe request that succeeded (or was redirected) has changed its
  // target: the stored answer is stale (RFC 9111 4.4)
  if (cache_ && !safe(req.method()) && res.result_int() < 400) cache_->erase(cache_key);
  count(w, failed ? outcome::error : outcome::ok, start, end);
  co_return res;
}

inline gateway_server::task<void> gateway_server::session(pool_socket socket, std::size_t wi) {
  worker& w = *workers_[wi];
  error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  const std::string peer = ec ? std::string("unknown") : remote.address().to_string();
  deadline_list::deadline timeout(w.deadlines, socket);
  beast::flat_buffer buffer;
  std::string head;  // the answers' start lines and fields, one write each
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(o_.header_limit, UINT32_MAX)));
    parser.body_limit(o_.body_limit);
    timeout.after(o_.idle_timeout);
    co_await http::async_read_header(socket, buffer, parser, on_done(ec));
    // a chunked body's trailer fields will join the header's: these are the
    // header's
    const std::size_t header_fields =
        !ec && parser.chunked() ? static_cast<std::size_t>(std::distance(parser.get().begin(), parser.get().end())) : 0;
    // a Transfer-Encoding that does not end in chunked leaves the body's
    // length unknown: 400, and the connection closes (RFC 9112 6.3)
    if (!ec && parser.get().count(http::field::transfer_encoding) != 0 && !parser.chunked())
      ec = http::error::bad_transfer_encoding;
    if (!ec && !parser.is_done()) {
      // a client that waits to be asked for its body (and has sent none of
      // it yet) is asked: every body is read whole before anything else
      if (buffer.size() == 0 && parser.get().version() >= 11 &&
          beast::iequals(parser.get()[http::field::expect], "100-continue"))
        co_await asio::async_write(socket, asio::buffer(std::string_view("HTTP/1.1 100 Continue\r\n\r\n")),
                                   on_done(ec));
      if (!ec) co_await http::async_read(socket, buffer, parser, on_done(ec));
    }
    if (timeout.expired(ec) || ec) {
      // a malformed or oversized request gets an answer, then the connection
      // closes; a timeout, a reset or a close just ends it
      if (ec.category() != http::make_error_code(http::error::bad_method).category() ||
          ec == http::error::end_of_stream || ec == http::error::partial_message)
        break;
      const time_point start = o_.clock();
      http::status s = http::status::bad_request;
      if (ec == http::error::header_limit) s = http::status::request_header_fields_too_large;
      if (ec == http::error::body_limit) s = http::status::payload_too_large;
      // as reply() makes it: without its body when the start line read
      // says HEAD
      response res = reply(parser.get(), s, "bad request: " + ec.message() + "\n");
      res.version(11);
      res.keep_alive(false);
      count(w, outcome::bad_request, start);
      timeout.after(std::chrono::seconds(5));
      co_await async_write_message<false, executor>(socket, head, res, ec);
      break;
    }
    request req = parser.release();
    if (header_fields != 0) detail::drop_trailers(req, header_fields);
    // an HTTP/1.1 request without a Host, any with more than one, or one
    // whose Host is not a host and port gets 400 (RFC 9112 3.2), whatever
    // its target: checked before an absolute-form target's authority
    // replaces them
    const std::size_t hosts = req.count(http::field::host);
    const bool bad_host = hosts > 1 || (hosts == 0 && req.version() >= 11) ||
                          (hosts == 1 && !detail::valid_host(sv(req[http::field::host])));
    detail::to_origin_form(req);
    // an HTTP/1.0 request with a Transfer-Encoding has faulty framing (a
    // hop in front may have framed it otherwise): it is answered, then the
    // connection closes (RFC 9112 6.1)
    const bool keep = req.keep_alive() && (req.version() >= 11 || req.count(http::field::transfer_encoding) == 0);
    // a client waiting for its answer is not idle: the upstream timeouts
    // bound the wait
    timeout.never();
    response res;
    if (bad_host) {
      count(w, outcome::bad_request, o_.clock());
      res = reply(req, http::status::bad_request, "bad request: exactly one valid Host header field is required\n");
    } else if (req.target() == "/metrics" && req.method() == http::verb::get)
      res = metrics_response(req);
    else
      res = co_await handle(w, req, peer);
    res.keep_alive(keep);
    timeout.after(o_.idle_timeout);
    co_await async_write_message<false, executor>(socket, head, res, ec);
    if (timeout.expired(ec) || ec || !keep) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

// ---- /metrics ----------------------------------------------------------------------

inline gateway_server::response gateway_server::metrics_response(const request& req) const {
  response res(http::status::ok, req.version());
  res.set(http::field::server, "surge_gateway");
  res.set(http::field::content_type, "text/plain; version=0.0.4");
  res.body() = metrics_text();
  res.prepare_payload();
  return res;
}

inline std::string gateway_server::metrics_text() const {
  std::string out;
  out.reserve(4096);
  const auto head = [&out](const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  const auto line = [&out](const std::string& name, double v) {
    out += name;
    out += ' ';
    detail::append_double(out, v);
    out += '\n';
  };
  const auto sum = [this](auto member) {
    std::uint64_t s = 0;
    for (const auto& w : workers_) s += ((*w).*member).get();
    return s;
  };

  head("surge_gateway_requests_total", "counter", "Requests answered, by outcome (/metrics not counted).");
  for (std::size_t i = 0; i < outcome_names.size(); ++i)
    line(std::string("surge_gateway_requests_total{outcome=\"") + outcome_names[i] + "\"}",
         static_cast<double>(requests(static_cast<outcome>(i))));

  surge::latency_histogram merged;
  for (const auto& w : workers_) merged.merge(w->latency);
  head("surge_gateway_latency_seconds", "summary", "Time from a request's arrival to its answer.");
  constexpr std::array<std::pair<const char*, double>, 4> quantiles{
      {{"0.5", 50.0}, {"0.9", 90.0}, {"0.99", 99.0}, {"0.999", 99.9}}};
  for (const auto& [label, p] : quantiles)
    line(std::string("surge_gateway_latency_seconds{quantile=\"") + label + "\"}",
         static_cast<double>(merged.value_at_percentile(p)) * 1e-9);
  line("surge_gateway_latency_seconds_sum", static_cast<double>(sum(&worker::latency_sum_ns)) * 1e-9);
  line("surge_gateway_latency_seconds_count", static_cast<double>(merged.count()));

  head("surge_gateway_throughput_rps", "gauge", "Requests answered per second (sliding window).");
  double rps = 0;
  const time_point now = o_.clock();
  for (const auto& w : workers_) rps += w->meter.rate(now);
  line("surge_gateway_throughput_rps", rps);

  std::vector<std::uint64_t> per_backend(backends_.size());
  head("surge_gateway_backend_requests_total", "counter", "Attempts sent to each backend (retries included).");
  for (std::size_t i = 0; i < backends_.size(); ++i) {
    per_backend[i] = backend_requests(i);
    line("surge_gateway_backend_requests_total{backend=\"" + backends_[i]->address + "\"}",
         static_cast<double>(per_backend[i]));
  }
  head("surge_gateway_backend_inflight", "gauge", "Attempts in flight to each backend.");
  for (std::size_t i = 0; i < backends_.size(); ++i) {
    std::uint64_t s = 0;
    for (const auto& w : workers_) s += w->backend_inflight[i].get();
    line("surge_gateway_backend_inflight{backend=\"" + backends_[i]->address + "\"}", static_cast<double>(s));
  }
  head("surge_gateway_backend_breaker_state", "gauge", "1 for each backend's current circuit breaker state.");
  for (std::size_t i = 0; i < backends_.size(); ++i) {
    const surge::breaker_state st = backends_[i]->breaker.state();
    for (auto s : {surge::breaker_state::closed, surge::breaker_state::open, surge::breaker_state::half_open})
      line("surge_gateway_backend_breaker_state{backend=\"" + backends_[i]->address + "\",state=\"" +
               std::string(surge::to_string(s)) + "\"}",
           st == s ? 1.0 : 0.0);
  }
  head("surge_gateway_balance_efficiency", "gauge", "Mean / max requests per backend (1 is perfectly even).");
  line("surge_gateway_balance_efficiency", surge::balance_efficiency(std::span<const std::uint64_t>(per_backend)));

  head("surge_gateway_concurrency_limit", "gauge", "The adaptive concurrency limit (0 when off).");
  line("surge_gateway_concurrency_limit", static_cast<double>(concurrency_limit()));
  head("surge_gateway_inflight", "gauge", "Requests in flight past the concurrency limiter.");
  line("surge_gateway_inflight", static_cast<double>(sum(&worker::inflight)));

  const std::uint64_t hits = sum(&worker::cache_hits), misses = sum(&worker::cache_misses);
  head("surge_gateway_cache_hits_total", "counter", "GET requests answered from the cache.");
  line("surge_gateway_cache_hits_total", static_cast<double>(hits));
  head("surge_gateway_cache_misses_total", "counter", "GET requests the cache could not answer.");
  line("surge_gateway_cache_misses_total", static_cast<double>(misses));
  head("surge_gateway_cache_hit_ratio", "gauge", "hits / (hits + misses).");
  line("surge_gateway_cache_hit_ratio", surge::hit_ratio(hits, misses));

  head("surge_gateway_limiter_rejections_total", "counter", "Requests refused with 429 by the per-client limit.");
  line("surge_gateway_limiter_rejections_total", static_cast<double>(sum(&worker::limiter_rejections)));
  head("surge_gateway_retries_total", "counter", "Attempts beyond each request's first.");
  line("surge_gateway_retries_total", static_cast<double>(sum(&worker::retries)));
  head("surge_gateway_retry_budget_exhausted_total", "counter", "Retries refused by the retry budget.");
  line("surge_gateway_retry_budget_exhausted_total", static_cast<double>(sum(&worker::budget_exhausted)));
  return out;
}

}  // namespace gateway

#endif  // SURGE_EXAMPLES_GATEWAY_GATEWAY_IMPL_HPP
