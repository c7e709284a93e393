// SPDX-License-Identifier: MIT
// `eps image sample`: unconditional samples of a trained prior (docs/training.md §8) with the library's EDM
// sampler, as a PNG grid. `eps image restore`: posterior samples for one task on the first test images with
// a trained EPS or Palette model (or a prior through the zero-shot pivot), their PSNR, and a grid.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <span>

#include "commands.hpp"
#include "eps/backends/torch.hpp"
#include "eps/baselines.hpp"
#include "eps/image_metrics.hpp"
#include "eps/network_input.hpp"
#include "eps/networks/model.hpp"
#include "eps/tasks.hpp"
#include "eps/samplers.hpp"
#include "idx.hpp"
#include "image_common.hpp"
#include "util.hpp"

namespace eps::cli {
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
  const networks::Model m = networks::Model::load(o.model, device);
  EPS_CHECK(!m.conditional(), value_error, "eps image sample: '", o.model, "' is a ", m.objective_name(),
            " model; unconditional samples come from a prior (objective edm_prior)");
  torch::NoGradGuard ng;
  const AnySchedule& s = m.schedule();
  const auto denoiser = [&](const at::Tensor& x, double t) { return m.denoise(s, x, t); };
  EdmOptions eo;
  eo.steps = o.steps;
  eo.heun = o.heun;
  libtorch::Generator gen(o.seed);
  const at::Tensor like = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(device));
  const networks::Contract& c = m.contract();
  Stopwatch clock;
  const at::Tensor x =
      initial_noise(s, edm_grid(s, eo).front(), like, o.count, Shape{c.channels, c.height, c.width}, gen);
  const SampleResult<at::Tensor> r = edm_sample(denoiser, s, x, eo);
  write_file_atomic(o.out, png_grid(r.x, o.columns));
  std::cout << "sampled " << o.count << " images with " << r.nfe << " network evaluations each ("
            << (o.heun ? "EDM Heun" : "EDM Euler") << ", " << o.steps << " levels) in " << clock.seconds()
            << " s\nwrote " << o.out << "\n";
  return 0;
}

struct RestoreOptions {
  std::string model, task = "random_inpainting", out = "restore.png", device = "cpu", data = kFashionMnistDir;
  std::int64_t count = 8;
  int steps = 20, threads = 0;
  double sigma_y = 0.05;
  std::uint64_t seed = 1;
};

int restore(const RestoreOptions& o) {
  const at::Device device = parse_device(o.device);
  if (o.threads > 0) at::set_num_threads(o.threads);
  const networks::Model m = networks::Model::load(o.model, device);
  const std::string objective = m.objective_name();
  const Task task = task_from_string(o.task);
  const ImageData test = load_image_data(o.data, true, 0, device);
  EPS_CHECK(o.count <= test.train.size(0), value_error, "--count: at most ", test.train.size(0), " test images");
  const at::Tensor x0 = test.train.slice(0, 0, o.count);
  TaskSampler<at::Tensor> tasks(ImageShape{1, 28, 28}, {task}, o.seed);
  const TaskOperator<at::Tensor> op = tasks.evaluation(task, x0, o.count);
  libtorch::Generator gen(o.seed);
  torch::NoGradGuard ng;
  Stopwatch clock;
  at::Tensor samples, observation;
  int nfe = 0;
  std::visit(
      [&](const auto& A) {
        const at::Tensor clean = A.apply(x0);
        const at::Tensor y = clean + o.sigma_y * at::randn(clean.sizes(), gen.on(device), clean.options());
        observation = observation_image(A, y);
        const AnySchedule& s = m.schedule();
        EdmOptions eo;
        eo.steps = o.steps;
        const at::Tensor xT = initial_noise(s, edm_grid(s, eo).front(), x0, o.count, Shape{1, 28, 28}, gen);
        const auto run = [&]() {
          if (objective == "edm_prior") {  // the zero-shot pivot: the prior fed x̃ at the current time
            const auto prior = [&](const at::Tensor& x, double t) { return m.denoise(s, x, t); };
            return edm_sample(zero_shot_denoiser(prior, s, A, y, o.sigma_y), s, xT, eo);
          }
          const EpsInputPlan<std::decay_t<decltype(A)>> plan(A, y);  // the per-run part of the pivot, once
          const auto posterior = [&](const at::Tensor& x, double t) {
            const Coefficients c = coefficients(s, t);
            return m.conditional_denoise(
                s, objective == "eps" ? plan(x, NoiseLevels{c.alpha, c.sigma, o.sigma_y}) : palette_input(A, x, y), t);
          };
          return edm_sample(posterior, s, xT, eo);
        };
        const SampleResult<at::Tensor> r = run();
        samples = r.x;
        nfe = r.nfe;
      },
      op);
  const double secs = clock.seconds();
  const at::Tensor p = psnr_per_image(samples, x0), po = psnr_per_image(observation, x0);
  const auto mean_se = [](const at::Tensor& v) {
    std::ostringstream os;
    os.precision(4);
    os << v.mean().item<double>() << " ± "
       << (v.numel() > 1 ? v.std().item<double>() / std::sqrt(double(v.numel())) : 0.0);
    return os.str();
  };
  write_file_atomic(o.out, png_grid(at::cat({x0, observation, samples}), o.count));
  std::cout << objective << " model '" << o.model << "', " << o.task << " (sigma_y " << o.sigma_y << "), " << o.count
            << " test images, EDM Euler " << nfe << " NFE, " << secs
            << " s\nPSNR of one posterior sample: " << mean_se(p) << " dB; of the observation image: " << mean_se(po)
            << " dB\nwrote " << o.out << " (rows: truth, observation, sample)\n";
  return 0;
}

}  // namespace

void add_image_restore_command(CLI::App& image) {
  auto o = std::make_shared<RestoreOptions>();
  CLI::App* c = image.add_subcommand("restore", "Posterior samples of the first test images for one task, with PSNR");
  c->add_option("--model", o->model, "model.pt: an EPS or Palette model, or a prior (zero-shot pivot)")->required();
  c->add_option("--task", o->task,
                "random_inpainting, box_inpainting, super_resolution, gaussian_deblur or motion_deblur");
  c->add_option("--count", o->count, "Test images")->check(CLI::Range(std::int64_t{1}, std::int64_t{10000}));
  c->add_option("--steps", o->steps, "EDM Euler steps (network evaluations)")->check(CLI::Range(1, 10000));
  c->add_option("--sigma-y", o->sigma_y, "Measurement noise")->check(CLI::Range(0.0, 10.0));
  c->add_option("--seed", o->seed, "Seed of the operator, the measurement noise and the sampler's initial noise");
  c->add_option("--out", o->out, "PNG grid");
  c->add_option("--data", o->data, "Directory of the Fashion-MNIST IDX files");
  c->add_option("--device", o->device, "cpu, cuda or cuda:k");
  c->add_option("--threads", o->threads, "CPU threads (0: LibTorch's default)")->check(CLI::Range(0, 1024));
  c->callback([o] { throw CommandResult{restore(*o)}; });
}

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
