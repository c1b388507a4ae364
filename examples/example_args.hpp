// The examples' positional number arguments, checked: -h / --help anywhere
// prints the usage and exits 0; too many arguments (any, for an example that
// takes none), or one that is not a number in its range, prints why and the
// usage and exits 2. A number is written in decimal, as in 20000000, 2e7 or
// 0.5: no blanks, sign, hexadecimal, inf or nan. Shared by the small examples (one header, so each
// program stays one file to read).
#ifndef SURGE_EXAMPLES_EXAMPLE_ARGS_HPP
#define SURGE_EXAMPLES_EXAMPLE_ARGS_HPP

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

class example_args {
 public:
  /// `program` names the example in messages; `usage` lists its arguments,
  /// e.g. "[elements=20000000]" ("" for none); at most `max_args` arguments
  /// are taken.
  example_args(int argc, char** argv, const char* program, const std::string& usage, int max_args)
      : argc_(argc),
        argv_(argv),
        program_(program),
        usage_(fmt::format("usage: surge_example_{}{}{}\n", program, usage.empty() ? "" : " ", usage)) {
    for (int j = 1; j < argc; ++j) {
      if (std::strcmp(argv[j], "-h") == 0 || std::strcmp(argv[j], "--help") == 0) {
        fmt::print("{}", usage_);
        std::exit(0);
      }
    }
    if (argc - 1 > max_args)
      fail(max_args == 0 ? std::string("takes no arguments")
                         : fmt::format("{} argument{} at most", max_args, max_args == 1 ? "" : "s"));
  }

  /// Argument i (from 1) as a number in [lo, hi], an integer when `integral`;
  /// `fallback` when it is absent. `lo` is positive: a sign is refused.
  [[nodiscard]] double number(int i, const char* name, double fallback, double lo, double hi,
                              bool integral = false) const {
    if (argc_ <= i) return fallback;
    const char* a = argv_[i];
    const char* const end = a + std::strlen(a);
    double v = 0;
    const auto [stop, error] = std::from_chars(a, end, v);  // decimal only: no blanks, '+' or "0x"
    if (error != std::errc() || stop != end || !(v >= lo && v <= hi) || (integral && v != std::floor(v)))
      fail(fmt::format("{} must be {} in [{:g}, {:g}], not \"{}\"", name, integral ? "an integer" : "a number", lo, hi,
                       a));
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    fmt::print(stderr, "{}: {}\n{}", program_, why, usage_);
    std::exit(2);
  }

  int argc_;
  char** argv_;
  const char* program_;
  std::string usage_;
};

#endif  // SURGE_EXAMPLES_EXAMPLE_ARGS_HPP
