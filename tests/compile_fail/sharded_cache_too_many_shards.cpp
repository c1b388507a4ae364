// expect: surge::sharded_cache: Shards must be at most 4096
// max_errors: 2
#include <surge/cache/lru.hpp>
#include <surge/cache/sharded.hpp>

// A million shards made an 8 MiB object (the shard table sits inside it):
// a local one overflowed the stack.
int main() {
  surge::sharded_cache<surge::lru_cache<int, int>, std::size_t{1} << 20> cache(1 << 20);
  cache.put(1, 2);
  return cache.contains(1) ? 0 : 1;
}
