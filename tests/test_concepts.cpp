// SPDX-License-Identifier: MIT
// Compile-only conformance on the Eigen and xtensor backends (tests/concepts_common.hpp): positive and
// negative concept checks, and every operator and algorithm instantiated for float64 and float32. It has no
// runtime case: compiling it is the test (it is part of eps_tests_xtensor).
#include "concepts_common.hpp"
#include "eps/backends/eigen.hpp"
#include "eps/backends/xtensor.hpp"

static_assert(eps::conformance::operators_conform<eps::eigen::Tensor<double>>());
static_assert(eps::conformance::operators_conform<eps::eigen::Tensor<float>>());
static_assert(eps::conformance::operators_conform<eps::xtensor::Tensor<double>>());
static_assert(eps::conformance::operators_conform<eps::xtensor::Tensor<float>>());

EPS_INSTANTIATE_ALL(eps::eigen::Tensor<double>)
EPS_INSTANTIATE_ALL(eps::eigen::Tensor<float>)
EPS_INSTANTIATE_ALL(eps::xtensor::Tensor<double>)
EPS_INSTANTIATE_ALL(eps::xtensor::Tensor<float>)
