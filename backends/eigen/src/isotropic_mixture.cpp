// SPDX-License-Identifier: MIT
// The non-template members of eps/analytic/isotropic_mixture.hpp, compiled once (library eps::analytic).
#include "eps/analytic/isotropic_mixture.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "eps/backends/svd.hpp"

namespace eps::analytic {

Mat IsotropicPosterior::covariance() const {
  const Eigen::Index d = m_.rows();
  const Vec mu = mean();
  Mat cov = Mat::Zero(d, d);
  for (Eigen::Index k = 0; k < m_.cols(); ++k) {
    const Vec dm = m_.col(k) - mu;
    cov += w_(k) * (component_covariance(k) + dm * dm.transpose());
  }
  return cov;
}

Mat IsotropicPosterior::component_covariance(Eigen::Index k) const {
  const Eigen::Index d = m_.rows();
  const Vec q2 = q_.col(k).array().square();
  return c_[static_cast<std::size_t>(k)] *
         (Mat::Identity(d, d) + V_ * (q2.array() - 1.0).matrix().asDiagonal() * V_.transpose());
}

Mat IsotropicPosterior::sample(Eigen::Index n, std::mt19937_64& gen) const {
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

Mat IsotropicPosterior::score(const Mat& x_t, double alpha, double sigma) const {
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
    for (Eigen::Index b = 0; b < B; ++b) logw(k, b) = std::log(w_(k)) - 0.5 * (res.col(b).dot(sol.col(b)) + logdet);
  }
  const Mat p = detail::softmax_columns(logw);
  Mat out = Mat::Zero(d, B);
  for (Eigen::Index k = 0; k < K; ++k) out += sc[static_cast<std::size_t>(k)] * p.row(k).asDiagonal();
  return out;
}

IsotropicMixture::IsotropicMixture(std::vector<double> weights, Mat means, std::vector<double> variances)
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

double IsotropicMixture::terminal_kl(double ratio) const {
  EPS_CHECK(ratio > 0 && std::isfinite(ratio), value_error,
            "eps::analytic::IsotropicMixture::terminal_kl: the noise ratio "
            "must be finite and > 0, got ",
            ratio);
  const double r2 = ratio * ratio, d = double(dim());
  double kl = 0;
  for (std::size_t k = 0; k < components(); ++k) {
    const double v = c_[k] + r2;
    kl += w_[k] * 0.5 *
          (mu_.col(static_cast<Eigen::Index>(k)).squaredNorm() / v + d * (std::log1p(c_[k] / r2) - c_[k] / v));
  }
  return kl;
}

double IsotropicMixture::terminal_noise_ratio(double nats) const {
  EPS_CHECK(nats > 0 && std::isfinite(nats), value_error,
            "eps::analytic::IsotropicMixture::terminal_noise_ratio: nats "
            "must be finite and > 0, got ",
            nats);
  double lo = 1e-3, hi = 1.0;
  while (terminal_kl(hi) > nats) hi *= 2;  // terminal_kl decreases to 0 as ς grows
  while (hi / lo > 1.001) {
    const double mid = std::sqrt(lo * hi);
    (terminal_kl(mid) > nats ? lo : hi) = mid;
  }
  return hi;
}

GaussianMixture IsotropicMixture::to_general() const {
  std::vector<Vec> m;
  std::vector<Mat> c;
  for (std::size_t k = 0; k < components(); ++k) {
    m.emplace_back(mu_.col(static_cast<Eigen::Index>(k)));
    c.emplace_back(c_[k] * Mat::Identity(dim(), dim()));
  }
  return GaussianMixture(w_, std::move(m), std::move(c));
}

Mat IsotropicMixture::sample(Eigen::Index n, std::mt19937_64& gen) const {
  std::discrete_distribution<std::size_t> pick(w_.begin(), w_.end());
  std::normal_distribution<double> nd;
  Mat out(dim(), n);
  for (Eigen::Index j = 0; j < n; ++j) {
    const std::size_t k = pick(gen);
    for (Eigen::Index i = 0; i < dim(); ++i)
      out(i, j) = mu_(i, static_cast<Eigen::Index>(k)) + std::sqrt(c_[k]) * nd(gen);
  }
  return out;
}

Mat IsotropicMixture::denoise_isotropic(const Mat& x_t, double alpha, double sigma) const {
  Mat p;
  std::vector<Mat> means;
  isotropic_parts(x_t, alpha, sigma, p, means, "eps::analytic::IsotropicMixture::denoise_isotropic");
  Mat out = Mat::Zero(dim(), x_t.cols());
  for (std::size_t k = 0; k < components(); ++k) out += means[k] * p.row(static_cast<Eigen::Index>(k)).asDiagonal();
  return out;
}

Mat IsotropicMixture::denoiser_vjp(const Mat& x_t, double alpha, double sigma, const Mat& v) const {
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

IsotropicPosterior IsotropicMixture::posterior(const Mat& A, const Mat& y, double sigma_y) const {
  constexpr const char* where = "eps::analytic::IsotropicMixture::posterior";
  eps::detail::require_nonnegative(sigma_y, where, "sigma_y");
  EPS_CHECK(A.cols() == dim() && A.rows() >= 1, shape_error, where, ": A is ", A.rows(), "x", A.cols(),
            "; expected m x ", dim());
  EPS_CHECK(y.rows() == A.rows() && y.cols() == 1, shape_error, where, ": y is ", y.rows(), "x", y.cols(),
            "; expected ", A.rows(), "x1");
  EPS_CHECK(A.allFinite() && y.allFinite(), value_error, where, ": A and y must be finite");
  // The rank decision of eps::Dense (docs/conventions.md): s ≤ max(m, d)·ε·s_max is 0.
  const auto svd = eps::detail::cpu::thin_svd(A);
  const Vec s_all = svd.s;
  const double cut =
      s_all.size() ? s_all(0) * std::numeric_limits<double>::epsilon() * double(std::max(A.rows(), A.cols())) : 0.0;
  Eigen::Index r = 0;
  while (r < s_all.size() && s_all(r) > cut) ++r;
  const Mat U = svd.u.leftCols(r), V = svd.v.leftCols(r);
  const Vec s = s_all.head(r);
  const Eigen::Index K = static_cast<Eigen::Index>(components());
  // y's component outside range(U) is the same for every component: with σ_y > 0 it drops out of the
  // weights; with σ_y = 0 it must vanish (noise-free data outside range(A) has zero likelihood).
  if (sigma_y == 0) detail::require_in_range(y, U, where);
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
  const Vec w = detail::softmax_columns(logw);
  return IsotropicPosterior(w, std::move(means), c_, V, std::move(q));
}

void IsotropicMixture::isotropic_parts(const Mat& x_t, double alpha, double sigma, Mat& p, std::vector<Mat>& means,
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
  p = detail::softmax_columns(logw);
}

}  // namespace eps::analytic
