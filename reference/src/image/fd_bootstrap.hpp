// SPDX-License-Identifier: MIT
// The evaluation's Fréchet distance with a bootstrap over images (docs/evaluation.md §3, "FD").
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "eps/error.hpp"
#include "eps/image_metrics.hpp"

namespace eps::cli {

/// FD² between a run's features and a fixed reference, on bootstrap replicates of the run's images.
///
/// The unit is the image, not the sample: an image's seeds share its measurement, so a replicate draws
/// `images` image indices with replacement and keeps every seed of each. The draws depend only on
/// (images, replicates, seed), so every run of an evaluation is resampled with the same draws: the
/// replicate-by-replicate difference of two runs' FD is paired over images, as the per-image PSNR
/// differences are, and its spread is the standard error of the FD difference.
///
/// The reference side is computed once (μ_r, tr Σ_r, Σ_r^{1/2}); each replicate needs the eigenvalues of
/// Σ_r^{1/2} Σ Σ_r^{1/2} only, which LAPACK's symmetric eigensolver gives in a few ms at 128 features
/// (eps::frechet_distance, the core's Jacobi, takes ~0.1 s). `distance` on the identity draw equals
/// eps::frechet_distance to round-off (tests/test_eval_metrics.cpp).
class FdBootstrap {
 public:
  /// `ref`: the reference statistics; `images` ≥ 1 images per run; `replicates` ≥ 0 draws from
  /// std::mt19937_64(seed).
  FdBootstrap(const GaussianStats& ref, std::int64_t images, int replicates, std::uint64_t seed)
      : images_(images), dim_(ref.dim) {
    EPS_CHECK(images >= 1 && replicates >= 0, value_error, "FdBootstrap: ", images, " images and ", replicates,
              " replicates (expected >= 1 and >= 0)");
    EPS_CHECK(ref.dim >= 1 && static_cast<std::int64_t>(ref.cov.size()) == ref.dim * ref.dim, shape_error,
              "FdBootstrap: reference statistics of dimension ", ref.dim, " with ", ref.cov.size(),
              " covariance entries");
    const auto f64 = at::TensorOptions().dtype(at::kDouble);
    mean_ = at::tensor(at::ArrayRef<double>(ref.mean), f64);
    const at::Tensor cov = at::tensor(at::ArrayRef<double>(ref.cov), f64).view({dim_, dim_});
    trace_ = cov.trace().item<double>();
    const auto [l, q] = at::linalg_eigh(cov);
    sqrt_cov_ = at::matmul(q * l.clamp_min(0).sqrt().unsqueeze(0), q.t());
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<std::int64_t> pick(0, images - 1);
    draws_ = at::empty({replicates, images}, at::TensorOptions().dtype(at::kLong));
    auto* d = draws_.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < draws_.numel(); ++i) d[i] = pick(gen);
  }

  /// FD² of the sample sets x [B, N, dim] (double) to the reference, one per set.
  at::Tensor distance(const at::Tensor& x) const {
    EPS_CHECK(x.dim() == 3 && x.size(2) == dim_ && x.size(1) >= 2, shape_error, "FdBootstrap::distance: sets of shape ",
              x.sizes(), " (expected [B, N >= 2, ", dim_, "])");
    const at::Tensor mu = x.mean(1);
    const at::Tensor c = x - mu.unsqueeze(1);
    const at::Tensor cov = at::matmul(c.transpose(1, 2), c) / double(x.size(1) - 1);
    const at::Tensor m = at::matmul(at::matmul(sqrt_cov_, cov), sqrt_cov_);
    const at::Tensor tr_sqrt = at::linalg_eigvalsh(m).clamp_min(0).sqrt().sum(-1);
    const at::Tensor d = (mu - mean_).pow(2).sum(-1) + cov.diagonal(0, 1, 2).sum(-1) + trace_ - 2 * tr_sqrt;
    return d.clamp_min(0);
  }

  /// FD² of every replicate of one run: `features` holds images × seeds samples of dimension dim,
  /// image-major (image i's seeds at rows i·seeds … i·seeds + seeds − 1). Empty without replicates or with
  /// one image.
  std::vector<double> replicates(std::span<const double> features, std::int64_t seeds) const {
    EPS_CHECK(seeds >= 1 && static_cast<std::int64_t>(features.size()) == images_ * seeds * dim_, shape_error,
              "FdBootstrap::replicates: ", features.size(), " feature values for ", images_, " images x ", seeds,
              " seeds x ", dim_, " features");
    std::vector<double> out;
    if (draws_.size(0) == 0 || images_ < 2) return out;  // one image: every draw is the same set
    const at::Tensor f = at::from_blob(const_cast<double*>(features.data()), {images_, seeds, dim_},
                                       at::TensorOptions().dtype(at::kDouble));
    constexpr std::int64_t chunk = 25;  // replicates per batched eigensolve: [25, 128, 128] and the gathered sets
    for (std::int64_t b0 = 0; b0 < draws_.size(0); b0 += chunk) {
      const at::Tensor idx = draws_.slice(0, b0, std::min(draws_.size(0), b0 + chunk));
      const at::Tensor sets = f.index_select(0, idx.reshape(-1)).view({idx.size(0), images_ * seeds, dim_});
      const at::Tensor d = distance(sets).contiguous();
      out.insert(out.end(), d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
    }
    return out;
  }

  /// The draws, [replicates, images] image indices.
  const at::Tensor& draws() const { return draws_; }

 private:
  std::int64_t images_, dim_;
  at::Tensor mean_, sqrt_cov_, draws_;
  double trace_ = 0;
};

/// The standard deviation of the replicates (the bootstrap standard error); NaN with fewer than two.
inline double bootstrap_se(const std::vector<double>& r) {
  if (r.size() < 2) return NAN;
  double m = 0, s = 0;
  for (double v : r) m += v / double(r.size());
  for (double v : r) s += (v - m) * (v - m);
  return std::sqrt(s / double(r.size() - 1));
}

}  // namespace eps::cli
