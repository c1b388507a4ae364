// expect: surge::keyed_limiter::try_acquire: n must be an integer
// A floating-point count converted to std::size_t silently: 0.5 tokens were 0.
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/token_bucket.hpp>

#include <string>

int main() {
  surge::keyed_limiter<std::string, surge::token_bucket<>> limiter(surge::token_bucket<>(10.0, 5), 100);
  return limiter.try_acquire("user-42", 0.5) ? 0 : 1;
}
