#include <surge/detail/key_checks.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "surge_test.hpp"

namespace {
// hashes the text a character pointer points to
struct text_hash {
  std::size_t operator()(const char* s) const noexcept { return std::hash<std::string_view>{}(s); }
};
struct text_equal {
  bool operator()(const char* a, const char* b) const noexcept { return std::string_view(a) == b; }
};
}  // namespace

using surge::detail::valid_hashed_key_v;

// A character pointer key is refused whenever the hash or the equality would
// use the address: std::hash, std::equal_to<Key>, and the transparent
// std::equal_to<> and std::ranges::equal_to (which compared addresses while
// the hash read the text, so equal texts in two buffers never matched).
static_assert(!valid_hashed_key_v<const char*, std::hash<const char*>, std::equal_to<const char*>>);
static_assert(!valid_hashed_key_v<const char*, text_hash, std::equal_to<const char*>>);
static_assert(!valid_hashed_key_v<const char*, text_hash, std::equal_to<>>);
static_assert(!valid_hashed_key_v<const char*, text_hash, std::ranges::equal_to>);
static_assert(!valid_hashed_key_v<char*, text_hash, std::equal_to<>>);
static_assert(valid_hashed_key_v<const char*, text_hash, text_equal>);
static_assert(valid_hashed_key_v<std::string, std::hash<std::string>, std::equal_to<>>);
static_assert(valid_hashed_key_v<int, std::hash<int>, std::equal_to<>>);

TEST_CASE("key checks refuse character pointers compared by address", "[detail][key_checks]") {
  CHECK(valid_hashed_key_v<const char*, text_hash, text_equal>);
}

TEST_CASE("key checks refuse the standard hash or equality of another pointer type on a character pointer key",
          "[detail][key_checks]") {
  // std::hash and std::equal_to of any pointer type use the address: before,
  // only those of the key's own type were refused, so a char* key with
  // std::hash<const char*> compiled and the same text in two buffers made
  // two keys
  CHECK_FALSE(valid_hashed_key_v<char*, std::hash<const char*>, text_equal>);
  CHECK_FALSE(valid_hashed_key_v<char*, text_hash, std::equal_to<const char*>>);
  CHECK_FALSE(valid_hashed_key_v<const char*, std::hash<const void*>, text_equal>);
  CHECK(valid_hashed_key_v<char*, text_hash, text_equal>);
  CHECK(valid_hashed_key_v<const char*, std::hash<std::string_view>, std::equal_to<std::string_view>>);
  CHECK(valid_hashed_key_v<int*, std::hash<const int*>, std::equal_to<>>);  // other pointers are keys by identity
}
