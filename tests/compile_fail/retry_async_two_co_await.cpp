// expect: surge: co_await of this awaitable yields another type than surge::await_result_t names
// f returns a type with a member and a free operator co_await that both
// accept an rvalue: co_await picks the free one (a better match),
// await_result_t the member, and retry_async converted the 2.5 the awaiter
// yields to an int (2).
#include <surge/resilience/retry.hpp>

#include "ready_awaiter.hpp"

struct two_ways {
  ready<int> operator co_await() const& { return {1}; }
};
ready<double> operator co_await(two_ways&&) { return {2.5}; }

int main() {
  surge::timer<> t({.own_thread = false});
  auto attempt = [] { return two_ways{}; };
  auto retried = surge::retry_async(surge::retry_policy<>{}, t, attempt);
  (void)retried;
}
