// expect: post_bulk: a bool range is not an index range
// std::is_integral admits bool, and the error came from deep inside
// std::make_unsigned.
#include <surge/exec/thread_pool.hpp>

int main() {
  surge::thread_pool pool(1);
  pool.post_bulk(false, true, [](bool) {});
  pool.wait_idle();
}
