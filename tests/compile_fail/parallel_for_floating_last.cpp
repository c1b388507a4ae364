// expect: surge::parallel_for: last must be an integer
// `last` was converted to first's type: 2.9 became 2, silently.
#include <surge/exec/parallel_for.hpp>

int main() {
  surge::thread_pool pool(1);
  int calls = 0;
  surge::parallel_for(pool, 0, 2.9, [&](int) { ++calls; });
  return calls;
}
