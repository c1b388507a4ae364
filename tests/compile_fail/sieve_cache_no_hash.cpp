// expect: surge::sieve_cache: Hash cannot hash Key
#include <surge/cache/sieve.hpp>

struct point {
  int x, y;
  bool operator==(const point&) const = default;
};

int main() {
  surge::sieve_cache<point, int> cache(100);
  cache.put(point{1, 2}, 3);
  return cache.contains(point{1, 2}) ? 0 : 1;
}
