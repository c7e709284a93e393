// SPDX-License-Identifier: MIT
#include "image_common.hpp"

#include <torch/cuda.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <iomanip>
#include <span>
#include <sstream>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

#include "eps/error.hpp"
#include "eps/image_metrics.hpp"
#include "idx.hpp"
#include "util.hpp"

namespace eps::cli {

at::Device parse_device(const std::string& s) {
  try {
    const at::Device d(s);
    EPS_CHECK(d.is_cpu() || (d.is_cuda() && at::hasCUDA()), value_error, "--device ", s,
              ": this LibTorch has no CUDA (or no GPU is visible); use --device cpu");
    if (d.is_cuda())
      EPS_CHECK((d.has_index() ? d.index() : 0) < static_cast<int>(torch::cuda::device_count()), value_error,
                "--device ", s, ": no such GPU");
    return d;
  } catch (const c10::Error&) {
    detail::raise<value_error>("--device: expected cpu, cuda or cuda:k, got '", s, "'");
  }
}

std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

std::string hex(std::uint64_t h) {
  std::ostringstream os;
  os << std::hex << std::setw(16) << std::setfill('0') << h;
  return os.str();
}

std::string weights_hash(const torch::nn::Module& m) {
  std::uint64_t h = 1469598103934665603ull;
  std::vector<at::Tensor> all = m.parameters();
  for (const auto& b : m.buffers()) all.push_back(b);
  for (const auto& t : all) {
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    h = fnv1a(c.data_ptr(), static_cast<std::size_t>(c.nbytes()), h);
  }
  return hex(h);
}

ImageData load_image_data(const std::string& dir, bool test_split, std::int64_t subset, const at::Device& device) {
  const FashionMnist fm = load_fashion_mnist(dir, !test_split);
  const std::int64_t n = fm.count;
  std::vector<std::int64_t> tr, va;
  for (std::int64_t i = 0; i < n; ++i) (!test_split && i % 30 == 0 ? va : tr).push_back(i);
  if (subset > 0) {
    EPS_CHECK(subset <= static_cast<std::int64_t>(tr.size()), value_error, "--train-subset: at most ", tr.size(),
              " images, got ", subset);
    tr.resize(static_cast<std::size_t>(subset));
  }
  // Views of fm's pixels and labels: index_select copies what it keeps.
  const at::Tensor all = at::from_blob(const_cast<float*>(fm.images.data()), {n, 1, fm.height, fm.width}, at::kFloat);
  const at::Tensor labels = at::from_blob(const_cast<std::uint8_t*>(fm.labels.data()), {n}, at::kByte).to(at::kLong);
  ImageData d;
  const at::Tensor ti = at::tensor(tr, at::kLong);
  d.train = all.index_select(0, ti).to(device);
  d.train_labels = labels.index_select(0, ti).to(device);
  if (!va.empty()) {
    const at::Tensor vi = at::tensor(va, at::kLong);
    d.val = all.index_select(0, vi).to(device);
    d.val_labels = labels.index_select(0, vi).to(device);
  }
  std::uint64_t h = fnv1a(fm.images.data(), fm.images.size() * sizeof(float));
  h = fnv1a(tr.data(), tr.size() * sizeof(std::int64_t), h);
  d.hash = hex(h);
  return d;
}

std::vector<Task> tasks_from_flag(const std::vector<std::string>& names) {
  std::vector<Task> t;
  for (const std::string& name : names) {
    if (name == "all") {
      t.insert(t.end(), all_tasks.begin(), all_tasks.end());
    } else {
      try {
        t.push_back(task_from_string(name));
      } catch (const value_error& e) {
        detail::raise<value_error>("--tasks: ", e.what());
      }
    }
  }
  return t;
}

namespace {
std::string encode_png(const std::vector<unsigned char>& px, std::int64_t W, std::int64_t H);
}

std::string png_grid(const at::Tensor& images, std::int64_t columns) {
  EPS_CHECK(images.dim() == 4 && images.size(1) == 1 && columns >= 1, shape_error,
            "png_grid: expected [N, 1, H, W] grey images");
  const std::int64_t n = images.size(0), h = images.size(2), w = images.size(3), pad = 2;
  const std::int64_t cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  const std::int64_t W = cols * (w + pad) + pad, H = rows * (h + pad) + pad;
  std::vector<unsigned char> px(static_cast<std::size_t>(W * H), 255);
  const at::Tensor u8 =
      ((images.detach().to(at::kCPU, at::kFloat).clamp(-1, 1) + 1) * 127.5).round().to(at::kByte).contiguous();
  const unsigned char* src = u8.data_ptr<unsigned char>();
  for (std::int64_t k = 0; k < n; ++k)
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j)
        px[static_cast<std::size_t>((pad + (k / cols) * (h + pad) + i) * W + pad + (k % cols) * (w + pad) + j)] =
            src[(k * h + i) * w + j];
  return encode_png(px, W, H);
}

namespace {
/// A 5 × 7 bitmap font: the rows of each glyph, top first, bit 4 the leftmost pixel.
struct Glyph {
  char c;
  unsigned char rows[7];
};
constexpr Glyph kFont[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'@', {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E}}, {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}}, {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}}, {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}}};

/// The rows of c's glyph (letters in upper case; '?' for a character the font lacks; nullptr for a space).
const unsigned char* glyph(char c) {
  if (c == ' ') return nullptr;
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  for (const Glyph& g : kFont)
    if (g.c == c) return g.rows;
  return glyph('?');
}

std::string encode_png(const std::vector<unsigned char>& px, std::int64_t W, std::int64_t H) {
  std::string out;
  const auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<std::size_t>(size));
  };
  EPS_CHECK(stbi_write_png_to_func(sink, &out, static_cast<int>(W), static_cast<int>(H), 1, px.data(),
                                   static_cast<int>(W)) != 0,
            io_error, "png: PNG encoding failed");
  return out;
}
}  // namespace

std::vector<std::string> label_lines(const std::string& label, std::size_t width) {
  std::vector<std::string> lines;
  std::string rest = label;
  while (!rest.empty()) {
    if (rest.size() <= width) {
      lines.push_back(rest);
      break;
    }
    // Break after the last space, '-' or before the last '@' that fits; else cut at the width.
    std::size_t cut = std::string::npos;
    for (std::size_t i = 1; i <= width && i < rest.size(); ++i)
      if (rest[i] == '@' || rest[i - 1] == ' ' || rest[i - 1] == '-') cut = i;
    if (cut == std::string::npos) cut = width;
    std::string line = rest.substr(0, cut);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    lines.push_back(line);
    rest = rest.substr(cut);
    while (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
  }
  return lines;
}

std::string png_grid_labelled(const at::Tensor& images, std::int64_t columns, const std::vector<std::string>& labels,
                              int zoom) {
  EPS_CHECK(images.dim() == 4 && images.size(1) == 1 && columns >= 1 && zoom >= 1, shape_error,
            "png_grid_labelled: expected [N, 1, H, W] grey images, columns >= 1 and zoom >= 1");
  EPS_CHECK(labels.size() == static_cast<std::size_t>(columns), shape_error, "png_grid_labelled: ", labels.size(),
            " labels for ", columns, " columns");
  const std::int64_t n = images.size(0), h = images.size(2) * zoom, w = images.size(3) * zoom, pad = 2;
  const std::int64_t cols = columns, rows = (n + cols - 1) / cols;
  const auto width = static_cast<std::size_t>(std::max<std::int64_t>(1, (w + 1) / 6));  // 6 px per character
  std::vector<std::vector<std::string>> lines;
  std::size_t header_lines = 0;
  for (const std::string& l : labels) {
    lines.push_back(label_lines(l, width));
    header_lines = std::max(header_lines, lines.back().size());
  }
  const std::int64_t header = static_cast<std::int64_t>(header_lines) * 9 + (header_lines > 0 ? 2 : 0);
  const std::int64_t W = cols * (w + pad) + pad, H = header + rows * (h + pad) + pad;
  std::vector<unsigned char> px(static_cast<std::size_t>(W * H), 255);
  for (std::int64_t c = 0; c < cols; ++c)
    for (std::size_t li = 0; li < lines[static_cast<std::size_t>(c)].size(); ++li) {
      const std::string& text = lines[static_cast<std::size_t>(c)][li];
      const std::int64_t x0 =
          pad + c * (w + pad) + std::max<std::int64_t>(0, (w - 6 * std::int64_t(text.size()) + 1) / 2);
      const std::int64_t y0 = 2 + static_cast<std::int64_t>(li) * 9;
      for (std::size_t k = 0; k < text.size(); ++k) {
        const unsigned char* g = glyph(text[k]);
        if (!g) continue;
        for (int r = 0; r < 7; ++r)
          for (int b = 0; b < 5; ++b)
            if (g[r] & (0x10 >> b)) {
              const std::int64_t x = x0 + 6 * static_cast<std::int64_t>(k) + b, y = y0 + r;
              if (x < W && y < H) px[static_cast<std::size_t>(y * W + x)] = 0;
            }
      }
    }
  const at::Tensor u8 =
      ((images.detach().to(at::kCPU, at::kFloat).clamp(-1, 1) + 1) * 127.5).round().to(at::kByte).contiguous();
  const unsigned char* src = u8.data_ptr<unsigned char>();
  const std::int64_t ih = images.size(2), iw = images.size(3);
  for (std::int64_t k = 0; k < n; ++k)
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j)
        px[static_cast<std::size_t>((header + pad + (k / cols) * (h + pad) + i) * W + pad + (k % cols) * (w + pad) +
                                    j)] = src[(k * ih + i / zoom) * iw + j / zoom];
  return encode_png(px, W, H);
}

std::optional<EvalPart> read_eval_part(const std::filesystem::path& path, const std::string& key, std::int64_t count,
                                       std::ostream& warn) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  try {
    torch::serialize::InputArchive ar;
    load_archive(path, ar, at::kCPU, "eps evaluation part");
    c10::IValue format, k, s, s1, v, nf;
    if (!ar.try_read("format", format) || !format.isString() || format.toStringRef() != "eps.eval_part" ||
        !ar.try_read("key", k) || !k.isString() || (!key.empty() && k.toStringRef() != key))
      return std::nullopt;
    EvalPart p;
    ar.read("samples", p.samples);
    EPS_CHECK(p.samples.defined() && p.samples.dim() == 4 && p.samples.size(0) == count && p.samples.size(1) == 1 &&
                  p.samples.size(2) == 28 && p.samples.size(3) == 28 && p.samples.scalar_type() == at::kFloat,
              io_error, "it holds samples of ", p.samples.defined() ? p.samples.sizes() : at::IntArrayRef{},
              ", expected [", count, ", 1, 28, 28] float32");
    ar.read("seconds", s);
    ar.read("seconds_b1", s1);
    ar.read("vjp", v);
    ar.read("nfe", nf);
    EPS_CHECK(s.isDouble() && s1.isDouble() && v.isInt() && nf.isInt(), io_error,
              "its timings or counts are of the wrong type");
    p.seconds = s.toDouble();
    p.seconds_b1 = s1.toDouble();
    p.vjp = static_cast<int>(v.toInt());
    p.nfe = static_cast<int>(nf.toInt());
    p.reused = true;
    return p;
  } catch (const std::exception& e) {
    warn << "eps image eval: ignoring unreadable '" << path.string() << "' (" << e.what() << "); recomputing it\n";
    return std::nullopt;
  }
}

void write_eval_part(const std::filesystem::path& path, const std::string& key, const EvalPart& p) {
  torch::serialize::OutputArchive ar;
  ar.write("format", c10::IValue(std::string("eps.eval_part")));
  ar.write("key", c10::IValue(key));
  ar.write("samples", p.samples);
  ar.write("seconds", c10::IValue(p.seconds));
  ar.write("seconds_b1", c10::IValue(p.seconds_b1));
  ar.write("vjp", c10::IValue(static_cast<std::int64_t>(p.vjp)));
  ar.write("nfe", c10::IValue(static_cast<std::int64_t>(p.nfe)));
  networks::save_archive(ar, path);
}

at::Tensor psnr_per_image(const at::Tensor& x, const at::Tensor& ref) {
  const at::Tensor a = x.detach().to(at::kCPU, at::kDouble).contiguous().flatten(1),
                   b = ref.detach().to(at::kCPU, at::kDouble).contiguous().flatten(1);
  const auto n = static_cast<std::size_t>(a.size(1));
  at::Tensor out = at::empty({a.size(0)}, at::kDouble);
  for (std::int64_t k = 0; k < a.size(0); ++k)
    out[k] = eps::psnr(std::span<const double>(a[k].data_ptr<double>(), n),
                       std::span<const double>(b[k].data_ptr<double>(), n));
  return out;
}

}  // namespace eps::cli
