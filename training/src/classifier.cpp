// SPDX-License-Identifier: MIT
#include "eps/training/classifier.hpp"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "eps/error.hpp"
#include "eps/networks/archive.hpp"
#include "eps/networks/torch_compat.hpp"

namespace eps::training {
namespace F = torch::nn::functional;

ClassifierImpl::ClassifierImpl() {
  networks::compat::check_convolutions();
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
            "eps::training::Classifier: expected images [B, 1, 28, 28]");
  at::Tensor h = F::max_pool2d(at::relu(conv1(x)), F::MaxPool2dFuncOptions(2));        // 14 × 14
  h = F::max_pool2d(at::relu(conv3(at::relu(conv2(h)))), F::MaxPool2dFuncOptions(2));  // 7 × 7
  return at::relu(fc1(h.flatten(1)));
}

at::Tensor ClassifierImpl::forward(const at::Tensor& x) { return fc2(drop(features(x))); }

void write_classifier(const std::filesystem::path& path, Classifier& net, const nlohmann::json& config,
                      double test_accuracy) {
  torch::serialize::OutputArchive ar, w;
  networks::write_header(ar, {"eps.classifier", 1, config});
  ar.write("test_accuracy", c10::IValue(test_accuracy));
  net->save(w);
  ar.write("weights", w);
  networks::save_archive(ar, path);
}

Classifier read_classifier(const std::filesystem::path& path, const at::Device& device) {
  networks::ArchiveReader r(path, device, "eps.classifier", "eps classifier (classifier.pt of `eps image classifier`)");
  Classifier net;
  r.read([&](torch::serialize::InputArchive& ar) {
    torch::serialize::InputArchive w;
    ar.read("weights", w);
    net->load(w);
  });
  net->to(device);
  net->eval();
  return net;
}

}  // namespace eps::training
