// SPDX-License-Identifier: MIT
// eps/metrics.hpp: the 1-D, sliced and max-sliced Wasserstein distances against hand values and the closed
// forms for Gaussians; PSNR, SSIM and CRPS (eps/image_metrics.hpp) against hand values and closed forms.
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "common.hpp"
#include "eps/image_metrics.hpp"
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

TEST_CASE("image metrics: PSNR, SSIM and CRPS against hand values and closed forms") {
  // PSNR: a constant offset of 0.1 on data of range 2: MSE 0.01, 10 log10(4/0.01) dB.
  std::vector<double> ref(2 * 12 * 13), x(ref.size());
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> u(-1, 1);
  for (double& v : ref) v = u(gen);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = ref[i] + 0.1;
  CHECK(psnr(x, ref) == doctest::Approx(10 * std::log10(400.0)).epsilon(1e-12));
  CHECK(std::isinf(psnr(ref, ref)));
  CHECK_THROWS_AS(psnr(std::span<const double>(x).first(3), ref), shape_error);

  // SSIM: identical images score 1; two constant 11 × 11 images (one window) score the luminance term
  // (2ab + C1)/(a² + b² + C1) exactly (no variance: the structure term is C2/C2).
  const ImageShape s{2, 12, 13};
  CHECK(ssim(ref, ref, s) == doctest::Approx(1.0).epsilon(1e-14));
  const ImageShape one{1, 11, 11};
  const std::vector<double> a(121, 0.3), b(121, -0.4);
  const double c1 = 0.02 * 0.02;
  CHECK(ssim(a, b, one) == doctest::Approx((2 * 0.3 * -0.4 + c1) / (0.09 + 0.16 + c1)).epsilon(1e-12));
  // A random 11 × 11 pair, one window: the weighted moments written out here with the window built
  // from its definition (exp(−r²/(2·1.5²)), normalised).
  std::vector<double> p(121), q(121), w(121);
  double ws = 0;
  for (int i = 0; i < 11; ++i)
    for (int j = 0; j < 11; ++j)
      ws += w[static_cast<std::size_t>(i * 11 + j)] = std::exp(-((i - 5) * (i - 5) + (j - 5) * (j - 5)) / 4.5);
  for (std::size_t k = 0; k < 121; ++k) {
    p[k] = u(gen);
    q[k] = 0.6 * p[k] + 0.3 * u(gen);
  }
  double mp = 0, mq = 0;
  for (std::size_t k = 0; k < 121; ++k) {
    mp += w[k] / ws * p[k];
    mq += w[k] / ws * q[k];
  }
  double vp = 0, vq = 0, cpq = 0;
  for (std::size_t k = 0; k < 121; ++k) {
    vp += w[k] / ws * (p[k] - mp) * (p[k] - mp);
    vq += w[k] / ws * (q[k] - mq) * (q[k] - mq);
    cpq += w[k] / ws * (p[k] - mp) * (q[k] - mq);
  }
  const double c2 = 0.06 * 0.06;
  const double expect = (2 * mp * mq + c1) * (2 * cpq + c2) / ((mp * mp + mq * mq + c1) * (vp + vq + c2));
  CHECK(ssim(p, q, one) == doctest::Approx(expect).epsilon(1e-12));
  CHECK(ssim(p, q, one) == doctest::Approx(ssim(q, p, one)).epsilon(1e-14));
  CHECK_THROWS_AS(ssim(p, q, ImageShape{1, 10, 12}), shape_error);

  // CRPS: the ensemble {0, 1} against 0.25 is ∫(F − 1[z ≥ 0.25])² = 0.25·0.25 + 0.75·0.25 = 0.25.
  const std::vector<double> two{0.0, 1.0}, y{0.25};
  CHECK(crps(SampleSet{two, 1, 2}, y) == doctest::Approx(0.25).epsilon(1e-15));
  // For N(μ, s²): CRPS = s [z (2Φ(z) − 1) + 2 φ(z) − 1/√π], z = (y − μ)/s; 40,000 quantile samples.
  const double m = 0.2, sd = 0.7, t = 1.1, z = (t - m) / sd;
  const double phi = std::exp(-z * z / 2) / std::sqrt(2 * std::numbers::pi), Phi = 0.5 * std::erfc(-z / std::sqrt(2.0));
  const double closed = sd * (z * (2 * Phi - 1) + 2 * phi - 1 / std::sqrt(std::numbers::pi));
  const std::vector<double> ens = quantile_sample(m, sd, 40000), truth{t};
  CHECK(crps(SampleSet{ens, 1, 40000}, truth) == doctest::Approx(closed).epsilon(1e-4));
  CHECK_THROWS_AS(crps(SampleSet{ens, 1, 40000}, std::vector<double>{1, 2}), shape_error);
}
