// expect: surge::thread_pool: the thread count must be an integer
// A bool converted to one thread silently (a flag passed where the count goes).
#include <surge/exec/thread_pool.hpp>

int main(int argc, char**) {
  const bool parallel = argc > 1;
  surge::thread_pool pool(parallel);
  return static_cast<int>(pool.size());
}
