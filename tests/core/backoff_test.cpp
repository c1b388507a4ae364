#include <surge/detail/backoff.hpp>

#include <atomic>
#include <thread>

#include "surge_test.hpp"

TEST_CASE("backoff spins a bounded number of steps, then asks to block", "[detail][backoff]") {
  surge::detail::backoff<16, 3> b;
  int steps = 0;
  while (b.spinning()) {
    b.pause();
    ++steps;
  }
  // spins at 1, 2, 4, 8 (four steps reach 16), then yields three times
  CHECK(steps == 4 + 3);
  b.pause(); // past the limits pause keeps yielding, never hangs
  CHECK_FALSE(b.spinning());
  b.reset();
  CHECK(b.spinning());
}

TEST_CASE("backoff lets a waiter see another thread's store", "[detail][backoff]") {
  std::atomic<bool> flag{false};
  std::thread setter([&] {
    flag.store(true, std::memory_order_release);
    flag.notify_one();  // without it, flag.wait(false) below may sleep forever
  });
  surge::detail::backoff<> b;
  while (!flag.load(std::memory_order_acquire)) {
    if (b.spinning()) {
      b.pause();
    } else {
      flag.wait(false, std::memory_order_acquire);
    }
  }
  setter.join();
  CHECK(flag.load());
}
