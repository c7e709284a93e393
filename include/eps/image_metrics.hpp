// SPDX-License-Identifier: MIT
/// @file image_metrics.hpp
/// Image-restoration metrics on the host (docs/api.md, "Metrics"): PSNR, SSIM with Wang et al.'s (2004)
/// Gaussian window and constants, and the continuous ranked probability score (CRPS) of a posterior
/// ensemble, and the Fréchet distance between the Gaussians fitted to two feature sets (the statistic of
/// FID, here on whatever features the caller computes). Images are C×H×W, row-major, as `eps::to_host` of
/// any backend gives them.
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

/// The eigen-decomposition A = Q diag(λ) Qᵀ of a symmetric n × n matrix (row-major), by cyclic Jacobi
/// rotations (Golub & Van Loan §8.5): accurate to a few ε‖A‖ in every eigenvalue, O(n³) per sweep; meant
/// for the feature covariances of the Fréchet distance (n ≲ 500). `vectors` holds Q row-major (column k
/// is the eigenvector of `values[k]`). Throws convergence_error if 100 sweeps do not converge.
struct SymmetricEigen {
  std::vector<double> values, vectors;
  index_t n = 0;
};
inline SymmetricEigen symmetric_eigen(std::vector<double> a, index_t n) {
  EPS_CHECK(n >= 1 && static_cast<index_t>(a.size()) == n * n, shape_error, "eps::symmetric_eigen: ", a.size(),
            " values for a ", n, "x", n, " matrix");
  const auto at = [n](index_t i, index_t j) { return static_cast<std::size_t>(i * n + j); };
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < i; ++j) {
      EPS_CHECK(std::isfinite(a[at(i, j)]) && std::isfinite(a[at(j, i)]), value_error,
                "eps::symmetric_eigen: the matrix has a non-finite entry at (", i, ", ", j, ")");
      a[at(i, j)] = a[at(j, i)] = 0.5 * (a[at(i, j)] + a[at(j, i)]);
    }
  std::vector<double> q(static_cast<std::size_t>(n * n), 0.0);
  for (index_t i = 0; i < n; ++i) q[at(i, i)] = 1;
  double total = 0;
  for (double v : a) total += v * v;
  for (int sweep = 0;; ++sweep) {
    double off = 0;
    for (index_t i = 0; i < n; ++i)
      for (index_t j = i + 1; j < n; ++j) off += 2 * a[at(i, j)] * a[at(i, j)];
    if (off <= 1e-30 * total || off == 0) break;
    EPS_CHECK(sweep < 100, convergence_error, "eps::symmetric_eigen: no convergence after 100 Jacobi sweeps");
    for (index_t p = 0; p < n; ++p)
      for (index_t r = p + 1; r < n; ++r) {
        const double apr = a[at(p, r)];
        if (apr == 0) continue;
        // The rotation that zeroes a_pr: tan θ = t, the smaller root of t² + 2θ t − 1 = 0.
        const double theta = (a[at(r, r)] - a[at(p, p)]) / (2 * apr);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (index_t k = 0; k < n; ++k) {  // columns p, r of A·J
          const double akp = a[at(k, p)], akr = a[at(k, r)];
          a[at(k, p)] = c * akp - s * akr;
          a[at(k, r)] = s * akp + c * akr;
        }
        for (index_t k = 0; k < n; ++k) {  // rows p, r of Jᵀ·(A·J)
          const double apk = a[at(p, k)], ark = a[at(r, k)];
          a[at(p, k)] = c * apk - s * ark;
          a[at(r, k)] = s * apk + c * ark;
        }
        a[at(p, r)] = a[at(r, p)] = 0;
        for (index_t k = 0; k < n; ++k) {
          const double qkp = q[at(k, p)], qkr = q[at(k, r)];
          q[at(k, p)] = c * qkp - s * qkr;
          q[at(k, r)] = s * qkp + c * qkr;
        }
      }
  }
  SymmetricEigen e{std::vector<double>(static_cast<std::size_t>(n)), std::move(q), n};
  for (index_t i = 0; i < n; ++i) e.values[static_cast<std::size_t>(i)] = a[at(i, i)];
  return e;
}

/// Mean and covariance of a feature set (the unbiased covariance, divisor count − 1; count ≥ 2).
struct GaussianStats {
  std::vector<double> mean, cov;  ///< dim, and dim × dim row-major
  index_t dim = 0, count = 0;
};
inline GaussianStats gaussian_stats(const SampleSet& x) {
  x.validate("eps::gaussian_stats", "features");
  EPS_CHECK(x.count >= 2, value_error, "eps::gaussian_stats: a covariance needs at least 2 samples, got ", x.count);
  const index_t d = x.dim;
  GaussianStats g{std::vector<double>(static_cast<std::size_t>(d), 0.0),
                  std::vector<double>(static_cast<std::size_t>(d * d), 0.0), d, x.count};
  for (index_t k = 0; k < x.count; ++k)
    for (index_t i = 0; i < d; ++i) g.mean[static_cast<std::size_t>(i)] += x(k, i) / double(x.count);
  std::vector<double> c(static_cast<std::size_t>(d));
  for (index_t k = 0; k < x.count; ++k) {
    for (index_t i = 0; i < d; ++i) c[static_cast<std::size_t>(i)] = x(k, i) - g.mean[static_cast<std::size_t>(i)];
    for (index_t i = 0; i < d; ++i)
      for (index_t j = i; j < d; ++j)
        g.cov[static_cast<std::size_t>(i * d + j)] += c[static_cast<std::size_t>(i)] * c[static_cast<std::size_t>(j)];
  }
  for (index_t i = 0; i < d; ++i)
    for (index_t j = i; j < d; ++j)
      g.cov[static_cast<std::size_t>(j * d + i)] = g.cov[static_cast<std::size_t>(i * d + j)] /= double(x.count - 1);
  return g;
}

/// The Fréchet (2-Wasserstein) distance² between N(μ1, Σ1) and N(μ2, Σ2):
///   ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2},
/// with both square roots taken of symmetric positive semi-definite matrices through symmetric_eigen
/// (round-off negative eigenvalues clipped to 0), so rank-deficient covariances (fewer samples than
/// features) are fine; there the square roots of round-off zeros limit the accuracy to ~√ε·tr Σ (~1e-8
/// relative), elsewhere it is a few ε. Symmetric in its arguments up to that accuracy. On classifier features this is
/// the FID statistic; the value is only comparable between runs that use the same features.
inline double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  EPS_CHECK(a.dim == b.dim && a.dim >= 1 && static_cast<index_t>(a.mean.size()) == a.dim &&
                static_cast<index_t>(b.mean.size()) == b.dim && static_cast<index_t>(a.cov.size()) == a.dim * a.dim &&
                static_cast<index_t>(b.cov.size()) == b.dim * b.dim,
            shape_error, "eps::frechet_distance: statistics of dimension ", a.dim, " and ", b.dim);
  const index_t n = a.dim;
  const auto sz = [](index_t v) { return static_cast<std::size_t>(v); };
  const SymmetricEigen ea = symmetric_eigen(a.cov, n);
  // S = Σ1^{1/2} = Q diag(√λ⁺) Qᵀ; M = S Σ2 S.
  std::vector<double> s(sz(n * n), 0.0), sb(sz(n * n), 0.0), m(sz(n * n), 0.0);
  for (index_t k = 0; k < n; ++k) {
    const double r = std::sqrt(std::max(0.0, ea.values[sz(k)]));
    if (r == 0) continue;
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < n; ++j) s[sz(i * n + j)] += r * ea.vectors[sz(i * n + k)] * ea.vectors[sz(j * n + k)];
  }
  for (index_t i = 0; i < n; ++i)
    for (index_t k = 0; k < n; ++k)
      for (index_t j = 0; j < n; ++j) sb[sz(i * n + j)] += s[sz(i * n + k)] * b.cov[sz(k * n + j)];
  for (index_t i = 0; i < n; ++i)
    for (index_t k = 0; k < n; ++k)
      for (index_t j = 0; j < n; ++j) m[sz(i * n + j)] += sb[sz(i * n + k)] * s[sz(k * n + j)];
  double trace_sqrt = 0;
  for (double l : symmetric_eigen(std::move(m), n).values) trace_sqrt += std::sqrt(std::max(0.0, l));
  double d = 0;
  for (index_t i = 0; i < n; ++i) {
    const double dm = a.mean[sz(i)] - b.mean[sz(i)];
    d += dm * dm + a.cov[sz(i * n + i)] + b.cov[sz(i * n + i)];
  }
  return std::max(0.0, d - 2 * trace_sqrt);
}

}  // namespace eps
