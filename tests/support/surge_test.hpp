// Test support shared by every surge test file: the Catch2 header (v2 or v3),
// a manual clock for tests that must never sleep, and a check that an error
// names its argument.
#pragma once

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>  // Catch2 v3
#else
#include <catch2/catch.hpp>  // Catch2 v2 (Debian 12)
#endif

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace surge_test {

/// A Cpp17Clock whose time only moves when a test says so. Thread-safe: the
/// reading is one atomic, so a driver thread may advance it while others read.
/// Each distinct Tag gives an independent clock (tests running side by side
/// must not share one).
template <class Tag = void>
struct manual_clock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<manual_clock>;
  static constexpr bool is_steady = false;

  static time_point now() noexcept { return time_point{duration{ticks().load(std::memory_order_acquire)}}; }
  static void set(duration d) noexcept { ticks().store(d.count(), std::memory_order_release); }
  static void advance(duration d) noexcept { ticks().fetch_add(d.count(), std::memory_order_acq_rel); }
  static void reset() noexcept { set(duration::zero()); }

 private:
  static std::atomic<rep>& ticks() noexcept {
    static std::atomic<rep> t{0};
    return t;
  }
};

/// Checks that f() throws std::invalid_argument whose message contains `word`
/// (the argument it names).
template <class F>
void check_names(F f, const char* word) {
  try {
    f();
    FAIL("no std::invalid_argument thrown");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find(word) != std::string::npos);
  }
}

}  // namespace surge_test
