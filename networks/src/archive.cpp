// SPDX-License-Identifier: MIT
#include "eps/networks/archive.hpp"

#include <sstream>

#include "eps/file.hpp"
#include "eps/networks/zip_check.hpp"

namespace eps::networks {

void load_archive(const std::filesystem::path& path, torch::serialize::InputArchive& ar, const at::Device& device,
                  const std::string& what) {
  const std::string bytes = read_file(path);
  const auto bad = [&](const std::string& why) {
    detail::raise<io_error>("'", path.string(), "' is not a usable ", what, ": ", why);
  };
  // A torch archive is a zip file of stored entries, each with the CRC-32 of its bytes, which LibTorch 1.13
  // writes but never checks: every entry (every tensor, the pickled structure with the configuration) is
  // verified here before LibTorch's reader sees the file (which also leaks on some malformed archives).
  if (const auto problem = zip_problem(bytes, true)) bad(*problem);
  try {
    std::istringstream is(bytes);
    ar.load_from(is, device);
  } catch (const c10::Error& e) {
    bad(std::string("corrupt file (") + e.what_without_backtrace() + ")");
  } catch (const std::exception& e) {  // TorchScript's parser reports with its own types (torch::jit::ErrorReport)
    bad(std::string("corrupt file (") + e.what() + ")");
  }
}

void save_archive(torch::serialize::OutputArchive& ar, const std::filesystem::path& path) {
  std::ostringstream os;
  ar.save_to(os);
  write_file_atomic(path, os.str());
}

void write_header(torch::serialize::OutputArchive& ar, const ArchiveHeader& h) {
  ar.write("format", c10::IValue(h.format));
  ar.write("version", c10::IValue(h.version));
  ar.write("config", c10::IValue(h.config.dump()));
}

namespace {
std::string with_article(const std::string& what) {
  const bool vowel = !what.empty() && std::string("aeiou").find(what[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + what;
}
}  // namespace

ArchiveReader::ArchiveReader(const std::filesystem::path& path, const at::Device& device, const std::string& format,
                             const std::string& what, std::int64_t max_version, const std::string& hint)
    : path_(path), what_(what) {
  load_archive(path, ar_, device, what);
  c10::IValue v;
  EPS_CHECK(ar_.try_read("format", v) && v.isString() && v.toStringRef() == format, io_error, "'", path.string(),
            "' is not ", with_article(what), " (no 'format' = ", format, hint, ")");
  header_.format = format;
  read([&](torch::serialize::InputArchive& ar) {
    if (ar.try_read("version", v)) header_.version = v.toInt();
    if (ar.try_read("config", v)) header_.config = nlohmann::json::parse(v.toStringRef());
  });
  EPS_CHECK(header_.version >= 1 && header_.version <= max_version, io_error, "'", path.string(), "' is ",
            with_article(what), " of format version ", header_.version, ", this eps reads versions 1 to ", max_version,
            " (written by a newer eps? use that version, or retrain)");
}

void ArchiveReader::fail(const std::string& why) const {
  detail::raise<io_error>("'", path_.string(), "' is not a usable ", what_, ": ", why);
}

void check_resumable(const ArchiveHeader& saved, const std::string& saved_data_hash, const nlohmann::json& run,
                     const std::string& run_data_hash, const std::filesystem::path& checkpoint) {
  for (const auto& [k, val] : run.items())
    EPS_CHECK(saved.config.contains(k) && saved.config[k] == val, value_error, "--resume: the checkpoint '",
              checkpoint.string(), "' was written with ", k, " = ",
              saved.config.contains(k) ? saved.config[k].dump() : "(absent)", ", this run has ", val.dump(),
              " (start a new --out, or use the checkpoint's settings)");
  EPS_CHECK(saved_data_hash == run_data_hash, value_error, "--resume: the checkpoint '", checkpoint.string(),
            "' was trained on other data (hash ", saved_data_hash, ", this run's data ", run_data_hash, ")");
}

}  // namespace eps::networks
