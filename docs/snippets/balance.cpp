// The code blocks of docs/balance.md, compiled and run as tests. The regions
// between "// [snippet: name]" and "// [/snippet]" are quoted verbatim by the
// page (scripts/doc_snippets.py keeps them equal).
// [snippet: overview]
#include <surge/balance/weighted_round_robin.hpp>
#include <surge/balance/least_connections.hpp>
#include <surge/balance/maglev.hpp>
// [/snippet]
#include <surge/balance/outlier_detector.hpp>
#include <surge/balance/power_of_two.hpp>
#include <surge/balance/slow_start.hpp>

#include <chrono>
#include <cstddef>
#include <vector>

#include "surge_test.hpp"

namespace {

std::vector<std::size_t> sent_to;
void send_to(std::size_t backend) { sent_to.push_back(backend); }
bool call(std::size_t backend) { return backend != 3; }

void overview() {
  // [snippet: overview]
  surge::weighted_round_robin wrr(surge::weights{5, 1, 1});  // nginx: a a b a c a a, then again
  std::size_t b = wrr.pick();                 // O(1): a read from the precomputed sequence

  surge::least_connections lc(surge::weights{2, 1, 1});
  {
    auto lease = lc.pick();                   // counts one active request on lease.index()
    send_to(lease.index());
  }                                           // ... until the lease ends

  surge::maglev<> mg(10);                     // consistent hashing, O(1) lookups
  std::size_t home = mg.pick("user-42");      // text keys hash their characters
  mg.set_healthy(home, false);                // only user-42's backend's keys move
  // [/snippet]
  CHECK(b == 0);
  REQUIRE(sent_to.size() == 1);
  CHECK(mg.pick("user-42") != home);
}

void outliers() {
  // [snippet: outlier_detector]
  surge::power_of_two_choices p2c(16);
  surge::outlier_detector<> outliers(16, {.consecutive_failures = 5});
  auto lease = p2c.pick();
  bool ok = call(lease.index());
  outliers.record(p2c, lease.index(), ok);   // may mark the backend down
  outliers.release_expired(p2c);             // e.g. once per second
  // [/snippet]
  for (int i = 0; i < 5; ++i) outliers.record(p2c, 3, false);
  CHECK_FALSE(p2c.healthy(3));
}

void warm_up() {
  // [snippet: slow_start]
  std::vector<double> base{4, 4, 4, 4};
  surge::power_of_two_choices p2c{surge::weights(base)};
  surge::slow_start<> warm(base.size(), {.window = std::chrono::seconds(60), .aggression = 1.5});

  warm.set_healthy(p2c, 2, true);   // backend 2 was down: marked up, ramp begins
  // once a second, on a timer thread:
  warm.apply(p2c, base);            // backend 2: weight 4 · max(0.1, (t/60 s)^(1/1.5))
  // [/snippet]
  CHECK(p2c.weight(2) <= 4.0);
}

}  // namespace

TEST_CASE("balance.md snippets", "[docs]") {
  overview();
  outliers();
  warm_up();
}
