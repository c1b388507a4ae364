/// @file surge/surge.hpp
/// Umbrella header: includes every public surge header (not surge/fmt.hpp,
/// which needs {fmt}). Convenient; include the single headers you use to keep
/// compile times down.
#ifndef SURGE_SURGE_HPP
#define SURGE_SURGE_HPP

#include <surge/queue/mpmc_queue.hpp>
#include <surge/version.hpp>

#endif // SURGE_SURGE_HPP
