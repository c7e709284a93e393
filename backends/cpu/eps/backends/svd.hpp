// SPDX-License-Identifier: MIT
/// @file svd.hpp
/// A thin SVD of a dense Eigen matrix for the CPU backends and the analytic priors. Eigen 3.4.0's
/// divide-and-conquer BDCSVD returns NaN on some rank-deficient matrices with exactly zero singular values
/// (seen on a 40 × 40 subsampled Hartley matrix); the one-sided Jacobi SVD is slower (O(n³) with a larger
/// constant) but robust, so it is the fallback whenever BDCSVD's output is not finite.
///
/// Instantiating both SVDs costs ~15 s of compile time in every file that builds a Dense operator, so the
/// CMake targets eps::eigen and eps::xtensor link a library that instantiates thin_svd once for double
/// matrices (float ones go through double, below) and define EPS_COMPILED_SVD, which declares those instantiations
/// `extern` here. Without CMake (no macro) the header stays self-contained.
#pragma once

#include <Eigen/SVD>

#include "eps/error.hpp"

namespace eps::detail::cpu {

/// U (thin, when `want_u`), the singular values (non-increasing) and V (thin, when `want_v`) of M.
template <class M>
struct ThinSvd {
  M u, v;
  Eigen::Matrix<typename M::RealScalar, Eigen::Dynamic, 1> s;
};

template <class M>
ThinSvd<M> thin_svd(const M& m, bool want_u = true, bool want_v = true) {
  const unsigned opts = (want_u ? unsigned(Eigen::ComputeThinU) : 0u) | (want_v ? unsigned(Eigen::ComputeThinV) : 0u);
  ThinSvd<M> r;
  {
    const Eigen::BDCSVD<M> svd(m, opts);
    r.s = svd.singularValues();
    if (want_u) r.u = svd.matrixU();
    if (want_v) r.v = svd.matrixV();
  }
  if (r.s.allFinite() && (!want_u || r.u.allFinite()) && (!want_v || r.v.allFinite())) return r;
  const Eigen::JacobiSVD<M> svd(m, opts);
  r.s = svd.singularValues();
  if (want_u) r.u = svd.matrixU();
  if (want_v) r.v = svd.matrixV();
  EPS_CHECK(r.s.allFinite(), backend_error, "eps: the SVD of a ", m.rows(), "x", m.cols(), " matrix is not finite");
  return r;
}

#ifdef EPS_COMPILED_SVD
extern template ThinSvd<Eigen::MatrixXd> thin_svd(const Eigen::MatrixXd&, bool, bool);
#endif

/// Float matrices are factorised in double and the factors rounded to float: as accurate as float can hold
/// (more than a float SVD), and one instantiation of the SVDs instead of two (each is ~25 s of compile time).
inline ThinSvd<Eigen::MatrixXf> thin_svd(const Eigen::MatrixXf& m, bool want_u = true, bool want_v = true) {
  const ThinSvd<Eigen::MatrixXd> d = thin_svd(Eigen::MatrixXd(m.cast<double>()), want_u, want_v);
  ThinSvd<Eigen::MatrixXf> r;
  r.s = d.s.cast<float>();
  if (want_u) r.u = d.u.cast<float>();
  if (want_v) r.v = d.v.cast<float>();
  return r;
}

}  // namespace eps::detail::cpu
