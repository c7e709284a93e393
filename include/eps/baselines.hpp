// SPDX-License-Identifier: MIT
/// @file baselines.hpp
/// The approximate posterior samplers EPS is compared with (MATH.md §7), on the same denoiser interface
/// and the same EDM σ grid as `eps::edm_sample`, so that only the guidance differs:
/// - DPS (Chung et al. 2023): after each Euler step, x ← x − ζ ∇_x ‖y − A x̂0(x)‖ (a vector-Jacobian product
///   through the denoiser), as in the authors' code (their ζ_t = ζ/‖y − A x̂0‖ on the squared norm is the
///   same update up to a factor 2 in ζ). Paper default ζ ∈ [0.1, 1]; ours 1. Typically ≥ 250 steps.
/// - ΠGDM (Song et al. 2023): score + Jᵀ Aᵀ (r_t² A Aᵀ + σ_y² I)⁻¹ (y − A x̂0), r_t² = σ²/(α² + σ²), which
///   is the denoiser x̂0 + (σ²/α)·(that term); spectral operators.
/// - DDNM (Wang et al. 2023): x̂0 + A†(y − A x̂0); with σ_y > 0 the noisy variant DDNM⁺ scales the
///   correction per singular direction by λ_i = min(1, ς s_i/σ_y) (ς = σ/α of the current step).
/// - DDRM (Kawar et al. 2022): its own spectral update in the V basis, η = 0.85, η_b = 1 (paper defaults).
/// - The zero-shot pivot: the pretrained isotropic denoiser fed the exact pivot x̃ = α μ* at the current
///   time (exact only where Σ̃ is isotropic).
/// - The equivalent time (PAPER.md App. A.6): when AᵀA = γ² I, Σ* = σ*² I and D(α(t*) μ*, t*) with
///   σ(t*)/α(t*) = σ* is the exact posterior denoiser.
/// A "differentiable denoiser" is a denoiser with `vjp(x, t, v) = vᵀ ∂D(x, t)/∂x` (batched).
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "eps/linalg.hpp"
#include "eps/posterior.hpp"
#include "eps/samplers.hpp"

namespace eps {

/// A batched denoiser with vector-Jacobian products.
template <class D, class T>
concept DifferentiableDenoiser = Denoiser<D, T> && requires(D& d, const T& x, double t, const T& v) {
  { d.vjp(x, t, v) } -> std::convertible_to<T>;
};

namespace detail {
/// One EDM Euler step in x̄ = x/α, ς = σ/α from (x, t) to t_next given x̂0 (ς_next = 0 on the last step).
template <Tensor T>
T edm_euler_step(const T& x, const T& x0, const Coefficients& c, const Coefficients& cn, bool last) {
  const double r = c.sigma / c.alpha, rn = last ? 0.0 : cn.sigma / cn.alpha;
  const T xb = eps::scale(x, 1 / c.alpha);
  return eps::scale(eps::add(xb, eps::scale(eps::sub(xb, x0), (rn - r) / r)), cn.alpha);
}

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
  requires DifferentiableDenoiser<D, typename Op::tensor_type>
SampleResult<typename Op::tensor_type> dps_sample(D& denoiser, const S& s, const Op& A, const typename Op::tensor_type& y,
                                                  typename Op::tensor_type x, const EdmOptions& o = {},
                                                  const DpsOptions& dps = {},
                                                  const std::type_identity_t<StepCallback<typename Op::tensor_type>>& cb = {}) {
  using T = typename Op::tensor_type;
  constexpr const char* where = "eps::dps_sample";
  EPS_CHECK(o.steps >= 1, value_error, where, ": steps must be >= 1, got ", o.steps);
  EPS_CHECK(dps.zeta >= 0 && std::isfinite(dps.zeta), value_error, where, ": zeta must be finite and >= 0, got ", dps.zeta);
  eps::check_sample(x, A.in_shape(), where, "x");
  eps::check_sample(y, A.out_shape(), where, "y");
  const std::vector<double> ts = edm_grid(s, o);
  const int n = static_cast<int>(ts.size()) - 1;
  SampleResult<T> out{x, 0};
  for (int i = 0; i < n; ++i) {
    const double t = ts[static_cast<std::size_t>(i)], tn = ts[static_cast<std::size_t>(i) + 1];
    const Coefficients c = coefficients(s, t), cn = coefficients(s, tn);
    const T x0 = denoiser(out.x, t);
    ++out.nfe;
    const T r = eps::sub(y, A.apply(x0));
    // ∇_x ‖r‖ = −Jᵀ Aᵀ r / ‖r‖, so x − ζ ∇ = x + ζ Jᵀ Aᵀ r/‖r‖.
    const T w = eps::scale_batch(A.apply_adjoint(r), detail::inverse_or_zero(eps::norm2_batch(r), true));
    const T g = denoiser.vjp(out.x, t, w);
    ++out.vjp;
    out.x = eps::add(detail::edm_euler_step(out.x, x0, c, cn, i + 1 == n), eps::scale(g, dps.zeta));
    detail::notify(cb, i, n, t, tn, out.x, x0, out.nfe);
  }
  return out;
}

/// Options of ΠGDM.
struct PigdmOptions {
  double scale = 1.0;  ///< multiplies the guidance term (the paper's is 1)
};

/// The ΠGDM denoiser: x̂0 + (σ²/α) Jᵀ Aᵀ (r² AAᵀ + σ_y² I)⁻¹ (y − A x̂0), r² = σ²/(α² + σ²), for a spectral
/// A (the inverse is U diag(1/(r² s² + σ_y²)) Uᴴ, plus 1/σ_y² on the part of y outside range U; a
/// direction with r² s² + σ_y² = 0 is dropped). Plug it into any sampler; it counts its own VJPs.
template <Schedule S, SpectralOperator Op, class D>
  requires DifferentiableDenoiser<D, typename Op::tensor_type>
auto pigdm_denoiser(D& denoiser, S s, Op A, typename Op::tensor_type y, double sigma_y, PigdmOptions opt = {},
                    int* vjp_count = nullptr) {
  using T = typename Op::tensor_type;
  detail::require_nonnegative(sigma_y, "eps::pigdm_denoiser", "sigma_y");
  return [&denoiser, s = std::move(s), A = std::move(A), y = std::move(y), sigma_y, opt, vjp_count](const T& x, double t) {
    const Coefficients c = coefficients(s, t);
    EPS_CHECK(c.alpha > 0 && c.sigma > 0, domain_error, "eps::pigdm_denoiser: needs alpha, sigma > 0, got t = ", t);
    const T x0 = denoiser(x, t);
    const double r2 = c.sigma * c.sigma / (c.alpha * c.alpha + c.sigma * c.sigma), sy2 = sigma_y * sigma_y;
    const T res = eps::sub(y, A.apply(x0));
    const auto cy = A.apply_ut(res);
    const auto sv = A.singular_values();
    const auto den = eps::add_scalar(eps::scale(eps::mul(sv, sv), r2), sy2);
    const auto z = eps::zero_indicator(den);
    const auto inv = eps::sub(eps::div(real_tensor_t<T>(eps::add_scalar(eps::zeros_like(den), 1.0)), eps::add(den, z)), z);  // 1/den, 0 where den = 0
    T sol = A.apply_u(eps::mul(cy, inv));
    if (sy2 > 0) sol = eps::add(sol, eps::scale(eps::sub(res, A.apply_u(cy)), 1 / sy2));  // outside range U (a thin U)
    const T g = denoiser.vjp(x, t, A.apply_adjoint(sol));
    if (vjp_count) ++*vjp_count;
    return eps::add(x0, eps::scale(g, opt.scale * c.sigma * c.sigma / c.alpha));
  };
}

/// The DDNM denoiser: x̂0 + A†(y − A x̂0) (range-null-space decomposition). With σ_y > 0 and a spectral A,
/// DDNM⁺: the correction along singular direction i is scaled by λ_i = min(1, ς s_i/σ_y), ς = σ/α.
template <Schedule S, LinearOperator Op, class D>
  requires Denoiser<D, typename Op::tensor_type>
auto ddnm_denoiser(D& denoiser, S s, Op A, typename Op::tensor_type y, double sigma_y, CgOptions cg = {}) {
  using T = typename Op::tensor_type;
  detail::require_nonnegative(sigma_y, "eps::ddnm_denoiser", "sigma_y");
  if constexpr (!SpectralOperator<Op>)
    EPS_CHECK(sigma_y == 0, domain_error, "eps::ddnm_denoiser: the noisy variant (sigma_y > 0) needs a spectral operator; ",
              A.name(), " has none");
  return [&denoiser, s = std::move(s), A = std::move(A), y = std::move(y), sigma_y, cg](const T& x, double t) {
    const T x0 = denoiser(x, t);
    const T res = eps::sub(y, A.apply(x0));
    if constexpr (SpectralOperator<Op>) {
      const Coefficients c = coefficients(s, t);
      const auto sv = A.singular_values();
      auto w = pinv_values(sv);
      if (sigma_y > 0) {
        const double ratio = c.alpha > 0 ? c.sigma / c.alpha : std::numeric_limits<double>::infinity();
        std::vector<double> lh = eps::to_host(sv);  // λ = min(1, ς s/σ_y)
        for (double& v : lh) v = std::isfinite(ratio) ? std::min(1.0, ratio * v / sigma_y) : 1.0;
        w = eps::mul(w, eps::from_host(sv, lh, eps::batch(sv), eps::sample_shape(sv)));
      }
      return eps::add(x0, A.apply_v(eps::mul(A.apply_ut(res), w)));
    } else {
      return eps::add(x0, pinv_apply(A, res, cg));
    }
  };
}

/// Options of DDRM (Kawar et al. 2022; defaults from the paper).
struct DdrmOptions {
  double eta = 0.85;    ///< noise of the unmeasured and the noisier-than-measurement directions
  double eta_b = 1.0;   ///< weight of the measurement where it is less noisy than the state
};

/// DDRM on EDM's grid for a spectral operator, in x̄ = x/α and its V coefficients x̄_i (ς = σ/α, ς' the next
/// level, ȳ_i = (Uᴴy)_i/s_i, σ_i = σ_y/s_i), with x̂0 the denoiser output and ξ fresh noise:
///   s_i = 0 (and the null space of a thin V):  x̄'_i = x̂0_i + √(1−η²) ς' (x̄_i − x̂0_i)/ς + η ς' ξ_i
///   ς' < σ_i:                               x̄'_i = x̂0_i + √(1−η²) ς' (ȳ_i − x̂0_i)/σ_i + η ς' ξ_i
///   ς' ≥ σ_i:                               x̄'_i = (1−η_b) x̂0_i + η_b ȳ_i + √(ς'² − η_b² σ_i²) ξ_i
/// The last step (ς' = 0) returns x̂0 on unmeasured directions and the η_b-mix where σ_y = 0.
template <Schedule S, SpectralOperator Op, class D>
  requires Denoiser<D, typename Op::tensor_type> && RealTensor<typename Op::coef_type>
SampleResult<typename Op::tensor_type> ddrm_sample(D& denoiser, const S& s, const Op& A, const typename Op::tensor_type& y,
                                                   double sigma_y, typename Op::tensor_type x, generator_t<typename Op::tensor_type>& gen,
                                                   const EdmOptions& o = {}, const DdrmOptions& dd = {},
                                                   const std::type_identity_t<StepCallback<typename Op::tensor_type>>& cb = {}) {
  using T = typename Op::tensor_type;
  constexpr const char* where = "eps::ddrm_sample";
  detail::require_nonnegative(sigma_y, where, "sigma_y");
  EPS_CHECK(dd.eta >= 0 && dd.eta <= 1 && dd.eta_b >= 0 && dd.eta_b <= 1, value_error, where,
            ": eta and eta_b must lie in [0, 1], got ", dd.eta, " and ", dd.eta_b);
  EPS_CHECK(o.steps >= 1, value_error, where, ": steps must be >= 1, got ", o.steps);
  eps::check_sample(x, A.in_shape(), where, "x");
  eps::check_sample(y, A.out_shape(), where, "y");
  const std::vector<double> ts = edm_grid(s, o);
  const int n = static_cast<int>(ts.size()) - 1;
  // Per-coefficient host data: singular values and ȳ (batch of y: 1 or B).
  const std::vector<double> sv = eps::to_host(A.singular_values());
  const auto cy = A.apply_ut(y);
  const index_t nc = static_cast<index_t>(sv.size()), by = eps::batch(cy);
  const std::vector<double> cyh = eps::to_host(cy);
  const double q = std::sqrt(1 - dd.eta * dd.eta);
  SampleResult<T> out{x, 0};
  for (int i = 0; i < n; ++i) {
    const double t = ts[static_cast<std::size_t>(i)], tn = ts[static_cast<std::size_t>(i) + 1];
    const Coefficients c = coefficients(s, t), cn = coefficients(s, tn);
    const double r = c.sigma / c.alpha, rn = i + 1 == n ? 0.0 : cn.sigma / cn.alpha;
    const T x0 = denoiser(out.x, t);
    ++out.nfe;
    const T xb = eps::scale(out.x, 1 / c.alpha);
    const index_t B = eps::batch(xb);
    // Null-space directions (s = 0 and the complement of a thin V) by the first rule, on the whole vector:
    T next = eps::add(eps::add(x0, eps::scale(eps::sub(xb, x0), q * rn / r)), eps::scale(eps::randn_like(xb, gen), dd.eta * rn));
    // Measured directions: replace their coefficients.
    const auto cx0 = A.apply_vt(x0);
    const auto cnext = A.apply_vt(next);
    std::vector<double> h0 = eps::to_host(cx0), hn = eps::to_host(cnext), delta(static_cast<std::size_t>(nc * B), 0.0);
    std::normal_distribution<double> nd;
    for (index_t b = 0; b < B; ++b)
      for (index_t k = 0; k < nc; ++k) {
        const double sk = sv[static_cast<std::size_t>(k)];
        if (!(sk > 0)) continue;
        const std::size_t idx = static_cast<std::size_t>(b * nc + k);
        const double ybar = cyh[static_cast<std::size_t>((by == 1 ? 0 : b) * nc + k)] / sk, si = sigma_y / sk;
        const double x0k = h0[idx];
        double v;
        if (rn < si) {
          v = x0k + q * rn * (ybar - x0k) / si + dd.eta * rn * nd(gen);
        } else {
          v = (1 - dd.eta_b) * x0k + dd.eta_b * ybar + std::sqrt(std::max(0.0, rn * rn - dd.eta_b * dd.eta_b * si * si)) * nd(gen);
        }
        delta[idx] = v - hn[idx];
      }
    next = eps::add(next, A.apply_v(eps::reshape(eps::from_host(cx0, delta, B, eps::sample_shape(cx0)), eps::sample_shape(cx0))));
    out.x = eps::scale(next, cn.alpha);
    detail::notify(cb, i, n, t, tn, out.x, x0, out.nfe);
  }
  return out;
}

/// The zero-shot pivot: the isotropic denoiser at the current time, fed the exact pivot x̃ = α μ*.
template <Schedule S, LinearOperator Op, class D>
  requires Denoiser<D, typename Op::tensor_type>
auto zero_shot_denoiser(D& denoiser, S s, Op A, typename Op::tensor_type y, double sigma_y, PivotOptions opt = {}) {
  using T = typename Op::tensor_type;
  detail::require_nonnegative(sigma_y, "eps::zero_shot_denoiser", "sigma_y");
  return [&denoiser, s = std::move(s), A = std::move(A), y = std::move(y), sigma_y, opt](const T& x, double t) {
    return static_cast<T>(denoiser(pivot(s, A, x, y, t, sigma_y, opt).x_tilde(), t));
  };
}

/// The equivalent-time reduction of PAPER.md App. A.6 (AᵀA = γ² I only; throws domain_error otherwise):
/// D(α(t*) μ*, t*) with σ(t*)/α(t*) = σ*; below the schedule's smallest ratio the denoiser is the identity
/// (x̂0 = μ*).
template <Schedule S, SpectralOperator Op, class D>
  requires Denoiser<D, typename Op::tensor_type>
auto equivalent_time_denoiser(D& denoiser, S s, Op A, typename Op::tensor_type y, double sigma_y, PivotOptions opt = {}) {
  using T = typename Op::tensor_type;
  const double gamma = gram_scale(A);
  detail::require_nonnegative(sigma_y, "eps::equivalent_time_denoiser", "sigma_y");
  return [&denoiser, s = std::move(s), A = std::move(A), y = std::move(y), sigma_y, gamma, opt](const T& x, double t) {
    const Coefficients c = coefficients(s, t);
    EPS_CHECK(c.alpha > 0, domain_error, "eps::equivalent_time_denoiser: alpha = 0 at t = ", t);
    const T mu = pivot(s, A, x, y, t, sigma_y, opt).mu_star();
    const double ratio = std::sqrt(equivalent_sigma2(c.alpha, c.sigma, sigma_y, gamma));
    const Coefficients lo = coefficients(s, s.t_min());
    if (ratio <= lo.sigma / lo.alpha) return mu;
    const double ts = time_from_noise_ratio(s, ratio);
    return static_cast<T>(denoiser(eps::scale(mu, coefficients(s, ts).alpha), ts));
  };
}

}  // namespace eps
