// SPDX-License-Identifier: MIT
// The IDX reader of idx.hpp, through zlib's gzread (which reads plain files too).
#include "idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <filesystem>

#include "eps/error.hpp"

namespace eps::cli {
namespace {

namespace fs = std::filesystem;

/// An open gzip (or plain) stream that reads exactly or throws.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      const bool packaged = fs::path(path).parent_path() == fs::path(kFashionMnistDir);
      detail::raise<io_error>("'", path, "' does not exist",
                              packaged ? "; install the Debian package dataset-fashion-mnist "
                                         "(apt-get install dataset-fashion-mnist, or scripts/install-deps.sh)"
                                       : "");
    }
    f_ = gzopen(path.c_str(), "rb");
    EPS_CHECK(f_ != nullptr, io_error, "cannot open '", path, "' for reading");
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  /// Reads up to n bytes; returns how many, throwing on a corrupt stream.
  std::size_t read_some(void* buf, std::size_t n) {
    std::size_t got = 0;
    auto* p = static_cast<unsigned char*>(buf);
    while (got < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 30));
      const int r = gzread(f_, p + got, chunk);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(f_, &code);
        detail::raise<io_error>("'", path_, "' is corrupt (gzip: ", msg ? msg : "unknown error", ")");
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    return got;
  }
  /// Reads exactly n bytes, or throws naming what was being read.
  void read_exact(void* buf, std::size_t n, const char* what) {
    const std::size_t got = read_some(buf, n);
    EPS_CHECK(got == n, io_error, "'", path_, "' is truncated: ", what, " needs ", n, " bytes, the file has ", got);
  }
  /// True when the stream has no byte left (read one to find out).
  bool at_end() {
    unsigned char c;
    return read_some(&c, 1) == 0;
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

}  // namespace

IdxArray read_idx(const std::string& path) {
  GzFile f(path);
  unsigned char magic[4];
  f.read_exact(magic, 4, "the IDX header");
  EPS_CHECK(magic[0] == 0 && magic[1] == 0, io_error, "'", path, "' is not an IDX file: its magic number starts with ",
            int(magic[0]), " ", int(magic[1]), ", expected 0 0");
  EPS_CHECK(magic[2] == 0x08, io_error, "'", path, "' has IDX type code ", int(magic[2]),
            ", expected 8 (unsigned bytes)");
  const int nd = magic[3];
  EPS_CHECK(nd >= 1 && nd <= 4, io_error, "'", path, "' declares ", nd, " dimensions, expected 1 to 4");
  IdxArray a;
  std::int64_t total = 1;
  for (int i = 0; i < nd; ++i) {
    unsigned char b[4];
    f.read_exact(b, 4, "the IDX dimensions");
    const std::int64_t d = (std::int64_t(b[0]) << 24) | (std::int64_t(b[1]) << 16) | (std::int64_t(b[2]) << 8) | b[3];
    EPS_CHECK(d >= 1 && d <= (std::int64_t(1) << 31) - 1, io_error, "'", path, "': dimension ", i, " is ", d);
    a.dims.push_back(d);
    // Checked before the product (it could overflow: tests/fuzz/regressions/idx).
    EPS_CHECK(d <= (std::int64_t(1) << 34) / total, io_error, "'", path, "': the dimensions describe more than 16 GiB");
    total *= d;
  }
  // Grown as the data arrives (16 MiB at a time), never allocated from the header alone: a damaged header
  // cannot ask for gigabytes that the file does not hold (tests/fuzz/regressions/idx).
  const auto want = static_cast<std::size_t>(total);
  std::size_t got = 0;
  while (got < want) {
    const std::size_t step = std::min<std::size_t>(want - got, std::size_t{1} << 24);
    a.data.resize(got + step);
    const std::size_t r = f.read_some(a.data.data() + got, step);
    got += r;
    if (r < step) break;
  }
  EPS_CHECK(got == want, io_error, "'", path, "' is truncated: the data needs ", want, " bytes, the file has ", got);
  EPS_CHECK(f.at_end(), io_error, "'", path, "' has bytes after the ", total, " its dimensions describe");
  return a;
}

FashionMnist load_fashion_mnist(const std::string& dir, bool train) {
  const std::string prefix = (fs::path(dir) / (train ? "train" : "t10k")).string();
  for (const char* part : {"-images-idx3-ubyte.gz", "-labels-idx1-ubyte.gz"}) {
    std::error_code ec;
    EPS_CHECK(
        fs::exists(prefix + part, ec), io_error, "'", prefix, part,
        "' does not exist: expected the Fashion-MNIST IDX files ({train,t10k}-{images-idx3,labels-idx1}-ubyte.gz) "
        "in '",
        dir, "'; the Debian package dataset-fashion-mnist installs them in ", kFashionMnistDir,
        " (apt-get install dataset-fashion-mnist, or scripts/install-deps.sh)");
  }
  const IdxArray im = read_idx(prefix + "-images-idx3-ubyte.gz");
  const IdxArray lb = read_idx(prefix + "-labels-idx1-ubyte.gz");
  EPS_CHECK(im.dims.size() == 3 && im.dims[1] == 28 && im.dims[2] == 28, io_error, "'", prefix,
            "-images-idx3-ubyte.gz': expected N x 28 x 28 images");
  EPS_CHECK(lb.dims.size() == 1 && lb.count() == im.count(), io_error, "'", prefix, "-labels-idx1-ubyte.gz' has ",
            lb.count(), " labels for ", im.count(), " images");
  FashionMnist d;
  d.count = im.count();
  d.images.resize(im.data.size());
  for (std::size_t i = 0; i < im.data.size(); ++i) d.images[i] = float(im.data[i]) / 127.5f - 1.0f;
  d.labels = lb.data;
  for (std::uint8_t l : d.labels)
    EPS_CHECK(l <= 9, io_error, "'", prefix, "-labels-idx1-ubyte.gz' has a label ", int(l), ", expected 0..9");
  return d;
}

}  // namespace eps::cli
