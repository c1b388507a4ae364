// surge_gateway_backend: the test backend of the gateway example.
//   surge_gateway_backend --port P --latency MS --jitter MS --error-rate F
//                         --threads N --name S
// Prints "listening on <port>" first; SIGINT/SIGTERM stop it cleanly.
#include "backend.hpp"
#include "cli.hpp"

#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>

namespace {
constexpr const char* usage =
    "usage: surge_gateway_backend [--port P] [--latency MS] [--jitter MS] [--error-rate F]\n"
    "                             [--threads N] [--name S]\n"
    "  --port P        listen on 127.0.0.1:P (default 0: an ephemeral port)\n"
    "  --latency MS    delay before each answer (default 0)\n"
    "  --jitter MS     plus a uniform random delay in [0, MS] (default 0)\n"
    "  --error-rate F  answer 500 with probability F in [0, 1] (default 0)\n"
    "  --threads N     io threads (default 1)\n"
    "  --name S        sent back as the X-Backend header (default backend-<port>)\n"
    "Run-time control: POST /control?latency=MS&jitter=MS&error_rate=F, GET /control.\n";

}  // namespace

int main(int argc, char** argv) {
  gateway::backend_options o;
  try {
    const auto flags = gateway::parse_flags(argc, argv, {"port", "latency", "jitter", "error-rate", "threads", "name"});
    const auto port = gateway::flag_number<unsigned>(flags, "port", 0);
    if (port > 65535) throw std::invalid_argument("--port must be in [0, 65535]");
    o.port = static_cast<std::uint16_t>(port);
    o.latency = std::chrono::milliseconds(gateway::flag_number<long long>(flags, "latency", 0));
    o.jitter = std::chrono::milliseconds(gateway::flag_number<long long>(flags, "jitter", 0));
    o.error_rate = gateway::flag_number<double>(flags, "error-rate", 0.0);
    o.threads = gateway::flag_number<std::size_t>(flags, "threads", 1);
    if (const auto it = flags.find("name"); it != flags.end()) o.name = it->second;
  } catch (const std::exception& e) {
    std::cerr << "surge_gateway_backend: " << e.what() << "\n" << usage;
    return 2;
  }
  return gateway::serve("surge_gateway_backend", usage, [&] { return std::make_unique<gateway::backend_server>(o); });
}
