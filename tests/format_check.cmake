# Checks that every C++ source of the project is formatted by .clang-format (clang-format --dry-run
# --Werror). Usage: cmake -DCLANG_FORMAT=... -DSOURCE_DIR=... [-DREQUIRED_MAJOR=19] -P format_check.cmake
# Another major version of clang-format than REQUIRED_MAJOR formats the same style differently: the check is then
# skipped, saying so, rather than failing on sources that are formatted.
if(DEFINED REQUIRED_MAJOR)
  execute_process(COMMAND "${CLANG_FORMAT}" --version OUTPUT_VARIABLE version_text RESULT_VARIABLE rc)
  string(REGEX MATCH "version ([0-9]+)\\." _ "${version_text}")
  if(NOT rc EQUAL 0 OR NOT CMAKE_MATCH_1 STREQUAL "${REQUIRED_MAJOR}")
    message(STATUS "format check skipped: ${CLANG_FORMAT} is not clang-format ${REQUIRED_MAJOR} (${version_text}); "
                   "scripts/install-deps.sh installs clang-format-${REQUIRED_MAJOR}")
    return()
  endif()
endif()
set(files "")
foreach(dir include backends networks reference tests examples bench)
  file(GLOB_RECURSE found "${SOURCE_DIR}/${dir}/*.hpp" "${SOURCE_DIR}/${dir}/*.cpp")
  list(APPEND files ${found})
endforeach()
list(LENGTH files n)
if(n LESS 20)
  message(FATAL_ERROR "format check: found only ${n} source files under ${SOURCE_DIR}")
endif()
execute_process(COMMAND "${CLANG_FORMAT}" --style=file --dry-run --Werror ${files}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "these sources are not formatted by .clang-format (run clang-format -i on them):\n${err}")
endif()
message(STATUS "format check: ${n} files formatted")
