// expect: surge cache: the capacity must be an integer
// A floating-point capacity converted to std::size_t silently: 2.9 entries
// were 2 (and 1e20 undefined), also with braced options after it.
#include <surge/cache/lru.hpp>

int main(int argc, char**) {
  const double capacity = 1.9 + argc;
  surge::lru_cache<int, int> cache(capacity, {});
  return cache.put(1, 2) ? 0 : 1;
}
