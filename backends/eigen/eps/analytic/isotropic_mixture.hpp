// SPDX-License-Identifier: MIT
/// @file analytic/isotropic_mixture.hpp
/// A Gaussian mixture with isotropic components Σ_k w_k N(μ_k, c_k I) (the MCGdiff benchmark's prior,
/// c_k = 1), with every closed form of docs/math.md §6 in O(K d) per sample instead of the O(K d³) of full
/// covariances, so that d = 800 with thousands of samples and hundreds of steps is cheap:
/// - the anisotropic denoiser D_{Σ*}(μ*) at a pivot of a spectral operator with real coefficients:
///   Σ* = V diag(g) Vᵀ (+ g_null on the null space of a thin V) shares its eigenvectors with
///   c_k I + Σ*, so the component means μ_k + V diag(c_k/(c_k+g)) Vᵀ(z−μ_k) + c_k/(c_k+g_null) P_N(z−μ_k)
///   and the log-densities N(z; μ_k, c_k I + Σ*) are coefficient-wise;
/// - the isotropic denoiser E[x0|x_t] and its vector-Jacobian product (second-order Tweedie);
/// - the exact posterior p(x0|y) for a dense A = U diag(s) Vᵀ: per component, mean
///   μ_k + c_k Aᵀ G_k⁻¹(y − Aμ_k) with G_k = c_k AAᵀ + σ_y² I, covariance
///   c_k [P_N + V diag(σ_y²/(c_k s² + σ_y²)) Vᵀ], weights ∝ w_k N(y; Aμ_k, G_k); its samples; and the
///   direct posterior score of x_t | y, the mixture of N(α m_k, α² C_k + σ² I) (the oracle).
/// Batches are matrices with one sample per column (the Eigen backend's layout), float64. The non-template
/// members are compiled once, in the `eps::analytic` library (backends/eigen/src/isotropic_mixture.cpp).
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "eps/analytic/gaussian_mixture.hpp"
#include "eps/backends/eigen.hpp"
#include "eps/error.hpp"
#include "eps/operators/concepts.hpp"
#include "eps/posterior.hpp"

namespace eps::analytic {

/// The posterior of an isotropic mixture given y = A x0 + σ_y n (one y): a mixture of Gaussians whose
/// covariances c_k [P_N + V diag(q_k²) Vᵀ] share A's right singular vectors V (q_k = σ_y/√(c_k s² + σ_y²)).
class IsotropicPosterior {
 public:
  IsotropicPosterior(Vec weights, Mat means, std::vector<double> variances, Mat V, Mat q)
      : w_(std::move(weights)), m_(std::move(means)), c_(std::move(variances)), V_(std::move(V)), q_(std::move(q)) {}

  const Vec& weights() const { return w_; }
  /// d × K component means m_k.
  const Mat& means() const { return m_; }
  /// E[x0 | y] = Σ_k π_k m_k.
  Vec mean() const { return m_ * w_; }
  /// Cov[x0 | y] (d × d; for tests and small d).
  Mat covariance() const;
  /// The covariance of component k, c_k [P_N + V diag(q_k²) Vᵀ].
  Mat component_covariance(Eigen::Index k) const;
  /// n exact draws (d × n): a component from the posterior weights, then m_k + √c_k (ξ + V (q_k − 1) ⊙ Vᵀ ξ).
  Mat sample(Eigen::Index n, std::mt19937_64& gen) const;
  /// The exact posterior score ∇ log p_t(x_t | y) for x_t = α x0 + σ ε, computed directly: x_t | y is
  /// the mixture of N(α m_k, S_k), S_k = (α² c_k + σ²) P_N + V diag(α² c_k q_k² + σ²) Vᵀ.
  Mat score(const Mat& x_t, double alpha, double sigma) const;

 private:
  Vec w_;
  Mat m_;
  std::vector<double> c_;
  Mat V_;  ///< d × r right singular vectors of A with s > 0
  Mat q_;  ///< r × K
};

/// Σ_k w_k N(μ_k, c_k I) in R^d.
class IsotropicMixture {
 public:
  /// Weights are normalised. Throws value_error (negative/non-finite weights or variances ≤ 0) or
  /// shape_error (inconsistent sizes), naming the component.
  IsotropicMixture(std::vector<double> weights, Mat means, std::vector<double> variances);

  Eigen::Index dim() const { return mu_.rows(); }
  std::size_t components() const { return w_.size(); }
  const std::vector<double>& weights() const { return w_; }
  /// d × K means.
  const Mat& means() const { return mu_; }
  const std::vector<double>& variances() const { return c_; }

  /// The same prior with full covariances (for cross-checks against the general closed forms).
  GaussianMixture to_general() const;

  /// How far the usual initial state of a sampler is from the truth (docs/gmm_benchmark.md, "The terminal
  /// noise level"): an upper bound, in nats, of KL(N(0, ς² I) ‖ p_ς), p_ς the law of x̄ = x0 + ς ε (x̄ = x/α,
  /// ς = σ/α: any schedule), the mixture of N(μ_k, v_k I), v_k = c_k + ς². KL is convex in its second
  /// argument, so KL ≤ Σ_k w_k KL_k with KL_k = ½ [‖μ_k‖²/v_k + d (ς²/v_k − 1 + ln(v_k/ς²))] ≈ ‖μ_k‖²/(2ς²).
  double terminal_kl(double ratio) const;

  /// The smallest noise ratio ς_max (EDM's σ_max) whose terminal mismatch terminal_kl(ς_max) is at most
  /// `nats`: the terminal noise level a sampler needs on this prior (bisection on log ς, to 0.1 %).
  double terminal_noise_ratio(double nats) const;

  /// n prior draws (d × n).
  Mat sample(Eigen::Index n, std::mt19937_64& gen) const;

  /// E[x0 | x_t] for x_t = α x0 + σ ε (every column).
  Mat denoise_isotropic(const Mat& x_t, double alpha, double sigma) const;

  /// vᵀ ∂E[x0|x_t]/∂x_t for every column: (α/σ²) Cov[x0|x_t] v (second-order Tweedie; the Jacobian is
  /// symmetric), with Cov = Σ π_k (p_k I + m_k m_kᵀ) − m mᵀ and p_k = c_k σ²/(α² c_k + σ²).
  Mat denoiser_vjp(const Mat& x_t, double alpha, double sigma, const Mat& v) const;

  /// The anisotropic denoiser at a pivot, D_{Σ*}(μ*) = E[x0 | x_t, y], for a spectral operator with
  /// real coefficients and uniform levels. Where α = 0 the pivot carries only y: E[x0 | y], which needs
  /// the dense A (taken from the operator).
  template <SpectralOperator Op>
    requires std::same_as<typename Op::tensor_type, Mat> && std::same_as<typename Op::coef_type, Mat>
  Mat denoise(const Pivot<Op>& pv) const {
    constexpr const char* where = "eps::analytic::IsotropicMixture::denoise";
    const Op& A = pv.op();
    const Eigen::Index d = dim();
    EPS_CHECK(numel(Shape(A.in_shape())) == d, shape_error, where, ": the operator acts on ",
              numel(Shape(A.in_shape())), " values, the prior on ", d);
    const double alpha = pv.levels().alpha.uniform(where);
    if (alpha == 0) {
      const double sy = pv.levels().sigma_y.uniform(where);
      const Mat a = A.apply(Mat::Identity(d, d));
      EPS_CHECK(pv.y().cols() == 1, shape_error, where, ": at alpha = 0 one shared y is supported");
      return posterior(a, pv.y(), sy).mean().replicate(1, pv.x_tilde().cols());
    }
    const Mat z = pv.mu_star();
    const Mat& g = *pv.covariance_x0().eigenvalues();  // coefficients × 1
    EPS_CHECK(g.cols() == 1, shape_error, where, ": per-sample noise levels are not supported");
    const double gn = pv.covariance_x0().null_eigenvalue().uniform(where);
    const bool thin = is_thin(A);
    const Eigen::Index r = g.rows(), B = z.cols(), K = static_cast<Eigen::Index>(components());
    const Mat cz = A.apply_vt(z);    // r × B
    const Mat cm = A.apply_vt(mu_);  // r × K
    Mat logw(K, B);
    Mat coef = Mat::Zero(r, B);  // Σ_k π_k f_k ⊙ (cz − cm_k), f_k = c_k/(c_k+g)
    std::vector<Mat> cres(static_cast<std::size_t>(K));
    for (Eigen::Index k = 0; k < K; ++k) {
      const double ck = c_[static_cast<std::size_t>(k)];
      const Eigen::ArrayXd inv = (g.col(0).array() + ck).inverse();
      Mat res = cz.colwise() - cm.col(k);
      double logdet = -inv.log().sum();
      Eigen::RowVectorXd quad = (res.array().square().colwise() * inv).colwise().sum();
      if (thin) {
        const Eigen::RowVectorXd full = (z.colwise() - mu_.col(k)).colwise().squaredNorm();
        quad += (full - res.colwise().squaredNorm()).cwiseMax(0.0) / (ck + gn);
        logdet += double(d - r) * std::log(ck + gn);
      }
      logw.row(k) = (std::log(w_[static_cast<std::size_t>(k)]) - 0.5 * logdet - 0.5 * quad.array()).matrix();
      cres[static_cast<std::size_t>(k)] = std::move(res);
    }
    const Mat p = detail::softmax_columns(logw);
    Mat out = mu_ * p;  // Σ π_k μ_k
    Mat null_part = Mat::Zero(d, B);
    for (Eigen::Index k = 0; k < K; ++k) {
      const double ck = c_[static_cast<std::size_t>(k)];
      const Eigen::ArrayXd f = ck * (g.col(0).array() + ck).inverse();
      coef += (cres[static_cast<std::size_t>(k)].array().colwise() * f).matrix() * p.row(k).asDiagonal();
      if (thin) null_part += (ck / (ck + gn)) * ((z.colwise() - mu_.col(k)) * p.row(k).asDiagonal());
    }
    out += A.apply_v(coef);
    if (thin) out += null_part - A.apply_v(A.apply_vt(null_part));
    return out;
  }

  /// The exact posterior p(x0 | y) for y = A x0 + σ_y n, A dense (m × d), one y (m × 1).
  IsotropicPosterior posterior(const Mat& A, const Mat& y, double sigma_y) const;

 private:
  /// Responsibilities p (K × B) and component means μ_k + (α c_k/v_k)(x − α μ_k), v_k = α² c_k + σ².
  void isotropic_parts(const Mat& x_t, double alpha, double sigma, Mat& p, std::vector<Mat>& means,
                       const char* where) const;

  std::vector<double> w_;
  Mat mu_;
  std::vector<double> c_;
};

/// A prior's isotropic denoiser E[x0 | x_t] on a schedule, with vector-Jacobian products: an
/// `eps::DifferentiableDenoiser` for the samplers and the baselines (any prior with `denoise_isotropic`
/// and `denoiser_vjp`: IsotropicMixture, GaussianMixture). Holds a reference to the prior.
template <class Prior, Schedule S>
struct ScheduledDenoiser {
  const Prior& prior;
  S schedule;
  Mat operator()(const Mat& x, double t) const {
    const Coefficients c = coefficients(schedule, t);
    return prior.denoise_isotropic(x, c.alpha, c.sigma);
  }
  Mat vjp(const Mat& x, double t, const Mat& v) const {
    const Coefficients c = coefficients(schedule, t);
    return prior.denoiser_vjp(x, c.alpha, c.sigma, v);
  }
};

}  // namespace eps::analytic
