// expect: surge: co_await of this awaitable yields another type than surge::await_result_t names
// A loader with a member and a free operator co_await that both accept an
// rvalue: co_await picks the free one (a better match), await_result_t the
// member; the check that the loader yields a Value looked at the member's
// vector, and the 3 the free one yields built a vector of three zeros.
#include <surge/cache/async_load.hpp>
#include <surge/cache/lru.hpp>

#include "ready_awaiter.hpp"

#include <cstddef>
#include <vector>

struct two_ways {
  ready<std::vector<int>> operator co_await() const& { return {{3}}; }
};
ready<std::size_t> operator co_await(two_ways&&) { return {3}; }

int main() {
  surge::sharded_cache<surge::lru_cache<int, std::vector<int>>, 4> c(8);
  auto load = c.get_or_load_async(1, two_ways{});
  (void)load;
}
