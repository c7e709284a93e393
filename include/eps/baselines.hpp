// SPDX-License-Identifier: MIT
/// @file baselines.hpp
/// The approximate posterior samplers EPS is compared with (docs/math.md §7), on the same denoiser interface,
/// the same grid walk and the same EDM σ grid as `eps::edm_sample`, so that only the guidance differs. All
/// are written with the backend façade only, so they run on every backend (Eigen, xtensor, LibTorch on the
/// CPU or CUDA):
/// - DPS (Chung et al. 2023): after each Euler step, x ← x − ζ ∇_x ‖y − A x̂0(x)‖ (a vector-Jacobian product
///   through the denoiser), as in the authors' code (their ζ_t = ζ/‖y − A x̂0‖ on the squared norm is the
///   same update up to a factor 2 in ζ). Paper default ζ ∈ [0.1, 1]; ours 1. Typically ≥ 250 steps.
/// - ΠGDM (Song et al. 2023): score + Jᵀ Aᵀ (r_t² AAᵀ + σ_y² I)⁻¹ (y − A x̂0), r_t² = σ²/(α² + σ²), which
///   is the denoiser x̂0 + (σ²/α)·(that term); spectral operators.
/// - DDNM (Wang et al. 2023): x̂0 + A†(y − A x̂0); with σ_y > 0 the noisy variant DDNM⁺ scales the
///   correction per singular direction by λ_i = min(1, ς s_i/σ_y) (ς = σ/α of the current step).
/// - DDRM (Kawar et al. 2022): its own spectral update in the V basis, η = 0.85, η_b = 1 (paper defaults).
/// - The zero-shot pivot: the pretrained isotropic denoiser fed the exact pivot x̃ = α μ* at the current
///   time (exact only where Σ̃ is isotropic).
/// - The equivalent time (docs/math.md §4.1): when AᵀA = γ² I, Σ* = σ*² I and D(α(t*) μ*, t*)
///   with σ(t*)/α(t*) = σ* is the exact posterior denoiser.
/// The wrappers (`*_denoiser`) store the denoiser they wrap by value (std::ref to share; eps/samplers.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "eps/linalg.hpp"
#include "eps/operators/common.hpp"
#include "eps/posterior.hpp"
#include "eps/samplers.hpp"

namespace eps {

namespace detail {
inline BatchValues inverse_or_zero(const std::vector<double>& v, bool sqrt_first) {
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double x = sqrt_first ? std::sqrt(v[i]) : v[i];
    r[i] = x > 0 ? 1 / x : 0.0;
  }
  return BatchValues(std::move(r));
}
}  // namespace detail

/// Options of DPS.
struct DpsOptions {
  double zeta = 1.0;  ///< step size of the measurement-gradient correction
};

/// DPS on EDM's grid (Euler): x_{i+1} = EulerStep(x_i, x̂0) − ζ ∇_{x_i} ‖y − A x̂0(x_i)‖, per sample.
/// NFE counts denoiser evaluations; `vjp` the vector-Jacobian products (one per step).
template <Schedule S, LinearOperator Op, class D>
requires DifferentiableDenoiser<D, typename Op::tensor_type> SampleResult<typename Op::tensor_type> dps_sample(
    D&& denoiser, const S& s, const Op& A, const typename Op::tensor_type& y, typename Op::tensor_type x,
    const EdmOptions& o = {}, const DpsOptions& dps = {},
    const std::type_identity_t<StepCallback<typename Op::tensor_type>>& cb = {}) {
  using T = typename Op::tensor_type;
  constexpr const char* where = "eps::dps_sample";
  EPS_CHECK(dps.zeta >= 0 && std::isfinite(dps.zeta), value_error, where, ": zeta must be finite and >= 0, got ",
            dps.zeta);
  eps::check_sample(x, A.in_shape(), where, "x");
  eps::check_sample(y, A.out_shape(), where, "y");
  return detail::walk(
      where, s, edm_grid(s, o), true, std::move(x), denoiser, cb, [&](const T& xc, const GridStep& st, auto& net) {
        // ∇_x ‖r‖ = −Jᵀ Aᵀ r / ‖r‖ with r = y − A x̂0(x), so x − ζ ∇ = x + ζ Jᵀ Aᵀ r/‖r‖.
        auto [x0, g] = net.denoise_and_vjp(xc, st.t, [&](const T& x0h) {
          const T r = eps::sub(y, A.apply(x0h));
          return eps::scale_batch(A.apply_adjoint(r), detail::inverse_or_zero(eps::norm2_batch(r), true));
        });
        return std::pair{eps::add(detail::edm_euler_step(xc, x0, st), eps::scale(g, dps.zeta)), x0};
      });
}

/// Options of ΠGDM.
struct PigdmOptions {
  double scale = 1.0;  ///< multiplies the guidance term (the paper's is 1)
  /// The per-coordinate variance v of the data behind r_t² = v σ²/(α² v + σ²), the variance of x0 | x_t
  /// under a N(0, v I) prior. The paper's choice is v = 1 (data scaled to unit variance); on data of a
  /// larger scale the guidance is then too strong by up to v (docs/gmm_benchmark.md, "ΠGDM").
  double data_variance = 1.0;
};

/// The ΠGDM denoiser: x̂0 + (σ²/α) Jᵀ Aᵀ (r² AAᵀ + σ_y² I)⁻¹ (y − A x̂0), r² = σ²/(α² + σ²) (with
/// PigdmOptions::data_variance v: v σ²/(α² v + σ²)), for a spectral A (the inverse is
/// U diag(1/(r² s² + σ_y²)) Uᴴ, plus 1/σ_y² on the part of y outside range U; a direction with
/// r² s² + σ_y² = 0 is dropped). Plug it into any sampler; it counts its own VJPs in `*vjp_count`.
template <Schedule S, SpectralOperator Op, class D>
requires DifferentiableDenoiser<D, typename Op::tensor_type>
auto pigdm_denoiser(D denoiser, S s, Op A, typename Op::tensor_type y, double sigma_y, PigdmOptions opt = {},
                    int* vjp_count = nullptr) {
  using T = typename Op::tensor_type;
  detail::require_nonnegative(sigma_y, "eps::pigdm_denoiser", "sigma_y");
  EPS_CHECK(opt.data_variance > 0 && std::isfinite(opt.data_variance), value_error,
            "eps::pigdm_denoiser: data_variance must be finite and > 0, got ", opt.data_variance);
  return [denoiser = std::move(denoiser), s = std::move(s), A = std::move(A), y = std::move(y), sigma_y, opt,
          vjp_count](const T& x, double t) mutable {
    const Coefficients c = coefficients(s, t);
    EPS_CHECK(c.alpha > 0 && c.sigma > 0, domain_error, "eps::pigdm_denoiser: needs alpha, sigma > 0, got t = ", t);
    const double v = opt.data_variance, sy2 = sigma_y * sigma_y;
    const double r2 = v * c.sigma * c.sigma / (c.alpha * c.alpha * v + c.sigma * c.sigma);
    auto [x0, g] = denoise_and_vjp<T>(denoiser, x, t, [&](const T& x0h) {
      const T res = eps::sub(y, A.apply(x0h));
      const auto cy = A.apply_ut(res);
      const auto sv = A.singular_values();
      const auto den = eps::add_scalar(eps::scale(eps::mul(sv, sv), r2), sy2);
      T sol = A.apply_u(eps::mul(cy, pinv_values(den)));  // 1/den, 0 where den = 0
      if (sy2 > 0)
        sol = eps::add(sol, eps::scale(eps::sub(res, A.apply_u(cy)), 1 / sy2));  // outside range U (a thin U)
      return A.apply_adjoint(sol);
    });
    if (vjp_count) ++*vjp_count;
    return eps::add(x0, eps::scale(g, opt.scale * c.sigma * c.sigma / c.alpha));
  };
}

/// The DDNM denoiser: x̂0 + A†(y − A x̂0) (range-null-space decomposition). With σ_y > 0 and a spectral A,
/// DDNM⁺: the correction along singular direction i is scaled by λ_i = min(1, ς s_i/σ_y), ς = σ/α.
template <Schedule S, LinearOperator Op, class D>
requires Denoiser<D, typename Op::tensor_type>
auto ddnm_denoiser(D denoiser, S s, Op A, typename Op::tensor_type y, double sigma_y, CgOptions cg = {}) {
  using T = typename Op::tensor_type;
  detail::require_nonnegative(sigma_y, "eps::ddnm_denoiser", "sigma_y");
  if constexpr (!SpectralOperator<Op>) {
    EPS_CHECK(sigma_y == 0, domain_error,
              "eps::ddnm_denoiser: the noisy variant (sigma_y > 0) needs a spectral operator; ", A.name(), " has none");
    return [denoiser = std::move(denoiser), A = std::move(A), y = std::move(y), cg](const T& x, double t) mutable {
      const T x0 = static_cast<T>(detail::unwrap(denoiser)(x, t));
      return eps::add(x0, pinv_apply(A, eps::sub(y, A.apply(x0)), cg));
    };
  } else {
    // The singular values are the operator's data: read once, for DDNM⁺'s λ.
    const auto sv = A.singular_values();
    std::vector<double> sh = sigma_y > 0 ? eps::to_host(sv) : std::vector<double>{};
    return [denoiser = std::move(denoiser), s = std::move(s), A = std::move(A), y = std::move(y), sigma_y, sv, sh](
               const T& x, double t) mutable {
      const T x0 = static_cast<T>(detail::unwrap(denoiser)(x, t));
      auto w = pinv_values(sv);
      if (sigma_y > 0) {
        const Coefficients c = coefficients(s, t);
        const double ratio = c.alpha > 0 ? c.sigma / c.alpha : std::numeric_limits<double>::infinity();
        std::vector<double> lambda(sh.size());  // λ = min(1, ς s/σ_y)
        for (std::size_t i = 0; i < sh.size(); ++i)
          lambda[i] = std::isfinite(ratio) ? std::min(1.0, ratio * sh[i] / sigma_y) : 1.0;
        w = eps::mul(
            w, eps::reshape(eps::from_host(sv, lambda, eps::batch(sv), eps::sample_shape(sv)), eps::sample_shape(sv)));
      }
      return eps::add(x0, A.apply_v(eps::mul(A.apply_ut(eps::sub(y, A.apply(x0))), w)));
    };
  }
}

/// Options of DDRM (Kawar et al. 2022; defaults from the paper).
struct DdrmOptions {
  double eta = 0.85;   ///< noise of the unmeasured and the noisier-than-measurement directions
  double eta_b = 1.0;  ///< weight of the measurement where it is less noisy than the state
};

/// DDRM on EDM's grid for a spectral operator with real coefficients, in x̄ = x/α and its V coefficients x̄_i
/// (ς = σ/α, ς' the next level, ȳ_i = (Uᴴy)_i/s_i, σ_i = σ_y/s_i), with x̂0 the denoiser output and ξ fresh
/// noise from `gen` (a generator or a noise source, eps/samplers.hpp):
///   s_i = 0 (and the null space of a thin V):  x̄'_i = x̂0_i + √(1−η²) ς' (x̄_i − x̂0_i)/ς + η ς' ξ_i
///   ς' < σ_i:                               x̄'_i = x̂0_i + √(1−η²) ς' (ȳ_i − x̂0_i)/σ_i + η ς' ξ_i
///   ς' ≥ σ_i:                               x̄'_i = (1−η_b) x̂0_i + η_b ȳ_i + √(ς'² − η_b² σ_i²) ξ_i
/// The last step (ς' = 0) returns x̂0 on unmeasured directions and the η_b-mix where σ_y = 0. The
/// per-coefficient weights depend only on the operator and the grid: they are computed once per run.
/// Every term is V w(s) Vᴴ of something (w a function of the singular values, ξ = Vᴴ of white noise in x),
/// so the sample does not depend on the choice of V: Fourier-diagonal operators (complex coefficients, real
/// weights symmetric in frequency) give the same sample as a real SVD of their matrix, from the same noise.
template <Schedule S, SpectralOperator Op, class D, class G>
requires Denoiser<D, typename Op::tensor_type> && NoiseSource<G, typename Op::tensor_type>
    SampleResult<typename Op::tensor_type> ddrm_sample(
        D&& denoiser, const S& s, const Op& A, const typename Op::tensor_type& y, double sigma_y,
        typename Op::tensor_type x, G& gen, const EdmOptions& o = {}, const DdrmOptions& dd = {},
        const std::type_identity_t<StepCallback<typename Op::tensor_type>>& cb = {}) {
  using T = typename Op::tensor_type;
  using C = typename Op::coef_type;
  constexpr const char* where = "eps::ddrm_sample";
  detail::require_nonnegative(sigma_y, where, "sigma_y");
  EPS_CHECK(dd.eta >= 0 && dd.eta <= 1 && dd.eta_b >= 0 && dd.eta_b <= 1, value_error, where,
            ": eta and eta_b must lie in [0, 1], got ", dd.eta, " and ", dd.eta_b);
  eps::check_sample(x, A.in_shape(), where, "x");
  eps::check_sample(y, A.out_shape(), where, "y");
  const std::vector<double> ts = edm_grid(s, o);
  const T sv = A.singular_values();
  const Shape cs = eps::sample_shape(sv);
  const C ybar = eps::mul(A.apply_ut(y), pinv_values(sv));  // ȳ = Uᴴy/s, 0 where s = 0
  // Per step: masks of the two measured cases, the weight √(1−η²) ς' s_i/σ_y of the first and the noise
  // level √(ς'² − η_b² σ_i²) of the second, from the host singular values (operator data) and the grid.
  const std::vector<double> sh = eps::to_host(sv);
  const index_t nb = eps::batch(sv);
  const double q = std::sqrt(1 - dd.eta * dd.eta);
  struct StepData {
    T below, above, weight, level;
  };
  std::vector<StepData> per_step;
  for (std::size_t i = 0; i + 1 < ts.size(); ++i) {
    const Coefficients cn = coefficients(s, ts[i + 1]);
    const double rn = i + 2 == ts.size() ? 0.0 : cn.sigma / cn.alpha;
    std::vector<double> below(sh.size(), 0.0), above(sh.size(), 0.0), weight(sh.size(), 0.0), level(sh.size(), 0.0);
    for (std::size_t k = 0; k < sh.size(); ++k) {
      if (!(sh[k] > 0)) continue;
      const double si = sigma_y / sh[k];
      if (rn < si) {
        below[k] = 1;
        weight[k] = q * rn / si;
      } else {
        above[k] = 1;
        level[k] = std::sqrt(std::max(0.0, rn * rn - dd.eta_b * dd.eta_b * si * si));
      }
    }
    const auto up = [&](const std::vector<double>& h) { return eps::reshape(eps::from_host(sv, h, nb, cs), cs); };
    per_step.push_back({up(below), up(above), up(weight), up(level)});
  }
  return detail::walk(where, s, ts, true, std::move(x), denoiser, cb, [&](const T& xc, const GridStep& st, auto& net) {
    const double r = st.ratio, rn = st.ratio_next;
    const StepData& sd = per_step[static_cast<std::size_t>(st.index)];
    const T x0 = net(xc, st.t);
    const T xb = eps::scale(xc, 1 / st.c.alpha);
    // Null-space directions (s = 0 and the complement of a thin V) by the first rule, on the whole vector:
    T next =
        eps::add(eps::add(x0, eps::scale(eps::sub(xb, x0), q * rn / r)), eps::scale(draw_noise(xb, gen), dd.eta * rn));
    // Measured directions: replace their coefficients.
    // The coefficients' noise is Vᵀ of white noise in x: white in the coefficients, and independent of the
    // signs an SVD picks for V's columns (so every backend draws the same sample from the same noise).
    const C cx0 = A.apply_vt(x0), cnext = A.apply_vt(next), xi = A.apply_vt(draw_noise(xb, gen));
    const C v_below = eps::add(eps::add(cx0, eps::mul(eps::sub(ybar, cx0), sd.weight)), eps::scale(xi, dd.eta * rn));
    const C v_above = eps::add(eps::axpby(1 - dd.eta_b, cx0, dd.eta_b, ybar), eps::mul(xi, sd.level));
    const C delta =
        eps::add(eps::mul(eps::sub(v_below, cnext), sd.below), eps::mul(eps::sub(v_above, cnext), sd.above));
    next = eps::add(next, A.apply_v(delta));
    return std::pair{eps::scale(next, st.cn.alpha), x0};
  });
}

/// The zero-shot pivot: the isotropic denoiser at the current time, fed the exact pivot x̃ = α μ*.
template <Schedule S, LinearOperator Op, class D>
requires Denoiser<D, typename Op::tensor_type>
auto zero_shot_denoiser(D denoiser, S s, Op A, typename Op::tensor_type y, double sigma_y, PivotOptions opt = {}) {
  using T = typename Op::tensor_type;
  detail::require_nonnegative(sigma_y, "eps::zero_shot_denoiser", "sigma_y");
  check_measurement(A, y, sigma_y, opt.range_rtol, opt.cg, "eps::zero_shot_denoiser");  // once, not per step
  opt.check_range = false;
  return [denoiser = std::move(denoiser), s = std::move(s), A = std::move(A), y = std::move(y), sigma_y, opt](
             const T& x, double t) mutable {
    return static_cast<T>(detail::unwrap(denoiser)(pivot(s, A, x, y, t, sigma_y, opt).x_tilde(), t));
  };
}

/// The equivalent-time reduction (docs/math.md §4.1; AᵀA = γ² I only; throws domain_error otherwise):
/// D(α(t*) μ*, t*) with σ(t*)/α(t*) = σ*; below the schedule's smallest ratio the denoiser is the identity
/// (x̂0 = μ*).
template <Schedule S, SpectralOperator Op, class D>
requires Denoiser<D, typename Op::tensor_type>
auto equivalent_time_denoiser(D denoiser, S s, Op A, typename Op::tensor_type y, double sigma_y,
                              PivotOptions opt = {}) {
  using T = typename Op::tensor_type;
  const double gamma = gram_scale(A);
  detail::require_nonnegative(sigma_y, "eps::equivalent_time_denoiser", "sigma_y");
  check_measurement(A, y, sigma_y, opt.range_rtol, opt.cg, "eps::equivalent_time_denoiser");  // once, not per step
  opt.check_range = false;
  return [denoiser = std::move(denoiser), s = std::move(s), A = std::move(A), y = std::move(y), sigma_y, gamma, opt](
             const T& x, double t) mutable {
    const Coefficients c = coefficients(s, t);
    EPS_CHECK(c.alpha > 0, domain_error, "eps::equivalent_time_denoiser: alpha = 0 at t = ", t);
    const T mu = pivot(s, A, x, y, t, sigma_y, opt).mu_star();
    const double ratio = std::sqrt(equivalent_sigma2(c.alpha, c.sigma, sigma_y, gamma));
    const Coefficients lo = coefficients(s, s.t_min());
    if (ratio <= lo.sigma / lo.alpha) return mu;
    const double ts = time_from_noise_ratio(s, ratio);
    return static_cast<T>(detail::unwrap(denoiser)(eps::scale(mu, coefficients(s, ts).alpha), ts));
  };
}

}  // namespace eps
