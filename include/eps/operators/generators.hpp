// SPDX-License-Identifier: MIT
/// @file operators/generators.hpp
/// Host-side generators for the task families of docs/math.md §9: blur kernels (Gaussian, motion, box) and
/// masks (random pixels, boxes, symmetric frequency sets). They return plain `std::vector<double>` in
/// row-major order, to be handed to the operators together with a `like` tensor of any backend.
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "eps/error.hpp"
#include "eps/shape.hpp"

namespace eps {

/// A 2-D convolution kernel, row-major, origin at ((height−1)/2, (width−1)/2).
struct Kernel {
  index_t height = 1, width = 1;
  std::vector<double> values = {1.0};

  double operator()(index_t i, index_t j) const { return values[static_cast<std::size_t>(i * width + j)]; }
  double sum() const {
    double s = 0;
    for (double v : values) s += v;
    return s;
  }
  void validate(const char* where) const {
    EPS_CHECK(height > 0 && width > 0 && static_cast<index_t>(values.size()) == height * width, shape_error, where,
              ": kernel of ", height, "x", width, " has ", values.size(), " values");
    for (double v : values) EPS_CHECK(std::isfinite(v), value_error, where, ": kernel values must be finite, got ", v);
  }
};

/// The kernel scaled to sum 1 (throws if its sum is 0).
inline Kernel normalized(Kernel k) {
  const double s = k.sum();
  EPS_CHECK(s != 0 && std::isfinite(s), value_error, "eps::normalized: kernel sums to ", s);
  for (double& v : k.values) v /= s;
  return k;
}

/// size × size sampled Gaussian exp(−r²/(2σ²)), normalised to sum 1 (docs/math.md §9: size 11, σ = 0.75 at 64×64).
inline Kernel gaussian_kernel(index_t size, double sigma) {
  EPS_CHECK(size >= 1, value_error, "eps::gaussian_kernel: size must be >= 1, got ", size);
  EPS_CHECK(sigma > 0 && std::isfinite(sigma), value_error, "eps::gaussian_kernel: sigma must be > 0, got ", sigma);
  Kernel k{size, size, std::vector<double>(static_cast<std::size_t>(size * size))};
  const double c = (size - 1) / 2.0;
  for (index_t i = 0; i < size; ++i)
    for (index_t j = 0; j < size; ++j)
      k.values[static_cast<std::size_t>(i * size + j)] =
          std::exp(-((i - c) * (i - c) + (j - c) * (j - c)) / (2 * sigma * sigma));
  return normalized(k);
}

/// size × size uniform kernel.
inline Kernel box_kernel(index_t size) {
  EPS_CHECK(size >= 1, value_error, "eps::box_kernel: size must be >= 1, got ", size);
  return normalized(Kernel{size, size, std::vector<double>(static_cast<std::size_t>(size * size), 1.0)});
}

/// Linear motion blur: a segment of `length` pixels through the centre at `angle_deg` (0° horizontal,
/// counter-clockwise), rasterised by bilinear splatting of 16·length points, in a size × size kernel
/// (size = length rounded up to odd by default), normalised to sum 1.
inline Kernel motion_kernel(double length, double angle_deg, index_t size = 0) {
  EPS_CHECK(length >= 1 && std::isfinite(length), value_error, "eps::motion_kernel: length must be >= 1, got ", length);
  EPS_CHECK(std::isfinite(angle_deg), value_error, "eps::motion_kernel: angle must be finite");
  if (size == 0) size = static_cast<index_t>(std::ceil(length)) | 1;
  EPS_CHECK(size >= 1, value_error, "eps::motion_kernel: size must be >= 1, got ", size);
  Kernel k{size, size, std::vector<double>(static_cast<std::size_t>(size * size), 0.0)};
  const double c = (size - 1) / 2.0, th = angle_deg * std::numbers::pi / 180;
  const int n = std::max(2, static_cast<int>(16 * length));
  for (int p = 0; p < n; ++p) {
    const double r = (p / (n - 1.0) - 0.5) * (length - 1);
    const double x = c + r * std::cos(th), y = c - r * std::sin(th);  // x: column, y: row
    const auto i0 = static_cast<index_t>(std::floor(y)), j0 = static_cast<index_t>(std::floor(x));
    const double fy = y - i0, fx = x - j0;
    for (int di = 0; di < 2; ++di)
      for (int dj = 0; dj < 2; ++dj) {
        const index_t i = i0 + di, j = j0 + dj;
        if (i < 0 || j < 0 || i >= size || j >= size) continue;
        k.values[static_cast<std::size_t>(i * size + j)] += (di ? fy : 1 - fy) * (dj ? fx : 1 - fx);
      }
  }
  return normalized(k);
}

/// Random pixel mask for a C×H×W sample: each pixel (all channels together) is missing with
/// probability `missing_fraction`; 1 = observed.
inline std::vector<double> random_mask(const ImageShape& s, double missing_fraction, std::mt19937_64& gen) {
  s.validate("eps::random_mask");
  EPS_CHECK(missing_fraction >= 0 && missing_fraction <= 1, value_error,
            "eps::random_mask: missing_fraction must lie in [0, 1], got ", missing_fraction);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> m(static_cast<std::size_t>(s.numel()));
  const index_t hw = s.height * s.width;
  for (index_t p = 0; p < hw; ++p) {
    const double keep = u(gen) >= missing_fraction ? 1.0 : 0.0;
    for (index_t c = 0; c < s.channels; ++c) m[static_cast<std::size_t>(c * hw + p)] = keep;
  }
  return m;
}

/// Box mask: the rectangle [top, top+h) × [left, left+w) is missing (0), the rest observed (1).
inline std::vector<double> box_mask(const ImageShape& s, index_t top, index_t left, index_t h, index_t w) {
  s.validate("eps::box_mask");
  EPS_CHECK(top >= 0 && left >= 0 && h >= 0 && w >= 0 && top + h <= s.height && left + w <= s.width, value_error,
            "eps::box_mask: box [", top, ",", top + h, ")x[", left, ",", left + w, ") does not fit in ", s.height, "x",
            s.width);
  std::vector<double> m(static_cast<std::size_t>(s.numel()), 1.0);
  for (index_t c = 0; c < s.channels; ++c)
    for (index_t i = top; i < top + h; ++i)
      for (index_t j = left; j < left + w; ++j) m[static_cast<std::size_t>((c * s.height + i) * s.width + j)] = 0.0;
  return m;
}

/// The centred box of half the height and width (the published setup's (docs/math.md §9) evaluation box).
inline std::vector<double> centered_box_mask(const ImageShape& s) {
  const index_t h = s.height / 2, w = s.width / 2;
  return box_mask(s, (s.height - h) / 2, (s.width - w) / 2, h, w);
}

/// the published setup's (docs/math.md §9) training boxes: sides ~ U[H/4, H/2] × U[W/4, W/2], placed uniformly with a
/// margin of H/16.
inline std::vector<double> random_box_mask(const ImageShape& s, std::mt19937_64& gen) {
  s.validate("eps::random_box_mask");
  auto uniform = [&](index_t lo, index_t hi) {
    return std::uniform_int_distribution<index_t>(lo, std::max(lo, hi))(gen);
  };
  const index_t h = uniform(std::max<index_t>(1, s.height / 4), s.height / 2);
  const index_t w = uniform(std::max<index_t>(1, s.width / 4), s.width / 2);
  const index_t mh = s.height / 16, mw = s.width / 16;
  const index_t top = uniform(mh, std::max(mh, s.height - mh - h)), left = uniform(mw, std::max(mw, s.width - mw - w));
  return box_mask(s, std::min(top, s.height - h), std::min(left, s.width - w), h, w);
}

/// A frequency selection for SubsampledHartley: each frequency pair {k, −k} (mod H, W) is kept with
/// probability `fraction`, the zero frequency always; the same set for every channel.
inline std::vector<double> symmetric_frequency_mask(const ImageShape& s, double fraction, std::mt19937_64& gen) {
  s.validate("eps::symmetric_frequency_mask");
  EPS_CHECK(fraction >= 0 && fraction <= 1, value_error,
            "eps::symmetric_frequency_mask: fraction must lie in [0, 1], got ", fraction);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const index_t H = s.height, W = s.width;
  std::vector<double> one(static_cast<std::size_t>(H * W), -1.0);
  for (index_t i = 0; i < H; ++i)
    for (index_t j = 0; j < W; ++j) {
      auto& v = one[static_cast<std::size_t>(i * W + j)];
      if (v >= 0) continue;
      v = (i == 0 && j == 0) || u(gen) < fraction ? 1.0 : 0.0;
      one[static_cast<std::size_t>(((H - i) % H) * W + (W - j) % W)] = v;
    }
  std::vector<double> m;
  for (index_t c = 0; c < s.channels; ++c) m.insert(m.end(), one.begin(), one.end());
  return m;
}

}  // namespace eps
