// expect: surge::rate_meter::mark: n must be an integer
// A floating-point count converted to std::uint64_t silently: 2.5 events were 2.
#include <surge/metrics/meter.hpp>

int main() {
  surge::rate_meter<> meter;
  meter.mark(2.5);
  return 0;
}
