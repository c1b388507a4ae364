/// @file surge/cache/async_load.hpp
/// `co_await cache.get_or_load_async(key, loader)`: single-flight loading of a
/// sharded_cache from coroutines, suspending instead of blocking. A separate
/// header so that <surge/cache/sharded.hpp> needs no coroutine machinery.
#ifndef SURGE_CACHE_ASYNC_LOAD_HPP
#define SURGE_CACHE_ASYNC_LOAD_HPP

#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include <surge/cache/detail/single_flight.hpp>
#include <surge/cache/sharded.hpp>
#include <surge/exec/detail/awaitable_traits.hpp>
#include <surge/exec/detail/inline_resume.hpp>
#include <surge/exec/task.hpp>

namespace surge::detail {

/// `sharded_cache::get_or_load_async(key, loader)` returns
/// `task<Value>`: awaiting it yields a copy of the value of `key`. On a miss,
/// the first caller (the leader) awaits `loader()` — any awaitable of
/// something convertible to Value, such as a `task<Value>` — or `loader`
/// itself when it is such an awaitable, stores the value and returns it.
/// Callers that miss the same key while it loads, blocking (`get_or_load`) or
/// not, share that load: a coroutine follower suspends (no thread is held)
/// and is resumed on the thread that finishes the load, inline, after the
/// value is published; a blocking follower blocks as in get_or_load. Same
/// contract as get_or_load otherwise: the loader runs with no lock held and
/// may use the cache (awaiting loads of other keys); a loader that throws
/// stores nothing and every follower gets its exception; each call counts a
/// hit or a miss. An awaitable with both a member and a free `operator
/// co_await` that yield different types does not compile (the type checked
/// is surge::await_result_t's, the member's, where co_await may pick the
/// free one).
///
/// The key is copied into the task (the task may be awaited later); the
/// cache must outlive it. A leader task destroyed while its loader is
/// suspended fails its followers with std::runtime_error (nothing stored);
/// a follower destroyed while it waits leaves the load, but only as long as
/// that load has not finished: the thread that finishes it resumes its
/// followers, so destroy a suspended task only where no load it awaits can
/// finish meanwhile (as for any coroutine, never while it may be resumed).
/// A coroutine that awaits the loading of its own key (directly or through
/// a chain of loads) waits forever: nothing detects that cycle.
///
/// Complexity: a hit costs a get() plus a task frame (recycled, no malloc in
/// steady state); a miss adds the in-flight record. Thread-safe.
template <class C, std::size_t S, class M>
struct cache_async_load<sharded_cache<C, S, M>> {
  using cache_type = sharded_cache<C, S, M>;
  using key_type = typename cache_type::key_type;
  using value_type = typename cache_type::mapped_type;
  using flight_type = flight<value_type>;
  using shard = typename cache_type::shard;

  /// A suspended follower: linked into the flight, resumed by its publisher.
  /// A follower destroyed while it waits (its coroutine's frame destroyed,
  /// e.g. with a leader whose loader awaits this load) unlinks itself; once
  /// publish() has taken the list it is too late (it will be woken), so its
  /// destruction must not race with the load's end.
  struct follower : flight_waiter, resumable {
    std::shared_ptr<flight_type> flight;
    bool waiting = false;  // linked and not yet woken

    explicit follower(std::shared_ptr<flight_type> f) noexcept : flight(std::move(f)) { wake = &resume; }
    follower(const follower&) = delete;
    follower& operator=(const follower&) = delete;
    ~follower() {
      if (waiting) flight->remove_waiter(*this);
    }
    [[nodiscard]] bool await_ready() const noexcept { return flight->done(); }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      handle_ = h;
      waiting = true;
      if (flight->add_waiter(*this)) return true;  // from here *this may already be resumed elsewhere
      waiting = false;
      return false;
    }
    value_type await_resume() const { return flight->result(); }

    static void resume(flight_waiter& w) noexcept {
      auto& f = static_cast<follower&>(w);
      f.waiting = false;
      resume_inline(f);
    }
  };

  /// Fails the followers if the leader's frame is destroyed mid-load.
  struct abandon_guard {
    cache_type& cache;
    shard& s;
    const key_type& key;
    flight_type& f;
    bool armed = true;
    ~abandon_guard() {
      if (armed)
        cache.abandon_load(s, key, f,
                           std::make_exception_ptr(std::runtime_error(
                               "surge::sharded_cache::get_or_load_async: the loading task was destroyed")));
    }
  };

  template <class Loader>
  static auto await_loader(Loader& loader) {
    if constexpr (std::is_invocable_v<Loader&>) {
      return std::invoke(loader);
    } else {
      return std::move(loader);
    }
  }

  template <class Loader>
  static task<value_type> run(cache_type& cache, key_type key, Loader loader) {
    using awaitable = decltype(await_loader(loader));
    static_assert(
        requires { typename await_result_t<awaitable>; },
        "surge::sharded_cache::get_or_load_async: loader must be an awaitable of a Value (such as "
        "task<Value>) or a callable returning one");
    static_assert(std::is_convertible_v<await_result_t<awaitable>, value_type>,
                  "surge::sharded_cache::get_or_load_async: the loader's awaitable must yield a Value");
    shard& s = cache.shard_for(key);
    auto start = cache.start_load(s, key, std::thread::id{});
    if (start.hit) co_return std::move(*start.hit);
    if (!start.leader) co_return co_await follower(std::move(start.flight));
    flight_type& f = *start.flight;
    abandon_guard guard{cache, s, key, f};
    std::exception_ptr error;
    try {
      f.set_value(as_await_result<await_result_t<awaitable>>(co_await await_loader(loader)));
    } catch (...) {
      error = std::current_exception();
    }
    guard.armed = false;
    if (error) {
      cache.abandon_load(s, key, f, error);
      std::rethrow_exception(error);
    }
    co_return cache.finish_load(s, key, f);
  }
};

}  // namespace surge::detail

#endif  // SURGE_CACHE_ASYNC_LOAD_HPP
