// expect: surge::parallel_for: a bool is not a loop index
// std::integral admits bool, but a range of bools is no loop (and the error
// came from deep inside std::make_unsigned).
#include <surge/exec/parallel_for.hpp>

int main() {
  surge::thread_pool pool(1);
  int calls = 0;
  surge::parallel_for(pool, false, true, [&](bool) { ++calls; });
  return calls;
}
