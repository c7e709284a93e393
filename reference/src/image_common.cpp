// SPDX-License-Identifier: MIT
#include "image_common.hpp"

#include <torch/cuda.h>
#include <torch/serialize/output-archive.h>

#include <iomanip>
#include <sstream>
#include <vector>

#include "eps/error.hpp"
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

void load_archive(const std::filesystem::path& path, torch::serialize::InputArchive& ar, const at::Device& device,
                  const std::string& what) {
  const std::string bytes = read_file(path);
  const auto bad = [&](const std::string& why) {
    detail::raise<io_error>("'", path.string(), "' is not a usable ", what, ": ", why);
  };
  // A torch archive is a zip file that ends with its central directory.
  const auto eocd = bytes.size() >= 22 ? bytes.rfind("PK\x05\x06") : std::string::npos;
  if (bytes.size() < 4 || bytes.compare(0, 4, "PK\x03\x04") != 0) bad("corrupt or foreign file (not a zip archive)");
  if (eocd == std::string::npos || bytes.size() - eocd > 22 + 65535)
    bad("corrupt file (truncated: the zip archive has no central directory at its end)");
  try {
    std::istringstream is(bytes);
    ar.load_from(is, device);
  } catch (const c10::Error& e) {
    bad(std::string("corrupt file (") + e.what_without_backtrace() + ")");
  }
}

nlohmann::json to_json(const UNetConfig& c) {
  return {{"in_channels", c.in_channels}, {"out_channels", c.out_channels},
          {"channels", c.channels},       {"multipliers", c.multipliers},
          {"blocks", c.blocks},           {"embedding", c.embedding},
          {"attention", c.attention}};
}

UNetConfig unet_config_from_json(const nlohmann::json& j) {
  UNetConfig c;
  c.in_channels = j.at("in_channels").get<std::int64_t>();
  c.out_channels = j.at("out_channels").get<std::int64_t>();
  c.channels = j.at("channels").get<std::int64_t>();
  c.multipliers = j.at("multipliers").get<std::vector<std::int64_t>>();
  c.blocks = j.at("blocks").get<std::int64_t>();
  c.embedding = j.at("embedding").get<std::int64_t>();
  c.attention = j.at("attention").get<bool>();
  return c;
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

ModelFile read_model(const std::filesystem::path& path, const at::Device& device) {
  torch::serialize::InputArchive ar;
  load_archive(path, ar, device, "eps model file");
  ModelFile m;
  try {
    c10::IValue v;
    EPS_CHECK(ar.try_read("format", v) && v.isString() && v.toStringRef() == "eps.model", io_error, "'", path.string(),
              "' is not an eps model file (no 'format' = eps.model; a training checkpoint.pt? use the ",
              "model.pt beside it)");
    ar.read("config", v);
    m.config = nlohmann::json::parse(v.toStringRef());
    ar.read("step", v);
    m.step = v.toInt();
    m.net = UNet(unet_config_from_json(m.config.at("network")));
    torch::serialize::InputArchive weights;
    ar.read("weights", weights);
    m.net->load(weights);
  } catch (const c10::Error& e) {
    detail::raise<io_error>("'", path.string(), "' is not a usable eps model file: a field is missing or malformed (",
                            e.what_without_backtrace(), ")");
  } catch (const nlohmann::json::exception& e) {
    detail::raise<io_error>("'", path.string(), "' is not a usable eps model file: its configuration is malformed (",
                            e.what(), ")");
  }
  m.net->to(device);
  m.net->eval();
  return m;
}

}  // namespace eps::cli
