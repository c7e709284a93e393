// SPDX-License-Identifier: MIT
// The dense float64 oracles of eps/reference/dense.hpp that are not templates, compiled once.
#include "eps/reference/dense.hpp"

#include <Eigen/Dense>
#include <Eigen/SVD>

namespace eps::reference {

Mat pinv(const Mat& A, double rcond) {
  Eigen::JacobiSVD<Mat> svd(A, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Vec& s = svd.singularValues();
  const double cut = rcond * (s.size() ? s(0) : 0.0);
  Vec inv = s;
  for (Eigen::Index i = 0; i < s.size(); ++i) inv(i) = s(i) > cut ? 1 / s(i) : 0;
  return svd.matrixV() * inv.asDiagonal() * svd.matrixU().transpose();
}

DensePivot precision_form(const Mat& A, const Vec& x_t, const Vec& y, double a, double s, double sy) {
  const Eigen::Index d = A.cols();
  const Mat P = (a * a / (s * s)) * Mat::Identity(d, d) + A.transpose() * A / (sy * sy);
  const Vec b = (a / (s * s)) * x_t + A.transpose() * y / (sy * sy);
  const Eigen::LDLT<Mat> f(P);
  DensePivot r;
  r.z = f.solve(b);
  r.sigma = f.solve(Mat::Identity(d, d));
  r.x_tilde = a * r.z;
  r.sigma_tilde = a * a * r.sigma;
  return r;
}

DensePivot svd_form(const Mat& A, const Vec& x_t, const Vec& y, double a, double s, double sy) {
  const Eigen::Index d = A.cols();
  Eigen::JacobiSVD<Mat> svd(A, Eigen::ComputeFullU | Eigen::ComputeFullV);
  const Mat& V = svd.matrixV();
  const Mat& U = svd.matrixU();
  Vec sv = Vec::Zero(d);
  sv.head(svd.singularValues().size()) = svd.singularValues();
  const double cut = 1e-12 * (sv.size() ? sv(0) : 0.0);
  const Vec xc = V.transpose() * x_t;
  Vec yc = Vec::Zero(d);
  const Eigen::Index r = std::min<Eigen::Index>(U.cols(), d);
  yc.head(r) = (U.transpose() * y).head(r);
  Vec xt(d), gt(d);
  for (Eigen::Index i = 0; i < d; ++i) {
    if (sv(i) > cut) {
      const double den = a * a * sy * sy + sv(i) * sv(i) * s * s;
      xt(i) = a * (a * sy * sy * xc(i) + sv(i) * s * s * yc(i)) / den;
      gt(i) = a * a * s * s * sy * sy / den;
    } else {
      xt(i) = xc(i);
      gt(i) = s * s;
    }
  }
  DensePivot p;
  p.x_tilde = V * xt;
  p.sigma_tilde = V * gt.asDiagonal() * V.transpose();
  p.z = p.x_tilde / a;
  p.sigma = p.sigma_tilde / (a * a);
  return p;
}

std::pair<Vec, Mat> gaussian_posterior(const Vec& mu, const Mat& C, const Mat& A, const Vec& y, double sy) {
  const Mat G = A * C * A.transpose() + sy * sy * Mat::Identity(A.rows(), A.rows());
  const Mat K = C * A.transpose() * pinv(G, 1e-14);
  Mat Cy = C - K * A * C;
  return {mu + K * (y - A * mu), 0.5 * (Cy + Cy.transpose())};
}

Vec gaussian_posterior_score(const Vec& mu, const Mat& C, const Mat& A, const Vec& y, double sy, const Vec& x_t,
                             double a, double s) {
  const auto [my, Cy] = gaussian_posterior(mu, C, A, y, sy);
  const Mat S = a * a * Cy + s * s * Mat::Identity(mu.size(), mu.size());
  return -S.ldlt().solve(x_t - a * my);
}

Vec gaussian_joint_mean(const Vec& mu, const Mat& C, const Mat& A, const Vec& y, double sy, const Vec& x_t, double a,
                        double s) {
  const Eigen::Index d = mu.size(), m = A.rows();
  Mat H(d + m, d);
  H << a * Mat::Identity(d, d), A;
  Vec o(d + m);
  o << x_t, y;
  Vec r(d + m);
  r << Vec::Constant(d, s * s), Vec::Constant(m, sy * sy);
  const Mat G = H * C * H.transpose() + Mat(r.asDiagonal());
  return mu + C * H.transpose() * pinv(G, 1e-14) * (o - H * mu);
}

}  // namespace eps::reference
