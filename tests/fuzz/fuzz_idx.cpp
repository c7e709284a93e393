// SPDX-License-Identifier: MIT
// Fuzz target: the IDX reader (gzip or plain; reference/src/idx.hpp) on any file content: an IdxArray whose data
// holds exactly the product of its dimensions, or eps::io_error; nothing else.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "eps/error.hpp"
#include "fuzz_file.hpp"
#include "idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = eps::fuzz::write_input(data, size, "idx");
  try {
    const eps::cli::IdxArray a = eps::cli::read_idx(path);
    std::size_t n = 1;
    for (std::int64_t d : a.dims) n *= static_cast<std::size_t>(d);
    if (a.dims.empty() || n != a.data.size()) __builtin_trap();  // the reader's promise
  } catch (const eps::io_error&) {
  }
  return 0;
}
