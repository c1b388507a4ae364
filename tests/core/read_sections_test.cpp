#include <surge/detail/read_sections.hpp>

#include <future>
#include <latch>
#include <new>
#include <set>
#include <thread>
#include <vector>

#include "failing_new.hpp"
#include "surge_test.hpp"

using surge::detail::read_section;
using surge::detail::read_section_record;
using surge::detail::read_sections;

TEST_CASE("read sections: a thread whose first section could not allocate its record exits cleanly",
          "[detail][read_sections]") {
  // A thread's first section allocates a record when none is free: threads
  // that reused one keep it (they stay alive to the end), so one of them
  // allocates, and that allocation fails. Before, the thread had set up the
  // record's return at exit first, and its exit gave back a null record.
  { read_section warm; }  // the registry itself is allocated by now
  std::latch done(1);
  std::vector<std::thread> holders;
  bool threw = false;
  while (!threw) {
    std::promise<bool> attempt;
    std::future<bool> failed_here = attempt.get_future();
    std::thread t([&done, attempt = std::move(attempt)]() mutable {
      surge_test::fail_allocation(1);
      bool failed = false;
      try {
        read_section s;
      } catch (const std::bad_alloc&) {
        failed = true;
      }
      surge_test::fail_allocation(0);
      attempt.set_value(failed);
      if (!failed) done.wait();  // keeps the record it reused
    });
    threw = failed_here.get();
    if (threw) {
      t.join();  // its exit must not touch a record it never had
    } else {
      holders.push_back(std::move(t));
    }
  }
  done.count_down();
  for (auto& h : holders) h.join();
  CHECK(threw);
  read_section after;  // the registry is intact
}

namespace {
// Built before the thread's first section, so destroyed after the thread has
// given its record back: the section it enters then borrows one.
struct section_at_exit {
  ~section_at_exit() { read_section s; }
};
}  // namespace

TEST_CASE("read sections: a section entered after the thread gave its record back returns the one it borrowed",
          "[detail][read_sections]") {
  // One thread at a time, each entering a section from a thread_local
  // destructor that runs after its record went back: each takes the record
  // the last one left free. Before, the late section took a record for good
  // (it registered its return with an owner already destroyed), so every
  // such thread kept one, and the list every grace period walks grew with
  // every thread.
  std::set<const read_section_record*> records;
  for (int i = 0; i < 20; ++i) {
    std::thread t([&records] {
      thread_local section_at_exit late;
      read_section s;
      records.insert(&read_sections::mine());
    });
    t.join();
  }
  CHECK(records.size() == 1);
}
