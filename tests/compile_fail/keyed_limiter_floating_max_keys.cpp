// expect: surge::keyed_limiter: max_keys must be an integer
// A floating-point max_keys converted to std::size_t silently (2.9 keys were 2).
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/token_bucket.hpp>

#include <string>

int main() {
  surge::keyed_limiter<std::string, surge::token_bucket<>> limiter(surge::token_bucket<>(10.0, 5), 1e5);
  return limiter.try_acquire("user-42") ? 0 : 1;
}
