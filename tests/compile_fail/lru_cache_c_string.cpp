// expect: surge::lru_cache: a character pointer key is hashed and compared by address
#include <surge/cache/lru.hpp>

int main() {
  surge::lru_cache<char*, int> cache(100);
  char key[] = "user-42";
  cache.put(key, 1);
  return cache.get(key) ? 0 : 1;
}
