// expect: surge::key_hash refuses pointer keys
// std::hash<std::error_code> mixes in the address of the error's category
// object: the same error would go to different backends in each process.
#include <surge/balance/rendezvous.hpp>

#include <system_error>

int main() {
  surge::rendezvous_hash<> r(4);
  return static_cast<int>(r.pick(std::make_error_code(std::errc::timed_out)));
}
