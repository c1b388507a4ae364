#include <surge/exec/async_mutex.hpp>
#include <surge/exec/channel.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/when_all.hpp>

#include <atomic>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include "exec_test_util.hpp"
#include "surge_test.hpp"

// Catch2 assertion macros must not contain co_await (g++ 12 miscompiles a
// co_await inside their try/do-while wrapper): await first, then check.

using surge::channel;
using surge::task;

TEST_CASE("channel buffers in FIFO order, bad capacity throws", "[exec][channel]") {
  CHECK_THROWS_AS(channel<int>(0), std::invalid_argument);
  try {
    channel<int> huge(std::numeric_limits<std::size_t>::max());
    FAIL("no std::length_error");
  } catch (const std::length_error& e) {
    CHECK(std::string(e.what()).find("surge::channel: capacity") != std::string::npos);
  }
  channel<int> ch(3);
  CHECK(ch.capacity() == 3);
  surge::sync_wait([](channel<int>& c) -> task<void> {
    for (int i = 0; i < 3; ++i) {
      const bool sent = co_await c.send(i);
      CHECK(sent);
    }
    int v = 3;
    CHECK_FALSE(c.try_send(v));  // full
    for (int i = 0; i < 3; ++i) {
      const auto got = co_await c.recv();
      CHECK(got == i);
    }
    CHECK_FALSE(c.try_recv().has_value());
  }(ch));
  CHECK(ch.size() == 0);
}

TEST_CASE("channel close: buffered values drain, then nullopt, sends fail", "[exec][channel]") {
  channel<std::unique_ptr<int>> ch(4);
  surge::sync_wait([](channel<std::unique_ptr<int>>& c) -> task<void> {
    const bool s1 = co_await c.send(std::make_unique<int>(1));
    const bool s2 = co_await c.send(std::make_unique<int>(2));
    CHECK((s1 && s2));
    c.close();
    c.close();  // idempotent
    CHECK(c.is_closed());
    const bool s3 = co_await c.send(std::make_unique<int>(3));
    CHECK_FALSE(s3);
    auto a = co_await c.recv();
    auto b = co_await c.recv();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(**a == 1);
    CHECK(**b == 2);
    const auto end = co_await c.recv();
    CHECK_FALSE(end.has_value());
  }(ch));

  // waiters are woken by close: receivers with nullopt, senders with false
  channel<int> empty(1), full(1);
  REQUIRE(full.try_recv() == std::nullopt);
  int v = 0;
  REQUIRE(full.try_send(v));
  int receivers_done = 0, senders_failed = 0;
  auto receiver = [](channel<int>& c, int& n) -> task<void> {
    if (!(co_await c.recv())) ++n;
  };
  auto sender = [](channel<int>& c, int& n) -> task<void> {
    if (!(co_await c.send(7))) ++n;
  };
  exec_test::start(receiver(empty, receivers_done));
  exec_test::start(receiver(empty, receivers_done));
  exec_test::start(sender(full, senders_failed));
  CHECK(receivers_done == 0);
  empty.close();
  full.close();
  CHECK(receivers_done == 2);
  CHECK(senders_failed == 1);
  CHECK(full.try_recv() == 0);  // the value buffered before close is still there
}

TEST_CASE("channel hands values to waiting receivers and unblocks senders in order", "[exec][channel]") {
  channel<int> ch(1);
  std::vector<int> got;
  auto receiver = [](channel<int>& c, std::vector<int>& out) -> task<void> {
    while (auto v = co_await c.recv()) out.push_back(*v);
  };
  std::vector<int> sent_order;
  auto sender = [](channel<int>& c, std::vector<int>& log, int id) -> task<void> {
    const bool sent = co_await c.send(id);
    CHECK(sent);
    log.push_back(id);
  };
  for (int i = 0; i < 4; ++i) exec_test::start(sender(ch, sent_order, i));  // 0 buffered, 1..3 wait
  CHECK(sent_order == std::vector<int>{0});
  exec_test::start(receiver(ch, got));
  CHECK(got == std::vector<int>{0, 1, 2, 3});
  CHECK(sent_order == std::vector<int>{0, 1, 2, 3});
  ch.close();
}

TEST_CASE("channel stress: several senders and receivers, no loss, no duplication", "[exec][channel]") {
  surge::thread_pool ex(2);  // two workers
  constexpr int senders = 4, receivers = 3, per_sender = 5000;
  channel<int> ch(8);
  std::vector<std::vector<int>> received(receivers);
  std::atomic<int> senders_left{senders}, failed_sends{0};
  auto sender = [&](int id) -> task<void> {
    co_await ex.schedule();
    for (int i = 0; i < per_sender; ++i) {
      if (i % 64 == 0) co_await ex.schedule();
      const bool sent = co_await ch.send(id * per_sender + i);
      if (!sent) failed_sends.fetch_add(1);  // counted, checked below: Catch2 assertions are not thread-safe
    }
    if (senders_left.fetch_sub(1) == 1) ch.close();
  };
  auto receiver = [&](int id) -> task<void> {
    co_await ex.schedule();
    while (auto v = co_await ch.recv()) {
      received[static_cast<std::size_t>(id)].push_back(*v);
      if (*v % 97 == 0) co_await ex.schedule();
    }
  };
  std::vector<task<void>> tasks;
  for (int r = 0; r < receivers; ++r) tasks.push_back(receiver(r));
  for (int s = 0; s < senders; ++s) tasks.push_back(sender(s));
  surge::sync_wait(surge::when_all(std::move(tasks)));
  CHECK(failed_sends.load() == 0);

  std::vector<int> seen(senders * per_sender, 0);
  for (const auto& r : received) {
    std::vector<int> last(senders, -1);
    for (int v : r) {
      ++seen[static_cast<std::size_t>(v)];
      const auto s = static_cast<std::size_t>(v / per_sender);
      CHECK(v > last[s]);  // each sender's values arrive in order
      last[s] = v;
    }
  }
  CHECK(std::count(seen.begin(), seen.end(), 1) == senders * per_sender);
}

TEST_CASE("channel send/recv cancellation", "[exec][channel]") {
  channel<int> ch(1);
  std::stop_source stop;
  int cancelled = 0;
  auto receiver = [](channel<int>& c, std::stop_token t, int& n) -> task<void> {
    try {
      (void)co_await c.recv(t);
    } catch (const surge::operation_cancelled&) {
      ++n;
    }
  };
  auto sender = [](channel<int>& c, std::stop_token t, int& n, int v) -> task<void> {
    try {
      (void)co_await c.send(v, t);
    } catch (const surge::operation_cancelled&) {
      ++n;
    }
  };
  exec_test::start(receiver(ch, stop.get_token(), cancelled));
  stop.request_stop();
  CHECK(cancelled == 1);
  int one = 1;
  REQUIRE(ch.try_send(one));
  std::stop_source stop2;
  exec_test::start(sender(ch, stop2.get_token(), cancelled, 2));  // blocks: full
  stop2.request_stop();
  CHECK(cancelled == 2);
  CHECK(ch.try_recv() == 1);
  CHECK_FALSE(ch.try_recv().has_value());                       // the cancelled send left nothing
  exec_test::start(receiver(ch, stop.get_token(), cancelled));  // stopped before the call
  CHECK(cancelled == 3);
}

TEST_CASE("channel close resumes every waiter before what they wake", "[exec][channel]") {
  // close() wakes receivers r1 and r2; r1's unlock wakes x. FIFO by wake-up:
  // r1, r2, x (x used to run between them).
  channel<int> ch(1);
  surge::async_mutex m;
  REQUIRE(m.try_lock());
  std::string order;
  auto unlocker = [](channel<int>& c, surge::async_mutex& mx, std::string& out) -> task<void> {
    const auto v = co_await c.recv();
    out += v ? '?' : '1';
    mx.unlock();
  };
  auto receiver = [](channel<int>& c, std::string& out) -> task<void> {
    const auto v = co_await c.recv();
    out += v ? '?' : '2';
  };
  auto locker = [](surge::async_mutex& mx, std::string& out) -> task<void> {
    co_await mx.lock();
    out += 'x';
    mx.unlock();
  };
  exec_test::start(unlocker(ch, m, order));
  exec_test::start(receiver(ch, order));
  exec_test::start(locker(m, order));
  ch.close();
  CHECK(order == "12x");
  CHECK_FALSE(m.is_locked());
}
