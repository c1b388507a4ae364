#include <surge/detail/count_checks.hpp>

#include <cstddef>
#include <cstdint>

#include "surge_test.hpp"

using surge::detail::not_a_count;

namespace {
enum small_count { four = 4 };
enum class scoped_count : unsigned { eight = 8 };
}  // namespace

// Integers of every width and signedness are counts (std::int8_t and
// std::uint8_t too: signed char and unsigned char are not characters here),
// and so are enumerations; whether a constructor takes one is its own
// parameter's business.
static_assert(!not_a_count<int>);
static_assert(!not_a_count<unsigned>);
static_assert(!not_a_count<long long>);
static_assert(!not_a_count<std::size_t>);
static_assert(!not_a_count<std::ptrdiff_t>);
static_assert(!not_a_count<std::int8_t>);
static_assert(!not_a_count<std::uint8_t>);
static_assert(!not_a_count<small_count>);
static_assert(!not_a_count<scoped_count>);
// A bool, every character type and every floating-point type are not,
// however qualified or referred to.
static_assert(not_a_count<bool>);
static_assert(not_a_count<const bool&>);
static_assert(not_a_count<char>);
static_assert(not_a_count<wchar_t>);
static_assert(not_a_count<char8_t>);
static_assert(not_a_count<char16_t>);
static_assert(not_a_count<char32_t>);
static_assert(not_a_count<float>);
static_assert(not_a_count<const double&>);
static_assert(not_a_count<long double>);

TEST_CASE("count checks refuse a bool, a character or a floating-point count", "[detail][count_checks]") {
  CHECK(not_a_count<double>);
  CHECK_FALSE(not_a_count<std::size_t>);
}
