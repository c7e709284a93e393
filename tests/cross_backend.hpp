// SPDX-License-Identifier: MIT
// One answer from every backend: the same random batch, operators, times and noise levels through the
// Eigen reference and another backend give the same pivot, Σ̃ (apply and diagonal), μ*, posterior score
// and EDM sampler trajectory. The random draws are made once, on the Eigen side, and transferred with
// from_host, so that backends with their own generators (LibTorch) see the same numbers.
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "common.hpp"
#include "eps/samplers.hpp"

namespace eps::test {

inline double rel(const std::vector<double>& a, const std::vector<double>& b) {
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
  const auto w = eps::scale(eps::div(eps::add_scalar(eps::zeros_like(g), 1.0), eps::add_scalar(g, a * a)), a);
  return spectral_filter(pv.op(), pv.x_tilde(), w, BatchValues(a / (a * a + s * s)));
}

/// Runs the same checks on both backends' zoos (built from the same seed, so with the same host data).
/// `lx` gives the other backend's dtype and device.
template <class TE, class TX>
void cross_backend(double tol, const TX& lx = TX{}) {
  auto ze = operator_zoo<TE>(3);
  auto zx = operator_zoo<TX>(3, lx);
  const auto moved = [&](const TE& e) {
    return TX(eps::from_host(lx, eps::to_host(e), eps::batch(e), eps::sample_shape(e)));
  };
  const auto run = [&](const auto& Ae, const auto& Ax) {
    CAPTURE(Ae.name());
    const TE le;
    for (const AnySchedule& s : {make_schedule("linear"), make_schedule("ve_edm"), make_schedule("vp_cosine")})
      for (double sy : {0.0, 0.1})
        for (double t : {0.2, 0.7}) {
          CAPTURE(s.name());
          CAPTURE(sy);
          CAPTURE(t);
          std::mt19937_64 g1(11);
          // Noise-free data must lie in range(A) (docs/conventions.md); noisy data is any y.
          const TE xe = eps::randn(le, 3, Ae.in_shape(), g1);
          const TE ye =
              sy == 0 ? TE(Ae.apply(eps::randn(le, 3, Ae.in_shape(), g1))) : TE(eps::randn(le, 3, Ae.out_shape(), g1));
          const TX xx = eps::reshape(moved(xe), Ax.in_shape()), yx = eps::reshape(moved(ye), Ax.out_shape());
          const auto pe = pivot(s, Ae, xe, ye, t, sy);
          const auto px = pivot(s, Ax, xx, yx, t, sy);
          CHECK(rel(eps::to_host(px.x_tilde()), eps::to_host(pe.x_tilde())) <= tol);
          CHECK(rel(eps::to_host(px.mu_star()), eps::to_host(pe.mu_star())) <= tol);
          CHECK(rel(eps::to_host(px.covariance().apply(xx)), eps::to_host(pe.covariance().apply(xe))) <= tol);
          if constexpr (SpectralOperator<std::decay_t<decltype(Ae)>>) {
            CHECK(rel(eps::to_host(px.covariance().diagonal()), eps::to_host(pe.covariance().diagonal())) <= tol);
            const TE de = gaussian_denoiser(pe);
            const TX dx = gaussian_denoiser(px);
            CHECK(rel(eps::to_host(posterior_score(dx, xx, px.levels())),
                      eps::to_host(posterior_score(de, xe, pe.levels()))) <= tol);
          }
        }
    // An EPS sampler trajectory (spectral operators): EDM Euler, 8 steps, exact Gaussian denoiser.
    if constexpr (SpectralOperator<std::decay_t<decltype(Ae)>>) {
      const VeEdm s;
      std::mt19937_64 g1(5);
      const TE ye = eps::randn(le, 1, Ae.out_shape(), g1);
      const TX yx = eps::reshape(moved(ye), Ax.out_shape());
      EdmOptions o;
      o.steps = 8;
      const TE x0e = initial_noise(s, edm_grid(s, o).front(), le, 2, Ae.in_shape(), g1);
      const TX x0x = eps::reshape(moved(x0e), Ax.in_shape());
      auto de = posterior_denoiser(s, Ae, ye, 0.1, [](const auto& pv) { return gaussian_denoiser(pv); });
      auto dx = posterior_denoiser(s, Ax, yx, 0.1, [](const auto& pv) { return gaussian_denoiser(pv); });
      std::vector<std::vector<double>> te, tx;
      edm_sample(de, s, x0e, o, [&](const StepInfo<TE>& i) { te.push_back(eps::to_host(*i.x)); });
      edm_sample(dx, s, x0x, o, [&](const StepInfo<TX>& i) { tx.push_back(eps::to_host(*i.x)); });
      REQUIRE(te.size() == tx.size());
      for (std::size_t i = 0; i < te.size(); ++i) CHECK(rel(tx[i], te[i]) <= tol);
    }
  };
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (run(std::get<I>(ze), std::get<I>(zx)), ...);
  }(std::make_index_sequence<std::tuple_size_v<decltype(ze)>>{});
}
}  // namespace eps::test
