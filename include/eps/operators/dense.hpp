// SPDX-License-Identifier: MIT
/// @file operators/dense.hpp
/// An arbitrary matrix A ∈ R^{m×d} (compressed sensing, general A) with its thin SVD and numerical rank.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <utility>

#include "eps/backend.hpp"
#include "eps/operators/common.hpp"
#include "eps/operators/concepts.hpp"

namespace eps {

/// Dense A ∈ R^{m×d} acting on samples of shape `in_shape` (d = numel), with y of shape {m}.
/// Stores A's rows and its thin SVD A = U diag(s) Vᵀ (r = min(m, d) columns in U and V, computed once
/// by the backend). When r < d, V is thin (`is_thin()`): its orthogonal complement is null space.
///
/// Numerical rank (docs/conventions.md): singular values s_i ≤ rcond·s_max are round-off of a
/// rank-deficient A (duplicated or dependent rows, a zero row, a product of thin factors) and are set to
/// exactly 0, so that the pivot, Σ*, A† and P_N treat their directions as null space. The default rcond is
/// max(m, d)·ε of the dtype, NumPy's `matrix_rank` and LAPACK's choice. `apply` and `apply_adjoint` use
/// the stored rows unchanged (they differ from U diag(s) Vᵀ by at most rcond·s_max).
template <SvdTensor T>
class Dense {
 public:
  using tensor_type = T;
  using coef_type = T;

  /// @param rows   m samples of shape `in_shape`: the rows of A.
  /// @param rcond  relative cut of the rank decision; negative: the default max(m, d)·ε.
  Dense(const T& rows, Shape in_shape, double rcond = -1) : in_(std::move(in_shape)) {
    eps::check_sample(rows, in_, "eps::Dense", "rows");
    EPS_CHECK(eps::batch(rows) >= 1, shape_error, "eps::Dense: A needs at least one row");
    eps::check_finite(rows, "eps::Dense", "A");
    auto f = eps::svd_rows(rows);
    const double m = double(eps::batch(rows)), d = double(numel(in_));
    const detail::RankCut<T> cut = detail::rank_cut(f.s, rcond, std::max(m, d) * eps::epsilon(rows), "eps::Dense");
    f.s = eps::mul(f.s, cut.kept);
    rank_ = cut.rank.front();
    rcond_ = cut.rcond;
    const T v2 = eps::mul(f.v, f.v);
    leverage_ = eps::combine(v2, detail::ones(rows, 1, Shape{eps::batch(f.v)}), in_);
    rows_ = rows;
    u_ = std::move(f.u);
    v_ = std::move(f.v);
    s_ = std::move(f.s);
    v2_ = v2;
  }
  /// From a host row-major m × d matrix; `like` gives the dtype/device.
  Dense(const T& like, std::span<const double> a, index_t m, Shape in_shape, double rcond = -1)
      : Dense(eps::from_host(like, a, m, in_shape), in_shape, rcond) {}

  T apply(const T& x) const { return eps::inner_products((*rows_), check(x, "eps::Dense::apply", "x")); }
  T apply_adjoint(const T& y) const {
    eps::check_sample(y, out_shape(), "eps::Dense::apply_adjoint", "y");
    return eps::combine((*rows_), y, in_);
  }
  const Shape& in_shape() const { return in_; }
  Shape out_shape() const { return {eps::batch((*rows_))}; }
  std::string name() const { return "dense"; }
  /// The rows of A (m samples of shape in_shape).
  const T& rows() const { return (*rows_); }

  /// The singular values, non-increasing, with the round-off ones set to exactly 0.
  T singular_values() const { return (*s_); }
  /// The numerical rank: the number of singular values above rcond()·s_max.
  index_t rank() const { return rank_; }
  /// The relative cut of the rank decision.
  double rcond() const { return rcond_; }
  bool is_thin() const { return eps::batch((*v_)) < numel(in_); }
  T apply_vt(const T& x) const { return eps::inner_products((*v_), check(x, "eps::Dense::apply_vt", "x")); }
  T apply_v(const T& c) const { return eps::combine((*v_), c, in_); }
  T apply_ut(const T& y) const {
    eps::check_sample(y, out_shape(), "eps::Dense::apply_ut", "y");
    return eps::inner_products((*u_), y);
  }
  T apply_u(const T& c) const { return eps::combine((*u_), c, out_shape()); }
  /// diag(V diag(g) Vᵀ + g_null (I − V Vᵀ)) = (V∘V) g + g_null (1 − rowsum(V∘V)).
  T spectral_diagonal(const T& g, const T& g_null) const {
    return eps::add(eps::combine((*v2_), g, in_),
                    eps::mul(eps::add_scalar(eps::scale((*leverage_), -1.0), 1.0), g_null));
  }

 private:
  const T& check(const T& x, const char* what, const char* name) const {
    eps::check_sample(x, in_, what, name);
    return x;
  }
  Shape in_;
  index_t rank_ = 0;
  double rcond_ = 0;
  detail::Shared<T> rows_, u_, v_, s_, v2_, leverage_;
};

}  // namespace eps
