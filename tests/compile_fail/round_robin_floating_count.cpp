// expect: the backend count must be an integer
// A floating-point count converted to std::size_t silently: 2.9 backends were 2.
#include <surge/balance/round_robin.hpp>

int main(int argc, char**) {
  const double backends = 1.9 + argc;
  surge::round_robin rr(backends);
  return static_cast<int>(rr.pick());
}
