// expect: jump_hash: a bool is not a bucket count
// A flag passed where the bucket count goes converted to 1 bucket and every
// key landed in bucket 0.
#include <surge/balance/jump_hash.hpp>

int main() {
  const bool many = true;
  return surge::jump_hash(42, many);
}
