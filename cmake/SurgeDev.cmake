# Helpers for surge's own tests, examples and benchmarks. Included only when one
# of them is built; nothing here touches a parent project's flags.

# Warnings for every target we build; -Werror when SURGE_WERROR is on (CI, presets).
# Our own targets compile as strict ISO C++20 (no GNU extensions), so a header that
# leans on an extension fails here before it reaches a user.
function(surge_warnings target)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
    $<$<BOOL:${SURGE_WERROR}>:-Werror>)
endfunction()

# find_package with a clear message naming the Debian package, or an opt-in
# FetchContent fallback (SURGE_FETCH_DEPS=ON) for users with internet.
macro(surge_require_fmt)
  if(NOT TARGET fmt::fmt)
    find_package(fmt QUIET)
    if(NOT fmt_FOUND)
      if(SURGE_FETCH_DEPS)
        include(FetchContent)
        FetchContent_Declare(fmt GIT_REPOSITORY https://github.com/fmtlib/fmt.git GIT_TAG 10.2.1)
        FetchContent_MakeAvailable(fmt)
      else()
        message(FATAL_ERROR
          "surge: {fmt} not found; it is needed for surge's examples, tests and benchmarks "
          "(not for the library). Install it with:  sudo apt-get install libfmt-dev  "
          "(or configure with -DSURGE_FETCH_DEPS=ON to download it, or turn off "
          "SURGE_BUILD_TESTS/SURGE_BUILD_EXAMPLES/SURGE_BUILD_BENCH).")
      endif()
    endif()
  endif()
endmacro()

macro(surge_require_catch2)
  if(NOT TARGET Catch2::Catch2WithMain)
    find_package(Catch2 QUIET)
    if(NOT Catch2_FOUND)
      if(SURGE_FETCH_DEPS)
        include(FetchContent)
        FetchContent_Declare(Catch2 GIT_REPOSITORY https://github.com/catchorg/Catch2.git GIT_TAG v3.5.2)
        FetchContent_MakeAvailable(Catch2)
        list(APPEND CMAKE_MODULE_PATH "${catch2_SOURCE_DIR}/extras")
      else()
        message(FATAL_ERROR
          "surge: Catch2 not found; it is needed for surge's tests. Install it with:  "
          "sudo apt-get install catch2  (or configure with -DSURGE_FETCH_DEPS=ON, "
          "or -DSURGE_BUILD_TESTS=OFF).")
      endif()
    endif()
  endif()
endmacro()
