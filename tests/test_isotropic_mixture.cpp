// SPDX-License-Identifier: MIT
// eps/analytic/isotropic_mixture.hpp: the O(K d) closed forms against the general full-covariance ones
// (docs/math.md §6), exact posterior samples against their moments, EPS with the fast denoiser against the
// oracle sampler, and the terminal mismatch bound against quadrature.
#include "common.hpp"
#include "eps/analytic/isotropic_mixture.hpp"

using namespace eps;
using namespace eps::test;
using T = EigenF64::T;

namespace {
analytic::IsotropicMixture random_isotropic(Eigen::Index d, int K, std::mt19937_64& gen) {
  std::vector<double> w, c;
  std::uniform_real_distribution<double> u(0.2, 1.5);
  for (int k = 0; k < K; ++k) {
    w.push_back(u(gen));
    c.push_back(u(gen));
  }
  return analytic::IsotropicMixture(w, 1.5 * randn_mat(d, K, gen), c);
}

}  // namespace

TEST_CASE("isotropic mixture: fast closed forms equal the general full-covariance ones") {
  // Bound 1e-10 relative: both routes are exact; they differ by round-off of O(K d) vs O(d³) algebra.
  std::mt19937_64 gen(11);
  const ImageShape g{1, 2, 4};
  const Eigen::Index d = 8;
  const auto prior = random_isotropic(d, 4, gen);
  const auto general = prior.to_general();
  const Mat x = 2 * randn_mat(d, 3, gen), v = randn_mat(d, 3, gen);
  for (auto [al, sg] : {std::pair{0.9, 0.3}, {0.5, 1.2}, {1.0, 5.0}}) {
    CHECK(rel_error(prior.denoise_isotropic(x, al, sg), general.denoise_isotropic(x, al, sg)) <= 1e-10);
    CHECK(rel_error(prior.denoiser_vjp(x, al, sg, v), general.denoiser_vjp(x, al, sg, v)) <= 1e-10);
  }
  const std::vector<double> mask_values{1, 0, 1, 1, 0, 0, 1, 0};
  const Dense<T> dense(T{}, row_major(randn_mat(3, d, gen)), 3, g.shape());  // thin V
  const Mask<T> mask(T{}, mask_values, g.shape());
  const AvgPool<T> pool(T{}, g, 2);
  const auto check_op = [&](const auto& A) {
    CAPTURE(A.name());
    const Mat a = reference::to_dense(A, T{});
    const Mat y = a * randn_mat(a.cols(), 1, gen);  // in range(A): consistent also at σ_y = 0
    for (double sy : {0.0, 0.1, 1.0}) {
      CAPTURE(sy);
      const auto post = prior.posterior(a, y, sy);
      const auto gpost = general.posterior(a, y, sy);
      CHECK(rel_error(post.mean(), gpost.mean()) <= 1e-10);
      CHECK(rel_error(post.covariance(), gpost.covariance_of(0)) <= 1e-10);
      for (const AnySchedule& s : {make_schedule("linear"), make_schedule("ve_edm")})
        for (double t : {0.1, 0.5, 1.0}) {
          CAPTURE(s.name());
          CAPTURE(t);
          const Coefficients c = coefficients(s, t);
          const auto pv = pivot(s, A, x, y, t, sy);
          CHECK(rel_error(prior.denoise(pv), general.denoise(pv)) <= 1e-10);
          if (c.sigma > 0)
            CHECK(rel_error(post.score(x, c.alpha, c.sigma), general.posterior_score(x, c.alpha, c.sigma, a, y, sy)) <=
                  1e-10);
        }
    }
  };
  check_op(dense);
  check_op(mask);
  check_op(pool);
}

TEST_CASE("isotropic mixture: exact posterior samples have the closed-form moments") {
  // n = 100000 draws in d = 3. Mean entries have standard error √(Σ_ii/n); covariance entries
  // √((Σ_ii Σ_jj + Σ_ij²)/n); 6 standard errors each (false failure < 1e-6 overall). A wrong
  // covariance (the prior's, ignoring y) must be rejected.
  std::mt19937_64 gen(3);
  const auto prior = random_isotropic(3, 3, gen);
  const Mat a = randn_mat(2, 3, gen), y = randn_mat(2, 1, gen);
  const auto post = prior.posterior(a, y, 0.3);
  const Eigen::Index n = 100000;
  const Mat s = post.sample(n, gen);
  const Vec mean = s.rowwise().mean(), m = post.mean();
  const Mat cen = s.colwise() - mean;
  const Mat cov = cen * cen.transpose() / double(n - 1), S = post.covariance();
  for (int i = 0; i < 3; ++i) {
    CHECK(std::abs(mean(i) - m(i)) <= 6 * std::sqrt(S(i, i) / double(n)));
    for (int j = 0; j < 3; ++j)
      CHECK(std::abs(cov(i, j) - S(i, j)) <= 6 * std::sqrt((S(i, i) * S(j, j) + S(i, j) * S(i, j)) / double(n)));
  }
  Mat prior_cov = -prior.means() * Eigen::Map<const Vec>(prior.weights().data(), 3) *
                  (prior.means() * Eigen::Map<const Vec>(prior.weights().data(), 3)).transpose();
  for (Eigen::Index j = 0; j < 3; ++j)
    prior_cov += prior.weights()[static_cast<std::size_t>(j)] *
                 (prior.variances()[static_cast<std::size_t>(j)] * Mat::Identity(3, 3) +
                  prior.means().col(j) * prior.means().col(j).transpose());
  CHECK((cov - prior_cov).cwiseAbs().maxCoeff() > 0.1);
}

TEST_CASE("isotropic mixture: EPS with the fast denoiser equals the oracle sampler step for step") {
  // Oracle: x̂0 = (x + σ² ∇log p_t(x|y))/α with the direct posterior score. Bound 1e-9 on every state.
  std::mt19937_64 gen(21);
  const ImageShape g{1, 1, 20};
  const auto prior = random_isotropic(20, 5, gen);
  const Dense<T> A(T{}, row_major(randn_mat(2, 20, gen)), 2, g.shape());
  const Mat a = reference::to_dense(A, T{}), y = randn_mat(2, 1, gen);
  const double sy = 0.05;
  const VeEdm s;
  const auto post = prior.posterior(a, y, sy);
  auto eps_d = posterior_denoiser(s, A, y, sy, [&](const Pivot<Dense<T>>& pv) { return prior.denoise(pv); });
  auto oracle = [&](const Mat& x, double t) {
    const Coefficients c = coefficients(s, t);
    return Mat((x + c.sigma * c.sigma * post.score(x, c.alpha, c.sigma)) / c.alpha);
  };
  EdmOptions o;
  o.steps = 15;
  const Mat x0 = initial_noise(s, edm_grid(s, o).front(), T{}, 4, g.shape(), gen);
  std::vector<Mat> ta, tb;
  edm_sample(eps_d, s, x0, o, [&](const StepInfo<Mat>& i) { ta.push_back(*i.x); });
  edm_sample(oracle, s, x0, o, [&](const StepInfo<Mat>& i) { tb.push_back(*i.x); });
  REQUIRE(ta.size() == tb.size());
  for (std::size_t i = 0; i < ta.size(); ++i) CHECK(rel_error(ta[i], tb[i]) <= 1e-9);
}

TEST_CASE("analytic: the terminal mismatch bound of an isotropic mixture, and the noise level it selects") {
  // 1-D mixture of N(μ_k, c_k): KL(N(0, ς²) ‖ Σ w_k N(μ_k, c_k + ς²)) by quadrature (trapezoid on ±12 ς,
  // 20001 points) must not exceed terminal_kl (an upper bound by convexity); both fall as ς⁻² (the bound is
  // conservative by about E[μ²]/E[μ]², here 7.6: the selected ς_max errs on the safe side). One component:
  // the bound is the exact Gaussian KL.
  const std::vector<double> w{0.2, 0.5, 0.3}, c{1.0, 0.5, 2.0};
  Mat mu(1, 3);
  mu << -8.0, 0.0, 16.0;
  const eps::analytic::IsotropicMixture prior(w, mu, c);
  const auto kl_quadrature = [&](double r) {
    const int n = 20001;
    const double lo = -12 * r, hi = 12 * r, h = (hi - lo) / (n - 1);
    double kl = 0;
    for (int i = 0; i < n; ++i) {
      const double x = lo + i * h;
      const double q = std::exp(-x * x / (2 * r * r)) / std::sqrt(2 * M_PI * r * r);
      double p = 0;
      for (int k = 0; k < 3; ++k) {
        const double v = c[static_cast<std::size_t>(k)] + r * r, d = x - mu(0, k);
        p += prior.weights()[static_cast<std::size_t>(k)] * std::exp(-d * d / (2 * v)) / std::sqrt(2 * M_PI * v);
      }
      kl += (i == 0 || i == n - 1 ? 0.5 : 1.0) * h * q * std::log(q / p);
    }
    return kl;
  };
  for (double r : {5.0, 20.0, 80.0, 400.0}) {
    CAPTURE(r);
    const double bound = prior.terminal_kl(r), kl = kl_quadrature(r);
    CHECK(kl <= bound * (1 + 1e-9));
    if (r >= 80) CHECK(prior.terminal_kl(2 * r) / bound == doctest::Approx(0.25).epsilon(0.01));
  }
  const eps::analytic::IsotropicMixture one({1.0}, Mat::Constant(1, 1, 3.0), {2.0});
  const double r = 10, v = 2 + r * r;
  CHECK(one.terminal_kl(r) == doctest::Approx(0.5 * (r * r / v + 9.0 / v - 1 + std::log(v / (r * r)))).epsilon(1e-12));
  for (double nats : {1.0, 0.01, 1e-4}) {
    CAPTURE(nats);
    const double s = prior.terminal_noise_ratio(nats);
    CHECK(prior.terminal_kl(s) <= nats);
    CHECK(prior.terminal_kl(s / 1.002) > nats);  // the smallest such level, to the bisection's 0.1 %
  }
  CHECK_THROWS_AS(prior.terminal_noise_ratio(0.0), eps::value_error);
}
