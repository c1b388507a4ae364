// expect: surge::redis::token_bucket: the burst must be an integer
// A floating-point burst converted to std::size_t silently: 2.5 tokens were 2.
#include <surge/redis/token_bucket.hpp>

#include "no_server.hpp"

int main() {
  no_server conn;
  surge::redis::token_bucket<no_server> bucket(conn, "rl:", 10.0, 2.5, {});
  return bucket.try_acquire("user-42").allowed ? 0 : 1;
}
