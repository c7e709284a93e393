// SPDX-License-Identifier: MIT
// The non-template members of eps/analytic/gaussian_mixture.hpp, compiled once (library eps::analytic).
#include "eps/analytic/gaussian_mixture.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <cmath>
#include <limits>
#include <numbers>

#include "eps/backends/svd.hpp"

namespace eps::analytic {

namespace detail {

/// A symmetric positive-definite matrix G factored by Cholesky for solves and log-densities. Singular
/// G never reaches it: `condition` restricts a noise-free observation to the range of H first (one rank
/// decision for every component), so a failed factorisation is an error, not a fallback.
class SpdFactor {
 public:
  explicit SpdFactor(const Mat& G, const char* where) {
    const Mat S = 0.5 * (G + G.transpose());
    llt_.compute(S);
    const bool ok = llt_.info() == Eigen::Success && S.rows() > 0 && llt_.matrixLLT().diagonal().minCoeff() > 0;
    EPS_CHECK(ok, domain_error, where, ": a ", S.rows(), "x", S.rows(),
              " observation covariance is not numerically positive definite (R must be positive definite, or zero "
              "with the observation restricted to the range of H)");
    logdet_ = 2 * llt_.matrixLLT().diagonal().array().log().sum();
  }
  /// G⁻¹ B.
  Mat solve(const Mat& B) const { return llt_.solve(B); }
  /// log det G.
  double logdet() const { return logdet_; }
  /// Dimension of G (of the density).
  Eigen::Index rank() const { return llt_.rows(); }

 private:
  Eigen::LLT<Mat> llt_;
  double logdet_ = 0;
};

/// The orthonormal basis Q (m × r) of range(H) for the numerical rank r of H: the left singular vectors
/// whose singular values exceed rcond·s_max, with rcond = max(m, d)·ε by default — the rank decision of
/// eps::Dense (docs/conventions.md, "Numerical rank").
inline Mat range_basis(const Mat& H, double rcond) {
  const auto svd = eps::detail::cpu::thin_svd(H, true, false);
  const Vec& sv = svd.s;
  if (rcond < 0) rcond = double(std::max(H.rows(), H.cols())) * std::numeric_limits<double>::epsilon();
  const double cut = rcond * (sv.size() ? sv(0) : 0.0);
  Eigen::Index r = 0;
  while (r < sv.size() && sv(r) > cut) ++r;
  return svd.u.leftCols(r);
}

/// Noise-free consistency (docs/conventions.md, "Noise-free measurements"): throws value_error unless
/// every column of o lies in the span of Q (orthonormal columns) to relative tolerance √ε.
void require_in_range(const Mat& o, const Mat& Q, const char* where) {
  const double tol = std::sqrt(std::numeric_limits<double>::epsilon());
  for (Eigen::Index b = 0; b < o.cols(); ++b) {
    const double n = o.col(b).norm(), r = (o.col(b) - Q * (Q.transpose() * o.col(b))).norm();
    EPS_CHECK(r <= tol * n, value_error, where, ": sigma_y = 0 but y (column ", b,
              ") is not in the range of A: its distance "
              "to the range is ",
              r, ", ", (n > 0 ? r / n : 1.0), " of its norm (tolerance ", tol,
              "); noise-free data outside range(A) has zero likelihood under every prior");
  }
}

/// log N(o_b; m, G) for every column o_b, through a factor of G.
inline Vec log_normal_columns(const Mat& o, const Vec& m, const SpdFactor& G) {
  const Mat r = o.colwise() - m;
  const Mat sr = G.solve(r);
  Vec out(o.cols());
  for (Eigen::Index b = 0; b < o.cols(); ++b)
    out(b) =
        -0.5 * r.col(b).dot(sr.col(b)) - 0.5 * G.logdet() - 0.5 * double(G.rank()) * std::log(2 * std::numbers::pi);
  return out;
}

Mat softmax_columns(const Mat& logw) {
  Mat p(logw.rows(), logw.cols());
  for (Eigen::Index b = 0; b < logw.cols(); ++b) {
    const double top = logw.col(b).maxCoeff();
    EPS_CHECK(std::isfinite(top), domain_error, "eps::analytic: every component has zero weight for sample ", b);
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

Mat MixturePosterior::mean() const {
  Mat r = Mat::Zero(m_[0].rows(), m_[0].cols());
  for (std::size_t k = 0; k < m_.size(); ++k) r += m_[k] * w_.row(static_cast<Eigen::Index>(k)).asDiagonal();
  return r;
}

Mat MixturePosterior::covariance_of(Eigen::Index b) const {
  const Vec mu = mean().col(b);
  Mat r = Mat::Zero(mu.size(), mu.size());
  for (std::size_t k = 0; k < m_.size(); ++k) {
    const Vec d = m_[k].col(b) - mu;
    r += w_(static_cast<Eigen::Index>(k), b) * (c_[k] + d * d.transpose());
  }
  return r;
}

Mat MixturePosterior::sample(Eigen::Index n, std::mt19937_64& gen, Eigen::Index b) const {
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

GaussianMixture::GaussianMixture(std::vector<double> weights, std::vector<Vec> means, std::vector<Mat> covariances)
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

Mat GaussianMixture::sample(Eigen::Index n, std::mt19937_64& gen) const {
  std::discrete_distribution<std::size_t> pick(w_.begin(), w_.end());
  Mat out(dim(), n);
  for (Eigen::Index j = 0; j < n; ++j) {
    const std::size_t k = pick(gen);
    out.col(j) = mu_[k] + roots_[k] * detail::randn(dim(), 1, gen);
  }
  return out;
}

MixturePosterior GaussianMixture::condition(const LinearObservation& obs) const {
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
  // Noise-free with an operator: restrict to range(H) — one rank decision serves every component, and
  // the reduced G_k = H' C_k H'ᵀ is positive definite for all of them (docs/conventions.md).
  Mat o = obs.o, R = obs.R;
  std::optional<Mat> H = obs.H;
  if (H && R.isZero(0)) {
    const Mat Q = detail::range_basis(*H, obs.rcond);
    detail::require_in_range(o, Q, where);
    o = Q.transpose() * o;
    H = Mat(Q.transpose() * *H);
    R = Mat::Zero(Q.cols(), Q.cols());
  }
  Mat logw(static_cast<Eigen::Index>(components()), B);
  std::vector<Mat> means, covs;
  for (std::size_t k = 0; k < components(); ++k) {
    if (H && H->rows() == 0) {  // nothing is measured: the prior
      means.push_back(mu_[k].replicate(1, B));
      covs.push_back(c_[k]);
      logw.row(static_cast<Eigen::Index>(k)).setConstant(std::log(w_[k]));
      continue;
    }
    const Mat CHt = H ? Mat(c_[k] * H->transpose()) : Mat(obs.scale * c_[k]);
    const Mat G = (H ? Mat(*H * CHt) : Mat(obs.scale * CHt)) + R;
    const Vec Hmu = H ? Vec(*H * mu_[k]) : Vec(obs.scale * mu_[k]);
    const detail::SpdFactor f(G, where);
    const Mat resid = o.colwise() - Hmu;
    means.push_back((CHt * f.solve(resid)).colwise() + mu_[k]);
    Mat post = c_[k] - CHt * f.solve(CHt.transpose());
    covs.push_back(0.5 * (post + post.transpose()));
    logw.row(static_cast<Eigen::Index>(k)) =
        (std::log(w_[k]) + detail::log_normal_columns(o, Hmu, f).array()).transpose();
  }
  return MixturePosterior(detail::softmax_columns(logw), std::move(means), std::move(covs));
}

Mat GaussianMixture::denoise(const Mat& z, const Mat& Sigma) const {
  return condition({z, std::nullopt, Sigma}).mean();
}

Mat GaussianMixture::denoise_isotropic(const Mat& x_t, double alpha, double sigma) const {
  return condition(isotropic(x_t, alpha, sigma)).mean();
}

MixturePosterior GaussianMixture::posterior(const Mat& A, const Mat& y, double sigma_y) const {
  detail_check_noise(sigma_y, "eps::analytic::GaussianMixture::posterior");
  return condition({y, A, sigma_y * sigma_y * Mat::Identity(A.rows(), A.rows())});
}

Mat GaussianMixture::posterior_score(const Mat& x_t, double alpha, double sigma, const Mat& A, const Mat& y,
                                     double sigma_y) const {
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
      const detail::SpdFactor f(S, "eps::analytic::GaussianMixture::posterior_score");
      const Vec m = alpha * py.means(k).col(0);
      sc.push_back(-f.solve(x_t.col(b) - m));
      logr(static_cast<Eigen::Index>(k)) =
          std::log(py.weights()(static_cast<Eigen::Index>(k), 0)) + detail::log_normal_columns(x_t.col(b), m, f)(0);
    }
    const Mat r = detail::softmax_columns(logr);
    out.col(b).setZero();
    for (std::size_t k = 0; k < components(); ++k) out.col(b) += r(static_cast<Eigen::Index>(k), 0) * sc[k];
  }
  return out;
}

Mat GaussianMixture::score(const Mat& x_t, double alpha, double sigma) const {
  return (alpha * denoise_isotropic(x_t, alpha, sigma) - x_t) / (sigma * sigma);
}

Mat GaussianMixture::denoiser_jacobian(const Vec& x_t, double alpha, double sigma) const {
  EPS_CHECK(sigma > 0, domain_error, "eps::analytic::GaussianMixture::denoiser_jacobian: sigma must be > 0");
  return alpha / (sigma * sigma) * condition(isotropic(x_t, alpha, sigma)).covariance_of(0);
}

Mat GaussianMixture::denoiser_vjp(const Mat& x_t, double alpha, double sigma, const Mat& v) const {
  EPS_CHECK(v.rows() == x_t.rows() && v.cols() == x_t.cols(), shape_error,
            "eps::analytic::GaussianMixture::denoiser_vjp: v and x_t shapes differ");
  Mat out(x_t.rows(), x_t.cols());
  for (Eigen::Index b = 0; b < x_t.cols(); ++b) out.col(b) = denoiser_jacobian(x_t.col(b), alpha, sigma) * v.col(b);
  return out;
}

LinearObservation GaussianMixture::isotropic(const Mat& x_t, double alpha, double sigma) const {
  eps::detail::require_nonnegative(alpha, "eps::analytic::GaussianMixture", "alpha");
  eps::detail::require_nonnegative(sigma, "eps::analytic::GaussianMixture", "sigma");
  return {x_t, std::nullopt, sigma * sigma * Mat::Identity(dim(), dim()), alpha};
}

}  // namespace eps::analytic
