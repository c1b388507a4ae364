// expect: surge::parallel_for: a bool or a character is not a grain
// A flag passed where the grain goes would read as a grain of 1 (or refused
// as 0); std::integral admits it, and the error came from deep inside
// std::cmp_less_equal.
#include <surge/exec/parallel_for.hpp>

int main() {
  surge::thread_pool pool(1);
  const bool in_parallel = true;
  int calls = 0;
  surge::parallel_for(pool, 0, 10, in_parallel, [&](int) { ++calls; });
  return calls;
}
