// SPDX-License-Identifier: MIT
// The reusable operator property harness (docs/math.md §8.5), in the spirit of Eigen's test/adjoint.cpp and
// Sophus' LieGroupTests: one function checks every property an operator promises, against an
// independent dense float64 reference built column by column.
#pragma once

#include "common.hpp"

namespace eps::test {

/// Linear operator properties: adjointness ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ relative to ‖A x‖‖y‖ + ‖x‖‖Aᵀy‖, and the
/// dense matrix of Aᵀ equal to the transpose of the dense matrix of A; apply_gram equal to AᵀA.
/// `like` gives dtype and device (backends with run-time dtypes: LibTorch).
template <class T, LinearOperator Op>
void check_linear_operator(const Op& A, double tol, generator_t<T>& gen, const T& like = T{}) {
  CAPTURE(A.name());
  const T x = eps::randn(like, 3, A.in_shape(), gen);
  const T y = eps::randn(like, 3, A.out_shape(), gen);
  const T ax = A.apply(x), aty = A.apply_adjoint(y);
  eps::check_sample(ax, A.out_shape(), "test", "A x", 3);
  eps::check_sample(aty, A.in_shape(), "test", "A^T y", 3);
  const auto l = eps::dot_batch(ax, y), r = eps::dot_batch(x, aty);
  const auto nax = eps::norm2_batch(ax), ny = eps::norm2_batch(y), nx = eps::norm2_batch(x),
             naty = eps::norm2_batch(aty);
  for (std::size_t b = 0; b < 3; ++b) {
    const double scale = std::sqrt(nax[b] * ny[b]) + std::sqrt(nx[b] * naty[b]);
    CHECK(std::abs(l[b] - r[b]) <= tol * scale);
  }
  const Mat a = reference::to_dense(A, like), at = reference::to_dense_adjoint(A, like);
  CHECK(rel_error(at, Mat(a.transpose())) <= tol);
  const Mat gram = reference::dense_of([&](const T& e) { return apply_gram(A, e); }, like, A.in_shape());
  CHECK(rel_error(gram, Mat(a.transpose() * a)) <= 10 * tol);
}

/// Spectral operator properties, against the dense matrix of A:
///  - V: ‖Vᴴ x‖ = ‖x‖ and V Vᴴ x = x (complete V), Vᴴ V c = c on the coefficients of real vectors;
///  - U: U Uᴴ (A x) = A x and ‖U c‖ = ‖c‖ on measured coefficients;
///  - U diag(s) Vᴴ = A and V diag(s) Uᴴ = Aᵀ column by column; s ≥ 0;
///  - A† (pinv_apply) against the pseudo-inverse of Eigen's Jacobi SVD, P_N against I − A†A;
///  - spectral_diagonal(g) against the diagonal of the dense V diag(g) Vᴴ.
template <class T, SpectralOperator Op>
void check_spectral_operator(const Op& A, double tol, generator_t<T>& gen, const T& like = T{}) {
  check_linear_operator<T>(A, tol, gen, like);
  CAPTURE(A.name());
  const T x = eps::randn(like, 3, A.in_shape(), gen);
  const auto c = A.apply_vt(x);
  const auto vc = A.apply_v(c);
  const auto nx = eps::norm2_batch(x), nc = eps::norm2_batch(c);
  for (std::size_t b = 0; b < 3; ++b) {
    if (is_thin(A))
      CHECK(nc[b] <= nx[b] * (1 + tol));
    else
      CHECK(std::abs(nc[b] - nx[b]) <= tol * nx[b]);
  }
  if (!is_thin(A)) CHECK(rel_error(as_mat(vc), as_mat(x)) <= tol);
  // Vᴴ V c = c on c = Vᴴ x (the coefficients real vectors produce; complex for Fourier operators).
  const auto dc = eps::norm2_batch(eps::sub(A.apply_vt(vc), c));
  for (std::size_t b = 0; b < 3; ++b) CHECK(std::sqrt(dc[b]) <= tol * std::sqrt(nc[b]));
  const auto s = A.singular_values();
  CHECK(as_mat(s).minCoeff() >= 0.0);
  const T ax = A.apply(x);
  CHECK(rel_error(as_mat(A.apply_u(A.apply_ut(ax))), as_mat(ax)) <= tol);
  const auto meas = eps::mul(c, s);  // measured coefficients only
  const auto nm = eps::norm2_batch(meas), num = eps::norm2_batch(A.apply_u(meas));
  for (std::size_t b = 0; b < 3; ++b) CHECK(std::abs(num[b] - nm[b]) <= tol * nm[b] + 1e-300);

  const Mat a = reference::to_dense(A, like);
  const Mat usv =
      reference::dense_of([&](const T& e) { return A.apply_u(eps::mul(A.apply_vt(e), s)); }, like, A.in_shape());
  CHECK(rel_error(usv, a) <= tol);
  const Mat vsu =
      reference::dense_of([&](const T& e) { return A.apply_v(eps::mul(A.apply_ut(e), s)); }, like, A.out_shape());
  CHECK(rel_error(vsu, Mat(a.transpose())) <= tol);

  const Mat pa = reference::pinv(a, 1e-9);
  const Mat pinv = reference::dense_of([&](const T& e) { return pinv_apply(A, e); }, like, A.out_shape());
  CHECK(rel_error(pinv, pa) <= 20 * tol);
  const Mat pn = reference::dense_of([&](const T& e) { return null_project(A, e); }, like, A.in_shape());
  const Mat pn_ref = Mat::Identity(a.cols(), a.cols()) - pa * a;
  CHECK((pn - pn_ref).norm() <= 20 * tol * std::sqrt(double(a.cols())));

  const auto g = eps::abs2(A.apply_vt(eps::randn(like, 1, A.in_shape(), gen)));  // ≥ 0, symmetric for Fourier operators
  const double g_null = 0.7;
  const Mat vgv = reference::dense_of([&](const T& e) { return spectral_filter(A, e, g, g_null); }, like, A.in_shape());
  const T diag = eps::spectral_diagonal(A, g, g_null);
  CHECK(rel_error(as_mat(diag), Vec(vgv.diagonal())) <= tol);
  CHECK(rel_error(vgv, Mat(vgv.transpose())) <= tol);  // V diag(g) Vᴴ is symmetric (real)
}

/// Dispatches to the spectral or the linear harness.
template <class T, class Op>
void check_operator(const Op& A, double tol, generator_t<T>& gen, const T& like = T{}) {
  if constexpr (SpectralOperator<Op>)
    check_spectral_operator<T>(A, tol, gen, like);
  else
    check_linear_operator<T>(A, tol, gen, like);
}

}  // namespace eps::test
