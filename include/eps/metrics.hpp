// SPDX-License-Identifier: MIT
/// @file metrics.hpp
/// Distances between sample sets on the host: the 1-D Wasserstein distance between empirical
/// measures of any sizes (exact, through the quantile functions), the sliced Wasserstein distance
/// (average over random directions) and the max-sliced one (maximum over random directions, as in
/// the MCGdiff benchmark). Sample sets are sample-major (every sample contiguous): the layout of an
/// Eigen d × n matrix, a row-major n × d torch tensor and `eps::to_host` of any backend.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "eps/error.hpp"
#include "eps/shape.hpp"

namespace eps {

/// A set of `count` samples of dimension `dim`, sample-major.
struct SampleSet {
  std::span<const double> data;
  index_t dim = 0;
  index_t count = 0;

  double operator()(index_t sample, index_t coord) const {
    return data[static_cast<std::size_t>(sample * dim + coord)];
  }
  void validate(const char* where, const char* name) const {
    EPS_CHECK(dim > 0 && count > 0 && static_cast<index_t>(data.size()) == dim * count, shape_error, where, ": ", name,
              " has ", data.size(), " values for ", count, " samples of dimension ", dim);
  }
};

/// Options of the sliced distances.
struct SlicedOptions {
  int projections = 1000;  ///< number of random directions (uniform on the sphere)
  double p = 2.0;          ///< order of the Wasserstein distance
  std::uint64_t seed = 0;  ///< directions drawn from std::mt19937_64(seed)
};

/// wasserstein_1d for sets already sorted in non-decreasing order (no copy; for many distances to one set).
inline double wasserstein_1d_sorted(std::span<const double> x, std::span<const double> y, double p = 2.0) {
  EPS_CHECK(!x.empty() && !y.empty(), shape_error, "eps::wasserstein_1d: both sets must be non-empty");
  EPS_CHECK(p >= 1 && std::isfinite(p), value_error, "eps::wasserstein_1d: p must be >= 1, got ", p);
  const double n = double(x.size()), m = double(y.size());
  std::size_t i = 0, j = 0;
  double u = 0, acc = 0;
  while (i < x.size() && j < y.size()) {
    const double ui = (i + 1) / n, uj = (j + 1) / m;
    const double next = std::min(ui, uj);
    const double e = std::abs(x[i] - y[j]);
    acc += (next - u) * (p == 2.0 ? e * e : p == 1.0 ? e : std::pow(e, p));
    u = next;
    if (ui <= next) ++i;
    if (uj <= next) ++j;
  }
  return std::pow(acc, 1 / p);
}

/// W_p between the empirical measures of x (n points) and y (m points), uniform weights:
/// (∫₀¹ |F⁻¹(u) − G⁻¹(u)|^p du)^{1/p}, exact over the merged breakpoints {i/n} ∪ {j/m}.
inline double wasserstein_1d(std::vector<double> x, std::vector<double> y, double p = 2.0) {
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  return wasserstein_1d_sorted(x, y, p);
}

namespace detail {
/// Projections of both sets onto random unit directions; calls f(W_p^p of direction k).
template <class F>
void sliced(const SampleSet& x, const SampleSet& y, const SlicedOptions& o, const char* where, F f) {
  x.validate(where, "x");
  y.validate(where, "y");
  EPS_CHECK(x.dim == y.dim, shape_error, where, ": dimensions differ, ", x.dim, " and ", y.dim);
  EPS_CHECK(o.projections >= 1, value_error, where, ": projections must be >= 1, got ", o.projections);
  std::mt19937_64 gen(o.seed);
  std::normal_distribution<double> n01;
  std::vector<double> theta(static_cast<std::size_t>(x.dim)), px(static_cast<std::size_t>(x.count)),
      py(static_cast<std::size_t>(y.count));
  for (int k = 0; k < o.projections; ++k) {
    double norm = 0;
    for (double& t : theta) {
      t = n01(gen);
      norm += t * t;
    }
    norm = std::sqrt(norm);
    for (double& t : theta) t /= norm;
    const auto project = [&](const SampleSet& s, std::vector<double>& out) {
      for (index_t i = 0; i < s.count; ++i) {
        double v = 0;
        for (index_t c = 0; c < s.dim; ++c) v += theta[static_cast<std::size_t>(c)] * s(i, c);
        out[static_cast<std::size_t>(i)] = v;
      }
    };
    project(x, px);
    project(y, py);
    f(std::pow(wasserstein_1d(px, py, o.p), o.p));
  }
}
}  // namespace detail

/// Sliced Wasserstein distance SW_p = (E_θ W_p^p(θᵀx, θᵀy))^{1/p}, θ uniform on the sphere, estimated
/// with `projections` directions.
inline double sliced_wasserstein(const SampleSet& x, const SampleSet& y, const SlicedOptions& o = {}) {
  double acc = 0;
  detail::sliced(x, y, o, "eps::sliced_wasserstein", [&](double w) { acc += w; });
  return std::pow(acc / o.projections, 1 / o.p);
}

/// Max-sliced Wasserstein distance max_θ W_p(θᵀx, θᵀy) over `projections` random directions.
inline double max_sliced_wasserstein(const SampleSet& x, const SampleSet& y, const SlicedOptions& o = {}) {
  double best = 0;
  detail::sliced(x, y, o, "eps::max_sliced_wasserstein", [&](double w) { best = std::max(best, w); });
  return std::pow(best, 1 / o.p);
}

}  // namespace eps
