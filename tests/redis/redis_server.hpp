// Test support for surge::redis: the CTest fixture's redis-server, and
// throw-away servers the fault tests start, pause, kill and restart.
#pragma once

#include "surge_test.hpp"

#include <surge/redis/connection.hpp>

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <span>
#include <string>

namespace surge_redis_test {

/// A hiredis client must ignore SIGPIPE (see docs/redis.md): the tests kill
/// and pause servers under open connections.
inline const bool sigpipe_ignored = (::signal(SIGPIPE, SIG_IGN), true);

using namespace std::chrono_literals;
using surge::redis::decision_source;
using surge::redis::fault;
using surge::redis::fault_policy;
using us = std::chrono::microseconds;

/// A Connection that faults with `status`, or answers `answer` to every
/// command, counting its calls: for replies and faults a live server would
/// not produce on demand.
struct scripted_connection {
  fault status = fault::timeout;
  surge::redis::reply answer;
  int calls = 0;
  surge::redis::pipeline_result pipeline(std::span<const surge::redis::command> cmds, us) {
    ++calls;
    surge::redis::pipeline_result r;
    r.status = status;
    if (status == fault::none)
      r.replies.assign(cmds.size(), answer);
    else
      r.message = "scripted fault";
    return r;
  }
};
static_assert(surge::redis::connection<scripted_connection>);

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

/// The message a test prints when it cannot run; CTest's
/// SKIP_REGULAR_EXPRESSION turns it into "skipped".
inline constexpr const char* skip_text =
    "SURGE_REDIS_SKIPPED: redis-server is not installed (install the Debian package redis-server)\n";

/// True when redis-server is missing and the test should stop (after
/// printing the skip message, or failing under SURGE_REQUIRE_REDIS).
inline bool missing_server(const std::string& dir) {
  if (read_file(dir + "/missing").empty()) return false;
#if SURGE_REQUIRE_REDIS
  FAIL("redis-server is not installed (Debian package redis-server) and SURGE_REQUIRE_REDIS is on");
#else
  std::fputs(skip_text, stdout);
  std::fflush(stdout);
#endif
  return true;
}

/// The port of the fixture's redis-server, or 0 (skip) when there is none.
inline int shared_port() {
  const char* dir = std::getenv("SURGE_REDIS_DIR");
  const std::string d = dir ? dir : std::string(SURGE_REDIS_WORK_DIR) + "/server";
  if (missing_server(d)) return 0;
  const std::string p = read_file(d + "/port");
  if (p.empty())
    FAIL("no redis-server from the CTest fixture (run through ctest, or start " SURGE_REDIS_FIXTURE " start " + d +
         ")");
  return std::stoi(p);
}

/// A redis-server of the test's own, in SURGE_REDIS_WORK_DIR/<name>.
class server {
 public:
  explicit server(const std::string& name) : dir_(std::string(SURGE_REDIS_WORK_DIR) + "/" + name) {}
  ~server() { stop(); }
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Starts it (on `port` if given); false when redis-server is missing.
  bool start(int port = 0) {
    const std::string cmd = std::string(SURGE_REDIS_FIXTURE) + " start '" + dir_ + "'" +
                            (port ? " " + std::to_string(port) : std::string()) + " > /dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    if (missing_server(dir_)) return false;
    port_ = std::stoi(read_file(dir_ + "/port"));
    pid_ = static_cast<pid_t>(std::stol(read_file(dir_ + "/redis.pid")));
    return true;
  }
  void stop() {
    if (pid_ == 0) return;
    const std::string cmd = std::string(SURGE_REDIS_FIXTURE) + " stop '" + dir_ + "' > /dev/null";
    (void)std::system(cmd.c_str());
    pid_ = 0;
  }
  /// SIGKILL: the server dies with its state.
  void kill_now() {
    REQUIRE(pid_ != 0);
    ::kill(pid_, SIGKILL);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::kill(pid_, 0) == 0 && std::chrono::steady_clock::now() < until) {
    }
    pid_ = 0;
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }
  [[nodiscard]] int port() const noexcept { return port_; }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = 0;
};

}  // namespace surge_redis_test
