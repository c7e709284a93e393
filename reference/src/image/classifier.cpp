// SPDX-License-Identifier: MIT
#include "classifier.hpp"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>

#include "eps/error.hpp"

namespace eps::cli {
namespace F = torch::nn::functional;

ClassifierImpl::ClassifierImpl() {
  using torch::nn::Conv2dOptions;
  conv1 = register_module("conv1", torch::nn::Conv2d(Conv2dOptions(1, 32, 3).padding(1)));
  conv2 = register_module("conv2", torch::nn::Conv2d(Conv2dOptions(32, 64, 3).padding(1)));
  conv3 = register_module("conv3", torch::nn::Conv2d(Conv2dOptions(64, 64, 3).padding(1)));
  fc1 = register_module("fc1", torch::nn::Linear(64 * 7 * 7, feature_count));
  fc2 = register_module("fc2", torch::nn::Linear(feature_count, 10));
  drop = register_module("drop", torch::nn::Dropout(0.3));
}

at::Tensor ClassifierImpl::features(const at::Tensor& x) {
  EPS_CHECK(x.dim() == 4 && x.size(1) == 1 && x.size(2) == 28 && x.size(3) == 28, shape_error,
            "eps::cli::Classifier: expected images [B, 1, 28, 28]");
  at::Tensor h = F::max_pool2d(at::relu(conv1(x)), F::MaxPool2dFuncOptions(2));        // 14 × 14
  h = F::max_pool2d(at::relu(conv3(at::relu(conv2(h)))), F::MaxPool2dFuncOptions(2));  // 7 × 7
  return at::relu(fc1(h.flatten(1)));
}

at::Tensor ClassifierImpl::forward(const at::Tensor& x) { return fc2(drop(features(x))); }

}  // namespace eps::cli
