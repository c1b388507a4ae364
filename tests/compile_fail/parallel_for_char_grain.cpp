// expect: surge::parallel_for: a bool or a character is not a grain
// A character converted to its code silently: a grain of '4' was 52 indices.
#include <surge/exec/parallel_for.hpp>

int main() {
  surge::thread_pool pool(1);
  int calls = 0;
  surge::parallel_for(pool, 0, 10, '4', [&](int) { ++calls; });
  return calls;
}
