// The code blocks of docs/metrics.md, compiled and run as tests. The regions
// between "// [snippet: name]" and "// [/snippet]" are quoted verbatim by the
// page (scripts/doc_snippets.py keeps them equal).
#include <surge/fmt.hpp>
#include <surge/metrics/histogram.hpp>
#include <surge/metrics/meter.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdint>

#include "surge_test.hpp"

using namespace std::chrono_literals;

namespace {

std::uint64_t seen = 0;
void use(std::int64_t lowest, std::int64_t highest, std::uint64_t count) {
  CHECK(lowest <= highest);
  seen += count;
}

void histogram() {
  const std::int64_t elapsed_ns = 1234;
  surge::latency_histogram total;
  // [snippet: histogram]
  surge::latency_histogram h;                 // values 0 .. 1 hour (in ns), 3 significant digits
  h.record(elapsed_ns);                        // from any thread, lock-free
  h.record(elapsed_ns, 10);                    // the same value 10 times
  auto p999 = h.value_at_percentile(99.9);     // within 0.1 % of the exact p99.9
  fmt::print("{} {} {} {} {} {}\n", h.min(), h.max(), h.mean(), h.stddev(), h.count(), h.clamped());
  for (auto b : h) use(b.lowest, b.highest, b.count);  // recorded buckets, in value order
  total.merge(h);                              // add another histogram's counts
  fmt::print("{}\n", h.summary());             // count, min, p50, p90, p99, p99.9, max, mean, stddev
  surge::latency_histogram busy(surge::histogram_stripes{8});  // 8 sets of counters: up to 8 threads
  busy.record(elapsed_ns);                                      // record without sharing a cache line
  // [/snippet]
  CHECK(p999 == elapsed_ns);
  CHECK(seen == 11);
  CHECK(total.count() == 11);
}

void meter() {
  const auto now = std::chrono::steady_clock::now();
  // [snippet: meter]
  surge::rate_meter<> meter({.window = 10s, .slots = 10});
  meter.mark();                                // lock-free
  meter.mark(5, now);                          // every call also takes a time_point
  double per_second = meter.rate();            // per second over the sliding window
  double m1 = meter.one_minute_rate(), m5 = meter.five_minute_rate(), m15 = meter.fifteen_minute_rate();
  fmt::print("{}\n", meter.stats());           // count, rate, mean, 1m, 5m, 15m
  // [/snippet]
  CHECK(meter.count() == 6);
  CHECK(per_second > 0.0);
  CHECK(m1 >= 0.0);
  CHECK(m5 >= 0.0);
  CHECK(m15 >= 0.0);
}

}  // namespace

TEST_CASE("metrics.md snippets", "[docs]") {
  histogram();
  meter();
}
