// SPDX-License-Identifier: MIT
// `eps image sample`: unconditional samples of a trained prior (docs/training.md §8) with the library's EDM
// sampler, as a PNG grid (and optionally the raw samples).
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "eps/backends/torch.hpp"
#include "eps/backends/torch_edm.hpp"
#include "eps/samplers.hpp"
#include "image_common.hpp"
#include "util.hpp"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

namespace eps::cli {

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

std::function<at::Tensor(const at::Tensor&, const at::Tensor&)> raw_network(UNet net) {
  return [net](const at::Tensor& x, const at::Tensor& c) mutable { return net->forward(x, c); };
}

namespace {

struct SampleOptions {
  std::string model, out = "samples.png", device = "cpu";
  std::int64_t count = 64, columns = 8;
  int steps = 18, threads = 0;
  bool heun = true;
  std::uint64_t seed = 1;
};

int sample(const SampleOptions& o) {
  const at::Device device = parse_device(o.device);
  if (o.threads > 0) at::set_num_threads(o.threads);
  ModelFile m = read_model(o.model, device);
  EPS_CHECK(m.config.value("objective", "") == "edm_prior", value_error, "eps image sample: '", o.model, "' is a ",
            m.config.value("objective", "?"), " model; unconditional samples come from a prior (objective edm_prior)");
  const std::string schedule = m.config.value("schedule", "ve"), output = m.config.value("output", "x0");
  torch::NoGradGuard ng;
  const auto run = [&](const auto& s) {
    UNet net = m.net;
    const auto denoiser = [&](const at::Tensor& x, double t) {
      const Coefficients c = coefficients(s, t);
      const std::int64_t b = x.size(0);
      const auto full = [&](double v) {
        return at::full({b}, v, at::TensorOptions().dtype(at::kDouble).device(device));
      };
      if (output == "velocity") {
        libtorch::TrainingLevels lv{full(t), full(c.alpha), full(c.sigma), full(c.alpha_dot), full(c.sigma_dot)};
        return libtorch::VelocityParametrization(0.5).denoise(raw_network(net), x, lv);
      }
      return libtorch::EdmPreconditioning(0.5).denoise(raw_network(net), x, full(c.alpha), full(c.sigma));
    };
    EdmOptions eo;
    eo.steps = o.steps;
    eo.heun = o.heun;
    libtorch::Generator gen(o.seed);
    const at::Tensor like = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(device));
    const double t0 = edm_grid(s, eo).front();
    const at::Tensor x = initial_noise(s, t0, like, o.count, Shape{1, 28, 28}, gen);
    return edm_sample(denoiser, s, x, eo);
  };
  Stopwatch clock;
  const SampleResult<at::Tensor> r = schedule == "ve" ? run(VeEdm{}) : run(Linear{});
  write_file_atomic(o.out, png_grid(r.x, o.columns));
  std::cout << "sampled " << o.count << " images with " << r.nfe << " network evaluations each ("
            << (o.heun ? "EDM Heun" : "EDM Euler") << ", " << o.steps << " levels) in " << clock.seconds()
            << " s\nwrote " << o.out << "\n";
  return 0;
}

}  // namespace

void add_image_sample_command(CLI::App& image) {
  auto o = std::make_shared<SampleOptions>();
  CLI::App* c = image.add_subcommand("sample", "Unconditional samples of a trained prior, as a PNG grid");
  c->add_option("--model", o->model, "model.pt of a prior")->required();
  c->add_option("--out", o->out, "PNG file of the grid");
  c->add_option("--count", o->count, "Number of samples")->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
  c->add_option("--columns", o->columns, "Images per row")->check(CLI::Range(std::int64_t{1}, std::int64_t{256}));
  c->add_option("--steps", o->steps, "Noise levels of EDM's grid")->check(CLI::Range(1, 10000));
  c->add_flag("--heun,!--euler", o->heun, "Heun (default; 2·steps − 1 evaluations) or Euler (steps)");
  c->add_option("--seed", o->seed, "Seed of the initial noise");
  c->add_option("--device", o->device, "cpu, cuda or cuda:k");
  c->add_option("--threads", o->threads, "CPU threads (0: LibTorch's default)")->check(CLI::Range(0, 1024));
  c->callback([o] { throw CommandResult{sample(*o)}; });
}

}  // namespace eps::cli
