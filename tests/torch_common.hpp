// SPDX-License-Identifier: MIT
// LibTorch test configurations: one C++ type (at::Tensor) whose dtype and device are run-time values,
// so a configuration is a like-tensor. Every test runs on the CPU, and on CUDA as well when this
// LibTorch has it and a GPU is present (CI has none; the device tool's GPU machines do).
#pragma once

#include <torch/csrc/autograd/autograd.h>  // torch::autograd::grad

#include <string>
#include <vector>

#include "eps/backends/torch.hpp"
// c10's logging (logging_is_not_google_glog.h) defines glog-style CHECK, CHECK_EQ, ... macros; the tests
// mean doctest's. Include this header before anything that includes doctest.
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#include "common.hpp"

namespace eps::test {

struct TorchCfg {
  at::ScalarType dtype;
  at::Device device;
  double tol;  ///< as EigenF64/EigenF32: 1e-10 (float64), 2e-4 (float32)
  at::Tensor like() const { return libtorch::like(dtype, device); }
  std::string name() const { return std::string(c10::toString(dtype)) + "/" + device.str(); }
};

/// float64 on `d`.
inline at::TensorOptions f64(const at::Device& d) { return at::TensorOptions().dtype(at::kDouble).device(d); }
/// max |a|.
inline double max_abs(const at::Tensor& a) { return a.abs().max().item<double>(); }

/// The devices the tests run on: the CPU, and cuda:0 when available.
inline std::vector<at::Device> test_devices() {
  std::vector<at::Device> d{at::kCPU};
  if (at::hasCUDA()) d.emplace_back(at::kCUDA, 0);
  return d;
}

inline std::vector<TorchCfg> torch_configs() {
  std::vector<TorchCfg> c;
  for (const at::Device& d : test_devices()) {
    c.push_back({at::kDouble, d, 1e-10});
    c.push_back({at::kFloat, d, 2e-4});
  }
  return c;
}

}  // namespace eps::test
