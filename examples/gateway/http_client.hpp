// A small synchronous HTTP/1.1 client (Boost.Beast) for the gateway's tests
// and tools: one keep-alive connection to 127.0.0.1:port, one request at a
// time, every socket operation bounded by a timeout.
#ifndef SURGE_EXAMPLES_GATEWAY_HTTP_CLIENT_HPP
#define SURGE_EXAMPLES_GATEWAY_HTTP_CLIENT_HPP

#include "io.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gateway {

/// A response as the client saw it.
struct http_reply {
  unsigned status = 0;
  http::fields headers;
  std::string body;
  bool keep_alive = false;

  /// The value of header `name`, or "" when absent.
  [[nodiscard]] std::string header(std::string_view name) const {
    const auto it = headers.find(beast::string_view(name.data(), name.size()));
    return it == headers.end() ? std::string() : std::string(sv(it->value()));
  }
};

/// Not thread-safe (one user at a time). Every call that talks to the server
/// throws boost::system::system_error on a network error or when `timeout`
/// passes (beast::error::timeout); the connection is then closed and the next
/// request reconnects.
class http_client {
 public:
  explicit http_client(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : endpoint_(asio::ip::make_address_v4("127.0.0.1"), port), timeout_(timeout) {}

  /// One request; reconnects first when the last answer closed the
  /// connection. `headers` are extra (name, value) pairs.
  http_reply request(http::verb method, std::string_view target,
                     const std::vector<std::pair<std::string, std::string>>& headers = {}, std::string body = {}) {
    http::request<http::string_body> req(method, beast::string_view(target.data(), target.size()), 11);
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = std::move(body);
    req.prepare_payload();
    ensure_connected();
    run([&](auto done) { http::async_write(*stream_, req, done); });
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (method == http::verb::head) parser.skip(true);
    run([&](auto done) { http::async_read(*stream_, buffer_, parser, done); });
    http::response<http::string_body> res = parser.release();
    http_reply r{res.result_int(), static_cast<http::fields&>(res), std::move(res.body()), res.keep_alive()};
    if (!r.keep_alive) close();
    return r;
  }

  /// request(GET, target, headers).
  http_reply get(std::string_view target, const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return request(http::verb::get, target, headers);
  }

  /// Sends raw bytes (connecting first if needed).
  void send_raw(std::string_view bytes) {
    ensure_connected();
    run([&](auto done) { asio::async_write(stream_->socket(), asio::buffer(bytes.data(), bytes.size()), done); });
  }

  /// Reads whatever the server sends until it closes the connection or
  /// `timeout` passes; returns it and whether the server closed.
  std::pair<std::string, bool> read_until_close() {
    std::string out;
    if (!stream_) return {out, true};
    out.append(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    buffer_.consume(buffer_.size());
    char chunk[4096];
    for (;;) {
      error_code ec;
      std::size_t n = 0;
      stream_->expires_after(timeout_);
      stream_->async_read_some(asio::buffer(chunk), [&](error_code e, std::size_t k) {
        ec = e;
        n = k;
      });
      ioc_.restart();
      ioc_.run();
      out.append(chunk, n);
      if (ec) {
        const bool closed = ec != beast::error::timeout;
        close();
        return {out, closed};
      }
    }
  }

  /// Whether a connection is open (the next request reuses it).
  [[nodiscard]] bool connected() const noexcept { return stream_ != nullptr; }

  /// Closes the connection abruptly (no shutdown handshake).
  void close() {
    if (!stream_) return;
    error_code ec;
    stream_->socket().close(ec);
    stream_.reset();
    buffer_.clear();
  }

 private:
  void ensure_connected() {
    if (stream_) return;
    stream_ = std::make_unique<beast::tcp_stream>(ioc_);
    run([&](auto done) { stream_->async_connect(endpoint_, done); });
    error_code ec;
    stream_->socket().set_option(tcp::no_delay(true), ec);
  }

  // Starts op(done) under the timeout and runs it to completion; throws on error.
  template <class Op>
  void run(Op op) {
    error_code result;
    stream_->expires_after(timeout_);
    op([&result](error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    if (result) {
      close();
      throw boost::system::system_error(result);
    }
  }

  asio::io_context ioc_{1};
  tcp::endpoint endpoint_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

}  // namespace gateway

#endif  // SURGE_EXAMPLES_GATEWAY_HTTP_CLIENT_HPP
