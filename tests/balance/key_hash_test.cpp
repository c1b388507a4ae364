// Tests of surge/balance/key_hash.hpp: integers are mixed, text is hashed by
// its characters whatever spells it, and the hashing balancers route equal
// text from different buffers to the same backend.
#include <surge/balance/key_hash.hpp>

#include <surge/balance/consistent_hash.hpp>
#include <surge/balance/jump_hash.hpp>
#include <surge/balance/maglev.hpp>
#include <surge/balance/rendezvous.hpp>

#include "surge_test.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

TEST_CASE("key_hash mixes integers and hashes other keys", "[balance][key_hash]") {
  surge::key_hash h;
  CHECK(h(std::uint64_t{1}) == surge::detail::mix64(1));
  CHECK(h(5) == surge::detail::mix64(5));
  CHECK(h(std::string("a")) == surge::detail::mix64(std::hash<std::string>{}("a")));  // unchanged for std::string
  CHECK(h(2.5) == surge::detail::mix64(std::hash<double>{}(2.5)));
  static_assert(std::is_same_v<surge::key_hash::is_transparent, void>);
  static_assert(noexcept(h("x"))&& noexcept(h(std::string_view("x")))&& noexcept(h(1)));
}

namespace {
// 128-bit integer keys: integers only under GNU extensions (this file is also
// built so, as surge_tests_balance_gnu); in strict ISO mode they have no
// std::hash, and the checks are skipped.
template <class U, class S>
void check_wide_integers() {
  if constexpr (std::is_integral_v<U>) {
    surge::key_hash h;
    // keys that differ only above bit 63 (IPv6 prefixes) used to hash alike:
    // the value was cut to its low 64 bits
    CHECK(h(U{1}) != h((U{1} << 64) | 1));
    CHECK(h((U{2} << 100) | 7) != h((U{3} << 100) | 7));
    // a value that fits in 64 bits hashes as in a 64-bit type
    CHECK(h(U{42}) == h(std::uint64_t{42}));
    CHECK(h(S{-5}) == h(std::int64_t{-5}));
    CHECK(h(~U{0}) != h(~std::uint64_t{0}));
    // and the ring spreads keys that differ only in their prefixes
    surge::consistent_hash_ring<> ring(8);
    std::vector<int> per(8);
    for (U prefix = 0; prefix < 4000; ++prefix) ++per[ring.pick((prefix << 64) | 0x1234)];
    for (const int n : per) CHECK(n > 200);
  } else {
    SUCCEED("128-bit integers are not integer types in strict ISO C++");
  }
}
}  // namespace

TEST_CASE("key_hash hashes 128-bit integer keys by both halves", "[balance][key_hash]") {
#if defined(__SIZEOF_INT128__)
  __extension__ using u128 = unsigned __int128;
  __extension__ using i128 = __int128;
  check_wide_integers<u128, i128>();
#else
  SUCCEED("no 128-bit integers here");
#endif
}

TEST_CASE("key_hash hashes C strings by their characters, like std::string", "[balance][key_hash]") {
  surge::key_hash h;
  const std::uint64_t want = h(std::string("user-42"));
  char a[32], b[64];
  std::strcpy(a, "user-42");
  std::strcpy(b, "user-42");
  const char* ca = a;
  char* mb = b;
  CHECK(h(ca) == want);                           // const char*
  CHECK(h(mb) == want);                           // char*
  CHECK(h(a) == want);                            // char[32], read up to the NUL
  CHECK(h("user-42") == want);                    // a string literal (const char[8])
  CHECK(h(std::string_view("user-42")) == want);  // std::string_view
  CHECK(h(std::string_view("user-42xyz", 7)) == want);
  CHECK(h(static_cast<const char*>(nullptr)) == h(std::string()));  // null: the empty string
  const char no_nul[3] = {'a', 'b', 'c'};
  CHECK(h(no_nul) == h(std::string("abc")));  // no NUL: all of the array
  CHECK(h(L"user-42") == h(std::wstring(L"user-42")));
  CHECK(h(u8"user-42") == h(std::u8string_view(u8"user-42")));
  CHECK(h(U"k") == h(std::u32string(U"k")));
  CHECK(h(ca) != h("user-43"));
}

TEST_CASE("hashing balancers route equal text from different buffers alike", "[balance][key_hash]") {
  surge::maglev<> mg(16, {.table_size = 1009});
  surge::consistent_hash_ring<> ring(16);
  surge::rendezvous_hash<> hrw(16);
  surge::jump_hash_balancer<> jump(16);
  std::size_t same = 0;
  for (int k = 0; k < 50; ++k) {
    const std::string text = "user-" + std::to_string(k);
    std::vector<char> copy1(text.c_str(), text.c_str() + text.size() + 1);
    std::vector<char> copy2(copy1);
    const char* p1 = copy1.data();
    char* p2 = copy2.data();
    const std::string_view sv(text);
    const std::size_t m = mg.pick(text);
    same += mg.pick(p1) == m && mg.pick(p2) == m && mg.pick(sv) == m;
    const std::size_t r = ring.pick(text);
    same += ring.pick(p1) == r && ring.pick(p2) == r && ring.pick(sv) == r && ring.snapshot().pick(p1) == r;
    const std::size_t x = hrw.pick(text);
    same += hrw.pick(p1) == x && hrw.pick(p2) == x;
    const std::size_t j = jump.pick(text);
    same += jump.pick(p1) == j && jump.pick(p2) == j;
  }
  CHECK(same == 200);
  CHECK(mg.pick("user-7") == mg.pick(std::string("user-7")));
}
