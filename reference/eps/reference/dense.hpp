// SPDX-License-Identifier: MIT
/// @file reference/dense.hpp
/// Dense float64 oracles (Eigen) that the tests compare the library against: operators as matrices
/// built column by column, the pivot in precision form and through Eigen's SVD (docs/math.md §2–3), the
/// direct Gaussian posterior score (docs/math.md §6) and the pseudo-inverse.
/// These are deliberately naive: O(d³), no structure, no shared code with the library's fast paths.
/// The non-template oracles are compiled once (reference/src/dense.cpp, library eps_reference_oracles):
/// their Eigen decompositions cost ~20 s of compile time in every file that would otherwise include them.
#pragma once

#include <Eigen/Dense>
#include <utility>
#include <vector>

#include "eps/backend.hpp"
#include "eps/operators/concepts.hpp"

namespace eps::reference {

using Vec = Eigen::VectorXd;
using Mat = Eigen::MatrixXd;

/// A batch tensor of any backend as a dense (numel × batch) float64 matrix, one sample per column.
template <RealTensor T>
Mat to_matrix(const T& x) {
  const std::vector<double> h = eps::to_host(x);
  return Eigen::Map<const Mat>(h.data(), eps::sample_numel(x), eps::batch(x));
}

/// A dense (numel × batch) matrix as a tensor of `like`'s backend with sample shape `shape`.
template <RealTensor T>
real_tensor_t<T> from_matrix(const T& like, const Mat& m, const Shape& shape) {
  return eps::from_host(like, std::span<const double>(m.data(), static_cast<std::size_t>(m.size())), m.cols(), shape);
}

/// The matrix of any linear map f from samples of shape `in` (with `like`'s backend), column by column.
template <RealTensor T, class F>
Mat dense_of(F f, const T& like, const Shape& in) {
  const index_t d = numel(in);
  return to_matrix(f(from_matrix(like, Mat::Identity(d, d), in)));
}

/// A as a dense m × d matrix: column j is A e_j.
template <LinearOperator Op>
Mat to_dense(const Op& A, const typename Op::tensor_type& like) {
  return dense_of([&](const auto& e) { return A.apply(e); }, like, A.in_shape());
}

/// Aᵀ as a dense d × m matrix: column i is Aᵀ e_i.
template <LinearOperator Op>
Mat to_dense_adjoint(const Op& A, const typename Op::tensor_type& like) {
  return dense_of([&](const auto& e) { return A.apply_adjoint(e); }, like, A.out_shape());
}

/// Moore–Penrose pseudo-inverse by Jacobi SVD, singular values below rcond·max treated as 0.
Mat pinv(const Mat& A, double rcond = 1e-12);

/// Pivot and covariance in both spaces.
struct DensePivot {
  Vec z;            ///< μ* (x0 space)
  Mat sigma;        ///< Σ*
  Vec x_tilde;      ///< α μ*
  Mat sigma_tilde;  ///< α² Σ*
};

/// docs/math.md §2 precision form: P = α²/σ² I + AᵀA/σ_y², b = α/σ² x_t + Aᵀy/σ_y², z = P⁻¹b, Σ = P⁻¹.
/// Needs α, σ, σ_y > 0 (the form is singular otherwise).
DensePivot precision_form(const Mat& A, const Vec& x_t, const Vec& y, double a, double s, double sy);

/// docs/math.md §3 through a full SVD of the dense A (an independent SVD, not the library's), with the null-space
/// rule x̃ = x_t, Σ̃ = σ² (needs α > 0 for z and Σ).
DensePivot svd_form(const Mat& A, const Vec& x_t, const Vec& y, double a, double s, double sy);

/// Gaussian prior N(μ, C), y = A x0 + σ_y n: the posterior N(m_y, C_y) (pseudo-inverse when σ_y = 0).
std::pair<Vec, Mat> gaussian_posterior(const Vec& mu, const Mat& C, const Mat& A, const Vec& y, double sy);

/// The direct posterior score of docs/math.md §6: −(α² C_y + σ² I)⁻¹ (x_t − α m_y).
Vec gaussian_posterior_score(const Vec& mu, const Mat& C, const Mat& A, const Vec& y, double sy, const Vec& x_t,
                             double a, double s);

/// E[x0 | x_t, y] for a Gaussian prior by stacking both observations, o = [x_t; y] = [αI; A] x0 + noise
/// with covariance diag(σ² I, σ_y² I) (pseudo-inverse: exact also for σ = 0, σ_y = 0 or α = 0).
Vec gaussian_joint_mean(const Vec& mu, const Mat& C, const Mat& A, const Vec& y, double sy, const Vec& x_t, double a,
                        double s);

/// Relative error ‖a − b‖ / ‖b‖ (absolute when b = 0).
template <class A, class B>
double rel_error(const A& a, const B& b) {
  const double nb = b.norm();
  return (a - b).norm() / (nb > 0 ? nb : 1.0);
}

}  // namespace eps::reference
