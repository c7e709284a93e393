// SPDX-License-Identifier: MIT
#include "image_common.hpp"

#include <torch/cuda.h>
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

void write_model(const std::filesystem::path& path, const torch::nn::Module& net, const nlohmann::json& config,
                 std::int64_t step) {
  torch::serialize::OutputArchive ar, weights;
  ar.write("format", c10::IValue(std::string("eps.model")));
  ar.write("version", c10::IValue(std::int64_t{1}));
  ar.write("config", c10::IValue(config.dump()));
  ar.write("step", c10::IValue(step));
  net.save(weights);
  ar.write("weights", weights);
  std::ostringstream os;
  ar.save_to(os);
  write_file_atomic(path, os.str());
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
  std::string out;
  const auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<std::size_t>(size));
  };
  EPS_CHECK(stbi_write_png_to_func(sink, &out, static_cast<int>(W), static_cast<int>(H), 1, px.data(),
                                   static_cast<int>(W)) != 0,
            io_error, "png_grid: PNG encoding failed");
  return out;
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
