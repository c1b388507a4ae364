// gateway_server's member definitions (included by gateway.hpp). Interface
// stub: the real request path lands next.
#ifndef SURGE_EXAMPLES_GATEWAY_GATEWAY_IMPL_HPP
#define SURGE_EXAMPLES_GATEWAY_GATEWAY_IMPL_HPP

namespace gateway {

inline gateway_server::gateway_server(gateway_options o) : o_(std::move(o)), pool_(o_.threads) {
  pool_.start(o_.port, [](tcp::socket, std::size_t) {});
}
inline void gateway_server::stop() { pool_.stop(); }
inline std::string gateway_server::metrics_text() const { return {}; }
inline std::uint64_t gateway_server::backend_requests(std::size_t) const { return 0; }
inline std::uint64_t gateway_server::requests(outcome) const { return 0; }

}  // namespace gateway

#endif  // SURGE_EXAMPLES_GATEWAY_GATEWAY_IMPL_HPP
