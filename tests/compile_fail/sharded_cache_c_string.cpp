// expect: surge::wtinylfu_cache: a character pointer key is hashed and compared by address
// max_errors: 2
// (clang also reports the refused cache type as unusable by sharded_cache)
#include <surge/cache/cache.hpp>
#include <surge/cache/sharded.hpp>

int main() {
  surge::sharded_cache<surge::cache<const char*, int>> cache(1000);
  cache.put("user-42", 1);
  return cache.get("user-42") ? 0 : 1;
}
