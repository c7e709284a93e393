// SPDX-License-Identifier: MIT
// The differentiable-denoiser interface on LibTorch: the vector–Jacobian products of a denoiser written in
// ATen, by autograd (eps::libtorch::AutogradDenoiser), against the closed form of the same prior
// (second-order Tweedie, analytic::IsotropicMixture in Eigen); and the gradient-based baselines (DPS, ΠGDM)
// run through autograd on LibTorch against the same baselines on Eigen with the closed-form VJP, step for
// step; the VJP and DPS's guidance through a small convolutional network against finite differences.
// Every available device.
#include "torch_common.hpp"  // first: see there
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/utils.h>

#include "eps/analytic/isotropic_mixture.hpp"
#include "eps/backends/torch_autograd.hpp"

using namespace eps;
using namespace eps::test;
using T = at::Tensor;

namespace {

/// E[x0 | x_t] of the isotropic mixture Σ_k w_k N(μ_k, c_k I), written in differentiable ATen operations:
/// responsibilities softmax_k(log w_k − ½ d log v_k − ‖x − α μ_k‖²/(2 v_k)), v_k = α² c_k + σ², and means
/// μ_k + (α c_k/v_k)(x − α μ_k).
struct AtenMixture {
  at::Tensor mu, logw, c;  ///< K × d, K, K
  VeEdm s;
  at::Tensor operator()(const at::Tensor& x, double t) const {
    const Coefficients co = coefficients(s, t);
    const double a = co.alpha, sg = co.sigma;
    const at::Tensor xf = x.reshape({x.size(0), -1});
    const at::Tensor v = c * (a * a) + sg * sg;
    const at::Tensor res = xf.unsqueeze(1) - mu.unsqueeze(0) * a;
    const at::Tensor logits = logw - 0.5 * double(mu.size(1)) * v.log() - 0.5 * res.square().sum(2) / v;
    const at::Tensor p = at::softmax(logits, 1);
    const at::Tensor means = mu.unsqueeze(0) + res * (c * a / v).unsqueeze(0).unsqueeze(2);
    return (p.unsqueeze(2) * means).sum(1).reshape(x.sizes());
  }
};

struct Problem {
  analytic::IsotropicMixture prior;
  AtenMixture aten;
};

Problem make_problem(const at::Tensor& like, std::mt19937_64& gen) {
  const Eigen::Index d = 16;
  std::vector<double> w{0.2, 0.5, 0.3}, c{0.5, 1.0, 2.0};
  const Mat means = 2.0 * randn_mat(d, 3, gen);
  analytic::IsotropicMixture prior(w, means, c);
  const auto opts = at::TensorOptions().dtype(like.scalar_type()).device(like.device());
  std::vector<double> logw;
  for (double v : prior.weights()) logw.push_back(std::log(v));
  return {prior,
          {reference::from_matrix(like, means, Shape{d}),  // K samples of {d}
           at::tensor(logw, at::TensorOptions().dtype(at::kDouble)).to(opts),
           at::tensor(c, at::TensorOptions().dtype(at::kDouble)).to(opts), VeEdm{}}};
}

}  // namespace

TEST_CASE("torch autograd: the VJP of a denoiser written in ATen equals the closed form") {
  // Bound 1e-12 relative (float64): both are exact; they differ by round-off only.
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev.str());
    const T like = libtorch::like(at::kDouble, dev);
    std::mt19937_64 gen(31);
    const Problem p = make_problem(like, gen);
    auto D = libtorch::autograd_denoiser(p.aten);
    for (double t : {0.02, 0.1, 0.5}) {
      CAPTURE(t);
      const Coefficients c = coefficients(VeEdm{}, t);
      const Mat xm = 3 * randn_mat(16, 4, gen), vm = randn_mat(16, 4, gen);
      const T x = reference::from_matrix(like, xm, Shape{16}), v = reference::from_matrix(like, vm, Shape{16});
      CHECK(rel_error(reference::to_matrix(D(x, t)), p.prior.denoise_isotropic(xm, c.alpha, c.sigma)) <= 1e-12);
      const Mat closed = p.prior.denoiser_vjp(xm, c.alpha, c.sigma, vm);
      CHECK(rel_error(reference::to_matrix(D.vjp(x, t, v)), closed) <= 1e-12);
      // One forward and one backward, with v a function of x̂0.
      const auto [x0, g] = denoise_and_vjp<T>(D, x, t, [&](const T&) { return v; });
      CHECK(rel_error(reference::to_matrix(g), closed) <= 1e-12);
      CHECK(!g.requires_grad());
      CHECK(!x0.requires_grad());
    }
  }
}

TEST_CASE("torch autograd: DPS and PiGDM through autograd on LibTorch equal the closed-form VJP route on Eigen") {
  // The same prior, operator, measurement and initial state; bound 1e-10 on every state of the trajectory.
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev.str());
    const T like = libtorch::like(at::kDouble, dev);
    std::mt19937_64 gen(37);
    const Problem p = make_problem(like, gen);
    const ImageShape g{1, 4, 4};
    const std::vector<double> mv = random_mask(g, 0.5, gen);
    const Mask<Mat> Ae(Mat{}, mv, g.shape());
    const Mask<T> At(like, mv, g.shape());
    const Mat ye = Ae.apply(p.prior.sample(1, gen)), xe = 80.0 * randn_mat(16, 3, gen);
    const T yt = reference::from_matrix(like, ye, g.shape()), xt = reference::from_matrix(like, xe, g.shape());
    const VeEdm s;
    analytic::ScheduledDenoiser<analytic::IsotropicMixture, VeEdm> De{p.prior, s};
    // The ATen mixture works on flattened samples; the operators on 1 × 4 × 4 images.
    auto Dt = libtorch::autograd_denoiser(
        [m = p.aten](const T& x, double t) { return m(x.reshape({x.size(0), 16}), t).reshape(x.sizes()); });
    EdmOptions o;
    o.steps = 12;
    const auto compare = [&](const auto& run_e, const auto& run_t) {
      std::vector<Mat> te, tt;
      const auto re = run_e([&](const StepInfo<Mat>& i) { te.push_back(*i.x); });
      const auto rt = run_t([&](const StepInfo<T>& i) { tt.push_back(reference::to_matrix(*i.x)); });
      REQUIRE(te.size() == tt.size());
      for (std::size_t i = 0; i < te.size(); ++i) CHECK(rel_error(tt[i], te[i]) <= 1e-10);
      CHECK(re.vjp == rt.vjp);
    };
    SUBCASE("DPS") {
      compare([&](auto cb) { return dps_sample(De, s, Ae, ye, xe, o, DpsOptions{0.8}, cb); },
              [&](auto cb) { return dps_sample(Dt, s, At, yt, xt, o, DpsOptions{0.8}, cb); });
    }
    SUBCASE("PiGDM") {
      int ne = 0, nt = 0;
      compare(
          [&](auto cb) { return edm_sample(pigdm_denoiser(De, s, Ae, ye, 0.05, {}, &ne), s, xe, o, cb); },
          [&](auto cb) { return edm_sample(pigdm_denoiser(std::ref(Dt), s, At, yt, 0.05, {}, &nt), s, xt, o, cb); });
      CHECK(ne == o.steps);
      CHECK(nt == o.steps);
    }
  }
}

TEST_CASE("torch autograd: through a small network, the VJP and DPS's guidance equal central finite differences") {
  // f(x, t) = x/(1 + σ²) + σ·N(x) with N a two-layer convolutional network (SiLU), float64. Checks every
  // coordinate of vᵀ ∂f/∂x, and the DPS correction of one step, −ζ ∇_x ‖y − A f(x, t0)‖, against central
  // differences (h = 1e-6: truncation O(h²) and round-off O(ε/h) both ~1e-10 here).
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev.str());
    torch::manual_seed(3);
    torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)), torch::nn::SiLU(),
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 1, 3).padding(1)));
    net->to(dev, at::kDouble);
    const VeEdm s;
    auto f = [net, s](const T& x, double t) mutable {
      const double sg = coefficients(s, t).sigma;
      return x / (1 + sg * sg) + sg * net->forward(x);
    };
    auto D = libtorch::autograd_denoiser(f);
    const auto opts = at::TensorOptions().dtype(at::kDouble).device(dev);
    const T x = at::randn({2, 1, 4, 4}, opts), v = at::randn({2, 1, 4, 4}, opts);
    const double t = 0.7, h = 1e-6;
    torch::NoGradGuard ng;
    const T g = D.vjp(x, t, v);
    T fd = at::zeros_like(x);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      T e = at::zeros_like(x);
      e.view(-1)[i] = h;
      fd.view(-1)[i] = ((v * (f(x + e, t) - f(x - e, t))).sum() / (2 * h)).item<double>();
    }
    CHECK(max_abs(g - fd) <= 1e-8 * std::max(1.0, max_abs(fd)));

    // One DPS step from σ/α = 1 to 0 returns f(x, t0) + ζ g with g = −∇‖y − A f(x, t0)‖.
    std::mt19937_64 gen(9);
    const ImageShape gs{1, 4, 4};
    const Mask<T> A(libtorch::like(at::kDouble, dev), random_mask(gs, 0.5, gen), gs.shape());
    const T y = A.apply(at::randn({2, 1, 4, 4}, opts));
    EdmOptions o;
    o.steps = 1;
    o.ratio_max = 1.0;
    const double t0 = edm_grid(s, o).front(), zeta = 0.3;
    const auto r = dps_sample(D, s, A, y, x, o, DpsOptions{zeta});
    CHECK(r.nfe == 1);
    CHECK(r.vjp == 1);
    const T step = (r.x - f(x, t0)) / zeta;
    const auto objective = [&](const T& z) {  // per sample: ‖y − A f(z)‖ summed over the batch
      return (y - A.apply(f(z, t0))).flatten(1).norm(2, 1).sum().item<double>();
    };
    T grad = at::zeros_like(x);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      T e = at::zeros_like(x);
      e.view(-1)[i] = h;
      grad.view(-1)[i] = (objective(x + e) - objective(x - e)) / (2 * h);
    }
    CHECK(max_abs(step + grad) <= 1e-7 * std::max(1.0, max_abs(grad)));
  }
}
