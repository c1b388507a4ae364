// expect: surge::redis::token_bucket::lease: k must be an integer
// A floating-point count converted to std::size_t silently: 2.5 tokens were 2.
#include <surge/redis/token_bucket.hpp>

#include "no_server.hpp"

int main() {
  no_server conn;
  surge::redis::token_bucket<no_server> bucket(conn, "rl:", 10.0, 5, {});
  auto lease = bucket.lease("user-42", 2.5);
  return lease.try_acquire() ? 0 : 1;
}
