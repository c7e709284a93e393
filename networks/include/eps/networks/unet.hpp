// SPDX-License-Identifier: MIT
/// @file unet.hpp
/// A small U-Net for 28 × 28 images (the network of the shipped models; library eps::networks; docs/training.md §4):
/// residual blocks with GroupNorm and SiLU, the noise level added to every block through a learned projection of a
/// sinusoidal embedding of c_noise, one self-attention block at the lowest resolution, skip connections by
/// concatenation. The input convolution is `conv_in` (the one EPS widens); the last layer of every residual
/// branch and the output convolution start at zero, so a fresh network outputs 0 (the preconditioned
/// denoiser then starts as the skip path, docs/training.md §1).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace eps::networks {

struct UNetConfig {
  std::int64_t in_channels = 1, out_channels = 1;
  std::int64_t channels = 32;                      ///< at the top level
  std::vector<std::int64_t> multipliers{1, 2, 2};  ///< per level: 28, 14, 7 for 28 × 28 inputs
  std::int64_t blocks = 1;                         ///< residual blocks per level (encoder; the decoder has one more)
  std::int64_t embedding = 64;                     ///< width of the sinusoidal embedding of c_noise
  bool attention = true;                           ///< self-attention in the middle (lowest resolution)
};

class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(std::int64_t in, std::int64_t out, std::int64_t emb);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& emb);

 private:
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(ResBlock);

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(std::int64_t channels);
  at::Tensor forward(const at::Tensor& x);

 private:
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Conv2d qkv{nullptr}, out{nullptr};
};
TORCH_MODULE(Attention);

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const UNetConfig& c);
  /// F(x, c_noise): x is [B, in_channels, H, W] with H and W divisible by 2^(levels − 1); c_noise is [B].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& c_noise);
  const UNetConfig& config() const { return config_; }
  std::int64_t parameter_count() const;
  /// EPS fine-tuning (docs/training.md §5): `conv_in` takes `extra` more input channels, appended after the
  /// existing ones, with zero weights (eps::networks::widen_input_channels), so the network is unchanged
  /// on [x, anything].
  void widen_input(std::int64_t extra);

 private:
  UNetConfig config_;
  torch::nn::Linear emb1{nullptr}, emb2{nullptr};
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::GroupNorm norm_out{nullptr};
  std::vector<std::vector<ResBlock>> down_, up_;
  std::vector<torch::nn::Conv2d> downsample_, upsample_;
  ResBlock mid1{nullptr}, mid2{nullptr};
  Attention attn{nullptr};
};
TORCH_MODULE(UNet);

}  // namespace eps::networks
