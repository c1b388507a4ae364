// expect: jump_hash: a floating-point number is not a bucket count
// A floating-point count converted to std::int32_t: 3.9 buckets became 3,
// silently, and a count beyond 2^31 was undefined behaviour.
#include <surge/balance/jump_hash.hpp>

int main(int argc, char**) {
  const double buckets = 2.9 + argc;
  return surge::jump_hash(42, buckets);
}
