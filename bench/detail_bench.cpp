// Cost of the detail basics that every concurrent surge type builds on:
// one cross-core cache-line transfer (atomic ping-pong between two threads),
// with and without cache-line padding between the two flags. This is the
// physical unit the queue, pool and limiter benchmarks are measured against.
#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "bench.hpp"

namespace {

template <class Flags>
double ping_pong_ns(std::uint64_t rounds) {
  Flags f;
  std::thread pong([&] {
    for (std::uint64_t i = 1; i <= rounds; ++i) {
      while (f.ping().load(std::memory_order_acquire) != i) surge::detail::cpu_relax();
      f.pong().store(i, std::memory_order_release);
    }
  });
  const double ns = surge_bench::time_ns([&] {
    for (std::uint64_t i = 1; i <= rounds; ++i) {
      f.ping().store(i, std::memory_order_release);
      while (f.pong().load(std::memory_order_acquire) != i) surge::detail::cpu_relax();
    }
  });
  pong.join();
  return ns / static_cast<double>(rounds) / 2.0; // two transfers per round trip
}

struct padded_flags {
  surge::detail::padded<std::atomic<std::uint64_t>> a, b;
  std::atomic<std::uint64_t>& ping() { return *a; }
  std::atomic<std::uint64_t>& pong() { return *b; }
};

struct shared_line_flags {
  std::atomic<std::uint64_t> a{0}, b{0};
  std::atomic<std::uint64_t>& ping() { return a; }
  std::atomic<std::uint64_t>& pong() { return b; }
};

} // namespace

int main(int argc, char** argv) {
  const auto opts = surge_bench::parse_args(argc, argv);
  const std::uint64_t rounds = opts.quick ? 10'000 : 1'000'000;
  surge_bench::report rep("surge detail: one cross-core cache-line transfer (ping-pong / 2)");
  const std::string scenario = "line transfer";
  if (surge_bench::selected(opts, scenario)) {
    std::vector<double> padded, shared;
    for (int r = 0; r < opts.reps; ++r) {  // alternate so both see the same core placement
      padded.push_back(ping_pong_ns<padded_flags>(rounds));
      shared.push_back(ping_pong_ns<shared_line_flags>(rounds));
    }
    using surge_bench::better;
    rep.add({scenario, "surge padded flags", surge_bench::median(padded), "ns", better::lower});
    rep.add(
        {scenario, "flags on one line", surge_bench::median(shared), "ns", better::lower, "both flags share a line"});
  }
  rep.print(opts);
}
