// SPDX-License-Identifier: MIT
/// @file analytic/gaussian_mixture.hpp
/// Analytic priors for exact checks and the toy benchmarks (MATH.md §6): Gaussian and Gaussian-mixture
/// priors with full covariances, in dense float64 Eigen. Everything a sampler or a test needs is closed
/// form: the anisotropic denoiser D_Σ(z), the isotropic denoiser E[x0 | x_t] and its Jacobian
/// (second-order Tweedie), the exact posterior p(x0 | y) and its samples, and the exact posterior score
/// ∇ log p_t(x_t | y) computed directly (not through the pivot), so the two routes can be compared.
///
/// All of them are one operation, conditioning the mixture on a linear-Gaussian observation
/// o = H x0 + N(0, R): per component, G = H C Hᵀ + R, K = C Hᵀ G⁻¹, mean μ + K(o − Hμ), covariance
/// C − K H C, and posterior weights ∝ w N(o; Hμ, G) (log-sum-exp). G is factored by Cholesky, or, when
/// it is singular (σ_y = 0 with a rank-deficient H), by an eigendecomposition with a pseudo-inverse and
/// pseudo-determinant — exact in the limit because every component shares G's null space.
/// Batches are matrices with one sample per column (the Eigen backend's layout).
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <Eigen/Eigenvalues>
#include <cmath>
#include <limits>
#include <numbers>
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

/// o = H x0 + N(0, R) for every column of o. H absent means `scale`·I.
struct LinearObservation {
  Mat o;
  std::optional<Mat> H;
  Mat R;
  double scale = 1.0;
};

namespace detail {

/// A symmetric positive semi-definite matrix G factored for solves and log-densities: Cholesky when G
/// is positive definite, else an eigendecomposition restricted to eigenvalues above rcond·max.
class SpdFactor {
 public:
  explicit SpdFactor(const Mat& G, double rcond = 1e-13) {
    const Mat S = 0.5 * (G + G.transpose());
    llt_.compute(S);
    if (llt_.info() == Eigen::Success && llt_.matrixLLT().diagonal().minCoeff() > 0) {
      chol_ = true;
      logdet_ = 2 * llt_.matrixLLT().diagonal().array().log().sum();
      rank_ = S.rows();
      return;
    }
    Eigen::SelfAdjointEigenSolver<Mat> es(S);
    EPS_CHECK(es.info() == Eigen::Success, std::runtime_error, "eps::analytic: eigendecomposition failed");
    const double top = std::max(es.eigenvalues().cwiseAbs().maxCoeff(), 0.0);
    const double cut = rcond * std::max(top, std::numeric_limits<double>::min()) * double(S.rows());
    Vec inv(S.rows());
    logdet_ = 0;
    rank_ = 0;
    for (Eigen::Index i = 0; i < S.rows(); ++i) {
      const double l = es.eigenvalues()(i);
      if (l > cut) {
        inv(i) = 1 / l;
        logdet_ += std::log(l);
        ++rank_;
      } else {
        inv(i) = 0;
      }
    }
    pinv_ = es.eigenvectors() * inv.asDiagonal() * es.eigenvectors().transpose();
  }
  /// G⁻¹ B (G⁺ B when singular).
  Mat solve(const Mat& B) const { return chol_ ? Mat(llt_.solve(B)) : Mat(pinv_ * B); }
  /// log det G (pseudo-determinant when singular).
  double logdet() const { return logdet_; }
  /// Rank of G (dimension of the density).
  Eigen::Index rank() const { return rank_; }

 private:
  Eigen::LLT<Mat> llt_;
  Mat pinv_;
  bool chol_ = false;
  double logdet_ = 0;
  Eigen::Index rank_ = 0;
};

/// log N(o_b; m, G) for every column o_b, through a factor of G.
inline Vec log_normal_columns(const Mat& o, const Vec& m, const SpdFactor& G) {
  const Mat r = o.colwise() - m;
  const Mat sr = G.solve(r);
  Vec out(o.cols());
  for (Eigen::Index b = 0; b < o.cols(); ++b)
    out(b) = -0.5 * r.col(b).dot(sr.col(b)) - 0.5 * G.logdet() - 0.5 * double(G.rank()) * std::log(2 * std::numbers::pi);
  return out;
}

/// Normalises log-weights column by column with log-sum-exp.
inline Mat softmax_columns(const Mat& logw) {
  Mat p(logw.rows(), logw.cols());
  for (Eigen::Index b = 0; b < logw.cols(); ++b) {
    const double top = logw.col(b).maxCoeff();
    EPS_CHECK(std::isfinite(top), std::runtime_error, "eps::analytic: every component has zero weight for sample ", b);
    p.col(b) = (logw.col(b).array() - top).exp();
    p.col(b) /= p.col(b).sum();
  }
  return p;
}

/// A symmetric square root of an SPSD matrix (for sampling from possibly singular covariances).
inline Mat sqrt_psd(const Mat& C) {
  Eigen::SelfAdjointEigenSolver<Mat> es(0.5 * (C + C.transpose()));
  return es.eigenvectors() * es.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal() * es.eigenvectors().transpose();
}

inline Mat randn(Eigen::Index rows, Eigen::Index cols, std::mt19937_64& gen) {
  std::normal_distribution<double> n01;
  Mat r(rows, cols);
  for (Eigen::Index i = 0; i < r.size(); ++i) r.data()[i] = n01(gen);
  return r;
}

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
  Mat mean() const {
    Mat r = Mat::Zero(m_[0].rows(), m_[0].cols());
    for (std::size_t k = 0; k < m_.size(); ++k) r += m_[k] * w_.row(static_cast<Eigen::Index>(k)).asDiagonal();
    return r;
  }
  /// The posterior covariance of column b (law of total covariance).
  Mat covariance_of(Eigen::Index b) const {
    const Vec mu = mean().col(b);
    Mat r = Mat::Zero(mu.size(), mu.size());
    for (std::size_t k = 0; k < m_.size(); ++k) {
      const Vec d = m_[k].col(b) - mu;
      r += w_(static_cast<Eigen::Index>(k), b) * (c_[k] + d * d.transpose());
    }
    return r;
  }
  /// n exact draws from the posterior of column b (d × n).
  Mat sample(Eigen::Index n, std::mt19937_64& gen, Eigen::Index b = 0) const {
    EPS_CHECK(b >= 0 && b < batch(), shape_error, "eps::analytic::MixturePosterior::sample: column ", b,
              " out of range [0, ", batch(), ")");
    std::vector<double> p(m_.size());
    for (std::size_t k = 0; k < m_.size(); ++k) p[k] = w_(static_cast<Eigen::Index>(k), b);
    std::discrete_distribution<std::size_t> pick(p.begin(), p.end());
    std::vector<Mat> roots(m_.size());
    Mat out(m_[0].rows(), n);
    for (Eigen::Index j = 0; j < n; ++j) {
      const std::size_t k = pick(gen);
      if (roots[k].size() == 0) roots[k] = detail::sqrt_psd(c_[k]);
      out.col(j) = m_[k].col(b) + roots[k] * detail::randn(m_[0].rows(), 1, gen);
    }
    return out;
  }

 private:
  Mat w_;
  std::vector<Mat> m_, c_;
};

/// Σ_k w_k N(μ_k, C_k) in R^d, full (symmetric positive-definite) covariances.
class GaussianMixture {
 public:
  /// Weights are normalised; throws value_error for negative or all-zero weights, shape_error for
  /// inconsistent sizes, value_error for a covariance that is not symmetric positive definite.
  GaussianMixture(std::vector<double> weights, std::vector<Vec> means, std::vector<Mat> covariances)
      : w_(std::move(weights)), mu_(std::move(means)), c_(std::move(covariances)) {
    constexpr const char* where = "eps::analytic::GaussianMixture";
    EPS_CHECK(!w_.empty() && w_.size() == mu_.size() && w_.size() == c_.size(), shape_error, where, ": ", w_.size(),
              " weights, ", mu_.size(), " means and ", c_.size(), " covariances; expected as many of each, at least 1");
    double sum = 0;
    for (double w : w_) {
      EPS_CHECK(w >= 0 && std::isfinite(w), value_error, where, ": weights must be finite and >= 0, got ", w);
      sum += w;
    }
    EPS_CHECK(sum > 0, value_error, where, ": the weights sum to 0");
    for (double& w : w_) w /= sum;
    const Eigen::Index d = mu_[0].size();
    for (std::size_t k = 0; k < w_.size(); ++k) {
      EPS_CHECK(mu_[k].size() == d && c_[k].rows() == d && c_[k].cols() == d, shape_error, where, ": component ", k,
                " has a mean of size ", mu_[k].size(), " and a ", c_[k].rows(), "x", c_[k].cols(),
                " covariance; expected ", d, " and ", d, "x", d);
      EPS_CHECK(mu_[k].allFinite() && c_[k].allFinite(), value_error, where, ": component ", k, " is not finite");
      EPS_CHECK((c_[k] - c_[k].transpose()).cwiseAbs().maxCoeff() <= 1e-10 * c_[k].cwiseAbs().maxCoeff(), value_error,
                where, ": covariance ", k, " is not symmetric");
      Eigen::LLT<Mat> llt(c_[k]);
      EPS_CHECK(llt.info() == Eigen::Success, value_error, where, ": covariance ", k, " is not positive definite");
      roots_.push_back(llt.matrixL());
    }
  }
  /// A single Gaussian N(mean, cov).
  static GaussianMixture gaussian(Vec mean, Mat cov) { return GaussianMixture({1.0}, {std::move(mean)}, {std::move(cov)}); }

  Eigen::Index dim() const { return mu_[0].size(); }
  std::size_t components() const { return w_.size(); }
  const std::vector<double>& weights() const { return w_; }
  const Vec& mean(std::size_t k) const { return mu_[k]; }
  const Mat& covariance(std::size_t k) const { return c_[k]; }

  /// n draws from the prior (d × n).
  Mat sample(Eigen::Index n, std::mt19937_64& gen) const {
    std::discrete_distribution<std::size_t> pick(w_.begin(), w_.end());
    Mat out(dim(), n);
    for (Eigen::Index j = 0; j < n; ++j) {
      const std::size_t k = pick(gen);
      out.col(j) = mu_[k] + roots_[k] * detail::randn(dim(), 1, gen);
    }
    return out;
  }

  /// The posterior of x0 given o = H x0 + N(0, R), one mixture per column of o.
  MixturePosterior condition(const LinearObservation& obs) const {
    constexpr const char* where = "eps::analytic::GaussianMixture::condition";
    const Eigen::Index m = obs.o.rows(), d = dim();
    if (obs.H) {
      EPS_CHECK(obs.H->rows() == m && obs.H->cols() == d, shape_error, where, ": H is ", obs.H->rows(), "x",
                obs.H->cols(), "; expected ", m, "x", d);
    } else {
      EPS_CHECK(m == d, shape_error, where, ": observation has ", m, " rows; expected ", d, " (H = I)");
    }
    EPS_CHECK(obs.R.rows() == m && obs.R.cols() == m, shape_error, where, ": R is ", obs.R.rows(), "x", obs.R.cols(),
              "; expected ", m, "x", m);
    EPS_CHECK(obs.o.allFinite() && obs.R.allFinite(), value_error, where, ": observation or R is not finite");
    const Eigen::Index B = obs.o.cols();
    Mat logw(static_cast<Eigen::Index>(components()), B);
    std::vector<Mat> means, covs;
    for (std::size_t k = 0; k < components(); ++k) {
      const Mat CHt = obs.H ? Mat(c_[k] * obs.H->transpose()) : Mat(obs.scale * c_[k]);
      const Mat G = (obs.H ? Mat(*obs.H * CHt) : Mat(obs.scale * CHt)) + obs.R;
      const Vec Hmu = obs.H ? Vec(*obs.H * mu_[k]) : Vec(obs.scale * mu_[k]);
      const detail::SpdFactor f(G);
      const Mat resid = obs.o.colwise() - Hmu;
      means.push_back((CHt * f.solve(resid)).colwise() + mu_[k]);
      Mat post = c_[k] - CHt * f.solve(CHt.transpose());
      covs.push_back(0.5 * (post + post.transpose()));
      logw.row(static_cast<Eigen::Index>(k)) =
          (std::log(w_[k]) + detail::log_normal_columns(obs.o, Hmu, f).array()).transpose();
    }
    return MixturePosterior(detail::softmax_columns(logw), std::move(means), std::move(covs));
  }

  /// The anisotropic denoiser D_Σ(z) = E[x0 | x0 + N(0, Σ) = z] for every column of z (MATH.md §6).
  Mat denoise(const Mat& z, const Mat& Sigma) const { return condition({z, std::nullopt, Sigma}).mean(); }

  /// The isotropic denoiser E[x0 | x_t] for x_t = α x0 + σ ε.
  Mat denoise_isotropic(const Mat& x_t, double alpha, double sigma) const {
    return condition(isotropic(x_t, alpha, sigma)).mean();
  }

  /// The exact posterior p(x0 | y) for y = A x0 + σ_y n.
  MixturePosterior posterior(const Mat& A, const Mat& y, double sigma_y) const {
    detail_check_noise(sigma_y, "eps::analytic::GaussianMixture::posterior");
    return condition({y, A, sigma_y * sigma_y * Mat::Identity(A.rows(), A.rows())});
  }

  /// The exact posterior score ∇ log p_t(x_t | y), computed directly (MATH.md §6): x_t | y is the mixture
  /// of N(α m_{k,y}, α² C_{k,y} + σ² I) with the posterior weights; its score is the responsibility-weighted
  /// sum of the component scores. y has one column shared by every column of x_t, or one per column.
  Mat posterior_score(const Mat& x_t, double alpha, double sigma, const Mat& A, const Mat& y, double sigma_y) const {
    EPS_CHECK(sigma > 0, domain_error, "eps::analytic::GaussianMixture::posterior_score: sigma must be > 0, got ", sigma);
    EPS_CHECK(y.cols() == 1 || y.cols() == x_t.cols(), shape_error,
              "eps::analytic::GaussianMixture::posterior_score: y has ", y.cols(), " columns, x_t has ", x_t.cols());
    Mat out(dim(), x_t.cols());
    for (Eigen::Index b = 0; b < x_t.cols(); ++b) {
      const MixturePosterior py = posterior(A, y.col(y.cols() == 1 ? 0 : b), sigma_y);
      Vec logr(static_cast<Eigen::Index>(components()));
      std::vector<Vec> sc;
      for (std::size_t k = 0; k < components(); ++k) {
        const Mat S = alpha * alpha * py.covariance(k) + sigma * sigma * Mat::Identity(dim(), dim());
        const detail::SpdFactor f(S);
        const Vec m = alpha * py.means(k).col(0);
        sc.push_back(-f.solve(x_t.col(b) - m));
        logr(static_cast<Eigen::Index>(k)) = std::log(py.weights()(static_cast<Eigen::Index>(k), 0)) +
                                             detail::log_normal_columns(x_t.col(b), m, f)(0);
      }
      const Mat r = detail::softmax_columns(logr);
      out.col(b).setZero();
      for (std::size_t k = 0; k < components(); ++k) out.col(b) += r(static_cast<Eigen::Index>(k), 0) * sc[k];
    }
    return out;
  }

  /// The score of the marginal p_t(x_t) (no measurement).
  Mat score(const Mat& x_t, double alpha, double sigma) const {
    return (alpha * denoise_isotropic(x_t, alpha, sigma) - x_t) / (sigma * sigma);
  }

  /// Jacobian of the isotropic denoiser at one x_t: ∂E[x0|x_t]/∂x_t = (α/σ²) Cov[x0 | x_t] (second-order
  /// Tweedie), d × d, symmetric.
  Mat denoiser_jacobian(const Vec& x_t, double alpha, double sigma) const {
    EPS_CHECK(sigma > 0, domain_error, "eps::analytic::GaussianMixture::denoiser_jacobian: sigma must be > 0");
    return alpha / (sigma * sigma) * condition(isotropic(x_t, alpha, sigma)).covariance_of(0);
  }

  /// Vector-Jacobian products vᵀ ∂D/∂x_t for every column (the Jacobian is symmetric, so J v).
  Mat denoiser_vjp(const Mat& x_t, double alpha, double sigma, const Mat& v) const {
    EPS_CHECK(v.rows() == x_t.rows() && v.cols() == x_t.cols(), shape_error,
              "eps::analytic::GaussianMixture::denoiser_vjp: v and x_t shapes differ");
    Mat out(x_t.rows(), x_t.cols());
    for (Eigen::Index b = 0; b < x_t.cols(); ++b) out.col(b) = denoiser_jacobian(x_t.col(b), alpha, sigma) * v.col(b);
    return out;
  }

  /// The denoiser that EPS needs at a pivot: E[x0 | x_t, y] = D_{Σ*}(μ*) (Eigen float64 pivots with
  /// uniform levels). Where α = 0 the pivot carries only the measurement, so this is E[x0 | y].
  template <LinearOperator Op>
    requires std::same_as<typename Op::tensor_type, Mat>
  Mat denoise(const Pivot<Op>& pv) const {
    return condition(observation(pv)).mean();
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
  LinearObservation isotropic(const Mat& x_t, double alpha, double sigma) const {
    eps::detail::require_nonnegative(alpha, "eps::analytic::GaussianMixture", "alpha");
    eps::detail::require_nonnegative(sigma, "eps::analytic::GaussianMixture", "sigma");
    return {x_t, std::nullopt, sigma * sigma * Mat::Identity(dim(), dim()), alpha};
  }

  std::vector<double> w_;
  std::vector<Vec> mu_;
  std::vector<Mat> c_;
  std::vector<Mat> roots_;
};

}  // namespace eps::analytic
