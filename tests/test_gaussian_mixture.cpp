// SPDX-License-Identifier: MIT
// eps/analytic/gaussian_mixture.hpp (docs/math.md §6) against independent references: closed-form Gaussian
// conditioning, finite differences for the second-order Tweedie Jacobian, Monte Carlo moments of the exact samplers.
#include "common.hpp"
#include "eps/analytic/gaussian_mixture.hpp"

using namespace eps;
using namespace eps::test;
using analytic::GaussianMixture;

TEST_CASE("analytic: Gaussian conditioning against the closed forms") {
  std::mt19937_64 gen(1);
  const Eigen::Index d = 5;
  const Vec mu = randn_mat(d, 1, gen);
  const Mat C = random_spd(d, gen), Sig = random_spd(d, gen, 0.1);
  const auto g = GaussianMixture::gaussian(mu, C);
  const Mat z = randn_mat(d, 4, gen);
  // D(z, Σ) = μ + C (C + Σ)⁻¹ (z − μ)
  CHECK(rel_error(g.denoise(z, Sig), Mat((C * (C + Sig).inverse() * (z.colwise() - mu)).colwise() + mu)) <= 1e-12);
  const Mat A = randn_mat(3, d, gen);
  const Vec y = randn_mat(3, 1, gen);
  for (double sy : {0.0, 0.1}) {
    const auto post = g.posterior(A, y, sy);
    const auto [my, Cy] = reference::gaussian_posterior(mu, C, A, y, sy);
    CHECK(rel_error(Vec(post.mean().col(0)), my) <= 1e-10);
    CHECK(rel_error(post.covariance_of(0), Cy) <= 1e-10);
  }
}

TEST_CASE(
    "analytic: second-order Tweedie, Jacobian of E[x0|x_t] = (alpha/sigma^2) Cov[x0|x_t], against finite differences") {
  // Central differences with h = 1e-6 (a bound of 1e-5 relative is the finite-difference error).
  std::mt19937_64 gen(2);
  const Eigen::Index d = 6;
  std::vector<Vec> mu;
  std::vector<Mat> C;
  for (int k = 0; k < 3; ++k) {
    mu.push_back(3 * randn_mat(d, 1, gen));
    C.push_back(random_spd(d, gen, 0.1));
  }
  const GaussianMixture g({0.2, 0.5, 0.3}, mu, C);
  for (double t : {0.2, 0.5, 0.8}) {
    const double a = 1 - t, s = t;
    const Vec x = a * mu[1] + s * randn_mat(d, 1, gen);
    const Mat J = g.denoiser_jacobian(x, a, s);
    Mat fd(d, d);
    const double h = 1e-6;
    for (Eigen::Index j = 0; j < d; ++j) {
      Vec xp = x, xm = x;
      xp(j) += h;
      xm(j) -= h;
      fd.col(j) = (g.denoise_isotropic(xp, a, s) - g.denoise_isotropic(xm, a, s)) / (2 * h);
    }
    CHECK(rel_error(J, fd) <= 1e-6);
    CHECK(rel_error(J, Mat(J.transpose())) <= 1e-12);
    const Vec v = randn_mat(d, 1, gen);
    CHECK(rel_error(g.denoiser_vjp(x, a, s, v), Mat(J.transpose() * v)) <= 1e-12);
    // The unconditional score is the isotropic Tweedie formula, checked against a finite difference of log p_t.
    const auto logp = [&](const Vec& z) {
      double acc = 0;
      for (int k = 0; k < 3; ++k) {
        const Mat S = a * a * C[k] + s * s * Mat::Identity(d, d);
        const Vec r = z - a * mu[k];
        acc += g.weights()[k] * std::exp(-0.5 * r.dot(S.ldlt().solve(r))) / std::sqrt(S.determinant());
      }
      return std::log(acc);
    };
    Vec gl(d);
    for (Eigen::Index j = 0; j < d; ++j) {
      Vec xp = x, xm = x;
      xp(j) += h;
      xm(j) -= h;
      gl(j) = (logp(xp) - logp(xm)) / (2 * h);
    }
    CHECK(rel_error(Vec(g.score(x, a, s).col(0)), gl) <= 1e-6);
  }
}

TEST_CASE("analytic: exact prior and posterior samples have the closed-form moments") {
  // n = 100000 draws; each mean entry within 6 standard deviations √(V_ii/n), each covariance entry
  // within 6 √((V_ii V_jj + V_ij²)/n) (false failure < 1e-6 overall).
  std::mt19937_64 gen(3);
  const Eigen::Index d = 4, n = 100000;
  const GaussianMixture g({0.3, 0.7}, {randn_mat(d, 1, gen), randn_mat(d, 1, gen)},
                          {random_spd(d, gen), random_spd(d, gen)});
  const Mat A = randn_mat(2, d, gen);
  const Vec y = randn_mat(2, 1, gen);
  const auto post = g.posterior(A, y, 0.3);
  const auto check_moments = [&](const Mat& xs, const Vec& m, const Mat& V) {
    const Vec em = xs.rowwise().mean();
    const Mat c = xs.colwise() - em;
    const Mat ev = c * c.transpose() / double(n - 1);
    int bad = 0;
    for (Eigen::Index i = 0; i < d; ++i) {
      bad += std::abs(em(i) - m(i)) > 6 * std::sqrt(V(i, i) / n);
      for (Eigen::Index j = 0; j < d; ++j)
        bad += std::abs(ev(i, j) - V(i, j)) > 6 * std::sqrt((V(i, i) * V(j, j) + V(i, j) * V(i, j)) / n);
    }
    CHECK(bad == 0);
  };
  check_moments(post.sample(n, gen), post.mean().col(0), post.covariance_of(0));
  Vec pm = 0.3 * g.mean(0) + 0.7 * g.mean(1);
  Mat pc = Mat::Zero(d, d);
  for (int k = 0; k < 2; ++k) {
    const Vec dm = g.mean(static_cast<std::size_t>(k)) - pm;
    pc += g.weights()[static_cast<std::size_t>(k)] * (g.covariance(static_cast<std::size_t>(k)) + dm * dm.transpose());
  }
  check_moments(g.sample(n, gen), pm, pc);
}

TEST_CASE("analytic: far-apart components (log-sum-exp) and singular observations") {
  const Vec far = Vec::Constant(3, 1e3);
  const GaussianMixture g({0.5, 0.5}, {-far, far}, {Mat::Identity(3, 3), Mat::Identity(3, 3)});
  const Mat x = g.denoise_isotropic(Mat(far), 1.0, 0.5);
  CHECK(x.allFinite());
  CHECK(rel_error(Vec(x.col(0)), Vec(far)) <= 1e-12);  // responsibility 1 on the near component, E = far
  // σ_y = 0 with a rank-deficient A (a mask as a dense diagonal): the observation is restricted to range(A).
  Mat A = Mat::Zero(3, 3);
  A(0, 0) = A(2, 2) = 1;
  const Vec y{{2.0, 0.0, 2.0}};
  const auto post = g.posterior(A, y, 0.0);
  CHECK(post.mean()(0, 0) == doctest::Approx(2.0).epsilon(1e-10));
  CHECK(post.covariance_of(0)(0, 0) == doctest::Approx(0.0).scale(1));
  // A nonzero value in the zero row is impossible without noise: rejected (docs/conventions.md).
  CHECK_THROWS_AS(g.posterior(A, Vec(Vec::Constant(3, 2.0)), 0.0), eps::value_error);
}
