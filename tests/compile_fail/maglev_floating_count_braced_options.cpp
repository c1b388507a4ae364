// expect: the backend count must be an integer
// With braced options after it ({} or designated initialisers) a
// floating-point count slipped past the refusal (a braced list deduces no
// type) and converted silently: 2.9 backends were 2.
#include <surge/balance/maglev.hpp>

int main(int argc, char**) {
  const double backends = 1.9 + argc;
  surge::maglev<> m(backends, {});
  return static_cast<int>(m.pick(42));
}
