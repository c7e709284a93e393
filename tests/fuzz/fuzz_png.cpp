// SPDX-License-Identifier: MIT
// Fuzz target: the image input of examples/restore_image (png_io.hpp, through stb_image): any file is a grey
// image of the promised size or a std::runtime_error naming it.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "fuzz_file.hpp"
#define EPS_PNG_IO_IMPLEMENTATION
#include "png_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = eps::fuzz::write_input(data, size, "png");
  try {
    const example::GreyImage img = example::read_grey_png(path);
    if (img.pixels.size() != static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height))
      __builtin_trap();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
