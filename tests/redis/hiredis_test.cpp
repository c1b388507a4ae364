// Faults: surge::redis::hiredis_connection and token_bucket when Redis is
// unreachable, killed, restarted, paused (SIGSTOP) or answers garbage; the
// fault policies and the circuit breaker.
#include <surge/redis/hiredis.hpp>
#include <surge/redis/token_bucket.hpp>

#include "failing_new.hpp"
#include "redis_server.hpp"
#include "surge_test.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <latch>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace surge_redis_test;
using surge::redis::hiredis_connection;

namespace {

surge::redis::reply error_reply(std::string s) {
  surge::redis::reply r;
  r.type = surge::redis::reply::kind::error;
  r.str = std::move(s);
  return r;
}

std::string what_of(auto&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no exception";
}

template <class F>
us elapsed(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration_cast<us>(std::chrono::steady_clock::now() - t0);
}

// the budget a call may take beyond its timeout here (process scheduling,
// sanitizers, a loaded machine running tests side by side); the point is that
// it is not a hang (with no timeout a paused server blocks forever)
constexpr us slack = 1s;

/// A socket listening on a free loopback port, and that port.
std::pair<int, int> loopback_listener() {
  const int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(ls >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(ls, 1) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return {ls, ntohs(addr.sin_port)};
}

/// Makes the server close `c`'s connection (CLIENT KILL from `admin`), as an
/// idle timeout or a restart would; `c` is connected first if it was not.
void closed_by_server(hiredis_connection& c, hiredis_connection& admin) {
  const std::vector<surge::redis::command> id{{"CLIENT", "ID"}};
  const auto mine = c.pipeline(id, 1s);
  REQUIRE(mine.status == fault::none);
  const std::vector<surge::redis::command> kill{{"CLIENT", "KILL", "ID", std::to_string(mine.replies.at(0).integer)}};
  REQUIRE(admin.pipeline(kill, 1s).status == fault::none);
}

}  // namespace

TEST_CASE("redis faults: each policy decides when Redis does not answer", "[redis]") {
  using clk = surge_test::manual_clock<struct policy_clock>;
  scripted_connection c;
  using sb = surge::redis::token_bucket<scripted_connection, clk>;
  {
    sb open(c, "p:", 10.0, 4, {.on_fault = fault_policy::fail_open, .breaker_failures = 0});
    const auto d = open.try_acquire("k", 1, clk::now());
    CHECK(d.allowed);
    CHECK(d.source == decision_source::fail_open);
    CHECK(d.cause == fault::timeout);
    CHECK(!open.try_acquire("k", 5, clk::now()).allowed);  // n > burst never passes
    CHECK(open.try_acquire("k", 5, clk::now()).retry_after == us::max());
    CHECK(open.lease("k", 3, clk::now()).granted() == 3);
  }
  {
    sb closed(c, "p:", 10.0, 4, {.on_fault = fault_policy::fail_closed, .breaker_open_for = 250ms});
    const auto d = closed.try_acquire("k", 1, clk::now());
    CHECK(!d.allowed);
    CHECK(d.source == decision_source::fail_closed);
    CHECK(d.retry_after == 250ms);
    CHECK(closed.lease("k", 3, clk::now()).granted() == 0);
  }
  {
    // 4 instances share 10/s, burst 8: each falls back to 2.5/s, burst 2
    sb local(c, "p:", 10.0, 8, {.on_fault = fault_policy::local, .instances = 4, .breaker_failures = 0});
    CHECK(local.try_acquire("k", 1, clk::now()).allowed);
    CHECK(local.try_acquire("k", 1, clk::now()).allowed);
    const auto d = local.try_acquire("k", 1, clk::now());
    CHECK(!d.allowed);
    CHECK(d.source == decision_source::local);
    CHECK(d.retry_after == 400ms);
    CHECK(local.try_acquire("other", 1, clk::now()).allowed);  // per key
    clk::advance(400ms);
    CHECK(local.try_acquire("k", 1, clk::now()).allowed);
    clk::advance(800ms);
    CHECK(local.lease("k", 5, clk::now()).granted() == 2);
    // n above the local share (2) but within the burst (8): wait for Redis, not "never"
    const auto big = local.try_acquire("k", 3, clk::now());
    CHECK(!big.allowed);
    CHECK(big.retry_after == surge::redis::options{}.breaker_open_for);
    CHECK(local.try_acquire("k", 9, clk::now()).retry_after == us::max());  // n > burst: never
  }
  {
    // a large local lease is taken at once (2^40 tokens were taken one call at a time: hours)
    sb local(c, "p:", 1e12, std::size_t{1} << 40, {.on_fault = fault_policy::local, .breaker_failures = 0});
    CHECK(local.lease("k", std::size_t{1} << 40, clk::now()).granted() == std::size_t{1} << 40);
    CHECK(local.lease("k", 5, clk::now()).granted() == 0);
  }
  {
    // a local share so slow that its wait saturates: still the local wait
    // (it was taken for "above the local burst": the breaker's 1 s, far too early)
    sb local(c, "p:", 1e-6, 1, {.on_fault = fault_policy::local, .instances = 100'000, .breaker_failures = 0});
    CHECK(local.try_acquire("k", 1, clk::now()).allowed);
    const auto d = local.try_acquire("k", 1, clk::now());
    CHECK(!d.allowed);
    CHECK(d.retry_after > std::chrono::hours(24 * 365 * 100));
  }
  {
    // a peek takes nothing from the local fallback (it took a token)
    sb local(c, "p:", 10.0, 1, {.on_fault = fault_policy::local, .breaker_failures = 0});
    CHECK(local.peek("k", 1, clk::now()).allowed);
    CHECK(local.peek("k", 1, clk::now()).allowed);
    CHECK(local.try_acquire("k", 1, clk::now()).allowed);
    CHECK(!local.peek("k", 1, clk::now()).allowed);
    CHECK(!local.try_acquire("k", 1, clk::now()).allowed);
  }
  {
    // at local_max_keys the fallback emptied its map on every call, so every
    // call found a fresh bucket and passed
    sb local(c, "p:", 10.0, 1, {.on_fault = fault_policy::local, .breaker_failures = 0, .local_max_keys = 1});
    CHECK(local.try_acquire("k", 1, clk::now()).allowed);
    CHECK(!local.try_acquire("k", 1, clk::now()).allowed);
    CHECK(local.try_acquire("other", 1, clk::now()).allowed);  // a new key past the bound starts afresh
    CHECK(!local.try_acquire("other", 1, clk::now()).allowed);
  }
  {
    sb raise(c, "p:", 10.0, 4, {.on_fault = fault_policy::raise});
    try {
      (void)raise.try_acquire("k", 1, clk::now());
      FAIL("no exception");
    } catch (const surge::redis::error& e) {
      CHECK(e.kind() == fault::timeout);
      CHECK(std::string(e.what()).find("timeout") != std::string::npos);
    }
    CHECK_THROWS_AS(raise.reset("k"), surge::redis::error);
  }
}

TEST_CASE("redis faults: the circuit breaker makes a dead Redis cost one local decision per call", "[redis]") {
  using clk = surge_test::manual_clock<struct breaker_clock>;
  scripted_connection c;
  surge::redis::token_bucket<scripted_connection, clk> b(c, "p:", 10.0, 4,
                                                         {.breaker_failures = 3, .breaker_open_for = 1s});
  for (int i = 0; i < 3; ++i) CHECK(b.try_acquire("k", 1, clk::now()).cause == fault::timeout);
  CHECK(b.breaker_open());
  for (int i = 0; i < 100; ++i) CHECK(b.try_acquire("k", 1, clk::now()).cause == fault::circuit_open);
  CHECK(c.calls == 3);
  clk::advance(1001ms);  // one probe; it fails: open again
  CHECK(b.try_acquire("k", 1, clk::now()).cause == fault::timeout);
  CHECK(b.try_acquire("k", 1, clk::now()).cause == fault::circuit_open);
  CHECK(c.calls == 4);
  clk::advance(1001ms);
  c.status = fault::none;  // Redis is back (answering garbage, as it happens: still a success of the transport)
  c.answer = error_reply("ERR boom");
  CHECK_THROWS_AS(b.try_acquire("k", 1, clk::now()), surge::redis::reply_error);
  CHECK(!b.breaker_open());
}

TEST_CASE("redis faults: a connection that throws during the breaker's probe does not keep it half-open",
          "[redis]") {
  using clk = surge_test::manual_clock<struct probe_clock>;
  struct throwing_connection : scripted_connection {
    bool raise = false;
    surge::redis::pipeline_result pipeline(std::span<const surge::redis::command> cmds, us t) {
      if (raise) throw std::runtime_error("the client library failed");
      return scripted_connection::pipeline(cmds, t);
    }
  };
  throwing_connection c;
  surge::redis::token_bucket<throwing_connection, clk> b(c, "p:", 10.0, 4,
                                                         {.breaker_failures = 1, .breaker_open_for = 1s});
  CHECK(b.try_acquire("k", 1, clk::now()).cause == fault::timeout);
  CHECK(b.breaker_open());
  clk::advance(1001ms);
  c.raise = true;  // the half-open probe throws
  CHECK_THROWS_AS(b.try_acquire("k", 1, clk::now()), std::runtime_error);
  c.raise = false;
  c.status = fault::none;  // Redis answers again
  c.answer = error_reply("ERR boom");
  // the next call probes Redis (before: the thrown probe kept the breaker's
  // only half-open permit, and every later call was refused as circuit_open)
  CHECK_THROWS_AS(b.try_acquire("k", 1, clk::now()), surge::redis::reply_error);
  CHECK(!b.breaker_open());
}

TEST_CASE("redis faults: only faults open the breaker; slow answers do not", "[redis]") {
  // answers slower than the breaker's default slow-call duration (60 s), all
  // within the call's timeout, are successes: before, n of them opened it
  using clk = surge_test::manual_clock<struct slow_clock>;
  scripted_connection c;
  surge::redis::token_bucket<scripted_connection, clk> b(c, "p:", 10.0, 4, {.timeout = 10min});
  for (int i = 0; i < 10; ++i) b.breaker().on_success(std::chrono::minutes(5), clk::now());
  CHECK(!b.breaker_open());
  b.breaker().on_failure(std::chrono::minutes(5), clk::now());
  CHECK(!b.breaker_open());  // 3 faults in a row open it
  b.breaker().on_failure(1ms, clk::now());
  b.breaker().on_failure(1ms, clk::now());
  CHECK(b.breaker_open());
}

TEST_CASE("redis faults: a garbage reply or a wrong script result is a clear error", "[redis]") {
  scripted_connection c;
  c.status = fault::none;
  surge::redis::token_bucket<scripted_connection> b(c, "p:", 10.0, 4, {.on_fault = fault_policy::fail_open});
  c.answer.type = surge::redis::reply::kind::status;
  c.answer.str = "OK";
  auto w = what_of([&] { (void)b.try_acquire("k"); });
  CHECK(w.find("key 'p:k'") != std::string::npos);
  CHECK(w.find("unexpected reply to the limiter script") != std::string::npos);
  c.answer = {};
  c.answer.type = surge::redis::reply::kind::array;
  c.answer.elements.resize(2);
  for (auto& e : c.answer.elements) e.type = surge::redis::reply::kind::integer;
  c.answer.elements[0].integer = 0;  // the server's time must be after the epoch
  w = what_of([&] { (void)b.try_acquire("k"); });
  CHECK(w.find("impossible values") != std::string::npos);
  c.answer.elements[0].integer = 1'796'406'939'369'522;
  c.answer.elements[1].integer = 4 * 100'000 + 1;  // a debt above a full bucket (burst 4 at 10/s)
  w = what_of([&] { (void)b.try_acquire("k"); });
  CHECK(w.find("impossible values") != std::string::npos);
  c.answer.elements[1].integer = 100'000;  // one token taken: a valid reply
  CHECK(b.try_acquire("k").remaining == 3);
  // a refusal may find more debt than a full bucket: a state written by a
  // bucket of a larger burst under this prefix, or before the server's clock
  // stepped back (before: "impossible values", whatever the fault policy)
  c.answer.elements[1].integer = -1 - 450'000;
  const auto over = b.try_acquire("k");
  CHECK_FALSE(over.allowed);
  CHECK(over.remaining == 0);
  CHECK(over.retry_after == 150ms);  // 4.5 tokens of debt, 1 wanted, burst 4, 10/s
  CHECK(over.reset_after == 450ms);
  c.answer.elements[1].integer = -1 - (std::int64_t{1} << 61);  // no state of ours
  w = what_of([&] { (void)b.try_acquire("k"); });
  CHECK(w.find("impossible values") != std::string::npos);
  c.answer.elements[0].integer = std::numeric_limits<std::int64_t>::max();  // a lease's end overflowed from it
  w = what_of([&] { (void)b.try_acquire("k"); });
  CHECK(w.find("impossible values") != std::string::npos);
  c.answer.elements[0].integer = 1'796'406'939'369'522;
  w = what_of([&] { (void)b.lease("k", 2); });  // a lease's reply has three elements
  CHECK(w.find("unexpected reply") != std::string::npos);
  c.answer = error_reply("ERR Error running script");
  w = what_of([&] { (void)b.try_acquire_many(std::vector<std::string>{"a", "b"}); });
  CHECK(w.find("ERR Error running script") != std::string::npos);
  c.status = fault::protocol;
  w = what_of([&] { (void)b.try_acquire("k"); });
  CHECK(w.find("not RESP") != std::string::npos);
}

TEST_CASE("redis faults: a server that cannot serve now is a fault for the policy and the breaker", "[redis]") {
  scripted_connection c;
  c.status = fault::none;
  surge::redis::token_bucket<scripted_connection> b(c, "p:", 10.0, 4,
                                                    {.on_fault = fault_policy::fail_open, .breaker_failures = 0});
  for (const char* text :
       {"OOM command not allowed when used memory > 'maxmemory'.", "BUSY Redis is busy running a script.",
        "LOADING Redis is loading the dataset in memory", "READONLY You can't write against a read only replica.",
        "MASTERDOWN Link with MASTER is down", "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down",
        // before: reply_error, whatever the policy
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
        "NOREPLICAS Not enough good replicas to write.", "ERR max number of clients reached",
        "ERR max number of clients + cluster connections reached"}) {
    INFO(text);
    c.answer = error_reply(text);
    const auto d = b.try_acquire("k");  // before: reply_error, whatever the policy
    CHECK(d.allowed);
    CHECK(d.source == decision_source::fail_open);
    CHECK(d.cause == fault::unavailable);
  }
  // counted as failures by the breaker (before: as successes)
  surge::redis::token_bucket<scripted_connection> guarded(c, "p:", 10.0, 4,
                                                          {.on_fault = fault_policy::fail_open, .breaker_failures = 2});
  c.answer = error_reply("OOM command not allowed when used memory > 'maxmemory'.");
  (void)guarded.try_acquire("k");
  (void)guarded.try_acquire("k");
  CHECK(guarded.breaker_open());
  // an error that only starts with one of those words is not one of them
  surge::redis::token_bucket<scripted_connection> other(c, "p:", 10.0, 4, {.on_fault = fault_policy::fail_open});
  c.answer = error_reply("BUSYKEY Target key name already exists.");
  CHECK(what_of([&] { (void)other.try_acquire("k"); }).find("BUSYKEY") != std::string::npos);
  CHECK(std::string(surge::redis::to_string(fault::unavailable)) == "unavailable");
}

TEST_CASE("redis faults: a server short of replicas or at its client limit is a fault for the policy", "[redis]") {
  surge_redis_test::server srv("limits-server-" + std::to_string(::getpid()));
  if (!srv.start()) return;
  hiredis_connection admin("127.0.0.1", srv.port()), c("127.0.0.1", srv.port());
  const auto config = [&](const char* name, const char* value) {
    const std::vector<surge::redis::command> set{{"CONFIG", "SET", name, value}};
    const auto r = admin.pipeline(set, 1s);
    REQUIRE(r.status == fault::none);
    REQUIRE(r.replies.at(0).str == "OK");
  };
  surge::redis::token_bucket<hiredis_connection> b(c, "limits:", 10.0, 4,
                                                   {.on_fault = fault_policy::fail_open, .breaker_failures = 0});
  // writes refused until a replica acknowledges them: the script's SET fails
  config("min-replicas-to-write", "1");
  auto d = b.try_acquire("k");  // before: reply_error ("NOREPLICAS ..."), whatever the policy
  CHECK(d.source == decision_source::fail_open);
  CHECK(d.cause == fault::unavailable);
  config("min-replicas-to-write", "0");
  // the server accepts a connection past maxclients only to say so and close it
  c.disconnect();
  config("maxclients", "1");  // the admin connection is the one client
  d = b.try_acquire("k");  // before: reply_error ("ERR max number of clients reached")
  CHECK(d.source == decision_source::fail_open);
  CHECK((d.cause == fault::unavailable || d.cause == fault::broken));
  config("maxclients", "100");
  c.disconnect();
  CHECK(b.try_acquire("k").source == decision_source::redis);
  srv.stop();
}

TEST_CASE("redis faults: foreign data under a key is a clear error", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  hiredis_connection c("127.0.0.1", port);
  surge::redis::token_bucket<hiredis_connection> b(c, "surge-test:" + std::to_string(::getpid()) + ":foreign:", 10.0, 4,
                                                   {.on_fault = fault_policy::fail_open});
  const surge::redis::command set{"SET", b.full_key("str"), "hello"};
  const surge::redis::command push{"LPUSH", b.full_key("list"), "x"};
  const std::vector<surge::redis::command> cmds{set, push};
  REQUIRE(c.pipeline(cmds, 1s).status == fault::none);
  auto w = what_of([&] { (void)b.try_acquire("str"); });
  CHECK(w.find("does not hold a surge token bucket state") != std::string::npos);
  w = what_of([&] { (void)b.try_acquire("list"); });
  CHECK(w.find("WRONGTYPE") != std::string::npos);
}

TEST_CASE("redis faults: a server that is not Redis", "[redis]") {
  const auto listener = loopback_listener();  // not a structured binding: clang 14 cannot capture one
  const int ls = listener.first, port = listener.second;
  std::thread peer([ls] {
    const int s = ::accept(ls, nullptr, nullptr);
    if (s < 0) return;
    char buf[4096];
    (void)::read(s, buf, sizeof buf);
    const char garbage[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    (void)::write(s, garbage, sizeof garbage - 1);
    ::close(s);
  });
  hiredis_connection c("127.0.0.1", port);
  surge::redis::token_bucket<hiredis_connection> b(c, "p:", 10.0, 4, {.timeout = 2s});
  const auto w = what_of([&] { (void)b.try_acquire("k"); });
  peer.join();
  ::close(ls);
  CHECK(w.find("not RESP") != std::string::npos);
  CHECK(!c.connected());
}

TEST_CASE("redis faults: a write to a server that stops reading ends at the call's deadline", "[redis]") {
  const auto listener = loopback_listener();  // not a structured binding: clang 14 cannot capture one
  const int ls = listener.first, port = listener.second;
  std::latch finished(1);
  std::thread peer([ls, &finished] {
    const int s = ::accept(ls, nullptr, nullptr);
    if (s < 0) return;
    char buf[4096];
    (void)::read(s, buf, sizeof buf);  // the PING
    const char pong[] = "+PONG\r\n";
    (void)::write(s, pong, sizeof pong - 1);
    finished.wait();  // and reads nothing more
    ::close(s);
  });
  // connected by a call with a long timeout, so a write that blocked until a
  // send timeout set at connect time would take 20 s
  hiredis_connection c("127.0.0.1", port, 20s);
  const surge::redis::command ping{"PING"};
  REQUIRE(c.pipeline(std::span<const surge::redis::command>(&ping, 1), 20s).status == fault::none);
  // more than the socket buffers hold while the peer reads nothing; 2 s is
  // ample time to format it
  const surge::redis::command big{"SET", "k", std::string(std::size_t{16} << 20, 'x')};
  surge::redis::pipeline_result r;
  CHECK(elapsed([&] { r = c.pipeline(std::span<const surge::redis::command>(&big, 1), 2s); }) < 2s + slack);
  CHECK(r.status == fault::timeout);
  CHECK(!c.connected());
  finished.count_down();
  peer.join();
  ::close(ls);
}

TEST_CASE("redis faults: unreachable Redis answers within the timeout", "[redis]") {
  // a port nobody listens on: bind one, then close it
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(s);
  hiredis_connection c("127.0.0.1", ntohs(addr.sin_port));
  const surge::redis::command ping{"PING"};
  surge::redis::pipeline_result r;
  CHECK(elapsed([&] { r = c.pipeline(std::span<const surge::redis::command>(&ping, 1), 50ms); }) < 50ms + slack);
  CHECK(r.status == fault::unreachable);
  CHECK(r.message.find("cannot connect") != std::string::npos);
}

TEST_CASE("redis faults: killed, restarted and paused redis-server", "[redis]") {
  surge_redis_test::server srv("fault-server-" + std::to_string(::getpid()));
  if (!srv.start()) return;
  using clk = surge_test::manual_clock<struct kill_clock>;
  hiredis_connection conn("127.0.0.1", srv.port());
  const auto make = [&](fault_policy p) {
    return std::make_unique<surge::redis::token_bucket<hiredis_connection, clk>>(
        conn, "kill:", 100.0, 5,
        surge::redis::options{.timeout = 100ms, .on_fault = p, .breaker_failures = 2, .breaker_open_for = 1s});
  };
  auto closed = make(fault_policy::fail_closed);
  auto open = make(fault_policy::fail_open);
  auto local = make(fault_policy::local);
  REQUIRE(closed->try_acquire("k", 1, clk::now()).source == decision_source::redis);
  REQUIRE(closed->try_acquire("k", 1, clk::now()).remaining == 3);

  srv.kill_now();
  surge::redis::decision d;
  for (auto* b : {closed.get(), open.get(), local.get()}) {
    CHECK(elapsed([&] { d = b->try_acquire("k", 1, clk::now()); }) < 100ms + slack);
    CHECK((d.cause == fault::broken || d.cause == fault::unreachable || d.cause == fault::timeout));
  }
  CHECK(!closed->try_acquire("k", 1, clk::now()).allowed);
  CHECK(open->try_acquire("k", 1, clk::now()).allowed);
  CHECK(local->try_acquire("k", 1, clk::now()).source == decision_source::local);
  CHECK(closed->breaker_open());
  // open: no more round trips, each call one fast local decision
  CHECK(elapsed([&] {
          for (int i = 0; i < 1000; ++i) d = closed->try_acquire("k", 1, clk::now());
        }) < slack);
  CHECK(d.cause == fault::circuit_open);

  // restarted on the same port: the limiter recovers (the state was lost: a full bucket)
  REQUIRE(srv.start(conn.port()));
  clk::advance(1001ms);
  d = closed->try_acquire("k", 1, clk::now());
  CHECK(d.source == decision_source::redis);
  CHECK(d.remaining == 4);
  CHECK(!closed->breaker_open());

  // paused with SIGSTOP: every call returns within its timeout
  srv.pause();
  for (int i = 0; i < 2; ++i) {
    CHECK(elapsed([&] { d = closed->try_acquire("k", 1, clk::now()); }) < 100ms + slack);
    CHECK(d.cause == fault::timeout);
    CHECK(!d.allowed);
  }
  CHECK(closed->breaker_open());
  srv.resume();
  clk::advance(1001ms);
  d = closed->try_acquire("k", 1, clk::now());
  CHECK(d.source == decision_source::redis);
  srv.stop();
}

TEST_CASE("redis hiredis_connection: bad arguments name the argument", "[redis]") {
  const auto throws = [](auto make, const char* what) {
    try {
      make();
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(what) != std::string::npos);
    }
  };
  throws([] { hiredis_connection c("", 6379); }, "host");
  throws([] { hiredis_connection c("127.0.0.1", 0); }, "port");
  throws([] { hiredis_connection c("127.0.0.1", 65536); }, "port");
  throws([] { hiredis_connection c("127.0.0.1", 6379, 0us); }, "connect_timeout");
  throws([] { hiredis_connection c("127.0.0.1", 6379, 1ms, -1us); }, "idle_check");
  throws([] { surge::redis::hiredis_pool p("127.0.0.1", 6379, 0); }, "size");
  // before: std::length_error from reserving SIZE_MAX connections
  throws([] { surge::redis::hiredis_pool p("127.0.0.1", 6379, std::numeric_limits<std::size_t>::max()); }, "size");
  throws([] { surge::redis::hiredis_pool p("127.0.0.1", 6379, surge::redis::hiredis_pool::max_size + 1); }, "size");
  // an empty command: Redis answers nothing to it, so the call used to wait
  // out its timeout (and pair later replies with the wrong commands);
  // refused before anything is sent (port 1: nothing is connected either)
  const std::vector<surge::redis::command> cmds{{"PING"}, {}};
  hiredis_connection c("127.0.0.1", 1);
  throws([&] { static_cast<void>(c.pipeline(cmds, 1s)); }, "command must not be empty");
  surge::redis::hiredis_pool pool("127.0.0.1", 1, 1);
  throws([&] { static_cast<void>(pool.pipeline(cmds, 1s)); }, "command must not be empty");
}

TEST_CASE("redis hiredis_connection: pipelines, pools across threads", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  hiredis_connection c("127.0.0.1", port);
  const std::string k = "surge-test:" + std::to_string(::getpid()) + ":pipe";
  const std::vector<surge::redis::command> cmds{
      {"DEL", k}, {"INCRBY", k, "5"}, {"GET", k}, {"NOSUCHCOMMAND"}, {"PING"}};
  const auto r = c.pipeline(cmds, 1s);
  REQUIRE(r.status == fault::none);
  REQUIRE(r.replies.size() == 5);
  CHECK(r.replies[1].integer == 5);
  CHECK(r.replies[2].str == "5");
  CHECK(r.replies[3].type == surge::redis::reply::kind::error);
  CHECK(r.replies[4].str == "PONG");
  surge::redis::hiredis_pool pool("127.0.0.1", port, 2);
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      const std::vector<surge::redis::command> one{{"INCRBY", k, "1"}};
      for (int i = 0; i < 50; ++i)
        if (pool.pipeline(one, 2s).status == fault::none) ok.fetch_add(1);
    });
  for (auto& t : ts) t.join();
  CHECK(ok.load() == 200);
  const std::vector<surge::redis::command> get{{"GET", k}};
  CHECK(c.pipeline(get, 1s).replies.at(0).str == "205");
  // a timeout too long for the clock means no limit (before: the deadline
  // overflowed into the past and the call timed out at once)
  CHECK(c.pipeline(get, std::chrono::microseconds::max()).status == fault::none);
  CHECK(pool.pipeline(get, std::chrono::microseconds::max()).status == fault::none);
}

TEST_CASE("redis hiredis_connection: an idle connection the server closed is reopened, not a fault", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  hiredis_connection c("127.0.0.1", port, 100ms, 0us), admin("127.0.0.1", port);  // check before every call
  closed_by_server(c, admin);
  const std::vector<surge::redis::command> ping{{"PING"}};
  const auto r = c.pipeline(ping, 1s);  // before: fault::broken (the stale connection was used)
  CHECK(r.status == fault::none);
  CHECK(r.replies.at(0).str == "PONG");
  CHECK(what_of([&] { hiredis_connection bad("127.0.0.1", port, 100ms, -1us); }).find("idle_check") !=
        std::string::npos);
}

TEST_CASE("redis hiredis_connection: an idle_check too long for the clock means never", "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  // before: microseconds::max() overflowed in nanoseconds (undefined
  // behaviour) and, wrapped below zero, checked before every call
  hiredis_connection c("127.0.0.1", port, 100ms, us::max()), admin("127.0.0.1", port);
  closed_by_server(c, admin);
  // never checked: the call finds the close itself (a fault), and the next reconnects
  const std::vector<surge::redis::command> ping{{"PING"}};
  CHECK(c.pipeline(ping, 1s).status == fault::broken);
  CHECK(c.pipeline(ping, 1s).status == fault::none);
}

namespace {

// a resolver that answers only when the test lets it: a name server that does not answer
std::latch* lookup_release = nullptr;
std::latch* lookup_done = nullptr;
int late_getaddrinfo(const char*, const char*, const addrinfo*, addrinfo**) {
  lookup_release->wait();
  lookup_done->count_down();
  return EAI_AGAIN;
}
int failing_getaddrinfo(const char*, const char*, const addrinfo*, addrinfo**) { return EAI_NONAME; }
int out_of_memory_getaddrinfo(const char*, const char*, const addrinfo*, addrinfo**) {
  surge_test::fail_allocation(1);  // on the lookup's thread: its next allocation (the error text) throws
  return EAI_NONAME;
}

}  // namespace

TEST_CASE("redis hiredis_connection: a host name is looked up within the call's timeout", "[redis]") {
  const surge::redis::command ping{"PING"};
  const auto one = std::span<const surge::redis::command>(&ping, 1);
  SECTION("a resolver that does not answer costs the timeout, not its own seconds") {
    std::latch release(1), done(1);
    lookup_release = &release;
    lookup_done = &done;
    surge::redis::detail::getaddrinfo_fn = &late_getaddrinfo;
    hiredis_connection c("redis.surge-test.invalid", 6379);
    surge::redis::pipeline_result r;
    // before: getaddrinfo ran on the caller's thread, for as long as it took
    CHECK(elapsed([&] { r = c.pipeline(one, 50ms); }) < 50ms + slack);
    CHECK(r.status == fault::timeout);
    CHECK(r.message.find("looking up the host") != std::string::npos);
    release.count_down();
    done.wait();  // the abandoned lookup has finished with the test's objects
    surge::redis::detail::getaddrinfo_fn = &::getaddrinfo;
  }
  SECTION("a name that does not resolve is unreachable, with the resolver's reason") {
    surge::redis::detail::getaddrinfo_fn = &failing_getaddrinfo;
    hiredis_connection c("redis.surge-test.invalid", 6379);
    const auto r = c.pipeline(one, 1s);
    surge::redis::detail::getaddrinfo_fn = &::getaddrinfo;
    CHECK(r.status == fault::unreachable);
    CHECK(r.message.find(::gai_strerror(EAI_NONAME)) != std::string::npos);
  }
  SECTION("memory running out on the lookup's thread is std::bad_alloc on the caller's") {
    surge::redis::detail::getaddrinfo_fn = &out_of_memory_getaddrinfo;
    hiredis_connection c("redis.surge-test.invalid", 6379);
    // before: the exception left the lookup's thread, which ended the process
    const auto w = what_of([&] { (void)c.pipeline(one, 1s); });
    surge::redis::detail::getaddrinfo_fn = &::getaddrinfo;
    CHECK(w == std::bad_alloc().what());
    CHECK(!c.connected());
  }
  SECTION("a name with several addresses: each is tried in turn") {
    const int port = surge_redis_test::shared_port();
    if (port == 0) return;
    // localhost: ::1 and 127.0.0.1 in some order; the server listens on one of them
    hiredis_connection c("localhost", port);
    const auto r = c.pipeline(one, 1s);
    REQUIRE(r.status == fault::none);
    CHECK(r.replies.at(0).str == "PONG");
  }
}

TEST_CASE("redis hiredis_pool: a call that throws gives its connection back", "[redis]") {
  // a port nobody listens on: each call fails fast, as unreachable
  const auto [ls, port] = loopback_listener();
  ::close(ls);
  surge::redis::hiredis_pool pool("127.0.0.1", port, 1);
  const surge::redis::command ping{"PING"};
  const auto one = std::span<const surge::redis::command>(&ping, 1);
  surge_test::each_allocation_failing([&] { (void)pool.pipeline(one, 1s); },
                                      [&](long k, bool threw, bool failed) {
                                        INFO("allocation " << k << " fails");
                                        CHECK(threw == failed);
                                        // the pool's one connection is back: the next call reaches the socket
                                        // (before: a throw lost it, and every later call waited out its timeout)
                                        const auto r = pool.pipeline(one, 200ms);
                                        CHECK(r.status == fault::unreachable);
                                        REQUIRE(k < 1000);
                                      });
}

TEST_CASE("redis hiredis_connection: a call that throws drops the connection (no later call reads its replies)",
          "[redis]") {
  const int port = surge_redis_test::shared_port();
  if (port == 0) return;
  hiredis_connection c("127.0.0.1", port);
  // each round's commands are made before its allocation is armed; the
  // second has more arguments than the first: formatting it allocates again
  const auto round = [](long k) {
    return std::vector<surge::redis::command>{{"ECHO", "first " + std::to_string(k)}, {"MSET", "x", "1", "y", "2"}};
  };
  std::vector<surge::redis::command> cmds = round(1);
  surge_test::each_allocation_failing([&] { (void)c.pipeline(cmds, 1s); },
                                      [&](long k, bool threw, bool failed) {
                                        INFO("allocation " << k << " fails");
                                        CHECK(threw == failed);
                                        // before: a command formatted but not sent, or replies not read,
                                        // stayed on the connection, and the next call took them for its own
                                        const std::string tag = "next " + std::to_string(k);
                                        const std::vector<surge::redis::command> next{{"ECHO", tag}};
                                        const auto r = c.pipeline(next, 1s);
                                        REQUIRE(r.status == fault::none);
                                        CHECK(r.replies.at(0).str == tag);
                                        REQUIRE(k < 1000);
                                        cmds = round(k + 1);
                                      });
}
