// SPDX-License-Identifier: MIT
/// @file file.hpp
/// Files written whole or not at all: every file eps writes (models, checkpoints, results, tables, plots'
/// data) goes through write_file_atomic, so that a reader, or a run killed in the middle, sees the previous
/// file or the new one, never a part of either (docs/testing.md, "Bad input, damaged files, interrupted
/// runs"). POSIX (fsync, rename).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>

#include "eps/error.hpp"

namespace eps {

/// Writes `content` to `path` atomically: a temporary file in the same directory, flushed and fsync'ed,
/// then renamed over the target. Creates the directory if needed. io_error naming the path and the reason
/// (a full disk, no permission); the temporary file is removed and the previous file left intact.
inline void write_file_atomic(const std::filesystem::path& path, const std::string& content) {
  namespace fs = std::filesystem;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  EPS_CHECK(!ec, io_error, "cannot create directory '", dir.string(), "': ", ec.message());
  const fs::path tmp = dir / (path.filename().string() + ".tmp." + std::to_string(::getpid()));
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    EPS_CHECK(f != nullptr, io_error, "cannot open '", tmp.string(), "' for writing");
    const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size() && std::fflush(f) == 0 &&
                    ::fsync(::fileno(f)) == 0;
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed) {
      fs::remove(tmp, ec);
      detail::raise<io_error>("cannot write '", path.string(), "' (disk full or I/O error)");
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    detail::raise<io_error>("cannot move the temporary file onto '", path.string(), "': ", ec.message());
  }
}

/// Reads a whole file; io_error naming the path.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EPS_CHECK(in.good(), io_error, "cannot open '", path.string(), "' for reading");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EPS_CHECK(!in.bad(), io_error, "error while reading '", path.string(), "'");
  return s;
}

}  // namespace eps
