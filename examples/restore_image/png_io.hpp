// SPDX-License-Identifier: MIT
// The example's image input (no LibTorch here, so that tests/fuzz/fuzz_png.cpp can fuzz it on its own): a PNG
// as grey pixels, with the sizes the shipped network and the tasks accept.
// Exactly one translation unit defines EPS_PNG_IO_IMPLEMENTATION before including this: it compiles
// stb_image there, with every allocation capped (stb's zlib decoder doubles its buffer without a bound: a
// 200-byte damaged PNG asked for 2 GiB; tests/fuzz/regressions/png).
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace example {

/// The largest allocation stb may make: a 1024 × 1024 image at 16 bits and 4 channels needs 8 MiB.
inline constexpr std::size_t kStbMaxAllocation = std::size_t{64} << 20;
inline void* stb_malloc(std::size_t n) { return n > kStbMaxAllocation ? nullptr : std::malloc(n); }
inline void* stb_realloc(void* p, std::size_t n) { return n > kStbMaxAllocation ? nullptr : std::realloc(p, n); }

}  // namespace example

#ifdef EPS_PNG_IO_IMPLEMENTATION
// PNG only: stb's other decoders are not needed here, and its JPEG decoder reads past a Huffman table on
// damaged input (UBSan; tests/fuzz/regressions/png).
#define STBI_ONLY_PNG
#define STB_IMAGE_IMPLEMENTATION
#define STBI_MALLOC(sz) example::stb_malloc(sz)
#define STBI_REALLOC(p, newsz) example::stb_realloc(p, newsz)
#define STBI_FREE(p) std::free(p)
#endif
// GCC 14 flags stb's 16-bit transparency key (tc16) as maybe uninitialized where stbi__parse_png_file inlines
// stbi__compute_transparency16; it is written whenever that function is reached (a tRNS chunk of a 16-bit image
// sets has_trans and tc16 together). A false positive in a third-party header: silenced for that header only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace example {

/// Grey pixels, row-major, one byte each.
struct GreyImage {
  int width = 0, height = 0;
  std::vector<unsigned char> pixels;
};

/// The file's bytes (at most 64 MiB), or std::runtime_error naming it.
inline std::vector<unsigned char> read_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw std::runtime_error("cannot open '" + path + "'");
  std::vector<unsigned char> b;
  unsigned char chunk[1 << 16];
  for (std::size_t r; (r = std::fread(chunk, 1, sizeof chunk, f.get())) > 0;) {
    b.insert(b.end(), chunk, chunk + r);
    if (b.size() > kStbMaxAllocation) throw std::runtime_error("'" + path + "' is larger than 64 MiB");
  }
  if (std::ferror(f.get())) throw std::runtime_error("cannot read '" + path + "'");
  return b;
}

/// A PNG without its zero-length IDAT chunks (they hold no data; stb 2.27 copies zero bytes to a null buffer
/// for one that comes first, undefined behaviour that UBSan reports: tests/fuzz/regressions/png). Anything else
/// is returned as it is.
inline std::vector<unsigned char> without_empty_idat(std::vector<unsigned char> b) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (b.size() < 8 || !std::equal(sig, sig + 8, b.begin())) return b;
  std::vector<unsigned char> out(b.begin(), b.begin() + 8);
  std::size_t at = 8;
  while (at + 8 <= b.size()) {  // length and type present; the data and CRC may be cut short
    const std::size_t len = (std::size_t(b[at]) << 24) | (std::size_t(b[at + 1]) << 16) |
                            (std::size_t(b[at + 2]) << 8) | std::size_t(b[at + 3]);
    const std::size_t end = at + 8 + std::min(len + 4, b.size() - at - 8);
    if (!(len == 0 && std::equal(b.begin() + long(at) + 4, b.begin() + long(at) + 8, "IDAT")))
      out.insert(out.end(), b.begin() + long(at), b.begin() + long(end));
    at = end;
  }
  out.insert(out.end(), b.begin() + long(at), b.end());
  return out;
}

/// Reads `path` as a grey image. std::runtime_error naming the file: unreadable or not an image (stb's
/// reason), or sides that are not multiples of 4 in [4, 1024] (the U-Net halves them twice; 4× pooling).
inline GreyImage read_grey_png(const std::string& path) {
  const std::vector<unsigned char> bytes = without_empty_idat(read_file(path));
  const auto* data = bytes.data();
  const int size = static_cast<int>(bytes.size());
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(data, size, &w, &h, &n))
    throw std::runtime_error("cannot read '" + path + "' as an image: " + stbi_failure_reason());
  if (w < 4 || h < 4 || w > 1024 || h > 1024 || w % 4 != 0 || h % 4 != 0)
    throw std::runtime_error("'" + path + "' is " + std::to_string(w) + " x " + std::to_string(h) +
                             "; expected sides that are multiples of 4 between 4 and 1024");
  const std::unique_ptr<unsigned char, void (*)(void*)> px(stbi_load_from_memory(data, size, &w, &h, &n, 1),
                                                           stbi_image_free);
  if (!px) throw std::runtime_error("cannot read '" + path + "' as an image: " + stbi_failure_reason());
  return GreyImage{w, h, std::vector<unsigned char>(px.get(), px.get() + static_cast<std::size_t>(w) * h)};
}

}  // namespace example
