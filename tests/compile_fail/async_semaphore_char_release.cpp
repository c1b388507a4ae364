// expect: surge::async_semaphore::release: n must be an integer
// A character converted to its code silently: release('2') returned 50 permits.
#include <surge/exec/async_semaphore.hpp>

int main() {
  surge::async_semaphore sem(0);
  sem.release('2');
  return sem.try_acquire() ? 0 : 1;
}
