// Shared harness for surge's benchmark programs (not part of the library).
// Each bench runs surge and its peers in the same process, records one row per
// (scenario, implementation), and prints a table with fmt, or JSON with --json.
//
// Common flags:  --json   machine-readable output
//                --quick  a short run (CI smoke test; figures not meaningful)
//                --reps N repetitions per measurement (median reported)
//                --filter S  run only scenarios whose name contains S
//                --sweep  how cost grows with size: the bench's scenarios over a
//                         range of sizes (capacity, backends, task cost ...)
//
// parse_args() starts and joins one thread before it returns, so nothing is ever
// timed in a process that has not yet had a second thread: until then glibc and
// libstdc++ skip the atomic instructions in std::mutex, std::shared_ptr and
// friends (a mutex lock+unlock costs about a third of its real price), which
// would flatter every baseline built on them and make rows measured before and
// after the first thread incomparable. It then measures the machine's floor
// (see machine_floor), which every table prints above its rows.
#pragma once

#include <surge/detail/backoff.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace surge_bench {

/// The machine's floor, measured by parse_args() in the same run as the rows:
/// one L1 hit (a dependent load chain in 16 KiB), one uncontended atomic RMW
/// (fetch_add on a line no other thread touches) and one cross-core cache-line
/// transfer (ping-pong between two threads, per one-way hand-off). Every table
/// prints it, so each figure can be read against the limit of its machine.
struct machine_floor {
  double l1_hit_ns = 0;
  double atomic_rmw_ns = 0;
  double line_transfer_ns = 0;
};

inline machine_floor measure_floor(bool quick);

struct options {
  bool json = false;
  bool quick = false;
  bool sweep = false;
  int reps = 5;
  std::string filter;
  machine_floor floor;
};

inline options parse_args(int argc, char** argv) {
  std::thread([] {}).join();  // see the header comment: leave single-threaded mode first
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--json") {
      o.json = true;
    } else if (a == "--quick") {
      o.quick = true;
      o.reps = 1;
    } else if (a == "--sweep") {
      o.sweep = true;
    } else if (a == "--reps" && i + 1 < argc) {
      o.reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--filter" && i + 1 < argc) {
      o.filter = argv[++i];
    } else {
      fmt::print(stderr, "usage: {} [--json] [--quick] [--sweep] [--reps N] [--filter S]\n", argv[0]);
      std::exit(a == "--help" || a == "-h" ? 0 : 2);
    }
  }
  o.floor = measure_floor(o.quick);
  return o;
}

/// True when `scenario` passes --filter. Pass the scenario name the rows will
/// print (not a word for a group of them), so that --filter S runs exactly
/// the scenarios whose printed name contains S.
inline bool selected(const options& o, std::string_view scenario) {
  return o.filter.empty() || scenario.find(o.filter) != std::string_view::npos;
}

/// "CPU model, N hardware threads, compiler": printed with every table, because
/// a figure without its machine means nothing.
inline std::string machine() {
  std::string cpu = "unknown CPU";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
#if defined(__clang__)
  const std::string compiler = fmt::format("clang {}.{}", __clang_major__, __clang_minor__);
#elif defined(__GNUC__)
  const std::string compiler = fmt::format("g++ {}.{}", __GNUC__, __GNUC_MINOR__);
#else
  const std::string compiler = "unknown compiler";
#endif
  return fmt::format("{}, {} hardware threads, {}", cpu, std::thread::hardware_concurrency(), compiler);
}

/// Keeps the compiler from deleting a computation whose result is unused.
template <class T>
inline void do_not_optimize(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

/// Wall-clock nanoseconds taken by f().
template <class F>
double time_ns(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

inline machine_floor measure_floor(bool quick) {
  const std::uint64_t n = quick ? 100'000 : 10'000'000;
  std::vector<double> l1, rmw, xfer;
  for (int r = 0; r < 3; ++r) {
    std::vector<std::uint32_t> ring(4096);
    for (std::uint32_t i = 0; i < ring.size(); ++i) ring[i] = (i + 1021) % 4096;  // 1021 is coprime to 4096
    std::uint32_t at = 0;
    l1.push_back(time_ns([&] {
                   for (std::uint64_t i = 0; i < n; ++i) at = ring[at];
                 }) /
                 static_cast<double>(n));
    do_not_optimize(at);
    std::atomic<std::uint64_t> counter{0};
    rmw.push_back(time_ns([&] {
                    for (std::uint64_t i = 0; i < n; ++i) counter.fetch_add(1, std::memory_order_relaxed);
                  }) /
                  static_cast<double>(n));
    const std::uint64_t rounds = n / 50;
    alignas(128) std::atomic<std::uint64_t> ping{0};
    alignas(128) std::atomic<std::uint64_t> pong{0};
    std::thread other([&] {
      for (std::uint64_t i = 1; i <= rounds; ++i) {
        while (ping.load(std::memory_order_acquire) != i) surge::detail::cpu_relax();
        pong.store(i, std::memory_order_release);
      }
    });
    xfer.push_back(time_ns([&] {
                     for (std::uint64_t i = 1; i <= rounds; ++i) {
                       ping.store(i, std::memory_order_release);
                       while (pong.load(std::memory_order_acquire) != i) surge::detail::cpu_relax();
                     }
                   }) /
                   static_cast<double>(rounds) / 2.0);
    other.join();
  }
  return {median(l1), median(rmw), median(xfer)};
}

/// How a metric compares: larger is better (items/s) or smaller is better (ns/op).
enum class better { higher, lower };

struct row {
  std::string scenario;
  std::string impl;
  double value = 0;
  std::string unit;
  better direction = better::higher;
  std::string note = {};
};

/// Collects rows and prints them. Within a scenario, the first row whose impl
/// starts with "surge" is the reference: every row shows "surge ×", how many
/// times better surge is than that row (> 1: surge wins).
class report {
 public:
  explicit report(std::string title) : title_(std::move(title)) {}

  void add(row r) { rows_.push_back(std::move(r)); }

  void print(const options& o) const {
    if (o.json) {
      print_json(o);
    } else {
      print_table(o);
    }
  }

 private:
  const row* reference(const std::string& scenario) const {
    for (const auto& r : rows_)
      if (r.scenario == scenario && r.impl.rfind("surge", 0) == 0) return &r;
    return nullptr;
  }

  double surge_ratio(const row& r) const {
    const row* ref = reference(r.scenario);
    if (!ref || r.value <= 0 || ref->value <= 0) return 0.0;
    return r.direction == better::higher ? ref->value / r.value : r.value / ref->value;
  }

  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  }

  void print_table(const options& o) const {
    fmt::print("{}\nmachine: {}\n", title_, machine());
    fmt::print(
        "machine floor: L1 hit {:.2f} ns, uncontended atomic RMW {:.2f} ns, cross-core line transfer {:.1f} ns\n",
        o.floor.l1_hit_ns, o.floor.atomic_rmw_ns, o.floor.line_transfer_ns);
    if (o.quick) fmt::print("(--quick: a smoke run, figures not meaningful)\n");
    std::size_t ws = 8, wi = 4;
    for (const auto& r : rows_) {
      ws = std::max(ws, r.scenario.size());
      wi = std::max(wi, r.impl.size());
    }
    fmt::print("\n{:<{}}  {:<{}}  {:>14}  {:<9}  {:>8}  {}\n", "scenario", ws, "impl", wi, "value", "unit", "surge x",
               "note");
    fmt::print("{:-<{}}\n", "", ws + wi + 14 + 9 + 8 + 14);
    std::string last;
    for (const auto& r : rows_) {
      if (!last.empty() && r.scenario != last) fmt::print("\n");
      last = r.scenario;
      const double x = surge_ratio(r);
      fmt::print("{:<{}}  {:<{}}  {:>14.4g}  {:<9}  {:>8}  {}\n", r.scenario, ws, r.impl, wi, r.value, r.unit,
                 x > 0 ? fmt::format("{:.2f}", x) : std::string("-"), r.note);
    }
  }

  void print_json(const options& o) const {
    fmt::print(
        "{{\"title\":\"{}\",\"machine\":\"{}\",\"floor\":{{\"l1_hit_ns\":{},\"atomic_rmw_ns\":{},"
        "\"line_transfer_ns\":{}}},\"rows\":[",
        escape(title_), escape(machine()), o.floor.l1_hit_ns, o.floor.atomic_rmw_ns, o.floor.line_transfer_ns);
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      const auto& r = rows_[i];
      fmt::print(
          "{}{{\"scenario\":\"{}\",\"impl\":\"{}\",\"value\":{},\"unit\":\"{}\",\"better\":\"{}\","
          "\"surge_x\":{},\"note\":\"{}\"}}",
          i ? "," : "", escape(r.scenario), escape(r.impl), r.value, escape(r.unit),
          r.direction == better::higher ? "higher" : "lower", surge_ratio(r), escape(r.note));
    }
    fmt::print("]}}\n");
  }

  std::string title_;
  std::vector<row> rows_;
};

}  // namespace surge_bench
