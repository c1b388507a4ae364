// The code blocks of docs/cache.md, compiled and run as tests. The regions
// between "// [snippet: name]" and "// [/snippet]" are quoted verbatim by the
// page (scripts/doc_snippets.py keeps them equal).
// [snippet: lru]
#include <surge/cache/lru.hpp>
// [/snippet]
#include <surge/cache/async_load.hpp>
#include <surge/cache/sharded.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/fmt.hpp>

#include <fmt/format.h>

#include <string>

#include "surge_test.hpp"

namespace {

std::string last_used;
void use(const std::string& v) { last_used = v; }
std::string fetch(const std::string& key) { return "value of " + key; }

struct profile {
  std::string name;
};

struct fake_db {
  int loads = 0;
  profile fetch_profile(const std::string& user) {
    ++loads;
    return {"name of " + user};
  }
  surge::task<profile> fetch_profile_async(std::string user) {
    ++loads;
    co_return profile{"name of " + user};
  }
};
fake_db db;

using cache_type = surge::sharded_cache<surge::lru_cache<std::string, profile>>;

void lru() {
  const std::string key = "k";
  // [snippet: lru]
  surge::lru_cache<std::string, std::string> cache(10'000);
  if (const std::string* v = cache.get(key)) {
    use(*v);                          // hit: key is now the most recent
  } else {
    cache.put(key, fetch(key));       // miss: fill (evicts the LRU entry when full)
  }
  auto& v = cache.get_or_insert_with(key, [&] { return fetch(key); }); // the same in one call
  fmt::print("{}\n", cache.stats()); // hits 1, misses 1 (hit ratio 50.00 %), insertions 1, evictions 0
  // [/snippet]
  CHECK(v == "value of k");
  CHECK(fmt::format("{}", cache.stats()) == "hits 1, misses 1 (hit ratio 50.00 %), insertions 1, evictions 0");
}

void get_or_load() {
  const std::string user_id = "ada";
  // [snippet: get_or_load]
  surge::sharded_cache<surge::lru_cache<std::string, profile>> profiles(100'000);
  profile p = profiles.get_or_load(user_id, [&] { return db.fetch_profile(user_id); });
  // [/snippet]
  CHECK(p.name == "name of ada");
}

// [snippet: get_or_load_async]
surge::task<profile> get_profile(cache_type& profiles, std::string user_id) {
  co_return co_await profiles.get_or_load_async(user_id, [&]() -> surge::task<profile> {
    co_return co_await db.fetch_profile_async(user_id);
  });
}
// [/snippet]

}  // namespace

TEST_CASE("cache.md snippets", "[docs]") {
  lru();
  get_or_load();
  cache_type profiles(100);
  CHECK(surge::sync_wait(get_profile(profiles, "bob")).name == "name of bob");
  CHECK(surge::sync_wait(get_profile(profiles, "bob")).name == "name of bob");
}
