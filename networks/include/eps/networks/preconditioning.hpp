// SPDX-License-Identifier: MIT
/// @file preconditioning.hpp
/// How a raw network F becomes a denoiser, and what it regresses (docs/training.md §1): EDM's
/// preconditioning and loss weight, the velocity parametrization of flow models, the noise levels of a
/// schedule at per-sample ratios, and the zero-initialised widening of a first convolution that turns a
/// prior into an EPS or Palette network (docs/math.md §5). Written for every schedule: the network sees
/// x̄ = x/α at the noise ratio ς = σ/α (docs/math.md §4.2), so that for VE (α = 1) it is EDM verbatim.
/// Part of eps::networks (component torch); the training recipe around it is eps::training.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "eps/backends/torch.hpp"
#include "eps/error.hpp"
#include "eps/parametrization.hpp"
#include "eps/schedule.hpp"

namespace eps::detail::libtorch {

/// v ([B]) viewed as [B, 1, 1, ...] to broadcast against x, in x's dtype.
inline at::Tensor per_sample(const at::Tensor& v, const at::Tensor& x) {
  std::vector<std::int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
  shape[0] = v.size(0);
  return v.to(x.scalar_type()).view(shape);
}

/// F(c_in x, c_noise), checked to have x's shape (the raw network of every parametrization here).
template <class F>
at::Tensor raw_output(F&& raw, const at::Tensor& x, const at::Tensor& c_in, const at::Tensor& c_noise,
                      const char* where) {
  at::Tensor out = raw(per_sample(c_in, x) * x, c_noise);
  EPS_CHECK(out.sizes() == x.sizes(), shape_error, where, ": the network returned ",
            eps::detail::libtorch::sizes_str(out.sizes()), " for an input of ",
            eps::detail::libtorch::sizes_str(x.sizes()));
  return out;
}

}  // namespace eps::detail::libtorch

namespace eps::networks {

/// The per-sample coefficients of EDM's preconditioning, written on x itself (shape [B] each):
///   D(x) = c_skip x + c_out F(c_in x, c_noise),
///   c_skip = α σ_d²/(σ² + α²σ_d²),  c_out = σ σ_d/√(σ² + α²σ_d²),  c_in = 1/√(σ² + α²σ_d²),
///   c_noise = ¼ ln(σ/α).
/// For α = 1 these are EDM's (Karras et al. 2022, Table 1); in general they are EDM's applied to
/// x̄ = x/α at ς = σ/α (docs/training.md §1).
struct EdmCoefficients {
  at::Tensor c_skip, c_out, c_in, c_noise;
};

/// EDM's preconditioning and loss weight for a data standard deviation σ_d (0.5 for images in [−1, 1]).
/// The loss weight λ = (σ² + α²σ_d²)/(σ σ_d)² = 1/c_out² makes the loss λ‖D − x0‖² equal to
/// ‖F − (x0 − c_skip x)/c_out‖²: the raw network regresses a target of unit weight at every noise level
/// (and of unit variance when the data has variance σ_d²). Requires α > 0 and σ > 0 per sample (at σ = 0
/// c_noise is −∞; at α = 0 it is +∞): anything else is a domain_error naming the sample.
class EdmPreconditioning {
 public:
  explicit EdmPreconditioning(double sigma_data = 0.5) : sigma_data_(sigma_data) {
    EPS_CHECK(std::isfinite(sigma_data) && sigma_data > 0, value_error,
              "eps::networks::EdmPreconditioning: sigma_data must be finite and > 0, got ", sigma_data);
  }
  double sigma_data() const { return sigma_data_; }

  /// The coefficients for per-sample α and σ (1-D tensors of one length, any floating dtype and device).
  EdmCoefficients coefficients(const at::Tensor& alpha, const at::Tensor& sigma) const {
    check_levels(alpha, sigma, "eps::networks::EdmPreconditioning::coefficients");
    const double sd = sigma_data_;
    const at::Tensor v = sigma * sigma + alpha * alpha * (sd * sd);  // σ² + α²σ_d²
    const at::Tensor r = at::rsqrt(v);
    return {alpha * (sd * sd) / v, sigma * sd * r, r, 0.25 * at::log(sigma / alpha)};
  }

  /// λ = (σ² + α²σ_d²)/(σ σ_d)² per sample.
  at::Tensor loss_weight(const at::Tensor& alpha, const at::Tensor& sigma) const {
    check_levels(alpha, sigma, "eps::networks::EdmPreconditioning::loss_weight");
    const double sd = sigma_data_;
    return (sigma * sigma + alpha * alpha * (sd * sd)) / (sigma * sigma * (sd * sd));
  }

  /// D(x) = c_skip x + c_out F(c_in x, c_noise) for a batch x ([B, ...]) and a raw network
  /// F(input [B, ...], c_noise [B]) → [B, ...] (any extra inputs F needs, such as the observation
  /// channels of EPS, are captured by F).
  template <class F>
  at::Tensor denoise(F&& raw, const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& sigma) const {
    const EdmCoefficients c = coefficients(alpha, sigma);
    check_batch(x, alpha, "eps::networks::EdmPreconditioning::denoise");
    const at::Tensor out = eps::detail::libtorch::raw_output(std::forward<F>(raw), x, c.c_in, c.c_noise,
                                                             "eps::networks::EdmPreconditioning::denoise");
    return per_sample(c.c_skip, x) * x + per_sample(c.c_out, x) * out;
  }

  /// EDM's loss per sample: mean over the sample's entries of ‖F(c_in x_t, c_noise) − (x0 − c_skip x_t)/c_out‖²,
  /// which equals λ ‖D(x_t) − x0‖² (mean over entries) with x_t = α x0 + σ n. Returns [B]; the caller
  /// averages (or weights) over the batch.
  template <class F>
  at::Tensor loss(F&& raw, const at::Tensor& x0, const at::Tensor& noise, const at::Tensor& alpha,
                  const at::Tensor& sigma) const {
    const char* where = "eps::networks::EdmPreconditioning::loss";
    EPS_CHECK(x0.defined() && noise.defined() && x0.sizes() == noise.sizes(), shape_error, where,
              ": x0 and noise must have one shape, got ", eps::detail::libtorch::sizes_str(x0.sizes()), " and ",
              eps::detail::libtorch::sizes_str(noise.sizes()));
    check_batch(x0, alpha, where);
    const at::Tensor xt = per_sample(alpha, x0) * x0 + per_sample(sigma, x0) * noise;
    return loss_at(std::forward<F>(raw), xt, x0, alpha, sigma);
  }

  /// The same loss for a given network input x at level (α, σ): x_t, or the EPS pivot x̃ (docs/training.md
  /// §5), whose noise is at most σ, so that the preconditioning of level σ applies and a prior fine-tuned
  /// on x̃ starts as the prior. Returns [B].
  template <class F>
  at::Tensor loss_at(F&& raw, const at::Tensor& x, const at::Tensor& x0, const at::Tensor& alpha,
                     const at::Tensor& sigma) const {
    const char* where = "eps::networks::EdmPreconditioning::loss_at";
    EPS_CHECK(x.defined() && x0.defined() && x.sizes() == x0.sizes(), shape_error, where,
              ": x and x0 must have one shape, got ",
              x.defined() ? eps::detail::libtorch::sizes_str(x.sizes()) : "undefined", " and ",
              x0.defined() ? eps::detail::libtorch::sizes_str(x0.sizes()) : "undefined");
    const EdmCoefficients c = coefficients(alpha, sigma);
    check_batch(x0, alpha, where);
    const at::Tensor out = eps::detail::libtorch::raw_output(std::forward<F>(raw), x, c.c_in, c.c_noise, where);
    const at::Tensor target = (x0 - per_sample(c.c_skip, x) * x) / per_sample(c.c_out, x);
    return (out - target).square().flatten(1).mean(1);
  }

 private:
  static at::Tensor per_sample(const at::Tensor& v, const at::Tensor& x) {
    return eps::detail::libtorch::per_sample(v, x);
  }
  static void check_levels(const at::Tensor& alpha, const at::Tensor& sigma, const char* where) {
    EPS_CHECK(
        alpha.defined() && sigma.defined() && alpha.dim() == 1 && sigma.dim() == 1 && alpha.size(0) == sigma.size(0),
        shape_error, where, ": alpha and sigma must be 1-D of one length (one per sample), got ",
        alpha.defined() ? eps::detail::libtorch::sizes_str(alpha.sizes()) : "undefined", " and ",
        sigma.defined() ? eps::detail::libtorch::sizes_str(sigma.sizes()) : "undefined");
    const at::Tensor bad = (~(alpha > 0) | ~(sigma > 0) | ~at::isfinite(alpha) | ~at::isfinite(sigma)).nonzero();
    if (bad.size(0) > 0) {
      const std::int64_t i = bad[0][0].item<std::int64_t>();
      eps::detail::raise<domain_error>(where,
                                       ": the preconditioning needs finite alpha > 0 and sigma > 0 (0 < t < 1 on a ",
                                       "schedule with alpha(1) = 0); sample ", i,
                                       " has alpha=", alpha[i].item<double>(), ", sigma=", sigma[i].item<double>());
    }
  }
  static void check_batch(const at::Tensor& x, const at::Tensor& alpha, const char* where) {
    EPS_CHECK(x.defined() && x.dim() >= 1 && x.size(0) == alpha.size(0), shape_error, where,
              ": x must be [B, ...] with B = ", alpha.size(0), " (one level per sample), got ",
              x.defined() ? eps::detail::libtorch::sizes_str(x.sizes()) : "undefined");
  }

  double sigma_data_;
};

/// Per-sample times, α and σ on schedule s for noise ratios ς ([B], float64): t = t(ς) (the inverse of
/// eps::noise_ratio), clamped to the schedule's range of ratios. The map runs on the host (B scalar
/// inversions), the tensors are returned on ς's device.
struct TrainingLevels {
  at::Tensor t, alpha, sigma;
  at::Tensor alpha_dot, sigma_dot;  ///< dα/dt, dσ/dt (what velocity prediction needs)

  /// The same levels as the library's per-sample coefficients (host values), for eps/parametrization.hpp.
  BatchCoefficients coefficients() const {
    const auto host = [](const at::Tensor& v) {
      const at::Tensor h = v.to(at::kCPU, at::kDouble).contiguous();
      return BatchValues(std::vector<double>(h.data_ptr<double>(), h.data_ptr<double>() + h.numel()));
    };
    return {host(alpha), host(sigma), host(alpha_dot), host(sigma_dot)};
  }
};

template <Schedule S>
TrainingLevels training_levels(const S& s, const at::Tensor& ratio) {
  const char* where = "eps::networks::training_levels";
  EPS_CHECK(ratio.defined() && ratio.dim() == 1, shape_error, where, ": ratio must be 1-D (one per sample), got ",
            ratio.defined() ? eps::detail::libtorch::sizes_str(ratio.sizes()) : "undefined");
  const at::Tensor host = ratio.to(at::kCPU, at::kDouble).contiguous();
  const double lo = noise_ratio(s, s.t_min()), hi = noise_ratio(s, s.t_max());
  const std::int64_t n = host.size(0);
  at::Tensor t = at::empty({n}, at::kDouble), a = at::empty({n}, at::kDouble), g = at::empty({n}, at::kDouble);
  at::Tensor da = at::empty({n}, at::kDouble), dg = at::empty({n}, at::kDouble);
  const double* r = host.data_ptr<double>();
  for (std::int64_t i = 0; i < n; ++i) {
    EPS_CHECK(std::isfinite(r[i]) && r[i] > 0, value_error, where, ": ratio ", i, " must be finite and > 0, got ",
              r[i]);
    const double ti = time_from_noise_ratio(s, std::min(std::max(r[i], lo), hi));
    const Coefficients c = coefficients(s, ti);
    t.data_ptr<double>()[i] = ti;
    a.data_ptr<double>()[i] = c.alpha;
    g.data_ptr<double>()[i] = c.sigma;
    da.data_ptr<double>()[i] = c.alpha_dot;
    dg.data_ptr<double>()[i] = c.sigma_dot;
  }
  const at::Device d = ratio.device();
  return {t.to(d), a.to(d), g.to(d), da.to(d), dg.to(d)};
}

/// Velocity prediction (flow matching, docs/training.md §1): the raw network predicts the velocity
/// v = α' x0 + σ' ε of the interpolant, scaled to unit variance for data of variance σ_d²:
///   v̂(x) = c_v F(c_in x, c_noise),  c_v = √(α'² σ_d² + σ'²),  c_in, c_noise as EDM's.
/// For a noisy input x at (α, σ, α', σ') the target is the library's conversion
/// v* = eps::velocity_from_x0(x0, x, c) (docs/math.md §4.1), which is α' x0 + σ' ε for x = x_t and the
/// velocity that x0 implies for any other input (the EPS pivot); x̂0 comes back through
/// eps::x0_from_velocity. Needs α > 0, σ > 0 and α'σ − σ'α ≠ 0 per sample.
class VelocityParametrization {
 public:
  explicit VelocityParametrization(double sigma_data = 0.5) : edm_(sigma_data) {}
  double sigma_data() const { return edm_.sigma_data(); }

  /// c_v per sample ([B], float64, on α's device).
  at::Tensor velocity_scale(const TrainingLevels& lv) const {
    const double sd = edm_.sigma_data();
    return at::sqrt(lv.alpha_dot * lv.alpha_dot * (sd * sd) + lv.sigma_dot * lv.sigma_dot);
  }

  /// v̂(x) = c_v F(c_in x, c_noise).
  template <class F>
  at::Tensor velocity(F&& raw, const at::Tensor& x, const TrainingLevels& lv) const {
    const EdmCoefficients c = edm_.coefficients(lv.alpha, lv.sigma);
    const at::Tensor out = eps::detail::libtorch::raw_output(std::forward<F>(raw), x, c.c_in, c.c_noise,
                                                             "eps::networks::VelocityParametrization::velocity");
    return eps::detail::libtorch::per_sample(velocity_scale(lv), x) * out;
  }

  /// x̂0 = eps::x0_from_velocity(v̂(x), x, c): the denoiser the samplers use.
  template <class F>
  at::Tensor denoise(F&& raw, const at::Tensor& x, const TrainingLevels& lv) const {
    return eps::x0_from_velocity(velocity(std::forward<F>(raw), x, lv), x, lv.coefficients());
  }

  /// Mean over the sample's entries of ‖F(c_in x, c_noise) − v*/c_v‖², v* = eps::velocity_from_x0(x0, x, c).
  /// Returns [B].
  template <class F>
  at::Tensor loss_at(F&& raw, const at::Tensor& x, const at::Tensor& x0, const TrainingLevels& lv) const {
    const char* where = "eps::networks::VelocityParametrization::loss_at";
    EPS_CHECK(x.defined() && x0.defined() && x.sizes() == x0.sizes() && x.size(0) == lv.alpha.size(0), shape_error,
              where, ": x and x0 must be [B, ...] of one shape with B levels");
    const EdmCoefficients c = edm_.coefficients(lv.alpha, lv.sigma);
    const at::Tensor out = eps::detail::libtorch::raw_output(std::forward<F>(raw), x, c.c_in, c.c_noise, where);
    const at::Tensor target =
        eps::velocity_from_x0(x0, x, lv.coefficients()) / eps::detail::libtorch::per_sample(velocity_scale(lv), x);
    return (out - target).square().flatten(1).mean(1);
  }

 private:
  EdmPreconditioning edm_;
};

/// The zero-initialised widening of a pretrained first convolution (docs/math.md §5): a copy of `conv`
/// (same options, weights and bias, on the same device and dtype) that takes `extra` more input channels,
/// appended after the existing ones, with weights 0, so that on [x, anything] it computes exactly what
/// `conv` computed on x. The copy is a new module: register it in place of the old one.
inline torch::nn::Conv2d widen_input_channels(const torch::nn::Conv2d& conv, std::int64_t extra) {
  EPS_CHECK(!conv.is_empty(), value_error, "eps::networks::widen_input_channels: empty convolution");
  EPS_CHECK(extra >= 1, value_error, "eps::networks::widen_input_channels: extra channels must be >= 1, got ", extra);
  EPS_CHECK(conv->options.groups() == 1, value_error,
            "eps::networks::widen_input_channels: grouped convolutions are not supported (groups = ",
            conv->options.groups(), ")");
  const auto& c = conv->options;
  torch::nn::Conv2dOptions o(c.in_channels() + extra, c.out_channels(), c.kernel_size());
  o.stride(c.stride()).dilation(c.dilation()).groups(c.groups()).bias(c.bias()).padding_mode(c.padding_mode());
  o.padding(c.padding());
  torch::nn::Conv2d wide(o);
  wide->to(conv->weight.device(), conv->weight.scalar_type());
  at::NoGradGuard no_grad;
  const at::Tensor& w = conv->weight;
  wide->weight.copy_(at::cat({w, at::zeros({w.size(0), extra, w.size(2), w.size(3)}, w.options())}, 1));
  if (conv->bias.defined()) wide->bias.copy_(conv->bias);
  return wide;
}

}  // namespace eps::networks
