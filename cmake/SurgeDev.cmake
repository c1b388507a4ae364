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

# surge_find_fmt(<var>) / surge_find_catch2(<var>): make the dependency's target
# available (installed package, or FetchContent when SURGE_FETCH_DEPS is on) and
# set <var> to TRUE or FALSE. Macros, so imported targets and module paths land
# in the caller's directory scope.
macro(surge_find_fmt var)
  if(NOT TARGET fmt::fmt)
    find_package(fmt QUIET)
    if(NOT fmt_FOUND AND SURGE_FETCH_DEPS)
      include(FetchContent)
      FetchContent_Declare(fmt GIT_REPOSITORY https://github.com/fmtlib/fmt.git GIT_TAG 10.2.1)
      FetchContent_MakeAvailable(fmt)
    endif()
  endif()
  if(TARGET fmt::fmt)
    set(${var} TRUE)
  else()
    set(${var} FALSE)
  endif()
endmacro()

macro(surge_find_catch2 var)
  if(NOT TARGET Catch2::Catch2WithMain)
    find_package(Catch2 QUIET)
    if(NOT Catch2_FOUND AND SURGE_FETCH_DEPS)
      include(FetchContent)
      FetchContent_Declare(Catch2 GIT_REPOSITORY https://github.com/catchorg/Catch2.git GIT_TAG v3.5.2)
      FetchContent_MakeAvailable(Catch2)
      list(APPEND CMAKE_MODULE_PATH "${catch2_SOURCE_DIR}/extras")
    endif()
  endif()
  if(TARGET Catch2::Catch2WithMain)
    set(${var} TRUE)
  else()
    set(${var} FALSE)
  endif()
endmacro()

# Run once, before the tools' folders are added: each enabled tool
# (SURGE_BUILD_TESTS, _EXAMPLES, _BENCH) whose dependencies are missing is
# either turned off for this configure run with a warning saying what to
# install (the default: the library and its install rules need none of them),
# or, when SURGE_REQUIRE_DEV_DEPS is on (the presets, through SURGE_WERROR),
# a configure error. The option is shadowed by a normal variable, not written
# to the cache, so installing the dependency and configuring again turns the
# tool back on.
macro(surge_check_dev_dependencies)
  surge_find_fmt(surge_have_fmt)
  set(surge_have_catch2 TRUE)
  if(SURGE_BUILD_TESTS)
    surge_find_catch2(surge_have_catch2)
  endif()
  set(surge_missing_packages "")  # what to install
  set(surge_off_tools "")         # the options this turns off
  if(NOT surge_have_fmt)
    list(APPEND surge_missing_packages "{fmt} (libfmt-dev)")
  endif()
  if(NOT surge_have_catch2)
    list(APPEND surge_missing_packages "Catch2 (catch2)")
  endif()
  foreach(surge_tool IN ITEMS TESTS EXAMPLES BENCH)
    if(SURGE_BUILD_${surge_tool} AND (NOT surge_have_fmt OR (surge_tool STREQUAL "TESTS" AND NOT surge_have_catch2)))
      list(APPEND surge_off_tools SURGE_BUILD_${surge_tool})
    endif()
  endforeach()
  if(surge_off_tools)
    list(JOIN surge_missing_packages " and " surge_missing_packages)
    list(JOIN surge_off_tools ", " surge_off_list)
    list(TRANSFORM surge_off_tools APPEND "=OFF")
    list(TRANSFORM surge_off_tools PREPEND "-D")
    list(JOIN surge_off_tools " " surge_off_flags)
    set(surge_hint "Install ${surge_missing_packages} (the Debian/Ubuntu package names), \
configure with -DSURGE_FETCH_DEPS=ON to download them, or say you do not want them: \
${surge_off_flags}. The library itself (headers, install rules, find_package(surge)) \
needs none of them.")
    if(SURGE_REQUIRE_DEV_DEPS)
      message(FATAL_ERROR "surge: ${surge_missing_packages} not found, and these need them: \
${surge_off_list} (SURGE_REQUIRE_DEV_DEPS is on, as in the presets). ${surge_hint}")
    endif()
    message(WARNING "surge: ${surge_missing_packages} not found, so these are off for \
this build: ${surge_off_list}. ${surge_hint}")
    foreach(surge_tool IN ITEMS TESTS EXAMPLES BENCH)
      if("-DSURGE_BUILD_${surge_tool}=OFF" IN_LIST surge_off_tools)
        set(SURGE_BUILD_${surge_tool} OFF)
      endif()
    endforeach()
  endif()
endmacro()

# Used in tests/, examples/ and bench/: after surge_check_dev_dependencies the
# targets exist, so these only fail when a folder is added some other way.
macro(surge_require_fmt)
  surge_find_fmt(surge_have_fmt)
  if(NOT surge_have_fmt)
    message(FATAL_ERROR
      "surge: {fmt} not found; it is needed for surge's examples, tests and benchmarks "
      "(not for the library). Install it with:  sudo apt-get install libfmt-dev  "
      "(or configure with -DSURGE_FETCH_DEPS=ON to download it, or turn off "
      "SURGE_BUILD_TESTS/SURGE_BUILD_EXAMPLES/SURGE_BUILD_BENCH).")
  endif()
endmacro()

macro(surge_require_catch2)
  surge_find_catch2(surge_have_catch2)
  if(NOT surge_have_catch2)
    message(FATAL_ERROR
      "surge: Catch2 not found; it is needed for surge's tests. Install it with:  "
      "sudo apt-get install catch2  (or configure with -DSURGE_FETCH_DEPS=ON, "
      "or -DSURGE_BUILD_TESTS=OFF).")
  endif()
endmacro()

# surge_find_gateway_boost(<what>): the gateway example and its tests need
# Boost.Asio/Beast (header-only, Boost >= 1.74). When Boost is missing, prints
# that <what> is skipped and returns from the caller's directory (a macro, so
# return() does). surge_use_gateway_boost(<target> <PRIVATE|INTERFACE>) links
# them into <target> with the gateway's settings, and silences two g++ 12 warnings about Boost 1.74's own code: it misreads
# Asio's recycling allocator for coroutine frames (operator new of a larger
# block, then the frame's sized delete) as a mismatched new/delete once inlined
# (-O1 and up), and under -fsanitize=thread it flags Asio's fenced_block
# (std::atomic_thread_fence, which ThreadSanitizer does not model; the
# scheduler's mutex already orders the handlers it runs).
macro(surge_find_gateway_boost what)
  find_package(Boost 1.74 CONFIG QUIET)
  if(NOT Boost_FOUND)
    message(STATUS "surge: skipping ${what}: install Boost >= 1.74 (libboost-dev)")
    return()
  endif()
  find_package(Threads REQUIRED)
endmacro()

function(surge_use_gateway_boost target scope)
  target_link_libraries(${target} ${scope} Boost::headers Threads::Threads)
  target_compile_definitions(${target} ${scope} BOOST_ASIO_NO_DEPRECATED)
  target_compile_options(${target} ${scope} $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete -Wno-tsan>)
endfunction()
