// Command-line helpers shared by surge_gateway and surge_gateway_backend:
// "--flag value" pairs, and a clean wait for SIGINT/SIGTERM.
#ifndef SURGE_EXAMPLES_GATEWAY_CLI_HPP
#define SURGE_EXAMPLES_GATEWAY_CLI_HPP

#include "io.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include <pthread.h>

namespace gateway {

/// "--name value" pairs. Throws std::invalid_argument for a flag that is not
/// in `known`, a flag given twice, or a flag without a value.
inline std::map<std::string, std::string> parse_flags(int argc, char** argv, const std::set<std::string>& known) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0 || !known.contains(flag.substr(2)))
      throw std::invalid_argument("unknown argument " + flag);
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    if (!flags.emplace(flag.substr(2), argv[++i]).second) throw std::invalid_argument(flag + " given twice");
  }
  return flags;
}

/// The number given as --name, or `fallback` when the flag is absent.
/// Throws std::invalid_argument when it is not a number of type T.
template <class T>
T flag_number(const std::map<std::string, std::string>& flags, const std::string& name, T fallback) {
  const auto it = flags.find(name);
  if (it == flags.end()) return fallback;
  const auto v = parse_number<T>(it->second);
  if (!v) throw std::invalid_argument("--" + name + ": not a number: " + it->second);
  return *v;
}

/// The milliseconds given as --name as a Duration, or `fallback` when the
/// flag is absent. Throws std::invalid_argument when it is not a whole
/// number or is beyond what Duration holds (e.g. more than about 292 years
/// for std::chrono::nanoseconds).
template <class Duration>
Duration flag_millis(const std::map<std::string, std::string>& flags, const std::string& name, Duration fallback) {
  if (!flags.contains(name)) return fallback;
  const std::chrono::milliseconds ms(flag_number<long long>(flags, name, 0));
  constexpr auto min = std::chrono::duration_cast<std::chrono::milliseconds>(Duration::min());
  constexpr auto max = std::chrono::duration_cast<std::chrono::milliseconds>(Duration::max());
  if (ms < min || ms > max)
    throw std::invalid_argument("--" + name + ": " + flags.at(name) + " ms is out of range (at most " +
                                std::to_string(max.count()) + ")");
  return std::chrono::duration_cast<Duration>(ms);
}

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
/// afterwards (call it first in main), so wait_for_stop_signal can take them.
inline void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

/// Waits until SIGINT or SIGTERM arrives; returns its number.
inline int wait_for_stop_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

/// The life of a server program: builds the server with make() (bad options:
/// the message and `usage`, status 2), prints "listening on <port>" (flushed),
/// serves until SIGINT or SIGTERM, stops cleanly and returns 0.
template <class Make>
int serve(const char* program, const char* usage, Make make) {
  block_stop_signals();
  try {
    auto server = make();
    std::printf("listening on %u\n", static_cast<unsigned>(server->port()));
    std::fflush(stdout);
    wait_for_stop_signal();
    server->stop();
  } catch (const std::invalid_argument& e) {
    std::cerr << program << ": " << e.what() << "\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace gateway

#endif  // SURGE_EXAMPLES_GATEWAY_CLI_HPP
