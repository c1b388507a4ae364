// Replaces the global operator new and delete for the test binaries that list
// this file (see failing_new.hpp). Disarmed, each is malloc / free.
#include "failing_new.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {

thread_local long countdown = 0;  // trivially destructible: usable from any thread_local destructor
thread_local bool failed = false;
thread_local bool counting = false;
std::atomic<long> counted{0};

void before_allocation() {
  if (counting) counted.fetch_add(1, std::memory_order_relaxed);
  if (countdown > 0 && --countdown == 0) {
    failed = true;
    throw std::bad_alloc();
  }
}

}  // namespace

namespace surge_test {

void fail_allocation(long n) noexcept {
  countdown = n;
  failed = false;
}
bool allocation_failed() noexcept { return failed; }
void count_allocations(bool on) noexcept { counting = on; }
long counted_allocations() noexcept { return counted.load(std::memory_order_relaxed); }

}  // namespace surge_test

namespace {

void* allocate(std::size_t n) {
  before_allocation();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

void* allocate(std::size_t n, std::align_val_t a) {
  before_allocation();
  const auto al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, n == 0 ? al : (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}

template <class... A>
void* allocate_or_null(A... a) noexcept {
  try {
    return allocate(a...);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

}  // namespace

// every form, so that none is left to a sanitizer's own (whose delete would
// then not match these)
void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate_or_null(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate_or_null(n); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate(n, a); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate_or_null(n, a); }
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_or_null(n, a);
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
