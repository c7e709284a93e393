// SPDX-License-Identifier: MIT
// The xtensor backend: the operator property harness (float64, float32), normal draws, broadcasting rules
// and errors. The cross-backend checks against Eigen are in test_xtensor_cross.cpp.
#include "eps/backends/xtensor.hpp"

#include "common.hpp"
#include "operator_harness.hpp"

using namespace eps;
using namespace eps::test;

namespace {
struct XtF64 {
  using T = xtensor::Tensor<double>;
  static constexpr double tol = 1e-10;
};
struct XtF32 {
  using T = xtensor::Tensor<float>;
  static constexpr double tol = 2e-4;
};

}  // namespace

TEST_CASE_TEMPLATE("xtensor: operator property harness on every operator", Cfg, XtF64, XtF32) {
  using T = typename Cfg::T;
  std::mt19937_64 gen(2);
  for_each_operator<T>([&](const auto& A) { check_operator<T>(A, Cfg::tol, gen); });
}

TEST_CASE("xtensor: normal draws equal Eigen's element for element (same generator, same order)") {
  std::mt19937_64 g1(11), g2(11);
  const auto e = randn(eigen::Tensor<double>{}, 3, Shape{2, 3, 4}, g1);
  const auto x = randn(xtensor::Tensor<double>{}, 3, Shape{2, 3, 4}, g2);
  CHECK(to_host(e) == to_host(x));
  CHECK(to_host(e) != to_host(randn(xtensor::Tensor<double>{}, 3, Shape{2, 3, 4}, g2)));
}

TEST_CASE("xtensor: broadcasting rules and errors") {
  using T = xtensor::Tensor<double>;
  const T like;
  const T a = from_host(like, std::vector<double>{1, 2, 3, 4, 5, 6}, 2, Shape{3});
  const T one = from_host(like, std::vector<double>{10, 20, 30}, 1, Shape{3});
  const T per = batch_scalars(like, BatchValues{2.0, -1.0});
  CHECK(to_host(add(a, one)) == std::vector<double>{11, 22, 33, 14, 25, 36});
  CHECK(to_host(mul(a, per)) == std::vector<double>{2, 4, 6, -4, -5, -6});
  CHECK(dot_batch(a, a) == std::vector<double>{14, 77});
  const T b = from_host(like, std::vector<double>{1, 2, 3, 4}, 2, Shape{2});
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("cannot broadcast sample extents 3 and 2"), shape_error);
  CHECK_THROWS_AS(from_host(like, std::vector<double>{1, 2, 3}, 2, Shape{2}), shape_error);
}
