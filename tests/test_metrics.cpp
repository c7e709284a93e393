// SPDX-License-Identifier: MIT
// eps/metrics.hpp: the 1-D, sliced and max-sliced Wasserstein distances against hand values and the closed
// forms for Gaussians; PSNR, SSIM, CRPS and the Fréchet distance (eps/image_metrics.hpp) against hand values and closed
// forms.
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

TEST_CASE("image metrics: the Jacobi eigen-decomposition and the Frechet distance against closed forms") {
  std::mt19937_64 gen(5);
  std::normal_distribution<double> n01;
  const auto sz = [](index_t v) { return static_cast<std::size_t>(v); };
  // Q diag(λ) Qᵀ reproduces a random symmetric matrix and Q is orthogonal.
  const index_t n = 30;
  std::vector<double> a(sz(n * n));
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j <= i; ++j) a[sz(i * n + j)] = a[sz(j * n + i)] = n01(gen);
  const SymmetricEigen e = symmetric_eigen(a, n);
  double err = 0, orth = 0, norm = 0;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      double r = 0, o = 0;
      for (index_t k = 0; k < n; ++k) {
        r += e.vectors[sz(i * n + k)] * e.values[sz(k)] * e.vectors[sz(j * n + k)];
        o += e.vectors[sz(k * n + i)] * e.vectors[sz(k * n + j)];
      }
      err = std::max(err, std::abs(r - a[sz(i * n + j)]));
      orth = std::max(orth, std::abs(o - (i == j ? 1.0 : 0.0)));
      norm = std::max(norm, std::abs(a[sz(i * n + j)]));
    }
  CHECK(err <= 1e-12 * norm);
  CHECK(orth <= 1e-13);

  const auto stats = [](std::vector<double> mean, std::vector<double> cov) {
    const auto d = static_cast<index_t>(mean.size());
    return GaussianStats{std::move(mean), std::move(cov), d, 100};
  };
  // Commuting (diagonal) covariances: ‖Δμ‖² + Σ (√a_i − √b_i)².
  const GaussianStats d1 = stats({0, 1, 2}, {4, 0, 0, 0, 1, 0, 0, 0, 0.25});
  const GaussianStats d2 = stats({1, 1, 0}, {1, 0, 0, 0, 9, 0, 0, 0, 0.25});
  CHECK(frechet_distance(d1, d2) == doctest::Approx(5.0 + 1.0 + 4.0 + 0.0).epsilon(1e-13));
  // Non-commuting 2-D: tr (S Σ2 S)^{1/2} = √(tr(Σ1 Σ2) + 2 √(det Σ1 det Σ2)).
  const GaussianStats p = stats({0.3, -0.2}, {2.0, 0.7, 0.7, 1.0}), q = stats({-0.1, 0.4}, {0.5, -0.3, -0.3, 1.5});
  const double tr12 = 2.0 * 0.5 + 0.7 * -0.3 + 0.7 * -0.3 + 1.0 * 1.5;
  const double det = (2.0 * 1.0 - 0.49) * (0.5 * 1.5 - 0.09);
  const double closed = 0.16 + 0.36 + 3.0 + 2.0 - 2 * std::sqrt(tr12 + 2 * std::sqrt(det));
  CHECK(frechet_distance(p, q) == doctest::Approx(closed).epsilon(1e-13));
  CHECK(frechet_distance(q, p) == doctest::Approx(closed).epsilon(1e-13));
  // Rank-deficient: Σ1 = u uᵀ, Σ2 = I: S = u uᵀ/‖u‖, tr (S S)^{1/2} = ‖u‖, so FD = ‖u‖² + 3 − 2‖u‖.
  const std::vector<double> u{0.6, -1.2, 0.4};
  std::vector<double> uu(9);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 3; ++j) uu[i * 3 + j] = u[i] * u[j];
  const double u2 = 0.36 + 1.44 + 0.16;
  CHECK(frechet_distance(stats({0, 0, 0}, uu), stats({0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1})) ==
        doctest::Approx(u2 + 3 - 2 * std::sqrt(u2)).epsilon(1e-7));  // √ of round-off zeros: ~√ε
  // Statistics of a sample set: hand mean and unbiased covariance; a set against itself is at distance 0.
  const std::vector<double> pts{0, 0, 2, 0, 1, 3};  // three 2-D points
  const GaussianStats g = gaussian_stats(SampleSet{pts, 2, 3});
  CHECK(g.mean[0] == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(g.mean[1] == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(g.cov[0] == doctest::Approx(1.0).epsilon(1e-15));  // ((−1)² + 1² + 0²)/2
  CHECK(std::abs(g.cov[1]) <= 1e-15);                      // ((−1)(−1) + (1)(−1) + 0·2)/2 = 0
  CHECK(g.cov[3] == doctest::Approx(3.0).epsilon(1e-15));  // (1 + 1 + 4)/2
  std::vector<double> feats(sz(400 * 20));
  for (double& v : feats) v = n01(gen);
  const GaussianStats big = gaussian_stats(SampleSet{feats, 20, 400});
  CHECK(frechet_distance(big, big) <= 1e-9);
  CHECK_THROWS_AS(frechet_distance(big, g), shape_error);
  CHECK_THROWS_AS(gaussian_stats(SampleSet{std::span<const double>(pts).first(2), 2, 1}), value_error);
}
