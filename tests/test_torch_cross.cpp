// SPDX-License-Identifier: MIT
// One answer from every backend, LibTorch side: the same random batch, operators, schedules, times and
// noise levels through Eigen and LibTorch give the same pivot, Σ̃ (apply and diagonal), μ*, posterior
// score and 8-step EDM trajectory: float64 to 1e-12 relative, float32 to 1e-5 (only the order of
// floating-point sums and the FFT implementation differ: FFTW against pocketfft or cuFFT), on every
// available device.
#include "torch_common.hpp"  // first: see there
#include "cross_samplers.hpp"

using namespace eps;
using namespace eps::test;

TEST_CASE("torch: the same pivot, covariance, score and sampler trajectory as Eigen (float64)") {
  for (const at::Device& d : test_devices()) {
    CAPTURE(d.str());
    cross_backend<eigen::Tensor<double>, at::Tensor>(1e-12, libtorch::like(at::kDouble, d));
  }
}

TEST_CASE("torch: the same pivot, covariance, score and sampler trajectory as Eigen (float32)") {
  for (const at::Device& d : test_devices()) {
    CAPTURE(d.str());
    cross_backend<eigen::Tensor<float>, at::Tensor>(1e-5, libtorch::like(at::kFloat, d));
  }
}

TEST_CASE("torch: every sampler and baseline gives Eigen's trajectory, step for step (float64)") {
  for (const at::Device& d : test_devices()) {
    CAPTURE(d.str());
    cross_backend_samplers<eigen::Tensor<double>, at::Tensor>(1e-12, libtorch::like(at::kDouble, d));
  }
}
