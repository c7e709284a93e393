// SPDX-License-Identifier: MIT
// Bad input gets a clear error: the exception type, and a message that names the argument and the
// expected value.
#include "common.hpp"
#include "eps/analytic/gaussian_mixture.hpp"

using namespace eps;
using namespace eps::test;
using T = EigenF64::T;
using doctest::Contains;

TEST_CASE("errors: the pivot rejects bad shapes, levels and values") {
  const ImageShape g{1, 2, 3};
  const Mask<T> A(T{}, std::vector<double>{1, 0, 1, 1, 0, 1}, g.shape());
  const T x = T::Ones(6, 2), y = T::Ones(6, 2);
  CHECK_THROWS_WITH_AS(pivot(A, T(T::Ones(5, 2)), y, NoiseLevels{1, 1, 0.1}),
                       Contains("x_t has 5 elements per sample, expected 6"), shape_error);
  CHECK_THROWS_WITH_AS(pivot(A, x, T(T::Ones(6, 3)), NoiseLevels{1, 1, 0.1}), Contains("y has batch size 3"),
                       shape_error);
  CHECK_THROWS_WITH_AS(pivot(A, x, y, NoiseLevels{1, 1, -0.1}), Contains("sigma_y must be finite and >= 0, got -0.1"),
                       value_error);
  CHECK_THROWS_WITH_AS(pivot(A, x, y, NoiseLevels{1, 1, std::nan("")}), Contains("sigma_y must be finite"),
                       value_error);
  CHECK_THROWS_WITH_AS(pivot(A, x, y, NoiseLevels{1, -2, 0.1}), Contains("sigma must be finite and >= 0"), value_error);
  CHECK_THROWS_WITH_AS(pivot(A, x, y, NoiseLevels{0, 0, 0.1}), Contains("alpha and sigma are both 0"), value_error);
  CHECK_THROWS_WITH_AS(pivot(A, x, y, NoiseLevels{BatchValues{1, 1, 1}, 1, 0.1}),
                       Contains("alpha has 3 values; expected 1 or the batch size 2"), shape_error);
  T bad = x;
  bad(2, 1) = INFINITY;
  CHECK_THROWS_WITH_AS(pivot(A, bad, y, NoiseLevels{1, 1, 0.1}), Contains("x_t contains NaN or infinite"), value_error);
  bad(2, 1) = NAN;
  CHECK_THROWS_WITH_AS(pivot(A, x, bad, NoiseLevels{1, 1, 0.1}), Contains("y contains NaN or infinite"), value_error);
  const Linear lin;
  CHECK_THROWS_WITH_AS(pivot(lin, A, x, y, 1.5, 0.1), Contains("t must lie in [0, 1] for schedule 'linear', got 1.5"),
                       value_error);
  CHECK_THROWS_WITH_AS(pivot(lin, A, x, y, std::nan(""), 0.1), Contains("t must lie in"), value_error);
  CHECK_THROWS_WITH_AS(make_schedule("cosine"), Contains("unknown schedule 'cosine'; expected one of linear"),
                       value_error);
}

TEST_CASE("errors: conjugate gradients that cannot converge") {
  const ImageShape g{1, 4, 4};
  std::mt19937_64 gen(1);
  const auto A = compose(Blur<T>(T{}, g, gaussian_kernel(3, 1.0)), Mask<T>(T{}, random_mask(g, 0.5, gen), g.shape()));
  const T x = randn(T{}, 1, g.shape(), gen), y = randn(T{}, 1, g.shape(), gen);
  PivotOptions opt;
  opt.cg.max_iterations = 2;
  CHECK_THROWS_WITH_AS(pivot(A, x, y, NoiseLevels{1, 1, 1e-3}, opt),
                       Contains("conjugate gradients did not converge for blur*mask: sample 0 has relative residual"),
                       convergence_error);
  opt.cg.tolerance = -1;
  CHECK_THROWS_WITH_AS(pivot(A, x, y, NoiseLevels{1, 1, 1e-3}, opt), Contains("CG tolerance must be >= 0"),
                       value_error);
}

TEST_CASE("errors: operators reject inconsistent construction and inputs") {
  const T like;
  const ImageShape g{2, 4, 6};
  CHECK_THROWS_WITH_AS(Mask<T>(like, std::vector<double>(48, 0.5), g.shape()), Contains("exactly 0 or 1, got 0.5"),
                       value_error);
  CHECK_THROWS_WITH_AS(Mask<T>(like, std::vector<double>(47, 1.0), g.shape()),
                       Contains("not a whole number of samples"), shape_error);
  CHECK_THROWS_WITH_AS(AvgPool<T>(like, g, 4), Contains("must be divisible by k=4"), value_error);
  CHECK_THROWS_WITH_AS(AvgPool<T>(like, ImageShape{0, 4, 4}, 2), Contains("positive extents"), value_error);
  CHECK_THROWS_WITH_AS(ColorToGray<T>(like, g, {0.5, 0.2, 0.3}), Contains("3 weights for 2 channels"), shape_error);
  CHECK_THROWS_WITH_AS(Blur<T>(like, g, Kernel{2, 2, {1, 2, 3}}), Contains("kernel of 2x2 has 3 values"), shape_error);
  CHECK_THROWS_WITH_AS(Blur<T>(like, g, Kernel{1, 1, {NAN}}), Contains("kernel values must be finite"), value_error);
  std::vector<double> sel(48, 0.0);
  sel[1] = 1;  // (0, 1) without (0, 5)
  CHECK_THROWS_WITH_AS(SubsampledHartley<T>(like, g, sel), Contains("must be symmetric under k -> -k"), value_error);
  CHECK_THROWS_WITH_AS(Dense<T>(like, std::vector<double>(10, 1.0), 2, Shape{4}),
                       Contains("got 10 values for 2 samples"), shape_error);
  const AvgPool<T> pool(like, g, 2);
  CHECK_THROWS_WITH_AS(pool.apply(T::Ones(12, 1)), Contains("x has 12 elements per sample, expected 48"), shape_error);
  CHECK_THROWS_WITH_AS(pool.apply_adjoint(T::Ones(48, 1)), Contains("y has 48 elements per sample, expected 12"),
                       shape_error);
  CHECK_THROWS_WITH_AS(compose(Identity<T>(like, {5}), pool),
                       Contains("avgpool2 produces [2,2,3] but identity expects [5]"), shape_error);
  const Mask<T> per_sample(like, std::vector<double>(96, 1.0), g.shape());  // batch of 2 masks
  CHECK_THROWS_WITH_AS(per_sample.apply(T::Ones(48, 3)), Contains("built for a batch of 2"), shape_error);
  CHECK_THROWS_AS(gaussian_kernel(0, 1.0), value_error);
  CHECK_THROWS_AS(gaussian_kernel(3, -1.0), value_error);
  CHECK_THROWS_AS(motion_kernel(0.5, 10), value_error);
  std::mt19937_64 gen(1);
  CHECK_THROWS_AS(random_mask(g, 1.5, gen), value_error);
  CHECK_THROWS_AS(box_mask(g, 2, 2, 4, 4), value_error);
  CHECK_THROWS_WITH_AS(edm_sigmas(0), Contains("need n >= 1 steps"), value_error);
  CHECK_THROWS_WITH_AS(time_from_log_snr(VeEdm{}, 100.0), Contains("outside the range"), value_error);
}

TEST_CASE("errors: analytic priors") {
  using analytic::GaussianMixture;
  const Vec mu = Vec::Zero(2);
  Mat bad(2, 2);
  bad << 1, 2, 2, 1;  // symmetric, indefinite
  CHECK_THROWS_WITH_AS(GaussianMixture::gaussian(mu, bad), Contains("covariance 0 is not positive definite"),
                       value_error);
  CHECK_THROWS_WITH_AS(GaussianMixture({-1.0}, {mu}, {Mat::Identity(2, 2)}),
                       Contains("weights must be finite and >= 0"), value_error);
  CHECK_THROWS_WITH_AS(GaussianMixture({1.0, 1.0}, {mu}, {Mat::Identity(2, 2)}), Contains("2 weights, 1 means"),
                       shape_error);
  CHECK_THROWS_WITH_AS(GaussianMixture({1.0}, {mu}, {Mat::Identity(3, 3)}),
                       Contains("3x3 covariance; expected 2 and 2x2"), shape_error);
  const auto g = GaussianMixture::gaussian(mu, Mat::Identity(2, 2));
  CHECK_THROWS_WITH_AS(g.condition({Mat::Ones(3, 1), std::nullopt, Mat::Identity(3, 3)}),
                       Contains("expected 2 (H = I)"), shape_error);
  CHECK_THROWS_WITH_AS(g.posterior_score(Mat::Ones(2, 1), 1, 0, Mat::Identity(2, 2), Mat::Ones(2, 1), 0.1),
                       Contains("sigma must be > 0"), domain_error);
}
