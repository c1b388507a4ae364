#include <surge/balance/detail/smooth_tournament.hpp>
#include <surge/balance/weighted_round_robin.hpp>

#include "failing_new.hpp"
#include "surge_test.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

std::vector<std::size_t> run(surge::weighted_round_robin& w, std::size_t k) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < k; ++i) out.push_back(w.pick());
  return out;
}

// Straight transcription of ngx_http_upstream_get_peer (integer weights,
// effective_weight == weight, down peers skipped) as the reference model.
struct nginx_model {
  std::vector<long> weight, current;
  std::vector<bool> down;
  std::size_t pick() {
    long total = 0;
    long best = -1;
    for (std::size_t i = 0; i < weight.size(); ++i) {
      if (down[i]) continue;
      current[i] += weight[i];
      total += weight[i];
      if (best == -1 || current[i] > current[static_cast<std::size_t>(best)]) best = static_cast<long>(i);
    }
    current[static_cast<std::size_t>(best)] -= total;
    return static_cast<std::size_t>(best);
  }
  static nginx_model of(const std::vector<long>& weights) {
    return nginx_model{weights, std::vector<long>(weights.size(), 0), std::vector<bool>(weights.size(), false)};
  }
  // With probability 1/one_in: a random backend flipped up or down (unless
  // that would leave none up, which nginx cannot answer), then apply(i, up).
  template <class Apply>
  void maybe_flap(std::mt19937_64& rng, std::uint64_t one_in, Apply&& apply) {
    if (rng() % one_in != 0) return;
    const std::size_t i = rng() % weight.size();
    const bool up = rng() % 2 == 0;
    std::size_t ups = 0;
    for (std::size_t j = 0; j < weight.size(); ++j) ups += (j == i ? up : !down[j]) ? 1 : 0;
    if (ups == 0) return;
    down[i] = !up;
    apply(i, up);
  }
};

// Transcription of gRPC's StaticStrideScheduler::Pick with a 32-bit sequence
// from 0 (weights already scaled).
struct grpc_model {
  std::vector<std::uint16_t> weights;
  std::uint32_t seq = 0;
  std::size_t pick() {
    constexpr std::uint16_t kMaxWeight = 65535;
    while (true) {
      const std::uint32_t sequence = seq++;
      const std::uint64_t backend_index = sequence % weights.size();
      const std::uint64_t generation = sequence / weights.size();
      const std::uint64_t weight = weights[backend_index];
      const std::uint16_t kOffset = kMaxWeight / 2;
      const auto mod = static_cast<std::uint16_t>((weight * generation + backend_index * kOffset) % kMaxWeight);
      if (mod < kMaxWeight - weight) continue;
      return static_cast<std::size_t>(backend_index);
    }
  }
};

}  // namespace

TEST_CASE("smooth WRR reproduces nginx's sequences", "[balance][wrr]") {
  using v = std::vector<std::size_t>;
  {
    surge::weighted_round_robin w(surge::weights{5, 1, 1});  // nginx's classic: a a b a c a a
    CHECK(run(w, 14) == v{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0});
  }
  {
    surge::weighted_round_robin w(
        surge::weights{2.5, 0.5, 0.5});  // non-integer weights (the double layout), exact halves of {5, 1, 1}
    CHECK(run(w, 14) == v{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0});
  }
  {
    surge::weighted_round_robin w(surge::weights{1, 1, 1});
    CHECK(run(w, 6) == v{0, 1, 2, 0, 1, 2});
  }
  {
    surge::weighted_round_robin w(surge::weights{4, 2, 1});
    CHECK(run(w, 7) == v{0, 1, 0, 2, 0, 1, 0});
  }
  {
    surge::weighted_round_robin w(surge::weights{3, 2});
    CHECK(run(w, 5) == v{0, 1, 0, 1, 0});
  }
  {
    surge::weighted_round_robin w(surge::weights{2, 3, 5});
    CHECK(run(w, 10) == v{2, 1, 0, 2, 1, 2, 2, 0, 1, 2});
  }
  {
    surge::weighted_round_robin w(surge::weights{1, 2, 3, 4});
    CHECK(run(w, 10) == v{3, 2, 1, 3, 0, 2, 3, 1, 2, 3});
  }
}

TEST_CASE("smooth WRR: exact shares in every window of W picks, after a health change once its transient is over",
          "[balance][wrr]") {
  const std::vector<std::size_t> weight{2, 2, 2, 4};  // W = 10
  const auto window_counts = [&](const std::vector<std::size_t>& seq, std::size_t from) {
    std::vector<std::size_t> c(weight.size(), 0);
    for (std::size_t k = from; k < from + 10; ++k) ++c[seq[k]];
    return c;
  };
  surge::weighted_round_robin w(surge::weights{2, 2, 2, 4});
  const std::vector<std::size_t> fresh = run(w, 60);
  for (std::size_t from = 0; from + 10 <= fresh.size(); ++from) CHECK(window_counts(fresh, from) == weight);

  // the class comment's example: from other current weights the first
  // windows are not exact (nginx's sequence, the same with its own loop)
  surge::weighted_round_robin f(surge::weights{2, 2, 2, 4});
  (void)run(f, 6);
  f.set_healthy(3, false);
  (void)run(f, 2);
  f.set_healthy(3, true);
  const std::vector<std::size_t> after = run(f, 80);
  CHECK(window_counts(after, 0) == std::vector<std::size_t>{2, 2, 3, 3});
  for (std::size_t from = 30; from + 10 <= after.size(); ++from) CHECK(window_counts(after, from) == weight);
}

TEST_CASE("smooth WRR matches the nginx model under random weights and health", "[balance][wrr]") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 70; ++round) {
    // small sets (one and two compare chains), then 30..99 (four chains, odd tails)
    const std::size_t n = round < 50 ? 1 + rng() % 8 : 30 + rng() % 70;
    std::vector<double> w(n);
    nginx_model model;
    for (std::size_t i = 0; i < n; ++i) {
      const long x = 1 + static_cast<long>(rng() % 10);
      w[i] = static_cast<double>(x);
      model.weight.push_back(x);
    }
    model.current.assign(n, 0);
    model.down.assign(n, false);
    surge::weighted_round_robin s{surge::weights(w)};
    for (int step = 0; step < 400; ++step) {
      if (rng() % 20 == 0) {
        const std::size_t i = rng() % n;
        const bool up = rng() % 2 == 0;
        // keep at least one backend up so the model (nginx) has an answer
        std::size_t ups = 0;
        for (std::size_t j = 0; j < n; ++j) ups += (j == i ? up : !model.down[j]) ? 1 : 0;
        if (ups > 0) {
          s.set_healthy(i, up);
          model.down[i] = !up;
        }
      }
      REQUIRE(s.pick() == model.pick());
    }
  }
}

TEST_CASE("smooth WRR: bad weights throw, all down panics", "[balance][wrr]") {
  CHECK_THROWS_AS(surge::weighted_round_robin(surge::weights(std::vector<double>{})), std::invalid_argument);
  CHECK_THROWS_AS((surge::weighted_round_robin(surge::weights{1, 0})), std::invalid_argument);
  CHECK_THROWS_AS((surge::weighted_round_robin(surge::weights{1, -2})), std::invalid_argument);
  // a table of up to 2^40 entries would have taken hours to build
  surge_test::check_names(
      [] {
        surge::weighted_round_robin(surge::weights{1, 2}, (std::size_t{1} << 28) + 1);
      },
      "table_limit");
  surge_test::check_names([] { surge::shared_weighted_round_robin(surge::weights{1, 2}, SIZE_MAX); }, "table_limit");
  surge::weighted_round_robin most(surge::weights{1, 2}, std::size_t{1} << 28);
  CHECK(most.table_active());
  surge::weighted_round_robin w(surge::weights{5, 1, 1});
  for (std::size_t i = 0; i < 3; ++i) w.set_healthy(i, false);
  std::vector<std::size_t> out = run(w, 7);
  CHECK(out == std::vector<std::size_t>{0, 0, 1, 0, 2, 0, 0});  // panic: as if all were up
}

TEST_CASE("stride WRR reproduces gRPC's static stride scheduler", "[balance][wrr]") {
  {
    surge::stride_weighted_round_robin s(surge::weights{1, 2, 3});
    CHECK(s.scaled_weight(0) == 21845);
    CHECK(s.scaled_weight(2) == 65535);
    const std::vector<std::size_t> expected{1, 2, 2, 0, 1, 2, 1, 2, 2, 0, 1, 2, 1, 2, 2, 0, 1, 2, 1, 2};
    std::vector<std::size_t> got;
    for (int i = 0; i < 20; ++i) got.push_back(s.pick());
    CHECK(got == expected);
  }
  {
    surge::stride_weighted_round_robin s(surge::weights{5, 1, 1});
    const std::vector<std::size_t> expected{0, 2, 0, 0, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 2, 0, 0, 1, 0};
    std::vector<std::size_t> got;
    for (int i = 0; i < 20; ++i) got.push_back(s.pick());
    CHECK(got == expected);
  }
  std::mt19937_64 rng(11);
  for (int round = 0; round < 20; ++round) {
    const std::size_t n = 1 + rng() % 10;
    std::vector<double> w(n);
    for (auto& x : w) x = 1.0 + static_cast<double>(rng() % 1000) / 10.0;
    surge::stride_weighted_round_robin s{surge::weights(w)};
    grpc_model model;
    for (std::size_t i = 0; i < n; ++i) model.weights.push_back(static_cast<std::uint16_t>(s.scaled_weight(i)));
    for (int step = 0; step < 2000; ++step) REQUIRE(s.pick() == model.pick());
  }
}

TEST_CASE("stride WRR: gRPC's rule is exact at every generation, however large", "[balance][wrr]") {
  // the model in 128 bits: (w·g + i·32767) mod 65535 >= 65535 - w
  __extension__ using u128 = unsigned __int128;
  const auto model = [](std::uint64_t w, std::uint64_t g, std::uint64_t i) {
    const u128 x = static_cast<u128>(w) * g + static_cast<u128>(i) * 32767u;
    return static_cast<std::uint64_t>(x % 65535u) >= 65535u - w;
  };
  constexpr std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  for (const std::uint64_t w :
       {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{777}, std::uint64_t{65534}, std::uint64_t{65535}})
    for (const std::uint64_t i : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{5}, std::uint64_t{100'000}})
      for (const std::uint64_t g0 :
           {std::uint64_t{0}, top / w - (w == 1 ? 70'000 : 3), top / 65535 - 3, top / 2, top - 70'000}) {
        // a whole period of generations: taken exactly w times, matching the model each time
        // (before: w·g wrapped past g ≈ 2^64 / w, shifting the phase at each wrap)
        std::uint64_t taken = 0;
        for (std::uint64_t g = g0; g < g0 + 65535; ++g) {
          const bool t = surge::detail::stride_takes(w, g, i);
          if (t != model(w, g, i)) FAIL("w " << w << " g " << g << " i " << i);
          taken += t;
        }
        CHECK(taken == w);
      }
}

TEST_CASE("stride WRR: proportions, health, threads", "[balance][wrr]") {
  surge::stride_weighted_round_robin s(surge::weights{4, 2, 1, 1});
  std::vector<int> c(4, 0);
  for (int i = 0; i < 80000; ++i) ++c[s.pick()];
  CHECK(c[0] == Approx(40000).epsilon(0.01));
  CHECK(c[1] == Approx(20000).epsilon(0.01));
  CHECK(c[2] == Approx(10000).epsilon(0.01));
  s.set_healthy(0, false);
  for (int i = 0; i < 1000; ++i) CHECK(s.pick() != 0);
  for (std::size_t i = 0; i < 4; ++i) s.set_healthy(i, false);
  std::vector<int> p(4, 0);
  for (int i = 0; i < 8000; ++i) ++p[s.pick()];
  CHECK(p[0] > p[1]);  // panic: weights as if all were up
  for (std::size_t i = 0; i < 4; ++i) s.set_healthy(i, true);

  std::atomic<int> total{0};
  std::vector<std::thread> ts;
  std::vector<std::vector<int>> seen(2, std::vector<int>(4, 0));
  for (int t = 0; t < 2; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        ++seen[t][s.pick()];
        total.fetch_add(1, std::memory_order_relaxed);
      }
    });
  for (auto& t : ts) t.join();
  CHECK(total.load() == 40000);
  CHECK(seen[0][0] + seen[1][0] == Approx(20000).epsilon(0.02));
}

TEST_CASE("stride WRR: tiny weights keep their proportions", "[balance][wrr]") {
  // 65535 / 2e-305 overflows to +inf: the weights are scaled as w / top · 65535.
  surge::stride_weighted_round_robin tiny(surge::weights{2e-305, 1e-305}), plain(surge::weights{2, 1});
  CHECK(tiny.scaled_weight(0) == 65535);
  CHECK(tiny.scaled_weight(1) == 32768);
  CHECK(plain.scaled_weight(1) == 32768);
  for (int i = 0; i < 3000; ++i) REQUIRE(tiny.pick() == plain.pick());
  constexpr double d = std::numeric_limits<double>::denorm_min();
  surge::stride_weighted_round_robin denormal(surge::weights{4 * d, d});
  CHECK(denormal.scaled_weight(0) == 65535);
  CHECK(denormal.scaled_weight(1) == 16384);
}

TEST_CASE("smooth WRR: when the O(1) table is used", "[balance][wrr]") {
  CHECK(surge::weighted_round_robin(surge::weights{5, 1, 1}).table_active());
  CHECK(surge::weighted_round_robin(surge::weights{5, 1, 1}).table_size() == 7);  // from zero: one period, no transient
  CHECK(surge::weighted_round_robin(surge::weights{2.5, 0.5, 0.5}).table_active());  // multiples of 2^-1: exact
  CHECK(surge::weighted_round_robin(surge::weights{2.5, 0.5, 0.5}).table_size() == 7);
  CHECK_FALSE(surge::weighted_round_robin(surge::weights{0.1, 0.2}).table_active());  // doubles that round: O(n)
  CHECK(surge::weighted_round_robin(surge::weights{0.1, 0.2}).algorithm() == surge::smooth_wrr_algorithm::scan);
  CHECK(surge::weighted_round_robin(surge::weights{5, 1, 1}, 0).algorithm() == surge::smooth_wrr_algorithm::tournament);
  CHECK(surge::weighted_round_robin(surge::weights{5, 1, 1}).algorithm() == surge::smooth_wrr_algorithm::table);
  CHECK_FALSE(surge::weighted_round_robin(surge::weights{5, 1, 1}, 0).table_active());  // disabled
  CHECK_FALSE(surge::weighted_round_robin(surge::weights{5, 1, 1}, 6).table_active());  // W = 7 > limit
  CHECK(surge::weighted_round_robin(surge::weights{5, 1, 1}, 7).table_active());
  surge::weighted_round_robin w(surge::weights{1000, 1000}, 1500);  // W = 2000 > 1500 …
  CHECK_FALSE(w.table_active());
  w.set_healthy(1, false);  // … but W = 1000 fits
  CHECK(w.table_active());
  CHECK(w.pick() == 0);
}

namespace {

// Drives a table-enabled and a table-disabled (O(n)) policy and the nginx
// transcription (weights given as scaled integers) through the same random
// picks and health flaps; every pick must agree.
void compare_paths(const std::vector<double>& w, const std::vector<long>& scaled, std::mt19937_64& rng, int steps,
                   std::uint64_t flap_one_in) {
  surge::weighted_round_robin fast{surge::weights(w)};
  surge::weighted_round_robin slow(surge::weights(w), 0);
  REQUIRE_FALSE(slow.table_active());
  REQUIRE(slow.algorithm() == surge::smooth_wrr_algorithm::tournament);
  nginx_model model = nginx_model::of(scaled);
  for (int step = 0; step < steps; ++step) {
    model.maybe_flap(rng, flap_one_in, [&](std::size_t i, bool up) {
      fast.set_healthy(i, up);
      slow.set_healthy(i, up);
      // the sequence became W-periodic again within the bounds (the
      // experiment behind the table, repeated on every flap)
      REQUIRE(fast.table_active());
    });
    const std::size_t expected = model.pick();
    REQUIRE(fast.pick() == expected);
    REQUIRE(slow.pick() == expected);
  }
  CHECK(fast.table_active());  // these sets always fit: the fast path was the table
}

// n random weights scaled[i] / divisor, scaled[i] in [1, max_scaled]; the
// nginx model runs on the scaled integers, which is the same sequence as
// nginx on the weights when divisor is a power of two (exact arithmetic).
struct weight_set {
  std::vector<double> w;
  std::vector<long> scaled;
  weight_set(std::mt19937_64& rng, std::size_t n, long max_scaled, double divisor) : w(n), scaled(n) {
    for (std::size_t i = 0; i < n; ++i) {
      scaled[i] = 1 + static_cast<long>(rng() % static_cast<std::uint64_t>(max_scaled));
      w[i] = static_cast<double>(scaled[i]) / divisor;
    }
  }
};

}  // namespace

TEST_CASE("smooth WRR: table and O(n) paths agree with nginx under health flaps", "[balance][wrr]") {
  std::mt19937_64 rng(2026);
  for (int round = 0; round < 60; ++round) {
    const bool quarters = round % 3 == 2;  // non-integer, exact: multiples of 1/4
    const weight_set s(rng, 1 + rng() % 12, quarters ? 40 : 10, quarters ? 4.0 : 1.0);
    compare_paths(s.w, s.scaled, rng, 3000, 25);
  }
}

TEST_CASE("smooth WRR: table and O(n) paths agree with more than 1000 backends", "[balance][wrr]") {
  std::mt19937_64 rng(99);
  for (int round = 0; round < 2; ++round) {
    const weight_set s(rng, 1001 + rng() % 200, 4, 1.0);
    compare_paths(s.w, s.scaled, rng, 12000, 2000);  // a handful of flaps, each a rebuild
  }
}

TEST_CASE("shared smooth WRR: nginx's sequence from one thread, health flaps included", "[balance][wrr]") {
  std::mt19937_64 rng(31);
  for (int round = 0; round < 30; ++round) {
    const weight_set s(rng, 1 + rng() % 10, 8, 1.0);
    surge::shared_weighted_round_robin shared{surge::weights(s.w)};
    CHECK(shared.table_active());
    nginx_model model = nginx_model::of(s.scaled);
    for (int step = 0; step < 2000; ++step) {
      model.maybe_flap(rng, 40, [&](std::size_t i, bool up) {
        shared.set_healthy(i, up);
        REQUIRE(shared.healthy(i) == up);
      });
      REQUIRE(shared.pick() == model.pick());
    }
  }
  CHECK_FALSE(surge::shared_weighted_round_robin(surge::weights{5, 1, 1}).set_healthy(3, false));
  CHECK_THROWS_AS(surge::shared_weighted_round_robin(surge::weights{1, 0}), std::invalid_argument);
}

namespace {

// Picks k times on each of two threads; returns every pick, sorted.
template <class Policy>
std::vector<std::size_t> picks_from_two_threads(Policy& p, std::size_t k) {
  std::vector<std::vector<std::size_t>> got(2);
  std::vector<std::thread> ts;
  for (std::size_t t = 0; t < 2; ++t)
    ts.emplace_back([&p, &got, k, t] {
      for (std::size_t i = 0; i < k; ++i) got[t].push_back(p.pick());
    });
  for (auto& t : ts) t.join();
  std::vector<std::size_t> all = got[0];
  all.insert(all.end(), got[1].begin(), got[1].end());
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace

TEST_CASE("shared smooth WRR: two threads together take exactly nginx's picks", "[balance][wrr]") {
  for (const std::vector<double>& w : {std::vector<double>{5, 1, 1}, std::vector<double>{0.1, 0.2, 0.3, 0.7}}) {
    surge::shared_weighted_round_robin shared{surge::weights(w)};
    CHECK(shared.table_active() == (w[0] == 5));  // 0.1 etc.: the O(n) path under the mutex
    surge::weighted_round_robin single{surge::weights(w)};
    const std::size_t k = 20000;
    const auto all = picks_from_two_threads(shared, k);
    std::vector<std::size_t> expected;
    for (std::size_t i = 0; i < 2 * k; ++i) expected.push_back(single.pick());
    std::sort(expected.begin(), expected.end());
    CHECK(all == expected);                 // the first 2k positions of the sequence, each taken once
    CHECK(shared.pick() == single.pick());  // and it continues where they stopped
  }
}

TEST_CASE("shared smooth WRR: picks stay valid while another thread flaps health", "[balance][wrr]") {
  surge::shared_weighted_round_robin shared(surge::weights{3, 1, 2, 5, 4});
  std::atomic<bool> stop{false};
  std::atomic<long> picks{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::thread reader([&] {
    while (!stop.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < deadline) {
      const std::size_t b = shared.pick();
      REQUIRE(b < 5);
      picks.fetch_add(1, std::memory_order_relaxed);
    }
  });
  while (picks.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  std::mt19937_64 rng(3);
  for (int flap = 0; flap < 200; ++flap) shared.set_healthy(rng() % 5, rng() % 2 == 0);
  for (std::size_t i = 0; i < 5; ++i) shared.set_healthy(i, i != 3);
  stop.store(true, std::memory_order_release);
  reader.join();
  CHECK(picks.load() > 0);
  for (int i = 0; i < 100; ++i) CHECK(shared.pick() != 3);  // quiet again: down is skipped
}

TEST_CASE("smooth WRR: a copy's set_healthy survives failing allocations", "[balance][wrr]") {
  // set_healthy is noexcept: only the table build allocates, and it falls
  // back to the O(n) loop (the same sequence) when that fails. A copy's list
  // of up backends had only the capacity of its contents, so the copy's
  // set_healthy grew it, and an allocation failing there called
  // std::terminate.
  const surge::weighted_round_robin original(surge::weights{5, 1, 1});
  for (long n = 1; n <= 10; ++n) {
    surge::weighted_round_robin copy(original), reference(original);
    surge_test::fail_allocation(n);
    copy.set_healthy(0, false);
    surge_test::fail_allocation(0);
    reference.set_healthy(0, false);
    CAPTURE(n);
    CHECK_FALSE(copy.healthy(0));
    for (int k = 0; k < 20; ++k) REQUIRE(copy.pick() == reference.pick());
  }
}

TEST_CASE("shared smooth WRR: a set_healthy that throws changes nothing", "[balance][wrr]") {
  // Every allocation of set_healthy in turn fails (the table rebuild, the
  // copy to publish, the publication): the call either completes or throws
  // and leaves health and sequence as they were. It used to throw after the
  // engine had changed, leaving the old table published: the down backend
  // kept being picked, and the next change folded the old table's position
  // into the new one.
  bool threw = false;
  for (long n = 1; n <= 40; ++n) {
    surge::shared_weighted_round_robin shared(surge::weights{5, 1, 1});
    surge::weighted_round_robin single(surge::weights{5, 1, 1});
    for (int k = 0; k < 3; ++k) REQUIRE(shared.pick() == single.pick());
    bool failed = false;
    surge_test::fail_allocation(n);
    try {
      shared.set_healthy(0, false);
    } catch (const std::bad_alloc&) {
      failed = true;
    }
    surge_test::fail_allocation(0);
    threw = threw || failed;
    if (!failed) single.set_healthy(0, false);
    CAPTURE(n, failed);
    CHECK(shared.healthy(0) == failed);
    for (int k = 0; k < 20; ++k) REQUIRE(shared.pick() == single.pick());
    shared.set_healthy(0, true);  // a later change continues the same sequence
    single.set_healthy(0, true);
    for (int k = 0; k < 20; ++k) REQUIRE(shared.pick() == single.pick());
  }
  CHECK(threw);
}

TEST_CASE("smooth WRR: weights whose sum overflows keep their proportions", "[balance][wrr]") {
  surge::weighted_round_robin w(surge::weights{1e308, 1e308});
  std::size_t c[2] = {0, 0};
  for (int k = 0; k < 1000; ++k) ++c[w.pick()];
  CHECK(c[0] == 500);
  CHECK(c[1] == 500);
  CHECK(w.weight(0) == 1e308);                                                    // as given
  surge::weighted_round_robin three(surge::weights{1.5e308, 1.5e308, 0.75e308});  // 2 : 2 : 1
  std::size_t t[3] = {0, 0, 0};
  for (int k = 0; k < 1000; ++k) ++t[three.pick()];
  CHECK(t[0] == 400);
  CHECK(t[1] == 400);
  CHECK(t[2] == 200);
  surge::shared_weighted_round_robin shared(surge::weights{1e308, 1e308});
  std::size_t s[2] = {0, 0};
  for (int k = 0; k < 1000; ++k) ++s[shared.pick()];
  CHECK(s[0] == 500);
  surge::stride_weighted_round_robin stride(surge::weights{1e308, 1e308});
  CHECK(stride.scaled_weight(0) == stride.scaled_weight(1));
  // a finite sum whose double is not: nginx's running weights reach up to
  // twice the sum, and one that became inf won every pick after
  surge::weighted_round_robin big(surge::weights{1.2e308, 0.5e308}), small(surge::weights{1.2, 0.5});
  for (int k = 0; k < 340; ++k) CHECK(big.pick() == small.pick());
}

TEST_CASE("smooth WRR: a weight the scaling of an overflowing sum would round is refused", "[balance][wrr]") {
  // {1e308, 1e308} is scaled by 2^-2; 3 · 2^-1074 scaled so is 0.75 · 2^-1074,
  // which rounds to 2^-1074: the policy went on with a weight of 4 · 2^-1074
  // and weight(2) said so, where the header promised the sequence of the
  // weights as given. Refused like a weight the scaling takes to 0.
  const double odd = 3 * std::numeric_limits<double>::denorm_min();
  CHECK_THROWS_WITH(surge::weighted_round_robin(surge::weights{1e308, 1e308, odd}),
                    Catch::Matchers::Contains("weight[2]"));
  // a weight the scaling keeps exactly is taken, and reads as given
  const double four = 4 * std::numeric_limits<double>::denorm_min();
  const surge::weighted_round_robin kept(surge::weights{1e308, 1e308, four});
  CHECK(kept.weight(2) == four);
}

TEST_CASE("smooth WRR tournament: nginx's picks from any reachable state", "[balance][wrr]") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    const std::size_t n = 1 + rng() % (round % 10 == 0 ? 300 : 20);
    const long max_w = round % 3 == 0 ? 3 : round % 3 == 1 ? 100 : 1'000'000;
    std::vector<long> weights(n);
    for (auto& w : weights) w = 1 + static_cast<long>(rng() % static_cast<std::uint64_t>(max_w));
    nginx_model model = nginx_model::of(weights);
    // reach some state: picks with health flaps, then freeze the up set
    for (int k = 0; k < 50; ++k) {
      model.maybe_flap(rng, 5, [](std::size_t, bool) {});
      (void)model.pick();
    }
    std::vector<std::uint32_t> members;
    std::int64_t total = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (!model.down[i]) {
        members.push_back(static_cast<std::uint32_t>(i));
        total += weights[i];
      }
    std::vector<std::int64_t> w64(weights.begin(), weights.end()), cur(model.current.begin(), model.current.end());
    surge::detail::smooth_tournament t;
    REQUIRE(surge::detail::smooth_tournament::fits(members.size(), total, 1'000'000'000));
    t.reset(members, w64.data(), cur.data(), total);
    for (int k = 0; k < 3000; ++k) REQUIRE(t.pick() == model.pick());
    std::vector<std::int64_t> back(n, 0);
    for (std::size_t i = 0; i < n; ++i) back[i] = model.down[i] ? model.current[i] : 0;
    t.store(back.data());
    for (std::size_t i = 0; i < n; ++i) REQUIRE(back[i] == model.current[i]);
  }
}

TEST_CASE("smooth WRR: O(log n) tournament past the table's limit, 5000 backends", "[balance][wrr]") {
  std::mt19937_64 rng(10'000);
  const weight_set s(rng, 5000, 1000, 1.0);  // W about 2.5M: over the default table limit
  surge::weighted_round_robin w{surge::weights(s.w)};
  REQUIRE(w.algorithm() == surge::smooth_wrr_algorithm::tournament);
  nginx_model model = nginx_model::of(s.scaled);
  for (int step = 0; step < 6000; ++step) {
    model.maybe_flap(rng, 1500, [&](std::size_t i, bool up) {
      w.set_healthy(i, up);
      REQUIRE(w.algorithm() == surge::smooth_wrr_algorithm::tournament);
    });
    REQUIRE(w.pick() == model.pick());
  }
}

TEST_CASE("smooth WRR tournament: arithmetic bound", "[balance][wrr]") {
  using t = surge::detail::smooth_tournament;
  CHECK(t::fits(10'000, std::int64_t{1} << 40, std::int64_t{1} << 40));
  CHECK_FALSE(t::fits(10'000, std::int64_t{1} << 50, 0));  // 10^4 · 2^50 > 2^61
  CHECK_FALSE(t::fits(1, 0, 0));
  CHECK_FALSE(t::fits(1, 1, std::int64_t{1} << 62));
  // exact weights (sum 2^51) whose product with the backend count passes the
  // bound: the O(n) loop; half as many backends fit
  CHECK(surge::weighted_round_robin(surge::weights(std::vector<double>(1024, 0x1.0p41))).algorithm() ==
        surge::smooth_wrr_algorithm::scan);
  CHECK(surge::weighted_round_robin(surge::weights(std::vector<double>(512, 0x1.0p41))).algorithm() ==
        surge::smooth_wrr_algorithm::tournament);
}
