// A redis::connection that never reaches a server, for the compile_fail
// cases of redis::token_bucket (they must only compile or not, never run).
#ifndef SURGE_COMPILE_FAIL_NO_SERVER_HPP
#define SURGE_COMPILE_FAIL_NO_SERVER_HPP

#include <surge/redis/token_bucket.hpp>

#include <chrono>
#include <span>

struct no_server {
  surge::redis::pipeline_result pipeline(std::span<const surge::redis::command>, std::chrono::microseconds) {
    return {};
  }
};

#endif  // SURGE_COMPILE_FAIL_NO_SERVER_HPP
