// SPDX-License-Identifier: MIT
// Restore an image with a trained EPS network: the program to copy and adapt to your own data.
//
//   restore_image --model models/eps_multitask/model.pt --input data/test_0_boot.png \
//                 --task random_inpainting --device cpu --out restored.png
//
// Loads the network (eps::networks::read_model), draws the task's operator (eps::TaskSampler), simulates the
// measurement y = A x0 + σ_y n of the input image, samples the posterior with EDM's Euler sampler on the
// EPS denoiser (the pivot x̃ of (x_t, y) and the observation image, fed to the network), and writes
// [input | measurement | restored] as a PNG. With real measurements, replace the simulated y by yours.
#include <eps/backends/torch.hpp>
#include <eps/eps.hpp>
#include <eps/image_metrics.hpp>
#include <eps/network_input.hpp>
#include <eps/networks/model_file.hpp>
#include <eps/tasks.hpp>

#include <cstdlib>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#define EPS_PNG_IO_IMPLEMENTATION
#include "png_io.hpp"

namespace {

struct Args {
  std::string model = "models/eps_multitask/model.pt", input, task = "random_inpainting", device = "cpu",
              out = "restored.png";
  int steps = 20;
  double sigma_y = 0.05;
  unsigned seed = 1;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("option " + k + " needs a value");
    const std::string v = argv[++i];
    if (k == "--model")
      a.model = v;
    else if (k == "--input")
      a.input = v;
    else if (k == "--task")
      a.task = v;
    else if (k == "--device")
      a.device = v;
    else if (k == "--out")
      a.out = v;
    else if (k == "--steps")
      a.steps = std::stoi(v);
    else if (k == "--sigma-y")
      a.sigma_y = std::stod(v);
    else if (k == "--seed")
      a.seed = static_cast<unsigned>(std::stoul(v));
    else
      throw std::invalid_argument("unknown option " + k +
                                  " (expected --model, --input, --task, --device, --out, --steps, --sigma-y, --seed)");
  }
  if (a.input.empty()) throw std::invalid_argument("--input IMAGE.png is required");
  return a;
}

/// A grey PNG as [1, 1, H, W] in [−1, 1] (png_io.hpp checks the file and its size).
at::Tensor read_png(const std::string& path) {
  example::GreyImage img = example::read_grey_png(path);
  return at::from_blob(img.pixels.data(), {1, 1, img.height, img.width}, at::kByte).to(at::kFloat) / 127.5 - 1;
}

void write_png(const std::string& path, const std::vector<at::Tensor>& images) {
  const at::Tensor row = at::cat(images, 3).squeeze();  // side by side
  const at::Tensor u8 = ((row.clamp(-1, 1) + 1) * 127.5).round().to(at::kByte).contiguous();
  if (!stbi_write_png(path.c_str(), static_cast<int>(u8.size(1)), static_cast<int>(u8.size(0)), 1,
                      u8.data_ptr<unsigned char>(), static_cast<int>(u8.size(1))))
    throw std::runtime_error("cannot write '" + path + "'");
}

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  const at::Device device(a.device);
  torch::NoGradGuard no_grad;

  // The network and what it was trained for (EPS: input [x̃, observation image], EDM preconditioning).
  eps::networks::ModelFile m = eps::networks::read_model(a.model, device);
  if (m.config.value("objective", "") != "eps")
    throw std::invalid_argument("'" + a.model + "' is not an EPS model (objective " + m.config.value("objective", "?") +
                                ")");
  const at::Tensor x0 = read_png(a.input).to(device);
  const eps::ImageShape shape{1, x0.size(2), x0.size(3)};

  // The operator (one of the training tasks) and a simulated noisy measurement.
  const eps::Task task = eps::task_from_string(a.task);
  eps::TaskSampler<at::Tensor> tasks(shape, {task}, a.seed);
  const eps::TaskOperator<at::Tensor> op = tasks.evaluation(task, x0, 1);
  eps::libtorch::Generator gen(a.seed);

  at::Tensor restored, observation;
  std::visit(
      [&](const auto& A) {
        const at::Tensor clean = A.apply(x0);
        const at::Tensor y = clean + a.sigma_y * at::randn(clean.sizes(), gen.on(device), x0.options());
        // What the EPS input needs of (A, y), once: singular values, Uᴴy and the observation image.
        const eps::EpsInputPlan<std::decay_t<decltype(A)>> plan(A, y);
        observation = plan.observation();
        eps::networks::with_schedule(m.config, [&](const auto& s) {
          // The EPS posterior denoiser: the network fed the pivot and the observation image.
          const auto denoiser = [&](const at::Tensor& x, double t) {
            const eps::Coefficients c = eps::coefficients(s, t);
            return eps::networks::conditional_denoise(m, s, plan(x, eps::NoiseLevels{c.alpha, c.sigma, a.sigma_y}), t);
          };
          eps::EdmOptions eo;
          eo.steps = a.steps;
          const at::Tensor xT = eps::initial_noise(s, eps::edm_grid(s, eo).front(), x0, 1, shape.shape(), gen);
          restored = eps::edm_sample(denoiser, s, xT, eo).x;
          return 0;
        });
      },
      op);

  const at::Tensor r = restored.to(at::kCPU, at::kDouble).contiguous().flatten(),
                   t = x0.to(at::kCPU, at::kDouble).contiguous().flatten();
  const double p = eps::psnr(std::span<const double>(r.data_ptr<double>(), r.numel()),
                             std::span<const double>(t.data_ptr<double>(), t.numel()));
  write_png(a.out, {x0.cpu(), observation.cpu(), restored.cpu()});
  std::cout << a.task << " on " << a.input << " (sigma_y " << a.sigma_y << ", " << a.steps << " network evaluations on "
            << device.str() << "): PSNR " << p << " dB\nwrote " << a.out << " (input | measurement | restored)\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "restore_image: " << e.what() << "\n";
  return 2;
}
