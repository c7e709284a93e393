# Checks that every C++ source of the project is formatted by .clang-format (clang-format --dry-run
# --Werror). Usage: cmake -DCLANG_FORMAT=... -DSOURCE_DIR=... -P format_check.cmake
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
