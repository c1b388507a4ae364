// surge_gateway: an HTTP/1.1 reverse proxy on loopback built from surge's
// primitives (see gateway.hpp for the request path).
//   surge_gateway --port P --backends 127.0.0.1:p1,127.0.0.1:p2,...
//                 --balancer p2c|maglev|wrr|least-conn --threads N
//                 --cache on|off --cache-ttl-ms N --cache-capacity N
//                 --limit on|off --rate R --burst B --client-header NAME
//                 --adaptive on|off --retries N
// Prints "listening on <port>" first; GET /metrics is Prometheus text;
// SIGINT/SIGTERM stop it cleanly. Bad flags: usage, exit status 2.
#include "gateway.hpp"
#include "cli.hpp"

#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>

namespace {
constexpr const char* usage =
    "usage: surge_gateway --backends 127.0.0.1:P1,127.0.0.1:P2,... [options]\n"
    "  --port P                listen on 127.0.0.1:P (default 0: an ephemeral port)\n"
    "  --backends LIST         comma-separated 127.0.0.1:port backends (1 to 64, distinct), required\n"
    "  --balancer NAME         p2c | maglev | wrr | least-conn (default p2c; maglev hashes the path)\n"
    "  --threads N             io threads (default 1)\n"
    "  --cache on|off          cache GET 200 responses (default off)\n"
    "  --cache-ttl-ms N        cache entry lifetime (default 1000)\n"
    "  --cache-capacity N      cache entries (default 10000)\n"
    "  --limit on|off          per-client rate limit (default off)\n"
    "  --rate R                tokens per second per client (default 100)\n"
    "  --burst B               bucket size per client (default 100)\n"
    "  --client-header NAME    header naming the client (default X-Client; absent: peer address)\n"
    "  --adaptive on|off       adaptive concurrency limit, sheds with 503 (default off)\n"
    "  --adaptive-timeout-ms N latency above which the adaptive limit backs off (default 250)\n"
    "  --retries N             extra attempts for idempotent requests (default 1)\n"
    "  --breaker-wait-ms N     how long an open breaker waits before probing (default 5000)\n"
    "  --idle-timeout-ms N     close client connections idle this long (default 30000)\n";

using flag_map = std::map<std::string, std::string>;

bool on_off(const flag_map& flags, const std::string& name, bool fallback) {
  const auto it = flags.find(name);
  if (it == flags.end()) return fallback;
  if (it->second == "on") return true;
  if (it->second == "off") return false;
  throw std::invalid_argument("--" + name + " must be on or off");
}

gateway::gateway_options parse(int argc, char** argv) {
  const flag_map flags = gateway::parse_flags(
      argc, argv,
      {"port", "backends", "balancer", "threads", "cache", "cache-ttl-ms", "cache-capacity", "limit", "rate", "burst",
       "client-header", "adaptive", "adaptive-timeout-ms", "retries", "breaker-wait-ms", "idle-timeout-ms"});
  gateway::gateway_options o;
  const auto port = gateway::flag_number<unsigned>(flags, "port", 0);
  if (port > 65535) throw std::invalid_argument("--port must be in [0, 65535]");
  o.port = static_cast<std::uint16_t>(port);
  const auto b = flags.find("backends");
  if (b == flags.end()) throw std::invalid_argument("--backends is required");
  std::string_view list = b->second;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    o.backends.emplace_back(list.substr(0, comma));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (const auto it = flags.find("balancer"); it != flags.end()) {
    const auto kind = gateway::parse_balancer(it->second);
    if (!kind) throw std::invalid_argument("--balancer must be p2c, maglev, wrr or least-conn");
    o.balancer = *kind;
  }
  o.threads = gateway::flag_number<std::size_t>(flags, "threads", o.threads);
  o.cache = on_off(flags, "cache", o.cache);
  o.cache_ttl = gateway::flag_millis(flags, "cache-ttl-ms", o.cache_ttl);
  o.cache_capacity = gateway::flag_number<std::size_t>(flags, "cache-capacity", o.cache_capacity);
  o.limit = on_off(flags, "limit", o.limit);
  o.rate = gateway::flag_number<double>(flags, "rate", o.rate);
  o.burst = gateway::flag_number<std::size_t>(flags, "burst", o.burst);
  if (const auto it = flags.find("client-header"); it != flags.end()) o.client_header = it->second;
  o.adaptive = on_off(flags, "adaptive", o.adaptive);
  o.adaptive_limit.timeout = gateway::flag_millis(flags, "adaptive-timeout-ms", o.adaptive_limit.timeout);
  o.retries = gateway::flag_number<std::size_t>(flags, "retries", o.retries);
  o.breaker.wait_in_open = gateway::flag_millis(flags, "breaker-wait-ms", o.breaker.wait_in_open);
  o.idle_timeout = gateway::flag_millis(flags, "idle-timeout-ms", o.idle_timeout);
  return o;
}
}  // namespace

int main(int argc, char** argv) {
  gateway::gateway_options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "surge_gateway: " << e.what() << "\n" << usage;
    return 2;
  }
  return gateway::serve("surge_gateway", usage,
                        [&] { return std::make_unique<gateway::gateway_server>(std::move(o)); });
}
