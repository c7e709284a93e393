// SPDX-License-Identifier: MIT
// The pivot itself (docs/math.md §8.3, §3, §8.5): the spectral form against the dense precision form and
// against an independent SVD of the dense matrix; conjugate gradients against the spectral solve; the
// edge-case table of §3; the covariance as an operator; docs/math.md §4.1, Eq. 14 and App. A.6.
#include "common.hpp"
#include "eps/analytic/gaussian_mixture.hpp"

using namespace eps;
using namespace eps::test;
using T = EigenF64::T;

namespace {
/// The dense Σ of a covariance operator, column by column.
template <class Cov>
Mat dense_cov(const Cov& cov, Eigen::Index d) {
  return cov.apply(Mat::Identity(d, d));
}
}  // namespace

TEST_CASE("pivot: spectral form equals the dense precision form (sigma_y >= 0.1) and the SVD form (all sigma_y)") {
  // Bound 1e-9 relative for σ_y ≥ 0.1 against P⁻¹b (we see ≤ 8e-11; the precision form is the
  // ill-conditioned side); 1e-10 against the SVD form for every σ_y, α > 0.
  std::mt19937_64 gen(99);
  double worst_p = 0, worst_s = 0;
  for_each_operator<T>([&](const auto& A) {
    const Mat a = reference::to_dense(A, T{});
    const Eigen::Index d = a.cols();
    for (const AnySchedule& sched : all_schedules())
      for (double sy : {0.0, 1e-3, 0.1, 1.0})
        for (double t : {0.05, 0.3, 0.7, 0.95}) {
          CAPTURE(A.name());
          CAPTURE(sched.name());
          CAPTURE(sy);
          CAPTURE(t);
          const Coefficients c = coefficients(sched, t);
          // Noise-free data must lie in range(A) (docs/conventions.md); noisy data is any y.
          const Vec x_t = randn_mat(d, 1, gen),
                    y = sy == 0 ? Vec(a * randn_mat(d, 1, gen)) : Vec(randn_mat(a.rows(), 1, gen));
          const auto pv = pivot(A, Mat(x_t), Mat(y), NoiseLevels{c.alpha, c.sigma, sy});
          const Vec xt = pv.x_tilde().col(0), z = pv.mu_star().col(0);
          const Mat st = dense_cov(pv.covariance(), d), ss = dense_cov(pv.covariance_x0(), d);
          const auto svd = reference::svd_form(a, x_t, y, c.alpha, c.sigma, sy);
          const double es = std::max({rel_error(xt, svd.x_tilde), rel_error(st, svd.sigma_tilde), rel_error(z, svd.z)});
          CHECK(es <= 1e-10);
          worst_s = std::max(worst_s, es);
          if (sy >= 0.1) {
            const auto p = reference::precision_form(a, x_t, y, c.alpha, c.sigma, sy);
            const double ep = std::max(
                {rel_error(z, p.z), rel_error(ss, p.sigma), rel_error(xt, p.x_tilde), rel_error(st, p.sigma_tilde)});
            CHECK(ep <= 1e-9);
            worst_p = std::max(worst_p, ep);
          }
        }
  });
  MESSAGE("worst relative error against the precision form " << worst_p << ", against the SVD form " << worst_s);
}

TEST_CASE("pivot: conjugate gradients match the spectral solve, edge cases included") {
  // docs/math.md §8.5: the matrix-free path (CG on the interpolant-space system, started at x_t) against
  // the spectral path, for every spectral operator, σ_y ∈ {0, 1e-3, 0.1, 1}, and the limits α = 0
  // (linear, t = 1) and σ = 0 (linear, t = 0). Bound 1e-8 relative on x̃ and on Σ̃ v.
  std::mt19937_64 gen(5);
  const Linear lin;
  for_each_operator<T>([&](const auto& A) {
    if constexpr (SpectralOperator<std::decay_t<decltype(A)>>) {
      const auto mf = matrix_free(A);
      const index_t d = numel(Shape(A.in_shape()));
      for (double sy : {0.0, 1e-3, 0.1, 1.0})
        for (double t : {0.0, 0.2, 0.8, 1.0}) {
          CAPTURE(A.name());
          CAPTURE(sy);
          CAPTURE(t);
          const Coefficients c = coefficients(lin, t);
          const NoiseLevels lv{c.alpha, c.sigma, sy};
          const T x_t = randn(T{}, 2, A.in_shape(), gen), y = randn(T{}, 2, A.out_shape(), gen);
          const auto ps = pivot(A, x_t, y, lv);
          const auto pc = pivot(mf, x_t, y, lv);
          CHECK(rel_error(pc.x_tilde(), ps.x_tilde()) <= 1e-8);
          const T v = randn(T{}, 1, A.in_shape(), gen);
          CHECK(rel_error(pc.covariance().apply(v), ps.covariance().apply(v)) <= 1e-8);
          if (d <= 48) CHECK(rel_error(pc.covariance().diagonal(), ps.covariance().diagonal()) <= 1e-8);
          if (c.alpha > 0) CHECK(rel_error(pc.mu_star(), ps.mu_star()) <= 1e-8);
        }
    }
  });
}

TEST_CASE("pivot: the edge-case table of docs/math.md section 3, coefficient by coefficient") {
  // A mask is its own SVD (U = V = I, s = m), so every coefficient of the table can be read off directly.
  const ImageShape g{1, 2, 3};
  const std::vector<double> m{1, 0, 1, 1, 0, 1};
  Mask<T> A(T{}, m, g.shape());
  std::mt19937_64 gen(1);
  const T x_t = randn(T{}, 1, g.shape(), gen), y = mul(randn(T{}, 1, g.shape(), gen), A.mask());
  const double sg = 0.7, al = 0.6;
  const auto all_finite_pivot = [&](const auto& pv) {
    CHECK(pv.x_tilde().allFinite());
    CHECK(pv.covariance().diagonal().allFinite());
  };
  SUBCASE("sigma_y = 0, s > 0: Sigma = 0, z = y/s; null space: z = x_t/alpha, Sigma = sigma^2/alpha^2") {
    const auto pv = pivot(A, x_t, y, NoiseLevels{al, sg, 0.0});
    all_finite_pivot(pv);
    const T z = pv.mu_star(), dg = pv.covariance_x0().diagonal();
    for (int i = 0; i < 6; ++i) {
      if (m[i] == 1) {
        CHECK(z(i, 0) == doctest::Approx(y(i, 0)).epsilon(1e-15));
        CHECK(dg(i, 0) == 0.0);
      } else {
        CHECK(z(i, 0) == doctest::Approx(x_t(i, 0) / al).epsilon(1e-15));
        CHECK(dg(i, 0) == doctest::Approx(sg * sg / (al * al)).epsilon(1e-15));
      }
    }
  }
  SUBCASE(
      "alpha = 0: s > 0 gives z = y/s, Sigma = sigma_y^2/s^2, x~ = 0, Sigma~ = 0; s = 0 gives x~ = x_t, Sigma~ = "
      "sigma^2") {
    const double sy = 0.3;
    const auto pv = pivot(A, x_t, y, NoiseLevels{0.0, sg, sy});
    all_finite_pivot(pv);
    const T xt = pv.x_tilde(), dt = pv.covariance().diagonal(), z = pv.mu_star();
    const T ds = pv.covariance_x0().diagonal();
    for (int i = 0; i < 6; ++i) {
      if (m[i] == 1) {
        CHECK(xt(i, 0) == 0.0);
        CHECK(dt(i, 0) == 0.0);
        CHECK(z(i, 0) == doctest::Approx(y(i, 0)).epsilon(1e-15));
        CHECK(ds(i, 0) == doctest::Approx(sy * sy).epsilon(1e-15));
      } else {
        CHECK(xt(i, 0) == x_t(i, 0));
        CHECK(dt(i, 0) == doctest::Approx(sg * sg).epsilon(1e-15));
        CHECK(z(i, 0) == 0.0);        // no information: set to 0 by convention
        CHECK(std::isinf(ds(i, 0)));  // and flagged by an infinite variance
      }
    }
  }
  SUBCASE("sigma = 0 (with and without sigma_y): Sigma = 0, z = x_t/alpha") {
    for (double sy : {0.0, 0.2}) {
      const auto pv = pivot(A, x_t, y, NoiseLevels{al, 0.0, sy});
      all_finite_pivot(pv);
      CHECK(rel_error(pv.mu_star(), T(x_t / al)) <= 1e-15);
      CHECK(pv.covariance_x0().diagonal().cwiseAbs().maxCoeff() == 0.0);
      CHECK(pv.covariance().diagonal().cwiseAbs().maxCoeff() == 0.0);
    }
  }
  SUBCASE("the Fourier and dense operators give finite pivots at every corner, with the same limits") {
    for_each_operator<T>([&](const auto& B) {
      CAPTURE(B.name());
      const T xb = randn(T{}, 1, B.in_shape(), gen), yb = B.apply(randn(T{}, 1, B.in_shape(), gen));  // in range(B)
      for (auto [a, s, sy] :
           {std::tuple{0.0, 1.0, 0.0}, {0.0, 1.0, 0.5}, {1.0, 0.0, 0.0}, {1.0, 0.0, 0.5}, {0.5, 1.0, 0.0}}) {
        const auto pv = pivot(B, xb, yb, NoiseLevels{a, s, sy});
        CHECK(pv.x_tilde().allFinite());
        CHECK(pv.covariance().apply(xb).allFinite());
        if (a > 0) CHECK(pv.mu_star().allFinite());
        if (a == 0) CHECK(rel_error(pv.x_tilde(), null_project(B, xb)) <= 1e-10);  // x̃ = P_N x_t
        if (a == 0) CHECK(rel_error(pv.mu_star(), pinv_apply(B, yb)) <= 1e-10);    // z = A†y
        if (s == 0) CHECK(rel_error(pv.x_tilde(), xb) <= 1e-12);                   // x̃ = x_t
      }
    });
  }
}

TEST_CASE("pivot: the covariance operator (apply, square root, diagonal, noise map)") {
  std::mt19937_64 gen(8);
  for_each_operator<T>([&](const auto& A) {
    using Op = std::decay_t<decltype(A)>;
    CAPTURE(A.name());
    const index_t d = numel(Shape(A.in_shape()));
    const T x_t = randn(T{}, 1, A.in_shape(), gen), y = randn(T{}, 1, A.out_shape(), gen);
    const double sg = 0.8;
    const auto pv = pivot(A, x_t, y, NoiseLevels{0.6, sg, 0.05});
    const Mat S = dense_cov(pv.covariance(), d);
    CHECK(rel_error(S, Mat(S.transpose())) <= 1e-10);
    const Eigen::SelfAdjointEigenSolver<Mat> es(0.5 * (S + S.transpose()));
    CHECK(es.eigenvalues().minCoeff() >= -1e-12);                 // Σ̃ ⪰ 0
    CHECK(es.eigenvalues().maxCoeff() <= sg * sg * (1 + 1e-12));  // Σ̃ ⪯ σ² I (E3)
    CHECK(rel_error(Vec(pv.covariance().diagonal().col(0)), Vec(S.diagonal())) <= 1e-8);
    const Mat nm = pv.noise_map();
    CHECK(nm.maxCoeff() <= 1 + 1e-12);
    CHECK(rel_error(Vec(nm.col(0)), Vec(S.diagonal().cwiseSqrt() / sg)) <= 1e-8);
    if constexpr (SpectralOperator<Op>) {
      const Mat R = pv.covariance().apply_sqrt(Mat::Identity(d, d));
      CHECK(rel_error(Mat(R * R), S) <= 1e-10);
      CHECK(rel_error(R, Mat(R.transpose())) <= 1e-10);
    }
  });
}

TEST_CASE("pivot: high-noise limit (docs/math.md §4.1), guidance gap (Eq. 14), equivalent time (App. A.6)") {
  std::mt19937_64 gen(13);
  SUBCASE("mu* -> A^dagger y + P_N x_t as sigma -> infinity (EDM, alpha = 1)") {
    for_each_operator<T>([&](const auto& A) {
      CAPTURE(A.name());
      const Mat a = reference::to_dense(A, T{});
      const T x_t = randn(T{}, 1, A.in_shape(), gen), y = randn(T{}, 1, A.out_shape(), gen);
      const T lim = high_noise_limit(A, x_t, y);
      const Mat pa = reference::pinv(a, 1e-9);
      const Vec ref = pa * y + (Mat::Identity(a.cols(), a.cols()) - pa * a) * x_t;
      CHECK(rel_error(Vec(lim.col(0)), ref) <= 1e-8);
      // μ*(σ) − limit = O(σ_y²/σ²) in the measured directions: check the rate, not just the value.
      const double e1 = rel_error(pivot(A, x_t, y, NoiseLevels{1.0, 1e2, 0.1}).mu_star(), lim);
      const double e2 = rel_error(pivot(A, x_t, y, NoiseLevels{1.0, 1e3, 0.1}).mu_star(), lim);
      CHECK(e1 <= 1e-3);
      if (e1 > 1e-12) CHECK(e2 <= e1 / 50);
    });
  }
  SUBCASE("the guidance gap is the likelihood score: posterior score minus prior score") {
    const ImageShape g{1, 3, 3};
    Dense<T> A(T{}, row_major(randn_mat(4, 9, gen)), 4, g.shape());
    const auto prior = analytic::GaussianMixture({0.4, 0.6}, {randn_mat(9, 1, gen), randn_mat(9, 1, gen)},
                                                 {random_spd(9, gen), random_spd(9, gen)});
    const Mat x_t = randn_mat(9, 3, gen), y = randn_mat(4, 1, gen);
    const NoiseLevels lv{0.8, 0.6, 0.2};
    const auto pv = pivot(A, x_t, y, lv);
    const Mat gap = guidance_gap(prior.denoise(pv), prior.denoise_isotropic(x_t, 0.8, 0.6), lv);
    const Mat ref =
        prior.posterior_score(x_t, 0.8, 0.6, reference::to_dense(A, T{}), y, 0.2) - prior.score(x_t, 0.8, 0.6);
    CHECK(rel_error(gap, ref) <= 1e-9);
  }
  SUBCASE("A^T A = gamma^2 I: the isotropic denoiser at t* is the posterior denoiser") {
    const ImageShape g{1, 2, 4};
    const Identity<T> I(T{}, g.shape());
    CHECK(gram_scale(I) == 1.0);
    CHECK_THROWS_AS(gram_scale(Mask<T>(T{}, std::vector<double>{1, 0, 1, 1, 1, 1, 1, 1}, g.shape())), domain_error);
    const auto prior = analytic::GaussianMixture({0.5, 0.5}, {randn_mat(8, 1, gen), randn_mat(8, 1, gen)},
                                                 {random_spd(8, gen), random_spd(8, gen)});
    for (const AnySchedule& s : {make_schedule("linear"), make_schedule("vp_cosine"), make_schedule("ve_edm")}) {
      CAPTURE(s.name());
      const double t = 0.6, sy = 0.3;
      const Coefficients c = coefficients(s, t);
      const Mat x_t = randn_mat(8, 2, gen), y = randn_mat(8, 1, gen);
      const auto pv = pivot(I, x_t, y, NoiseLevels{c.alpha, c.sigma, sy});
      const double ts = equivalent_time(s, t, sy, gram_scale(I));
      const Coefficients cs = coefficients(s, ts);
      CHECK(cs.sigma * cs.sigma / (cs.alpha * cs.alpha) ==
            doctest::Approx(equivalent_sigma2(c.alpha, c.sigma, sy, 1.0)).epsilon(1e-10));
      const Mat iso = prior.denoise_isotropic(cs.alpha * pv.mu_star(), cs.alpha, cs.sigma);
      CHECK(rel_error(iso, prior.denoise(pv)) <= 1e-8);
    }
  }
}
