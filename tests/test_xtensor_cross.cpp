// SPDX-License-Identifier: MIT
// One answer from two backends: the same random batch, operators, times and noise levels through Eigen and
// xtensor give the same pivot, Σ̃ (apply and diagonal), μ*, posterior score and EDM sampler trajectory
// (float64: 1e-12 relative; float32: 1e-5, where only the order of floating-point sums may differ).
#include "eps/backends/xtensor.hpp"

#include "cross_samplers.hpp"

using namespace eps;
using namespace eps::test;

TEST_CASE("xtensor: the same pivot, covariance, score and sampler trajectory as Eigen (float64)") {
  cross_backend<eigen::Tensor<double>, xtensor::Tensor<double>>(1e-12);
}

TEST_CASE("xtensor: the same pivot, covariance, score and sampler trajectory as Eigen (float32)") {
  cross_backend<eigen::Tensor<float>, xtensor::Tensor<float>>(1e-5);
}

TEST_CASE("xtensor: every sampler and baseline gives Eigen's trajectory, step for step (float64)") {
  cross_backend_samplers<eigen::Tensor<double>, xtensor::Tensor<double>>(1e-12);
}
