// The surge tour: a short demonstration of each area, in the order a newcomer
// meets them. Run it with the README's first command. Each section is
// self-contained; read it top to bottom.
#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>
#include <surge/fmt.hpp>
#include <surge/surge.hpp>

#include <atomic>
#include <string>
#include <thread>

namespace {

void section(const char* title) { fmt::print("\n== {} ==\n", title); }

void tour_basics() {
  section("basics");
  fmt::print("surge {} (header-only, C++20)\n", surge::version);
  // Hot counters written by different threads live on their own cache lines.
  struct counters {
    surge::detail::padded<std::atomic<long>> produced, consumed;
  } c;
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) c.produced->fetch_add(1, std::memory_order_relaxed);
  });
  std::thread consumer([&] {
    for (int i = 0; i < 1000; ++i) c.consumed->fetch_add(1, std::memory_order_relaxed);
  });
  producer.join();
  consumer.join();
  fmt::print("two counters {} bytes apart: produced {} consumed {}\n", sizeof(surge::detail::padded<std::atomic<long>>),
             c.produced->load(), c.consumed->load());
}

void tour_balance() {
  section("balance");
  // nginx's smooth weighted round robin: weights 5, 1, 1 give a a b a c a a.
  surge::weighted_round_robin wrr{5, 1, 1};
  std::string seq;
  for (int i = 0; i < 7; ++i) seq += static_cast<char>('a' + wrr.pick());
  fmt::print("smooth WRR {{5,1,1}}: {}\n", seq);
  // Least connections: a pick is a lease; the backend's count drops when it ends.
  surge::least_connections lc(3);
  {
    auto first = lc.pick(), second = lc.pick();
    fmt::print("least_connections: leases on {} and {}, active on 0: {}\n", first.index(), second.index(),
               lc.active(0));
  }
  fmt::print("after the leases end, active on 0: {}\n", lc.active(0));
  // Consistent hashing: a key sticks to its backend; a down backend loses only its own keys.
  surge::maglev<> mg(4);
  const std::size_t home = mg.pick(std::string("user-42"));
  mg.set_healthy(home, false);
  fmt::print("maglev: user-42 -> {}; with {} down -> {}; jump_hash(42, 57) = {}\n", home, home,
             mg.pick(std::string("user-42")), surge::jump_hash(42, 57));
}

}  // namespace

int main() {
  fmt::print("surge tour\n");
  tour_basics();
  tour_balance();
  fmt::print("\ntour done\n");
}
