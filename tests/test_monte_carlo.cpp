// SPDX-License-Identifier: MIT
// docs/math.md §8.4 / docs/math.md §2: x̃_t | x0 ~ N(α x0, Σ̃_t). Exactly, through the linear map that produces
// x̃ from (x_t, y); and by Monte Carlo, with a tolerance set by the sample size so that a false failure
// is negligible and a wrong covariance (σ² I, what one would get without the measurement) fails.
#include "common.hpp"

using namespace eps;
using namespace eps::test;
using T = EigenF64::T;

TEST_CASE("E3: the linear map (x_t, y) -> x~ has mean coefficient alpha I and noise covariance Sigma~") {
  // x̃ = L_x x_t + L_y y; with x_t = α x0 + σ ε and y = A x0 + σ_y n the mean is (α L_x + L_y A) x0 and the
  // noise covariance σ² L_x L_xᵀ + σ_y² L_y L_yᵀ. Bound 1e-10 relative .
  std::mt19937_64 gen(3);
  for_each_operator<T>([&](const auto& A) {
    CAPTURE(A.name());
    const Mat a = reference::to_dense(A, T{});
    for (auto [al, sg, sy] : {std::tuple{0.9, 0.4, 0.1}, {0.3, 0.95, 1.0}, {1.0, 5.0, 0.05}}) {
      const NoiseLevels lv{al, sg, sy};
      const T zero_x = scale(randn(T{}, 1, A.in_shape(), gen), 0.0),
              zero_y = scale(randn(T{}, 1, A.out_shape(), gen), 0.0);
      const Mat Lx =
          reference::dense_of([&](const T& e) { return pivot(A, e, zero_y, lv).x_tilde(); }, T{}, A.in_shape());
      const Mat Ly = reference::dense_of(
          [&](const T& e) { return pivot(A, zeros(e, batch(e), A.in_shape()), e, lv).x_tilde(); }, T{}, A.out_shape());
      const Eigen::Index d = a.cols();
      const Mat S = pivot(A, zero_x, zero_y, lv).covariance().apply(Mat::Identity(d, d));
      CHECK(rel_error(Mat(sg * sg * Lx * Lx.transpose() + sy * sy * Ly * Ly.transpose()), S) <= 1e-10);
      CHECK(rel_error(Mat(al * Lx + Ly * a), Mat(al * Mat::Identity(d, d))) <= 1e-10);
    }
  });
}

TEST_CASE("Prop. 3 by Monte Carlo: mean alpha x0 and covariance Sigma~, and sigma^2 I is rejected") {
  // n = 200000 draws of (ε, n) for one x0. Each entry of the sample mean has standard deviation
  // √(Σ̃_ii/n) and each entry of the sample covariance √((Σ̃_ii Σ̃_jj + Σ̃_ij²)/n); we allow 6 of them
  // (two-sided false-failure probability 2e-9 per entry, < 1e-6 over the 36 + 6 entries checked).
  const ImageShape g{1, 2, 3};
  std::mt19937_64 gen(17);
  Dense<T> A(T{}, row_major(randn_mat(3, 6, gen)), 3, g.shape());
  const Mat a = reference::to_dense(A, T{});
  const double al = 0.7, sg = 0.8, sy = 0.25;
  const index_t n = 200000;
  const Vec x0 = randn_mat(6, 1, gen);
  const Mat x_t = (al * x0).replicate(1, n) + sg * randn_mat(6, n, gen);
  const Mat y = (a * x0).replicate(1, n) + sy * randn_mat(3, n, gen);
  const auto pv = pivot(A, x_t, y, NoiseLevels{al, sg, sy});
  const Mat& xt = pv.x_tilde();
  const Vec mean = xt.rowwise().mean();
  const Mat centred = xt.colwise() - mean;
  const Mat cov = centred * centred.transpose() / double(n - 1);
  const Mat S = pv.covariance().apply(Mat::Identity(6, 6));
  int mean_bad = 0, cov_bad = 0, wrong_rejected = 0;
  for (int i = 0; i < 6; ++i) {
    mean_bad += std::abs(mean(i) - al * x0(i)) > 6 * std::sqrt(S(i, i) / n);
    for (int j = 0; j < 6; ++j) {
      const double sd = std::sqrt((S(i, i) * S(j, j) + S(i, j) * S(i, j)) / n);
      cov_bad += std::abs(cov(i, j) - S(i, j)) > 6 * sd;
      const double w = i == j ? sg * sg : 0.0;  // the covariance without the measurement
      const double sdw = std::sqrt((sg * sg * sg * sg + w * w) / n);
      wrong_rejected += std::abs(cov(i, j) - w) > 6 * sdw;
    }
  }
  CHECK(mean_bad == 0);
  CHECK(cov_bad == 0);
  CHECK(wrong_rejected >= 6);  // the wrong covariance is far outside the tolerance on many entries
}
