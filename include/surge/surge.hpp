/// @file surge/surge.hpp
/// Umbrella header: includes every public surge header (not surge/fmt.hpp,
/// which needs {fmt}, nor the opt-in surge/redis/, whose hiredis.hpp needs
/// hiredis). Convenient; include the single headers you use to keep compile
/// times down.
#ifndef SURGE_SURGE_HPP
#define SURGE_SURGE_HPP

#include <surge/balance/backend_lease.hpp>
#include <surge/balance/consistent_hash.hpp>
#include <surge/balance/jump_hash.hpp>
#include <surge/balance/key_hash.hpp>
#include <surge/balance/least_connections.hpp>
#include <surge/balance/maglev.hpp>
#include <surge/balance/outlier_detector.hpp>
#include <surge/balance/power_of_two.hpp>
#include <surge/balance/random.hpp>
#include <surge/balance/rendezvous.hpp>
#include <surge/balance/round_robin.hpp>
#include <surge/balance/table_view.hpp>
#include <surge/balance/slow_start.hpp>
#include <surge/balance/weighted_round_robin.hpp>
#include <surge/balance/weights.hpp>
#include <surge/cache/async_load.hpp>
#include <surge/cache/cache_base.hpp>
#include <surge/cache/cache_options.hpp>
#include <surge/cache/cache.hpp>
#include <surge/cache/lfu.hpp>
#include <surge/cache/lru.hpp>
#include <surge/cache/s3fifo.hpp>
#include <surge/cache/sharded.hpp>
#include <surge/cache/sieve.hpp>
#include <surge/cache/stats.hpp>
#include <surge/cache/wtinylfu.hpp>
#include <surge/exec/async_mutex.hpp>
#include <surge/exec/async_semaphore.hpp>
#include <surge/exec/await_result.hpp>
#include <surge/exec/channel.hpp>
#include <surge/exec/executor.hpp>
#include <surge/exec/operation_cancelled.hpp>
#include <surge/exec/parallel_for.hpp>
#include <surge/exec/spawn.hpp>
#include <surge/exec/sync_wait.hpp>
#include <surge/exec/task.hpp>
#include <surge/exec/thread_pool.hpp>
#include <surge/exec/timer.hpp>
#include <surge/exec/when_all.hpp>
#include <surge/limit/keyed_limiter.hpp>
#include <surge/limit/leaky_bucket.hpp>
#include <surge/limit/token_bucket.hpp>
#include <surge/metrics/formulas.hpp>
#include <surge/metrics/histogram.hpp>
#include <surge/metrics/meter.hpp>
#include <surge/queue/mpmc_queue.hpp>
#include <surge/queue/queue_closed.hpp>
#include <surge/resilience/circuit_breaker.hpp>
#include <surge/resilience/concurrency_limit.hpp>
#include <surge/resilience/retry.hpp>
#include <surge/version.hpp>

#endif // SURGE_SURGE_HPP
