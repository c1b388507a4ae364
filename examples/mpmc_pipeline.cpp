// A three-stage pipeline on bounded MPMC queues: a source, two workers and a
// slow sink. The queues are small, so when the sink falls behind, push()
// waits: back-pressure reaches the source instead of memory growing. Each
// stage closes its output when its input is done; consumers drain, then stop.
//
//   surge_example_mpmc_pipeline [orders=200000]
//
// orders is at most 1e9 (minutes of work at a few million orders a second).
#include <surge/queue/mpmc_queue.hpp>

#include <fmt/format.h>

#include "example_args.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

struct order {
  std::int64_t id;
  std::int64_t cents;
};

// push, counting how often the queue was full (the caller had to wait).
void push_counting(surge::mpmc_queue<order>& q, order o, std::atomic<long>& waited) {
  if (q.try_push(o)) return;
  waited.fetch_add(1, std::memory_order_relaxed);
  q.push(o);  // blocks until a consumer makes room
}

int main(int argc, char** argv) {
  const auto orders = static_cast<std::int64_t>(
      example_args(argc, argv, "mpmc_pipeline", "[orders=200000]", 1).number(1, "orders", 200'000, 1, 1e9, true));
  surge::mpmc_queue<order> incoming(256);  // source -> workers
  surge::mpmc_queue<order> priced(16);     // workers -> sink: small, so a slow sink pushes back
  std::atomic<long> source_waited{0}, workers_waited{0};
  std::atomic<int> workers_left{2};

  std::jthread source([&] {
    for (std::int64_t i = 0; i < orders; ++i) push_counting(incoming, {i, i % 1000}, source_waited);
    incoming.close();  // no more input: workers drain what is queued, then stop
  });
  std::vector<std::jthread> workers;
  for (int w = 0; w < 2; ++w)
    workers.emplace_back([&] {
      try {
        for (;;) {
          order o = incoming.pop();  // waits while empty; throws queue_closed once closed and drained
          o.cents += o.cents / 5;    // add 20 % tax
          push_counting(priced, o, workers_waited);
        }
      } catch (const surge::queue_closed&) {
      }
      if (workers_left.fetch_sub(1) == 1) priced.close();  // the last worker ends the next stage
    });

  std::int64_t received = 0, total = 0;
  std::uint64_t checksum = 0;  // the sink's slow work: an invoice hash per order (order-independent sum)
  try {
    for (;;) {
      const order o = priced.pop();
      std::uint64_t h = static_cast<std::uint64_t>(o.id);
      for (int k = 0; k < 200; ++k) h = h * 6364136223846793005u + 1442695040888963407u;
      checksum += h;
      ++received;
      total += o.cents;
    }
  } catch (const surge::queue_closed&) {
  }
  source.join();
  workers.clear();

  std::int64_t expected = 0;
  for (std::int64_t i = 0; i < orders; ++i) expected += i % 1000 + (i % 1000) / 5;
  fmt::print("{} orders in, {} out; total {} cents (expected {}); invoice checksum {:016x}\n", orders, received, total,
             expected, checksum);
  fmt::print("back-pressure: the source waited on a full queue {} times, the workers {} times\n", source_waited.load(),
             workers_waited.load());
  return received == orders && total == expected ? 0 : 1;
}
