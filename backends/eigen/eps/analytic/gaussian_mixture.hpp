// SPDX-License-Identifier: MIT
/// @file analytic/gaussian_mixture.hpp
/// Analytic priors for exact checks and the toy benchmarks (docs/math.md §6): Gaussian and Gaussian-mixture
/// priors with full covariances, in dense float64 Eigen. Everything a sampler or a test needs is closed
/// form: the anisotropic denoiser D_Σ(z), the isotropic denoiser E[x0 | x_t] and its Jacobian
/// (second-order Tweedie), the exact posterior p(x0 | y) and its samples, and the exact posterior score
/// ∇ log p_t(x_t | y) computed directly (not through the pivot), so the two routes can be compared.
///
/// All of them are one operation, conditioning the mixture on a linear-Gaussian observation
/// o = H x0 + N(0, R): per component, G = H C Hᵀ + R, K = C Hᵀ G⁻¹, mean μ + K(o − Hμ), covariance
/// C − K H C, and posterior weights ∝ w N(o; Hμ, G) (log-sum-exp). G is factored by Cholesky; a
/// noise-free observation (R = 0) is first restricted to the range of H, one rank decision for every
/// component (docs/conventions.md, "Numerical rank"), and an o outside that range is rejected.
/// Batches are matrices with one sample per column (the Eigen backend's layout).
///
/// The non-template members are compiled once, in the `eps::analytic` library
/// (backends/eigen/src/gaussian_mixture.cpp): their Eigen decompositions are costly to compile.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "eps/backends/eigen.hpp"
#include "eps/error.hpp"
#include "eps/posterior.hpp"

namespace eps::analytic {

using Vec = Eigen::VectorXd;
using Mat = Eigen::MatrixXd;

/// o = H x0 + N(0, R) for every column of o. H absent means `scale`·I. With H, R is positive definite
/// or exactly zero (noise-free; then o must lie in range(H), and `rcond` is the relative cut of H's rank
/// decision, negative for the default max(m, d)·ε).
struct LinearObservation {
  Mat o;
  std::optional<Mat> H;
  Mat R;
  double scale = 1.0;
  double rcond = -1;
};

namespace detail {
/// Noise-free consistency (docs/conventions.md, "Noise-free measurements"): throws value_error unless
/// every column of o lies in the span of Q (orthonormal columns) to relative tolerance √ε.
void require_in_range(const Mat& o, const Mat& Q, const char* where);
/// Normalises log-weights (K × B) column by column with log-sum-exp; domain_error if a column is all −∞.
Mat softmax_columns(const Mat& logw);
}  // namespace detail

/// A mixture of Gaussians per column: weights (K × B), component means (d × B each) and component
/// covariances (d × d, shared by the columns).
class MixturePosterior {
 public:
  MixturePosterior(Mat weights, std::vector<Mat> means, std::vector<Mat> covariances)
      : w_(std::move(weights)), m_(std::move(means)), c_(std::move(covariances)) {}

  /// K × B responsibilities.
  const Mat& weights() const { return w_; }
  const Mat& means(std::size_t k) const { return m_[k]; }
  const Mat& covariance(std::size_t k) const { return c_[k]; }
  std::size_t components() const { return m_.size(); }
  Eigen::Index batch() const { return w_.cols(); }

  /// The posterior mean of every column (d × B).
  Mat mean() const;
  /// The posterior covariance of column b (law of total covariance).
  Mat covariance_of(Eigen::Index b) const;
  /// n exact draws from the posterior of column b (d × n).
  Mat sample(Eigen::Index n, std::mt19937_64& gen, Eigen::Index b = 0) const;

 private:
  Mat w_;
  std::vector<Mat> m_, c_;
};

/// Σ_k w_k N(μ_k, C_k) in R^d, full (symmetric positive-definite) covariances.
class GaussianMixture {
 public:
  /// Weights are normalised; throws value_error for negative or all-zero weights, shape_error for
  /// inconsistent sizes, value_error for a covariance that is not symmetric positive definite.
  GaussianMixture(std::vector<double> weights, std::vector<Vec> means, std::vector<Mat> covariances);
  /// A single Gaussian N(mean, cov).
  static GaussianMixture gaussian(Vec mean, Mat cov) {
    return GaussianMixture({1.0}, {std::move(mean)}, {std::move(cov)});
  }

  Eigen::Index dim() const { return mu_[0].size(); }
  std::size_t components() const { return w_.size(); }
  const std::vector<double>& weights() const { return w_; }
  const Vec& mean(std::size_t k) const { return mu_[k]; }
  const Mat& covariance(std::size_t k) const { return c_[k]; }

  /// n draws from the prior (d × n).
  Mat sample(Eigen::Index n, std::mt19937_64& gen) const;

  /// The posterior of x0 given o = H x0 + N(0, R), one mixture per column of o.
  MixturePosterior condition(const LinearObservation& obs) const;

  /// The anisotropic denoiser D_Σ(z) = E[x0 | x0 + N(0, Σ) = z] for every column of z (docs/math.md §6).
  Mat denoise(const Mat& z, const Mat& Sigma) const;

  /// The isotropic denoiser E[x0 | x_t] for x_t = α x0 + σ ε.
  Mat denoise_isotropic(const Mat& x_t, double alpha, double sigma) const;

  /// The exact posterior p(x0 | y) for y = A x0 + σ_y n.
  MixturePosterior posterior(const Mat& A, const Mat& y, double sigma_y) const;

  /// The exact posterior score ∇ log p_t(x_t | y), computed directly (docs/math.md §6): x_t | y is the mixture
  /// of N(α m_{k,y}, α² C_{k,y} + σ² I) with the posterior weights; its score is the responsibility-weighted
  /// sum of the component scores. y has one column shared by every column of x_t, or one per column.
  Mat posterior_score(const Mat& x_t, double alpha, double sigma, const Mat& A, const Mat& y, double sigma_y) const;

  /// The score of the marginal p_t(x_t) (no measurement).
  Mat score(const Mat& x_t, double alpha, double sigma) const;

  /// Jacobian of the isotropic denoiser at one x_t: ∂E[x0|x_t]/∂x_t = (α/σ²) Cov[x0 | x_t] (second-order
  /// Tweedie), d × d, symmetric.
  Mat denoiser_jacobian(const Vec& x_t, double alpha, double sigma) const;

  /// Vector-Jacobian products vᵀ ∂D/∂x_t for every column (the Jacobian is symmetric, so J v).
  Mat denoiser_vjp(const Mat& x_t, double alpha, double sigma, const Mat& v) const;

  /// The denoiser that EPS needs at a pivot: E[x0 | x_t, y] = D_{Σ*}(μ*) (Eigen float64 pivots with
  /// uniform levels). Where α = 0 the pivot carries only the measurement, so this is E[x0 | y].
  template <LinearOperator Op>
    requires std::same_as<typename Op::tensor_type, Mat>
  Mat denoise(const Pivot<Op>& pv) const {
    const Mat m = condition(observation(pv)).mean();
    const Eigen::Index B = pv.x_tilde().cols();
    return m.cols() == B ? m : Mat(m.replicate(1, B));  // α = 0: one y shared by the batch
  }

  /// The linear-Gaussian observation a pivot represents: (μ*, I, Σ*) for α > 0, (y, A, σ_y² I) for α = 0.
  template <LinearOperator Op>
    requires std::same_as<typename Op::tensor_type, Mat>
  static LinearObservation observation(const Pivot<Op>& pv) {
    const double alpha = pv.levels().alpha.uniform("eps::analytic::observation");
    const Eigen::Index d = numel(Shape(pv.op().in_shape()));
    if (alpha > 0) return {pv.mu_star(), std::nullopt, pv.covariance_x0().apply(Mat::Identity(d, d))};
    const Eigen::Index m = numel(Shape(pv.op().out_shape()));
    const double sy = pv.levels().sigma_y.uniform("eps::analytic::observation");
    return {pv.y(), Mat(pv.op().apply(Mat::Identity(d, d))), sy * sy * Mat::Identity(m, m)};
  }

 private:
  static void detail_check_noise(double s, const char* where) { eps::detail::require_nonnegative(s, where, "sigma_y"); }
  LinearObservation isotropic(const Mat& x_t, double alpha, double sigma) const;

  std::vector<double> w_;
  std::vector<Vec> mu_;
  std::vector<Mat> c_;
  std::vector<Mat> roots_;
};

}  // namespace eps::analytic
