// SPDX-License-Identifier: MIT
// The IDX reader of the reference program (reference/src/idx.hpp) on files written here (gzip and plain:
// valid, truncated, wrong magic, wrong type, a size that disagrees with the dimensions, trailing bytes, a
// corrupt gzip stream) and on the real Fashion-MNIST files of the Debian package dataset-fashion-mnist.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "eps/error.hpp"
#include "idx.hpp"

using doctest::Contains;
using eps::cli::read_idx;
namespace fs = std::filesystem;

namespace {

std::vector<unsigned char> idx_bytes(std::vector<std::uint32_t> dims, std::size_t payload, unsigned char type = 8) {
  std::vector<unsigned char> b{0, 0, type, static_cast<unsigned char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
  for (std::size_t i = 0; i < payload; ++i) b.push_back(static_cast<unsigned char>(i * 7 % 256));
  return b;
}

std::string write(const std::string& name, const std::vector<unsigned char>& b, bool gzip) {
  const fs::path dir = fs::temp_directory_path() / "eps_test_idx";
  fs::create_directories(dir);
  const std::string path = (dir / name).string();
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  return path;
}

}  // namespace

TEST_CASE("idx: valid files, gzip and plain, are read exactly") {
  for (bool gz : {true, false}) {
    CAPTURE(gz);
    const auto b = idx_bytes({3, 4, 5}, 60);
    const auto a = read_idx(write(gz ? "ok.gz" : "ok.idx", b, gz));
    CHECK(a.dims == std::vector<std::int64_t>{3, 4, 5});
    REQUIRE(a.data.size() == 60);
    for (std::size_t i = 0; i < 60; ++i) CHECK(a.data[i] == static_cast<unsigned char>(i * 7 % 256));
  }
}

TEST_CASE("idx: truncated, mislabelled, oversized and corrupt files are named errors") {
  auto b = idx_bytes({10, 6}, 60);
  auto short_b = b;
  short_b.resize(b.size() - 7);
  CHECK_THROWS_WITH_AS(read_idx(write("short.gz", short_b, true)),
                       Contains("is truncated: the data needs 60 bytes, the file has 53"), eps::io_error);
  CHECK_THROWS_WITH_AS(read_idx(write("head.gz", {0, 0, 8}, true)),
                       Contains("is truncated: the IDX header needs 4 bytes"), eps::io_error);
  auto magic = b;
  magic[0] = 0x1f;
  CHECK_THROWS_WITH_AS(read_idx(write("magic.idx", magic, false)), Contains("is not an IDX file"), eps::io_error);
  CHECK_THROWS_WITH_AS(read_idx(write("type.gz", idx_bytes({4}, 4, 0x0D), true)), Contains("type code 13, expected 8"),
                       eps::io_error);
  auto extra = b;
  extra.push_back(1);
  CHECK_THROWS_WITH_AS(read_idx(write("extra.gz", extra, true)), Contains("has bytes after the 60"), eps::io_error);
  CHECK_THROWS_WITH_AS(read_idx(write("zero.gz", idx_bytes({0, 6}, 0), true)), Contains("dimension 0 is 0"),
                       eps::io_error);
  // A gzip stream with a flipped byte in its compressed body, and one cut in the middle.
  const std::string ok = write("good.gz", idx_bytes({100, 50}, 5000), true);
  std::vector<char> raw;
  {
    std::ifstream in(ok, std::ios::binary);
    raw.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto flipped = raw;
  flipped[raw.size() / 2] = static_cast<char>(flipped[raw.size() / 2] ^ 0x5a);
  std::ofstream(fs::path(ok).replace_filename("flipped.gz"), std::ios::binary)
      .write(flipped.data(), static_cast<std::streamsize>(flipped.size()));
  CHECK_THROWS_AS(read_idx(fs::path(ok).replace_filename("flipped.gz").string()), eps::io_error);
  std::ofstream(fs::path(ok).replace_filename("cut.gz"), std::ios::binary)
      .write(raw.data(), static_cast<std::streamsize>(raw.size() / 2));
  CHECK_THROWS_AS(read_idx(fs::path(ok).replace_filename("cut.gz").string()), eps::io_error);
  CHECK_THROWS_WITH_AS(read_idx("/nonexistent/dir/x.gz"), Contains("does not exist"), eps::io_error);
  CHECK_THROWS_WITH_AS(read_idx(std::string(eps::cli::kFashionMnistDir) + "/no-such-file-idx1-ubyte.gz"),
                       Contains("install the Debian package dataset-fashion-mnist"), eps::io_error);
  CHECK_THROWS_WITH_AS(eps::cli::load_fashion_mnist("/nonexistent/dir", true),
                       Contains("expected the Fashion-MNIST IDX files"), eps::io_error);
}

TEST_CASE("idx: the real Fashion-MNIST of the Debian package") {
  // 60,000 training and 10,000 test images of 28 × 28 with labels 0..9, every class present ~10 % of the
  // time (the dataset is balanced: exactly 6000 and 1000 per class), pixels mapped to [−1, 1].
  for (bool train : {true, false}) {
    CAPTURE(train);
    const auto d = eps::cli::load_fashion_mnist(eps::cli::kFashionMnistDir, train);
    const std::int64_t n = train ? 60000 : 10000;
    CHECK(d.count == n);
    REQUIRE(d.images.size() == static_cast<std::size_t>(n * 28 * 28));
    std::vector<std::int64_t> per_class(10, 0);
    for (auto l : d.labels) ++per_class[l];
    for (auto c : per_class) CHECK(c == n / 10);
    float lo = 2, hi = -2;
    double mean = 0;
    for (float v : d.images) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      mean += v;
    }
    CHECK(lo == -1.0f);
    CHECK(hi == 1.0f);
    // Fashion-MNIST's mean pixel is 72.9/255 (the dataset's published statistic), i.e. −0.428 here.
    CHECK(mean / double(d.images.size()) == doctest::Approx(72.94 / 127.5 - 1).epsilon(0.01));
  }
}
