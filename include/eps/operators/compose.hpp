// SPDX-License-Identifier: MIT
/// @file operators/compose.hpp
/// Operators without a factorisation: the composition of two operators and a matrix-free view of any
/// operator. The derived algorithms solve with conjugate gradients on them (docs/math.md §3.3).
#pragma once

#include <string>
#include <utility>

#include "eps/backend.hpp"
#include "eps/operators/concepts.hpp"

namespace eps {

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
  /// The part of y that is a measurement: the outer operator's (its padding zeroed), else y.
  tensor_type measured(const tensor_type& y) const { return eps::measured(a2_, y); }
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
  tensor_type measured(const tensor_type& y) const { return eps::measured(a_, y); }
  const Op& wrapped() const { return a_; }

 private:
  Op a_;
};

template <LinearOperator Op>
MatrixFree<Op> matrix_free(Op a) {
  return MatrixFree<Op>(std::move(a));
}

}  // namespace eps
