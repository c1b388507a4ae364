/// @file surge/redis/detail/resolve.hpp
/// Internals of surge::redis::hiredis_connection: a host name resolved within
/// a deadline. The system resolver (getaddrinfo) takes no timeout, and a name
/// server that does not answer holds it for seconds, so a name is looked up on
/// a thread of its own and waited for no longer than the call's deadline; the
/// lookup is left to finish on its own when the deadline passes.
#ifndef SURGE_REDIS_DETAIL_RESOLVE_HPP
#define SURGE_REDIS_DETAIL_RESOLVE_HPP

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace surge::redis::detail {

/// The resolver the lookups call: getaddrinfo, or a stand-in a test installs
/// (one that answers late) before any connection resolves a name.
inline int (*getaddrinfo_fn)(const char*, const char*, const addrinfo*, addrinfo**) = &::getaddrinfo;

/// What a lookup found: addresses in the resolver's order (numeric strings
/// that hiredis connects to without resolving again), or why there are none.
struct resolved {
  std::vector<std::string> addresses;
  std::string error;  ///< empty when addresses were found
  bool timed_out = false;
};

/// True when `host` is a numeric IPv4 or IPv6 address (no lookup needed).
[[nodiscard]] inline bool numeric_host(const std::string& host) noexcept {
  in6_addr buf{};
  return ::inet_pton(AF_INET, host.c_str(), &buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), &buf) == 1;
}

/// The stream addresses of `host`, looked up by `getaddrinfo_fn` on a thread
/// of its own, waited for until `deadline`. A numeric host is returned as it
/// is, with no thread. Never throws but std::bad_alloc (also when the lookup's
/// thread ran out of memory).
[[nodiscard]] inline resolved resolve(const std::string& host, std::chrono::steady_clock::time_point deadline) {
  resolved out;
  if (numeric_host(host)) {
    out.addresses.push_back(host);
    return out;
  }
  struct lookup {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    bool out_of_memory = false;
    resolved r;
  };
  auto state = std::make_shared<lookup>();
  const auto lookup_fn = getaddrinfo_fn;  // read here: a test may swap it once this call returns
  try {
    std::thread([state, host, lookup_fn] {
      resolved r;
      bool out_of_memory = false;
      try {  // a std::bad_alloc leaving this thread would end the process: the caller throws it
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        const int rc = lookup_fn(host.c_str(), nullptr, &hints, &found);
        const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, &::freeaddrinfo);
        if (rc != 0) {
          r.error = ::gai_strerror(rc);
        } else {
          for (const addrinfo* p = found; p != nullptr; p = p->ai_next) {
            if (p->ai_family != AF_INET && p->ai_family != AF_INET6) continue;
            const void* a =
                p->ai_family == AF_INET
                    ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(p->ai_addr)->sin_addr)
                    : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(p->ai_addr)->sin6_addr);
            char text[INET6_ADDRSTRLEN] = {};
            if (::inet_ntop(p->ai_family, a, text, sizeof text) != nullptr) r.addresses.emplace_back(text);
          }
          if (r.addresses.empty()) r.error = "no IPv4 or IPv6 address";
        }
      } catch (const std::bad_alloc&) {
        out_of_memory = true;
      }
      const std::lock_guard<std::mutex> lock(state->m);
      state->r = std::move(r);
      state->out_of_memory = out_of_memory;
      state->done = true;
      state->cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    out.error = std::string("cannot start the name lookup: ") + e.what();
    return out;
  }
  std::unique_lock<std::mutex> lock(state->m);
  if (!state->cv.wait_until(lock, deadline, [&] { return state->done; })) {
    out.timed_out = true;
    out.error = "looking up the host took longer than the timeout";
    return out;
  }
  if (state->out_of_memory) throw std::bad_alloc();
  return std::move(state->r);
}

}  // namespace surge::redis::detail

#endif  // SURGE_REDIS_DETAIL_RESOLVE_HPP
