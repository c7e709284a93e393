// SPDX-License-Identifier: MIT
/// @file posterior.hpp
/// The exact posterior of docs/math.md §2–4: the shifted pivot and its anisotropic covariance, in x0 space
/// (μ*, Σ*; docs/math.md's z, Σ, Eq. E2) and in interpolant space (x̃ = α μ*, Σ̃ = α² Σ*, Eq. E3), and the
/// posterior quantities a sampler needs from a denoiser output (Eq. E1, §4).
///
/// For A = U diag(s) Vᴴ and a coefficient c = (Vᴴ x_t)_i, c_y = (Uᴴ y)_i (docs/math.md §3), with
/// D_i = α² σ_y² + s_i² σ² and Z_i = [D_i = 0]:
///   x̃_i = (α² σ_y² c + α s_i σ² c_y + Z_i c) / (D_i + Z_i),     Σ̃_i = σ² (α² σ_y² + Z_i) / (D_i + Z_i),
///   Σ*_i = σ² (σ_y² + Z_i) / (D_i + Z_i α²)   (+∞ where α = 0 and s_i = 0: no information).
/// Z_i = 1 exactly where the ratio is 0/0 — s_i = 0 with α σ_y = 0, or σ = 0 with α σ_y = 0 — and the
/// formula then gives docs/math.md's tabled limits: x̃_i = c, Σ̃_i = σ² (null space, no information) and
/// x̃_i = c, Σ̃_i = 0 (σ = 0). Nothing is formed in precision form, so σ_y = 0, α = 0 and σ = 0 are exact.
///
/// Operators without a factorisation use conjugate gradients on the interpolant-space system
///   (α² σ_y² I + σ² AᵀA) x̃ = α² σ_y² x_t + α σ² Aᵀ y,   started at x̃ = x_t,
/// which on the singular systems of the limits keeps x_t's null-space component: the same table.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "eps/backend.hpp"
#include "eps/linalg.hpp"
#include "eps/operators/common.hpp"
#include "eps/operators/concepts.hpp"
#include "eps/parametrization.hpp"
#include "eps/schedule.hpp"

namespace eps {

/// α_t, σ_t of the interpolant and the measurement noise σ_y, per sample or shared.
struct NoiseLevels {
  BatchValues alpha = 1.0, sigma = 1.0, sigma_y = 0.0;

  /// Throws value_error for a negative, NaN or infinite level or α = σ = 0; shape_error for a size that
  /// is neither 1 nor `batch_size`.
  void validate(index_t batch_size, const char* where) const {
    alpha.check_batch(batch_size, where, "alpha");
    sigma.check_batch(batch_size, where, "sigma");
    sigma_y.check_batch(batch_size, where, "sigma_y");
    const std::size_t n = static_cast<std::size_t>(batch_size);
    for (std::size_t b = 0; b < std::max<std::size_t>(n, 1); ++b) {
      detail::require_nonnegative(alpha[b], where, "alpha");
      detail::require_nonnegative(sigma[b], where, "sigma");
      detail::require_nonnegative(sigma_y[b], where, "sigma_y");
      EPS_CHECK(alpha[b] > 0 || sigma[b] > 0, value_error, where, ": alpha and sigma are both 0 for sample ", b,
                " (x_t carries neither signal nor noise)");
      const double a = alpha[b], s = sigma[b], sy = sigma_y[b];
      EPS_CHECK(
          std::isfinite(a * a * sy * sy) && std::isfinite(s * s) && std::isfinite(a * s * s) &&
              std::isfinite(sy * sy) && std::isfinite(a * a),
          value_error, where, ": the levels of sample ", b, " (alpha ", a, ", sigma ", s, ", sigma_y ", sy,
          ") overflow double precision in the pivot (alpha^2 sigma_y^2, sigma^2 and alpha sigma^2 must be finite)");
    }
  }
};

/// α, σ of a schedule at (per-sample) times t, with measurement noise σ_y; checks t and σ_y.
template <Schedule S>
NoiseLevels noise_levels(const S& s, const BatchValues& t, const BatchValues& sigma_y) {
  for (double v : sigma_y.values()) detail::require_nonnegative(v, "eps::noise_levels", "sigma_y");
  const BatchCoefficients c = coefficients(s, t);
  return {c.alpha, c.sigma, sigma_y};
}

/// Options of the pivot computation.
struct PivotOptions {
  CgOptions cg{};
  /// Reject non-finite x_t and y (one reduction over each; set false in hot loops that guarantee it).
  bool check_finite = true;
  /// Where σ_y = 0, reject a y outside the range of A (eps::check_measurement; costs one projection of
  /// y). The samplers check once per run and then turn this off.
  bool check_range = true;
  /// Relative tolerance of that check; 0 selects √ε of the dtype (docs/conventions.md).
  double range_rtol = 0;
};

/// Noise-free data must be consistent (docs/conventions.md, "Noise-free measurements"): where σ_y = 0,
/// y = A x0 exactly, so the measured part y_m of y (`eps::measured`: y without an operator's padding) lies
/// in range(A). Throws value_error naming the sample when ‖y_m − P_R y_m‖ > rtol·‖y_m‖, with P_R the
/// projector onto range(A) (U 1[s>0] Uᴴ for spectral operators, A A† by conjugate gradients otherwise):
/// such a y has zero likelihood under every prior, and no posterior exists. `rtol` = 0 selects √ε of
/// y's dtype (1.5e-8 in float64, 3.5e-4 in float32): round-off of A x0 and of the rank cut passes.
/// Samples with σ_y > 0 are not checked (any y is possible there).
template <LinearOperator Op>
void check_measurement(const Op& A, const typename Op::tensor_type& y, const BatchValues& sigma_y, double rtol = 0,
                       const CgOptions& cg = {}, const char* where = "eps::check_measurement") {
  eps::check_sample(y, A.out_shape(), where, "y");
  EPS_CHECK(rtol >= 0 && !std::isnan(rtol), value_error, where, ": range tolerance must be >= 0 (0: automatic), got ",
            rtol);
  const index_t by = eps::batch(y);
  std::vector<bool> noise_free(static_cast<std::size_t>(by), false);
  if (sigma_y.is_uniform()) {
    noise_free.assign(noise_free.size(), sigma_y[0] == 0);
  } else {
    for (std::size_t b = 0; b < sigma_y.size(); ++b)
      if (sigma_y[b] == 0) noise_free[by == 1 ? 0 : b] = true;
  }
  if (std::none_of(noise_free.begin(), noise_free.end(), [](bool v) { return v; })) return;
  if (rtol == 0) rtol = std::sqrt(eps::epsilon(y));
  using T = typename Op::tensor_type;
  const T ym = eps::measured(A, y);
  T proj;
  if constexpr (SpectralOperator<Op>) {
    proj = A.apply_u(eps::mul(A.apply_ut(ym), detail::nonzero_indicator(A.singular_values())));
  } else {
    proj = A.apply(pinv_apply(A, ym, cg));
  }
  const std::vector<double> rn = eps::norm2_batch(eps::sub(ym, proj)), yn = eps::norm2_batch(ym);
  for (std::size_t b = 0; b < noise_free.size(); ++b) {
    if (!noise_free[b]) continue;
    const double r = std::sqrt(rn[b]), n = std::sqrt(yn[b]);
    EPS_CHECK(
        r <= rtol * n, value_error, where, ": sigma_y = 0 but y (sample ", b, ") is not in the range of ", A.name(),
        ": its distance to the range is ", r, ", ", (n > 0 ? r / n : 1.0), " of its norm (tolerance ", rtol,
        "); noise-free data outside range(A) has zero likelihood under every prior. Correct y, or give sigma_y > 0");
  }
}

template <LinearOperator Op>
class Pivot;

namespace detail {
/// Passkey: only eps::pivot constructs pivots and their covariances.
class PivotKey {
  PivotKey() = default;
  template <class Op>
  friend struct PivotFactory;
};
inline BatchValues square(const BatchValues& v) {
  return v.map([](double x) { return x * x; });
}
inline BatchValues product(const BatchValues& a, const BatchValues& b) {
  return zip(a, b, [](double x, double y) { return x * y; });
}
}  // namespace detail

/// Which space a covariance lives in: Σ̃ (interpolant space, E3) or Σ* (x0 space, E2).
enum class Space { interpolant, x0 };

/// The posterior covariance Σ̃ or Σ* as an operator: apply, symmetric square root, diagonal.
/// Spectral operators hold its eigenvalues in coefficient layout; the others solve with CG.
/// In x0 space at α = 0 the null space of A has infinite variance (stored as +inf); apply() then
/// returns inf/NaN there by design — use the interpolant space, which is finite everywhere.
template <LinearOperator Op>
class PosteriorCovariance {
 public:
  using T = typename Op::tensor_type;
  using R = real_tensor_t<T>;

  /// Σ v (v: batch 1 or the pivot's batch, shape in_shape).
  T apply(const T& v) const {
    eps::check_sample(v, A_.in_shape(), "eps::PosteriorCovariance::apply", "v");
    if constexpr (SpectralOperator<Op>) {
      return spectral_filter(A_, v, *g_, g_null_);
    } else {
      // Σ̃ v = σ² α² σ_y² M⁻¹ v with M = α² σ_y² I + σ² AᵀA, solved from σ² v (keeps σ² P_N v if α σ_y = 0).
      const BatchValues s2 = detail::square(lv_.sigma), p = detail::square(detail::product(lv_.alpha, lv_.sigma_y));
      const T sol = solve_shifted_gram(A_, p, s2, eps::scale_batch(v, detail::product(p, s2)), eps::scale_batch(v, s2),
                                       cg_, "eps::PosteriorCovariance::apply");
      return space_ == Space::x0 ? eps::scale_batch(sol, inverse_alpha2()) : sol;
    }
  }

  /// Σ^{1/2} v with the symmetric square root (spectral operators only). For the others, draw x_t and y
  /// and use the pivot (E3): that needs no square root (docs/math.md §3).
  T apply_sqrt(const T& v) const
    requires SpectralOperator<Op>
  {
    eps::check_sample(v, A_.in_shape(), "eps::PosteriorCovariance::apply_sqrt", "v");
    return spectral_filter(A_, v, eps::sqrt(*g_), g_null_.map([](double g) { return std::sqrt(g); }));
  }

  /// A draw of N(0, Σ): Σ^{1/2} ξ with ξ ~ N(0, I), shaped as `like` (spectral operators only).
  T sample(const T& like, generator_t<T>& gen) const
    requires SpectralOperator<Op>
  {
    return apply_sqrt(eps::randn_like(like, gen));
  }

  /// diag Σ, per pixel (the published setup's (docs/math.md §9) per-pixel noise map is √diag Σ̃ / σ). Spectral operators
  /// use their O(d) formula; the others probe with unit vectors (d CG solves: for small d only).
  T diagonal() const {
    if constexpr (SpectralOperator<Op>) {
      return eps::spectral_diagonal(A_, *g_, g_null_);
    } else {
      const index_t d = numel(Shape(A_.in_shape()));
      const index_t nb = static_cast<index_t>(std::max({lv_.alpha.size(), lv_.sigma.size(), lv_.sigma_y.size()}));
      std::vector<double> diag(static_cast<std::size_t>(d * nb));
      for (index_t j = 0; j < d; ++j) {
        std::vector<double> e(static_cast<std::size_t>(d * nb), 0.0);
        for (index_t b = 0; b < nb; ++b) e[static_cast<std::size_t>(b * d + j)] = 1.0;
        const std::vector<double> col =
            eps::to_host(apply(eps::reshape(eps::from_host(like_, e, nb, A_.in_shape()), A_.in_shape())));
        for (index_t b = 0; b < nb; ++b)
          diag[static_cast<std::size_t>(b * d + j)] = col[static_cast<std::size_t>(b * d + j)];
      }
      return eps::reshape(eps::from_host(like_, diag, nb, A_.in_shape()), A_.in_shape());
    }
  }

  Space space() const { return space_; }
  const NoiseLevels& levels() const { return lv_; }
  /// Eigenvalues in coefficient layout (spectral operators), and the null-space value of a thin V.
  const std::optional<R>& eigenvalues() const { return g_; }
  const BatchValues& null_eigenvalue() const { return g_null_; }

  /// Built by eps::pivot: `g` holds the eigenvalues in coefficient layout (spectral operators only) and
  /// `g_null` the value on the implicit null space of a thin V.
  PosteriorCovariance(detail::PivotKey, Op A, NoiseLevels lv, Space space, CgOptions cg, T like,
                      std::optional<R> g = std::nullopt, BatchValues g_null = 0.0)
      : A_(std::move(A)),
        lv_(std::move(lv)),
        space_(space),
        cg_(cg),
        like_(std::move(like)),
        g_(std::move(g)),
        g_null_(std::move(g_null)) {}

 private:
  BatchValues inverse_alpha2() const {
    EPS_CHECK(lv_.alpha.all([](double a) { return a > 0; }), domain_error,
              "eps::PosteriorCovariance: Sigma* (x0 space) is infinite in the null space of A at alpha = 0; use "
              "the interpolant-space covariance");
    return lv_.alpha.map([](double a) { return 1.0 / (a * a); });
  }

  Op A_;
  NoiseLevels lv_;
  Space space_;
  CgOptions cg_;
  T like_;
  std::optional<R> g_;
  BatchValues g_null_ = 0.0;
};

/// The shifted pivot of a measurement (docs/math.md §2; docs/math.md E2, E3) with its covariance.
template <LinearOperator Op>
class Pivot {
 public:
  using T = typename Op::tensor_type;
  using R = real_tensor_t<T>;

  /// x̃ = α μ* = Σ̃ (x_t/σ² + Aᵀy/(α σ_y²)) (E3), finite in every case of docs/math.md §3's table.
  const T& x_tilde() const { return x_tilde_; }

  /// μ* = x̃/α (E2). Where α = 0 it is A†y: the measured part of the pivot is y/s and the null space
  /// carries no information (Σ* = ∞ there), where it is set to 0 by convention.
  T mu_star() const {
    const BatchValues& a = lv_.alpha;
    const BatchValues inv = a.map([](double v) { return v > 0 ? 1.0 / v : 0.0; });
    T z = eps::scale_batch(x_tilde_, inv);
    if (a.any([](double v) { return v == 0; }))
      z = eps::add(z, eps::scale_batch(pinv_apply(A_, y_, cg_), a.map([](double v) { return v == 0 ? 1.0 : 0.0; })));
    return z;
  }

  /// Σ̃ = α² Σ* (interpolant space), the covariance of x̃ given x0 (docs/math.md §2).
  const PosteriorCovariance<Op>& covariance() const { return cov_tilde_; }
  /// Σ* (x0 space), the covariance of μ* given x0 (docs/math.md §2).
  const PosteriorCovariance<Op>& covariance_x0() const { return cov_star_; }
  /// √(diag Σ̃)/σ: the per-pixel relative noise level of x̃ (1 in the null space, < 1 where measured).
  R noise_map() const {
    const BatchValues inv_s = lv_.sigma.map([](double s) { return s > 0 ? 1.0 / s : 0.0; });
    return eps::scale_batch(eps::sqrt(eps::real(cov_tilde_.diagonal())), inv_s);
  }

  const NoiseLevels& levels() const { return lv_; }
  const Op& op() const { return A_; }
  const T& y() const { return y_; }

  /// Built by eps::pivot.
  Pivot(detail::PivotKey, const Op& A, T y, NoiseLevels lv, const CgOptions& cg, T x_tilde,
        PosteriorCovariance<Op> cov_tilde, PosteriorCovariance<Op> cov_star)
      : A_(A),
        y_(std::move(y)),
        lv_(std::move(lv)),
        cg_(cg),
        x_tilde_(std::move(x_tilde)),
        cov_tilde_(std::move(cov_tilde)),
        cov_star_(std::move(cov_star)) {}

 private:
  Op A_;
  T y_;
  NoiseLevels lv_;
  CgOptions cg_;
  T x_tilde_;
  PosteriorCovariance<Op> cov_tilde_, cov_star_;
};

namespace detail {
/// The spectral x̃ of docs/math.md §3 from the coefficients c = Vᴴx_t and c_y = Uᴴy and the singular values
/// s (ss = s²): x̃ = V (w_c c + w_y c_y) (+ x_t − V c on the complement of a thin V), with D = s² σ² + α² σ_y²,
/// Z = [D = 0], w_c = (α² σ_y² + Z)/(D + Z), w_y = s α σ²/(D + Z). Shared by eps::pivot and EpsInputPlan,
/// which computes c_y, s and s² once per run.
template <SpectralOperator Op, class C, class R>
struct SpectralPivot {
  typename Op::tensor_type x_tilde;
  R den, z, wc;
};
template <SpectralOperator Op, class C, class R>
SpectralPivot<Op, C, R> spectral_x_tilde(const Op& A, const typename Op::tensor_type& x_t, const C& c, const C& cy,
                                         const R& s, const R& ss, const NoiseLevels& lv) {
  const BatchValues a2s2y = square(product(lv.alpha, lv.sigma_y));                          // α² σ_y²
  const BatchValues s2 = square(lv.sigma);                                                  // σ²
  const BatchValues as2 = product(lv.alpha, s2);                                            // α σ²
  R den = eps::add(eps::mul(ss, eps::batch_scalars(s, s2)), eps::batch_scalars(s, a2s2y));  // D
  R z = eps::zero_indicator(den);
  const R safe = eps::add(den, z);
  R wc = eps::div(eps::add(eps::batch_scalars(s, a2s2y), z), safe);      // weight of c, Σ̃ = σ² wc
  const R wy = eps::div(eps::mul(s, eps::batch_scalars(s, as2)), safe);  // weight of c_y
  auto xt = A.apply_v(eps::add(eps::mul(c, wc), eps::mul(cy, wy)));
  if (is_thin(A)) xt = eps::add(xt, eps::sub(x_t, A.apply_v(c)));  // null space: x̃ = x_t
  return {std::move(xt), std::move(den), std::move(z), std::move(wc)};
}

template <class Op>
struct PivotFactory {
  using T = typename Op::tensor_type;
  using R = real_tensor_t<T>;
  static Pivot<Op> make(const Op& A, const T& y, const NoiseLevels& lv, const CgOptions& cg, T x_tilde,
                        std::optional<R> g_tilde = std::nullopt, BatchValues g_tilde_null = 0.0,
                        std::optional<R> g_star = std::nullopt, BatchValues g_star_null = 0.0) {
    // The covariances keep only dtype/device from `like`: an empty batch, not a copy of x̃.
    T like = [&] {
      if constexpr (std::same_as<R, T>)
        return eps::zeros(x_tilde, 0, A.in_shape());
      else
        return x_tilde;
    }();
    PosteriorCovariance<Op> ct(PivotKey{}, A, lv, Space::interpolant, cg, like, std::move(g_tilde),
                               std::move(g_tilde_null));
    PosteriorCovariance<Op> cs(PivotKey{}, A, lv, Space::x0, cg, std::move(like), std::move(g_star),
                               std::move(g_star_null));
    return Pivot<Op>(PivotKey{}, A, y, lv, cg, std::move(x_tilde), std::move(ct), std::move(cs));
  }
};
}  // namespace detail

/// Computes the pivot of (x_t, y) for y = A x0 + σ_y n and x_t = α x0 + σ ε.
/// @param x_t  batch of B samples of shape A.in_shape().
/// @param y    batch of B or 1 samples of shape A.out_shape() (one y shared by B posterior samples).
/// Throws shape_error (shapes, batch sizes), value_error (levels, non-finite inputs), convergence_error (CG).
template <LinearOperator Op>
Pivot<Op> pivot(const Op& A, const typename Op::tensor_type& x_t, const typename Op::tensor_type& y,
                const NoiseLevels& lv, const PivotOptions& opt = {}) {
  using T = typename Op::tensor_type;
  constexpr const char* where = "eps::pivot";
  eps::check_sample(x_t, A.in_shape(), where, "x_t");
  eps::check_sample(y, A.out_shape(), where, "y");
  const index_t B = eps::batch(x_t);
  EPS_CHECK(eps::batch(y) == B || eps::batch(y) == 1, shape_error, where, ": y has batch size ", eps::batch(y),
            "; expected 1 or the batch size of x_t, ", B);
  lv.validate(B, where);
  opt.cg.validate(where);
  if (opt.check_finite) {
    eps::check_finite(x_t, where, "x_t");
    eps::check_finite(y, where, "y");
  }
  if (opt.check_range) check_measurement(A, y, lv.sigma_y, opt.range_rtol, opt.cg, where);
  const BatchValues a2s2y = detail::square(detail::product(lv.alpha, lv.sigma_y));  // α² σ_y²
  const BatchValues s2 = detail::square(lv.sigma);                                  // σ²
  const BatchValues as2 = detail::product(lv.alpha, s2);                            // α σ²

  if constexpr (SpectralOperator<Op>) {
    const auto s = A.singular_values();
    auto [xt, den, z, wc] = detail::spectral_x_tilde(A, x_t, A.apply_vt(x_t), A.apply_ut(y), s, eps::mul(s, s), lv);
    // Σ* = σ² (σ_y² + Z) / (D + Z α²): +inf where D = 0 and α = 0 (no information), finite elsewhere.
    const BatchValues sy2 = detail::square(lv.sigma_y), a2 = detail::square(lv.alpha);
    auto g_star = eps::div(eps::mul(eps::add(eps::batch_scalars(s, sy2), z), eps::batch_scalars(s, s2)),
                           eps::add(den, eps::mul(z, eps::batch_scalars(s, a2))));
    const BatchValues g_star_null =
        zip(s2, a2, [](double sg, double al) { return al > 0 ? sg / al : std::numeric_limits<double>::infinity(); });
    return detail::PivotFactory<Op>::make(A, y, lv, opt.cg, std::move(xt), eps::mul(wc, eps::batch_scalars(s, s2)), s2,
                                          std::move(g_star), g_star_null);
  } else {
    const T aty = A.apply_adjoint(y);
    const T rhs = eps::add(eps::scale_batch(x_t, a2s2y), eps::scale_batch(aty, as2));
    T xt = solve_shifted_gram(A, a2s2y, s2, rhs, x_t, opt.cg, "eps::pivot (conjugate gradients)");
    return detail::PivotFactory<Op>::make(A, y, lv, opt.cg, std::move(xt));
  }
}

/// The pivot at time t of a schedule, for measurement noise σ_y.
template <Schedule S, LinearOperator Op>
Pivot<Op> pivot(const S& schedule, const Op& A, const typename Op::tensor_type& x_t, const typename Op::tensor_type& y,
                const BatchValues& t, const BatchValues& sigma_y, const PivotOptions& opt = {}) {
  return pivot(A, x_t, y, noise_levels(schedule, t, sigma_y), opt);
}

// ---------------------------------------------------------------------------------------------
// Posterior quantities from a denoiser output x̂0 = D(x̃, Σ̃) = E[x0 | x_t, y]  (docs/math.md §4)
// ---------------------------------------------------------------------------------------------

/// (E1) ∇ log p(x_t | y) = (α x̂0 − x_t)/σ².
template <Tensor T>
T posterior_score(const T& x0_hat, const T& x_t, const NoiseLevels& lv) {
  return score_from_x0(x0_hat, x_t, lv.alpha, lv.sigma);
}

/// Posterior ε̂ = (x_t − α x̂0)/σ.
template <Tensor T>
T posterior_epsilon(const T& x0_hat, const T& x_t, const NoiseLevels& lv) {
  return epsilon_from_x0(x0_hat, x_t, lv.alpha, lv.sigma);
}

/// Posterior velocity v(x_t | y) = α' x̂0 + σ' ε̂ (docs/math.md §4.1).
template <Tensor T>
T posterior_velocity(const T& x0_hat, const T& x_t, const BatchCoefficients& c) {
  return velocity_from_x0(x0_hat, x_t, c);
}

/// docs/math.md §4.1: ∇ log p(y | x_t) = (α/σ²)(D_{Σ*}(μ*) − D_t(x_t)), the gap between the posterior and
/// the unconditional denoiser.
template <Tensor T>
T guidance_gap(const T& x0_posterior, const T& x0_unconditional, const NoiseLevels& lv) {
  const BatchValues k =
      zip(lv.alpha, detail::reciprocal_checked(detail::square(lv.sigma), "eps::guidance_gap", "sigma"),
          [](double a, double b) { return a * b; });
  return eps::scale_batch(eps::sub(x0_posterior, x0_unconditional), k);
}

/// docs/math.md §4.1: the limit of μ* as σ/α → ∞, A†y + P_N(A) x_t/α (x_t/α with α = 1 under EDM).
template <LinearOperator Op>
typename Op::tensor_type high_noise_limit(const Op& A, const typename Op::tensor_type& x_t,
                                          const typename Op::tensor_type& y, double alpha = 1.0,
                                          const CgOptions& opt = {}) {
  EPS_CHECK(alpha > 0 && std::isfinite(alpha), value_error, "eps::high_noise_limit: alpha must be > 0, got ", alpha);
  return eps::add(pinv_apply(A, y, opt), eps::scale(null_project(A, x_t, opt), 1.0 / alpha));
}

/// γ such that AᵀA = γ² I (all singular values equal, V complete), to relative tolerance `rtol`;
/// throws domain_error otherwise (docs/math.md §4.1 applies only then).
template <SpectralOperator Op>
double gram_scale(const Op& A, double rtol = 1e-12) {
  EPS_CHECK(!is_thin(A), domain_error, "eps::gram_scale: ", A.name(),
            " has a null space, so A^T A is not a multiple of I");
  const auto s = A.singular_values();
  const double g = eps::max_abs(s);
  EPS_CHECK(g > 0 && eps::max_abs(eps::add_scalar(s, -g)) <= rtol * g, domain_error,
            "eps::gram_scale: the singular values of ", A.name(),
            " are not all equal, so A^T A is not a multiple of I");
  return g;
}

/// docs/math.md §4.1: if AᵀA = γ² I then Σ* = σ*² I with σ*² = σ² σ_y² / (α² σ_y² + σ² γ²).
inline double equivalent_sigma2(double alpha, double sigma, double sigma_y, double gamma) {
  for (auto [v, n] : {std::pair{alpha, "alpha"}, {sigma, "sigma"}, {sigma_y, "sigma_y"}, {gamma, "gamma"}})
    detail::require_nonnegative(v, "eps::equivalent_sigma2", n);
  const double den = alpha * alpha * sigma_y * sigma_y + sigma * sigma * gamma * gamma;
  EPS_CHECK(den > 0, domain_error, "eps::equivalent_sigma2: alpha sigma_y = sigma gamma = 0, Sigma* is undefined");
  return sigma * sigma * sigma_y * sigma_y / den;
}

/// The equivalent time t* of App. A.6: σ(t*)²/α(t*)² = σ*², so that the pretrained isotropic denoiser at
/// t*, fed α(t*) μ*, is the exact posterior denoiser. Throws value_error if σ* is outside the schedule's range.
template <Schedule S>
double equivalent_time(const S& s, double t, double sigma_y, double gamma) {
  const Coefficients c = coefficients(s, t);
  const double v = equivalent_sigma2(c.alpha, c.sigma, sigma_y, gamma);
  return time_from_noise_ratio(s, std::sqrt(v));
}

}  // namespace eps
