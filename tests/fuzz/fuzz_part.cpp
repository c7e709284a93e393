// SPDX-License-Identifier: MIT
// Fuzz target: the evaluation's part reader (reference/src/image/image_common.hpp, read_eval_part) on any file
// content: a part of the promised shape, or nothing (with a warning); it never throws for the content.
#include <cstddef>
#include <cstdint>
#include <sstream>

#include "fuzz_file.hpp"
#include "image_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = eps::fuzz::write_input(data, size, "part");
  std::ostringstream warn;
  // Any key (the seeds come from evaluations of other configurations); the seed parts hold 2 samples.
  const auto p = eps::cli::read_eval_part(path, "", 2, warn);
  if (p && (p->samples.size(0) != 2 || p->samples.size(2) != 28)) __builtin_trap();
  return 0;
}
