// SPDX-License-Identifier: MIT
/// @file archive.hpp
/// The torch archives eps writes and reads back — model files, training and classifier checkpoints, the
/// classifier, the evaluation's cached parts (docs/training.md §4, docs/testing.md "Files"): one reader that
/// verifies a file before LibTorch sees it, one atomic writer, and one header that says what a file is.
/// Library eps::networks (component torch).
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "eps/error.hpp"

namespace eps::networks {

/// Reads a torch archive (zip) into `ar` on `device`, refusing a file with a `zip_problem` before LibTorch's
/// reader sees it (LibTorch 1.13 neither checks the CRCs nor survives every malformed archive). io_error
/// that names the file, `what` it should have been and the problem ("corrupt file (entry '…' fails its CRC-32
/// check …)").
void load_archive(const std::filesystem::path& path, torch::serialize::InputArchive& ar, const at::Device& device,
                  const std::string& what);

/// Writes `ar` to `path` atomically (eps::write_file_atomic): the previous file stays whole until the new
/// one is complete. io_error naming the file.
void save_archive(torch::serialize::OutputArchive& ar, const std::filesystem::path& path);

/// What every archive eps writes starts with: its format ("eps.model", "eps.train_checkpoint", …), the
/// version of that format, and the configuration the file was made with.
struct ArchiveHeader {
  std::string format;
  std::int64_t version = 1;
  nlohmann::json config = nlohmann::json::object();
};

/// Writes h's three entries (format, version, config as JSON text) into ar.
void write_header(torch::serialize::OutputArchive& ar, const ArchiveHeader& h);

/// An archive eps wrote, opened for reading: verified and loaded (load_archive), then its header checked —
/// another format is io_error "'<path>' is not <a/an> <what>" (with `hint` appended), a version above
/// `max_version` is io_error saying that a newer eps wrote it. A file without a version entry is version 1.
class ArchiveReader {
 public:
  ArchiveReader(const std::filesystem::path& path, const at::Device& device, const std::string& format,
                const std::string& what, std::int64_t max_version = 1, const std::string& hint = "");

  const ArchiveHeader& header() const { return header_; }
  const std::filesystem::path& path() const { return path_; }
  torch::serialize::InputArchive& archive() { return ar_; }

  /// f(archive()), with a field that is missing or of the wrong type (LibTorch's c10::Error, a JSON error)
  /// or anything else f throws (a value out of range, LibTorch's TorchScript reader) reported as io_error
  /// "'<path>' is not a usable <what>: …"; an io_error passes through unchanged.
  template <class F>
  decltype(auto) read(F&& f) {
    try {
      return std::forward<F>(f)(ar_);
    } catch (const eps::io_error&) {
      throw;
    } catch (const c10::Error& e) {
      fail(std::string("a field is missing or malformed (") + e.what_without_backtrace() + ")");
    } catch (const nlohmann::json::exception& e) {
      fail(std::string("its configuration is malformed (") + e.what() + ")");
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }

  /// io_error "'<path>' is not a usable <what>: <why>".
  [[noreturn]] void fail(const std::string& why) const;

 private:
  std::filesystem::path path_;
  std::string what_;
  torch::serialize::InputArchive ar_;
  ArchiveHeader header_;
};

/// Whether a checkpoint can continue a run: every key of the run's configuration must be in the
/// checkpoint's with the same value (keys only the checkpoint has are settings that later versions of the
/// program no longer record, and do not block a resume), else value_error naming the key, both values and
/// the checkpoint; and both must have been trained on the same data (`data_hash`), else value_error.
void check_resumable(const ArchiveHeader& saved, const std::string& saved_data_hash, const nlohmann::json& run,
                     const std::string& run_data_hash, const std::filesystem::path& checkpoint);

}  // namespace eps::networks
