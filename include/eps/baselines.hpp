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
/// - DDNM (Wang et al. 2023): the range-null-space denoiser x̂0 + A†(y − A x̂0) for noise-free measurements;
///   DDNM⁺ for noisy ones as the authors' code runs it (`ddnm_plus_sample`): λ_i and the noise compensation
///   from the *next* level, an η-DDIM step, singular values below 3e-2 of the largest dropped. Written out
///   in VE form it is DDRM's update with η_b = 1 (docs/math.md §7): one implementation serves both.
/// - DDRM (Kawar et al. 2022): its own spectral update in the V basis, η = 0.85, η_b = 1 (paper defaults).
/// - ΠGDM's published sampler: DDIM with η = 1 in VE form (`edm_ddim_sample` with `pigdm_denoiser`).
/// - DAPS (Zhang et al. 2024): decoupled annealing — per level an ODE solve to x̂0, Langevin steps on
///   p(x0 | x̂0, y), re-noising (`daps_sample`; or an exact draw of that Gaussian through the pivot).
/// - MPGD (He et al. 2023, pixel space): a gradient step of ‖y − A x̂0‖ on x̂0 alone (no network VJP),
///   then a DDIM η step (`mpgd_sample`).
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
  requires DifferentiableDenoiser<D, typename Op::tensor_type>
SampleResult<typename Op::tensor_type> dps_sample(
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

/// The DDNM denoiser for noise-free measurements: x̂0 + A†(y − A x̂0) (range-null-space decomposition; A†
/// by the factorisation of a spectral operator, by conjugate gradients otherwise). Noisy measurements
/// (σ_y > 0) are a domain_error: a hard replacement by A†y amplifies the noise by 1/s_i; use
/// `ddnm_plus_sample`, the authors' noisy variant.
template <LinearOperator Op, class D>
  requires Denoiser<D, typename Op::tensor_type>
auto ddnm_denoiser(D denoiser, Op A, typename Op::tensor_type y, double sigma_y = 0, CgOptions cg = {}) {
  using T = typename Op::tensor_type;
  detail::require_nonnegative(sigma_y, "eps::ddnm_denoiser", "sigma_y");
  EPS_CHECK(sigma_y == 0, domain_error, "eps::ddnm_denoiser: sigma_y = ", sigma_y,
            " > 0; the range-null-space denoiser is for noise-free measurements (use eps::ddnm_plus_sample)");
  return [denoiser = std::move(denoiser), A = std::move(A), y = std::move(y), cg](const T& x, double t) mutable {
    const T x0 = static_cast<T>(detail::unwrap(denoiser)(x, t));
    if constexpr (SpectralOperator<Op>)
      return eps::add(x0, pinv_apply(A, eps::sub(y, A.apply(x0))));
    else
      return eps::add(x0, pinv_apply(A, eps::sub(y, A.apply(x0)), cg));
  };
}

/// Options of DDRM (Kawar et al. 2022; defaults from the paper and the authors' code).
struct DdrmOptions {
  double eta = 0.85;   ///< noise of the unmeasured and the noisier-than-measurement directions
  double eta_b = 1.0;  ///< weight of the measurement where it is less noisy than the state
  /// Singular values below sv_cut × the sample's largest count as 0 (unmeasured): the authors' deblurring
  /// operators drop those below 3e-2 (their kernels sum to 1, so the largest is 1). 0 keeps every one.
  double sv_cut = 3e-2;
};

/// Options of DDNM⁺ (Wang et al. 2023; defaults from the authors' code: η = 0.85, the 3e-2 cut of the
/// deblurring operators they share with DDRM).
struct DdnmPlusOptions {
  double eta = 0.85;
  double sv_cut = 3e-2;  ///< as DdrmOptions::sv_cut
};

namespace detail {
/// The singular values of A with those below cut × each sample's largest set to 0 (DdrmOptions::sv_cut).
template <SpectralOperator Op>
auto cut_singular_values(const Op& A, double cut, const char* where) {
  EPS_CHECK(std::isfinite(cut) && cut >= 0 && cut < 1, value_error, where, ": sv_cut must lie in [0, 1), got ", cut);
  auto sv = A.singular_values();
  if (cut == 0) return sv;
  std::vector<double> h = eps::to_host(sv);
  const index_t nb = eps::batch(sv);
  const std::size_t per = h.size() / static_cast<std::size_t>(nb);
  for (std::size_t b = 0; b < static_cast<std::size_t>(nb); ++b) {
    const auto first = h.begin() + static_cast<std::ptrdiff_t>(b * per),
               last = first + static_cast<std::ptrdiff_t>(per);
    const double top = per > 0 ? *std::max_element(first, last) : 0.0;
    for (auto it = first; it != last; ++it)
      if (*it < cut * top) *it = 0;
  }
  return eps::reshape(eps::from_host(sv, h, nb, eps::sample_shape(sv)), eps::sample_shape(sv));
}
}  // namespace detail

namespace detail {
/// DDRM's walk (eps::ddrm_sample below), shared with eps::ddnm_plus_sample.
template <Schedule S, SpectralOperator Op, class D, class G>
SampleResult<typename Op::tensor_type> ddrm_walk(const char* where, D&& denoiser, const S& s, const Op& A,
                                                 const typename Op::tensor_type& y, double sigma_y,
                                                 typename Op::tensor_type x, G& gen, const EdmOptions& o,
                                                 const DdrmOptions& dd,
                                                 const StepCallback<typename Op::tensor_type>& cb) {
  using T = typename Op::tensor_type;
  using C = typename Op::coef_type;
  detail::require_nonnegative(sigma_y, where, "sigma_y");
  EPS_CHECK(dd.eta >= 0 && dd.eta <= 1 && dd.eta_b >= 0 && dd.eta_b <= 1, value_error, where,
            ": eta and eta_b must lie in [0, 1], got ", dd.eta, " and ", dd.eta_b);
  eps::check_sample(x, A.in_shape(), where, "x");
  eps::check_sample(y, A.out_shape(), where, "y");
  const std::vector<double> ts = edm_grid(s, o);
  const T sv = detail::cut_singular_values(A, dd.sv_cut, where);
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
}  // namespace detail

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
  constexpr const char* where = "eps::ddrm_sample";
  return detail::ddrm_walk(where, std::forward<D>(denoiser), s, A, y, sigma_y, std::move(x), gen, o, dd, cb);
}

/// DDNM⁺ (Wang et al. 2023) as the authors' code runs it (`svd_ddnm`, Eq. 17 and 51), on EDM's grid in
/// VE form (x̄ = x/α, ς = σ/α, ς' the next level; σ_i = σ_y/s_i): the correction of x̂0 along V's direction
/// i is scaled by λ_i = 1 where ς' ≥ σ_i and by √(1−η²) ς'/σ_i below; the fresh noise is √(ς'² − σ_i²) where
/// λ_i = 1 (noise compensation), η ς' below, and the unmeasured directions take the η-DDIM step
/// x̂0 + √(1−η²) ς' ε̂ + η ς' ξ. That is DDRM's update with η_b = 1, term for term (docs/math.md §7), so
/// this runs eps::ddrm_sample's walk with it; what the DDNM paper adds beyond it, the "time-travel"
/// resampling, is off in the authors' defaults and not implemented. NFE = steps, no VJP.
template <Schedule S, SpectralOperator Op, class D, class G>
  requires Denoiser<D, typename Op::tensor_type> && NoiseSource<G, typename Op::tensor_type>
SampleResult<typename Op::tensor_type> ddnm_plus_sample(
    D&& denoiser, const S& s, const Op& A, const typename Op::tensor_type& y, double sigma_y,
    typename Op::tensor_type x, G& gen, const EdmOptions& o = {}, const DdnmPlusOptions& dn = {},
    const std::type_identity_t<StepCallback<typename Op::tensor_type>>& cb = {}) {
  return detail::ddrm_walk("eps::ddnm_plus_sample", std::forward<D>(denoiser), s, A, y, sigma_y, std::move(x), gen, o,
                           DdrmOptions{dn.eta, 1.0, dn.sv_cut}, cb);
}

/// Options of MPGD (He et al. 2023, pixel space without projection; η from the authors' code).
struct MpgdOptions {
  double eta = 0.5;   ///< stochasticity of the DDIM step
  double step = 1.0;  ///< ζ: x̂0 moves ζ √(1 + ς'²) along −∇‖y − A x̂0‖ (the authors' scale/√ᾱ_{t−1}, VE form)
  /// x̂0 is clipped to [clip_min, clip_max] before the step (the authors clip to the data range [−1, 1]);
  /// the defaults leave it as it is (the library does not know the data's range).
  double clip_min = -std::numeric_limits<double>::infinity(), clip_max = std::numeric_limits<double>::infinity();
};

/// MPGD on EDM's grid (x̄ = x/α, ς = σ/α, ς' the next level): x̂0 = clip(D(x, t)), ε̂ = (x̄ − x̂0)/ς, then
///   x̂0' = x̂0 + ζ √(1 + ς'²) Aᵀr/‖r‖,  r = y − A x̂0 (per sample; the step of −∇‖r‖ on x̂0 alone: no VJP
///   through the network), and the DDIM η step x̄' = x̂0' + √(ς'² − c²) ε̂ + c ξ (`detail::edm_ddim_step`).
/// √(1 + ς'²) = 1/√ᾱ_{t−1} is the authors' scale written in VE levels. NFE = steps, no VJP.
template <Schedule S, LinearOperator Op, class D, class G>
  requires Denoiser<D, typename Op::tensor_type> && NoiseSource<G, typename Op::tensor_type> &&
           RealTensor<typename Op::tensor_type>
SampleResult<typename Op::tensor_type> mpgd_sample(
    D&& denoiser, const S& s, const Op& A, const typename Op::tensor_type& y, typename Op::tensor_type x, G& gen,
    const EdmOptions& o = {}, const MpgdOptions& mp = {},
    const std::type_identity_t<StepCallback<typename Op::tensor_type>>& cb = {}) {
  using T = typename Op::tensor_type;
  constexpr const char* where = "eps::mpgd_sample";
  EPS_CHECK(mp.eta >= 0 && mp.eta <= 1, value_error, where, ": eta must lie in [0, 1], got ", mp.eta);
  EPS_CHECK(std::isfinite(mp.step) && mp.step >= 0, value_error, where, ": step must be finite and >= 0, got ",
            mp.step);
  EPS_CHECK(!std::isnan(mp.clip_min) && !std::isnan(mp.clip_max) && mp.clip_min <= mp.clip_max, value_error, where,
            ": need clip_min <= clip_max, got [", mp.clip_min, ", ", mp.clip_max, "]");
  eps::check_sample(x, A.in_shape(), where, "x");
  eps::check_sample(y, A.out_shape(), where, "y");
  const bool clip = std::isfinite(mp.clip_min) || std::isfinite(mp.clip_max);
  return detail::walk(
      where, s, edm_grid(s, o), true, std::move(x), denoiser, cb, [&](const T& xc, const GridStep& st, auto& net) {
        T x0 = net(xc, st.t);
        if (clip) x0 = eps::clamp(x0, mp.clip_min, mp.clip_max);
        const T e = eps::scale(eps::sub(eps::scale(xc, 1 / st.c.alpha), x0), 1 / st.ratio);
        const T r = eps::sub(y, A.apply(x0));
        const T g = eps::scale_batch(A.apply_adjoint(r), detail::inverse_or_zero(eps::norm2_batch(r), true));
        const double c = mp.step * std::sqrt(1 + st.ratio_next * st.ratio_next);
        const T x0g = eps::add(x0, eps::scale(g, c));
        return std::pair{detail::edm_ddim_step(x0g, e, st, mp.eta, gen), x0g};
      });
}

/// Options of DAPS (Zhang et al. 2024; defaults from the authors' pixel-space configuration except `levels`,
/// which is 200 there: NFE = levels × ode_steps).
struct DapsOptions {
  int levels = 20;                          ///< N annealing levels
  int ode_steps = 5;                        ///< K Euler steps of the probability-flow ODE per level
  int langevin_steps = 100;                 ///< M Langevin steps per level (none at the last)
  double lr = 1e-4;                         ///< Langevin step at the first level ...
  double lr_min_ratio = 0.01;               ///< ... decaying linearly to lr · lr_min_ratio over the levels
  double tau = 0.01;                        ///< the data term of the Langevin target is −‖A x0 − y‖²/τ²
  double sigma_max = 100, sigma_min = 0.1;  ///< the annealing levels (EDM ρ grid; σ_max clamped to the schedule's)
  double ode_sigma_min = 0.01;              ///< each ODE solve runs from σ_i down to this, then to 0
  double rho = 7;
  /// Draw the Gaussian Langevin target exactly (its mean and covariance are a pivot: α = 1, σ = σ_i,
  /// σ_y = τ/√2) instead of running the chain; spectral operators only.
  bool exact = false;
};

/// DAPS's Langevin chain at one level: M steps of z ← z − η ∇U(z) + √(2η) ξ from z = x̂0, for the target
/// exp(−U), U(z) = ‖z − x̂0‖²/(2σ²) + ‖A z − y‖²/τ² (the authors' `langevin_pixel`). The target is
/// N(μ*, Σ*) of the pivot with α = 1, σ, σ_y = τ/√2 (docs/math.md §7); the chain's stationary law is
/// N(μ*, Σ*(I − η Σ*⁻¹/2)⁻¹) (tested), which tends to it as η → 0.
template <LinearOperator Op, class G>
  requires NoiseSource<G, typename Op::tensor_type> && RealTensor<typename Op::tensor_type>
typename Op::tensor_type daps_langevin(const Op& A, const typename Op::tensor_type& x0_hat,
                                       const typename Op::tensor_type& y, double sigma, double tau, double lr,
                                       int steps, G& gen) {
  using T = typename Op::tensor_type;
  constexpr const char* where = "eps::daps_langevin";
  EPS_CHECK(
      std::isfinite(sigma) && sigma > 0 && std::isfinite(tau) && tau > 0 && std::isfinite(lr) && lr > 0 && steps >= 0,
      value_error, where, ": need sigma, tau, lr finite and > 0 and steps >= 0, got ", sigma, ", ", tau, ", ", lr, ", ",
      steps);
  T z = x0_hat;
  const double a = lr / (sigma * sigma), b = 2 * lr / (tau * tau), n = std::sqrt(2 * lr);
  for (int m = 0; m < steps; ++m) {
    const T grad_fit = A.apply_adjoint(eps::sub(A.apply(z), y));
    z = eps::add(eps::sub(eps::sub(z, eps::scale(eps::sub(z, x0_hat), a)), eps::scale(grad_fit, b)),
                 eps::scale(draw_noise(z, gen), n));
  }
  return z;
}

/// DAPS on N annealing levels σ_0 > … > σ_{N−1} (EDM ρ grid from σ_max to σ_min, then 0), in x̄ = x/α, ς = σ/α:
/// at level i, K Euler steps of the probability-flow ODE from ς_i to ode_sigma_min and then to 0 give x̂0;
/// z ~ p(x0 | x̂0, y) by `daps_langevin` with step lr·(1 + (i/N)(lr_min_ratio − 1)), or exactly (`exact`);
/// then x̄ = z + ς_{i+1} ξ. The last level returns x̂0 (no chain), as the authors' code does. Start from
/// x = α σ_0 ε at the first time of `daps_times`. NFE = N·K, no VJP.
/// An exact draw of DAPS's Gaussian Langevin target (`daps_langevin`): z = μ* + Σ*^{1/2} ξ of the pivot with
/// x_t = x̂0 at α = 1, σ, and σ_y = τ/√2, i.e. precision I/σ² + 2AᵀA/τ² (spectral operators).
template <SpectralOperator Op, class G>
  requires NoiseSource<G, typename Op::tensor_type> && RealTensor<typename Op::tensor_type>
typename Op::tensor_type daps_exact_draw(const Op& A, const typename Op::tensor_type& x0_hat,
                                         const typename Op::tensor_type& y, double sigma, double tau, G& gen) {
  EPS_CHECK(std::isfinite(sigma) && sigma > 0 && std::isfinite(tau) && tau > 0, value_error,
            "eps::daps_exact_draw: sigma and tau must be finite and > 0, got ", sigma, ", ", tau);
  PivotOptions po;
  po.check_range = false;
  const auto pv = pivot(A, x0_hat, y, NoiseLevels{1.0, sigma, tau / std::sqrt(2.0)}, po);
  return eps::add(pv.mu_star(), pv.covariance_x0().apply_sqrt(draw_noise(x0_hat, gen)));
}

template <Schedule S>
std::vector<double> daps_times(const S& s, const DapsOptions& o) {
  EPS_CHECK(o.levels >= 1 && o.ode_steps >= 1 && o.langevin_steps >= 0, value_error,
            "eps::daps_sample: need levels >= 1, ode_steps >= 1, langevin_steps >= 0, got ", o.levels, ", ",
            o.ode_steps, ", ", o.langevin_steps);
  EPS_CHECK(
      std::isfinite(o.sigma_max) && o.sigma_min > o.ode_sigma_min && o.ode_sigma_min > 0 && o.sigma_max >= o.sigma_min,
      value_error, "eps::daps_sample: need sigma_max >= sigma_min > ode_sigma_min > 0, got ", o.sigma_max, ", ",
      o.sigma_min, ", ", o.ode_sigma_min);
  return edm_times(s, o.levels, o.sigma_min, o.sigma_max, o.rho);
}

template <Schedule S, LinearOperator Op, class D, class G>
  requires Denoiser<D, typename Op::tensor_type> && NoiseSource<G, typename Op::tensor_type> &&
           RealTensor<typename Op::tensor_type>
SampleResult<typename Op::tensor_type> daps_sample(
    D&& denoiser, const S& s, const Op& A, const typename Op::tensor_type& y, typename Op::tensor_type x, G& gen,
    const DapsOptions& o = {}, const std::type_identity_t<StepCallback<typename Op::tensor_type>>& cb = {}) {
  using T = typename Op::tensor_type;
  constexpr const char* where = "eps::daps_sample";
  EPS_CHECK(std::isfinite(o.lr) && o.lr > 0 && std::isfinite(o.lr_min_ratio) && o.lr_min_ratio > 0 &&
                std::isfinite(o.tau) && o.tau > 0,
            value_error, where, ": lr, lr_min_ratio and tau must be finite and > 0, got ", o.lr, ", ", o.lr_min_ratio,
            ", ", o.tau);
  if constexpr (!SpectralOperator<Op>)
    EPS_CHECK(!o.exact, domain_error, where, ": the exact draw needs a spectral operator; ", A.name(), " has none");
  eps::check_sample(x, A.in_shape(), where, "x");
  eps::check_sample(y, A.out_shape(), where, "y");
  const std::vector<double> ts = daps_times(s, o);
  const double lo = noise_ratio(s, s.t_min());
  return detail::walk(where, s, ts, true, std::move(x), denoiser, cb, [&](const T& xc, const GridStep& st, auto& net) {
    // x̂0: K Euler steps of the probability-flow ODE from ς_i down to ode_sigma_min, then to 0.
    std::vector<double> rs = edm_sigmas(o.ode_steps, std::max(o.ode_sigma_min, lo), st.ratio, o.rho);
    T xb = eps::scale(xc, 1 / st.c.alpha);
    for (std::size_t k = 0; k + 1 < rs.size(); ++k) {
      const double tk = k == 0 ? st.t : time_from_noise_ratio(s, rs[k]);
      const T x0 = net(eps::scale(xb, coefficients(s, tk).alpha), tk);
      xb = rs[k + 1] > 0 ? eps::add(xb, eps::scale(eps::sub(xb, x0), (rs[k + 1] - rs[k]) / rs[k])) : x0;
    }
    const T x0_hat = xb;
    if (st.last) return std::pair{eps::scale(x0_hat, st.cn.alpha), x0_hat};
    T z;
    if constexpr (SpectralOperator<Op>)
      if (o.exact) z = daps_exact_draw(A, x0_hat, y, st.ratio, o.tau, gen);
    if (!o.exact) {
      const double lr = o.lr * (1 + double(st.index) / double(st.steps) * (o.lr_min_ratio - 1));
      z = daps_langevin(A, x0_hat, y, st.ratio, o.tau, lr, o.langevin_steps, gen);
    }
    return std::pair{eps::scale(eps::add(z, eps::scale(draw_noise(z, gen), st.ratio_next)), st.cn.alpha), z};
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
