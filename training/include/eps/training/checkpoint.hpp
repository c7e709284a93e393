// SPDX-License-Identifier: MIT
/// @file checkpoint.hpp
/// The checkpoints of training runs (`eps image train`, `eps image classifier`; docs/training.md §4): one
/// writer and one reader for both, on the archive helpers of eps/networks/archive.hpp. A checkpoint holds
/// the header (format, version, the run's configuration), the hash of the training data, and the state the
/// run writes; it is saved atomically, so that a run killed at any moment leaves the previous checkpoint
/// whole. Library eps::training.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "eps/networks/archive.hpp"

namespace eps::training {

using networks::ArchiveHeader;

/// Writes a checkpoint to `path` atomically: header h, the data's hash, then fill(OutputArchive&) writes
/// the run's state.
template <class Fill>
void write_checkpoint(const std::filesystem::path& path, const ArchiveHeader& h, const std::string& data_hash,
                      Fill&& fill) {
  torch::serialize::OutputArchive ar;
  networks::write_header(ar, h);
  ar.write("data_hash", c10::IValue(data_hash));
  std::forward<Fill>(fill)(ar);
  networks::save_archive(ar, path);
}

/// Opens the checkpoint at `path` to continue a run of configuration `config` on data `data_hash`: verified
/// and its header checked (networks::ArchiveReader: io_error for a damaged file or another format), then
/// networks::check_resumable (value_error naming the setting or the data that differs); restore(InputArchive&)
/// reads the state, a missing or malformed field reported as io_error naming the file.
template <class Restore>
void read_checkpoint(const std::filesystem::path& path, const at::Device& device, const std::string& format,
                     const std::string& what, std::int64_t max_version, const nlohmann::json& config,
                     const std::string& data_hash, Restore&& restore) {
  networks::ArchiveReader r(path, device, format, what, max_version);
  const std::string saved = r.read([](torch::serialize::InputArchive& ar) {
    c10::IValue v;
    ar.read("data_hash", v);
    return v.toStringRef();
  });
  networks::check_resumable(r.header(), saved, config, data_hash, path);
  r.read(std::forward<Restore>(restore));
}

}  // namespace eps::training
