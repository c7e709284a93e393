// SPDX-License-Identifier: MIT
// What EPS training feeds a network (eps/network_input.hpp, eps/tasks.hpp, docs/training.md §5) and the
// pieces that fine-tune a prior into it (eps/networks/preconditioning.hpp, eps/training/edm.hpp): the pivot input
// against its closed form per pixel (masks) and per frequency (blurs, with LibTorch's own FFT), the observation images
// against what they mean (masked y, nearest-upsampled y, y), the task sampler's distributions and
// reproducibility, the zero-initialised widening (exactly the prior on random inputs, for a convolution and
// for the reference U-Net), and velocity prediction against the x0 loss it weights. CPU and CUDA.
#include "torch_common.hpp"  // first: see there
#include "eps/training/edm.hpp"
#include "eps/network_input.hpp"
#include "eps/tasks.hpp"

#include <torch/nn/modules/conv.h>

#include <map>

#include "unet.hpp"

using namespace eps;
using namespace eps::libtorch;
using namespace eps::networks;
using namespace eps::training;
using namespace eps::test;

namespace {
const ImageShape kImage{1, 28, 28};
}  // namespace

TEST_CASE("eps input: the pivot of a per-sample mask is its closed form per pixel, at sigma_y > 0 and = 0") {
  // A = diag(m): Σ̃ = (1/σ² + m/(α² σ_y²))⁻¹ per pixel, x̃ = Σ̃ (x_t/σ² + m y/(α σ_y²)) (docs/math.md E3);
  // at σ_y = 0 the measured pixels are α y exactly and the others x_t.
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev);
    const at::Tensor like = at::zeros({1}, f64(dev));
    TaskSampler<at::Tensor> tasks(kImage, {Task::random_inpainting}, 5);
    const auto [task, op] = tasks.draw(like, 3);
    REQUIRE(task == Task::random_inpainting);
    const auto& A = std::get<Mask<at::Tensor>>(op);
    Generator gen(2);
    const at::Tensor x0 = at::randn({3, 1, 28, 28}, gen.on(dev), f64(dev)), e = at::randn_like(x0);
    const at::Tensor m = A.mask();
    const at::Tensor y = A.apply(x0) + 0.05 * at::randn_like(x0);
    const double a = 0.8, s = 0.6, sy = 0.05;
    const at::Tensor xt = a * x0 + s * e;
    const ConditionalInput<at::Tensor> in = eps_input(A, xt, y, NoiseLevels{a, s, sy});
    const at::Tensor cov = 1.0 / (1.0 / (s * s) + m / (a * a * sy * sy));
    CHECK(max_abs(in.image - cov * (xt / (s * s) + m * y / (a * sy * sy))) <= 1e-12);
    CHECK(max_abs(in.observation - m * y) == 0.0);

    const at::Tensor y0 = A.apply(x0);
    const ConditionalInput<at::Tensor> exact = eps_input(A, xt, y0, NoiseLevels{a, s, 0.0});
    CHECK(max_abs(exact.image - (m * a * y0 + (1 - m) * xt)) <= 1e-12);
  }
}

TEST_CASE("eps input: the pivot of a blur batch is its closed form per frequency (LibTorch's FFT)") {
  // A = F⁻¹ diag(ĥ) F: per frequency x̃ = (x̂_t/σ² + conj(ĥ) ŷ/(α σ_y²)) / (1/σ² + |ĥ|²/(α² σ_y²)), with ĥ
  // computed here from the kernel placed with its centre at the origin, independently of eps::Blur.
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev);
    const at::Tensor like = at::zeros({1}, f64(dev));
    TaskSampler<at::Tensor> tasks(kImage, {Task::motion_deblur}, 9);
    const auto [task, op] = tasks.draw(like, 2);
    const auto& A = std::get<Blur<at::Tensor>>(op);
    REQUIRE(A.kernels().size() == 2);
    Generator gen(4);
    const at::Tensor x0 = at::randn({2, 1, 28, 28}, gen.on(dev), f64(dev)), e = at::randn_like(x0);
    const at::Tensor y = A.apply(x0) + 0.05 * at::randn_like(x0);
    const double a = 1.0, s = 0.3, sy = 0.05;
    const at::Tensor xt = a * x0 + s * e;
    const ConditionalInput<at::Tensor> in = eps_input(A, xt, y, NoiseLevels{a, s, sy});
    std::vector<at::Tensor> hs;
    for (const Kernel& k : A.kernels()) {
      at::Tensor pad = at::zeros({28, 28}, f64(dev));
      for (index_t i = 0; i < k.height; ++i)
        for (index_t j = 0; j < k.width; ++j)
          pad[(i - (k.height - 1) / 2 + 28) % 28][(j - (k.width - 1) / 2 + 28) % 28] += k(i, j);
      hs.push_back(at::fft_fft2(pad));  // unnormalised: the transfer function
    }
    const at::Tensor h = at::stack(hs).view({2, 1, 28, 28});
    const at::Tensor num = at::fft_fft2(xt) / (s * s) + h.conj() * at::fft_fft2(y) / (a * sy * sy);
    const at::Tensor ref = at::real(at::fft_ifft2(num / (1.0 / (s * s) + h.abs().square() / (a * a * sy * sy))));
    CHECK(max_abs(in.image - ref) <= 1e-11);
    CHECK(max_abs(in.observation - y) == 0.0);  // the blurred y itself
    CHECK(max_abs(A.apply(x0) - at::real(at::fft_ifft2(h * at::fft_fft2(x0)))) <= 1e-12);
  }
}

TEST_CASE("eps input: super-resolution's observation is y upsampled by nearest neighbour; Palette's is x_t") {
  for (const TorchCfg& cfg : torch_configs()) {
    CAPTURE(cfg.name());
    TaskSampler<at::Tensor> tasks(kImage, {Task::super_resolution}, 1);
    const auto [task, op] = tasks.draw(cfg.like(), 2);
    const auto& A = std::get<AvgPool<at::Tensor>>(op);
    const at::Tensor x0 = at::randn({2, 1, 28, 28}, cfg.like().options());
    const at::Tensor y = A.apply(x0);
    CHECK(max_abs(y - at::avg_pool2d(x0, 4)) <= cfg.tol);
    const at::Tensor up = y.repeat_interleave(4, 2).repeat_interleave(4, 3);
    CHECK(max_abs(observation_image(A, y) - up) == 0.0);
    const at::Tensor xt = x0 + 0.5 * at::randn_like(x0);
    const ConditionalInput<at::Tensor> p = palette_input(A, xt, y);
    CHECK(max_abs(p.image - xt) == 0.0);
    CHECK(max_abs(p.observation - up) == 0.0);
    CHECK_THROWS_AS(observation_image(A, x0), shape_error);  // y must be 7 × 7
  }
}

TEST_CASE("tasks: the training and evaluation distributions of docs/training.md §5") {
  const at::Tensor like = at::zeros({1}, at::kDouble);
  TaskSampler<at::Tensor> ri(kImage, {Task::random_inpainting}, 3);
  for (int rep = 0; rep < 20; ++rep) {
    const at::Tensor m = std::get<Mask<at::Tensor>>(ri.draw(like, 8).second).mask();
    // Per sample the missing fraction is U(0.5, 0.7); 784 Bernoulli pixels add an SD of at most 0.018.
    const at::Tensor missing = 1 - m.flatten(1).mean(1);
    CHECK(missing.min().item<double>() >= 0.5 - 0.08);
    CHECK(missing.max().item<double>() <= 0.7 + 0.08);
  }
  const at::Tensor ev = std::get<Mask<at::Tensor>>(ri.evaluation(Task::random_inpainting, like, 64)).mask();
  CHECK((1 - ev.mean()).item<double>() == doctest::Approx(0.7).epsilon(0.03));  // 50176 pixels: SD 0.002

  TaskSampler<at::Tensor> box(kImage, {Task::box_inpainting}, 4);
  for (int rep = 0; rep < 50; ++rep) {
    const at::Tensor m = std::get<Mask<at::Tensor>>(box.draw(like, 1).second).mask()[0][0];
    const at::Tensor rows = (m == 0).any(1).nonzero().flatten(), cols = (m == 0).any(0).nonzero().flatten();
    const std::int64_t h = rows.numel(), w = cols.numel();
    CHECK(h >= 7);
    CHECK(h <= 14);
    CHECK(w >= 7);
    CHECK(w <= 14);
    CHECK((m == 0).sum().item<std::int64_t>() == h * w);  // one rectangle
    CHECK(rows.min().item<std::int64_t>() >= 1);          // margin H/16 = 1
    CHECK(rows.max().item<std::int64_t>() <= 26);
  }
  const at::Tensor centre = std::get<Mask<at::Tensor>>(box.evaluation(Task::box_inpainting, like, 1)).mask()[0][0];
  CHECK((centre == 0).sum().item<std::int64_t>() == 14 * 14);
  CHECK(centre[7][7].item<double>() == 0.0);
  CHECK(centre[6][6].item<double>() == 1.0);
  // With box_eval_drawn, the evaluation draws one box per image from the training distribution (`eps image
  // eval --box drawn`): 64 boxes, each one rectangle with sides in [7, 14], not all the centred one.
  TaskSettings drawn_settings;
  drawn_settings.box_eval_drawn = true;
  TaskSampler<at::Tensor> drawn(kImage, {Task::box_inpainting}, 4, drawn_settings);
  const at::Tensor dm = std::get<Mask<at::Tensor>>(drawn.evaluation(Task::box_inpainting, like, 64)).mask();
  REQUIRE(dm.size(0) == 64);
  std::int64_t centred = 0;
  for (std::int64_t i = 0; i < 64; ++i) {
    const at::Tensor m = dm[i][0];
    const std::int64_t h = (m == 0).any(1).sum().item<std::int64_t>(), w = (m == 0).any(0).sum().item<std::int64_t>();
    CHECK((h >= 7 && h <= 14 && w >= 7 && w <= 14));
    CHECK((m == 0).sum().item<std::int64_t>() == h * w);
    centred += at::equal(m, centre) ? 1 : 0;
  }
  CHECK(centred < 4);  // the centred 14 x 14 box is one of 8 x 8 sizes, at one of several places

  TaskSampler<at::Tensor> motion(kImage, {Task::motion_deblur}, 5);
  const Blur<at::Tensor> mb = std::get<Blur<at::Tensor>>(motion.draw(like, 16).second);
  REQUIRE(mb.kernels().size() == 16);
  for (const Kernel& k : mb.kernels()) {
    CHECK(k.height == 7);
    CHECK(k.sum() == doctest::Approx(1.0).epsilon(1e-12));
  }
  const Blur<at::Tensor> g =
      std::get<Blur<at::Tensor>>(TaskSampler<at::Tensor>(kImage, {Task::gaussian_deblur}, 1).draw(like, 4).second);
  REQUIRE(g.kernels().size() == 1);
  CHECK(g.kernels()[0].height == 7);
  // The Gaussian of σ = 1 px: the centre weight is 1/Σ exp(−r²/2) over the 7 × 7 grid.
  double z = 0;
  for (int i = -3; i <= 3; ++i)
    for (int j = -3; j <= 3; ++j) z += std::exp(-(i * i + j * j) / 2.0);
  CHECK(g.kernels()[0](3, 3) == doctest::Approx(1 / z).epsilon(1e-12));

  // Multi-task: each task about one draw in five.
  TaskSampler<at::Tensor> all(kImage, std::vector<Task>(all_tasks.begin(), all_tasks.end()), 6);
  std::map<Task, int> count;
  for (int i = 0; i < 500; ++i) ++count[all.draw(like, 1).first];
  for (Task t : all_tasks) {
    CAPTURE(to_string(t));
    CHECK(count[t] >= 100 - 40);  // binomial(500, 0.2): SD 8.9
    CHECK(count[t] <= 100 + 40);
  }
  CHECK(task_from_string("gaussian_deblur") == Task::gaussian_deblur);
  CHECK_THROWS_WITH_AS(task_from_string("deblur"), doctest::Contains("unknown task 'deblur'"), value_error);
  CHECK_THROWS_AS(TaskSampler<at::Tensor>(kImage, {}, 1), value_error);
  TaskSettings odd;
  odd.pool = 3;
  CHECK_THROWS_WITH_AS(TaskSampler<at::Tensor>(kImage, {Task::super_resolution}, 1, odd),
                       doctest::Contains("pooling factor 3 must divide"), value_error);
}

TEST_CASE("tasks: a restored sampler draws what the original draws next") {
  const at::Tensor like = at::zeros({1}, at::kDouble);
  TaskSampler<at::Tensor> a(kImage, std::vector<Task>(all_tasks.begin(), all_tasks.end()), 17);
  for (int i = 0; i < 7; ++i) a.draw(like, 4);
  TaskSampler<at::Tensor> b(kImage, std::vector<Task>(all_tasks.begin(), all_tasks.end()), 99);
  b.set_state(a.state());
  const at::Tensor x = at::randn({4, 1, 28, 28}, at::kDouble);
  for (int i = 0; i < 10; ++i) {
    const auto [ta, oa] = a.draw(like, 4);
    const auto [tb, ob] = b.draw(like, 4);
    CHECK(ta == tb);
    const at::Tensor ya = std::visit([&](const auto& op) { return op.apply(x); }, oa);
    const at::Tensor yb = std::visit([&](const auto& op) { return op.apply(x); }, ob);
    CHECK(max_abs(ya - yb) == 0.0);
  }
  CHECK_THROWS_AS(b.set_state("not a state"), value_error);
}

TEST_CASE("widening: the widened first convolution, and the widened U-Net, equal the originals exactly") {
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev);
    at::manual_seed(3);
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(1, 8, 3).padding(1));
    conv->to(dev);
    torch::nn::Conv2d wide = widen_input_channels(conv, 1);
    CHECK(wide->weight.size(1) == 2);
    const at::Tensor x = at::randn({4, 1, 28, 28}, at::TensorOptions().device(dev));
    const at::Tensor obs = at::randn_like(x);
    torch::NoGradGuard ng;
    CHECK(at::equal(conv(x), wide(at::cat({x, obs}, 1))));

    cli::UNetConfig c;
    c.channels = 16;
    cli::UNet net(c);
    net->to(dev);
    // Non-zero output layers (a fresh U-Net outputs 0, which would make the comparison empty).
    for (auto& p : net->parameters()) p.normal_(0.0, 0.05);
    const at::Tensor noise = at::randn({4}, at::TensorOptions().device(dev));
    const at::Tensor before = net->forward(x, noise);
    REQUIRE(max_abs(before) > 0.01);
    net->widen_input(1);
    CHECK(net->config().in_channels == 2);
    CHECK(at::equal(net->forward(at::cat({x, obs}, 1), noise), before));
    CHECK_THROWS_AS(net->forward(x, noise), shape_error);
  }
  CHECK_THROWS_AS(widen_input_channels(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3)), 0), value_error);
}

TEST_CASE("velocity: the loss is the x0 loss weighted by ((alpha' - alpha sigma'/sigma)/c_v)^2, and x0 comes back") {
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev);
    const VelocityParametrization vp(0.5);
    const Linear s;
    Generator gen(8);
    const std::int64_t B = 12;
    const TrainingLevels lv = training_levels(s, LogNormalNoise{}.sample(B, gen, dev));
    const at::Tensor x0 = at::randn({B, 1, 6, 6}, gen.on(dev), f64(dev)), n = at::randn_like(x0);
    const at::Tensor xt = lv.alpha.view({B, 1, 1, 1}) * x0 + lv.sigma.view({B, 1, 1, 1}) * n;
    const auto net = [](const at::Tensor& x, const at::Tensor& c) { return at::sin(2 * x) + c.view({-1, 1, 1, 1}); };
    const at::Tensor x0_hat = vp.denoise(net, xt, lv);
    // Linear interpolant: α = 1 − t, σ = t, α' = −1, σ' = 1, so v = ε − x0 and c_v = √(σ_d² + 1).
    const at::Tensor cv = std::sqrt(0.25 + 1.0) * at::ones({B}, f64(dev));
    CHECK(max_abs(vp.velocity_scale(lv) - cv) <= 1e-14);
    const at::Tensor w = (-1 - lv.alpha / lv.sigma) / cv;
    const at::Tensor direct = w.square() * (x0_hat - x0).square().flatten(1).mean(1);
    const at::Tensor l = vp.loss_at(net, xt, x0, lv);
    CHECK(max_abs(l - direct) <= 1e-10 * max_abs(direct));
    // The exact target: a network that returns (ε − x0)/c_v has zero loss and denoises to x0.
    const auto oracle = [&](const at::Tensor&, const at::Tensor&) { return (n - x0) / cv.view({B, 1, 1, 1}); };
    CHECK(max_abs(vp.loss_at(oracle, xt, x0, lv)) <= 1e-24);
    CHECK(max_abs(vp.denoise(oracle, xt, lv) - x0) <= 1e-12);
  }
}

TEST_CASE("edm: loss_at on the pivot is lambda ||D(x~) - x0||^2") {
  const EdmPreconditioning pre(0.5);
  const auto net = [](const at::Tensor& x, const at::Tensor& c) { return at::tanh(x) * c.view({-1, 1, 1, 1}); };
  const std::int64_t B = 5;
  const at::Tensor alpha = at::ones({B}, at::kDouble), sigma = at::linspace(0.1, 3.0, B, at::kDouble);
  const at::Tensor x0 = at::randn({B, 1, 4, 4}, at::kDouble), xtilde = x0 + 0.1 * at::randn_like(x0);
  const at::Tensor direct =
      pre.loss_weight(alpha, sigma) * (pre.denoise(net, xtilde, alpha, sigma) - x0).square().flatten(1).mean(1);
  CHECK(max_abs(pre.loss_at(net, xtilde, x0, alpha, sigma) - direct) <= 1e-12 * max_abs(direct));
}

TEST_CASE("eps input plan: the once-per-run EPS input equals eps_input for every task, batch layout and edge level") {
  // EpsInputPlan caches s, s², Uᴴy and the observation image; per call it must give eps_input's x̃ exactly
  // (the same formula, docs/math.md §3) — per-sample and shared operators, y of batch 1 or B, σ_y = 0, α = 0.
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev);
    const at::Tensor like = at::zeros({1}, f64(dev));
    Generator gen(4);
    for (Task t : all_tasks) {
      const std::string name = to_string(t);
      CAPTURE(name);
      TaskSampler<at::Tensor> tasks(kImage, {t}, 3);
      const TaskOperator<at::Tensor> op = tasks.evaluation(t, like, 3);
      std::visit(
          [&](const auto& A) {
            const at::Tensor x0 = at::randn({3, 1, 28, 28}, gen.on(dev), f64(dev));
            const at::Tensor xt = 0.7 * x0 + 0.9 * at::randn_like(x0);
            // y of batch 1 is shared by x_t's batch only where the operator is shared too.
            bool shared_op = true;
            if constexpr (std::is_same_v<std::decay_t<decltype(A)>, Mask<at::Tensor>>)
              shared_op = A.mask().size(0) == 1;
            if constexpr (std::is_same_v<std::decay_t<decltype(A)>, Blur<at::Tensor>>)
              shared_op = A.kernels().size() == 1;
            for (const bool shared_y : {false, true}) {
              if (shared_y && !shared_op) continue;
              const at::Tensor clean = A.apply(x0);
              const at::Tensor y = (clean + 0.05 * at::randn_like(clean)).slice(0, 0, shared_y ? 1 : 3);
              const EpsInputPlan<std::decay_t<decltype(A)>> plan(A, y);
              PivotOptions po;
              po.check_range = false;
              for (const NoiseLevels& lv : {NoiseLevels{0.7, 0.9, 0.05}, NoiseLevels{0.7, 0.9, 0.0},
                                            NoiseLevels{0.0, 1.0, 0.05}, NoiseLevels{1.0, 1e-3, 0.05}}) {
                const ConditionalInput<at::Tensor> a = plan(xt, lv), b = eps_input(A, xt, y, lv, po);
                CHECK(max_abs(a.image - b.image) <= 1e-13 * std::max(1.0, max_abs(b.image)));
                CHECK(max_abs(a.observation - b.observation) == 0.0);
              }
            }
            CHECK_THROWS_AS(
                EpsInputPlan<std::decay_t<decltype(A)>>(A, A.apply(x0))(xt.slice(0, 0, 2), NoiseLevels{0.7, 0.9, 0.05}),
                shape_error);
          },
          op);
    }
  }
}
