// SPDX-License-Identifier: MIT
// Fuzz target: the model file reader (eps::networks::read_model: the zip check, LibTorch's archive reader, the
// configuration and the network it describes) on any file content: a model, or eps::io_error naming the file.
// LibTorch cannot be compiled by clang in C++20 mode, so this target runs under the mutation driver of
// standalone_driver.cpp (g++, ASan/UBSan), which keeps archives valid zips with correct CRCs.
#include <cstddef>
#include <cstdint>

#include "eps/error.hpp"
#include "eps/networks/model_file.hpp"
#include "fuzz_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = eps::fuzz::write_input(data, size, "model");
  try {
    (void)eps::networks::read_model(path, at::kCPU);
  } catch (const eps::io_error&) {
  } catch (const eps::value_error&) {  // a configuration the U-Net refuses (channels, levels)
  }
  return 0;
}
