// Allocation control for the test binaries built with failing_new.cpp, which
// replaces the global operator new and delete (malloc and free underneath):
// an allocation made by one thread can be made to throw std::bad_alloc, and
// a thread's allocations can be counted. Both act on the calling thread only,
// so the pool workers and other threads of a test allocate as usual.
#ifndef SURGE_TEST_FAILING_NEW_HPP
#define SURGE_TEST_FAILING_NEW_HPP

#include <new>

namespace surge_test {

/// The calling thread's n-th operator new from now throws std::bad_alloc
/// (1: the next one); 0 disarms.
void fail_allocation(long n) noexcept;

/// True once the armed allocation has thrown (cleared by fail_allocation).
[[nodiscard]] bool allocation_failed() noexcept;

/// Runs `call()` with its 1st allocation failing, then again with its 2nd
/// failing, ..., until a run makes fewer allocations than the one armed;
/// after each run, `check(k, threw, failed)`: k the allocation armed, threw
/// whether call() threw std::bad_alloc, failed whether the k-th allocation
/// was made (and threw). Returns the last k.
template <class Call, class Check>
long each_allocation_failing(Call&& call, Check&& check) {
  for (long k = 1;; ++k) {
    fail_allocation(k);
    bool threw = false;
    try {
      call();
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    const bool failed = allocation_failed();
    fail_allocation(0);
    check(k, threw, failed);
    if (!failed) return k;
  }
}

/// While on, the calling thread's operator new calls (aligned ones too) are
/// added to one process-wide count; a thread may turn it on last thing before
/// it exits, to count what its thread_local destructors allocate.
void count_allocations(bool on) noexcept;

/// The process-wide count of allocations made while counting was on.
[[nodiscard]] long counted_allocations() noexcept;

}  // namespace surge_test

#endif  // SURGE_TEST_FAILING_NEW_HPP
