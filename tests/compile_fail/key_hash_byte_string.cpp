// expect: surge::key_hash: this key type has no std::hash
// A string of bytes (unsigned char, std::uint8_t) is not text std::hash
// knows: it is refused with the one-line message, not with errors from
// inside std::hash of a string view of bytes.
#include <surge/balance/consistent_hash.hpp>

#include <cstdint>
#include <string>

int main() {
  surge::consistent_hash_ring<> ring(10);
  const std::basic_string<std::uint8_t> id(16, 7);
  return static_cast<int>(ring.pick(id));
}
