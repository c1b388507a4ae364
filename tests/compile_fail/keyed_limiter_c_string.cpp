// expect: surge::keyed_limiter: a character pointer key is hashed and compared by address
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/token_bucket.hpp>

int main() {
  surge::keyed_limiter<const char*, surge::token_bucket<>> limits(surge::token_bucket<>(10.0, 10), 100);
  return limits.try_acquire("user-42") ? 0 : 1;
}
