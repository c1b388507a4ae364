// The gateway example end to end: backends and a gateway in this process on
// ephemeral loopback ports, driven through http_client.hpp. Time-dependent
// behaviour (rate limit refills, cache TTL, breaker waits) runs on a manual
// clock; every socket operation has a timeout, and each test stops what it
// started.
#include "failing_new.hpp"
#include "surge_test.hpp"
#include "watchdog.hpp"

#include "backend.hpp"
#include "cli.hpp"
#include "gateway.hpp"
#include "http_client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

using namespace std::chrono_literals;
using gateway::backend_server;
using gateway::gateway_options;
using gateway::gateway_server;
using gateway::http_client;
using surge::breaker_state;

namespace {

/// The gateway's clock in these tests: moves only when told.
struct manual_time {
  std::atomic<std::int64_t> ns{std::int64_t{1'000'000} * 1'000'000'000};  // far from the epoch
  std::function<gateway::time_point()> clock() {
    return [this] {
      return gateway::time_point(
          std::chrono::duration_cast<gateway::clock_type::duration>(std::chrono::nanoseconds(ns.load())));
    };
  }
  void advance(std::chrono::nanoseconds d) { ns.fetch_add(d.count()); }
};

std::string address(const backend_server& b) { return "127.0.0.1:" + std::to_string(b.port()); }

std::vector<std::string> addresses(const std::vector<std::unique_ptr<backend_server>>& bs) {
  std::vector<std::string> out;
  for (const auto& b : bs) out.push_back(address(*b));
  return out;
}

std::vector<std::unique_ptr<backend_server>> start_backends(std::size_t n) {
  std::vector<std::unique_ptr<backend_server>> bs;
  for (std::size_t i = 0; i < n; ++i)
    bs.push_back(std::make_unique<backend_server>(gateway::backend_options{.name = "b" + std::to_string(i)}));
  return bs;
}

/// The samples of a Prometheus text page: "name{labels}" → value. Fails the
/// test on a line that is neither a comment nor "name value".
std::map<std::string, double> parse_metrics(const std::string& text,
                                            std::map<std::string, std::string>* types = nullptr) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      if (types) (*types)[name] = type;
      continue;
    }
    if (line[0] == '#') continue;
    const std::size_t space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

}  // namespace

TEST_CASE("gateway: forwards requests and answers /metrics", "[gateway]") {
  surge_test::watchdog dog("gateway forward", 60s);
  auto backends = start_backends(2);
  gateway_server gw(gateway_options{.backends = addresses(backends), .threads = 2});
  http_client client(gw.port());
  for (int i = 0; i < 10; ++i) {
    const auto r = client.get("/hello");
    CHECK(r.status == 200);
    CHECK(r.body.rfind("hello from b", 0) == 0);
    CHECK(r.header("X-Cache").empty());  // cache off
  }
  const auto post = client.request(gateway::http::verb::post, "/submit", {}, "payload");
  CHECK(post.status == 200);
  CHECK(backends[0]->requests() + backends[1]->requests() == 11);
  CHECK(gw.requests(gateway::outcome::ok) == 11);
  CHECK(gw.backend_requests(0) + gw.backend_requests(1) == 11);
}

TEST_CASE("gateway: over-limit clients get 429 with a Retry-After that is honoured", "[gateway]") {
  surge_test::watchdog dog("gateway limit", 60s);
  manual_time t;
  auto backends = start_backends(1);
  gateway_server gw(
      gateway_options{.backends = addresses(backends), .limit = true, .rate = 0.5, .burst = 2, .clock = t.clock()});
  http_client client(gw.port());
  const std::vector<std::pair<std::string, std::string>> alice{{"X-Client", "alice"}}, bob{{"X-Client", "bob"}};
  CHECK(client.get("/", alice).status == 200);
  CHECK(client.get("/", alice).status == 200);
  const auto limited = client.get("/", alice);
  REQUIRE(limited.status == 429);
  // 0.5 tokens per second: the next token is 2 s away
  CHECK(limited.header("Retry-After") == "2");
  CHECK(client.get("/", bob).status == 200);  // another client has its own bucket
  t.advance(1s);
  const auto still = client.get("/", alice);
  CHECK(still.status == 429);
  CHECK(still.header("Retry-After") == "1");  // rounded up from the remaining 1 s
  t.advance(std::chrono::seconds(std::stoi(still.header("Retry-After"))));
  CHECK(client.get("/", alice).status == 200);
  CHECK(gw.requests(gateway::outcome::limited) == 2);
  CHECK(backends[0]->requests() == 4);

  // without the header the peer address is the client
  CHECK(client.get("/").status == 200);
  CHECK(client.get("/").status == 200);
  CHECK(client.get("/").status == 429);
}

TEST_CASE("gateway: a TTL or timeout too long to add to the clock never ends", "[gateway]") {
  surge_test::watchdog dog("gateway long durations", 60s);
  {
    // before: now + TTL overflowed to a time long past, so nothing was ever a hit
    manual_time t;
    auto backends = start_backends(1);
    gateway_server gw(gateway_options{.backends = addresses(backends),
                                      .cache = true,
                                      .cache_ttl = std::chrono::milliseconds::max(),
                                      .clock = t.clock()});
    http_client client(gw.port());
    CHECK(client.get("/forever").header("X-Cache") == "MISS");
    t.advance(24h * 365 * 100);
    CHECK(client.get("/forever").header("X-Cache") == "HIT");
    CHECK(backends[0]->requests() == 1);
  }
  {
    // before: a deadline of now + the timeout overflowed to the past, so the
    // first sweep closed the socket (an idle timeout that closed every
    // connection at once); the sweep closes every deadline due in one pass
    gateway::asio::io_context ctx;
    gateway::pool_socket forever(ctx.get_executor()), soon(ctx.get_executor());
    gateway::deadline_list deadlines(1ms);
    gateway::deadline_list::deadline never_due(deadlines, forever), due(deadlines, soon);
    never_due.after(std::chrono::milliseconds::max());
    due.after(1ms);
    deadlines.start(ctx);
    gateway::error_code ec;
    while (!due.expired(ec)) ctx.run_one();
    CHECK_FALSE(never_due.expired(ec));
    deadlines.stop();
  }
}

TEST_CASE("gateway: repeated GETs hit the cache until the TTL passes", "[gateway]") {
  surge_test::watchdog dog("gateway cache", 60s);
  manual_time t;
  auto backends = start_backends(2);
  gateway_server gw(gateway_options{
      .backends = addresses(backends), .cache = true, .cache_ttl = 500ms, .cache_capacity = 100, .clock = t.clock()});
  http_client client(gw.port());
  const auto sent = [&] { return backends[0]->requests() + backends[1]->requests(); };
  const auto first = client.get("/page?id=1");
  CHECK(first.status == 200);
  CHECK(first.header("X-Cache") == "MISS");
  for (int i = 0; i < 5; ++i) {
    const auto again = client.get("/page?id=1");
    CHECK(again.header("X-Cache") == "HIT");
    CHECK(again.body == first.body);
  }
  CHECK(sent() == 1);
  CHECK(client.get("/page?id=2").header("X-Cache") == "MISS");  // the query is part of the key
  CHECK(sent() == 2);
  t.advance(499ms);
  CHECK(client.get("/page?id=1").header("X-Cache") == "HIT");
  t.advance(1ms);
  CHECK(client.get("/page?id=1").header("X-Cache") == "MISS");  // expired exactly at the TTL
  CHECK(client.get("/page?id=1").header("X-Cache") == "HIT");
  CHECK(sent() == 3);
  // only GETs are cached
  CHECK(client.request(gateway::http::verb::post, "/page?id=1", {}, "x").header("X-Cache").empty());
  CHECK(sent() == 4);
  // 500s are passed on, never cached
  backends[0]->set_error_rate(1.0);
  backends[1]->set_error_rate(1.0);
  CHECK(client.get("/fails").status == 500);
  backends[0]->set_error_rate(0.0);
  backends[1]->set_error_rate(0.0);
  CHECK(client.get("/fails").status == 200);
  const auto m = parse_metrics(client.get("/metrics").body);
  CHECK(m.at("surge_gateway_cache_hits_total") == 7);
  CHECK(m.at("surge_gateway_cache_misses_total") == 5);
}

TEST_CASE("gateway: a failing backend's breaker opens and retries absorb its failures", "[gateway]") {
  surge_test::watchdog dog("gateway breaker", 60s);
  const auto balancer = GENERATE(gateway::balancer_kind::p2c, gateway::balancer_kind::maglev,
                                 gateway::balancer_kind::wrr, gateway::balancer_kind::least_conn);
  CAPTURE(static_cast<int>(balancer));
  manual_time t;
  auto backends = start_backends(3);
  backends[0]->set_error_rate(1.0);
  gateway_server gw(gateway_options{
      .backends = addresses(backends), .balancer = balancer, .threads = 2, .retries = 2, .clock = t.clock()});
  http_client client(gw.port());
  int failed = 0;
  for (int i = 0; i < 60; ++i) failed += client.get("/item/" + std::to_string(i)).status != 200;
  CHECK(failed == 0);  // every failure of backend 0 was retried on another
  CHECK(gw.breaker_state(0) == breaker_state::open);
  CHECK(gw.breaker_state(1) == breaker_state::closed);
  CHECK(gw.breaker_state(2) == breaker_state::closed);
  const auto before = backends[0]->requests();
  CHECK(before >= 10);  // the breaker's minimum_calls
  for (int i = 0; i < 30; ++i) CHECK(client.get("/item/" + std::to_string(i)).status == 200);
  CHECK(backends[0]->requests() == before);  // open: no traffic at all
  const auto m = parse_metrics(client.get("/metrics").body);
  CHECK(m.at("surge_gateway_retries_total") >= 10);
  CHECK(m.at("surge_gateway_backend_breaker_state{backend=\"" + address(*backends[0]) + "\",state=\"open\"}") == 1);
  CHECK(m.at("surge_gateway_backend_breaker_state{backend=\"" + address(*backends[0]) + "\",state=\"closed\"}") == 0);

  // healed and past the wait: probes go through and close it again
  backends[0]->set_error_rate(0.0);
  t.advance(gw.options().breaker.wait_in_open + 1ms);  // open for exactly the wait, then probes
  for (int i = 0; i < 60; ++i) CHECK(client.get("/item/" + std::to_string(i)).status == 200);
  CHECK(backends[0]->requests() > before);
  CHECK(gw.breaker_state(0) == breaker_state::closed);
}

TEST_CASE("gateway: running out of memory marking a backend down in the shared WRR is survived", "[gateway]") {
  surge_test::watchdog dog("gateway wrr out of memory", 60s);
  // the shared WRR rebuilds its table on a health change, which may throw
  // std::bad_alloc; before, it did so inside the breaker's listener, and the
  // process terminated. Here the allocation after the clock reading that
  // marks backend 0 down (the first once its breaker is open) fails.
  manual_time t;
  auto backends = start_backends(2);
  backends[0]->set_error_rate(1.0);
  std::atomic<gateway_server*> server{nullptr};
  std::atomic<bool> armed{true};
  gateway_server gw(
      gateway_options{.backends = addresses(backends),
                      .balancer = gateway::balancer_kind::wrr,
                      .retries = 1,
                      .breaker = {.window_size = 2, .minimum_calls = 2, .wait_in_open = 10s, .half_open_calls = 2},
                      .clock = [&, now = t.clock()] {
                        const gateway_server* s = server.load();
                        if (s && s->breaker_state(0) == breaker_state::open && armed.exchange(false))
                          surge_test::fail_allocation(1);
                        return now();
                      }});
  server = &gw;
  http_client client(gw.port());
  for (int i = 0; i < 10; ++i) CHECK(client.get("/x").status == 200);
  CHECK_FALSE(armed.load());
  CHECK(gw.breaker_state(0) == breaker_state::open);
  // still in the rotation, refused by its breaker: the others serve
  const auto before = backends[0]->requests();
  for (int i = 0; i < 10; ++i) CHECK(client.get("/x").status == 200);
  CHECK(backends[0]->requests() == before);
  // healed and past the wait: probes close its breaker and it serves again
  backends[0]->set_error_rate(0.0);
  t.advance(10s + 1ms);
  for (int i = 0; i < 30; ++i) CHECK(client.get("/x").status == 200);
  CHECK(gw.breaker_state(0) == breaker_state::closed);
  CHECK(backends[0]->requests() > before);
}

TEST_CASE("gateway: no backend available gives a fast 503 and a POST is not retried", "[gateway]") {
  surge_test::watchdog dog("gateway unavailable", 60s);
  manual_time t;
  auto backends = start_backends(2);
  for (auto& b : backends) b->set_error_rate(1.0);
  gateway_server gw(gateway_options{.backends = addresses(backends),
                                    .retries = 1,
                                    .breaker = {.window_size = 4, .minimum_calls = 4, .wait_in_open = 10s},
                                    .clock = t.clock()});
  http_client client(gw.port());
  CHECK(client.request(gateway::http::verb::post, "/p", {}, "x").status == 500);
  CHECK(backends[0]->requests() + backends[1]->requests() == 1);
  // each GET tries both backends (a retry never goes to the same one)
  for (int i = 0; i < 4; ++i) CHECK(client.get("/g").status == 500);
  CHECK(backends[0]->requests() + backends[1]->requests() >= 8);
  CHECK(gw.breaker_state(0) == breaker_state::open);
  CHECK(gw.breaker_state(1) == breaker_state::open);
  const auto r = client.get("/g");
  CHECK(r.status == 503);
  CHECK(gw.requests(gateway::outcome::unavailable) == 1);
  CHECK(gw.requests(gateway::outcome::error) == 5);
}

TEST_CASE("gateway: every failed attempt of an idempotent request is charged to the retry budget", "[gateway]") {
  surge_test::watchdog dog("gateway retry budget", 60s);
  // before: the last attempt's failure took no token (gRPC's throttling
  // counts every failed attempt), so with two backends failing, each GET
  // took one token instead of two and the budget allowed twice the retries
  manual_time t;
  auto backends = start_backends(2);
  for (auto& b : backends) b->set_error_rate(1.0);
  gateway_server gw(gateway_options{.backends = addresses(backends),
                                    .retries = 1,
                                    .retry_budget_tokens = 10,
                                    .breaker = {.window_size = 100, .minimum_calls = 100},
                                    .clock = t.clock()});
  http_client client(gw.port());
  // 10 tokens, a retry only above 5 left: GETs 1 and 2 take 2 each and are
  // retried; GETs 3 and 4 take 1 each and are not
  for (int i = 0; i < 4; ++i) CHECK(client.get("/fails").status == 500);
  auto m = parse_metrics(client.get("/metrics").body);
  CHECK(m.at("surge_gateway_retries_total") == 2);
  CHECK(m.at("surge_gateway_retry_budget_exhausted_total") == 2);
  CHECK(backends[0]->requests() + backends[1]->requests() == 6);
  // a POST is never retried, so its failure leaves the budget alone
  for (auto& b : backends) b->set_error_rate(0.0);
  for (int i = 0; i < 21; ++i) CHECK(client.get("/ok").status == 200);  // 4 + 21 * 0.1 = 6.1 tokens
  for (auto& b : backends) b->set_error_rate(1.0);
  CHECK(client.request(gateway::http::verb::post, "/p", {}, "x").status == 500);
  CHECK(client.get("/fails").status == 500);  // 6.1 - 1 = 5.1: retried
  m = parse_metrics(client.get("/metrics").body);
  CHECK(m.at("surge_gateway_retries_total") == 3);
  CHECK(m.at("surge_gateway_retry_budget_exhausted_total") == 2);
}

TEST_CASE("gateway: a slow backend lowers the adaptive concurrency limit", "[gateway]") {
  surge_test::watchdog dog("gateway adaptive", 60s);
  auto backends = start_backends(1);
  backends[0]->set_latency(30ms);
  // a real clock here: the backend's latency is what moves the limit
  gateway_server gw(
      gateway_options{.backends = addresses(backends),
                      .adaptive = true,
                      .adaptive_limit = {.initial = 50, .min = 1, .max = 100, .backoff_ratio = 0.5, .timeout = 10ms}});
  REQUIRE(gw.concurrency_limit() == 50);
  http_client client(gw.port());
  for (int i = 0; i < 4; ++i) CHECK(client.get("/slow").status == 200);
  CHECK(gw.concurrency_limit() == 3);  // 50 halved four times, rounded down
  const auto m = parse_metrics(client.get("/metrics").body);
  CHECK(m.at("surge_gateway_concurrency_limit") == 3);
}

TEST_CASE("gateway: sheds with 503 beyond the concurrency limit", "[gateway]") {
  surge_test::watchdog dog("gateway shed", 60s);
  auto backends = start_backends(1);
  backends[0]->set_latency(300ms);
  gateway_server gw(gateway_options{.backends = addresses(backends),
                                    .adaptive = true,
                                    .adaptive_limit = {.initial = 1, .min = 1, .max = 1, .timeout = 10s}});
  // one request holds the only slot while a second arrives
  std::atomic<unsigned> first_status{0};
  std::thread holder([&] {
    http_client c(gw.port());
    first_status = c.get("/held").status;
  });
  http_client client(gw.port());
  unsigned status = 0;
  // wait (bounded) until the first request is at the backend, then ask
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (backends[0]->requests() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  status = client.get("/second").status;
  holder.join();
  CHECK(first_status == 200);
  CHECK(status == 503);
  CHECK(gw.requests(gateway::outcome::shed) >= 1);
}

TEST_CASE("gateway: /metrics parses and its outcome counters add up", "[gateway]") {
  surge_test::watchdog dog("gateway metrics", 60s);
  manual_time t;
  auto backends = start_backends(2);
  gateway_server gw(gateway_options{.backends = addresses(backends),
                                    .threads = 2,
                                    .cache = true,
                                    .limit = true,
                                    .rate = 1,
                                    .burst = 5,
                                    .adaptive = true,
                                    .clock = t.clock()});
  http_client client(gw.port());
  int sent = 0;
  for (int i = 0; i < 12; ++i, ++sent) (void)client.get("/m/" + std::to_string(i % 3), {{"X-Client", "c"}});
  backends[0]->set_error_rate(1.0);
  backends[1]->set_error_rate(1.0);
  for (int i = 0; i < 3; ++i, ++sent) (void)client.request(gateway::http::verb::post, "/e", {{"X-Client", "d"}}, "x");
  {
    http_client raw(gw.port());
    raw.send_raw("NOT HTTP AT ALL\r\n\r\n");
    (void)raw.read_until_close();
    ++sent;
  }
  std::map<std::string, std::string> types;
  const auto page = client.get("/metrics");
  CHECK(page.status == 200);
  CHECK(page.header("Content-Type").rfind("text/plain", 0) == 0);
  const auto m = parse_metrics(page.body, &types);
  double total = 0;
  for (const char* o : gateway::outcome_names)
    total += m.at(std::string("surge_gateway_requests_total{outcome=\"") + o + "\"}");
  CHECK(total == sent);
  CHECK(m.at("surge_gateway_requests_total{outcome=\"limited\"}") == 7);
  CHECK(m.at("surge_gateway_requests_total{outcome=\"error\"}") == 3);
  CHECK(m.at("surge_gateway_requests_total{outcome=\"bad_request\"}") == 1);
  CHECK(m.at("surge_gateway_requests_total{outcome=\"ok\"}") == 5);
  CHECK(m.at("surge_gateway_latency_seconds_count") == sent);
  CHECK(m.at("surge_gateway_limiter_rejections_total") == 7);
  CHECK(m.at("surge_gateway_cache_hits_total") == 2);
  CHECK(m.at("surge_gateway_cache_misses_total") == 3);
  CHECK(m.at("surge_gateway_cache_hit_ratio") == Approx(0.4));
  CHECK(m.at("surge_gateway_inflight") == 0);
  CHECK(m.at("surge_gateway_concurrency_limit") >= 1);
  for (const char* name :
       {"surge_gateway_requests_total", "surge_gateway_latency_seconds", "surge_gateway_throughput_rps",
        "surge_gateway_backend_requests_total", "surge_gateway_backend_inflight", "surge_gateway_backend_breaker_state",
        "surge_gateway_balance_efficiency", "surge_gateway_concurrency_limit", "surge_gateway_inflight",
        "surge_gateway_cache_hits_total", "surge_gateway_cache_misses_total", "surge_gateway_cache_hit_ratio",
        "surge_gateway_limiter_rejections_total", "surge_gateway_retries_total",
        "surge_gateway_retry_budget_exhausted_total"})
    CHECK(types.count(name) == 1);
  CHECK(types.at("surge_gateway_latency_seconds") == "summary");
  CHECK(types.at("surge_gateway_requests_total") == "counter");
  for (const char* q : {"0.5", "0.9", "0.99", "0.999"})
    CHECK(m.count(std::string("surge_gateway_latency_seconds{quantile=\"") + q + "\"}") == 1);
  const double efficiency = m.at("surge_gateway_balance_efficiency");
  CHECK(efficiency > 0.0);
  CHECK(efficiency <= 1.0);
  // /metrics itself is not counted
  const auto again = parse_metrics(client.get("/metrics").body);
  CHECK(again.at("surge_gateway_requests_total{outcome=\"ok\"}") == 5);
}

TEST_CASE("gateway: malformed requests, oversized headers and abrupt disconnects", "[gateway]") {
  surge_test::watchdog dog("gateway robustness", 60s);
  auto backends = start_backends(1);
  gateway_server gw(gateway_options{.backends = addresses(backends), .idle_timeout = 300ms});
  const auto answer_of = [&](const std::string& bytes) {
    http_client raw(gw.port());
    raw.send_raw(bytes);
    return raw.read_until_close();
  };
  {
    const auto [text, closed] = answer_of("GARBAGE\r\n\r\n");
    CHECK(text.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(closed);
  }
  {
    const auto [text, closed] = answer_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n");
    CHECK(text.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(closed);
  }
  {
    const auto [text, closed] = answer_of("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n");
    CHECK(text.rfind("HTTP/1.1 431", 0) == 0);
    CHECK(closed);
  }
  {
    // a body over the limit
    const auto [text, closed] = answer_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\nabc");
    CHECK(text.rfind("HTTP/1.1 413", 0) == 0);
    CHECK(closed);
  }
  {
    // slowloris: half a request, then nothing; the idle timeout closes it
    http_client raw(gw.port(), 5s);
    raw.send_raw("GET / HTTP/1.1\r\nHost: x\r\n");
    const auto [text, closed] = raw.read_until_close();
    CHECK(closed);
    CHECK(text.empty());
  }
  for (int i = 0; i < 20; ++i) {
    // abrupt disconnects: mid-request, and right after a complete request
    http_client raw(gw.port());
    raw.send_raw(i % 2 ? "GET /x HTTP/1.1\r\nHost: x\r\nContent-Len" : "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    raw.close();
  }
  http_client client(gw.port());
  for (int i = 0; i < 5; ++i) CHECK(client.get("/still-serving").status == 200);
  CHECK(gw.requests(gateway::outcome::bad_request) == 4);
}

namespace {
// Leaves `free` file descriptors for this process until release(): lowers
// the soft limit and fills every other slot below it with /dev/null.
class descriptor_shortage {
 public:
  explicit descriptor_shortage(int free) {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    int highest = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
      highest = std::max(highest, std::stoi(e.path().filename().string()));
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(highest + 64);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) held_.push_back(fd);
    for (int i = 0; i < free && !held_.empty(); ++i) {
      ::close(held_.back());
      held_.pop_back();
    }
  }
  descriptor_shortage(const descriptor_shortage&) = delete;
  descriptor_shortage& operator=(const descriptor_shortage&) = delete;
  ~descriptor_shortage() { release(); }
  void release() {
    for (int fd : held_) ::close(fd);
    held_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  rlimit saved_{};
  std::vector<int> held_;
};
}  // namespace

TEST_CASE("gateway: an io thread whose timeout sweep cannot start fails the gateway's start", "[gateway]") {
  surge_test::watchdog dog("gateway sweep start", 60s);
  // before: each io thread's sweep was started by a task posted to it once
  // the gateway ran, and a failure there (no descriptor left for its
  // context's reactor) was lost in the thread's run loop: the gateway
  // served on, that thread without any timeout (idle clients, slow
  // backends). Now the gateway either fails to start or times out on every
  // thread.
  auto backends = start_backends(1);
  {
    // a port already taken throws as before, now after the sweeps started
    // (they are stopped before their contexts go)
    gateway_server taken(gateway_options{.backends = addresses(backends)});
    const auto same_port = [&] {
      gateway_server gw(gateway_options{.port = taken.port(), .backends = addresses(backends), .threads = 2});
    };
    CHECK_THROWS_AS(same_port(), boost::system::system_error);
  }
  if (surge_test::sanitized) {
    // the sanitizers' runtime needs descriptors of its own (UBSan reads
    // memory through a pipe), so it cannot run short of them
    WARN("the descriptor shortage is skipped under a sanitizer");
    return;
  }
  const auto start = [&](std::size_t threads) {
    return std::make_unique<gateway_server>(
        gateway_options{.backends = addresses(backends), .threads = threads, .idle_timeout = 100ms});
  };
  // the fewest descriptors a gateway of one thread starts with
  int one = 0;
  for (;; ++one) {
    REQUIRE(one < 64);
    descriptor_shortage shortage(one);
    try {
      (void)start(1);
      break;
    } catch (const boost::system::system_error&) {
    }
  }
  {
    // a second thread needs descriptors of its own
    descriptor_shortage shortage(one);
    CHECK_THROWS_AS(start(2), boost::system::system_error);
  }
  for (int free = one; free <= one + 8; ++free) {
    CAPTURE(free);
    descriptor_shortage shortage(free);
    std::unique_ptr<gateway_server> gw;
    try {
      gw = start(2);
    } catch (const boost::system::system_error&) {
      continue;
    }
    shortage.release();
    // one idle connection on each thread: both are closed
    http_client first(gw->port()), second(gw->port());
    for (http_client* c : {&first, &second}) {
      c->send_raw("GET / HTTP/1.1\r\nHost: x\r\n");
      CHECK(c->read_until_close().second);
    }
  }
}

TEST_CASE("gateway: accepting survives running out of memory while taking a connection", "[gateway]") {
  surge_test::watchdog dog("gateway accept out of memory", 60s);
  // before: a std::bad_alloc in the acceptor's completion handler (handing
  // the connection to its thread, or arming the next accept) left it before
  // it armed the next accept; the io thread caught the exception and ran
  // on, but no connection was accepted again. Here the k-th allocation on
  // the acceptor's thread after the first connection fails.
  const auto served = [](std::uint16_t port) {
    http_client c(port, 2s);
    c.send_raw({});                      // connects
    return c.read_until_close().second;  // the handler below closes it
  };
  for (long k = 1; k <= 4; ++k) {
    CAPTURE(k);
    gateway::io_pool pool(1);
    std::atomic<long> arm{k};
    pool.start(0, [&arm](gateway::pool_socket, std::size_t) {
      if (const long n = arm.exchange(0)) surge_test::fail_allocation(n);
    });
    for (int i = 0; i < 5; ++i) CHECK(served(pool.port()));
  }
}

TEST_CASE("gateway: a client that expects 100-continue is told to send its body", "[gateway]") {
  surge_test::watchdog dog("gateway expect continue", 60s);
  auto backends = start_backends(1);
  // the idle timeout bounds the wait below: before, the gateway never
  // answered until the body came, so a client waiting for the 100 waited
  // for nothing (curl for a second, others until the timeout)
  gateway_server gw(gateway_options{.backends = addresses(backends), .idle_timeout = 2s});
  namespace asio = gateway::asio;
  asio::io_context ioc;
  gateway::tcp::socket s(ioc);
  s.connect(gateway::tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), gw.port()));
  asio::write(s, asio::buffer(std::string_view(
                     "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")));
  std::string interim;
  gateway::error_code ec;
  const std::size_t n = asio::read_until(s, asio::dynamic_buffer(interim), "\r\n\r\n", ec);
  REQUIRE_FALSE(ec);
  CHECK(interim.substr(0, n) == "HTTP/1.1 100 Continue\r\n\r\n");
  asio::write(s, asio::buffer(std::string_view("body")));
  gateway::beast::flat_buffer buffer;
  gateway::http::response<gateway::http::string_body> res;
  gateway::http::read(s, buffer, res);
  CHECK(res.result_int() == 200);
  CHECK(backends[0]->requests() == 1);
  s.close();
}

namespace {
// A canned backend: on each connection, for each of `answers` in turn, reads
// a request (keeping its bytes in `received`), counts it and sends that answer
// (an empty one: sends nothing); then closes. It counts before it answers, so
// a test that saw the answer (or the close) sees the count, and after the
// count what it received: counted after the close, a check could run first.
// With `linger` it closes as nginx and Apache do (a lingering close): shuts
// down its sending side, then reads until the peer closes, counting a
// request that still arrives in `late` (and closing on it unanswered).
gateway::asio::awaitable<void> canned_answers(gateway::tcp::acceptor& acceptor, std::atomic<int>& served,
                                              std::string& received, std::vector<std::string> answers, bool linger,
                                              std::atomic<int>& late) {
  for (;;) {
    gateway::error_code ec;
    gateway::tcp::socket s = co_await acceptor.async_accept(gateway::await_ec(ec));
    if (ec) co_return;
    char buf[4096];
    for (const std::string& answer : answers) {
      const std::size_t n = co_await s.async_read_some(gateway::asio::buffer(buf), gateway::await_ec(ec));
      if (ec) break;
      received.assign(buf, n);
      ++served;
      (void)co_await gateway::asio::async_write(s, gateway::asio::buffer(answer), gateway::await_ec(ec));
    }
    if (linger && !ec) {
      s.shutdown(gateway::tcp::socket::shutdown_send, ec);
      (void)co_await s.async_read_some(gateway::asio::buffer(buf), gateway::await_ec(ec));
      if (!ec) ++late;
    }
    s.close(ec);
  }
}

// Runs canned_answers on its own thread until destroyed.
struct canned_backend {
  gateway::asio::io_context ioc;
  gateway::tcp::acceptor acceptor{ioc, gateway::tcp::endpoint(gateway::asio::ip::make_address_v4("127.0.0.1"), 0)};
  std::atomic<int> served{0};
  std::atomic<int> late{0};  // requests that came after a lingering close began
  std::string received;      // the last request read (read it after served)
  std::thread runner;
  explicit canned_backend(std::string answer, bool linger = false)
      : canned_backend(std::vector<std::string>{std::move(answer)}, linger) {}
  explicit canned_backend(std::vector<std::string> answers, bool linger = false) {
    gateway::asio::co_spawn(ioc, canned_answers(acceptor, served, received, std::move(answers), linger, late),
                            gateway::asio::detached);
    runner = std::thread([this] { ioc.run_for(30s); });
  }
  ~canned_backend() {
    ioc.stop();
    runner.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()); }
};
}  // namespace

TEST_CASE("gateway: answers that must not be shared are not cached", "[gateway]") {
  surge_test::watchdog dog("gateway private answers", 60s);
  // before: each was stored and served to every later client for the TTL
  // (a session cookie, a private page, or one variant of a Vary answer)
  const std::string header = GENERATE(as<std::string>{}, "Set-Cookie: session=alice", "Cache-Control: no-store",
                                      "Cache-Control: max-age=60, Private", "Cache-Control: no-cache",
                                      "Vary: Accept-Encoding", "Authorization: Basic YWxpY2U6c2VjcmV0");
  CAPTURE(header);
  const bool request_header = header.rfind("Authorization", 0) == 0;
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n" +
                   (request_header ? std::string() : header + "\r\n") + "\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}, .cache = true});
  http_client client(gw.port());
  std::vector<std::pair<std::string, std::string>> headers;
  if (request_header) headers.emplace_back("Authorization", header.substr(header.find(' ') + 1));
  for (int i = 0; i < 2; ++i) {
    const auto r = client.get("/account", headers);
    CHECK(r.status == 200);
    CHECK(r.header("X-Cache") == "MISS");
  }
  CHECK(b.served == 2);
}

TEST_CASE("gateway: the answer to a request that says no-store is not cached", "[gateway]") {
  surge_test::watchdog dog("gateway request no-store", 60s);
  // RFC 9111 5.2.1.5: a cache must not store the answer to a request with
  // Cache-Control: no-store. Before: it was stored and served to every
  // later client for the TTL
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}, .cache = true});
  http_client client(gw.port());
  for (const std::string value : {"no-store", "max-age=0, No-Store"}) {
    CAPTURE(value);
    CHECK(client.get("/statement", {{"Cache-Control", value}}).header("X-Cache") == "MISS");
  }
  CHECK(client.get("/statement").header("X-Cache") == "MISS");
  CHECK(b.served == 3);
  // a stored answer may still serve such a request (it stores nothing)
  CHECK(client.get("/statement", {{"Cache-Control", "no-store"}}).header("X-Cache") == "HIT");
  CHECK(b.served == 3);
}

TEST_CASE("gateway: the cache keeps the answers for different hosts apart", "[gateway]") {
  surge_test::watchdog dog("gateway cache per host", 60s);
  // a resource is its Host and its target (RFC 9111 2). Before: the key was
  // the target alone, so one site's answer was served for another's on a
  // backend serving several, and a client could put any site's answer (or
  // an error page) in the cache for another's clients by naming its own Host
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}, .cache = true});
  http_client client(gw.port());
  CHECK(client.get("/page", {{"Host", "a.example"}}).header("X-Cache") == "MISS");
  CHECK(client.get("/page", {{"Host", "b.example"}}).header("X-Cache") == "MISS");
  CHECK(b.served == 2);
  CHECK(client.get("/page", {{"Host", "a.example"}}).header("X-Cache") == "HIT");
  CHECK(client.get("http://b.example/page").header("X-Cache") == "HIT");
  CHECK(b.served == 2);
}

TEST_CASE("gateway: an answer's fields its Connection header names still keep it from the cache", "[gateway]") {
  surge_test::watchdog dog("gateway Connection-named cache fields", 60s);
  // the fields a Connection header names are for the next hop, the gateway,
  // which drops them rather than pass them on. Before: it dropped them
  // before it asked whether the answer may be shared, so a `Cache-Control:
  // private` or a `Set-Cookie` meant for it was not seen, and the answer was
  // served to every client for the TTL
  const std::string named = GENERATE(as<std::string>{}, "Cache-Control\r\nCache-Control: private",
                                     "Set-Cookie\r\nSet-Cookie: session=alice", "Vary\r\nVary: Cookie");
  CAPTURE(named);
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: " + named + "\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}, .cache = true});
  http_client client(gw.port());
  for (int i = 0; i < 2; ++i) {
    const auto r = client.get("/account");
    CHECK(r.status == 200);
    CHECK(r.header("X-Cache") == "MISS");
    CHECK(r.header(named.substr(0, named.find('\r'))).empty());  // and it is not passed on
  }
  CHECK(b.served == 2);
}

TEST_CASE("gateway: a successful unsafe request drops the cached answer for its target", "[gateway]") {
  surge_test::watchdog dog("gateway cache invalidation", 60s);
  // RFC 9111 4.4: a cache invalidates the target of an unsafe request that
  // got a non-error answer. Before: after a PUT, POST or DELETE went through
  // the gateway, a GET still got the old answer until its TTL passed
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}, .cache = true});
  http_client client(gw.port());
  int i = 0;
  for (const auto method : {gateway::http::verb::put, gateway::http::verb::post, gateway::http::verb::delete_}) {
    CAPTURE(static_cast<int>(method));
    const std::string item = "/item?id=" + std::to_string(++i);
    CHECK(client.get(item).header("X-Cache") == "MISS");
    CHECK(client.get(item).header("X-Cache") == "HIT");
    CHECK(client.request(method, item, {}, "new").status == 200);
    CHECK(client.get(item).header("X-Cache") == "MISS");
    CHECK(client.get(item).header("X-Cache") == "HIT");
  }
  CHECK(b.served == 9);
  CHECK(client.get("/item?id=1").header("X-Cache") == "HIT");  // other targets stay
  CHECK(client.get("/item?id=1", {{"Host", "other.example"}}).header("X-Cache") == "MISS");
}

TEST_CASE("gateway: an answer from the cache says its age", "[gateway]") {
  surge_test::watchdog dog("gateway cache Age", 60s);
  // a cache that answers from storage sends the answer's age (RFC 9111 4,
  // 5.1): what the backend said it was plus its time in the cache. Before:
  // none, or the backend's as it was when stored, so a cache in front (a
  // browser's) took a stored answer for as fresh as a new one
  manual_time t;
  canned_backend fresh("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  canned_backend aged("HTTP/1.1 200 OK\r\nAge: 7\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {fresh.address()}, .cache = true, .cache_ttl = 1h, .clock = t.clock()});
  gateway_server gw_aged(
      gateway_options{.backends = {aged.address()}, .cache = true, .cache_ttl = 1h, .clock = t.clock()});
  http_client client(gw.port()), client_aged(gw_aged.port());
  const auto first = client.get("/a");
  CHECK(first.header("X-Cache") == "MISS");
  CHECK(first.header("Age").empty());
  CHECK(client_aged.get("/a").header("Age") == "7");
  CHECK(client.get("/a").header("Age") == "0");
  t.advance(2999ms);
  CHECK(client.get("/a").header("Age") == "2");
  const auto hit = client_aged.get("/a");
  CHECK(hit.header("X-Cache") == "HIT");
  CHECK(hit.header("Age") == "9");
  t.advance(30min);
  CHECK(client_aged.get("/a").header("Age") == "1809");
  CHECK(fresh.served == 1);
  CHECK(aged.served == 1);
}

TEST_CASE("gateway: a backend that dies mid-response is a failure for its breaker", "[gateway]") {
  surge_test::watchdog dog("gateway dying backend", 60s);
  // sends half an answer, then closes
  canned_backend broken("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
  manual_time t;
  auto good = start_backends(1);
  {
    gateway_server gw(gateway_options{.backends = {broken.address(), address(*good[0])},
                                      .retries = 1,
                                      .breaker = {.window_size = 2, .minimum_calls = 2, .wait_in_open = 10s},
                                      .clock = t.clock()});
    http_client client(gw.port());
    // GETs are retried on the healthy backend until the broken one's breaker opens
    int failed = 0;
    for (int i = 0; i < 40 && gw.breaker_state(0) != breaker_state::open; ++i) failed += client.get("/x").status != 200;
    CHECK(failed == 0);
    CHECK(gw.breaker_state(0) == breaker_state::open);
    CHECK(broken.served == 2);
  }
  {
    // a POST is not retried: the broken answer becomes a 502
    gateway_server gw(gateway_options{.backends = {broken.address()}, .clock = t.clock()});
    http_client client(gw.port());
    CHECK(client.request(gateway::http::verb::post, "/x", {}, "x").status == 502);
    CHECK(gw.requests(gateway::outcome::error) == 1);
    CHECK(broken.served == 3);
  }
}

TEST_CASE("gateway: an answer over the gateway's limits is a 502, not a failure of the backend", "[gateway]") {
  surge_test::watchdog dog("gateway oversized answer", 60s);
  // before: it counted as a failed exchange: each GET for it was retried on
  // the other backend (which gave the same answer), and a few of them
  // opened every backend's breaker, so the gateway answered 503 to every
  // other request while the breakers waited
  const std::string big = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\nok";
  canned_backend first(big), second(big);
  manual_time t;
  gateway_server gw(gateway_options{.backends = {first.address(), second.address()},
                                    .retries = 1,
                                    .breaker = {.window_size = 2, .minimum_calls = 2, .wait_in_open = 10s},
                                    .clock = t.clock()});
  http_client client(gw.port());
  for (int i = 0; i < 6; ++i) {
    const auto r = client.get("/huge");
    CHECK(r.status == 502);
    CHECK(r.body.find("header limit") != std::string::npos);
  }
  CHECK(first.served + second.served == 6);
  CHECK(gw.breaker_state(0) == breaker_state::closed);
  CHECK(gw.breaker_state(1) == breaker_state::closed);
  const auto m = parse_metrics(client.get("/metrics").body);
  CHECK(m.at("surge_gateway_retries_total") == 0);
  CHECK(gw.requests(gateway::outcome::error) == 6);
}

TEST_CASE("gateway: pooled connections the backend closed are replaced, not counted as failures", "[gateway]") {
  surge_test::watchdog dog("gateway stale pool", 60s);
  auto first = std::make_unique<backend_server>(gateway::backend_options{.name = "b0", .latency = 50ms});
  const std::uint16_t port = first->port();
  gateway_server gw(gateway_options{.backends = {"127.0.0.1:" + std::to_string(port)}, .threads = 1});
  // four requests at once: the gateway's thread pools four upstream connections
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) clients.emplace_back([&] { ok += http_client(gw.port()).get("/warm").status == 200; });
  for (auto& t : clients) t.join();
  REQUIRE(ok.load() == 4);
  // the backend restarts on the same port: every pooled connection is now closed
  first.reset();
  backend_server second(gateway::backend_options{.port = port, .name = "b0"});
  http_client client(gw.port());
  // a POST as well: the pooled connections are seen closed before it goes
  CHECK(client.request(gateway::http::verb::post, "/after", {}, "x").status == 200);
  for (int i = 0; i < 4; ++i) CHECK(client.get("/after").status == 200);
  CHECK(gw.requests(gateway::outcome::error) == 0);
  CHECK(second.requests() == 5);
}

TEST_CASE("gateway: a connection whose answer ended with its close is not pooled", "[gateway]") {
  surge_test::watchdog dog("gateway answer to the close", 60s);
  // an answer with no length ends where the backend closes the connection,
  // whatever its fields say. Before: the connection went back to the pool
  // all the same, and the next request was sent into it; a backend closing
  // gracefully (its side shut down, reading on until the peer closes) read
  // that request and closed, and, with nothing more arriving on the
  // connection, the gateway waited out upstream_timeout and answered 502
  const std::string answer = GENERATE(as<std::string>{}, "HTTP/1.1 200 OK\r\n\r\nto the close",
                                      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nto the close");
  CAPTURE(answer);
  canned_backend b(answer, true);
  gateway_server gw(gateway_options{.backends = {b.address()}, .upstream_timeout = 1s});
  http_client client(gw.port());
  for (int i = 0; i < 3; ++i) {
    const auto r = client.get("/eof");
    CHECK(r.status == 200);
    CHECK(r.body == "to the close");
  }
  CHECK(b.served == 3);
  CHECK(b.late == 0);
}

TEST_CASE("gateway: a POST is not sent again when its pooled connection fails after it went out", "[gateway]") {
  surge_test::watchdog dog("gateway pooled POST", 60s);
  // answers a connection's first request and keeps it open, then reads its
  // second and closes without answering (as a backend that crashed on it)
  canned_backend flaky(std::vector<std::string>{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", ""});
  gateway_server gw(gateway_options{.backends = {flaky.address()}});
  http_client client(gw.port());
  CHECK(client.request(gateway::http::verb::post, "/order", {}, "1").status == 200);
  // before: the close was taken for a stale pooled connection and the POST
  // was sent again on a new one, so the backend ran it twice
  CHECK(client.request(gateway::http::verb::post, "/order", {}, "2").status == 502);
  CHECK(flaky.served == 2);
  // a GET may be sent again: the same failure is retried on a new connection
  CHECK(client.get("/a").status == 200);
  CHECK(client.get("/a").status == 200);
  CHECK(flaky.served == 5);
  CHECK(gw.requests(gateway::outcome::error) == 1);
}

TEST_CASE("gateway: a backend slower than upstream_timeout is a 502 timeout, then the gateway serves on", "[gateway]") {
  surge_test::watchdog dog("gateway upstream timeout", 60s);
  backend_server slow(gateway::backend_options{.name = "slow", .latency = 5s});
  gateway_server gw(gateway_options{.backends = {address(slow)}, .retries = 0, .upstream_timeout = 100ms});
  http_client client(gw.port());
  const auto r = client.get("/slow");
  CHECK(r.status == 502);
  CHECK(r.body.find("timeout") != std::string::npos);
  CHECK(gw.requests(gateway::outcome::error) == 1);
  slow.set_latency(0ms);
  CHECK(client.get("/fast").status == 200);  // on a new upstream connection: the late one was closed
  CHECK(gw.requests(gateway::outcome::ok) == 1);
}

TEST_CASE("gateway: a client waiting on a backend slower than the idle timeout gets its answer", "[gateway]") {
  surge_test::watchdog dog("gateway busy client", 60s);
  // before: the idle timeout ran on while the gateway waited for the
  // backend, so the client's connection was closed under it
  backend_server slow(gateway::backend_options{.name = "slow", .latency = 300ms});
  gateway_server gw(gateway_options{.backends = {address(slow)}, .idle_timeout = 100ms});
  http_client client(gw.port());
  CHECK(client.get("/slow").status == 200);
  CHECK(gw.requests(gateway::outcome::ok) == 1);
}

TEST_CASE("gateway: a backend latency too long for the clock never answers", "[gateway]") {
  surge_test::watchdog dog("backend long latency", 60s);
  // before: now + latency overflowed into the past and the backend answered
  // at once
  backend_server stuck(gateway::backend_options{.name = "stuck", .latency = std::chrono::milliseconds::max()});
  gateway_server gw(gateway_options{.backends = {address(stuck)}, .retries = 0, .upstream_timeout = 100ms});
  http_client client(gw.port());
  const auto r = client.get("/stuck");
  CHECK(r.status == 502);
  CHECK(r.body.find("timeout") != std::string::npos);
  // latency and jitter that add up beyond the range: the same
  stuck.set_latency(std::chrono::milliseconds::max() - 1ms);
  stuck.set_jitter(std::chrono::milliseconds::max());
  CHECK(client.get("/stuck").status == 502);
  CHECK(gw.requests(gateway::outcome::error) == 2);
}

TEST_CASE("gateway: a chunked answer is forwarded whole, a HEAD answer without a body", "[gateway]") {
  surge_test::watchdog dog("gateway framing", 60s);
  canned_backend chunked(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
  gateway_server gw(gateway_options{.backends = {chunked.address()}});
  http_client client(gw.port());
  const auto r = client.get("/c");
  CHECK(r.status == 200);
  CHECK(r.body == "hello, world");
  CHECK(r.header("Content-Length") == "12");
  CHECK(r.header("Transfer-Encoding").empty());
  CHECK(r.keep_alive);  // the backend's Connection: close is its own business
  auto backends = start_backends(1);
  gateway_server plain(gateway_options{.backends = addresses(backends)});
  http_client c2(plain.port());
  const auto head = c2.request(gateway::http::verb::head, "/h");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.header("Content-Length") == "14");  // the length of the GET body
  CHECK(c2.get("/h").body.size() == 14);         // and the connection is still in step
}

TEST_CASE("gateway: the gateway's own answers to a HEAD have no body", "[gateway]") {
  surge_test::watchdog dog("gateway HEAD replies", 60s);
  // before: a 429, 502 or 503 of the gateway's own sent its text after the
  // head of an answer to a HEAD, which has no body (RFC 9110 9.3.2): the
  // client took those bytes for the start of the next answer
  std::uint16_t gone = 0;
  {
    backend_server b(gateway::backend_options{.name = "gone"});
    gone = b.port();
  }
  gateway_server gw(gateway_options{
      .backends = {"127.0.0.1:" + std::to_string(gone)}, .limit = true, .rate = 0.001, .burst = 1, .retries = 0});
  const auto answer_of = [&](const std::string& bytes) {
    http_client raw(gw.port());
    raw.send_raw(bytes);
    return raw.read_until_close().first;
  };
  const std::string head = "HEAD /h HTTP/1.1\r\nHost: x\r\nX-Client: c\r\nConnection: close\r\n\r\n";
  // the backend is gone: 502
  const std::string bad_gateway = answer_of(head);
  CHECK(bad_gateway.rfind("HTTP/1.1 502", 0) == 0);
  CHECK(bad_gateway.find("\r\n\r\n") == bad_gateway.size() - 4);
  CHECK(bad_gateway.find("\r\nContent-Length: ") != std::string::npos);  // the length a GET's body would have
  // the client's one token is spent: 429
  const std::string limited = answer_of(head);
  CHECK(limited.rfind("HTTP/1.1 429", 0) == 0);
  CHECK(limited.find("\r\n\r\n") == limited.size() - 4);
}

TEST_CASE("gateway: an HTTP/1.0 request without Host goes on as HTTP/1.1 with one", "[gateway]") {
  surge_test::watchdog dog("gateway HTTP/1.0", 60s);
  // before: it went on with no Host at all, which an HTTP/1.1 server must
  // refuse with 400 (RFC 9112 3.2), so a backend that checks refused every
  // such client
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  http_client raw(gw.port());
  raw.send_raw("GET /old HTTP/1.0\r\n\r\n");
  const auto [text, closed] = raw.read_until_close();
  CHECK(text.rfind("HTTP/1.0 200", 0) == 0);
  CHECK(closed);
  REQUIRE(b.served == 1);
  CHECK(b.received.rfind("GET /old HTTP/1.1\r\n", 0) == 0);
  CHECK(b.received.find("\r\nHost:") != std::string::npos);
}

TEST_CASE("gateway: an absolute-form target is the same resource as its origin-form path", "[gateway]") {
  surge_test::watchdog dog("gateway absolute-form", 60s);
  // before: `GET http://host/page` went on as it came, was cached apart from
  // `/page` (two entries for one resource, and Maglev hashed two paths), kept
  // the client's Host instead of the target's authority, and
  // `GET http://host/metrics` went to a backend
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(
      gateway_options{.backends = {b.address()}, .balancer = gateway::balancer_kind::maglev, .cache = true});
  http_client client(gw.port());
  const auto first = client.get("HTTP://user@example.com:8080/page?id=1");
  CHECK(first.status == 200);
  CHECK(first.header("X-Cache") == "MISS");
  REQUIRE(b.served == 1);
  CHECK(b.received.rfind("GET /page?id=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(b.received.find("\r\nHost: example.com:8080\r\n") != std::string::npos);
  CHECK(client.get("/page?id=1", {{"Host", "example.com:8080"}}).header("X-Cache") == "HIT");
  CHECK(client.get("http://example.com:8080/page?id=1").header("X-Cache") == "HIT");
  CHECK(client.get("http://example.com?id=2").header("X-Cache") == "MISS");
  REQUIRE(b.served == 2);
  CHECK(b.received.rfind("GET /?id=2 HTTP/1.1\r\n", 0) == 0);
  CHECK(client.get("/?id=2", {{"Host", "example.com"}}).header("X-Cache") == "HIT");
  const auto metrics = client.get("http://example.com/metrics");
  CHECK(metrics.body.find("surge_gateway_requests_total") != std::string::npos);
  CHECK(b.served == 2);
}

TEST_CASE("gateway: an HTTP/1.1 request without a Host, or with two, gets 400", "[gateway]") {
  surge_test::watchdog dog("gateway Host", 60s);
  // before: the first went on with an empty Host put in, the second with
  // both, where a server must answer 400 (RFC 9112 3.2)
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  for (const std::string request : {"GET /x HTTP/1.1\r\n\r\n", "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"}) {
    CAPTURE(request);
    http_client raw(gw.port());
    raw.send_raw(request);
    raw.send_raw("GET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string text = raw.read_until_close().first;
    CHECK(text.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(text.find("HTTP/1.1 200") != std::string::npos);  // the connection serves on
  }
  CHECK(b.served == 2);
  CHECK(gw.requests(gateway::outcome::bad_request) == 2);
}

TEST_CASE("gateway: a Host that is not a host and port gets 400", "[gateway]") {
  surge_test::watchdog dog("gateway invalid Host", 60s);
  // RFC 9112 3.2: 400 to a request whose Host has an invalid value. Before:
  // any value went on to the backend (and into the cache key), a path, a
  // userinfo or blanks included
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  for (const std::string host : {"evil.example/reset?to=", "user@site.example", "a b", "site.example\\x", "<x>"}) {
    CAPTURE(host);
    http_client raw(gw.port());
    raw.send_raw("GET /x HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
    raw.send_raw("GET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string text = raw.read_until_close().first;
    CHECK(text.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(text.find("HTTP/1.1 200") != std::string::npos);  // the connection serves on
  }
  CHECK(b.served == 5);
  CHECK(gw.requests(gateway::outcome::bad_request) == 5);
  // names, IPv4 and IPv6 literals, ports, and an empty Host are all fine
  http_client client(gw.port());
  for (const std::string host :
       {"site.example", "Site-1.example:8080", "127.0.0.1:80", "[::1]:8080", "xn--bcher-kva.example", ""}) {
    CAPTURE(host);
    CHECK(client.get("/z", {{"Host", host}}).status == 200);
  }
}

TEST_CASE("gateway: a body in a transfer coding besides chunked: 501 for a request, 502 for an answer", "[gateway]") {
  surge_test::watchdog dog("gateway transfer codings", 60s);
  // before: the chunked framing was undone and the header dropped, so the
  // backend took the gzip bytes for the body itself
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  http_client raw(gw.port());
  raw.send_raw(
      "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n");
  const auto [text, closed] = raw.read_until_close();
  CHECK(text.rfind("HTTP/1.1 501", 0) == 0);
  CHECK(closed);
  CHECK(b.served == 0);
  CHECK(gw.requests(gateway::outcome::bad_request) == 1);
  // chunked alone is forwarded, with its length
  raw.send_raw(
      "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n");
  CHECK(raw.read_until_close().first.rfind("HTTP/1.1 200", 0) == 0);
  REQUIRE(b.served == 1);
  CHECK(b.received.find("\r\nContent-Length: 3\r\n\r\nabc") != std::string::npos);

  // an answer in one is a failed exchange: before, the client got the
  // still gzip-coded bytes as the body itself, with nothing to say so
  canned_backend coded(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  gateway_server gw2(gateway_options{.backends = {coded.address()}, .retries = 0});
  http_client client(gw2.port());
  const auto r = client.get("/coded");
  CHECK(r.status == 502);
  CHECK(r.body.find("Transfer-Encoding") != std::string::npos);
  CHECK(gw2.requests(gateway::outcome::error) == 1);
}

TEST_CASE("gateway: a request body keeps its length when the Connection header names Content-Length", "[gateway]") {
  surge_test::watchdog dog("gateway Connection: Content-Length", 60s);
  // before: the Content-Length went with the fields the Connection header
  // names and the body went on unframed, so the backend read the body as a
  // request of its own (smuggled past the gateway's limits and cache)
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  const std::string smuggled = "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n";
  http_client raw(gw.port());
  raw.send_raw("POST /form HTTP/1.1\r\nHost: x\r\nConnection: Content-Length, close\r\nContent-Length: " +
               std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
  CHECK(raw.read_until_close().first.rfind("HTTP/1.1 200", 0) == 0);
  REQUIRE(b.served == 1);
  CHECK(b.received.find("\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled) !=
        std::string::npos);
}

TEST_CASE("gateway: a request whose Transfer-Encoding does not end in chunked gets 400 and a close", "[gateway]") {
  surge_test::watchdog dog("gateway unframed transfer coding", 60s);
  // its length cannot be told (RFC 9112 6.3). Before: it got a 501 on a
  // connection kept open, and its body was read as the next request and
  // forwarded
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  const std::string framing =
      GENERATE(as<std::string>{}, "Transfer-Encoding: gzip\r\n", "Transfer-Encoding: chunked, gzip\r\n",
               "Transfer-Encoding: gzip\r\nContent-Length: 0\r\n");
  CAPTURE(framing);
  http_client raw(gw.port());
  raw.send_raw("POST /up HTTP/1.1\r\nHost: x\r\n" + framing + "\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto [text, closed] = raw.read_until_close();
  CHECK(text.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(text.find("HTTP/1.1", 1) == std::string::npos);  // one answer only
  CHECK(closed);
  CHECK(b.served == 0);
  CHECK(gw.requests(gateway::outcome::bad_request) == 1);
}

TEST_CASE("gateway: an HTTP/1.0 request with a Transfer-Encoding is answered, then its connection closes",
          "[gateway]") {
  surge_test::watchdog dog("gateway HTTP/1.0 transfer coding", 60s);
  // its framing is faulty (RFC 9112 6.1): an HTTP/1.0 hop in front may have
  // framed it otherwise. Before: the connection was kept open, and what
  // followed the chunked body was read as the next request
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  http_client raw(gw.port());
  raw.send_raw(
      "POST /up HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  const auto [text, closed] = raw.read_until_close();
  CHECK(text.rfind("HTTP/1.0 200", 0) == 0);
  CHECK(text.find("HTTP/1.0", 1) == std::string::npos);  // one answer only
  CHECK(closed);
  CHECK(b.served == 1);
}

TEST_CASE("gateway: an empty chunked request body goes on with Content-Length: 0", "[gateway]") {
  surge_test::watchdog dog("gateway empty chunked body", 60s);
  // before: with its Transfer-Encoding gone and no length put in its place,
  // a POST went on with no framing at all (servers that want a length for a
  // POST answer 411 Length Required)
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  http_client raw(gw.port());
  raw.send_raw("POST /empty HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n");
  CHECK(raw.read_until_close().first.rfind("HTTP/1.1 200", 0) == 0);
  REQUIRE(b.served == 1);
  CHECK(b.received.find("\r\nContent-Length: 0\r\n") != std::string::npos);
}

TEST_CASE("gateway: a 204 or 304 answer is passed on without a length of its own", "[gateway]") {
  surge_test::watchdog dog("gateway bodiless answers", 60s);
  // before: each got a Content-Length of its (empty) body: 0 on a 204, which
  // must not carry one, and 0 instead of the 304's 100, the length of the
  // representation it stands for
  canned_backend no_content("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
  canned_backend not_modified(
      "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 100\r\nConnection: close\r\n\r\n");
  gateway_server gw(gateway_options{.backends = {no_content.address()}});
  gateway_server gw304(gateway_options{.backends = {not_modified.address()}});
  http_client client(gw.port()), client304(gw304.port());
  const auto r = client.request(gateway::http::verb::delete_, "/item");
  CHECK(r.status == 204);
  CHECK(r.header("Content-Length").empty());
  const auto r304 = client304.get("/page", {{"If-None-Match", "\"v1\""}});
  CHECK(r304.status == 304);
  CHECK(r304.header("Content-Length") == "100");
  CHECK(client304.get("/page").status == 304);  // and the connection is still in step
}

TEST_CASE("gateway: the trailer fields of a chunked body do not become header fields", "[gateway]") {
  surge_test::watchdog dog("gateway trailers", 60s);
  // a recipient must not merge trailer fields into the header section (RFC
  // 9110 6.5.1). Before: those after a chunked request body went on to the
  // backend as header fields (a field a proxy in front had checked or
  // stripped from the header could come back that way), and those after a
  // chunked answer reached the client as header fields
  canned_backend b("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Answer-Trailer: a\r\n\r\n");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  http_client raw(gw.port());
  raw.send_raw(
      "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "3\r\nabc\r\n0\r\nX-Request-Trailer: r\r\n\r\n");
  const std::string text = raw.read_until_close().first;
  CHECK(text.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(text.find("\r\nContent-Length: 2\r\n") != std::string::npos);
  CHECK(text.find("X-Answer-Trailer") == std::string::npos);
  REQUIRE(b.served == 1);
  CHECK(b.received.find("\r\nContent-Length: 3\r\n\r\nabc") != std::string::npos);
  CHECK(b.received.find("X-Request-Trailer") == std::string::npos);
}

TEST_CASE("gateway: a 204 answer goes on without the Content-Length its backend gave it", "[gateway]") {
  surge_test::watchdog dog("gateway 204 with a length", 60s);
  // a 204 must not carry a Content-Length (RFC 9110 8.6). Before: the
  // backend's `Content-Length: 0` was passed on as it came
  canned_backend b("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  http_client client(gw.port());
  for (const auto method : {gateway::http::verb::delete_, gateway::http::verb::head}) {
    const auto r = client.request(method, "/item");
    CHECK(r.status == 204);
    CHECK(r.header("Content-Length").empty());
  }
  CHECK(b.served == 2);
}

TEST_CASE("gateway: a Connection header naming Host does not take the request's Host away", "[gateway]") {
  surge_test::watchdog dog("gateway Connection: Host", 60s);
  // Host names the resource for every hop and is never a connection option
  // (RFC 9110 7.6.1). Before: it went with the fields the Connection header
  // names, and the request went on with an empty Host put in its place, so
  // a backend serving several sites answered for none of them
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  http_client client(gw.port());
  int served = 0;
  for (const std::string connection : {"Host, X-Trace", "close, host, X-Trace"}) {
    CAPTURE(connection);
    CHECK(client.get("/site", {{"Connection", connection}, {"X-Trace", "1"}}).status == 200);
    REQUIRE(b.served == ++served);
    CHECK(b.received.find("\r\nHost: 127.0.0.1\r\n") != std::string::npos);
    CHECK(b.received.find("X-Trace") == std::string::npos);  // the other fields it names still go
  }
  // and an absolute-form target's authority, which replaces the Host
  CHECK(client.get("http://example.com/site", {{"Connection", "Host"}}).status == 200);
  REQUIRE(b.served == ++served);
  CHECK(b.received.find("\r\nHost: example.com\r\n") != std::string::npos);
}

TEST_CASE("gateway: the answer to a malformed or oversized HEAD has no body", "[gateway]") {
  surge_test::watchdog dog("gateway bad HEAD", 60s);
  // an answer to a HEAD never has a body (RFC 9110 9.3.2). Before: the
  // 400, 413 or 431 sent its text after the head all the same
  auto backends = start_backends(1);
  gateway_server gw(gateway_options{.backends = addresses(backends), .body_limit = 16});
  for (const std::string& request : {std::string("HEAD /h HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n"),
                                     std::string("HEAD /h HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"),
                                     "HEAD /h HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n"}) {
    CAPTURE(request.substr(0, 60));
    http_client raw(gw.port());
    raw.send_raw(request);
    const auto [text, closed] = raw.read_until_close();
    CHECK(text.rfind("HTTP/1.1 4", 0) == 0);
    CHECK(text.find("\r\n\r\n") == text.size() - 4);
    CHECK(text.find("\r\nContent-Length: ") != std::string::npos);  // the length a GET's body would have
    CHECK(closed);
  }
  CHECK(gw.requests(gateway::outcome::bad_request) == 3);
  CHECK(backends[0]->requests() == 0);
}

TEST_CASE("gateway: an absolute-form or /metrics request is held to the Host rule too", "[gateway]") {
  surge_test::watchdog dog("gateway Host of absolute-form", 60s);
  // RFC 9112 3.2: 400 to any HTTP/1.1 request without a Host and to any with
  // two. Before: a target in absolute form put its authority in as the only
  // Host before the check, so both went on, and /metrics was answered
  // before any check
  canned_backend b("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  gateway_server gw(gateway_options{.backends = {b.address()}});
  for (const std::string request :
       {"GET http://a/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET http://a/x HTTP/1.1\r\n\r\n",
        "GET http://a/x HTTP/1.0\r\nHost: a\r\nHost: b\r\nConnection: keep-alive\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n\r\n"}) {
    CAPTURE(request);
    http_client raw(gw.port());
    raw.send_raw(request);
    raw.send_raw("GET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string text = raw.read_until_close().first;
    CHECK(text.rfind("HTTP/1.", 0) == 0);
    CHECK(text.find(" 400 ") == 8);
    CHECK(text.find("HTTP/1.1 200") != std::string::npos);  // the connection serves on
  }
  CHECK(b.served == 4);
  CHECK(gw.requests(gateway::outcome::bad_request) == 4);
  // an HTTP/1.0 request in absolute form needs no Host: it gets the authority
  http_client raw(gw.port());
  raw.send_raw("GET http://example.com/old HTTP/1.0\r\n\r\n");
  CHECK(raw.read_until_close().first.rfind("HTTP/1.0 200", 0) == 0);
  REQUIRE(b.served == 5);
  CHECK(b.received.find("\r\nHost: example.com\r\n") != std::string::npos);
}

TEST_CASE("gateway: an interim 1xx answer is read past, not forwarded as the final one", "[gateway]") {
  surge_test::watchdog dog("gateway interim answers", 60s);
  // before: the 100 went to the client as its answer, and the pooled
  // connection handed the real 200 to the next request
  canned_backend interim(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal");
  gateway_server gw(gateway_options{.backends = {interim.address()}, .retries = 0});
  http_client client(gw.port());
  for (int i = 0; i < 2; ++i) {
    const auto r = client.request(gateway::http::verb::put, "/a", {{"Expect", "100-continue"}}, "body");
    CHECK(r.status == 200);
    CHECK(r.body == "final");
  }
  CHECK(interim.served == 2);
}

TEST_CASE("gateway: a 101 the gateway never asked for is a failed exchange", "[gateway]") {
  surge_test::watchdog dog("gateway unasked 101", 60s);
  // the gateway drops the client's Upgrade, so a backend may not switch
  // protocols (RFC 9110 15.2.2). Before: its 101 went to the client as the
  // final answer (without the Upgrade it named), and the connection, now in
  // another protocol, went back to the pool
  canned_backend b("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  gateway_server gw(gateway_options{.backends = {b.address()}, .retries = 0});
  http_client client(gw.port());
  const auto r = client.get("/ws", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}});
  CHECK(r.status == 502);
  CHECK(gw.requests(gateway::outcome::error) == 1);
}

TEST_CASE("gateway: bad options throw std::invalid_argument naming the field", "[gateway]") {
  surge_test::check_names([] { gateway_server gw(gateway_options{}); }, "backends");
  surge_test::check_names([] { gateway_server gw(gateway_options{.backends = {"localhost:80"}}); }, "backends");
  surge_test::check_names([] { gateway_server gw(gateway_options{.backends = {"127.0.0.1:0"}}); }, "backends");
  // before: accepted, and /metrics had two series with the same labels for
  // it (an exposition Prometheus does not define)
  surge_test::check_names(
      [] {
        gateway_server gw(gateway_options{.backends = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1"}});
      },
      "backends");
  surge_test::check_names([] { gateway_server gw(gateway_options{.backends = {"127.0.0.1:1"}, .threads = 0}); },
                          "threads");
  surge_test::check_names(
      [] { gateway_server gw(gateway_options{.backends = {"127.0.0.1:1"}, .limit = true, .rate = -1}); }, "rate");
  surge_test::check_names([] { gateway_server gw(gateway_options{.backends = {"127.0.0.1:1"}, .cache_ttl = 0ms}); },
                          "cache_ttl");
  surge_test::check_names([] { backend_server b(gateway::backend_options{.error_rate = 2.0}); }, "error_rate");
  CHECK(gateway::parse_balancer("least-conn") == gateway::balancer_kind::least_conn);
  CHECK_FALSE(gateway::parse_balancer("random"));
}

TEST_CASE("gateway: command-line milliseconds beyond their option's range are refused", "[gateway]") {
  // before: surge_gateway --breaker-wait-ms 18446744073710 converted the
  // milliseconds to the breaker's nanoseconds with a wrap-around, and the
  // breaker waited 0.45 ms
  std::vector<std::string> args{"surge_gateway", "--breaker-wait-ms", "18446744073710", "--idle-timeout-ms", "250"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  const auto flags =
      gateway::parse_flags(static_cast<int>(argv.size()), argv.data(), {"breaker-wait-ms", "idle-timeout-ms"});
  surge_test::check_names([&] { (void)gateway::flag_millis(flags, "breaker-wait-ms", std::chrono::nanoseconds(1)); },
                          "--breaker-wait-ms");
  CHECK(gateway::flag_millis(flags, "breaker-wait-ms", 1ms) == 18446744073710ms);  // milliseconds hold it
  CHECK(gateway::flag_millis(flags, "idle-timeout-ms", std::chrono::nanoseconds(1)) == 250ms);
  CHECK(gateway::flag_millis(flags, "cache-ttl-ms", 7ms) == 7ms);  // absent: the fallback
  CHECK(gateway::flag_millis<std::chrono::nanoseconds>(flags, "idle-timeout-ms", 1ns) == 250ms);
}

TEST_CASE("gateway: a backend idle timeout too long for the clock never ends, one <= 0 is refused", "[gateway]") {
  surge_test::watchdog dog("backend idle timeout", 60s);
  // before: now + the timeout overflowed into the past, so every connection
  // timed out before its first request was read; and 0 or less was taken,
  // with the same effect
  backend_server b(gateway::backend_options{.name = "patient", .idle_timeout = std::chrono::seconds::max()});
  http_client client(b.port());
  CHECK(client.get("/x").status == 200);
  CHECK(client.get("/y").status == 200);
  CHECK(b.requests() == 2);
  surge_test::check_names([] { backend_server z(gateway::backend_options{.idle_timeout = std::chrono::seconds(0)}); },
                          "idle_timeout");
}

TEST_CASE("gateway: the backend's control endpoint", "[gateway]") {
  surge_test::watchdog dog("backend control", 60s);
  backend_server b(gateway::backend_options{.name = "ctl"});
  http_client client(b.port());
  auto r = client.request(gateway::http::verb::post, "/control?latency=0&jitter=3&error_rate=0.25");
  CHECK(r.status == 200);
  CHECK(b.settings().jitter == 3ms);
  CHECK(b.settings().error_rate == 0.25);
  CHECK(client.get("/control").body.find("error_rate=0.25") != std::string::npos);
  CHECK(client.request(gateway::http::verb::post, "/control?error_rate=7").status == 400);
  CHECK(b.settings().error_rate == 0.25);  // a bad request changes nothing
  b.set_error_rate(0.0);
  r = client.get("/anything");
  CHECK(r.status == 200);
  CHECK(r.header("X-Backend") == "ctl");
  CHECK(b.requests() == 1);
}
