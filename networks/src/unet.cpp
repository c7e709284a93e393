// SPDX-License-Identifier: MIT
#include "eps/networks/unet.hpp"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/init.h>

#include <cmath>

#include "eps/networks/preconditioning.hpp"
#include "eps/error.hpp"
#include "eps/networks/torch_compat.hpp"

namespace eps::networks {
namespace {
namespace F = torch::nn::functional;

torch::nn::GroupNorm group_norm(std::int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(std::min<std::int64_t>(8, channels), channels));
}
torch::nn::Conv2d conv3(std::int64_t in, std::int64_t out, std::int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1));
}
torch::nn::Conv2d conv1x1(std::int64_t in, std::int64_t out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1));
}
/// GroupNorm in its parameters' precision: under bfloat16 autocast the convolutions return bfloat16, and
/// LibTorch 1.13's CPU group_norm takes one dtype for input and affine parameters (statistics in float32).
at::Tensor normed(torch::nn::GroupNorm& n, const at::Tensor& x) { return n(x.to(n->weight.scalar_type())); }
void zero(const torch::nn::Conv2d& c) {
  torch::NoGradGuard g;
  c->weight.zero_();
  if (c->bias.defined()) c->bias.zero_();
}
}  // namespace

ResBlockImpl::ResBlockImpl(std::int64_t in, std::int64_t out, std::int64_t emb) {
  norm1 = register_module("norm1", group_norm(in));
  conv1 = register_module("conv1", conv3(in, out));
  proj = register_module("proj", torch::nn::Linear(emb, out));
  norm2 = register_module("norm2", group_norm(out));
  conv2 = register_module("conv2", conv3(out, out));
  zero(conv2);
  if (in != out) skip = register_module("skip", conv1x1(in, out));
}

at::Tensor ResBlockImpl::forward(const at::Tensor& x, const at::Tensor& emb) {
  at::Tensor h = conv1(F::silu(normed(norm1, x)));
  h = h + proj(emb).unsqueeze(-1).unsqueeze(-1);
  h = conv2(F::silu(normed(norm2, h)));
  return (skip ? skip(x) : x) + h;
}

AttentionImpl::AttentionImpl(std::int64_t channels) {
  norm = register_module("norm", group_norm(channels));
  qkv = register_module("qkv", conv1x1(channels, 3 * channels));
  out = register_module("out", conv1x1(channels, channels));
  zero(out);
}

at::Tensor AttentionImpl::forward(const at::Tensor& x) {
  const std::int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const auto parts = qkv(normed(norm, x)).reshape({B, 3, C, H * W}).unbind(1);
  const at::Tensor w =
      at::softmax(at::bmm(parts[0].transpose(1, 2), parts[1]) / std::sqrt(double(C)), -1);  // [B, N, N]
  const at::Tensor o = at::bmm(parts[2], w.transpose(1, 2)).reshape({B, C, H, W});
  return x + out(o);
}

UNetImpl::UNetImpl(const UNetConfig& c) : config_(c) {
  compat::check_convolutions();  // before the first convolution of the process
  EPS_CHECK(c.in_channels >= 1 && c.out_channels >= 1 && c.channels >= 8 && c.channels % 8 == 0 && c.blocks >= 1 &&
                !c.multipliers.empty() && c.embedding >= 4 && c.embedding % 2 == 0,
            value_error,
            "eps::cli::UNet: channels must be a positive multiple of 8, blocks >= 1, at least one level and an even "
            "embedding >= 4; got channels=",
            c.channels, ", blocks=", c.blocks, ", levels=", c.multipliers.size(), ", embedding=", c.embedding);
  const std::int64_t E = 4 * c.channels;
  emb1 = register_module("emb1", torch::nn::Linear(c.embedding, E));
  emb2 = register_module("emb2", torch::nn::Linear(E, E));
  conv_in = register_module("conv_in", conv3(c.in_channels, c.channels));
  std::vector<std::int64_t> skips{c.channels};
  std::int64_t cur = c.channels;
  const std::size_t L = c.multipliers.size();
  for (std::size_t l = 0; l < L; ++l) {
    const std::int64_t ch = c.channels * c.multipliers[l];
    down_.emplace_back();
    for (std::int64_t b = 0; b < c.blocks; ++b) {
      down_[l].push_back(register_module("down" + std::to_string(l) + "_" + std::to_string(b), ResBlock(cur, ch, E)));
      cur = ch;
      skips.push_back(cur);
    }
    if (l + 1 < L) {
      downsample_.push_back(register_module("downsample" + std::to_string(l), conv3(cur, cur, 2)));
      skips.push_back(cur);
    }
  }
  mid1 = register_module("mid1", ResBlock(cur, cur, E));
  if (c.attention) attn = register_module("attn", Attention(cur));
  mid2 = register_module("mid2", ResBlock(cur, cur, E));
  up_.resize(L);
  upsample_.assign(L, torch::nn::Conv2d(nullptr));
  for (std::size_t l = L; l-- > 0;) {
    const std::int64_t ch = c.channels * c.multipliers[l];
    for (std::int64_t b = 0; b <= c.blocks; ++b) {
      const std::int64_t s = skips.back();
      skips.pop_back();
      up_[l].push_back(register_module("up" + std::to_string(l) + "_" + std::to_string(b), ResBlock(cur + s, ch, E)));
      cur = ch;
    }
    if (l > 0) upsample_[l] = register_module("upsample" + std::to_string(l), conv3(cur, cur));
  }
  norm_out = register_module("norm_out", group_norm(cur));
  conv_out = register_module("conv_out", conv3(cur, c.out_channels));
  zero(conv_out);
}

at::Tensor UNetImpl::forward(const at::Tensor& x, const at::Tensor& c_noise) {
  const std::size_t L = config_.multipliers.size();
  const std::int64_t div = std::int64_t{1} << (L - 1);
  EPS_CHECK(x.dim() == 4 && x.size(1) == config_.in_channels && x.size(2) % div == 0 && x.size(3) % div == 0,
            shape_error, "eps::cli::UNet::forward: expected [B, ", config_.in_channels,
            ", H, W] with H and W divisible by ", div, ", got ", x.sizes());
  EPS_CHECK(c_noise.dim() == 1 && c_noise.size(0) == x.size(0), shape_error,
            "eps::cli::UNet::forward: c_noise must be [B] with B = ", x.size(0), ", got ", c_noise.sizes());
  // Sinusoidal embedding of c_noise: cos and sin of c_noise·f_k, f_k geometric from 1 to 100.
  const std::int64_t half = config_.embedding / 2;
  const at::Tensor f =
      at::exp(at::arange(half, x.options()) * (std::log(100.0) / double(std::max<std::int64_t>(half - 1, 1))));
  const at::Tensor arg = c_noise.to(x.scalar_type()).unsqueeze(1) * f.unsqueeze(0);
  const at::Tensor emb = emb2(F::silu(emb1(at::cat({at::cos(arg), at::sin(arg)}, 1))));

  at::Tensor h = conv_in(x);
  std::vector<at::Tensor> skips{h};
  for (std::size_t l = 0; l < L; ++l) {
    for (auto& blk : down_[l]) {
      h = blk(h, emb);
      skips.push_back(h);
    }
    if (l + 1 < L) {
      h = downsample_[l](h);
      skips.push_back(h);
    }
  }
  h = mid1(h, emb);
  if (attn) h = attn(h);
  h = mid2(h, emb);
  for (std::size_t l = L; l-- > 0;) {
    for (auto& blk : up_[l]) {
      h = blk(at::cat({h, skips.back()}, 1), emb);
      skips.pop_back();
    }
    if (l > 0)
      h = upsample_[l](
          F::interpolate(h, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest)));
  }
  return conv_out(F::silu(normed(norm_out, h)));
}

std::int64_t UNetImpl::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void UNetImpl::widen_input(std::int64_t extra) {
  conv_in = replace_module("conv_in", widen_input_channels(conv_in, extra));
  config_.in_channels += extra;
}

}  // namespace eps::networks
