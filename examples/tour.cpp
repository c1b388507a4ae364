// The surge tour: one section per area, in the order a newcomer meets them.
// Each section prints one line saying what it shows, then a table.
//
//   surge_example_tour [--quick] [TRACE]
//     --quick  smaller runs (a few seconds in all); CI runs this
//     TRACE    a cache trace for the cache section, read as cache_sim reads
//              one (text with an unsigned decimal key at the start of each
//              line, or libCacheSim's oracleGeneral binary; either optionally
//              gzipped); default: the PostgreSQL trace shipped in
//              examples/data/ps.txt.gz (see examples/data/README.md)
//     -h, --help  prints the usage
//   An unknown option, an empty TRACE or a second one is refused (exit 2); a
//   TRACE that cannot be read stops the tour with a message (exit 1).
//
// Timings (queue, pool, coroutines) are this machine's and vary from run to
// run; every other table is the same on every run. Exits 1 if a result is not
// what its section's line describes (NOT AS DESCRIBED says which).
#include <surge/surge.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "cache_sim.hpp"  // reads a trace, replays it, computes Bélády's optimum

#ifndef SURGE_EXAMPLES_DATA_DIR
#define SURGE_EXAMPLES_DATA_DIR "examples/data"  // set by examples/CMakeLists.txt to the source folder
#endif

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

bool quick = false;         // --quick: smaller runs
bool check_failed = false;  // a section counted a wrong result: exit 1

void section(const char* title, const std::string& what) { fmt::print("\n== {} ==\n{}\n\n", title, what); }

// A printed claim that did not hold: say which, and exit 1 at the end.
void check(bool held, const char* claim) {
  if (held) return;
  fmt::print("NOT AS DESCRIBED: {}\n", claim);
  check_failed = true;
}

// Seconds taken by f().
template <class F>
double seconds(F&& f) {
  const auto t0 = steady::now();
  f();
  return std::chrono::duration<double>(steady::now() - t0).count();
}

std::string per_item(double secs, double items) {  // "12.3 ns" / "4.56 µs" per item
  const double ns = secs * 1e9 / items;
  return ns < 1000 ? fmt::format("{:.1f} ns", ns) : fmt::format("{:.2f} µs", ns / 1000);
}

// ---- caches ------------------------------------------------------------------
template <class Cache>
double hit_percent(const std::vector<std::uint64_t>& keys, std::size_t size) {
  Cache cache(size);
  return 100.0 * static_cast<double>(cache_sim::replay(cache, keys)) / static_cast<double>(keys.size());
}

void tour_cache(const std::string& trace) {
  const std::vector<std::uint64_t> keys = cache_sim::read_trace(trace);
  const std::size_t distinct = std::unordered_set<std::uint64_t>(keys.begin(), keys.end()).size();
  section("caches", fmt::format("Hit ratio (%) of each eviction policy replaying the trace {} ({} requests over {} "
                                "keys)\nat several cache sizes: get, and put on a miss. OPT is Bélády's optimum, "
                                "the ceiling no policy can pass.",
                                trace.substr(trace.find_last_of('/') + 1), keys.size(), distinct));
  using k = std::uint64_t;
  using v = std::uint32_t;
  fmt::print("{:>8} {:>7} {:>7} {:>7} {:>8} {:>26} {:>7}\n", "entries", "LRU", "LFU", "SIEVE", "S3-FIFO",
             "W-TinyLFU = surge::cache", "OPT");
  std::size_t previous = 0;
  for (const double fraction : {1.0 / 30, 1.0 / 15, 1.0 / 6, 1.0 / 3}) {  // of the distinct keys
    const double exact = fraction * static_cast<double>(distinct);
    const double unit = std::pow(10.0, std::floor(std::log10(std::max(exact, 1.0))));
    // 1 significant digit, at least 1 entry; a trace of few keys repeats a size: once
    const auto size = std::max<std::size_t>(1, static_cast<std::size_t>(std::round(exact / unit) * unit));
    if (size == previous) continue;
    previous = size;
    const double policies[] = {
        hit_percent<surge::lru_cache<k, v>>(keys, size), hit_percent<surge::lfu_cache<k, v>>(keys, size),
        hit_percent<surge::sieve_cache<k, v>>(keys, size), hit_percent<surge::s3fifo_cache<k, v>>(keys, size),
        hit_percent<surge::cache<k, v>>(keys, size)};
    const double opt =
        100.0 * static_cast<double>(cache_sim::belady_hits(keys, size)) / static_cast<double>(keys.size());
    fmt::print("{:>8} {:>7.2f} {:>7.2f} {:>7.2f} {:>8.2f} {:>26.2f} {:>7.2f}\n", size, policies[0], policies[1],
               policies[2], policies[3], policies[4], opt);
    check(std::all_of(std::begin(policies), std::end(policies), [opt](double h) { return h <= opt; }),
          "no policy passes OPT");
  }
}

// ---- queue -------------------------------------------------------------------
void tour_queue() {
  const std::size_t items = quick ? 40'000 : 4'000'000;
  section("queue", fmt::format("Throughput of one bounded lock-free mpmc_queue<std::uint64_t> (1024 slots): "
                               "producers push\n{} items in all, consumers pop until the queue is closed and "
                               "drained; every item is counted.",
                               items));
  fmt::print("{:>9} {:>9} {:>10} {:>14} {:>9}\n", "producers", "consumers", "time (ms)", "items/s", "all seen");
  for (const auto& [p_count, c_count] : {std::pair{1, 1}, std::pair{2, 2}, std::pair{4, 1}, std::pair{1, 4}}) {
    const int producers = p_count, consumers = c_count;  // (lambdas below capture these)
    surge::mpmc_queue<std::uint64_t> q(1024);
    std::atomic<std::uint64_t> count{0}, sum{0};
    const double secs = seconds([&] {
      std::vector<std::jthread> poppers;
      for (int c = 0; c < consumers; ++c)
        poppers.emplace_back([&] {
          std::uint64_t n = 0, s = 0;
          try {
            for (;;) {
              s += q.pop();  // blocks while empty
              ++n;
            }
          } catch (const surge::queue_closed&) {  // closed and drained
          }
          count += n;
          sum += s;
        });
      std::vector<std::jthread> pushers;
      for (int p = 0; p < producers; ++p)
        pushers.emplace_back([&, p] {
          for (std::size_t i = static_cast<std::size_t>(p); i < items; i += static_cast<std::size_t>(producers))
            q.push(i);  // blocks while full
        });
      pushers.clear();  // join the producers, then end the input
      q.close();
    });
    const bool all = count == items && sum == std::uint64_t{items} * (items - 1) / 2;
    check_failed |= !all;
    fmt::print("{:>9} {:>9} {:>10.1f} {:>14.0f} {:>9}\n", producers, consumers, secs * 1e3,
               static_cast<double>(items) / secs, all ? "yes" : "NO");
  }
}

// ---- limiters ----------------------------------------------------------------
void tour_limit() {
  const steady::time_point t0{};  // a made-up time axis: every limiter call takes `now`
  section("limiters",
          "A token bucket (5 tokens/s, burst 3) on a manual time axis of 100 ms ticks. Clients offer "
          "4 requests\nper tick (40/s) for a second, pause, then 1 per tick: the burst passes at once, "
          "then one per 200 ms; idle time refills it.");
  surge::token_bucket<> bucket(5.0, 3, t0);
  fmt::print("{:>7} {:>7} {:>8} {:>7} {:>13}\n", "t (ms)", "offered", "admitted", "refused", "tokens after");
  for (int tick = 0; tick < 20; ++tick) {
    const auto now = t0 + tick * 100ms;
    const int offered = tick < 10 ? 4 : tick < 15 ? 0 : 1;
    int admitted = 0;
    for (int i = 0; i < offered; ++i) admitted += bucket.try_acquire(1, now) ? 1 : 0;
    fmt::print("{:>7} {:>7} {:>8} {:>7} {:>13.2f}\n", tick * 100, offered, admitted, offered - admitted,
               bucket.tokens(now));
    const int described = tick == 0 ? 3 : tick < 10 ? (tick % 2 == 0 ? 1 : 0) : offered;
    check(admitted == described, "the burst passes at once, then one per 200 ms; idle time refills it");
  }

  fmt::print(
      "\nA leaky-bucket meter (nginx limit_req rate=4r/s burst=2) polices; a pacer (4/s, no slack) shapes.\n"
      "The same 8 calls, one every 50 ms, through each (without nodelay, nginx delays what is within the burst):\n\n");
  surge::leaky_bucket<> meter(4.0, 2, 0, t0);
  surge::leaky_bucket_pacer<> pacer(4.0, 0, t0);
  fmt::print("{:>10} {:>18} {:>20}\n", "call at ms", "meter says", "pacer: start at ms");
  for (int call = 0; call < 8; ++call) {
    const auto now = t0 + call * 50ms;
    const auto m = meter.admit(now);
    const std::string says = m.decision == surge::meter_decision::admit   ? "admit"
                             : m.decision == surge::meter_decision::delay ? fmt::format("delay {} ms", m.delay / 1ms)
                                                                          : "reject (429)";
    const auto start = pacer.take(now);
    fmt::print("{:>10} {:>18} {:>20}\n", call * 50, says, (start - t0) / 1ms);
    // nginx's arithmetic: an excess of 1 request per call, drained 0.2 per 50 ms, over burst 2 is rejected
    const char* const nginx[] = {"admit",        "delay 200 ms", "delay 400 ms", "reject (429)",
                                 "reject (429)", "delay 500 ms", "reject (429)", "reject (429)"};
    check(says == nginx[call] && start == t0 + call * 250ms, "nginx's decisions; the pacer's 250 ms spacing");
  }
}

// ---- balancers ---------------------------------------------------------------
// Sends `requests` through pick(i) and counts them per backend. Leased picks
// hold their lease for the next 8 requests (requests in flight).
template <class Pick>
std::vector<std::uint64_t> distribute(std::size_t requests, Pick pick) {
  std::vector<std::uint64_t> load(4);
  std::deque<surge::backend_lease> in_flight;
  for (std::size_t i = 0; i < requests; ++i) {
    auto choice = pick(i);
    if constexpr (std::is_same_v<decltype(choice), surge::backend_lease>) {
      ++load[choice.index()];
      in_flight.push_back(std::move(choice));
      if (in_flight.size() > 8) in_flight.pop_front();  // the oldest request completes
    } else {
      ++load[choice];
    }
  }
  return load;
}

void tour_balance() {
  const std::size_t requests = quick ? 4'000 : 400'000;
  section("balancers", fmt::format("Where {} requests land on 4 equal backends under each policy. Efficiency = mean "
                                   "/ max load\n(surge::balance_efficiency): 1.000 is perfectly even. Hashing "
                                   "policies route request i by the key \"user-<i>\".",
                                   requests));
  const auto key = [](std::size_t i) { return "user-" + std::to_string(i); };
  surge::round_robin rr(4);
  surge::random_balancer random(4);
  surge::power_of_two_choices p2c(4);
  surge::least_connections lc(4);
  surge::consistent_hash_ring<> ring(4);
  surge::maglev<> maglev(4);
  surge::rendezvous_hash<> hrw(4);
  surge::jump_hash_balancer<> jump(4);
  const std::vector<std::pair<const char*, std::function<std::vector<std::uint64_t>()>>> rows{
      {"round_robin", [&] { return distribute(requests, [&](std::size_t) { return rr.pick(); }); }},
      {"random_balancer", [&] { return distribute(requests, [&](std::size_t) { return random.pick(); }); }},
      {"power_of_two_choices", [&] { return distribute(requests, [&](std::size_t) { return p2c.pick(); }); }},
      {"least_connections", [&] { return distribute(requests, [&](std::size_t) { return lc.pick(); }); }},
      {"consistent_hash_ring", [&] { return distribute(requests, [&](std::size_t i) { return ring.pick(key(i)); }); }},
      {"maglev", [&] { return distribute(requests, [&](std::size_t i) { return maglev.pick(key(i)); }); }},
      {"rendezvous_hash", [&] { return distribute(requests, [&](std::size_t i) { return hrw.pick(key(i)); }); }},
      {"jump_hash", [&] { return distribute(requests, [&](std::size_t i) { return jump.pick(key(i)); }); }},
  };
  fmt::print("{:<21} {:>8} {:>8} {:>8} {:>8} {:>10}\n", "policy", "b0", "b1", "b2", "b3", "efficiency");
  for (const auto& [name, run] : rows) {
    const std::vector<std::uint64_t> load = run();
    fmt::print("{:<21} {:>8} {:>8} {:>8} {:>8} {:>10.3f}\n", name, load[0], load[1], load[2], load[3],
               surge::balance_efficiency(load));
  }
  surge::weighted_round_robin wrr(surge::weights{5, 1, 1});
  std::string sequence;
  for (int i = 0; i < 14; ++i) sequence += static_cast<char>('a' + wrr.pick());
  fmt::print("\nweighted_round_robin, weights a=5 b=1 c=1 (nginx's smooth sequence): {}\n", sequence);
  check(sequence == "aabacaaaabacaa", "nginx's smooth sequence for weights 5, 1, 1");
}

// ---- thread pool ---------------------------------------------------------------
void tour_pool() {
  surge::thread_pool pool;  // one worker per hardware thread, work stealing
  const std::size_t tasks = quick ? 20'000 : 2'000'000;
  const std::size_t n = quick ? 200'000 : 50'000'000;
  section("thread pool",
          fmt::format("Costs on a work-stealing thread_pool of {} workers: posting tasks, submit with a future, and\n"
                      "parallel_for summing sqrt(i) over {} indices against a plain loop on one thread.",
                      pool.size(), n));
  fmt::print("{:<44} {:>10} {:>12}\n", "what", "time (ms)", "per item");
  std::atomic<std::size_t> ran{0};
  const double post = seconds([&] {
    for (std::size_t i = 0; i < tasks; ++i) pool.post([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    pool.wait_idle();  // every posted task has run
  });
  fmt::print("{:<44} {:>10.1f} {:>12}\n", fmt::format("post {} tasks, wait_idle", tasks), post * 1e3,
             per_item(post, static_cast<double>(tasks)));
  const double submit = seconds([&] {
    std::vector<std::future<std::size_t>> futures;
    for (std::size_t i = 0; i < tasks / 10; ++i) futures.push_back(pool.submit([i] { return i; }));
    for (auto& f : futures) (void)f.get();
  });
  fmt::print("{:<44} {:>10.1f} {:>12}\n", fmt::format("submit {} tasks, get every future", tasks / 10), submit * 1e3,
             per_item(submit, static_cast<double>(tasks / 10)));
  const auto work = [](std::size_t i) { return std::sqrt(static_cast<double>(i)); };
  double serial_sum = 0;
  const double serial = seconds([&] {
    for (std::size_t i = 0; i < n; ++i) serial_sum += work(i);
  });
  std::vector<double> partial(256);  // parallel_for over 256 chunks: each writes its own slot
  const double parallel = seconds([&] {
    surge::parallel_for(pool, std::size_t{0}, partial.size(), [&](std::size_t c) {
      double s = 0;
      for (std::size_t i = c * n / partial.size(); i < (c + 1) * n / partial.size(); ++i) s += work(i);
      partial[c] = s;
    });
  });
  double parallel_sum = 0;
  for (const double s : partial) parallel_sum += s;
  fmt::print("{:<44} {:>10.1f} {:>12}\n", "sum, one thread", serial * 1e3, per_item(serial, static_cast<double>(n)));
  fmt::print("{:<44} {:>10.1f} {:>12}\n",
             fmt::format("sum, parallel_for ({:.1f}x one thread's speed)", serial / parallel), parallel * 1e3,
             per_item(parallel, static_cast<double>(n)));
  if (std::abs(serial_sum - parallel_sum) > 1e-6 * serial_sum) {
    fmt::print("the sums differ!\n");
    check_failed = true;
  }
}

// ---- coroutines ----------------------------------------------------------------
// Coroutine lambdas take what they use as parameters (copied into the frame),
// never as captures: a capture lives in the lambda object, not in the frame.
surge::task<int> answer(int x) { co_return x * 2; }

surge::task<std::uint64_t> await_many(std::size_t n) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += static_cast<std::uint64_t>(co_await answer(static_cast<int>(i % 100)));
  co_return sum;
}

surge::task<void> started(steady::time_point spawned, surge::latency_histogram& delays) {
  delays.record((steady::now() - spawned) / 1ns);  // spawn -> first instruction on a worker
  co_return;
}

surge::task<void> produce(surge::thread_pool& pool, surge::channel<std::size_t>& ch, std::size_t n) {
  co_await pool.schedule();  // continue on a worker
  for (std::size_t i = 0; i < n; ++i) (void)co_await ch.send(i);
  ch.close();
}

surge::task<std::uint64_t> consume(surge::channel<std::size_t>& ch) {
  std::uint64_t sum = 0;
  while (auto v = co_await ch.recv()) sum += *v;  // nullopt once closed and drained
  co_return sum;
}

void tour_coro() {
  surge::thread_pool pool;
  const std::size_t n = quick ? 20'000 : 2'000'000;
  section("coroutines",
          "Costs of surge::task coroutines: awaiting a task that completes at once, spawning onto "
          "the pool, a channel\nhand-off between two coroutines, and how soon a coroutine spawned onto an idle "
          "pool starts (a latency_histogram).");
  fmt::print("{:<52} {:>10} {:>12}\n", "what", "time (ms)", "per item");
  std::uint64_t sum = 0;
  const double awaits = seconds([&] { sum = surge::sync_wait(await_many(n)); });
  fmt::print("{:<52} {:>10.1f} {:>12}\n", fmt::format("co_await {} tasks completing at once", n), awaits * 1e3,
             per_item(awaits, static_cast<double>(n)));
  surge::latency_histogram delays;  // lock-free; records from any thread
  const double spawns = seconds([&] {
    for (std::size_t i = 0; i < n / 10; ++i) surge::spawn(pool, started(steady::now(), delays));
    pool.wait_idle();  // waits for spawned coroutines too
  });
  delays.reset();  // keep only the idle-pool starts below
  for (std::size_t i = 0; i < n / 100; ++i) {
    surge::spawn(pool, started(steady::now(), delays));
    pool.wait_idle();
  }
  fmt::print("{:<52} {:>10.1f} {:>12}\n", fmt::format("spawn {} coroutines, wait_idle", n / 10), spawns * 1e3,
             per_item(spawns, static_cast<double>(n / 10)));
  surge::channel<std::size_t> ch(64);
  std::uint64_t received = 0;
  const double hand_off = seconds([&] {
    surge::spawn(pool, produce(pool, ch, n / 10));
    received = surge::sync_wait(consume(ch));
    pool.wait_idle();
  });
  fmt::print("{:<52} {:>10.1f} {:>12}\n", fmt::format("send {} values through a channel<size_t>(64)", n / 10),
             hand_off * 1e3, per_item(hand_off, static_cast<double>(n / 10)));
  fmt::print("\nspawn onto an idle pool -> start on a worker, {} times: p50 {:.1f} µs, p99 {:.1f} µs, max {:.1f} µs\n",
             delays.count(), static_cast<double>(delays.value_at_percentile(50)) / 1e3,
             static_cast<double>(delays.value_at_percentile(99)) / 1e3, static_cast<double>(delays.max()) / 1e3);
  const std::uint64_t m = n / 10, q = n / 100, r = n % 100;
  const std::uint64_t answers = 2 * (q * (99 * 100 / 2) + r * (r - 1) / 2);  // the sum of 2 * (i % 100), i < n
  if (received != m * (m - 1) / 2 || sum != answers || delays.count() != n / 100) {
    fmt::print("a coroutine lost a value!\n");
    check_failed = true;
  }
}

// ---- resilience ----------------------------------------------------------------
void tour_resilience() {
  section("resilience",
          "A circuit breaker (window of 10 calls, opens at >= 50 % failures, stays open 1 s, then "
          "lets 3 probes\nthrough) in front of a backend that fails from t = 2 s to t = 5 s; one call "
          "every 100 ms on a manual time axis.");
  const steady::time_point t0{};
  steady::time_point now = t0;
  struct change {
    long long ms;
    surge::breaker_state from, to;
  };
  std::vector<change> changes;
  surge::circuit_breaker<> breaker({.window_size = 10,
                                    .minimum_calls = 10,
                                    .wait_in_open = 1s,
                                    .half_open_calls = 3,
                                    .on_state_change = [&](surge::breaker_state from, surge::breaker_state to) {
                                      changes.push_back({(now - t0) / 1ms, from, to});
                                    }});
  int ok = 0, failed = 0, refused = 0;
  for (int call = 0; call < 80; ++call, now += 100ms) {
    const bool backend_up = now < t0 + 2s || now >= t0 + 5s;
    if (auto permit = breaker.try_acquire(now)) {
      (backend_up ? ok : failed) += 1;
      if (backend_up)
        permit.success(now);
      else
        permit.failure(now);
    } else {
      ++refused;  // open: fail fast, the backend is not called
    }
  }
  fmt::print("{:>8} {:>10} {:>10}\n", "t (ms)", "from", "to");
  for (const change& c : changes)
    fmt::print("{:>8} {:>10} {:>10}\n", c.ms, surge::to_string(c.from), surge::to_string(c.to));
  fmt::print("\n80 calls: {} succeeded, {} failed at the backend, {} refused at once while open\n", ok, failed,
             refused);
  // Open on the 5th failure (5 of 10); each probe round comes at the first call strictly after 1 s
  // open; the rounds at 3.5 s and 4.8 s meet the outage, the one at 6.1 s closes.
  using enum surge::breaker_state;
  const change described[] = {{2400, closed, open},     {3500, open, half_open}, {3700, half_open, open},
                              {4800, open, half_open},  {5000, half_open, open}, {6100, open, half_open},
                              {6300, half_open, closed}};
  check(std::equal(changes.begin(), changes.end(), std::begin(described), std::end(described),
                   [](const change& a, const change& b) { return a.ms == b.ms && a.from == b.from && a.to == b.to; }) &&
            ok == 40 && failed == 10 && refused == 30,
        "the breaker opens at 50 % failures, stays open 1 s, then lets 3 probes through");
}

}  // namespace

int main(int argc, char** argv) {
  std::string trace;  // empty: the shipped trace
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string why;  // what is wrong with the arguments
    if (a == "-h" || a == "--help") {
      fmt::print("usage: surge_example_tour [--quick] [TRACE]\n");
      return 0;
    } else if (a == "--quick") {
      quick = true;
    } else if (!a.empty() && a[0] == '-') {
      why = "unknown option " + a;
    } else if (a.empty()) {
      why = "a TRACE is an empty string (with no TRACE at all, the shipped trace runs)";
    } else if (!trace.empty()) {
      why = "one TRACE at most, not " + trace + " and " + a;
    } else {
      trace = a;
    }
    if (!why.empty()) {
      fmt::print(stderr, "tour: {}\nusage: surge_example_tour [--quick] [TRACE]\n", why);
      return 2;
    }
  }
  if (trace.empty()) trace = std::string(SURGE_EXAMPLES_DATA_DIR) + "/ps.txt.gz";
  fmt::print("surge {} tour{}: caches, queue, limiters, balancers, thread pool, coroutines, resilience\n",
             surge::version_string, quick ? " (--quick)" : "");
  try {
    tour_cache(trace);
  } catch (const std::exception& e) {
    fmt::print("cannot read the trace: {}\n", e.what());
    return 1;
  }
  tour_queue();
  tour_limit();
  tour_balance();
  tour_pool();
  tour_coro();
  tour_resilience();
  fmt::print("\nDone. Each area has a focused example in examples/ and a page in docs/.\n");
  return check_failed ? 1 : 0;
}
