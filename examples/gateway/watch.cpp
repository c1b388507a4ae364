// surge_gateway_watch: a console view of a running surge_gateway.
//   surge_gateway_watch --gateway 127.0.0.1:PORT [--duration S] [--interval-ms MS]
// Scrapes the gateway's GET /metrics once per interval and prints one aligned
// line per scrape: throughput over the last interval, p50/p99 latency, cache
// hit ratio, in-flight requests and the adaptive concurrency limit, each
// backend's share of the attempts, and each backend's breaker state. When the
// duration is over (or on SIGINT/SIGTERM) it prints a summary of the whole run
// that applies the classic formulas of surge/metrics/formulas.hpp to what it
// measured: throughput = requests ÷ time, mean response time, Little's law
// (mean concurrency = throughput × mean latency, beside the in-flight count
// it sampled), hit ratio and balance efficiency.
//
// The client is a few lines of POSIX sockets (one short connection per
// scrape, HTTP/1.1 with "Connection: close"), so the watcher needs nothing
// but the standard library, surge and {fmt}.
#include <surge/metrics/formulas.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace {

using wall = std::chrono::steady_clock;

constexpr const char* usage =
    "usage: surge_gateway_watch --gateway 127.0.0.1:PORT [--duration S] [--interval-ms MS]\n"
    "  --gateway HOST:PORT  the gateway to watch (IPv4 literal)\n"
    "  --duration S         stop after S seconds and print the summary (default 0: until SIGINT/SIGTERM)\n"
    "  --interval-ms MS     time between two scrapes of /metrics (default 1000)\n";

// ---- one scrape: GET /metrics over a short-lived connection ------------------

class socket_fd {
 public:
  explicit socket_fd(int fd) noexcept : fd_(fd) {}
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
  ~socket_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

/// The body of GET `target` from address:port, or nullopt (with `error` set)
/// when the connection fails, times out (5 s), the status is not 200 or the
/// body is shorter than its Content-Length.
std::optional<std::string> http_get(const sockaddr_in& address, std::string_view target, std::string& error) {
  const socket_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) {
    error = "socket() failed";
    return std::nullopt;
  }
  const timeval timeout{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    error = "connection refused";
    return std::nullopt;
  }
  const std::string request = fmt::format("GET {} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n", target);
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(s.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      error = "send failed";
      return std::nullopt;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(s.get(), buffer, sizeof buffer, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      error = "no answer";
      return std::nullopt;
    }
    reply.append(buffer, static_cast<std::size_t>(n));
    if (reply.size() > (64u << 20)) {
      error = "answer too large";
      return std::nullopt;
    }
  }
  const std::size_t head_end = reply.find("\r\n\r\n");
  if (reply.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) {
    error = "not an HTTP answer";
    return std::nullopt;
  }
  if (reply.compare(8, 5, " 200 ") != 0) {
    error = "status " + reply.substr(9, 3);
    return std::nullopt;
  }
  // Connection: close and a Content-Length (the gateway's answers carry one):
  // the body is everything after the head, cut to the declared length; one
  // shorter than that lost its end (a number cut short would be read as is)
  std::string body = reply.substr(head_end + 4);
  const std::string head = reply.substr(0, head_end);
  std::string lower(head.size(), '\0');
  std::transform(head.begin(), head.end(), lower.begin(),
                 [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
  if (const std::size_t at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
    const std::size_t length = std::strtoull(lower.c_str() + at + 17, nullptr, 10);
    if (body.size() < length) {
      error = "answer cut short";
      return std::nullopt;
    }
    body.resize(length);
  }
  return body;
}

// ---- the Prometheus text format, as far as the gateway writes it ------------

struct sample {
  std::string name;
  std::map<std::string, std::string, std::less<>> labels;
  double value = 0.0;
};

/// Parses `name{a="x",b="y"} value` lines; skips comments and lines it
/// cannot read.
std::vector<sample> parse_metrics(std::string_view text) {
  std::vector<sample> out;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty() || line.front() == '#') continue;
    sample s;
    const std::size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) continue;
    s.name = line.substr(0, name_end);
    line.remove_prefix(name_end);
    if (line.front() == '{') {
      const std::size_t close = line.find('}');
      if (close == std::string_view::npos) continue;
      std::string_view labels = line.substr(1, close - 1);
      line.remove_prefix(close + 1);
      while (!labels.empty()) {
        const std::size_t eq = labels.find("=\"");
        if (eq == std::string_view::npos) break;
        const std::size_t end = labels.find('"', eq + 2);
        if (end == std::string_view::npos) break;
        s.labels.emplace(std::string(labels.substr(0, eq)), std::string(labels.substr(eq + 2, end - eq - 2)));
        labels.remove_prefix(end + 1);
        if (!labels.empty() && labels.front() == ',') labels.remove_prefix(1);
      }
    }
    const std::string value(line);
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (end == value.c_str()) continue;
    out.push_back(std::move(s));
  }
  return out;
}

/// One scrape, reduced to what the watcher prints.
struct snapshot {
  wall::time_point at;
  std::map<std::string, double> outcomes;  // outcome -> requests
  double latency_count = 0, latency_sum = 0, p50 = 0, p99 = 0;
  double inflight = 0, limit = 0, hits = 0, misses = 0, efficiency = 0;
  std::map<std::string, double> backend_requests;  // address -> attempts
  std::map<std::string, std::string> breakers;     // address -> current state

  [[nodiscard]] double requests() const {
    double total = 0;
    for (const auto& [name, n] : outcomes) total += n;
    return total;
  }
};

snapshot reduce(const std::vector<sample>& samples, wall::time_point at) {
  snapshot s;
  s.at = at;
  const auto label = [](const sample& x, std::string_view key) -> std::string {
    const auto it = x.labels.find(key);
    return it == x.labels.end() ? std::string() : it->second;
  };
  // the single-valued gauges and counters, by name
  const std::pair<std::string_view, double snapshot::*> scalars[] = {
      {"surge_gateway_latency_seconds_count", &snapshot::latency_count},
      {"surge_gateway_latency_seconds_sum", &snapshot::latency_sum},
      {"surge_gateway_inflight", &snapshot::inflight},
      {"surge_gateway_concurrency_limit", &snapshot::limit},
      {"surge_gateway_cache_hits_total", &snapshot::hits},
      {"surge_gateway_cache_misses_total", &snapshot::misses},
      {"surge_gateway_balance_efficiency", &snapshot::efficiency}};
  for (const sample& x : samples) {
    for (const auto& [name, member] : scalars)
      if (x.name == name) s.*member = x.value;
    if (x.name == "surge_gateway_requests_total") {
      s.outcomes[label(x, "outcome")] += x.value;
    } else if (x.name == "surge_gateway_latency_seconds") {
      const std::string q = label(x, "quantile");
      if (q == "0.5") s.p50 = x.value;
      if (q == "0.99") s.p99 = x.value;
    } else if (x.name == "surge_gateway_backend_requests_total") {
      s.backend_requests[label(x, "backend")] += x.value;
    } else if (x.name == "surge_gateway_backend_breaker_state" && x.value >= 1.0) {
      s.breakers[label(x, "backend")] = label(x, "state");
    }
  }
  return s;
}

// ---- printing ----------------------------------------------------------------

std::string milliseconds(double seconds) { return fmt::format("{:.3f}", seconds * 1e3); }

/// "C" closed, "O" open, "H" half open, "?" unknown.
char breaker_letter(const std::string& state) {
  if (state == "closed") return 'C';
  if (state == "open") return 'O';
  if (state == "half_open") return 'H';
  return '?';
}

std::string short_backend(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(colon);
}

void print_header(const snapshot& s) {
  std::string shares;
  for (const auto& entry : s.backend_requests) shares += fmt::format(" {:>6}", short_backend(entry.first));
  fmt::print("{:>5} {:>9} {:>8} {:>8} {:>6} {:>8} {:>6} |{}  | breakers\n", "t(s)", "req/s", "p50(ms)", "p99(ms)",
             "hit%", "inflight", "limit", shares);
  std::fflush(stdout);
}

void print_line(const snapshot& prev, const snapshot& now, wall::time_point start) {
  const double dt = std::chrono::duration<double>(now.at - prev.at).count();
  const double rate = dt > 0 ? std::max(0.0, now.requests() - prev.requests()) / dt : 0.0;
  const double hit = surge::hit_ratio(static_cast<std::uint64_t>(std::max(0.0, now.hits - prev.hits)),
                                      static_cast<std::uint64_t>(std::max(0.0, now.misses - prev.misses)));
  double attempts = 0;
  for (const auto& [address, n] : now.backend_requests) {
    const auto it = prev.backend_requests.find(address);
    attempts += n - (it == prev.backend_requests.end() ? 0.0 : it->second);
  }
  std::string shares, breakers;
  for (const auto& [address, n] : now.backend_requests) {
    const auto it = prev.backend_requests.find(address);
    const double delta = n - (it == prev.backend_requests.end() ? 0.0 : it->second);
    shares += fmt::format(" {:>5.1f}%", attempts > 0 ? 100.0 * delta / attempts : 0.0);
  }
  for (const auto& [address, state] : now.breakers) breakers += fmt::format(" {}", breaker_letter(state));
  fmt::print("{:>5.1f} {:>9.0f} {:>8} {:>8} {:>5.1f}% {:>8.0f} {:>6.0f} |{}  |{}\n",
             std::chrono::duration<double>(now.at - start).count(), rate, milliseconds(now.p50), milliseconds(now.p99),
             100.0 * hit, now.inflight, now.limit, shares, breakers);
  std::fflush(stdout);
}

void print_summary(const snapshot& first, const snapshot& last, double mean_inflight, std::size_t scrapes) {
  const double elapsed = std::chrono::duration<double>(last.at - first.at).count();
  const double requests = std::max(0.0, last.requests() - first.requests());
  const double completed = std::max(0.0, last.latency_count - first.latency_count);
  const double busy = std::max(0.0, last.latency_sum - first.latency_sum);
  fmt::print("\nsummary over {:.1f} s ({} scrapes of /metrics)\n", elapsed, scrapes);
  if (elapsed <= 0.0) {
    fmt::print("  not enough scrapes to measure anything\n");
    return;
  }
  std::string outcomes;
  for (const auto& [name, n] : last.outcomes) {
    const auto it = first.outcomes.find(name);
    const double delta = n - (it == first.outcomes.end() ? 0.0 : it->second);
    if (delta > 0) outcomes += fmt::format("{}{} {:.0f}", outcomes.empty() ? "" : ", ", name, delta);
  }
  const double x = surge::throughput(requests, elapsed);
  const double r = surge::mean_response_time(busy, completed);
  const double l = surge::littles_concurrency(surge::throughput(completed, elapsed), r);
  const auto row = [](std::string_view what, const std::string& value, std::string_view how) {
    fmt::print("  {:<26}{:<14}{}\n", what, value, how);
  };
  row("requests", fmt::format("{:.0f}", requests), outcomes.empty() ? "" : "(" + outcomes + ")");
  row("throughput X = N / T", fmt::format("{:.0f} req/s", x), "surge::throughput");
  row("mean response time R", milliseconds(r) + " ms", "surge::mean_response_time (latency sum / count)");
  row("Little's law L = X * R", fmt::format("{:.1f}", l), "surge::littles_concurrency: requests in flight");
  row("measured in flight", fmt::format("{:.1f}", mean_inflight),
      fmt::format(
          "mean of {} samples of surge_gateway_inflight{}", scrapes,
          mean_inflight > 0 && l > 0 ? fmt::format("; L / measured = {:.2f}", l / mean_inflight) : std::string()));
  const auto hits = static_cast<std::uint64_t>(std::max(0.0, last.hits - first.hits));
  const auto misses = static_cast<std::uint64_t>(std::max(0.0, last.misses - first.misses));
  if (hits + misses > 0) {
    row("cache hit ratio", fmt::format("{:.1f}%", 100.0 * surge::hit_ratio(hits, misses)),
        fmt::format("surge::hit_ratio ({} hits, {} misses)", hits, misses));
  } else {
    row("cache hit ratio", "-", "no cache lookups (cache off)");
  }
  std::vector<std::uint64_t> loads;
  std::string per_backend;
  for (const auto& [address, n] : last.backend_requests) {
    const auto it = first.backend_requests.find(address);
    const double delta = std::max(0.0, n - (it == first.backend_requests.end() ? 0.0 : it->second));
    loads.push_back(static_cast<std::uint64_t>(delta));
    per_backend += fmt::format("{}{} {:.0f}", per_backend.empty() ? "" : ", ", short_backend(address), delta);
  }
  if (!loads.empty()) {
    row("balance efficiency", fmt::format("{:.3f}", surge::balance_efficiency(loads)),
        fmt::format("surge::balance_efficiency (mean / max of the attempts {}; the gateway's gauge says {:.3f})",
                    per_backend, last.efficiency));
  }
  std::fflush(stdout);
}

// ---- command line -------------------------------------------------------------

struct options {
  sockaddr_in address{};
  double duration = 0;  // seconds; 0: until a signal
  std::chrono::milliseconds interval{1000};
};

double number(const std::string& flag, const std::string& value, double lo, double hi, bool whole = false) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !(v >= lo && v <= hi) ||
      (whole && v != static_cast<double>(static_cast<long long>(v))))
    throw std::invalid_argument(
        fmt::format("{} must be a {} in [{}, {}], not '{}'", flag, whole ? "whole number" : "number", lo, hi, value));
  return v;
}

options parse(int argc, char** argv) {
  options o;
  bool have_gateway = false;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--gateway") {
      const std::size_t colon = value.rfind(':');
      o.address.sin_family = AF_INET;
      if (colon == std::string::npos || ::inet_pton(AF_INET, value.substr(0, colon).c_str(), &o.address.sin_addr) != 1)
        throw std::invalid_argument("--gateway must be IPv4:PORT, not '" + value + "'");
      o.address.sin_port =
          htons(static_cast<std::uint16_t>(number("--gateway's port", value.substr(colon + 1), 1, 65535, true)));
      have_gateway = true;
    } else if (flag == "--duration") {
      o.duration = number(flag, value, 0, 1e6);
    } else if (flag == "--interval-ms") {
      o.interval = std::chrono::milliseconds(static_cast<long long>(number(flag, value, 10, 3.6e6, true)));
    } else {
      throw std::invalid_argument("unknown argument " + flag);
    }
  }
  if (!have_gateway) throw std::invalid_argument("--gateway is required");
  return o;
}

/// Waits until `deadline` or a SIGINT/SIGTERM (blocked in this thread);
/// true when a signal came.
bool signal_before(wall::time_point deadline, const sigset_t& signals) {
  for (;;) {
    const auto left = deadline - wall::now();
    if (left <= wall::duration::zero()) return false;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    const timespec wait{.tv_sec = static_cast<time_t>(ns / 1000000000), .tv_nsec = static_cast<long>(ns % 1000000000)};
    if (::sigtimedwait(&signals, nullptr, &wait) > 0) return true;
    if (errno != EAGAIN && errno != EINTR) return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "surge_gateway_watch: {}\n{}", e.what(), usage);
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);

  const wall::time_point start = wall::now();
  const auto stop_at =
      o.duration > 0 ? start + std::chrono::duration_cast<wall::duration>(std::chrono::duration<double>(o.duration))
                     : wall::time_point::max();
  std::optional<snapshot> first, prev;
  double inflight_sum = 0;
  std::size_t scrapes = 0;
  std::string last_error;
  bool last = false;
  for (auto next = start + o.interval;; next += o.interval) {
    std::string error;
    const auto now = wall::now();
    if (const auto body = http_get(o.address, "/metrics", error)) {
      const snapshot s = reduce(parse_metrics(*body), now);
      ++scrapes;
      inflight_sum += s.inflight;
      if (!first) {
        first = s;
        print_header(s);
      } else {
        print_line(*prev, s, start);
      }
      prev = s;
    } else if (error != last_error) {
      fmt::print("{:>5.0f} scrape failed: {}\n", std::chrono::duration<double>(now - start).count(), error);
      std::fflush(stdout);
    }
    last_error = error;
    if (last) break;
    // a scrape slower than the interval (up to its 5 s timeout) skips the
    // ticks it overran: caught up back to back, they printed rates over a
    // few microseconds (millions of req/s)
    for (const auto after = wall::now(); next <= after;) next += o.interval;
    // the wait that ends the run (duration over, or a signal) is followed by
    // one more scrape, so the summary covers the whole run
    last = signal_before(std::min(next, stop_at), signals) || wall::now() >= stop_at;
  }
  if (!first) {
    fmt::print("surge_gateway_watch: no successful scrape of /metrics ({})\n", last_error);
    return 1;
  }
  try {
    print_summary(*first, *prev, inflight_sum / static_cast<double>(scrapes), scrapes);
  } catch (const std::invalid_argument& e) {  // a formula refused what the gateway reported
    fmt::print("surge_gateway_watch: {}\n", e.what());
    return 1;
  }
  return 0;
}
