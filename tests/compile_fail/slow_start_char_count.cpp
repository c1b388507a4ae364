// expect: the backend count must be an integer
// A character converted to its code silently: '4' was 52 backends.
#include <surge/balance/slow_start.hpp>

int main() {
  surge::slow_start<> s('4', surge::slow_start_options{});
  return static_cast<int>(s.size());
}
