// SPDX-License-Identifier: MIT
// EDM training on LibTorch (eps/networks/preconditioning.hpp, eps/training/edm.hpp, docs/training.md): the
// preconditioning against EDM's Table 1 written out per sample and against the exact denoiser of Gaussian data; the
// loss's two forms; EDM's unit-variance target; log-normal levels on every schedule; the moving average in closed form;
// Adam's state read back by position (eps/networks/torch_compat.hpp).
// Every available device.
#include "torch_common.hpp"  // first: see there
#include "eps/training/edm.hpp"

#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <sstream>

#include "eps/networks/torch_compat.hpp"

using namespace eps;
using namespace eps::libtorch;
using namespace eps::networks;
using namespace eps::training;
using namespace eps::test;

TEST_CASE("edm: the coefficients are EDM's Table 1 on x/alpha at sigma/alpha, and lambda c_out^2 = 1") {
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev);
    const double sd = 0.5;
    const EdmPreconditioning pre(sd);
    const std::vector<double> a{1.0, 1.0, 0.7, 0.05}, s{0.002, 80.0, 0.3, 0.999};
    const at::Tensor alpha = at::tensor(a, f64(dev)), sigma = at::tensor(s, f64(dev));
    const EdmCoefficients c = pre.coefficients(alpha, sigma);
    const at::Tensor lambda = pre.loss_weight(alpha, sigma);
    for (std::size_t i = 0; i < a.size(); ++i) {
      CAPTURE(i);
      // EDM's Table 1 at ς = σ/α, for x̄ = x/α: c_skip(ς)/α, c_out(ς), c_in(ς)/α, ¼ ln ς.
      const double r = s[i] / a[i], v = r * r + sd * sd;
      const auto at_i = [&](const at::Tensor& t) { return t[static_cast<std::int64_t>(i)].item<double>(); };
      CHECK(at_i(c.c_skip) == doctest::Approx(sd * sd / v / a[i]).epsilon(1e-14));
      CHECK(at_i(c.c_out) == doctest::Approx(r * sd / std::sqrt(v)).epsilon(1e-14));
      CHECK(at_i(c.c_in) == doctest::Approx(1 / std::sqrt(v) / a[i]).epsilon(1e-14));
      CHECK(at_i(c.c_noise) == doctest::Approx(0.25 * std::log(r)).epsilon(1e-14));
      CHECK(at_i(lambda) * at_i(c.c_out) * at_i(c.c_out) == doctest::Approx(1.0).epsilon(1e-13));
    }
  }
}

TEST_CASE("edm: with a zero network the preconditioned denoiser is the exact denoiser of N(0, sigma_d^2 I) data") {
  // For x0 ~ N(0, σ_d² I) and x = α x0 + σ n, E[x0 | x] = α σ_d² x/(α²σ_d² + σ²) = c_skip x: the skip path
  // alone is the optimum, so F ≡ 0 is the ideal raw network, and EDM's loss there is the posterior variance
  // over c_out², which is exactly 1 (the unit-variance target).
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev);
    const double sd = 0.5;
    const EdmPreconditioning pre(sd);
    const auto zero = [](const at::Tensor& x, const at::Tensor&) { return at::zeros_like(x); };
    Generator gen(11);
    const std::int64_t B = 64;
    const at::Tensor ratio = LogNormalNoise{}.sample(B, gen, dev);
    const Linear s;
    const TrainingLevels lv = training_levels(s, ratio);
    const at::Tensor x = at::randn({B, 1, 8, 8}, gen.on(dev), f64(dev));
    const at::Tensor d = pre.denoise(zero, x, lv.alpha, lv.sigma);
    const at::Tensor a = lv.alpha.view({B, 1, 1, 1}), g = lv.sigma.view({B, 1, 1, 1});
    CHECK(max_abs(d - a * (sd * sd) * x / (a * a * (sd * sd) + g * g)) <= 1e-14);

    const at::Tensor x0 = sd * at::randn({B, 1, 64, 64}, gen.on(dev), f64(dev));
    const at::Tensor n = at::randn({B, 1, 64, 64}, gen.on(dev), f64(dev));
    const double mean_loss = pre.loss(zero, x0, n, lv.alpha, lv.sigma).mean().item<double>();
    // B·4096 = 262144 squared standard normals: the mean has SD √(2/262144) ≈ 0.0028.
    CHECK(mean_loss == doctest::Approx(1.0).epsilon(0.015));
  }
}

TEST_CASE("edm: the loss is lambda ||D - x0||^2 for any network") {
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev);
    const EdmPreconditioning pre(0.5);
    // A nonlinear stand-in for a network that uses both of its inputs.
    const auto net = [](const at::Tensor& x, const at::Tensor& c_noise) {
      return at::tanh(1.3 * x + 0.2) * c_noise.view({-1, 1, 1, 1}) + 0.1 * x.square();
    };
    Generator gen(3);
    const std::int64_t B = 16;
    const at::Tensor alpha = at::rand({B}, gen.on(dev), f64(dev)) * 0.9 + 0.05;
    const at::Tensor sigma = at::rand({B}, gen.on(dev), f64(dev)) * 5 + 0.01;
    const at::Tensor x0 = at::randn({B, 2, 5, 5}, gen.on(dev), f64(dev)), n = at::randn_like(x0);
    const at::Tensor xt = alpha.view({B, 1, 1, 1}) * x0 + sigma.view({B, 1, 1, 1}) * n;
    const at::Tensor direct =
        pre.loss_weight(alpha, sigma) * (pre.denoise(net, xt, alpha, sigma) - x0).square().flatten(1).mean(1);
    const at::Tensor l = pre.loss(net, x0, n, alpha, sigma);
    CHECK(max_abs(l - direct) <= 1e-12 * max_abs(direct));
  }
}

TEST_CASE("edm: bad levels and shapes are named errors") {
  const EdmPreconditioning pre;
  const auto id = [](const at::Tensor& x, const at::Tensor&) { return x; };
  const at::Tensor x = at::zeros({2, 1, 3, 3}, at::kDouble);
  const at::Tensor one = at::ones({2}, at::kDouble);
  CHECK_THROWS_WITH_AS(pre.denoise(id, x, one, at::tensor({0.5, 0.0}, at::kDouble)),
                       doctest::Contains("sample 1 has alpha=1, sigma=0"), domain_error);
  CHECK_THROWS_AS(pre.denoise(id, x, at::tensor({0.0, 1.0}, at::kDouble), one), domain_error);
  CHECK_THROWS_AS(pre.denoise(id, x, one, at::tensor({NAN, 1.0}, at::kDouble)), domain_error);
  CHECK_THROWS_WITH_AS(pre.denoise(id, x, at::ones({3}, at::kDouble), at::ones({3}, at::kDouble)),
                       doctest::Contains("with B = 3"), shape_error);
  CHECK_THROWS_AS(pre.coefficients(one, at::ones({3}, at::kDouble)), shape_error);
  const auto bad_net = [](const at::Tensor& xi, const at::Tensor&) { return xi.flatten(1); };
  CHECK_THROWS_WITH_AS(pre.denoise(bad_net, x, one, one), doctest::Contains("the network returned [2,9]"), shape_error);
  CHECK_THROWS_AS(EdmPreconditioning(0.0), value_error);
  CHECK_THROWS_AS(pre.loss(id, x, at::zeros({2, 1, 3, 4}, at::kDouble), one, one), shape_error);
}

TEST_CASE("edm: log-normal levels have EDM's moments and map onto every schedule") {
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev);
    Generator g1(7), g2(7);
    const LogNormalNoise ln;
    const at::Tensor r = ln.sample(200000, g1, dev);
    const at::Tensor l = r.log();
    // Standard errors: 1.2/√2e5 ≈ 0.0027 for the mean, ≈ 0.0019 for the SD.
    CHECK(l.mean().item<double>() == doctest::Approx(-1.2).epsilon(0.012));
    CHECK(l.std().item<double>() == doctest::Approx(1.2).epsilon(0.01));
    CHECK(max_abs(ln.sample(200000, g2, dev) - r) == 0);  // the same seed, the same draws
    CHECK_THROWS_AS(ln.sample(0, g1, dev), value_error);

    const at::Tensor ratios = at::tensor({0.01, 0.5, 3.0, 1e6}, f64(dev));
    {  // linear: ς = t/(1 − t), so t = ς/(1 + ς), α = 1/(1 + ς), σ = ς/(1 + ς)
      const TrainingLevels lv = training_levels(Linear{}, ratios);
      CHECK(lv.t.device() == dev);
      CHECK(max_abs(lv.t - ratios / (1 + ratios)) <= 1e-12);
      CHECK(max_abs(lv.alpha - 1 / (1 + ratios)) <= 1e-12);
      CHECK(max_abs(lv.sigma / lv.alpha - ratios) <= 1e-9 * 1e6);
    }
    {  // VE (α = 1, σ from 0.002 to 80): σ = ς inside the range, clamped to its ends outside
      const VeEdm ve;
      const TrainingLevels lv = training_levels(ve, ratios);
      CHECK(max_abs(lv.alpha - 1) == 0);
      const std::vector<double> want{0.01, 0.5, 3.0, 80.0};
      for (std::int64_t i = 0; i < 4; ++i)
        CHECK(lv.sigma[i].item<double>() == doctest::Approx(want[static_cast<std::size_t>(i)]).epsilon(1e-12));
      CHECK(training_levels(ve, at::tensor({1e-5}, f64(dev))).sigma.item<double>() ==
            doctest::Approx(0.002).epsilon(1e-12));
    }
    CHECK_THROWS_AS(training_levels(Linear{}, at::tensor({-1.0}, f64(dev))), value_error);
  }
}

TEST_CASE("edm: the moving average is beta^n (theta0 - theta) + theta for constant weights") {
  torch::nn::Linear net(3, 2), other(3, 2), wrong(4, 2);
  Ema ema(*net);
  const auto snap = [](const torch::nn::Module& m) {
    std::vector<at::Tensor> out;
    for (const auto& p : m.parameters()) out.push_back(p.detach().clone());
    return out;
  };
  const std::vector<at::Tensor> start = snap(*net);
  {
    at::NoGradGuard ng;
    for (auto& p : net->parameters()) p.uniform_(-3, 3);
  }
  const std::vector<at::Tensor> now = snap(*net);
  const double beta = Ema::decay_for_half_life(32, 320);  // 0.5^(1/10)
  CHECK(beta == doctest::Approx(std::pow(0.5, 0.1)).epsilon(1e-15));
  CHECK(Ema::decay_for_half_life(500, 500) == 0.5);
  for (int i = 0; i < 7; ++i) ema.update(*net, beta);
  ema.copy_to(*other);
  const std::vector<at::Tensor> avg = snap(*other);
  for (std::size_t k = 0; k < start.size(); ++k) {
    const at::Tensor want = now[k] + std::pow(beta, 7) * (start[k] - now[k]);
    CHECK(max_abs(avg[k] - want) <= 1e-6);  // float32 parameters
  }
  {  // assign: a checkpoint's tensors back into a fresh average
    Ema restored(*net);
    std::vector<at::Tensor> saved;
    for (const auto& [name, t] : ema.named_tensors()) saved.push_back(t.clone());
    restored.assign(saved);
    restored.copy_to(*other);
    const std::vector<at::Tensor> back = snap(*other);
    for (std::size_t k = 0; k < back.size(); ++k) CHECK(max_abs(back[k] - avg[k]) == 0);
    saved.pop_back();
    CHECK_THROWS_AS(restored.assign(saved), shape_error);
    saved.push_back(at::zeros({5}));
    CHECK_THROWS_WITH_AS(restored.assign(saved), doctest::Contains("tensor 1 ('bias') must be [2]"), shape_error);
  }
  CHECK(ema.named_tensors().size() == 2);
  CHECK(ema.named_tensors()[0].first == "weight");
  CHECK_THROWS_WITH_AS(ema.update(*wrong, beta), doctest::Contains("'weight' [2,4]"), shape_error);
  CHECK_THROWS_AS(ema.update(*net, 1.5), value_error);
  CHECK_THROWS_AS(Ema::decay_for_half_life(0, 1), value_error);
}

TEST_CASE("compat: load_adam restores Adam's state by position, as the optimizer had it") {
  // Two stepped optimizers' archives (LibTorch's own format, keyed by TensorImpl address), read back into an
  // optimizer over other tensors (other addresses): every moment and step count must equal the original's, and one
  // more step from the same gradients must give the same weights. Across LibTorch 1.13 and 2.x the keys' format
  // differs (tests/torch_files/resume.sh covers that on the committed checkpoints).
  torch::manual_seed(3);
  torch::nn::Linear a(4, 3), b(3, 2);
  std::vector<at::Tensor> params = a->parameters();
  for (const auto& p : b->parameters()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-2));
  const at::Tensor x = at::randn({5, 4});
  const auto step = [&](torch::optim::Adam& o, torch::nn::Linear& l1, torch::nn::Linear& l2) {
    o.zero_grad();
    l2(at::tanh(l1(x))).square().sum().backward();
    o.step();
  };
  step(opt, a, b);
  step(opt, a, b);
  torch::serialize::OutputArchive out;
  opt.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);

  torch::nn::Linear a2(4, 3), b2(3, 2);
  {
    at::NoGradGuard ng;
    for (std::size_t i = 0; i < a->parameters().size(); ++i) a2->parameters()[i].copy_(a->parameters()[i]);
    for (std::size_t i = 0; i < b->parameters().size(); ++i) b2->parameters()[i].copy_(b->parameters()[i]);
  }
  std::vector<at::Tensor> params2 = a2->parameters();
  for (const auto& p : b2->parameters()) params2.push_back(p);
  torch::optim::Adam opt2(params2, torch::optim::AdamOptions(1e-2));
  torch::serialize::InputArchive in;
  std::istringstream is(bytes.str());
  in.load_from(is);
  eps::networks::compat::load_adam(opt2, in);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto& s1 = static_cast<const torch::optim::AdamParamState&>(
        *opt.state().at(eps::networks::compat::optimizer_state_key(params[i])));
    const auto& s2 = static_cast<const torch::optim::AdamParamState&>(
        *opt2.state().at(eps::networks::compat::optimizer_state_key(params2[i])));
    CHECK(s1.step() == 2);
    CHECK(s2.step() == s1.step());
    CHECK(at::equal(s1.exp_avg(), s2.exp_avg()));
    CHECK(at::equal(s1.exp_avg_sq(), s2.exp_avg_sq()));
  }
  step(opt, a, b);
  step(opt2, a2, b2);
  for (std::size_t i = 0; i < params.size(); ++i) CHECK(at::equal(params[i], params2[i]));

  // An archive of another network (one parameter fewer) is a named error, not a silent mismatch.
  torch::optim::Adam opt3(a2->parameters(), torch::optim::AdamOptions(1e-2));
  std::istringstream is2(bytes.str());
  torch::serialize::InputArchive in2;
  in2.load_from(is2);
  CHECK_THROWS_WITH_AS(eps::networks::compat::load_adam(opt3, in2), doctest::Contains("parameter"), eps::io_error);
}
