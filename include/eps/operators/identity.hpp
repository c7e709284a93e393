// SPDX-License-Identifier: MIT
/// @file operators/identity.hpp
/// The identity operator (denoising).
#pragma once

#include <string>
#include <vector>

#include "eps/backend.hpp"
#include "eps/operators/common.hpp"
#include "eps/operators/concepts.hpp"

namespace eps {

/// A = I on samples of shape `shape` (denoising). Spectral with U = V = I and s = 1.
template <RealTensor T>
class Identity {
 public:
  using tensor_type = T;
  using coef_type = T;

  /// @param like  any tensor of the family (dtype/device for run-time-typed backends).
  Identity(const T& like, Shape shape) : shape_(std::move(shape)), s_(detail::ones(like, 1, shape_)) {}

  T apply(const T& x) const { return check(x, "x", "eps::Identity::apply"); }
  T apply_adjoint(const T& y) const { return check(y, "y", "eps::Identity::apply_adjoint"); }
  T apply_gram(const T& x) const { return check(x, "x", "eps::Identity::apply_gram"); }
  const Shape& in_shape() const { return shape_; }
  const Shape& out_shape() const { return shape_; }
  std::string name() const { return "identity"; }

  T singular_values() const { return *s_; }
  T apply_vt(const T& x) const { return check(x, "x", "eps::Identity::apply_vt"); }
  T apply_v(const T& c) const { return check(c, "c", "eps::Identity::apply_v"); }
  T apply_ut(const T& y) const { return check(y, "y", "eps::Identity::apply_ut"); }
  T apply_u(const T& c) const { return check(c, "c", "eps::Identity::apply_u"); }
  T spectral_diagonal(const T& g, const T&) const { return g; }

 private:
  T check(const T& x, const char* name, const char* where) const {
    detail::check_operand(x, shape_, 1, where, name);
    return x;
  }
  Shape shape_;
  detail::Shared<T> s_;
};

}  // namespace eps
