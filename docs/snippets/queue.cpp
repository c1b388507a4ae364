// The code blocks of docs/queue.md, compiled and run as tests. The regions
// between "// [snippet: name]" and "// [/snippet]" are quoted verbatim by the
// page (scripts/doc_snippets.py keeps them equal).
// [snippet: basics]
#include <surge/queue/mpmc_queue.hpp>
// [/snippet]

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "surge_test.hpp"

namespace {

struct Job {
  Job() = default;
  Job(int producer, int n) : id(producer * 1000 + n) {}
  int id = 0;
};

std::atomic<long> handled{0};
void handle(Job) { handled.fetch_add(1); }
std::vector<Job> source(int p) {
  std::vector<Job> jobs;
  for (int n = 0; n < 100; ++n) jobs.emplace_back(p, n);
  return jobs;
}

void basics() {
  const Job job;
  const int producer = 1, n = 2;
  // [snippet: basics]
  surge::mpmc_queue<Job> q(1024);          // holds at most 1024 jobs; 0 throws
  if (!q.try_push(job)) { /* full (or closed): shed load, retry later ... */ }
  q.emplace(producer, n);                  // constructs in place; waits while full
  std::optional<Job> j = q.try_pop();      // empty optional when empty
  Job k = q.pop();                         // waits while empty
  q.close();                               // no more pushes; consumers drain
  // [/snippet]
  REQUIRE(j);
  CHECK(j->id == 0);
  CHECK(k.id == 1002);
  CHECK(q.is_closed());
}

void pipeline() {
  handled = 0;
  // [snippet: pipeline]
  surge::mpmc_queue<Job> jobs(4096);

  // producers
  std::vector<std::jthread> producers;
  for (int p = 0; p < 4; ++p)
    producers.emplace_back([&, p] { for (Job j : source(p)) jobs.push(std::move(j)); });

  // consumers
  std::vector<std::jthread> consumers;
  for (int c = 0; c < 4; ++c)
    consumers.emplace_back([&] {
      try {
        for (;;) handle(jobs.pop());       // blocks while empty
      } catch (const surge::queue_closed&) {
        // closed and drained: every job pushed before close() was handled
      }
    });

  for (auto& p : producers) p.join();      // all input is in the queue ...
  jobs.close();                            // ... so end it; consumers drain and stop
  for (auto& c : consumers) c.join();
  // [/snippet]
  CHECK(handled == 400);
}

void polling() {
  handled = 0;
  surge::mpmc_queue<Job> jobs(16);
  jobs.push(Job{});
  jobs.push(Job{});
  jobs.close();
  // [snippet: polling]
  while (auto j = jobs.try_pop()) handle(std::move(*j));
  if (jobs.is_closed()) {
    try { for (;;) handle(jobs.pop()); } catch (const surge::queue_closed&) {}
  }
  // [/snippet]
  CHECK(handled == 2);
}

}  // namespace

TEST_CASE("queue.md snippets", "[docs]") {
  basics();
  pipeline();
  polling();
}
