// expect: surge: co_await of this awaitable yields another type than surge::await_result_t names
// A type with a member and a free operator co_await that both accept an
// lvalue: co_await picks the free one (a better match), await_result_t the
// member, and sync_wait converted the 2.5 the awaiter yields to an int (2).
#include <surge/exec/sync_wait.hpp>

#include "ready_awaiter.hpp"

struct two_ways {
  ready<int> operator co_await() const& { return {1}; }
};
ready<double> operator co_await(two_ways&) { return {2.5}; }

int main() {
  two_ways x;
  return static_cast<int>(surge::sync_wait(x));
}
