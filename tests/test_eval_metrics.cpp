// SPDX-License-Identifier: MIT
// The evaluation's FD bootstrap (reference/src/image/fd_bootstrap.hpp, docs/evaluation.md §3): its batched
// LAPACK distance equals the core's eps::frechet_distance (Jacobi) on the full set and on each replicate's
// explicitly gathered set (every seed of a drawn image kept together), the draws are the same for every run
// (so the difference of two runs pairs), its standard error matches the spread of FD over independent data
// sets, and bad shapes are named errors.
#include "torch_common.hpp"  // first: see there

#include <cmath>
#include <random>
#include <vector>

#include "fd_bootstrap.hpp"

using namespace eps;
using eps::cli::bootstrap_se;
using eps::cli::FdBootstrap;

namespace {

/// count × dim Gaussian features, coordinate i with mean shift[i] and standard deviation scale·(1 + i/dim).
std::vector<double> gaussian_features(std::int64_t count, std::int64_t dim, double shift, double scale,
                                      std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> n;
  std::vector<double> f(static_cast<std::size_t>(count * dim));
  for (std::int64_t k = 0; k < count; ++k)
    for (std::int64_t i = 0; i < dim; ++i)
      f[static_cast<std::size_t>(k * dim + i)] = shift * double(i % 3) + scale * (1 + double(i) / double(dim)) * n(g);
  return f;
}

double core_fd(const std::vector<double>& f, std::int64_t dim, const GaussianStats& ref) {
  return frechet_distance(gaussian_stats(SampleSet{f, dim, static_cast<std::int64_t>(f.size()) / dim}), ref);
}

}  // namespace

TEST_CASE("FD bootstrap: the batched distance and every replicate equal the core's FD on the gathered set") {
  const std::int64_t dim = 12, images = 30, seeds = 3;
  const std::vector<double> rf = gaussian_features(500, dim, 0.0, 1.0, 1);
  const GaussianStats ref = gaussian_stats(SampleSet{rf, dim, 500});
  const std::vector<double> f = gaussian_features(images * seeds, dim, 0.4, 1.3, 2);
  const FdBootstrap boot(ref, images, 7, 11);

  // The whole set: the identity draw.
  const at::Tensor whole = at::from_blob(const_cast<double*>(f.data()), {1, images * seeds, dim}, at::kDouble);
  const double want = core_fd(f, dim, ref);
  CHECK(want > 1.0);
  CHECK(boot.distance(whole).item<double>() == doctest::Approx(want).epsilon(1e-10));

  // Each replicate: images drawn with replacement, each with all its seeds, gathered by hand.
  const std::vector<double> reps = boot.replicates(f, seeds);
  REQUIRE(reps.size() == 7);
  const at::Tensor draws = boot.draws();
  REQUIRE(draws.sizes() == at::IntArrayRef{7, images});
  for (std::int64_t b = 0; b < 7; ++b) {
    std::vector<double> set;
    for (std::int64_t i = 0; i < images; ++i) {
      const std::int64_t img = draws[b][i].item<std::int64_t>();
      REQUIRE(img >= 0);
      REQUIRE(img < images);
      set.insert(set.end(), f.begin() + img * seeds * dim, f.begin() + (img + 1) * seeds * dim);
    }
    CHECK(reps[static_cast<std::size_t>(b)] == doctest::Approx(core_fd(set, dim, ref)).epsilon(1e-10));
  }
  // Resampling with replacement: some replicate repeats an image (P(no repeat in 30 draws of 30) ≈ 1e-12).
  CHECK(std::get<0>(at::_unique(draws[0])).numel() < images);
}

TEST_CASE("FD bootstrap: the draws depend on the images and the seed only, so runs pair") {
  const std::int64_t dim = 6, images = 20;
  const std::vector<double> rf = gaussian_features(200, dim, 0.0, 1.0, 3);
  const GaussianStats ref = gaussian_stats(SampleSet{rf, dim, 200});
  const std::vector<double> rf2 = gaussian_features(300, dim, 0.2, 0.7, 4);
  const FdBootstrap a(ref, images, 50, 5), b(gaussian_stats(SampleSet{rf2, dim, 300}), images, 50, 5),
      c(ref, images, 50, 6);
  CHECK(at::equal(a.draws(), b.draws()));  // another reference, the same draws
  CHECK(!at::equal(a.draws(), c.draws()));
  // A run against a slightly moved copy of itself: the replicate differences spread far less than either
  // run's replicates (the pairing the paired FD table of eval_table.py relies on).
  const std::vector<double> x = gaussian_features(images * 2, dim, 0.5, 1.0, 7);
  std::vector<double> y = x;
  for (double& v : y) v *= 1.05;
  const std::vector<double> rx = a.replicates(x, 2), ry = a.replicates(y, 2);
  std::vector<double> d(rx.size());
  for (std::size_t i = 0; i < rx.size(); ++i) d[i] = ry[i] - rx[i];
  CHECK(bootstrap_se(d) < 0.25 * bootstrap_se(rx));  // measured: 0.07 ×
  CHECK(bootstrap_se(rx) > 0);
}

TEST_CASE("FD bootstrap: its standard error matches the spread of FD over independent data sets") {
  const std::int64_t dim = 4, images = 100;
  const std::vector<double> rf = gaussian_features(5000, dim, 0.0, 1.0, 8);
  const GaussianStats ref = gaussian_stats(SampleSet{rf, dim, 5000});
  // The sampling distribution of FD for sets of 100 images from a shifted, wider Gaussian.
  std::vector<double> fds;
  for (std::uint64_t s = 0; s < 300; ++s)
    fds.push_back(core_fd(gaussian_features(images, dim, 0.3, 1.2, 100 + s), dim, ref));
  const double truth = bootstrap_se(fds);  // the standard deviation over the 300 independent sets
  // The bootstrap's estimate from single sets, averaged over a few of them.
  const FdBootstrap boot(ref, images, 400, 9);
  double est = 0;
  for (std::uint64_t s = 0; s < 5; ++s)
    est += bootstrap_se(boot.replicates(gaussian_features(images, dim, 0.3, 1.2, 900 + s), 1)) / 5;
  CHECK(est > 0.8 * truth);
  CHECK(est < 1.6 * truth);  // measured: 1.23 × (the bootstrap is a little conservative for FD)
}

TEST_CASE("FD bootstrap: bad input is a named error; one image or no replicates gives no standard error") {
  const std::vector<double> rf = gaussian_features(50, 3, 0.0, 1.0, 10);
  const GaussianStats ref = gaussian_stats(SampleSet{rf, 3, 50});
  CHECK_THROWS_AS(FdBootstrap(ref, 0, 10, 1), value_error);
  CHECK_THROWS_AS(FdBootstrap(ref, 5, -1, 1), value_error);
  const FdBootstrap boot(ref, 5, 10, 1);
  const std::vector<double> f = gaussian_features(10, 3, 0.0, 1.0, 11);
  CHECK_THROWS_WITH_AS(boot.replicates(f, 3), doctest::Contains("30 feature values for 5 images x 3 seeds"),
                       shape_error);  // 10 samples, not 5 × 3
  CHECK_THROWS_AS(boot.distance(at::zeros({2, 4, 5}, at::kDouble)), shape_error);
  CHECK(boot.replicates(f, 2).size() == 10);
  CHECK(FdBootstrap(ref, 1, 10, 1).replicates(std::vector<double>(f.begin(), f.begin() + 6), 2).empty());
  CHECK(FdBootstrap(ref, 5, 0, 1).replicates(f, 2).empty());
  CHECK(std::isnan(bootstrap_se({})));
  CHECK(std::isnan(bootstrap_se({1.0})));
  CHECK(bootstrap_se({1.0, 3.0}) == doctest::Approx(std::sqrt(2.0)));
}
