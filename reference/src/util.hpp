// SPDX-License-Identifier: MIT
// Small utilities of the reference program: a progress bar, timing, gnuplot (atomic file writes: eps/file.hpp).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "eps/error.hpp"
#include "eps/file.hpp"

namespace eps::cli {

using eps::read_file;
using eps::write_file_atomic;

/// Runs gnuplot on `script` (written by the caller). Without gnuplot on the PATH the plots are skipped with a
/// note on stderr that names `program` and the script; a failing gnuplot is an io_error.
inline void run_gnuplot(const std::filesystem::path& script, const std::string& program) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    std::cerr << program << ": gnuplot not found, plots skipped (install gnuplot-nox; the script is " << script
              << ")\n";
    return;
  }
  const std::string cmd = "gnuplot '" + script.string() + "' 2>&1";
  EPS_CHECK(std::system(cmd.c_str()) == 0, io_error, "gnuplot failed on ", script.string());
}

/// Seconds since construction.
class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

/// A progress bar on stderr that appears only once a run has lasted more than a second, and only on a
/// terminal or when forced (EPS_PROGRESS=1); it never writes to stdout.
class Progress {
 public:
  /// `start`: where a resumed loop begins (the time left is extrapolated from the work done since).
  Progress(std::string label, long total, long start = 0) : label_(std::move(label)), total_(total), start_(start) {
    const char* env = std::getenv("EPS_PROGRESS");
    enabled_ = env ? std::string(env) != "0" : ::isatty(2) != 0;
  }
  ~Progress() {
    if (shown_) std::cerr << "\n";
  }
  /// Shows done/total, elapsed and remaining time, and `extra` (for example the loss and steps per second).
  void update(long done, const std::string& extra = {}) {
    if (!enabled_ || clock_.seconds() < 1.0) return;
    const double now = clock_.seconds();
    if (shown_ && now - last_ < 0.1 && done < total_) return;
    last_ = now;
    shown_ = true;
    const int width = 30;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
    const double eta = done > start_ ? now * double(total_ - done) / double(done - start_) : 0;
    std::cerr << "\r" << label_ << " [" << std::string(static_cast<std::size_t>(filled), '#')
              << std::string(static_cast<std::size_t>(width - filled), '.') << "] " << done << "/" << total_ << "  "
              << static_cast<int>(now) << "s elapsed, ~" << static_cast<int>(eta) << "s left"
              << (extra.empty() ? "" : "  ") << extra << "   " << std::flush;
  }

 private:
  std::string label_;
  long total_, start_;
  bool enabled_ = false, shown_ = false;
  double last_ = 0;
  Stopwatch clock_;
};

}  // namespace eps::cli
