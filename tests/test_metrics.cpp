// SPDX-License-Identifier: MIT
// eps/metrics.hpp: the 1-D, sliced and max-sliced Wasserstein distances against hand values and the closed
// forms for Gaussians.
#include <cmath>
#include <random>
#include <vector>

#include "common.hpp"
#include "eps/metrics.hpp"

using namespace eps;
using namespace eps::test;

namespace {
/// Standard normal quantile by bisection on erfc (for deterministic "perfect" samples).
double normal_quantile(double p) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 80; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}
std::vector<double> quantile_sample(double m, double s, int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = m + s * normal_quantile((i + 0.5) / n);
  return v;
}
}  // namespace

TEST_CASE("metrics: 1-D Wasserstein against hand values and Gaussian closed forms") {
  // Unequal sizes: x = {0, 1}, y = {0, 0.5, 1}: F⁻¹ − G⁻¹ = 0 on [0,1/3), −0.5 on [1/3,1/2), 0.5 on [1/2,2/3), 0 after.
  CHECK(wasserstein_1d({0, 1}, {0, 0.5, 1}, 1) == doctest::Approx(1.0 / 6).epsilon(1e-14));
  CHECK(wasserstein_1d({0, 1}, {0, 0.5, 1}, 2) == doctest::Approx(std::sqrt(0.25 / 3)).epsilon(1e-14));
  CHECK(wasserstein_1d({3, 1, 2}, {2, 3, 1}) == 0.0);
  // W2(N(m1, s1²), N(m2, s2²)) = √((m1 − m2)² + (s1 − s2)²); W1 of a shift is the shift. Quantile samples
  // of size 20000 match the continuous quantile functions to ~1e-3 (the tails are truncated).
  const auto a = quantile_sample(0.3, 1.0, 20000), b = quantile_sample(-0.2, 1.7, 20000),
             c = quantile_sample(1.3, 1.0, 20000);
  CHECK(wasserstein_1d(a, b) == doctest::Approx(std::sqrt(0.25 + 0.49)).epsilon(2e-3));
  CHECK(wasserstein_1d(a, c, 1) == doctest::Approx(1.0).epsilon(1e-6));
  // Sliced W2 of two Gaussians N(0, I) and N(m, I) in d dimensions: W2 along θ is |θᵀm|, so
  // SW2² = E(θᵀm)² = ‖m‖²/d exactly; y is a shifted copy of x, so every projected W2 is exactly |θᵀm|
  // whatever the sample size, and 4000 directions give the average to a few percent.
  std::mt19937_64 gen(1);
  const Mat x = randn_mat(3, 500, gen);
  const Vec m = Vec{{1.0, -2.0, 0.5}};
  const Mat y = x.colwise() + m;
  const SampleSet sx{{x.data(), static_cast<std::size_t>(x.size())}, 3, 500},
      sy{{y.data(), static_cast<std::size_t>(y.size())}, 3, 500};
  CHECK(sliced_wasserstein(sx, sy, {4000, 2.0, 3}) == doctest::Approx(m.norm() / std::sqrt(3.0)).epsilon(0.03));
  CHECK(max_sliced_wasserstein(sx, sy, {4000, 2.0, 3}) == doctest::Approx(m.norm()).epsilon(0.01));
  CHECK(max_sliced_wasserstein(sx, sy, {100, 2.0, 3}) >= sliced_wasserstein(sx, sy, {100, 2.0, 3}));
  CHECK_THROWS_AS(sliced_wasserstein(sx, SampleSet{{x.data(), 6}, 2, 3}, {}), shape_error);
}
