// The code blocks of docs/exec.md, compiled and run as tests. The regions
// between "// [snippet: name]" and "// [/snippet]" are quoted verbatim by the
// page (scripts/doc_snippets.py keeps them equal). The request handler block is
// quoted from examples/request_handler.cpp.
#include <surge/exec/parallel_for.hpp>
#include <surge/exec/thread_pool.hpp>

#include <atomic>
#include <vector>

#include "surge_test.hpp"

namespace {

std::atomic<int> work_done{0};
std::atomic<int> items{0};
void do_work() { work_done.fetch_add(1); }
void item(int) { items.fetch_add(1); }
int transform(int x) { return x + 1; }

void thread_pool() {
  const int n = 1000;
  std::vector<int> in(n, 1), out(n);
  // [snippet: thread_pool]
  surge::thread_pool pool;                       // hardware_concurrency() workers
  pool.post([] { do_work(); });                  // fire and forget
  auto f = pool.submit([](int x) { return x * 2; }, 21);
  pool.post_bulk(0, 1000, [](int i) { item(i); }); // 1000 tasks, one lock, one wake-up
  surge::parallel_for(pool, 0, n, [&](int i) { out[i] = transform(in[i]); });
  pool.wait_idle();                              // everything above (and what it spawned) done
  int v = f.get();                               // 42
  // [/snippet]
  CHECK(v == 42);
  CHECK(work_done == 1);
  CHECK(items == 1000);
  CHECK(out == std::vector<int>(n, 2));
}

}  // namespace

TEST_CASE("exec.md snippets", "[docs]") { thread_pool(); }
