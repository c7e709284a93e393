// SPDX-License-Identifier: MIT
// Fuzz target: the zip check every torch archive passes before LibTorch's reader (eps/networks/zip_check.hpp).
// Any bytes: an answer (a problem or none), never a crash, a read out of bounds or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>

#include "eps/networks/zip_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  (void)eps::networks::zip_problem(bytes, false);
  (void)eps::networks::zip_problem(bytes, true);
  return 0;
}
