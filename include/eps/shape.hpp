// SPDX-License-Identifier: MIT
/// @file shape.hpp
/// Sample shapes, image geometry and per-batch scalar parameters.
///
/// Conventions (docs/conventions.md): a tensor is a batch of samples. The batch axis comes first in
/// the logical layout (B × C × H × W for images, B × n for vectors) and every sample is stored
/// contiguously in row-major order C, H, W. A `Shape` describes one sample (the batch axis excluded).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "eps/error.hpp"

namespace eps {

using index_t = std::int64_t;

/// The shape of one sample (batch axis excluded), outermost dimension first.
using Shape = std::vector<index_t>;

/// Number of elements of a sample of shape `s`.
inline index_t numel(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), index_t{1}, [](index_t a, index_t b) { return a * b; });
}

/// "[2,3,4]": any list of extents (a Shape, or a backend's sizes as a span).
inline std::string to_string(std::span<const index_t> s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) r.push_back(',');
    r.append(std::to_string(s[i]));
  }
  r.push_back(']');
  return r;
}

/// Geometry of one image sample: C channels of H × W pixels, stored C, H, W row-major.
struct ImageShape {
  index_t channels = 1;
  index_t height = 1;
  index_t width = 1;

  constexpr index_t numel() const { return channels * height * width; }
  Shape shape() const { return {channels, height, width}; }
  friend constexpr bool operator==(const ImageShape&, const ImageShape&) = default;

  /// Throws value_error unless every extent is positive.
  void validate(const char* where) const {
    EPS_CHECK(channels > 0 && height > 0 && width > 0, value_error, where,
              ": image shape must have positive extents, got C=", channels, " H=", height, " W=", width);
  }
};

/// A real parameter that is one value for the whole batch (size 1) or one value per batch element.
///
/// Noise levels, times and schedule coefficients are `BatchValues`: the closed forms of docs/math.md hold
/// per sample, so a training batch may mix times. Indexing broadcasts a single value.
class BatchValues {
 public:
  BatchValues(double v) : v_{v} {}  // NOLINT: a scalar is the common case
  BatchValues(std::initializer_list<double> v) : v_(v) { check(); }
  explicit BatchValues(std::vector<double> v) : v_(std::move(v)) { check(); }

  std::size_t size() const { return v_.size(); }
  bool is_uniform() const { return v_.size() == 1; }
  double operator[](std::size_t b) const { return v_.size() == 1 ? v_[0] : v_[b]; }
  std::span<const double> values() const { return v_; }

  /// The value shared by the whole batch; throws unless uniform.
  double uniform(const char* where) const {
    EPS_CHECK(is_uniform(), value_error, where, ": expected one value for the whole batch, got ", v_.size());
    return v_[0];
  }

  /// Elementwise f(v_b).
  template <class F>
  BatchValues map(F f) const {
    std::vector<double> r(v_.size());
    std::transform(v_.begin(), v_.end(), r.begin(), f);
    return BatchValues(std::move(r));
  }

  /// Elementwise f(a_b, b_b) with broadcasting of size-1 operands.
  template <class F>
  friend BatchValues zip(const BatchValues& a, const BatchValues& b, F f) {
    EPS_CHECK(a.size() == b.size() || a.size() == 1 || b.size() == 1, shape_error,
              "eps::BatchValues: cannot broadcast ", a.size(), " values against ", b.size());
    std::vector<double> r(std::max(a.size(), b.size()));
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = f(a[i], b[i]);
    return BatchValues(std::move(r));
  }

  bool any(auto pred) const { return std::any_of(v_.begin(), v_.end(), pred); }
  bool all(auto pred) const { return std::all_of(v_.begin(), v_.end(), pred); }

  /// Throws shape_error unless this broadcasts against a batch of `batch` samples.
  void check_batch(index_t batch, const char* where, const char* name) const {
    EPS_CHECK(v_.size() == 1 || static_cast<index_t>(v_.size()) == batch, shape_error, where, ": ", name, " has ",
              v_.size(), " values; expected 1 or the batch size ", batch);
  }

 private:
  void check() const { EPS_CHECK(!v_.empty(), shape_error, "eps::BatchValues: needs at least one value"); }
  std::vector<double> v_;
};

}  // namespace eps
