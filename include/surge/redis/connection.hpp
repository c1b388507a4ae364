/// @file surge/redis/connection.hpp
/// What surge::redis needs from a Redis client: one pipelined round trip of
/// commands with a timeout, reporting transport faults in its result.
#ifndef SURGE_REDIS_CONNECTION_HPP
#define SURGE_REDIS_CONNECTION_HPP

#include <chrono>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace surge::redis {

/// One Redis command: its arguments, the command name first.
using command = std::vector<std::string>;

/// One reply (RESP2 types).
struct reply {
  /// The RESP2 reply type.
  enum class kind : std::uint8_t {
    nil,      ///< a null bulk string or array (e.g. GET of a missing key)
    integer,  ///< an integer reply, in `integer`
    string,   ///< a bulk string, in `str`
    status,   ///< a simple string such as "OK", in `str`
    error,    ///< an error reply (the command failed on the server), its text in `str`
    array     ///< an array reply, in `elements`
  };
  kind type = kind::nil;        ///< Which of the fields below holds the reply.
  std::int64_t integer = 0;     ///< kind::integer
  std::string str;              ///< kind::string, status, error
  std::vector<reply> elements;  ///< kind::array
};

/// Why a round trip produced no replies.
enum class fault : std::uint8_t {
  none,          ///< every command got its reply
  unreachable,   ///< could not connect (refused, no route, connect timed out)
  timeout,       ///< connected, but the replies did not arrive within the timeout
  broken,        ///< the connection failed mid-way (reset, closed by the server)
  protocol,      ///< the server sent bytes that are not RESP (not Redis?)
  circuit_open,  ///< not tried: the circuit breaker is open (set by token_bucket)
  /// the server answered that it cannot serve the command now: an error reply
  /// starting OOM, BUSY, LOADING, READONLY, MASTERDOWN, TRYAGAIN,
  /// CLUSTERDOWN, MISCONF, NOREPLICAS or "ERR max number of clients" (set by
  /// token_bucket; an outage, not a bug)
  unavailable,
};

/// A short name for a fault ("timeout", ...).
[[nodiscard]] constexpr const char* to_string(fault f) noexcept {
  switch (f) {
    case fault::none:
      return "none";
    case fault::unreachable:
      return "unreachable";
    case fault::timeout:
      return "timeout";
    case fault::broken:
      return "broken";
    case fault::protocol:
      return "protocol";
    case fault::circuit_open:
      return "circuit_open";
    case fault::unavailable:
      return "unavailable";
  }
  return "unknown";
}

/// The outcome of one pipelined round trip.
struct pipeline_result {
  fault status = fault::none;  ///< none: `replies` has one reply per command
  std::string message;         ///< what went wrong, for logs (empty when none)
  std::vector<reply> replies;  ///< One per command, in order (when status is none).
};

/// A client surge::redis can drive: `c.pipeline(commands, timeout)` sends
/// every command in one write, reads one reply per command (a Redis error
/// reply is a reply, not a fault), and returns within `timeout` (connecting
/// first if needed, within the same budget). Transport faults are reported in
/// the result's `status`, never thrown. After a fault the connection must be
/// usable again by a later call (reconnecting), so that a reply to an
/// abandoned call is never taken for the next call's.
template <class C>
concept connection = requires(C& c, std::span<const command> cmds, std::chrono::microseconds timeout) {
  { c.pipeline(cmds, timeout) } -> std::same_as<pipeline_result>;
};

}  // namespace surge::redis

#endif  // SURGE_REDIS_CONNECTION_HPP
