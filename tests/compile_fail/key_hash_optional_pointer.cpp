// expect: surge::key_hash refuses pointer keys
// An optional (or variant) holding a pointer hashes the address through
// std::hash: the same text in two buffers would go to different backends.
#include <surge/balance/maglev.hpp>

#include <optional>

int main() {
  surge::maglev<> m(10);
  const char* text = "user-42";
  return static_cast<int>(m.pick(std::optional<const char*>(text)));
}
