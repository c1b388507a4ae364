// expect: the backend count must be an integer
// A bool converted to one backend silently (a flag passed where the count goes).
#include <surge/balance/maglev.hpp>

int main() {
  const bool many = true;
  surge::maglev<> m(many, surge::maglev_options{});
  return static_cast<int>(m.pick(42));
}
