// SPDX-License-Identifier: MIT
/// @file analytic/isotropic_mixture.hpp
/// A Gaussian mixture with isotropic components Σ_k w_k N(μ_k, c_k I) (the MCGdiff benchmark's prior,
/// c_k = 1), with every closed form of MATH.md §6 in O(K d) per sample instead of the O(K d³) of full
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
/// Batches are matrices with one sample per column (the Eigen backend's layout), float64.
#pragma once

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <cmath>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "eps/analytic/gaussian_mixture.hpp"
#include "eps/backends/eigen.hpp"
#include "eps/error.hpp"
#include "eps/operators/concepts.hpp"
#include "eps/posterior.hpp"

namespace eps::analytic {

namespace detail {
/// Column-wise softmax of log-weights (K × B).
inline Mat softmax_cols(const Mat& logw) {
  Mat p(logw.rows(), logw.cols());
  for (Eigen::Index b = 0; b < logw.cols(); ++b) {
    const double m = logw.col(b).maxCoeff();
    p.col(b) = (logw.col(b).array() - m).exp().matrix();
    p.col(b) /= p.col(b).sum();
  }
  return p;
}
}  // namespace detail

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
  Mat covariance() const {
    const Eigen::Index d = m_.rows();
    const Vec mu = mean();
    Mat cov = Mat::Zero(d, d);
    for (Eigen::Index k = 0; k < m_.cols(); ++k) {
      const Vec dm = m_.col(k) - mu;
      cov += w_(k) * (component_covariance(k) + dm * dm.transpose());
    }
    return cov;
  }
  /// The covariance of component k, c_k [P_N + V diag(q_k²) Vᵀ].
  Mat component_covariance(Eigen::Index k) const {
    const Eigen::Index d = m_.rows();
    const Vec q2 = q_.col(k).array().square();
    return c_[static_cast<std::size_t>(k)] *
           (Mat::Identity(d, d) + V_ * (q2.array() - 1.0).matrix().asDiagonal() * V_.transpose());
  }
  /// n exact draws (d × n): a component from the posterior weights, then m_k + √c_k (ξ + V (q_k − 1) ⊙ Vᵀ ξ).
  Mat sample(Eigen::Index n, std::mt19937_64& gen) const {
    std::discrete_distribution<Eigen::Index> pick(w_.data(), w_.data() + w_.size());
    std::normal_distribution<double> nd;
    const Eigen::Index d = m_.rows();
    Mat out(d, n);
    Vec xi(d);
    for (Eigen::Index j = 0; j < n; ++j) {
      const Eigen::Index k = pick(gen);
      for (Eigen::Index i = 0; i < d; ++i) xi(i) = nd(gen);
      const Vec c = V_.transpose() * xi;
      out.col(j) = m_.col(k) + std::sqrt(c_[static_cast<std::size_t>(k)]) *
                                   (xi + V_ * ((q_.col(k).array() - 1.0) * c.array()).matrix());
    }
    return out;
  }
  /// The exact posterior score ∇ log p_t(x_t | y) for x_t = α x0 + σ ε, computed directly: x_t | y is
  /// the mixture of N(α m_k, S_k), S_k = (α² c_k + σ²) P_N + V diag(α² c_k q_k² + σ²) Vᵀ.
  Mat score(const Mat& x_t, double alpha, double sigma) const {
    EPS_CHECK(sigma > 0, domain_error, "eps::analytic::IsotropicPosterior::score: sigma must be > 0, got ", sigma);
    const Eigen::Index d = m_.rows(), K = m_.cols(), r = V_.cols(), B = x_t.cols();
    EPS_CHECK(x_t.rows() == d, shape_error, "eps::analytic::IsotropicPosterior::score: x_t has ", x_t.rows(),
              " rows, expected ", d);
    Mat logw(K, B);
    std::vector<Mat> sc(static_cast<std::size_t>(K));
    for (Eigen::Index k = 0; k < K; ++k) {
      const double ck = c_[static_cast<std::size_t>(k)], pn = alpha * alpha * ck + sigma * sigma;
      const Vec pv = (alpha * alpha * ck * q_.col(k).array().square() + sigma * sigma).matrix();
      const Mat res = x_t.colwise() - alpha * m_.col(k);
      const Mat cr = V_.transpose() * res;
      const Mat sol = res / pn + V_ * (cr.array().colwise() * (pv.array().inverse() - 1.0 / pn)).matrix();
      sc[static_cast<std::size_t>(k)] = -sol;
      const double logdet = double(d - r) * std::log(pn) + pv.array().log().sum();
      for (Eigen::Index b = 0; b < B; ++b)
        logw(k, b) = std::log(w_(k)) - 0.5 * (res.col(b).dot(sol.col(b)) + logdet);
    }
    const Mat p = detail::softmax_cols(logw);
    Mat out = Mat::Zero(d, B);
    for (Eigen::Index k = 0; k < K; ++k) out += sc[static_cast<std::size_t>(k)] * p.row(k).asDiagonal();
    return out;
  }

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
  IsotropicMixture(std::vector<double> weights, Mat means, std::vector<double> variances)
      : w_(std::move(weights)), mu_(std::move(means)), c_(std::move(variances)) {
    constexpr const char* where = "eps::analytic::IsotropicMixture";
    EPS_CHECK(!w_.empty() && static_cast<Eigen::Index>(w_.size()) == mu_.cols() && w_.size() == c_.size(), shape_error,
              where, ": ", w_.size(), " weights, ", mu_.cols(), " means (columns) and ", c_.size(),
              " variances; expected as many of each, at least 1");
    EPS_CHECK(mu_.rows() >= 1 && mu_.allFinite(), value_error, where, ": the means must be finite vectors");
    double sum = 0;
    for (std::size_t k = 0; k < w_.size(); ++k) {
      EPS_CHECK(w_[k] >= 0 && std::isfinite(w_[k]), value_error, where, ": weight ", k, " must be finite and >= 0, got ",
                w_[k]);
      EPS_CHECK(c_[k] > 0 && std::isfinite(c_[k]), value_error, where, ": variance ", k, " must be finite and > 0, got ",
                c_[k]);
      sum += w_[k];
    }
    EPS_CHECK(sum > 0, value_error, where, ": the weights sum to 0");
    for (double& w : w_) w /= sum;
  }

  Eigen::Index dim() const { return mu_.rows(); }
  std::size_t components() const { return w_.size(); }
  const std::vector<double>& weights() const { return w_; }
  /// d × K means.
  const Mat& means() const { return mu_; }
  const std::vector<double>& variances() const { return c_; }

  /// The same prior with full covariances (for cross-checks against the general closed forms).
  GaussianMixture to_general() const {
    std::vector<Vec> m;
    std::vector<Mat> c;
    for (std::size_t k = 0; k < components(); ++k) {
      m.emplace_back(mu_.col(static_cast<Eigen::Index>(k)));
      c.emplace_back(c_[k] * Mat::Identity(dim(), dim()));
    }
    return GaussianMixture(w_, std::move(m), std::move(c));
  }

  /// n prior draws (d × n).
  Mat sample(Eigen::Index n, std::mt19937_64& gen) const {
    std::discrete_distribution<std::size_t> pick(w_.begin(), w_.end());
    std::normal_distribution<double> nd;
    Mat out(dim(), n);
    for (Eigen::Index j = 0; j < n; ++j) {
      const std::size_t k = pick(gen);
      for (Eigen::Index i = 0; i < dim(); ++i) out(i, j) = mu_(i, static_cast<Eigen::Index>(k)) + std::sqrt(c_[k]) * nd(gen);
    }
    return out;
  }

  /// E[x0 | x_t] for x_t = α x0 + σ ε (every column).
  Mat denoise_isotropic(const Mat& x_t, double alpha, double sigma) const {
    Mat p;
    std::vector<Mat> means;
    isotropic_parts(x_t, alpha, sigma, p, means, "eps::analytic::IsotropicMixture::denoise_isotropic");
    Mat out = Mat::Zero(dim(), x_t.cols());
    for (std::size_t k = 0; k < components(); ++k) out += means[k] * p.row(static_cast<Eigen::Index>(k)).asDiagonal();
    return out;
  }

  /// vᵀ ∂E[x0|x_t]/∂x_t for every column: (α/σ²) Cov[x0|x_t] v (second-order Tweedie; the Jacobian is
  /// symmetric), with Cov = Σ π_k (p_k I + m_k m_kᵀ) − m mᵀ and p_k = c_k σ²/(α² c_k + σ²).
  Mat denoiser_vjp(const Mat& x_t, double alpha, double sigma, const Mat& v) const {
    constexpr const char* where = "eps::analytic::IsotropicMixture::denoiser_vjp";
    EPS_CHECK(sigma > 0, domain_error, where, ": sigma must be > 0, got ", sigma);
    EPS_CHECK(v.rows() == x_t.rows() && v.cols() == x_t.cols(), shape_error, where, ": v is ", v.rows(), "x", v.cols(),
              ", x_t is ", x_t.rows(), "x", x_t.cols());
    Mat p;
    std::vector<Mat> means;
    isotropic_parts(x_t, alpha, sigma, p, means, where);
    const Eigen::Index B = x_t.cols();
    Mat m = Mat::Zero(dim(), B), out = Mat::Zero(dim(), B);
    for (std::size_t k = 0; k < components(); ++k) {
      const Eigen::Index kk = static_cast<Eigen::Index>(k);
      const double pk = c_[k] * sigma * sigma / (alpha * alpha * c_[k] + sigma * sigma);
      m += means[k] * p.row(kk).asDiagonal();
      const Eigen::RowVectorXd mv = (means[k].array() * v.array()).colwise().sum();
      out += (pk * v + means[k] * mv.asDiagonal()) * p.row(kk).asDiagonal();
    }
    const Eigen::RowVectorXd mv = (m.array() * v.array()).colwise().sum();
    out -= m * mv.asDiagonal();
    return alpha / (sigma * sigma) * out;
  }

  /// The anisotropic denoiser at a pivot, D_{Σ*}(μ*) = E[x0 | x_t, y], for a spectral operator with
  /// real coefficients and uniform levels. Where α = 0 the pivot carries only y: E[x0 | y], which needs
  /// the dense A (taken from the operator).
  template <SpectralOperator Op>
    requires std::same_as<typename Op::tensor_type, Mat> && std::same_as<typename Op::coef_type, Mat>
  Mat denoise(const Pivot<Op>& pv) const {
    constexpr const char* where = "eps::analytic::IsotropicMixture::denoise";
    const Op& A = pv.op();
    const Eigen::Index d = dim();
    EPS_CHECK(numel(Shape(A.in_shape())) == d, shape_error, where, ": the operator acts on ", numel(Shape(A.in_shape())),
              " values, the prior on ", d);
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
    const Mat cz = A.apply_vt(z);           // r × B
    const Mat cm = A.apply_vt(mu_);         // r × K
    Mat logw(K, B);
    Mat coef = Mat::Zero(r, B);             // Σ_k π_k f_k ⊙ (cz − cm_k), f_k = c_k/(c_k+g)
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
    const Mat p = detail::softmax_cols(logw);
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
  IsotropicPosterior posterior(const Mat& A, const Mat& y, double sigma_y) const {
    constexpr const char* where = "eps::analytic::IsotropicMixture::posterior";
    eps::detail::require_nonnegative(sigma_y, where, "sigma_y");
    EPS_CHECK(A.cols() == dim() && A.rows() >= 1, shape_error, where, ": A is ", A.rows(), "x", A.cols(),
              "; expected m x ", dim());
    EPS_CHECK(y.rows() == A.rows() && y.cols() == 1, shape_error, where, ": y is ", y.rows(), "x", y.cols(),
              "; expected ", A.rows(), "x1");
    EPS_CHECK(A.allFinite() && y.allFinite(), value_error, where, ": A and y must be finite");
    Eigen::BDCSVD<Mat> svd(A, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Vec s_all = svd.singularValues();
    const double cut = s_all.size() ? s_all(0) * 1e-13 * double(std::max(A.rows(), A.cols())) : 0.0;
    Eigen::Index r = 0;
    while (r < s_all.size() && s_all(r) > cut) ++r;
    const Mat U = svd.matrixU().leftCols(r), V = svd.matrixV().leftCols(r);
    const Vec s = s_all.head(r);
    const Eigen::Index K = static_cast<Eigen::Index>(components());
    EPS_CHECK(sigma_y > 0 || r > 0, value_error, where, ": A is zero and sigma_y = 0");
    // y's component outside range(U) is pure noise, the same for every component (drops out of the weights
    // when σ_y = 0 it must vanish; it is ignored).
    const Vec uy = U.transpose() * y;
    Vec logw(K);
    Mat means(dim(), K), q(r, K);
    for (Eigen::Index k = 0; k < K; ++k) {
      const double ck = c_[static_cast<std::size_t>(k)];
      const Vec um = U.transpose() * (A * mu_.col(k));
      const Eigen::ArrayXd G = ck * s.array().square() + sigma_y * sigma_y;  // eigenvalues of G_k on range(U)
      const Eigen::ArrayXd res = (uy - um).array();
      double extra = 0, extra_logdet = 0;
      if (sigma_y > 0 && A.rows() > r) {
        const Vec out_res = (y - A * mu_.col(k)) - U * (uy - um);
        extra = out_res.squaredNorm() / (sigma_y * sigma_y);
        extra_logdet = double(A.rows() - r) * std::log(sigma_y * sigma_y);
      }
      logw(k) = std::log(w_[static_cast<std::size_t>(k)]) - 0.5 * ((res.square() / G).sum() + extra) -
                0.5 * (G.log().sum() + extra_logdet);
      // m_k = μ_k + c_k V diag(s/G) Uᵀ (y − Aμ_k)
      means.col(k) = mu_.col(k) + ck * V * (s.array() * res / G).matrix();
      q.col(k) = (sigma_y * sigma_y / G).sqrt().matrix();
    }
    const Vec w = detail::softmax_cols(logw);
    return IsotropicPosterior(w, std::move(means), c_, V, std::move(q));
  }

 private:
  /// Responsibilities p (K × B) and component means μ_k + (α c_k/v_k)(x − α μ_k), v_k = α² c_k + σ².
  void isotropic_parts(const Mat& x_t, double alpha, double sigma, Mat& p, std::vector<Mat>& means,
                       const char* where) const {
    eps::detail::require_nonnegative(alpha, where, "alpha");
    eps::detail::require_nonnegative(sigma, where, "sigma");
    EPS_CHECK(alpha > 0 || sigma > 0, value_error, where, ": alpha and sigma are both 0");
    EPS_CHECK(x_t.rows() == dim(), shape_error, where, ": x_t has ", x_t.rows(), " rows, expected ", dim());
    const Eigen::Index K = static_cast<Eigen::Index>(components()), B = x_t.cols();
    Mat logw(K, B);
    means.resize(components());
    for (Eigen::Index k = 0; k < K; ++k) {
      const double ck = c_[static_cast<std::size_t>(k)], v = alpha * alpha * ck + sigma * sigma;
      const Mat res = x_t.colwise() - alpha * mu_.col(k);
      logw.row(k) = (std::log(w_[static_cast<std::size_t>(k)]) - 0.5 * double(dim()) * std::log(v) -
                     0.5 * res.colwise().squaredNorm().array() / v)
                        .matrix();
      means[static_cast<std::size_t>(k)] = (alpha * ck / v) * res;
      means[static_cast<std::size_t>(k)].colwise() += mu_.col(k);
    }
    p = detail::softmax_cols(logw);
  }

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
