// surge::redis::token_bucket against a redis-server this program starts on
// loopback: decisions per second and p50/p99 latency per decision for one
// call per decision, pipelined batches of 16 and 128 keys, and leases of 10
// and 100 tokens; in the same run, the peer: the fixed-window INCRBY + EXPIRE
// pipeline of envoyproxy/ratelimit (hand-written here over the same hiredis
// connection), and two floors: a bare PING round trip, and a script making
// only the calls GCRA on the server's clock cannot do without.
//
// Rows of one scenario alternate, repetition by repetition; medians reported.
// Goals (ratios in the same run): per call >= 0.9x the INCRBY peer (both are
// one round trip); leased k = 100 >= 20x per call.
//
// Checks: at the rows' rate and burst every decision must be admitted, and
// before timing, a bucket that binds (1000/s, burst 100) must admit at least
// its burst and at most rate x elapsed + burst of 2,000 calls on one key. A
// failed check marks the rows WRONG and the program exits 1.
#include <surge/redis/hiredis.hpp>
#include <surge/redis/token_bucket.hpp>

#include "bench.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

extern char** environ;

namespace {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;
using conn_t = surge::redis::hiredis_connection;

int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

/// redis-server as a child process (no daemon), stopped by the destructor.
struct redis_server {
  pid_t pid = 0;
  int port = 0;
  bool start() {
    port = free_port();
    const std::string p = std::to_string(port);
    const char* argv[] = {"redis-server", "--port", p.c_str(),    "--bind",  "127.0.0.1", "--save", "",
                          "--appendonly", "no",     "--loglevel", "warning", nullptr};
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    const int rc = posix_spawnp(&pid, "redis-server", &quiet, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (rc != 0) {
      pid = 0;
      return false;
    }
    conn_t c("127.0.0.1", port);
    const surge::redis::command ping{"PING"};
    for (int i = 0; i < 200; ++i) {
      if (c.pipeline(std::span(&ping, 1), 100ms).status == surge::redis::fault::none) return true;
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        pid = 0;
        return false;
      }
      ::usleep(10'000);
    }
    return false;
  }
  ~redis_server() {
    if (pid == 0) return;
    ::kill(pid, SIGTERM);
    int st = 0;
    ::waitpid(pid, &st, 0);
  }
};

/// Latencies of single decisions (ns) and the decisions/s of one run.
struct sample {
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  std::size_t decisions = 0;
};

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

/// Runs `batch` (which makes `per_batch` decisions) until `decisions` are made;
/// every decision of a batch has that batch's latency, except in leased mode,
/// where `batch` reports each decision's own latency through `lat`.
template <class F>
sample measure(std::size_t decisions, F&& batch) {
  std::vector<double> lat;
  lat.reserve(decisions + 256);
  const auto t0 = steady::now();
  while (lat.size() < decisions) batch(lat);
  const double secs = std::chrono::duration<double>(steady::now() - t0).count();
  sample s;
  s.per_second = static_cast<double>(lat.size()) / secs;
  s.p50_us = percentile(lat, 0.50) / 1e3;
  s.p99_us = percentile(lat, 0.99) / 1e3;
  s.decisions = lat.size();
  return s;
}

double since(steady::time_point t0) { return std::chrono::duration<double, std::nano>(steady::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // as every hiredis client must
  const auto opts = surge_bench::parse_args(argc, argv);
  redis_server server;
  if (!server.start()) {
    // with --json a skip is an error: no table may be made from a run that did not happen
    fmt::print(opts.json ? stderr : stdout,
               "surge_bench_redis: skipped: could not start redis-server (install the Debian package redis-server)\n");
    return opts.json ? 1 : 0;
  }
  conn_t conn("127.0.0.1", server.port);
  std::string version = "unknown version";
  {
    const surge::redis::command info{"INFO", "server"};
    const auto r = conn.pipeline(std::span(&info, 1), 1s);
    if (r.status == surge::redis::fault::none && !r.replies.empty()) {
      const auto& text = r.replies[0].str;
      const auto at = text.find("redis_version:");
      if (at != std::string::npos) version = text.substr(at + 14, text.find_first_of("\r\n", at) - at - 14);
    }
  }
  // a rate no run reaches, so every call is admitted: the cost measured is the decision
  surge::redis::token_bucket<conn_t> bucket(conn, "bench:", 1e9, 1'000'000, {.timeout = 1s});
  const std::size_t n = opts.quick ? 2'000 : 20'000;
  // the limit at work, untimed: a script admitting every call or none fails here
  std::string wrong;
  {
    const double rate = 1000;
    const std::size_t burst = 100, calls = 2'000;
    surge::redis::token_bucket<conn_t> binding(conn, "check:", rate, burst, {.timeout = 1s});
    std::size_t ok = 0;
    const auto t0 = steady::now();
    for (std::size_t i = 0; i < calls; ++i) ok += binding.try_acquire("key0").allowed;
    // every server TIME the script read lies in [t0, now]; rounded up for the
    // server's clock, which may run a little apart from ours
    const auto allowed = static_cast<std::size_t>(std::ceil(rate * since(t0) / 1e9)) + burst;
    if (ok < burst || ok > allowed)
      wrong = fmt::format("a 1000/s, burst 100 bucket admitted {} of {} calls (the limit allows {} to {})", ok, calls,
                          burst, allowed);
  }

  std::vector<std::string> keys16, keys128;
  for (int i = 0; i < 128; ++i) (i < 16 ? keys16 : keys128).push_back("key" + std::to_string(i));
  keys128.insert(keys128.end(), keys16.begin(), keys16.end());
  long admitted = 0;

  struct mode {
    std::string scenario, impl, note;
    std::function<void(std::vector<double>&)> batch;
    std::vector<sample> runs = {};
    bool decides = true;  // adds its admitted decisions to `admitted`
    long decisions = 0, admitted = 0;
  };
  const surge::redis::command ping{"PING"};
  std::vector<mode> modes;
  modes.push_back({"round trip floor", "floor: PING", "one bare PING per call, Redis " + version + " on loopback",
                   [&](std::vector<double>& lat) {
                     const auto t0 = steady::now();
                     const auto r = conn.pipeline(std::span(&ping, 1), 1s);
                     surge_bench::do_not_optimize(r.status);
                     lat.push_back(since(t0));
                   }});
  modes.back().decides = false;
  modes.push_back({"one call per decision", "surge try_acquire", "", [&](std::vector<double>& lat) {
                     const auto t0 = steady::now();
                     admitted += bucket.try_acquire("key0").allowed;
                     lat.push_back(since(t0));
                   }});
  // envoyproxy/ratelimit's fixed window: INCRBY key hits; EXPIRE key window, pipelined
  std::vector<surge::redis::command> envoy(2);
  modes.push_back({"one call per decision", "envoy INCRBY+EXPIRE (hand-written)", "hand-written peer: fixed 1 s window",
                   [&](std::vector<double>& lat) {
                     const auto t0 = steady::now();
                     const auto window = std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count();
                     const std::string key = "envoy:key0:" + std::to_string(window);
                     envoy[0] = {"INCRBY", key, "1"};
                     envoy[1] = {"EXPIRE", key, "1"};
                     const auto r = conn.pipeline(envoy, 1s);
                     admitted += r.status == surge::redis::fault::none && r.replies[0].integer <= 1'000'000'000;
                     lat.push_back(since(t0));
                   }});
  // the floor of any script with GCRA's semantics: only the three calls it cannot
  // do without (TIME, GET, SET ... PX), no arithmetic; one round trip per call
  const std::string floor_body =
      "local t = redis.call('TIME') local s = redis.call('GET', KEYS[1]) "
      "redis.call('SET', KEYS[1], '1796406939369522:123', 'PX', 1) return {t[1] * 1000000 + t[2], 0}";
  std::string floor_sha;
  {
    const surge::redis::command load{"SCRIPT", "LOAD", floor_body};
    const auto r = conn.pipeline(std::span(&load, 1), 1s);
    if (r.status == surge::redis::fault::none && !r.replies.empty()) floor_sha = r.replies[0].str;
  }
  const surge::redis::command floor_call{"EVALSHA", floor_sha, "1", "floor:key0", "a", "1000", "1000000", "1"};
  if (floor_sha.size() == 40)  // never time error replies as a floor
    modes.push_back({"one call per decision", "floor: script of TIME, GET, SET PX only",
                     "hand-written floor: the calls GCRA on the server's clock cannot do without, no arithmetic",
                     [&](std::vector<double>& lat) {
                       const auto t0 = steady::now();
                       const auto r = conn.pipeline(std::span(&floor_call, 1), 1s);
                       admitted += r.status == surge::redis::fault::none;
                       lat.push_back(since(t0));
                     }});
  for (const auto* keys : {&keys16, &keys128}) {
    modes.push_back({"pipelined " + std::to_string(keys->size()) + " keys", "surge try_acquire_many",
                     "latency: the batch's", [&, keys](std::vector<double>& lat) {
                       const auto t0 = steady::now();
                       const auto ds = bucket.try_acquire_many(*keys);
                       const double l = since(t0);
                       for (const auto& d : ds) {
                         admitted += d.allowed;
                         lat.push_back(l);
                       }
                     }});
  }
  for (const std::size_t k : {std::size_t{10}, std::size_t{100}}) {
    auto lease = std::make_shared<surge::redis::token_bucket<conn_t>::leased_tokens>();
    modes.push_back({"leased k=" + std::to_string(k), "surge lease + local try_acquire", "unused tokens given back",
                     [&, k, lease](std::vector<double>& lat) {
                       const auto t0 = steady::now();
                       if (!lease->try_acquire()) {
                         *lease = bucket.lease("key0", k);
                         admitted += lease->try_acquire();
                       } else {
                         ++admitted;
                       }
                       lat.push_back(since(t0));
                     }});
  }

  for (int rep = 0; rep < opts.reps; ++rep)
    for (auto& m : modes)
      if (surge_bench::selected(opts, m.scenario)) {
        const long before = admitted;
        m.runs.push_back(measure(m.scenario.rfind("leased", 0) == 0 ? n * 10 : n, m.batch));
        m.decisions += static_cast<long>(m.runs.back().decisions);
        m.admitted += admitted - before;
      }
  // at 1e9/s and burst 1e6, rate x elapsed + burst is more than any row asks
  // of its keys: each of its decisions must have been admitted
  for (const auto& m : modes)
    if (m.decides && m.admitted != m.decisions && wrong.empty())
      wrong = fmt::format("\"{}\" admitted {} of {} decisions, all of which the limit allows", m.impl, m.admitted,
                          m.decisions);

  // the server's own time per command (INFO commandstats), for the reason a peer row wins
  const auto server_us = [&](const std::string& cmd) {
    const surge::redis::command info{"INFO", "commandstats"};
    const auto r = conn.pipeline(std::span(&info, 1), 1s);
    if (r.status != surge::redis::fault::none || r.replies.empty()) return 0.0;
    const auto& text = r.replies[0].str;
    const auto at = text.find("cmdstat_" + cmd + ":");
    const auto field = at == std::string::npos ? at : text.find("usec_per_call=", at);
    return field == std::string::npos ? 0.0 : std::atof(text.c_str() + field + 14);
  };
  const auto reset_stats = [&] {
    const surge::redis::command reset{"CONFIG", "RESETSTAT"};
    (void)conn.pipeline(std::span(&reset, 1), 1s);
  };
  // only the envoy row sends INCRBY and EXPIRE; every EVALSHA row (and the floor
  // script) counts in evalsha, so the GCRA script is timed alone, after a reset
  const double incr_us = server_us("incrby") + server_us("expire");
  reset_stats();
  for (std::size_t i = 0; i < n / 4; ++i) admitted += bucket.try_acquire("key0").allowed;
  const double script_us = server_us("evalsha");
  // the floor of any script on this server: an empty one, and one making only the
  // calls GCRA cannot do without (TIME, GET, SET ... PX), each timed by INFO commandstats
  const auto script_floor_us = [&](const std::string& body) {
    const surge::redis::command load{"SCRIPT", "LOAD", body};
    const auto r = conn.pipeline(std::span(&load, 1), 1s);
    if (r.status != surge::redis::fault::none || r.replies.empty() || r.replies[0].str.size() != 40) return 0.0;
    reset_stats();
    const surge::redis::command call{"EVALSHA", r.replies[0].str, "1", "floor:key0", "a", "1000", "1000000", "1"};
    for (std::size_t i = 0; i < n / 4; ++i) (void)conn.pipeline(std::span(&call, 1), 1s);
    return server_us("evalsha");
  };
  const double empty_us = script_floor_us("return 0");
  const double calls_us = script_floor_us(floor_body);
  surge_bench::report rep("surge redis: shared token bucket decisions vs envoy's fixed-window INCRBY+EXPIRE");
  double per_call = 0, peer = 0, leased100 = 0;
  for (auto& m : modes) {
    if (m.runs.empty()) continue;
    std::vector<double> ps;
    for (const auto& s : m.runs) ps.push_back(s.per_second);
    const double med = surge_bench::median(ps);
    if (m.scenario == "one call per decision" && m.impl.rfind("surge", 0) == 0) per_call = med;
    if (m.scenario == "one call per decision" && m.impl.rfind("envoy", 0) == 0) peer = med;
    if (m.scenario == "leased k=100") leased100 = med;
  }
  for (auto& m : modes) {
    if (m.runs.empty()) continue;
    std::vector<double> ps, p50, p99;
    for (const auto& s : m.runs) {
      ps.push_back(s.per_second);
      p50.push_back(s.p50_us);
      p99.push_back(s.p99_us);
    }
    std::string note = m.note;
    // goals, as ratios of this run
    if (m.scenario == "one call per decision" && m.impl.rfind("surge", 0) == 0 && peer > 0)
      note = fmt::format("{:.2f}x the INCRBY peer (goal >= 0.9x: {})", per_call / peer,
                         per_call >= 0.9 * peer ? "met" : "MISSED");
    if (m.scenario == "one call per decision" && m.impl.rfind("envoy", 0) == 0 && peer > per_call)
      note += fmt::format(
          "; peer wins: the same one round trip, but the server spends {:.1f} us on the GCRA script per call "
          "(an empty script: {:.1f} us; one calling only TIME, GET and SET PX: {:.1f} us) against {:.1f} us on "
          "INCRBY + EXPIRE (INFO commandstats)",
          script_us, empty_us, calls_us, incr_us);
    if (m.impl.rfind("floor: script", 0) == 0 && peer > 0)
      note += fmt::format("; {:.2f}x the INCRBY peer", surge_bench::median(ps) / peer);
    if (m.scenario == "leased k=100" && per_call > 0)
      note += fmt::format("; {:.1f}x per call (goal >= 20x: {})", leased100 / per_call,
                          leased100 >= 20 * per_call ? "met" : "MISSED");
    if (!wrong.empty()) note = "WRONG: " + wrong + (note.empty() ? "" : "; ") + note;
    rep.add({m.scenario, m.impl, surge_bench::median(ps), "decisions/s", surge_bench::better::higher,
             fmt::format("p50 {:.1f} us, p99 {:.1f} us{}{}", surge_bench::median(p50), surge_bench::median(p99),
                         note.empty() ? "" : "; ", note)});
  }
  rep.print(opts);
  if (!wrong.empty()) {
    fmt::print(stderr, "surge_bench_redis: WRONG: {}\n", wrong);
    return 1;
  }
  return 0;
}
