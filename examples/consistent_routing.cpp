// Routing keys (users, sessions, cache shards) to backends so that a key
// keeps its backend: with consistent hashing, adding a fifth backend to four
// moves only about 1/5 of the keys, all of them onto the new one (Maglev's
// table is near-minimal: a few of its moved keys go to old backends). Plain
// `hash % n` moves about 4/5, which empties every cache behind the balancer.
// Exits 1 if the ring, jump hash or rendezvous moved a key to an old backend.
//
//   surge_example_consistent_routing [keys=100000]
//
// keys is at most 1e7 (every key is held in memory as a string).
#include <surge/balance/consistent_hash.hpp>
#include <surge/balance/jump_hash.hpp>
#include <surge/balance/key_hash.hpp>
#include <surge/balance/maglev.hpp>
#include <surge/balance/rendezvous.hpp>

#include <fmt/format.h>

#include "example_args.hpp"

#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

// The backend of every key.
template <class Balancer>
std::vector<std::size_t> route(const std::vector<std::string>& keys, const Balancer& balancer) {
  std::vector<std::size_t> to;
  to.reserve(keys.size());
  for (const std::string& k : keys) to.push_back(balancer.pick(k));
  return to;
}

// How many keys changed backend, and how many of those went to the added one.
// Returns how many went to an old backend.
std::size_t report(const char* policy, const std::vector<std::size_t>& before, const std::vector<std::size_t>& after,
                   std::size_t added) {
  std::size_t moved = 0, to_added = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    moved += before[i] != after[i] ? 1 : 0;
    to_added += before[i] != after[i] && after[i] == added ? 1 : 0;
  }
  fmt::print("{:<24} {:>9.1f} % {:>19.1f} %\n", policy,
             100.0 * static_cast<double>(moved) / static_cast<double>(before.size()),
             moved == 0 ? 0.0 : 100.0 * static_cast<double>(to_added) / static_cast<double>(moved));
  return moved - to_added;
}

// Plain modulo hashing, for contrast.
struct modulo {
  std::size_t n;
  std::size_t pick(const std::string& key) const { return surge::key_hash{}(key) % n; }
};

int main(int argc, char** argv) {
  const auto n = static_cast<std::size_t>(
      example_args(argc, argv, "consistent_routing", "[keys=100000]", 1).number(1, "keys", 100'000, 1, 1e7, true));
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < n; ++i) keys.push_back("user-" + std::to_string(i));

  fmt::print("{} keys on 4 backends, then a 5th is added (ideal: 20 % move, all to the new one)\n", n);
  fmt::print("{:<24} {:>11} {:>21}\n", "policy", "keys moved", "of those, to the new");

  // Ring and Maglev grow in place (add_backend), while other threads keep picking.
  surge::consistent_hash_ring<> ring(4);  // 160 virtual nodes per backend, like ketama
  const auto ring_before = route(keys, ring);
  const std::size_t ring_added = ring.add_backend();
  std::size_t to_old = report("consistent_hash_ring", ring_before, route(keys, ring), ring_added);

  surge::maglev<> maglev(4);  // a lookup table of 65537 entries: one hash and one load per pick
  const auto maglev_before = route(keys, maglev);
  const std::size_t maglev_added = maglev.add_backend();
  report("maglev", maglev_before, route(keys, maglev), maglev_added);

  // Jump hash and rendezvous are functions of (key, n): compare n = 4 with n = 5.
  to_old +=
      report("jump_hash", route(keys, surge::jump_hash_balancer<>(4)), route(keys, surge::jump_hash_balancer<>(5)), 4);
  to_old +=
      report("rendezvous_hash", route(keys, surge::rendezvous_hash<>(4)), route(keys, surge::rendezvous_hash<>(5)), 4);
  report("hash % n (for contrast)", route(keys, modulo{4}), route(keys, modulo{5}), 4);
  return to_old == 0 ? 0 : 1;  // the ring, jump hash and rendezvous move keys only onto the new backend
}
