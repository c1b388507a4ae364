// expect: surge::utilisation: servers must be an integer
// std::integral admits a bool: a flag passed where the server count goes
// counted as one server.
#include <surge/metrics/formulas.hpp>

int main(int argc, char**) {
  const bool redundant = argc > 1;
  return surge::utilisation(80.0, 0.01, redundant) < 1.0 ? 0 : 1;
}
