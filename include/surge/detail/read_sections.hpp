/// @file surge/detail/read_sections.hpp
/// Grace periods, shared by token_bucket's reconfiguration and the balancers'
/// table publication: a writer can wait until every call that might hold a
/// word or pointer read before some point has finished.
///
/// A call brackets the stretch from its first load of a bucket's word to its
/// last CAS on it in a *read section*: it makes its thread's counter odd on
/// entry and even on exit (plain stores to the thread's own cache line, no
/// read-modify-write). quiesce() then makes every thread's counter store
/// visible with one process-wide barrier (Linux `membarrier`, the asymmetric
/// fence of RCU implementations: the costly half of the fence is paid by the
/// rare writer, the reader's half is a compiler barrier) and waits for every
/// thread it finds inside a section to leave it. The store-buffering pair it
/// closes: the writer published a word, then quiesces; a reader stores its
/// counter, then loads the word. Either the barrier reaches the reader before
/// its counter store (and its load sees the published word) or after it (and
/// the writer sees the counter odd and waits). Without `membarrier` (other
/// systems, or a kernel or sandbox that refuses it) the reader's half is a
/// full fence instead, decided once, before the first section anywhere.
///
/// Records: one per thread that ever entered a section, on a list that is
/// never freed (a record is reused after its thread exits; a section entered
/// from a thread_local destructor after the thread gave its record back
/// borrows one for its own length). Thread safety: everything here is
/// thread-safe. Sections do not nest.
#ifndef SURGE_DETAIL_READ_SECTIONS_HPP
#define SURGE_DETAIL_READ_SECTIONS_HPP

#include <surge/detail/backoff.hpp>
#include <surge/detail/cache_line.hpp>

#include <atomic>
#include <cassert>
#include <cstdint>
#include <mutex>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace surge::detail {

/// A full memory fence. g++ 12 warns that ThreadSanitizer does not model
/// fences (-Wtsan); under TSan on Linux the fences here never matter (the
/// process-wide barrier is there), and elsewhere the fence is what is meant.
inline void full_fence() noexcept {
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
  std::atomic_thread_fence(std::memory_order_seq_cst);
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic pop
#endif
}

/// One thread's section counter: odd while the thread is inside a section.
struct alignas(cache_line_size) read_section_record {
  std::atomic<std::uint64_t> count{0};
  read_section_record* next = nullptr;  // the registry's list (under its mutex)
  bool in_use = false;                  // owned by a live thread, or lent (under the mutex)
  bool fenced = false;                  // sections need a full fence on entry (no process-wide barrier)
  bool lent = false;                    // lent to one section of a thread that gave its own back
};

class read_sections {
 public:
  /// Waits until every thread other than the caller that was inside a
  /// section when quiesce() was called has left it; `while_waiting()` runs
  /// between looks at a thread still inside. Words published before the call
  /// are then seen by every section still open.
  template <class F>
  static void quiesce(F&& while_waiting) {
    registry& r = the_registry();
    full_fence();
    if (r.heavy_barrier != 0) heavy_barrier(r.heavy_barrier);
    std::lock_guard lock(r.mutex);
    const read_section_record* self = mine_;
    for (read_section_record* p = r.head; p != nullptr; p = p->next) {
      if (p == self) continue;
      const std::uint64_t c = p->count.load(std::memory_order_acquire);
      if ((c & 1u) == 0) continue;
      backoff<64, 16> b;
      while (p->count.load(std::memory_order_acquire) == c) {
        while_waiting();
        b.pause();
      }
    }
  }

  /// The calling thread's record (registered on its first section). Once
  /// the thread's thread_local destructors have given it back (a section
  /// entered from a later one), a record lent for one section instead: its
  /// `lent` is set, and give_back returns it.
  static read_section_record& mine() {
    if (mine_ == nullptr) return enroll();
    return *mine_;
  }

  /// Returns a record mine() lent.
  static void give_back(read_section_record& lent) {
    registry& r = the_registry();
    std::lock_guard lock(r.mutex);
    lent.lent = false;
    lent.in_use = false;
  }

 private:
  struct registry {
    std::mutex mutex;
    read_section_record* head = nullptr;
    int heavy_barrier = probe();  // the membarrier command, 0 for none
  };

  /// Never destroyed: threads may exit after static destructors have run.
  static registry& the_registry() {
    static registry* const r = new registry;
    return *r;
  }

  /// Gives the record back when its thread exits.
  struct owner {
    read_section_record* record = nullptr;
    ~owner() {
      registry& r = the_registry();
      std::lock_guard lock(r.mutex);
      record->in_use = false;
      mine_ = nullptr;
      gave_back_ = true;
    }
  };

  static read_section_record& enroll() {
    registry& r = the_registry();
    std::lock_guard lock(r.mutex);
    read_section_record* p = r.head;
    while (p != nullptr && p->in_use) p = p->next;
    if (p == nullptr) {
      p = new read_section_record;  // the one thing that throws: nothing has changed then
      p->next = r.head;
      r.head = p;
    }
    p->in_use = true;
    p->fenced = r.heavy_barrier == 0;
    p->lent = gave_back_;
    if (!gave_back_) {  // built once the thread has a record to give back; past its destructor, lend
      static thread_local owner o;
      o.record = p;
      mine_ = p;
    }
    return *p;
  }

  /// The membarrier command to use, or 0. SURGE_DETAIL_NO_MEMBARRIER (a test
  /// switch) takes the fallback of a system without it.
  static int probe() noexcept {
#if defined(__linux__) && defined(__NR_membarrier) && !defined(SURGE_DETAIL_NO_MEMBARRIER)
    const long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0);
    if (cmds > 0) {
      if ((cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
          syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0)
        return MEMBARRIER_CMD_PRIVATE_EXPEDITED;
      if ((cmds & MEMBARRIER_CMD_GLOBAL) != 0) return MEMBARRIER_CMD_GLOBAL;
    }
#endif
    return 0;
  }

  static void heavy_barrier([[maybe_unused]] int cmd) noexcept {
#if defined(__linux__) && defined(__NR_membarrier)
    // Cannot fail once probe() accepted the command (it was registered).
    syscall(__NR_membarrier, cmd, 0);
#endif
  }

  static inline thread_local read_section_record* mine_ = nullptr;
  static inline thread_local bool gave_back_ = false;  // the owner has been destroyed
};

/// A read section on the calling thread, for the scope of the object;
/// leave() and enter() close and reopen it (around a call that may itself
/// quiesce).
class read_section {
 public:
  read_section() : record_(&read_sections::mine()) { enter(); }
  ~read_section() {
    leave();
    if (record_->lent) [[unlikely]]
      read_sections::give_back(*record_);
  }
  read_section(const read_section&) = delete;
  read_section& operator=(const read_section&) = delete;

  void enter() noexcept {
    const std::uint64_t c = record_->count.load(std::memory_order_relaxed);
    assert((c & 1u) == 0 && "surge: read sections do not nest");
    record_->count.store(c + 1, std::memory_order_relaxed);
    if (record_->fenced)
      full_fence();
    else
      std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  void leave() noexcept {
    record_->count.store(record_->count.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

 private:
  read_section_record* record_;
};

}  // namespace surge::detail

#endif  // SURGE_DETAIL_READ_SECTIONS_HPP
