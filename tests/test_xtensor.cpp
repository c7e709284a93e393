// SPDX-License-Identifier: MIT
// The xtensor backend: the operator property harness, and one answer from two backends — the same random
// batch, operators, times and noise levels through Eigen and xtensor give the same pivot, Σ̃ (apply and
// diagonal), μ*, posterior score and EDM sampler trajectory (float64: 1e-12 relative; float32: 1e-5,
// where only the order of floating-point sums may differ).
#include "eps/backends/xtensor.hpp"

#include "common.hpp"
#include "eps/samplers.hpp"
#include "operator_harness.hpp"

using namespace eps;
using namespace eps::test;

namespace {
struct XtF64 {
  using T = xtensor::Tensor<double>;
  static constexpr double tol = 1e-10;
};
struct XtF32 {
  using T = xtensor::Tensor<float>;
  static constexpr double tol = 2e-4;
};

double rel(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

/// The exact denoiser of the standard normal prior at a pivot of a spectral operator, in interpolant
/// space: E[x0 | x̃] = α (α² I + Σ̃)⁻¹ x̃ = V diag(α/(α² + g̃)) Vᴴ x̃ (+ α/(α² + σ²) on a thin V's null space).
template <class Op>
typename Op::tensor_type gaussian_denoiser(const Pivot<Op>& pv) {
  const double a = pv.levels().alpha.uniform("test"), s = pv.levels().sigma.uniform("test");
  const auto& g = *pv.covariance().eigenvalues();
  const auto w = scale(div(add_scalar(zeros_like(g), 1.0), add_scalar(g, a * a)), a);
  return spectral_filter(pv.op(), pv.x_tilde(), w, BatchValues(a / (a * a + s * s)));
}

/// Runs the same checks on both backends' zoos (built from the same seed, so with the same host data).
template <class TE, class TX>
void cross_backend(double tol) {
  auto ze = operator_zoo<TE>(3);
  auto zx = operator_zoo<TX>(3);
  const auto run = [&](const auto& Ae, const auto& Ax) {
    CAPTURE(Ae.name());
    const TE le;
    const TX lx;
    for (const AnySchedule& s : {make_schedule("linear"), make_schedule("ve_edm"), make_schedule("vp_cosine")})
      for (double sy : {0.0, 0.1})
        for (double t : {0.2, 0.7}) {
          CAPTURE(s.name());
          CAPTURE(sy);
          CAPTURE(t);
          std::mt19937_64 g1(11), g2(11);
          const TE xe = randn(le, 3, Ae.in_shape(), g1), ye = randn(le, 3, Ae.out_shape(), g1);
          const TX xx = randn(lx, 3, Ax.in_shape(), g2), yx = randn(lx, 3, Ax.out_shape(), g2);
          REQUIRE(to_host(xe) == to_host(xx));  // the same draws in the same order
          const auto pe = pivot(s, Ae, xe, ye, t, sy);
          const auto px = pivot(s, Ax, xx, yx, t, sy);
          CHECK(rel(to_host(px.x_tilde()), to_host(pe.x_tilde())) <= tol);
          CHECK(rel(to_host(px.mu_star()), to_host(pe.mu_star())) <= tol);
          CHECK(rel(to_host(px.covariance().apply(xx)), to_host(pe.covariance().apply(xe))) <= tol);
          if constexpr (SpectralOperator<std::decay_t<decltype(Ae)>>) {
            CHECK(rel(to_host(px.covariance().diagonal()), to_host(pe.covariance().diagonal())) <= tol);
            const TE de = gaussian_denoiser(pe);
            const TX dx = gaussian_denoiser(px);
            CHECK(rel(to_host(posterior_score(dx, xx, px.levels())), to_host(posterior_score(de, xe, pe.levels()))) <= tol);
          }
        }
    // An EPS sampler trajectory (spectral operators): EDM Euler, 8 steps, exact Gaussian denoiser.
    if constexpr (SpectralOperator<std::decay_t<decltype(Ae)>>) {
      const VeEdm s;
      std::mt19937_64 g1(5), g2(5);
      const TE ye = randn(le, 1, Ae.out_shape(), g1);
      const TX yx = randn(lx, 1, Ax.out_shape(), g2);
      EdmOptions o;
      o.steps = 8;
      const TE x0e = initial_noise(s, edm_grid(s, o).front(), le, 2, Ae.in_shape(), g1);
      const TX x0x = initial_noise(s, edm_grid(s, o).front(), lx, 2, Ax.in_shape(), g2);
      auto de = posterior_denoiser(s, Ae, ye, 0.1, [](const auto& pv) { return gaussian_denoiser(pv); });
      auto dx = posterior_denoiser(s, Ax, yx, 0.1, [](const auto& pv) { return gaussian_denoiser(pv); });
      std::vector<std::vector<double>> te, tx;
      edm_sample(de, s, x0e, o, [&](const StepInfo<TE>& i) { te.push_back(to_host(*i.x)); });
      edm_sample(dx, s, x0x, o, [&](const StepInfo<TX>& i) { tx.push_back(to_host(*i.x)); });
      REQUIRE(te.size() == tx.size());
      for (std::size_t i = 0; i < te.size(); ++i) CHECK(rel(tx[i], te[i]) <= tol);
    }
  };
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (run(std::get<I>(ze), std::get<I>(zx)), ...);
  }(std::make_index_sequence<std::tuple_size_v<decltype(ze)>>{});
}
}  // namespace

TEST_CASE_TEMPLATE("xtensor: operator property harness on every operator", Cfg, XtF64, XtF32) {
  using T = typename Cfg::T;
  std::mt19937_64 gen(2);
  for_each_operator<T>([&](const auto& A) { check_operator<T>(A, Cfg::tol, gen); });
}

TEST_CASE("xtensor: the same pivot, covariance, score and sampler trajectory as Eigen (float64)") {
  cross_backend<eigen::Tensor<double>, xtensor::Tensor<double>>(1e-12);
}

TEST_CASE("xtensor: the same pivot, covariance, score and sampler trajectory as Eigen (float32)") {
  cross_backend<eigen::Tensor<float>, xtensor::Tensor<float>>(1e-5);
}

TEST_CASE("xtensor: broadcasting rules and errors") {
  using T = xtensor::Tensor<double>;
  const T like;
  const T a = from_host(like, std::vector<double>{1, 2, 3, 4, 5, 6}, 2, Shape{3});
  const T one = from_host(like, std::vector<double>{10, 20, 30}, 1, Shape{3});
  const T per = batch_scalars(like, BatchValues{2.0, -1.0});
  CHECK(to_host(add(a, one)) == std::vector<double>{11, 22, 33, 14, 25, 36});
  CHECK(to_host(mul(a, per)) == std::vector<double>{2, 4, 6, -4, -5, -6});
  CHECK(dot_batch(a, a) == std::vector<double>{14, 77});
  const T b = from_host(like, std::vector<double>{1, 2, 3, 4}, 2, Shape{2});
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("cannot broadcast sample extents 3 and 2"), shape_error);
  CHECK_THROWS_AS(from_host(like, std::vector<double>{1, 2, 3}, 2, Shape{2}), shape_error);
}
