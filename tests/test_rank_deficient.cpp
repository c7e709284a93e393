// SPDX-License-Identifier: MIT
// Rank-deficient measurements (docs/conventions.md, "Numerical rank" and "Noise-free measurements"):
// duplicated rows, a zero row, nearly dependent rows below and above round-off, a product of thin factors
// and a pooled mask (a composition, solved by conjugate gradients), at σ_y ∈ {0, 1e-3, 0.05}. The pivot,
// Σ*, A†, P_N, the posterior mean and score are checked against dense oracles on the reduced problem
// (U_rᵀ A, U_rᵀ y), whose rank is decided by an independent Jacobi SVD; the pivot route and the direct
// mixture routes must agree; noise-free data outside range(A) is rejected.
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "eps/analytic/gaussian_mixture.hpp"
#include "eps/analytic/isotropic_mixture.hpp"

using namespace eps;
using namespace eps::test;
using T = EigenF64::T;
using doctest::Contains;

namespace {

/// U diag(s) Vᵀ with random orthonormal U (m × m) and V (d × m).
Mat with_singular_values(const Vec& s, Eigen::Index d, std::mt19937_64& gen) {
  const Eigen::Index m = s.size();
  const Mat U = Eigen::HouseholderQR<Mat>(randn_mat(m, m, gen)).householderQ() * Mat::Identity(m, m);
  const Mat V = Eigen::HouseholderQR<Mat>(randn_mat(d, d, gen)).householderQ() * Mat::Identity(d, m);
  return U * s.asDiagonal() * V.transpose();
}

using MatL = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;
using VecL = Eigen::Matrix<long double, Eigen::Dynamic, 1>;

/// The oracle, in extended precision (long double, ε = 1.1e-19) on the float64 inputs, so that the
/// comparison measures the library's own error. The reduced problem: U_r spans range(A) (Jacobi SVD, rank
/// cut 1e-12·s_max: every case below has a gap of at least 1e6 around it), A_r = U_rᵀ A has full row
/// rank r, with its own SVD A_r = P diag(s) Wᵀ (W: d × r).
struct Oracle {
  MatL Ur, W, P;
  VecL s;
  Eigen::Index rank() const { return s.size(); }
  double kappa() const { return double(s(0) / s(s.size() - 1)); }

  explicit Oracle(const Mat& a) {
    const MatL al = a.cast<long double>();
    const Eigen::JacobiSVD<MatL> svd(al, Eigen::ComputeFullU);
    const VecL& sv = svd.singularValues();
    Eigen::Index r = 0;
    while (r < sv.size() && sv(r) > 1e-12L * sv(0)) ++r;
    Ur = svd.matrixU().leftCols(r);
    const Eigen::JacobiSVD<MatL> red(MatL(Ur.transpose() * al), Eigen::ComputeThinU | Eigen::ComputeThinV);
    P = red.matrixU();
    W = red.matrixV();
    s = red.singularValues();
  }
  /// (μ*, Σ*) by the spectral form of docs/math.md §3 on A_r (null space: x_t/α, σ²/α²).
  std::pair<VecL, MatL> pivot(const Vec& x_t, const Vec& y, long double a, long double sg, long double sy) const {
    const VecL xl = x_t.cast<long double>(), cy = P.transpose() * (Ur.transpose() * y.cast<long double>());
    const VecL cx = W.transpose() * xl;
    const Eigen::Index d = W.rows();
    VecL z = (xl - W * cx) / a;  // null space
    MatL S = (sg * sg / (a * a)) * (MatL::Identity(d, d) - W * W.transpose());
    for (Eigen::Index i = 0; i < rank(); ++i) {
      const long double den = a * a * sy * sy + s(i) * s(i) * sg * sg;
      z += W.col(i) * ((a * sy * sy * cx(i) + s(i) * sg * sg * cy(i)) / den);
      S += W.col(i) * W.col(i).transpose() * (sg * sg * sy * sy / den);
    }
    return {z, S};
  }
  VecL pinv(const Vec& y) const {
    return W * (s.cwiseInverse().asDiagonal() * (P.transpose() * (Ur.transpose() * y.cast<long double>())));
  }
  VecL null_project(const Vec& x) const {
    const VecL xl = x.cast<long double>();
    return xl - W * (W.transpose() * xl);
  }
  /// The direct posterior score of a Gaussian prior N(μ, C) (docs/math.md §6), on the reduced problem:
  /// m_y, C_y from G = A_r C A_rᵀ + σ_y² I, then −(α² C_y + σ² I)⁻¹ (x_t − α m_y).
  VecL direct_score(const Vec& mu, const Mat& C, const Vec& x_t, const Vec& y, long double a, long double sg,
                    long double sy) const {
    const MatL Cl = C.cast<long double>(), Ar = P * s.asDiagonal() * W.transpose();
    const VecL ml = mu.cast<long double>(), yr = Ur.transpose() * y.cast<long double>();
    const MatL G = Ar * Cl * Ar.transpose() + sy * sy * MatL::Identity(rank(), rank());
    const Eigen::LLT<MatL> g(G);
    const MatL K = Cl * Ar.transpose();
    const VecL my = ml + K * g.solve(VecL(yr - Ar * ml));
    const MatL Cy = Cl - K * g.solve(MatL(K.transpose()));
    const Eigen::Index d = C.rows();
    return -MatL(a * a * Cy + sg * sg * MatL::Identity(d, d)).llt().solve(VecL(x_t.cast<long double>() - a * my));
  }
};

/// ‖x − ref‖/‖ref‖ with x in float64 and ref in extended precision.
template <class X, class R>
double rel_error_l(const X& x, const R& ref) {
  const MatL r = ref;
  const long double n = r.norm();
  return double((MatL(x.template cast<long double>()) - r).norm() / (n > 0 ? n : 1.0L));
}

/// Checks every posterior quantity of one operator against the extended-precision oracle. Bound 1e-10
/// relative, or 50 κ ε where the reduced problem's condition number κ = s_max/s_min exceeds 1e4 (the 1e-6
/// case: κ = 1e6, bound 1.1e-8): A† and the split between range and null space are that sensitive to the
/// rounding of A's and y's float64 entries, whatever the algorithm (every other case has κ < 1e2).
template <class Op>
void check_against_reduced(const Op& A, Eigen::Index expected_rank, std::mt19937_64& gen, double& worst) {
  const Mat a = reference::to_dense(A, T{});
  const Eigen::Index d = a.cols();
  const Oracle ref(a);
  REQUIRE(ref.rank() == expected_rank);
  if constexpr (SpectralOperator<Op>) CHECK(numerical_rank(A) == expected_rank);
  const double bound = ref.kappa() > 1e4 ? 50 * ref.kappa() * std::numeric_limits<double>::epsilon() : 1e-10;
  const Vec mu = randn_mat(d, 1, gen);
  const Mat C = random_spd(d, gen);
  const auto prior = analytic::GaussianMixture::gaussian(mu, C);
  for (double sy : {0.0, 1e-3, 0.05})
    for (const AnySchedule& s : {make_schedule("linear"), make_schedule("ve_edm"), make_schedule("vp_cosine")})
      for (double t : {0.3, 0.7}) {
        CAPTURE(A.name());
        CAPTURE(sy);
        CAPTURE(s.name());
        CAPTURE(t);
        const Coefficients c = coefficients(s, t);
        const Vec x0 = prior.sample(1, gen).col(0);
        const Vec y = a * x0 + sy * randn_mat(a.rows(), 1, gen);
        const Vec x_t = c.alpha * x0 + c.sigma * randn_mat(d, 1, gen);
        const auto [z, sigma_star] = ref.pivot(x_t, y, c.alpha, c.sigma, sy);
        // E[x0 | x_t, y] = D_{Σ*}(μ*) = μ + C (C + Σ*)⁻¹ (μ* − μ), and the score (E1), from the oracle pivot.
        const MatL Cl = C.cast<long double>();
        const VecL mean_ref =
            mu.cast<long double>() + Cl * MatL(Cl + sigma_star).llt().solve(VecL(z - mu.cast<long double>()));
        const VecL score_ref = (static_cast<long double>(c.alpha) * mean_ref - x_t.cast<long double>()) /
                               static_cast<long double>(c.sigma * c.sigma);
        const VecL direct_ref = ref.direct_score(mu, C, x_t, y, c.alpha, c.sigma, sy);

        const auto pv = pivot(s, A, Mat(x_t), Mat(y), t, sy);
        const Mat ss = pv.covariance_x0().apply(Mat::Identity(d, d));
        const Mat mean = prior.denoise(pv);
        const Mat score = posterior_score(mean, Mat(x_t), pv.levels());
        const Mat direct = prior.posterior_score(Mat(x_t), c.alpha, c.sigma, a, Mat(y), sy);
        const std::vector<std::pair<const char*, double>> errors{
            {"mu*", rel_error_l(pv.mu_star(), z)},
            {"Sigma*", rel_error_l(ss, sigma_star)},
            {"A^+ y", rel_error_l(pinv_apply(A, Mat(y)), ref.pinv(y))},
            {"P_N x", rel_error_l(null_project(A, Mat(x_t)), ref.null_project(x_t))},
            {"E[x0|x_t,y]", rel_error_l(mean, mean_ref)},
            {"score", rel_error_l(score, score_ref)},
            {"direct score", rel_error_l(direct, score_ref)},
            {"oracle routes", rel_error_l(MatL(direct_ref).cast<double>(), score_ref)}};
        double e = 0;
        std::ostringstream all;
        for (const auto& [name, v] : errors) {
          e = std::max(e, v);
          all << name << " " << v << "; ";
        }
        INFO("relative errors: ", all.str());
        CHECK(e <= bound);
        worst = std::max(worst, e);
      }
}

}  // namespace

TEST_CASE(
    "rank-deficient operators: pivot, covariance, pseudo-inverse, posterior mean and score against the reduced "
    "problem") {
  std::mt19937_64 gen(2026);
  const Eigen::Index d = 6;
  const ImageShape g{1, 2, 3};
  const Mat R = randn_mat(3, d, gen);
  Mat dup(4, d), zero_row(4, d);
  dup << R, R.row(1);
  zero_row << R, Mat::Zero(1, d);
  Vec below(4), above(4);
  below << 1.0, 0.7, 0.5, 1e-18;  // below round-off: must count as 0
  above << 1.0, 0.7, 0.5, 1e-6;   // far above round-off: must stay measured
  const Mat near_below = with_singular_values(below, d, gen), near_above = with_singular_values(above, d, gen);
  const Mat thin = randn_mat(5, 2, gen) * randn_mat(2, d, gen);  // rank 2 as a product of thin factors
  double worst = 0;
  const auto dense = [&](const Mat& m) { return Dense<T>(T{}, row_major(m), m.rows(), g.shape()); };
  check_against_reduced(dense(dup), 3, gen, worst);
  check_against_reduced(dense(zero_row), 3, gen, worst);
  check_against_reduced(dense(near_below), 3, gen, worst);
  check_against_reduced(dense(near_above), 4, gen, worst);
  check_against_reduced(dense(thin), 2, gen, worst);
  // A pooled mask: 2×2 average pooling after a mask that hides one whole block (a zero row of A) and part
  // of another; conjugate gradients on the singular system.
  const ImageShape gp{1, 4, 4};
  const std::vector<double> m{0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1};
  check_against_reduced(compose(AvgPool<T>(T{}, gp, 2), Mask<T>(T{}, m, gp.shape())), 3, gen, worst);
  MESSAGE("worst relative error " << worst);
}

TEST_CASE("rank decision: the default cut, the rcond option, and the rank exposed by the operators") {
  std::mt19937_64 gen(3);
  const ImageShape g{1, 2, 3};
  Vec s(4);
  s << 2.0, 1.0, 1e-6, 1e-18;
  const Mat a = with_singular_values(s, 6, gen);
  const Dense<T> A(T{}, row_major(a), 4, g.shape());
  CHECK(A.rank() == 3);
  CHECK(A.rcond() == doctest::Approx(6 * std::numeric_limits<double>::epsilon()));
  const Vec sv = A.singular_values();
  CHECK(sv(3) == 0.0);
  CHECK(sv(2) == doctest::Approx(1e-6).epsilon(1e-8));
  const Dense<T> coarse(T{}, row_major(a), 4, g.shape(), 1e-5);
  CHECK(coarse.rank() == 2);
  CHECK(numerical_rank(coarse) == 2);
  CHECK_THROWS_WITH_AS(Dense<T>(T{}, row_major(a), 4, g.shape(), std::nan("")),
                       Contains("eps::Dense: rcond must be finite"), value_error);
  // A zero operator has rank 0: every direction is null space, and only y = 0 is consistent noise-free.
  const Dense<T> zero(T{}, std::vector<double>(12, 0.0), 2, g.shape());
  CHECK(zero.rank() == 0);
  const Mat x = randn_mat(6, 1, gen);
  const auto pv = pivot(zero, x, Mat(Mat::Zero(2, 1)), NoiseLevels{0.8, 0.6, 0.0});
  CHECK(rel_error(pv.x_tilde(), x) <= 1e-15);
  CHECK_THROWS_AS(pivot(zero, x, Mat(Mat::Ones(2, 1)), NoiseLevels{0.8, 0.6, 0.0}), value_error);
  // A 40 × 40 matrix of rank 20 with exactly zero singular values (a subsampled Hartley transform): Eigen
  // 3.4.0's BDCSVD returns NaN on it, the backends fall back to the Jacobi SVD. The dense operator then has
  // the Hartley operator's rank and pivot.
  {
    const ImageShape gh{2, 4, 5};
    std::mt19937_64 g7(7);
    const SubsampledHartley<T> sh(T{}, gh, symmetric_frequency_mask(gh, 0.5, g7), true, 7);
    const Mat h = reference::to_dense(sh, T{});
    const Dense<T> dh(T{}, row_major(h), h.rows(), gh.shape());
    CHECK(dh.rank() == numerical_rank(sh));
    const Mat xh = randn_mat(40, 2, gen), yh = h * randn_mat(40, 1, gen);
    for (double sy : {0.0, 0.1})
      CHECK(rel_error(pivot(dh, xh, yh, NoiseLevels{0.6, 0.8, sy}).x_tilde(),
                      pivot(sh, xh, yh, NoiseLevels{0.6, 0.8, sy}).x_tilde()) <= 1e-12);
  }
  // Blur: a kernel whose transfer function vanishes at some frequencies ([1, 1]/2 kills the Nyquist column).
  const ImageShape gb{1, 4, 4};
  const Blur<T> box(T{}, gb, Kernel{1, 2, {0.5, 0.5}});
  CHECK(box.rank() == 12);
  CHECK(numerical_rank(box) == 12);
}

TEST_CASE("rank-deficient operators: the pivot route and the direct mixture routes agree") {
  // Mixtures whose components differ in scale by 100 (covariance scales 0.1, 1, 10), noise-free and noisy:
  // full random covariances (GaussianMixture) and isotropic ones (IsotropicMixture), each against itself.
  std::mt19937_64 gen(8);
  const Eigen::Index d = 5;
  const ImageShape g{1, 1, 5};
  const Mat R = randn_mat(2, d, gen);
  Mat dup(3, d);
  dup << R, R.row(0);
  std::vector<double> w{0.2, 0.5, 0.3}, scales{0.1, 1.0, 10.0};
  std::vector<Vec> means;
  std::vector<Mat> covs;
  for (double sc : scales) {
    means.push_back(2 * randn_mat(d, 1, gen));
    covs.push_back(sc * random_spd(d, gen));
  }
  const analytic::GaussianMixture full(w, means, covs);
  Mat iso_means(d, 3);
  for (int k = 0; k < 3; ++k) iso_means.col(k) = means[static_cast<std::size_t>(k)];
  const analytic::IsotropicMixture iso(w, iso_means, scales);
  const Dense<T> A(T{}, row_major(dup), 3, g.shape());
  double worst = 0;
  for (double sy : {0.0, 1e-3, 0.05})
    for (double t : {0.2, 0.5, 0.9}) {
      CAPTURE(sy);
      CAPTURE(t);
      const Linear s;
      const Coefficients c = coefficients(s, t);
      const Vec x0 = full.sample(1, gen).col(0);
      const Vec y = dup * x0 + sy * randn_mat(3, 1, gen);
      const Mat x_t = c.alpha * x0.replicate(1, 2) + c.sigma * randn_mat(d, 2, gen);
      const auto pv = pivot(s, A, x_t, Mat(y), t, sy);
      const Mat via_pivot = posterior_score(full.denoise(pv), x_t, pv.levels());
      const Mat direct = full.posterior_score(x_t, c.alpha, c.sigma, dup, Mat(y), sy);
      const Mat iso_pivot = posterior_score(iso.denoise(pv), x_t, pv.levels());
      const Mat iso_direct = iso.posterior(dup, Mat(y), sy).score(x_t, c.alpha, c.sigma);
      const double e = std::max(rel_error(via_pivot, direct), rel_error(iso_pivot, iso_direct));
      CHECK(e <= 1e-10);
      worst = std::max(worst, e);
    }
  MESSAGE("worst relative difference " << worst);
}

TEST_CASE("noise-free data outside the range of A is rejected; the padding of masks is not data") {
  std::mt19937_64 gen(4);
  const ImageShape g{1, 2, 3};
  const Mat R = randn_mat(2, 6, gen);
  Mat dup(3, 6);
  dup << R, R.row(0);
  const Dense<T> A(T{}, row_major(dup), 3, g.shape());
  const Mat x = randn_mat(6, 2, gen);
  Mat y = dup * randn_mat(6, 2, gen);
  CHECK_NOTHROW(pivot(A, x, y, NoiseLevels{0.7, 0.7, 0.0}));
  y(2, 1) += 1e-3;  // the duplicated measurements of sample 1 disagree
  CHECK_THROWS_WITH_AS(pivot(A, x, y, NoiseLevels{0.7, 0.7, 0.0}),
                       Contains("eps::pivot: sigma_y = 0 but y (sample 1) is not in the range of dense"), value_error);
  CHECK_NOTHROW(pivot(A, x, y, NoiseLevels{0.7, 0.7, 1e-3}));                    // noisy: any y is possible
  CHECK_NOTHROW(pivot(A, x, y, NoiseLevels{0.7, 0.7, BatchValues{0.0, 1e-3}}));  // only sample 0 is noise-free
  PivotOptions off;
  off.check_range = false;
  CHECK_NOTHROW(pivot(A, x, y, NoiseLevels{0.7, 0.7, 0.0}, off));
  CHECK_THROWS_WITH_AS(check_measurement(A, y, 0.0), Contains("eps::check_measurement: sigma_y = 0 but y (sample 1)"),
                       value_error);
  CHECK_THROWS_AS(posterior_denoiser(Linear{}, A, Mat(y.col(1)), 0.0, [](const auto& p) { return p.mu_star(); }),
                  value_error);
  // The direct routes agree on it.
  const auto gm = analytic::GaussianMixture::gaussian(Vec::Zero(6), Mat::Identity(6, 6));
  CHECK_THROWS_WITH_AS(gm.posterior(dup, Mat(y.col(1)), 0.0), Contains("is not in the range of A"), value_error);
  const analytic::IsotropicMixture im({1.0}, Mat::Zero(6, 1), {1.0});
  CHECK_THROWS_WITH_AS(im.posterior(dup, Mat(y.col(1)), 0.0), Contains("is not in the range of A"), value_error);
  // A composition (conjugate gradients): blur after a mask has a non-trivial range.
  const ImageShape gi{1, 4, 4};
  const std::vector<double> mv{1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1};
  const auto BM = compose(Blur<T>(T{}, gi, skew_kernel()), Mask<T>(T{}, mv, gi.shape()));
  const Mat xi = randn_mat(16, 1, gen);
  const Mat yi = BM.apply(randn_mat(16, 1, gen));
  CHECK_NOTHROW(pivot(BM, xi, yi, NoiseLevels{0.7, 0.7, 0.0}));
  CHECK_THROWS_WITH_AS(pivot(BM, xi, Mat(randn_mat(16, 1, gen)), NoiseLevels{0.7, 0.7, 0.0}),
                       Contains("not in the range of blur*mask"), value_error);
  // Masks and subsampled Hartley measurements pad y: values there are ignored, at every σ_y.
  const Mask<T> mask(T{}, mv, gi.shape());
  const Mat garbage = randn_mat(16, 1, gen);
  const auto pm = pivot(mask, xi, garbage, NoiseLevels{0.7, 0.7, 0.0});
  const auto pm_clean = pivot(mask, xi, mask.apply(garbage), NoiseLevels{0.7, 0.7, 0.0});
  CHECK(rel_error(pm.x_tilde(), pm_clean.x_tilde()) == 0.0);
  CHECK_NOTHROW(pivot(matrix_free(mask), xi, garbage, NoiseLevels{0.7, 0.7, 0.0}));
  CHECK_NOTHROW(pivot(compose(mask, Blur<T>(T{}, gi, skew_kernel())), xi, garbage, NoiseLevels{0.7, 0.7, 0.0}));
  const SubsampledHartley<T> sh(T{}, gi, symmetric_frequency_mask(gi, 0.4, gen));
  CHECK_NOTHROW(pivot(sh, xi, garbage, NoiseLevels{0.7, 0.7, 0.0}));
}

TEST_CASE("errors: noise levels that overflow double precision") {
  const ImageShape g{1, 1, 3};
  const Identity<T> A(T{}, g.shape());
  const Mat x = Mat::Ones(3, 1);
  CHECK_THROWS_WITH_AS(pivot(A, x, x, NoiseLevels{1.0, 1.0, 1e300}), Contains("overflow double precision"),
                       value_error);
  CHECK_THROWS_WITH_AS(pivot(A, x, x, NoiseLevels{1.0, 1e200, 0.1}), Contains("overflow double precision"),
                       value_error);
}
