// SPDX-License-Identifier: MIT
/// @file classifier.hpp
/// The Fashion-MNIST classifier of the image pipeline (docs/training.md §7): a small CNN whose penultimate
/// layer (128 features) serves the evaluation's Fréchet distance, and its file (format eps.classifier). It
/// is not Inception: distances computed with it are comparable with each other, not with published FID
/// numbers. Library eps::training.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace eps::training {

class ClassifierImpl : public torch::nn::Module {
 public:
  ClassifierImpl();
  /// The 128 penultimate features of images [B, 1, 28, 28] in [−1, 1].
  at::Tensor features(const at::Tensor& x);
  /// Logits [B, 10].
  at::Tensor forward(const at::Tensor& x);
  static constexpr std::int64_t feature_count = 128;

 private:
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(Classifier);

/// Writes a trained classifier atomically (format eps.classifier: its training configuration, its test
/// accuracy, the weights).
void write_classifier(const std::filesystem::path& path, Classifier& net, const nlohmann::json& config,
                      double test_accuracy);

/// Reads a classifier onto `device`, in evaluation mode; io_error naming the file for a missing, damaged or
/// foreign one.
Classifier read_classifier(const std::filesystem::path& path, const at::Device& device);

}  // namespace eps::training
