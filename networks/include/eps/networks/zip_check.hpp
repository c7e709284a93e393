// SPDX-License-Identifier: MIT
/// @file zip_check.hpp
/// The check eps runs on every torch archive before LibTorch's reader sees it (docs/testing.md, "Files"):
/// a torch archive is a zip file whose entries (every tensor, the pickled structure that holds the
/// configuration) each carry the CRC-32 of their bytes, which LibTorch 1.13 writes but never verifies. No
/// LibTorch here: the check is fuzzed on its own (tests/fuzz/fuzz_zip.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace eps::networks {

/// What is wrong with `bytes` as a zip archive of stored or deflated entries — not a zip, truncated, a damaged
/// directory or local header, an entry whose bytes fail the CRC-32 recorded at writing (named) — or nothing.
/// With `declarative_code`, the TorchScript code entries (*/code/*.py) must also hold only the module
/// declarations LibTorch writes for archives like eps's (class headers, parameter, buffer and annotation
/// lists, attributes of simple types): LibTorch 1.13's TorchScript parser crashes on some altered code (a
/// stack overflow in ScriptTypeParser; tests/fuzz/regressions/model), and eps's archives never hold other
/// code; and the pickles (*.pkl) must walk as the protocol-2 opcodes LibTorch writes, with memo indices no
/// larger than the opcodes before them (its unpickler sizes the memo by the index it reads: one changed byte
/// asked for 3.6 GB; tests/fuzz/regressions/part). Bounds-checked on any input.
/// What LibTorch's reader refuses after reading the zip directory — no entries, a first entry outside a folder, a
/// missing or unreadable `<folder>/version` (or `.data/version`), a version outside [1, kMaxTorchFileFormat]
/// ("saved by a PyTorch newer than this LibTorch reads"), a version entry miniz refuses to extract (encrypted or
/// patch data), a name with a NUL byte (LibTorch's lookups go by C string) or two names equal but for case
/// (miniz's lookups ignore case, as this check does) — is named here too: LibTorch leaks its zip state when it
/// throws there (tests/fuzz/regressions/part).
std::optional<std::string> zip_problem(const std::string& bytes, bool declarative_code = false);

/// The newest file format LibTorch 1.13 and 2.6 read (caffe2::serialize::kMaxSupportedFileFormatVersion; model.cpp
/// checks that the two agree).
inline constexpr std::uint64_t kMaxTorchFileFormat = 10;

/// CRC-32 (IEEE 802.3, the zip format's) of n bytes.
std::uint32_t crc32(const unsigned char* p, std::size_t n);

}  // namespace eps::networks
