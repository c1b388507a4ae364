// Allocation control for the test binaries built with failing_new.cpp, which
// replaces the global operator new and delete (malloc and free underneath):
// an allocation made by one thread can be made to throw std::bad_alloc, and
// a thread's allocations can be counted. Both act on the calling thread only,
// so the pool workers and other threads of a test allocate as usual.
#ifndef SURGE_TEST_FAILING_NEW_HPP
#define SURGE_TEST_FAILING_NEW_HPP

namespace surge_test {

/// The calling thread's n-th operator new from now throws std::bad_alloc
/// (1: the next one); 0 disarms.
void fail_allocation(long n) noexcept;

/// True once the armed allocation has thrown (cleared by fail_allocation).
[[nodiscard]] bool allocation_failed() noexcept;

/// While on, the calling thread's operator new calls (aligned ones too) are
/// added to one process-wide count; a thread may turn it on last thing before
/// it exits, to count what its thread_local destructors allocate.
void count_allocations(bool on) noexcept;

/// The process-wide count of allocations made while counting was on.
[[nodiscard]] long counted_allocations() noexcept;

}  // namespace surge_test

#endif  // SURGE_TEST_FAILING_NEW_HPP
