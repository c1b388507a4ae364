// Compiles against the umbrella header only: what a downstream user includes.
#include <surge/surge.hpp>

#include <cstdio>

int main() {
  std::printf("consumer built against surge %s\n", surge::version_string);
  return surge::version.major == SURGE_VERSION_MAJOR ? 0 : 1;
}
