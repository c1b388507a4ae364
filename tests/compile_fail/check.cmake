# cmake -DCXX=compiler -DSOURCE=file.cpp -DINCLUDE=dir -P check.cmake
# Fails unless compiling SOURCE fails with the text of its "// expect:" line
# and at most its "// max_errors:" count of error lines (default 1).
file(STRINGS ${SOURCE} expect_line LIMIT_COUNT 1 REGEX "^// expect: ")
string(REGEX REPLACE "^// expect: " "" expect "${expect_line}")
file(STRINGS ${SOURCE} max_line REGEX "^// max_errors: ")
set(max_errors 1)
if(max_line)
  string(REGEX REPLACE "^// max_errors: " "" max_errors "${max_line}")
endif()
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled; it must not")
endif()
string(FIND "${out}" "${expect}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SOURCE}: the error does not say \"${expect}\":\n${out}")
endif()
string(REPLACE ";" "," flat "${out}")  # a ';' would split a CMake list
string(REGEX MATCHALL "[^\n]*error:[^\n]*" errors "${flat}")
list(LENGTH errors n)
if(n GREATER max_errors)
  message(FATAL_ERROR "${SOURCE}: ${n} error lines, expected at most ${max_errors}:\n${out}")
endif()
message(STATUS "${SOURCE}: refused with \"${expect}\" (${n} error line(s))")
