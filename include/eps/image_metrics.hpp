// SPDX-License-Identifier: MIT
/// @file image_metrics.hpp
/// Image-restoration metrics on the host (docs/api.md, "Metrics"): PSNR, SSIM with Wang et al.'s (2004)
/// Gaussian window and constants, and the continuous ranked probability score (CRPS) of a posterior
/// ensemble. Images are C×H×W, row-major, as `eps::to_host` of any backend gives them.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "eps/error.hpp"
#include "eps/metrics.hpp"
#include "eps/shape.hpp"

namespace eps {

/// PSNR = 10 log10(L² / MSE) in dB, L the data range (2 for images in [−1, 1]); +∞ for identical images.
inline double psnr(std::span<const double> x, std::span<const double> ref, double data_range = 2.0) {
  EPS_CHECK(!x.empty() && x.size() == ref.size(), shape_error, "eps::psnr: images of ", x.size(), " and ", ref.size(),
            " values");
  EPS_CHECK(data_range > 0 && std::isfinite(data_range), value_error, "eps::psnr: data_range must be > 0, got ",
            data_range);
  double se = 0;
  for (std::size_t i = 0; i < x.size(); ++i) se += (x[i] - ref[i]) * (x[i] - ref[i]);
  const double mse = se / double(x.size());
  return mse == 0 ? INFINITY : 10 * std::log10(data_range * data_range / mse);
}

/// SSIM's window and constants: a size × size Gaussian of standard deviation `sigma` (normalised to sum 1),
/// C1 = (k1 L)², C2 = (k2 L)², L the data range. Defaults: Wang et al. (11, 1.5, 0.01, 0.03), L = 2.
struct SsimOptions {
  index_t window = 11;
  double sigma = 1.5, k1 = 0.01, k2 = 0.03, data_range = 2.0;
};

/// Mean SSIM over channels and the window positions that fit inside the image ("valid"; no padding):
/// per position, with window-weighted means μ, variances σ² and covariance σ_xy,
///   SSIM = (2 μ_x μ_y + C1)(2 σ_xy + C2) / ((μ_x² + μ_y² + C1)(σ_x² + σ_y² + C2)).
inline double ssim(std::span<const double> x, std::span<const double> ref, const ImageShape& s,
                   const SsimOptions& o = {}) {
  constexpr const char* where = "eps::ssim";
  s.validate(where);
  EPS_CHECK(static_cast<index_t>(x.size()) == s.numel() && x.size() == ref.size(), shape_error, where, ": images of ",
            x.size(), " and ", ref.size(), " values for ", s.channels, "x", s.height, "x", s.width);
  EPS_CHECK(o.window >= 1 && o.window <= std::min(s.height, s.width), value_error, where, ": window ", o.window,
            " must lie in [1, ", std::min(s.height, s.width), "]");
  EPS_CHECK(o.sigma > 0 && o.data_range > 0 && o.k1 > 0 && o.k2 > 0, value_error, where,
            ": sigma, data_range, k1 and k2 must be > 0");
  const index_t w = o.window;
  std::vector<double> g(static_cast<std::size_t>(w * w));
  double gs = 0;
  const double c = (w - 1) / 2.0;
  for (index_t i = 0; i < w; ++i)
    for (index_t j = 0; j < w; ++j)
      gs += g[static_cast<std::size_t>(i * w + j)] =
          std::exp(-((i - c) * (i - c) + (j - c) * (j - c)) / (2 * o.sigma * o.sigma));
  for (double& v : g) v /= gs;
  const double c1 = (o.k1 * o.data_range) * (o.k1 * o.data_range), c2 = (o.k2 * o.data_range) * (o.k2 * o.data_range);
  double total = 0;
  index_t count = 0;
  for (index_t ch = 0; ch < s.channels; ++ch)
    for (index_t i0 = 0; i0 + w <= s.height; ++i0)
      for (index_t j0 = 0; j0 + w <= s.width; ++j0) {
        double mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
        for (index_t i = 0; i < w; ++i)
          for (index_t j = 0; j < w; ++j) {
            const double wt = g[static_cast<std::size_t>(i * w + j)];
            const auto k = static_cast<std::size_t>((ch * s.height + i0 + i) * s.width + j0 + j);
            mx += wt * x[k];
            my += wt * ref[k];
            xx += wt * x[k] * x[k];
            yy += wt * ref[k] * ref[k];
            xy += wt * x[k] * ref[k];
          }
        const double vx = xx - mx * mx, vy = yy - my * my, cxy = xy - mx * my;
        total += (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
        ++count;
      }
  return total / double(count);
}

/// The CRPS of an ensemble (the empirical distribution of its samples) against the truth, per coordinate,
/// averaged over coordinates: CRPS = E|X − y| − ½ E|X − X'| with X, X' independent draws of the ensemble,
/// which equals ∫ (F(z) − 1[z ≥ y])² dz for the ensemble's CDF F. Exact, O(n log n) per coordinate.
inline double crps(const SampleSet& samples, std::span<const double> truth) {
  samples.validate("eps::crps", "samples");
  EPS_CHECK(static_cast<index_t>(truth.size()) == samples.dim, shape_error, "eps::crps: the truth has ", truth.size(),
            " values, the samples ", samples.dim);
  const index_t n = samples.count;
  std::vector<double> v(static_cast<std::size_t>(n));
  double total = 0;
  for (index_t d = 0; d < samples.dim; ++d) {
    double e1 = 0;
    for (index_t k = 0; k < n; ++k) {
      v[static_cast<std::size_t>(k)] = samples(k, d);
      e1 += std::abs(samples(k, d) - truth[static_cast<std::size_t>(d)]);
    }
    std::sort(v.begin(), v.end());
    // Σ_{i,j} |v_i − v_j| = 2 Σ_i v_(i) (2i − n + 1) over the sorted values (0-based i).
    double pairs = 0;
    for (index_t i = 0; i < n; ++i) pairs += v[static_cast<std::size_t>(i)] * double(2 * i - n + 1);
    total += e1 / double(n) - pairs / (double(n) * double(n));
  }
  return total / double(samples.dim);
}

}  // namespace eps
