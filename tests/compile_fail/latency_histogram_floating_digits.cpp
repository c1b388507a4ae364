// expect: surge::latency_histogram: significant_digits must be an integer
// A floating-point significant_digits converted to int silently: 2.5 was 2.
#include <surge/metrics/histogram.hpp>

int main() {
  surge::latency_histogram histogram(1'000'000'000, 2.5);
  histogram.record(42);
  return static_cast<int>(histogram.count());
}
