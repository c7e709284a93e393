// SPDX-License-Identifier: MIT
// Every operator through the property harness (docs/math.md §8.5), both scalar types; the generators.
#include "operator_harness.hpp"

using namespace eps;
using namespace eps::test;

TEST_CASE_TEMPLATE("operators: property harness on every operator", Cfg, EigenF64, EigenF32) {
  using T = typename Cfg::T;
  std::mt19937_64 gen(11);
  for_each_operator<T>([&](const auto& A) { check_operator<T>(A, Cfg::tol, gen); });
}

TEST_CASE("operators: blur is the circular convolution it documents") {
  using T = EigenF64::T;
  const ImageShape g{1, 5, 6};
  const Kernel k = skew_kernel();
  Blur<T> A(T{}, g, k);
  std::mt19937_64 gen(3);
  const T x = randn(T{}, 1, g.shape(), gen);
  const T y = A.apply(x);
  // y[i, j] = Σ k[a, b] x[i − a + 1, j − b + 1] (mod H, W), summed by hand.
  double err = 0;
  for (index_t i = 0; i < 5; ++i)
    for (index_t j = 0; j < 6; ++j) {
      double v = 0;
      for (index_t a = 0; a < 3; ++a)
        for (index_t b = 0; b < 3; ++b) v += k(a, b) * x(((i - a + 1 + 5) % 5) * 6 + (j - b + 1 + 6) % 6, 0);
      err = std::max(err, std::abs(v - y(i * 6 + j, 0)));
    }
  CHECK(err <= 1e-14);
}

TEST_CASE("operators: average pooling, colour-to-grey and Hartley against their definitions") {
  using T = EigenF64::T;
  std::mt19937_64 gen(5);
  const ImageShape g{2, 4, 6};
  const T x = randn(T{}, 2, g.shape(), gen);
  const T y = AvgPool<T>(T{}, g, 2).apply(x);
  CHECK(y.rows() == 2 * 2 * 3);
  CHECK(std::abs(y(1 * 6 + 1 * 3 + 2, 1) - (x(1 * 24 + 2 * 6 + 4, 1) + x(1 * 24 + 2 * 6 + 5, 1) +
                                            x(1 * 24 + 3 * 6 + 4, 1) + x(1 * 24 + 3 * 6 + 5, 1)) /
                                               4) <= 1e-15);
  const ImageShape gc{3, 2, 2};
  const T xc = randn(T{}, 1, gc.shape(), gen);
  const T yc = ColorToGray<T>(T{}, gc).apply(xc);
  CHECK(std::abs(yc(3, 0) - (0.299 * xc(3, 0) + 0.587 * xc(7, 0) + 0.114 * xc(11, 0))) <= 1e-15);
  // Hartley: H = Re F − Im F is symmetric and involutory, and equals the cas sum.
  const ImageShape gh{1, 3, 4};
  SubsampledHartley<T> sh(T{}, gh, std::vector<double>(12, 1.0), false);
  const T xh = randn(T{}, 1, gh.shape(), gen);
  const T hx = sh.hartley(xh);
  double err = 0;
  for (int k1 = 0; k1 < 3; ++k1)
    for (int k2 = 0; k2 < 4; ++k2) {
      double v = 0;
      for (int n1 = 0; n1 < 3; ++n1)
        for (int n2 = 0; n2 < 4; ++n2) {
          const double th = 2 * std::numbers::pi * (k1 * n1 / 3.0 + k2 * n2 / 4.0);
          v += (std::cos(th) + std::sin(th)) * xh(n1 * 4 + n2, 0);
        }
      err = std::max(err, std::abs(v / std::sqrt(12.0) - hx(k1 * 4 + k2, 0)));
    }
  CHECK(err <= 1e-14);
  CHECK(rel_error(sh.hartley(hx), xh) <= 1e-14);
}

TEST_CASE("operators: generators") {
  std::mt19937_64 gen(1);
  const Kernel gk = gaussian_kernel(11, 0.75);
  CHECK(std::abs(gk.sum() - 1) <= 1e-14);
  CHECK(gk(5, 5) ==
        doctest::Approx(1 / (2 * std::numbers::pi * 0.75 * 0.75)).epsilon(0.05));  // near the continuous peak
  CHECK(gk(5, 4) / gk(5, 5) == doctest::Approx(std::exp(-1 / (2 * 0.5625))).epsilon(1e-12));
  for (double angle : {0.0, 37.0, 90.0, 150.0}) {
    const Kernel mk = motion_kernel(9, angle);
    CHECK(mk.height == 9);
    CHECK(std::abs(mk.sum() - 1) <= 1e-14);
    // The kernel's centre of mass is the centre, and its second moment along the motion direction is
    // that of a uniform segment of length 8 (variance 8²/12), up to the splatting's 1/4-pixel spread.
    double mx = 0, my = 0, var = 0;
    const double th = angle * std::numbers::pi / 180;
    for (index_t i = 0; i < 9; ++i)
      for (index_t j = 0; j < 9; ++j) {
        mx += mk(i, j) * (j - 4.0);
        my += mk(i, j) * (i - 4.0);
        const double along = (j - 4.0) * std::cos(th) - (i - 4.0) * std::sin(th);
        var += mk(i, j) * along * along;
      }
    CHECK(std::abs(mx) <= 1e-12);
    CHECK(std::abs(my) <= 1e-12);
    CHECK(var == doctest::Approx(64.0 / 12).epsilon(0.06));
  }
  const ImageShape g{3, 64, 64};
  const auto m = random_mask(g, 0.7, gen);
  double kept = 0;
  for (index_t p = 0; p < 64 * 64; ++p) {
    kept += m[static_cast<std::size_t>(p)];
    CHECK(m[static_cast<std::size_t>(p)] == m[static_cast<std::size_t>(2 * 64 * 64 + p)]);  // same for all channels
  }
  CHECK(std::abs(kept / 4096 - 0.3) <= 5 * std::sqrt(0.21 / 4096));  // binomial, 5 standard deviations
  const auto box = centered_box_mask(ImageShape{1, 8, 8});
  CHECK(box[3 * 8 + 3] == 0.0);
  CHECK(box[0] == 1.0);
  double missing = 0;
  for (double v : box) missing += 1 - v;
  CHECK(missing == 16);
  for (int i = 0; i < 20; ++i) {
    const auto rb = random_box_mask(ImageShape{1, 64, 64}, gen);
    double miss = 0;
    for (double v : rb) miss += 1 - v;
    CHECK(miss >= 16 * 16);
    CHECK(miss <= 32 * 32);
  }
  const auto f = symmetric_frequency_mask(ImageShape{1, 6, 7}, 0.5, gen);
  for (index_t i = 0; i < 6; ++i)
    for (index_t j = 0; j < 7; ++j)
      CHECK(f[static_cast<std::size_t>(i * 7 + j)] == f[static_cast<std::size_t>(((6 - i) % 6) * 7 + (7 - j) % 7)]);
}

TEST_CASE("operators: blur treats frequencies the kernel annihilates as null space") {
  using T = EigenF64::T;
  const ImageShape g{1, 4, 4};
  Blur<T> A(T{}, g, Kernel{1, 2, {0.5, 0.5}});  // ĥ = 0 at the horizontal Nyquist frequency
  const Vec s = reference::to_matrix(A.singular_values());
  int zeros = 0;
  for (double v : s) zeros += v == 0.0;
  CHECK(zeros == 4);  // one per row frequency
  std::mt19937_64 gen(2);
  check_spectral_operator<T>(A, 1e-12, gen);
}
