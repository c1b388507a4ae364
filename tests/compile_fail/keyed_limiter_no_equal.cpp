// expect: surge::keyed_limiter: KeyEqual cannot compare two Keys
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/token_bucket.hpp>

#include <cstddef>
#include <functional>

struct user_id {  // hashable, but no operator==
  int v;
};
template <>
struct std::hash<user_id> {
  std::size_t operator()(const user_id& u) const noexcept { return std::hash<int>{}(u.v); }
};

int main() {
  surge::keyed_limiter<user_id, surge::token_bucket<>> limits(surge::token_bucket<>(10.0, 10), 100);
  return limits.try_acquire(user_id{1}) ? 0 : 1;
}
