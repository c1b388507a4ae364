/// @file surge/surge.hpp
/// Umbrella header: includes every public surge header (not surge/fmt.hpp,
/// which needs {fmt}). Convenient; include the single headers you use to keep
/// compile times down.
#ifndef SURGE_SURGE_HPP
#define SURGE_SURGE_HPP

#include <surge/exec/async_mutex.hpp>
#include <surge/exec/async_semaphore.hpp>
#include <surge/exec/channel.hpp>
#include <surge/exec/operation_cancelled.hpp>
#include <surge/exec/parallel_for.hpp>
#include <surge/exec/spawn.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/timer.hpp>
#include <surge/exec/when_all.hpp>
#include <surge/version.hpp>

#endif // SURGE_SURGE_HPP
