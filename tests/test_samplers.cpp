// SPDX-License-Identifier: MIT
// eps/samplers.hpp: EPS with the exact toy denoiser against the oracle sampler (exact posterior score)
// step for step (docs/math.md §8.7); sampler outputs against closed-form Gaussian moments.
#include <algorithm>

#include "common.hpp"
#include "eps/analytic/gaussian_mixture.hpp"
#include "eps/samplers.hpp"

using namespace eps;
using namespace eps::test;
using T = EigenF64::T;

TEST_CASE("samplers: EPS with the exact anisotropic denoiser equals the oracle sampler step for step") {
  // The oracle sampler's denoiser is x̂0 = (x + σ² ∇log p_t(x | y))/α with the directly computed posterior
  // score of the mixture. Both runs share the initial state; every intermediate state must agree to 1e-9.
  std::mt19937_64 gen(5);
  const ImageShape g{1, 3, 3};
  const Eigen::Index d = 9;
  const analytic::GaussianMixture prior({0.3, 0.7}, {randn_mat(d, 1, gen), 2 * randn_mat(d, 1, gen)},
                                        {random_spd(d, gen), random_spd(d, gen)});
  const Dense<T> A(T{}, row_major(randn_mat(4, d, gen)), 4, g.shape());
  const Mat a = reference::to_dense(A, T{}), y = randn_mat(4, 1, gen);
  const double sy = 0.1;
  for (const AnySchedule& s : {make_schedule("ve_edm"), make_schedule("linear"), make_schedule("vp_cosine")}) {
    CAPTURE(s.name());
    auto eps_d = posterior_denoiser(s, A, Mat(y), sy, [&](const Pivot<Dense<T>>& pv) { return prior.denoise(pv); });
    auto oracle = [&](const Mat& x, double t) {
      const Coefficients c = coefficients(s, t);
      return Mat((x + c.sigma * c.sigma * prior.posterior_score(x, c.alpha, c.sigma, a, y, sy)) / c.alpha);
    };
    EdmOptions o;
    o.steps = 12;
    o.heun = true;
    const Mat x0 = initial_noise(s, edm_grid(s, o).front(), T{}, 5, g.shape(), gen);
    std::vector<Mat> ta, tb;
    const auto ra = edm_sample(eps_d, s, x0, o, [&](const StepInfo<Mat>& i) { ta.push_back(*i.x); });
    const auto rb = edm_sample(oracle, s, x0, o, [&](const StepInfo<Mat>& i) { tb.push_back(*i.x); });
    REQUIRE(ta.size() == 12);
    for (std::size_t i = 0; i < ta.size(); ++i) CHECK(rel_error(ta[i], tb[i]) <= 1e-9);
    CHECK(ra.nfe == 2 * 12 - 1);
    CHECK(rb.nfe == 23);
    // The probability-flow ODE in velocity form and DDIM, on the same grid, agree as well.
    const auto grid = edm_grid(s, o);
    std::vector<double> inner(grid.begin(), grid.end() - 1);  // stop at the last positive noise level
    CHECK(rel_error(ode_sample(eps_d, s, x0, inner, OdeMethod::heun).x,
                    ode_sample(oracle, s, x0, inner, OdeMethod::heun).x) <= 1e-9);
    std::mt19937_64 g1(9), g2(9);
    CHECK(rel_error(ddim_sample(eps_d, s, x0, grid, 0.5, g1).x, ddim_sample(oracle, s, x0, grid, 0.5, g2).x) <= 1e-9);
  }
}

TEST_CASE("samplers: outputs have the moments of the target (Gaussian prior, exact denoiser)") {
  // For a Gaussian prior N(μ, C) every sampler with enough steps draws from N(μ, C) (unconditional) and
  // EPS from N(m_y, C_y). n = 20000 samples: mean entries within 6√(V_ii/n) + the discretisation
  // allowance 0.02·√V_ii, covariance entries within 6√((V_ii V_jj + V_ij²)/n) + 0.03·√(V_ii V_jj).
  std::mt19937_64 gen(8);
  const Eigen::Index d = 3, n = 20000;
  const Vec mu = randn_mat(d, 1, gen);
  const Mat C = random_spd(d, gen);
  const auto prior = analytic::GaussianMixture::gaussian(mu, C);
  const auto check = [&](const std::string& what, const Mat& xs, const Vec& m, const Mat& V) {
    INFO(what);
    const Vec em = xs.rowwise().mean();
    const Mat cc = xs.colwise() - em;
    const Mat ev = cc * cc.transpose() / double(n - 1);
    for (Eigen::Index i = 0; i < d; ++i) {
      CHECK(std::abs(em(i) - m(i)) <= 6 * std::sqrt(V(i, i) / n) + 0.02 * std::sqrt(V(i, i)));
      for (Eigen::Index j = 0; j < d; ++j)
        CHECK(std::abs(ev(i, j) - V(i, j)) <=
              6 * std::sqrt((V(i, i) * V(j, j) + V(i, j) * V(i, j)) / n) + 0.03 * std::sqrt(V(i, i) * V(j, j)));
    }
  };
  const ImageShape g{1, 1, 3};
  for (const AnySchedule& s : {make_schedule("ve_edm"), make_schedule("vp_linear")}) {
    CAPTURE(s.name());
    auto uncond = [&](const Mat& x, double t) {
      const Coefficients c = coefficients(s, t);
      return prior.denoise_isotropic(x, c.alpha, c.sigma);
    };
    EdmOptions o;
    o.steps = 64;
    o.heun = true;
    const auto grid = edm_grid(s, o);
    // VE starts from σ_max ε (the prior's own scale is negligible at σ = 80); VP from α x0 + σ ε.
    const Coefficients c0 = coefficients(s, grid.front());
    const auto start = [&] { return Mat(c0.alpha * prior.sample(n, gen) + c0.sigma * randn_mat(d, n, gen)); };
    check("edm heun", edm_sample(uncond, s, start(), o).x, mu, C);
    // DDIM with η = 1 and Euler–Maruyama are first order in the step: EDM's spacing with 400 steps (the
    // clean end dropped where the schedule's t_min is the last noise level itself).
    EdmOptions fo;
    fo.steps = 400;
    std::vector<double> fine = edm_grid(s, fo);
    if (fine[fine.size() - 2] <= fine.back()) fine.pop_back();
    check("ddim eta=1", ddim_sample(uncond, s, start(), fine, 1.0, gen).x, mu, C);
    if (s.name() != "ve_edm") check("euler-maruyama", euler_maruyama_sample(uncond, s, start(), fine, gen).x, mu, C);
    // EPS posterior sampling: A a 2 × 3 dense matrix, σ_y = 0.2.
    const Dense<T> A(T{}, std::vector<double>{1, 0.5, 0, 0, 1, -1}, 2, g.shape());
    const Mat y = Vec{{0.3, -0.4}};
    const auto [my, Cy] = reference::gaussian_posterior(mu, C, reference::to_dense(A, T{}), y, 0.2);
    auto post = posterior_denoiser(s, A, y, 0.2, [&](const Pivot<Dense<T>>& pv) { return prior.denoise(pv); });
    check("eps edm heun", edm_sample(post, s, start(), o).x, my, Cy);
  }
}

TEST_CASE("samplers: callbacks, NFE, 1-NFE posterior mean and bad grids") {
  std::mt19937_64 gen(2);
  const auto prior = analytic::GaussianMixture::gaussian(Vec::Zero(2), Mat::Identity(2, 2));
  const VeEdm ve;
  auto den = [&](const Mat& x, double t) { return prior.denoise_isotropic(x, 1.0, ve.sigma(t)); };
  int calls = 0;
  EdmOptions o;
  o.steps = 7;
  const auto r = edm_sample(den, ve, randn_mat(2, 4, gen), o, [&](const StepInfo<Mat>& i) {
    CHECK(i.step == calls);
    CHECK(i.steps == 7);
    ++calls;
  });
  CHECK(calls == 7);
  CHECK(r.nfe == 7);
  // Obs. 4: at σ_max the posterior denoiser returns ≈ E[x0 | y] (exactly in the limit).
  const ImageShape g{1, 1, 2};
  const Mask<T> A(T{}, std::vector<double>{1, 0}, g.shape());
  const Mat y = Vec{{0.8, 0.0}};
  auto post = posterior_denoiser(ve, A, y, 0.1, [&](const Pivot<Mask<T>>& pv) { return prior.denoise(pv); });
  // The error is O(1/σ_max) in the null space (x_t/σ_max² · σ_max), so raising σ_max 10× divides it by ~10.
  const Vec exact = prior.posterior(reference::to_dense(A, T{}), y, 0.1).mean().col(0);
  const Mat xi = randn_mat(2, 3, gen);
  EdmOptions far;
  far.ratio_max = 800;
  const VeEdm ve800{0.002, 800};
  auto post800 = posterior_denoiser(ve800, A, y, 0.1, [&](const Pivot<Mask<T>>& pv) { return prior.denoise(pv); });
  const auto m1 = one_step_posterior_mean(post, ve, Mat(80 * xi));
  const auto m2 = one_step_posterior_mean(post800, ve800, Mat(800 * xi), far);
  CHECK(m1.nfe == 1);
  for (int b = 0; b < 3; ++b) {
    const double e1 = rel_error(Vec(m1.x.col(b)), exact), e2 = rel_error(Vec(m2.x.col(b)), exact);
    CHECK(e1 <= 3 * xi.col(b).norm() / 80);
    CHECK(e2 <= 0.15 * e1);
  }
  CHECK_THROWS_WITH_AS(ode_sample(den, ve, Mat(randn_mat(2, 1, gen)), {0.5, 0.7}),
                       doctest::Contains("strictly decreasing"), value_error);
  CHECK_THROWS_AS(ddim_sample(den, ve, Mat(randn_mat(2, 1, gen)), {0.5, 0.2}, 1.5, gen), value_error);
}
