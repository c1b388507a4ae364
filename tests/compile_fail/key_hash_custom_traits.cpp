// expect: surge::key_hash: this key type has no std::hash
// A string with its own traits may compare equal with other characters (a
// case-insensitive string): hashing its characters sent "User-1" and
// "user-1", equal keys, to different backends. Like std::hash, key_hash has
// no hash for it.
#include <surge/balance/maglev.hpp>

#include <cctype>
#include <cstddef>
#include <string>

struct ci_traits : std::char_traits<char> {
  static bool eq(char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  }
  static bool lt(char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) < std::tolower(static_cast<unsigned char>(b));
  }
  static int compare(const char* a, const char* b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (lt(a[i], b[i])) return -1;
      if (lt(b[i], a[i])) return 1;
    }
    return 0;
  }
};

int main() {
  surge::maglev<> m(10);
  const std::basic_string<char, ci_traits> user("User-1");
  return static_cast<int>(m.pick(user));
}
