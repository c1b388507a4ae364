// expect: surge::weighted_round_robin: table_limit must be an integer
// A floating-point table_limit converted to std::size_t silently (2.9 entries
// were 2, and 1e20 undefined).
#include <surge/balance/weighted_round_robin.hpp>

int main() {
  surge::weighted_round_robin wrr(surge::weights{5, 1, 1}, 4e3);
  return static_cast<int>(wrr.pick());
}
