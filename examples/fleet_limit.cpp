// Several processes share one rate limit through Redis.
//
//   surge_example_fleet_limit [processes=4] [seconds=2] [rate=200] [burst=20]
//
// Starts a throw-away redis-server on loopback, forks `processes` workers
// that each ask surge::redis::token_bucket for tokens of one key as fast as
// they can, and prints what each admitted and the fleet's total against the
// limit, rate x T + burst, T the server-clock time from the fleet's first
// decision to its last admission; a total over it exits with status 1.
// Without redis-server it says so and exits 0. -h / --help prints the usage;
// an argument out of range (processes 1-256, seconds 0.05-3600, rate
// 0.001-1e9, burst 1-1e9) exits with status 2, and a worker that fails exits
// with status 1.
#include <surge/redis/hiredis.hpp>
#include <surge/redis/token_bucket.hpp>

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "example_args.hpp"

using namespace std::chrono_literals;

namespace {

// Starts redis-server on 127.0.0.1:port, answering PING; returns its pid, 0
// if it did not come up on that port (taken?), -1 if it cannot run at all
// (not installed, or no process can be started).
pid_t start_redis(int port) {
  surge::redis::hiredis_connection probe("127.0.0.1", port);
  const surge::redis::command ping{"PING"};
  if (probe.pipeline(std::span(&ping, 1), 100ms).status != surge::redis::fault::unreachable) return 0;  // taken
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    const std::string p = std::to_string(port);
    ::execlp("redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 300; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)  // exited: not installed (127), or the port is taken
      return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -1 : 0;
    if (probe.pipeline(std::span(&ping, 1), 100ms).status == surge::redis::fault::none) return pid;
    ::usleep(10'000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return 0;
}

// What one worker reports to the parent through a pipe.
struct report {
  long admitted = 0;
  long refused = 0;
  long long first_us = 0;  // server time of its first decision
  long long last_us = 0;   // ... and of its last admission
};

report work(int port, double rate, std::size_t burst, std::chrono::duration<double> run_for) {
  surge::redis::hiredis_connection redis("127.0.0.1", port);
  surge::redis::token_bucket<surge::redis::hiredis_connection> limit(
      redis, "fleet:", rate, burst, {.on_fault = surge::redis::fault_policy::fail_closed});
  report r;
  const auto stop = std::chrono::steady_clock::now() + run_for;
  while (std::chrono::steady_clock::now() < stop) {
    const auto d = limit.try_acquire("api-key-42");
    if (r.first_us == 0) r.first_us = d.server_time.count();
    if (d.allowed) {
      ++r.admitted;
      r.last_us = d.server_time.count();
    } else {
      ++r.refused;
    }
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // as every hiredis client must
  const example_args args(argc, argv, "fleet_limit", "[processes=4] [seconds=2] [rate=200] [burst=20]", 4);
  const int processes = static_cast<int>(args.number(1, "processes", 4, 1, 256, true));
  const double seconds = args.number(2, "seconds", 2.0, 0.05, 3600);
  const double rate = args.number(3, "rate", 200.0, 1e-3, 1e9);
  const auto burst = static_cast<std::size_t>(args.number(4, "burst", 20, 1, 1e9, true));

  // a redis-server of our own on loopback, on the first port it can take
  int port = 20000 + static_cast<int>(::getpid() % 20000);
  pid_t server = 0;
  for (int tries = 0; tries < 20 && server == 0; ++tries, ++port) server = start_redis(port);
  --port;
  if (server <= 0) {
    fmt::print(
        "fleet_limit: could not start redis-server; install it (Debian package redis-server) to run this example\n");
    return 0;
  }

  fmt::print("{} processes share {:g} tokens/s, burst {}, for {:g} s through redis-server on 127.0.0.1:{}\n", processes,
             rate, burst, seconds, port);
  std::vector<pid_t> workers;
  std::vector<int> pipes;
  bool failed = false;
  for (int i = 0; i < processes; ++i) {
    int fds[2];
    if (::pipe(fds) != 0) {
      fmt::print(stderr, "fleet_limit: pipe for process {}: {}\n", i, std::strerror(errno));
      failed = true;
      break;  // the processes started so far still report, and the server stops
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      fmt::print(stderr, "fleet_limit: fork for process {}: {}\n", i, std::strerror(errno));
      ::close(fds[0]);
      ::close(fds[1]);
      failed = true;
      break;
    }
    if (pid == 0) {
      ::close(fds[0]);
      try {
        const report r = work(port, rate, burst, std::chrono::duration<double>(seconds));
        const auto n = ::write(fds[1], &r, sizeof r);
        ::_exit(n == static_cast<ssize_t>(sizeof r) ? 0 : 1);
      } catch (const std::exception& e) {
        fmt::print(stderr, "fleet_limit: process {}: {}\n", i, e.what());
        ::_exit(1);
      }
    }
    ::close(fds[1]);
    workers.push_back(pid);
    pipes.push_back(fds[0]);
  }
  long total = 0;
  long long first = 0, last = 0;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    report r;
    const auto n = ::read(pipes[i], &r, sizeof r);
    ::close(pipes[i]);
    ::waitpid(workers[i], nullptr, 0);
    if (n != static_cast<ssize_t>(sizeof r)) {
      fmt::print(stderr, "fleet_limit: process {} reported nothing\n", i);
      failed = true;
      continue;
    }
    fmt::print("  process {} (pid {}): admitted {:6}, refused {:6}\n", i, workers[i], r.admitted, r.refused);
    total += r.admitted;
    if (r.first_us != 0 && (first == 0 || r.first_us < first)) first = r.first_us;
    if (r.last_us > last) last = r.last_us;
  }
  // The key is new, so the bucket is full at the fleet's first decision and
  // the script (integer microseconds, a rate never rounded up) admits at most
  // rate x T + burst by the last admission. rate x microseconds first, then
  // / 1e6: with a whole total, no rounding takes the bound below it.
  const double span_us = last > first ? static_cast<double>(last - first) : 0.0;
  const double limit = rate * span_us / 1e6 + static_cast<double>(burst);
  fmt::print("fleet total {} over {:.3f} s (server clock); limit rate x T + burst = {:.1f}\n", total, span_us / 1e6,
             limit);
  if (static_cast<double>(total) > limit) {
    fmt::print(stderr, "fleet_limit: the fleet admitted {}, more than the limit allows ({:.1f})\n", total, limit);
    failed = true;
  }
  ::kill(server, SIGTERM);
  ::waitpid(server, nullptr, 0);
  return failed ? 1 : 0;
}
