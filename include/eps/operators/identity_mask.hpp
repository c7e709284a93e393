// SPDX-License-Identifier: MIT
/// @file operators/identity_mask.hpp
/// The identity (denoising) and pixel masks (random and box inpainting).
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "eps/backend.hpp"
#include "eps/operators/concepts.hpp"

namespace eps {
namespace detail {

/// An immutable value shared by the copies of an operator: copying an operator (into a pivot, a
/// sampler, a lambda) never copies its tensors, whatever the backend's copy semantics.
template <class V>
class Shared {
 public:
  Shared() = default;
  Shared(V v) : p_(std::make_shared<const V>(std::move(v))) {}  // NOLINT: implicit by design
  const V& operator*() const { return *p_; }
  const V* operator->() const { return p_.get(); }

 private:
  std::shared_ptr<const V> p_;
};

/// Checks a tensor argument of an operator: sample shape, and batch size compatible with the
/// operator's own batch (1, or equal).
template <Tensor T>
void check_operand(const T& x, const Shape& shape, index_t op_batch, const char* where, const char* name) {
  eps::check_sample(x, shape, where, name);
  EPS_CHECK(op_batch == 1 || eps::batch(x) == op_batch, shape_error, where, ": ", name, " has batch size ", eps::batch(x),
            " but the operator was built for a batch of ", op_batch, " (use a batch of 1 to share it)");
}

/// A real tensor of ones: `batch` samples of shape `shape`.
template <RealTensor T>
T ones(const T& like, index_t batch, const Shape& shape) {
  return eps::add_scalar(eps::zeros(like, batch, shape), 1.0);
}

}  // namespace detail

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
  T spectral_diagonal(const T& g) const { return g; }

 private:
  T check(const T& x, const char* name, const char* where) const {
    detail::check_operand(x, shape_, 1, where, name);
    return x;
  }
  Shape shape_;
  detail::Shared<T> s_;
};

/// Pixel mask (inpainting): A = diag(m), m ∈ {0, 1}, y has the shape of x with zeros where m = 0.
/// Spectral with U = V = I and s = m (the rows of unobserved pixels are zero; y there is ignored).
/// The mask is one sample (shared by the batch) or one per sample.
template <RealTensor T>
class Mask {
 public:
  using tensor_type = T;
  using coef_type = T;

  /// @param mask   batch 1 or B of shape `shape`, entries exactly 0 or 1 (checked on the host, once).
  Mask(const T& mask, Shape shape) : shape_(std::move(shape)), m_(mask) {
    eps::check_sample(*m_, shape_, "eps::Mask", "mask");
    for (double v : eps::to_host(*m_))
      EPS_CHECK(v == 0.0 || v == 1.0, value_error, "eps::Mask: mask entries must be exactly 0 or 1, got ", v);
  }
  /// From host values (batch-major, row-major); `like` gives the dtype/device.
  Mask(const T& like, std::span<const double> mask, Shape shape)
      : Mask(eps::from_host(like, mask, checked_batch(mask, shape), shape), shape) {}

  T apply(const T& x) const { return eps::mul(check(x, "x", "eps::Mask::apply"), *m_); }
  T apply_adjoint(const T& y) const { return eps::mul(check(y, "y", "eps::Mask::apply_adjoint"), *m_); }
  T apply_gram(const T& x) const { return apply(x); }
  const Shape& in_shape() const { return shape_; }
  const Shape& out_shape() const { return shape_; }
  std::string name() const { return "mask"; }
  const T& mask() const { return *m_; }

  T singular_values() const { return *m_; }
  T apply_vt(const T& x) const { return check(x, "x", "eps::Mask::apply_vt"); }
  T apply_v(const T& c) const { return check(c, "c", "eps::Mask::apply_v"); }
  T apply_ut(const T& y) const { return check(y, "y", "eps::Mask::apply_ut"); }
  T apply_u(const T& c) const { return check(c, "c", "eps::Mask::apply_u"); }
  T spectral_diagonal(const T& g) const { return g; }

 private:
  static index_t checked_batch(std::span<const double> mask, const Shape& shape) {
    const index_t n = numel(shape);
    EPS_CHECK(n > 0 && static_cast<index_t>(mask.size()) % n == 0 && !mask.empty(), shape_error,
              "eps::Mask: ", mask.size(), " mask values is not a whole number of samples of shape ", to_string(shape));
    return static_cast<index_t>(mask.size()) / n;
  }
  T check(const T& x, const char* name, const char* where) const {
    detail::check_operand(x, shape_, eps::batch(*m_), where, name);
    return x;
  }
  Shape shape_;
  detail::Shared<T> m_;
};

}  // namespace eps
