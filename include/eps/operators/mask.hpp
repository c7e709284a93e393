// SPDX-License-Identifier: MIT
/// @file operators/mask.hpp
/// Pixel masks (random and box inpainting).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "eps/backend.hpp"
#include "eps/operators/common.hpp"
#include "eps/operators/concepts.hpp"

namespace eps {

/// Pixel mask (inpainting): A = diag(m), m ∈ {0, 1}, y has the shape of x with zeros where m = 0.
/// Spectral with U = V = I and s = m. The measurement is y on the observed pixels only: y's entries at
/// unobserved pixels are padding, ignored at every σ_y (`measured(y)` zeroes them). The mask is one sample
/// (shared by the batch) or one per sample.
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
  T spectral_diagonal(const T& g, const T&) const { return g; }
  /// y with its padding (entries at unobserved pixels) set to 0: the part of y that is a measurement.
  T measured(const T& y) const { return apply_adjoint(y); }

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
