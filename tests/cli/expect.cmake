# Runs CMD (a ;-list) and checks its exit code (CODE) and, optionally, that stderr matches ERR_REGEX,
# that stdout matches OUT_REGEX, and (EMPTY_STDOUT=ON) that nothing was printed on stdout.
# Usage: cmake -DCMD=... -DCODE=2 [-DERR_REGEX=...] [-DOUT_REGEX=...] [-DEMPTY_STDOUT=ON] -P expect.cmake
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc STREQUAL CODE)
  message(FATAL_ERROR "expected exit code ${CODE}, got ${rc}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(DEFINED ERR_REGEX AND NOT err MATCHES "${ERR_REGEX}")
  message(FATAL_ERROR "stderr does not match '${ERR_REGEX}':\n${err}")
endif()
if(DEFINED OUT_REGEX AND NOT out MATCHES "${OUT_REGEX}")
  message(FATAL_ERROR "stdout does not match '${OUT_REGEX}':\n${out}")
endif()
if(EMPTY_STDOUT AND NOT out STREQUAL "")
  message(FATAL_ERROR "expected nothing on stdout, got:\n${out}")
endif()
