// SPDX-License-Identifier: MIT
/// @file operators/dense.hpp
/// An arbitrary matrix A ∈ R^{m×d} (compressed sensing, general A) with its thin SVD, and the
/// composition of operators (no spectral form: the derived algorithms use conjugate gradients).
#pragma once

#include <span>
#include <string>
#include <utility>

#include "eps/operators/identity_mask.hpp"

namespace eps {

/// Dense A ∈ R^{m×d} acting on samples of shape `in_shape` (d = numel), with y of shape {m}.
/// Stores A's rows and its thin SVD A = U diag(s) Vᵀ (r = min(m, d) columns in U and V, computed once
/// by the backend). When r < d, V is thin (`is_thin()`): its orthogonal complement is null space.
template <SvdTensor T>
class Dense {
 public:
  using tensor_type = T;
  using coef_type = T;

  /// @param rows  m samples of shape `in_shape`: the rows of A.
  Dense(const T& rows, Shape in_shape) : in_(std::move(in_shape)) {
    eps::check_sample(rows, in_, "eps::Dense", "rows");
    EPS_CHECK(eps::batch(rows) >= 1, shape_error, "eps::Dense: A needs at least one row");
    eps::check_finite(rows, "eps::Dense", "A");
    auto f = eps::svd_rows(rows);
    const T v2 = eps::mul(f.v, f.v);
    leverage_ = eps::combine(v2, detail::ones(rows, 1, Shape{eps::batch(f.v)}), in_);
    rows_ = rows;
    u_ = std::move(f.u);
    v_ = std::move(f.v);
    s_ = std::move(f.s);
    v2_ = v2;
  }
  /// From a host row-major m × d matrix; `like` gives the dtype/device.
  Dense(const T& like, std::span<const double> a, index_t m, Shape in_shape)
      : Dense(eps::from_host(like, a, m, in_shape), in_shape) {}

  T apply(const T& x) const { return eps::inner_products((*rows_), check(x, "apply", "x")); }
  T apply_adjoint(const T& y) const {
    eps::check_sample(y, out_shape(), "eps::Dense::apply_adjoint", "y");
    return eps::combine((*rows_), y, in_);
  }
  const Shape& in_shape() const { return in_; }
  Shape out_shape() const { return {eps::batch((*rows_))}; }
  std::string name() const { return "dense"; }
  /// The rows of A (m samples of shape in_shape).
  const T& rows() const { return (*rows_); }

  T singular_values() const { return (*s_); }
  bool is_thin() const { return eps::batch((*v_)) < numel(in_); }
  T apply_vt(const T& x) const { return eps::inner_products((*v_), check(x, "apply_vt", "x")); }
  T apply_v(const T& c) const { return eps::combine((*v_), c, in_); }
  T apply_ut(const T& y) const {
    eps::check_sample(y, out_shape(), "eps::Dense::apply_ut", "y");
    return eps::inner_products((*u_), y);
  }
  T apply_u(const T& c) const { return eps::combine((*u_), c, out_shape()); }
  /// diag(V diag(g) Vᵀ + g_null (I − V Vᵀ)) = (V∘V) g + g_null (1 − rowsum(V∘V)).
  T spectral_diagonal(const T& g, const T& g_null) const {
    return eps::add(eps::combine((*v2_), g, in_), eps::mul(eps::add_scalar(eps::scale((*leverage_), -1.0), 1.0), g_null));
  }

 private:
  const T& check(const T& x, const char* what, const char* name) const {
    eps::check_sample(x, in_, what, name);
    return x;
  }
  Shape in_;
  detail::Shared<T> rows_, u_, v_, s_, v2_, leverage_;
};

/// The composition A = A2 ∘ A1 (A1 applied first). Only apply and adjoint: derived algorithms solve with
/// conjugate gradients.
template <LinearOperator Op2, LinearOperator Op1>
  requires std::same_as<typename Op2::tensor_type, typename Op1::tensor_type>
class Compose {
 public:
  using tensor_type = typename Op1::tensor_type;

  Compose(Op2 a2, Op1 a1) : a2_(std::move(a2)), a1_(std::move(a1)) {
    EPS_CHECK(numel(Shape(a1_.out_shape())) == numel(Shape(a2_.in_shape())), shape_error, "eps::Compose: ", a1_.name(),
              " produces ", to_string(a1_.out_shape()), " but ", a2_.name(), " expects ", to_string(a2_.in_shape()));
  }
  tensor_type apply(const tensor_type& x) const { return a2_.apply(eps::reshape(a1_.apply(x), a2_.in_shape())); }
  tensor_type apply_adjoint(const tensor_type& y) const {
    return a1_.apply_adjoint(eps::reshape(a2_.apply_adjoint(y), a1_.out_shape()));
  }
  Shape in_shape() const { return a1_.in_shape(); }
  Shape out_shape() const { return a2_.out_shape(); }
  std::string name() const { return a2_.name() + "*" + a1_.name(); }
  const Op2& outer() const { return a2_; }
  const Op1& inner() const { return a1_; }

 private:
  Op2 a2_;
  Op1 a1_;
};

/// compose(a2, a1) = a2 ∘ a1.
template <LinearOperator Op2, LinearOperator Op1>
Compose<Op2, Op1> compose(Op2 a2, Op1 a1) {
  return {std::move(a2), std::move(a1)};
}

/// Hides an operator's factorisation: only apply and adjoint, so every derived algorithm takes its
/// matrix-free path (conjugate gradients). For comparing the two paths and for benchmarking.
template <LinearOperator Op>
class MatrixFree {
 public:
  using tensor_type = typename Op::tensor_type;
  explicit MatrixFree(Op a) : a_(std::move(a)) {}
  tensor_type apply(const tensor_type& x) const { return a_.apply(x); }
  tensor_type apply_adjoint(const tensor_type& y) const { return a_.apply_adjoint(y); }
  Shape in_shape() const { return a_.in_shape(); }
  Shape out_shape() const { return a_.out_shape(); }
  std::string name() const { return "matrix_free(" + a_.name() + ")"; }
  const Op& wrapped() const { return a_; }

 private:
  Op a_;
};

template <LinearOperator Op>
MatrixFree<Op> matrix_free(Op a) {
  return MatrixFree<Op>(std::move(a));
}

}  // namespace eps
