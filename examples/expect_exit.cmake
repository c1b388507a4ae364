# Runs a command and checks both its exit status and its output, which a
# test with PASS_REGULAR_EXPRESSION alone cannot do (CTest then ignores the
# exit status, so a refusal that printed its message and exited 0 passed):
#
#   cmake -DEXIT=<status> -DREGEX=<regex> -P expect_exit.cmake -- COMMAND [ARG...]
#
# An ARG spelled <empty> stands for an empty string, which a CMake list
# cannot carry to here.
if(NOT DEFINED EXIT OR NOT DEFINED REGEX)
  message(FATAL_ERROR "expect_exit.cmake: -DEXIT=<status> and -DREGEX=<regex> are required")
endif()
set(code "execute_process(COMMAND")
set(taking OFF)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  set(arg "${CMAKE_ARGV${i}}")
  if(taking)
    if(arg STREQUAL "<empty>")
      set(arg "")
    endif()
    string(APPEND code " [==[${arg}]==]")  # a bracket argument: spaces, quotes and "" pass as they are
  elseif(arg STREQUAL "--")
    set(taking ON)
  endif()
endforeach()
if(NOT taking)
  message(FATAL_ERROR "expect_exit.cmake: no command after --")
endif()
string(APPEND code " RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)")
cmake_language(EVAL CODE "${code}")
if(NOT status STREQUAL EXIT)
  message(FATAL_ERROR "exit status ${status}, expected ${EXIT}; output:\n${out}")
endif()
if(NOT out MATCHES "${REGEX}")
  message(FATAL_ERROR "output does not match \"${REGEX}\":\n${out}")
endif()
