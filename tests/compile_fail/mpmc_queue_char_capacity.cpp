// expect: surge::mpmc_queue: the capacity must be an integer
// A character converted to its code silently: '4' was a capacity of 52.
#include <surge/queue/mpmc_queue.hpp>

int main() {
  surge::mpmc_queue<int> queue('4');
  return queue.try_push(1) ? 0 : 1;
}
