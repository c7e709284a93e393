// SPDX-License-Identifier: MIT
// IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or not: a 4-byte magic (two zero bytes, a
// type code, the number of dimensions), the dimensions as big-endian 32-bit integers, then the data.
// The reader checks everything and never reads short: a missing file names the Debian package that ships
// it, a truncated, corrupt or oversized file is an eps::io_error naming the file and what was wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace eps::cli {

/// The contents of an unsigned-byte IDX file (type code 0x08, the only type the datasets use).
struct IdxArray {
  std::vector<std::int64_t> dims;  ///< e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<std::uint8_t> data;  ///< row-major, product(dims) bytes
  std::int64_t count() const { return dims.empty() ? 0 : dims.front(); }
};

/// Reads an IDX file (gzip or plain; decided by the gzip magic, not the name). Throws eps::io_error for a
/// missing or unreadable file, a gzip stream that is corrupt or ends early, a magic that is not an
/// unsigned-byte IDX header, zero or absurd dimensions, fewer data bytes than the dimensions promise, or
/// trailing bytes after them.
IdxArray read_idx(const std::string& path);

/// Where Debian's dataset-fashion-mnist package installs the four files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST images in [−1, 1] (pixel/127.5 − 1, N × 28 × 28, row-major) and labels in 0..9.
struct FashionMnist {
  std::int64_t count = 0, height = 28, width = 28;
  std::vector<float> images;
  std::vector<std::uint8_t> labels;
};

/// Loads the training (60,000) or test (10,000) split from `dir`, checking that images and labels agree
/// in count, that images are 28 × 28 and labels lie in 0..9. A missing directory or file names the package.
FashionMnist load_fashion_mnist(const std::string& dir, bool train);

}  // namespace eps::cli
