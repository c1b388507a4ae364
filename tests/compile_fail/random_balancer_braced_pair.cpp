// expect: random_balancer
// random_balancer{5, 1} would read as five backends with seed 1 (or weights 5
// and 1): neither is what it says, so it does not compile.
#include <surge/balance/random.hpp>

int main() {
  surge::random_balancer r{5, 1};
  return static_cast<int>(r.pick());
}
