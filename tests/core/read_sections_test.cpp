#include <surge/detail/read_sections.hpp>

#include <future>
#include <latch>
#include <new>
#include <thread>
#include <vector>

#include "failing_new.hpp"
#include "surge_test.hpp"

using surge::detail::read_section;

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
