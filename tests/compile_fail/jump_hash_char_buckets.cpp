// expect: jump_hash: a character is not a bucket count
// 'a' would be 97 buckets; the error came from deep inside std::in_range.
#include <surge/balance/jump_hash.hpp>

int main() {
  return surge::jump_hash(42, 'a');
}
