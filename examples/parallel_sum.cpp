// Summing a large array on a work-stealing thread_pool: parallel_for over
// chunks (each chunk writes its own slot, so no two threads share a counter),
// then a serial sum of the slots. Also submit() with a future, and post()
// with wait_idle(). Exits 1 if either sum is not n(n - 1)/2, the future's value is not
// the last element, or a posted task had not run when wait_idle() returned.
//
//   surge_example_parallel_sum [elements=20000000]
//
// elements is at most 1e9 (4 GB of std::uint32_t, each value distinct).
#include <surge/exec/parallel_for.hpp>
#include <surge/exec/thread_pool.hpp>

#include <fmt/format.h>

#include "example_args.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <numeric>
#include <vector>

template <class F>
double millis(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int main(int argc, char** argv) {
  const auto n = static_cast<std::size_t>(example_args(argc, argv, "parallel_sum", "[elements=20000000]", 1)
                                              .number(1, "elements", 20'000'000, 1, 1e9, true));
  std::vector<std::uint32_t> data(n);
  std::iota(data.begin(), data.end(), 0u);

  surge::thread_pool pool;  // one worker per hardware thread
  std::uint64_t serial = 0, parallel = 0;
  const double serial_ms = millis([&] { serial = std::accumulate(data.begin(), data.end(), std::uint64_t{0}); });

  const double parallel_ms = millis([&] {
    constexpr std::size_t chunk = 1 << 16;  // 64 Ki elements: big enough to amortise a task
    const std::size_t chunks = (n + chunk - 1) / chunk;
    std::vector<std::uint64_t> partial(chunks);
    surge::parallel_for(pool, std::size_t{0}, chunks, [&](std::size_t c) {  // returns when every chunk is done
      const auto first = data.begin() + static_cast<std::ptrdiff_t>(c * chunk);
      const auto last = data.begin() + static_cast<std::ptrdiff_t>(std::min(n, (c + 1) * chunk));
      partial[c] = std::accumulate(first, last, std::uint64_t{0});
    });
    parallel = std::accumulate(partial.begin(), partial.end(), std::uint64_t{0});
  });

  const std::uint64_t expected = std::uint64_t{n} * (n - 1) / 2;  // below 2^59 for n <= 1e9
  fmt::print("sum of 0..{} (n(n - 1)/2 = {}): serial {} in {:.1f} ms; parallel_for on {} workers {} in {:.1f} ms\n",
             n - 1, expected, serial, serial_ms, pool.size(), parallel, parallel_ms);

  // submit: a value (or the task's exception) comes back through a future.
  std::future<std::uint64_t> max = pool.submit([&] { return std::uint64_t{data.back()}; });
  // post: fire and forget; wait_idle() returns once everything posted has run.
  std::atomic<int> posted{0};
  for (int i = 0; i < 1000; ++i) pool.post([&posted] { posted.fetch_add(1, std::memory_order_relaxed); });
  pool.wait_idle();
  const std::uint64_t last = max.get();
  const int ran = posted.load();
  fmt::print("submit returned {}; {} posted tasks ran before wait_idle() returned\n", last, ran);
  return serial == expected && parallel == expected && last == n - 1 && ran == 1000 ? 0 : 1;
}
