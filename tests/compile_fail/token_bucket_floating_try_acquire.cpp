// expect: surge::token_bucket::try_acquire: n must be an integer
// A floating-point count converted to std::size_t silently: 2.5 tokens were 2.
#include <surge/limit/token_bucket.hpp>

int main() {
  surge::token_bucket<> bucket(10.0, 5);
  return bucket.try_acquire(2.5) ? 0 : 1;
}
