// SPDX-License-Identifier: MIT
// For fuzz targets whose reader takes a path: the input written to a per-process file in /dev/shm (memory)
// or the temporary directory.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace eps::fuzz {

inline std::string write_input(const std::uint8_t* data, std::size_t size, const char* tag) {
  static const std::string dir = std::filesystem::is_directory("/dev/shm")
                                     ? std::string("/dev/shm")
                                     : std::filesystem::temp_directory_path().string();
  const std::string path = dir + "/eps_fuzz_" + tag + "_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace eps::fuzz
