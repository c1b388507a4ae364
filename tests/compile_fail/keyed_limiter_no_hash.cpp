// expect: surge::keyed_limiter: Hash cannot hash Key
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/token_bucket.hpp>

struct user_id {  // comparable, but no std::hash<user_id>
  int v;
  bool operator==(const user_id&) const = default;
};

int main() {
  surge::keyed_limiter<user_id, surge::token_bucket<>> limits(surge::token_bucket<>(10.0, 10), 100);
  return limits.try_acquire(user_id{1}) ? 0 : 1;
}
