// SPDX-License-Identifier: MIT
/// @file torch_edm.hpp
/// Training a denoiser on LibTorch the way EDM does (docs/training.md): the preconditioning of a raw
/// network, its loss weight, log-normal noise levels mapped onto any schedule of the library, and an
/// exponential moving average of a module's weights. Written for every schedule: the network sees
/// x̄ = x/α at the noise ratio ς = σ/α (docs/math.md §4.2), so that for VE (α = 1) it is EDM verbatim.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "eps/backends/torch.hpp"
#include "eps/error.hpp"
#include "eps/schedule.hpp"

namespace eps::libtorch {

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
              "eps::libtorch::EdmPreconditioning: sigma_data must be finite and > 0, got ", sigma_data);
  }
  double sigma_data() const { return sigma_data_; }

  /// The coefficients for per-sample α and σ (1-D tensors of one length, any floating dtype and device).
  EdmCoefficients coefficients(const at::Tensor& alpha, const at::Tensor& sigma) const {
    check_levels(alpha, sigma, "eps::libtorch::EdmPreconditioning::coefficients");
    const double sd = sigma_data_;
    const at::Tensor v = sigma * sigma + alpha * alpha * (sd * sd);  // σ² + α²σ_d²
    const at::Tensor r = at::rsqrt(v);
    return {alpha * (sd * sd) / v, sigma * sd * r, r, 0.25 * at::log(sigma / alpha)};
  }

  /// λ = (σ² + α²σ_d²)/(σ σ_d)² per sample.
  at::Tensor loss_weight(const at::Tensor& alpha, const at::Tensor& sigma) const {
    check_levels(alpha, sigma, "eps::libtorch::EdmPreconditioning::loss_weight");
    const double sd = sigma_data_;
    return (sigma * sigma + alpha * alpha * (sd * sd)) / (sigma * sigma * (sd * sd));
  }

  /// D(x) = c_skip x + c_out F(c_in x, c_noise) for a batch x ([B, ...]) and a raw network
  /// F(input [B, ...], c_noise [B]) → [B, ...] (any extra inputs F needs, such as the observation
  /// channels of EPS, are captured by F).
  template <class F>
  at::Tensor denoise(F&& raw, const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& sigma) const {
    const EdmCoefficients c = coefficients(alpha, sigma);
    check_batch(x, alpha, "eps::libtorch::EdmPreconditioning::denoise");
    const at::Tensor out = raw(per_sample(c.c_in, x) * x, c.c_noise);
    EPS_CHECK(out.sizes() == x.sizes(), shape_error,
              "eps::libtorch::EdmPreconditioning::denoise: the network returned ",
              detail::libtorch::sizes_str(out.sizes()), " for an input of ", detail::libtorch::sizes_str(x.sizes()));
    return per_sample(c.c_skip, x) * x + per_sample(c.c_out, x) * out;
  }

  /// EDM's loss per sample: mean over the sample's entries of ‖F(c_in x_t, c_noise) − (x0 − c_skip x_t)/c_out‖²,
  /// which equals λ ‖D(x_t) − x0‖² (mean over entries) with x_t = α x0 + σ n. Returns [B]; the caller
  /// averages (or weights) over the batch.
  template <class F>
  at::Tensor loss(F&& raw, const at::Tensor& x0, const at::Tensor& noise, const at::Tensor& alpha,
                  const at::Tensor& sigma) const {
    const char* where = "eps::libtorch::EdmPreconditioning::loss";
    EPS_CHECK(x0.defined() && noise.defined() && x0.sizes() == noise.sizes(), shape_error, where,
              ": x0 and noise must have one shape, got ", detail::libtorch::sizes_str(x0.sizes()), " and ",
              detail::libtorch::sizes_str(noise.sizes()));
    const EdmCoefficients c = coefficients(alpha, sigma);
    check_batch(x0, alpha, where);
    const at::Tensor xt = per_sample(alpha, x0) * x0 + per_sample(sigma, x0) * noise;
    const at::Tensor out = raw(per_sample(c.c_in, xt) * xt, c.c_noise);
    EPS_CHECK(out.sizes() == x0.sizes(), shape_error, where, ": the network returned ",
              detail::libtorch::sizes_str(out.sizes()), " for an input of ", detail::libtorch::sizes_str(x0.sizes()));
    const at::Tensor target = (x0 - per_sample(c.c_skip, xt) * xt) / per_sample(c.c_out, xt);
    return (out - target).square().flatten(1).mean(1);
  }

 private:
  /// v ([B]) viewed as [B, 1, 1, ...] to broadcast against x.
  static at::Tensor per_sample(const at::Tensor& v, const at::Tensor& x) {
    std::vector<std::int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
    shape[0] = v.size(0);
    return v.to(x.scalar_type()).view(shape);
  }
  static void check_levels(const at::Tensor& alpha, const at::Tensor& sigma, const char* where) {
    EPS_CHECK(
        alpha.defined() && sigma.defined() && alpha.dim() == 1 && sigma.dim() == 1 && alpha.size(0) == sigma.size(0),
        shape_error, where, ": alpha and sigma must be 1-D of one length (one per sample), got ",
        alpha.defined() ? detail::libtorch::sizes_str(alpha.sizes()) : "undefined", " and ",
        sigma.defined() ? detail::libtorch::sizes_str(sigma.sizes()) : "undefined");
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
              x.defined() ? detail::libtorch::sizes_str(x.sizes()) : "undefined");
  }

  double sigma_data_;
};

/// EDM's training distribution of noise levels: ln ς ~ N(P_mean, P_std²) (EDM: P_mean = −1.2, P_std = 1.2),
/// ς the noise ratio σ/α. On a schedule whose ratio is bounded (VP: ς(t_max) is finite; any schedule with
/// t_min > 0) a draw outside the schedule's range is clamped to its end (docs/training.md §2).
struct LogNormalNoise {
  double p_mean = -1.2, p_std = 1.2;

  /// n draws of ς (float64, on `device`), from `gen`'s generator for that device.
  at::Tensor sample(std::int64_t n, Generator& gen, const at::Device& device = at::kCPU) const {
    EPS_CHECK(n >= 1, value_error, "eps::libtorch::LogNormalNoise::sample: n must be >= 1, got ", n);
    EPS_CHECK(std::isfinite(p_mean) && std::isfinite(p_std) && p_std >= 0, value_error,
              "eps::libtorch::LogNormalNoise: p_mean must be finite and p_std finite and >= 0, got ", p_mean, ", ",
              p_std);
    const at::Tensor z = at::randn({n}, gen.on(device), at::TensorOptions().dtype(at::kDouble).device(device));
    return at::exp(p_mean + p_std * z);
  }
};

/// Per-sample times, α and σ on schedule s for noise ratios ς ([B], float64): t = t(ς) (the inverse of
/// eps::noise_ratio), clamped to the schedule's range of ratios. The map runs on the host (B scalar
/// inversions), the tensors are returned on ς's device.
struct TrainingLevels {
  at::Tensor t, alpha, sigma;
};

template <Schedule S>
TrainingLevels training_levels(const S& s, const at::Tensor& ratio) {
  const char* where = "eps::libtorch::training_levels";
  EPS_CHECK(ratio.defined() && ratio.dim() == 1, shape_error, where, ": ratio must be 1-D (one per sample), got ",
            ratio.defined() ? detail::libtorch::sizes_str(ratio.sizes()) : "undefined");
  const at::Tensor host = ratio.to(at::kCPU, at::kDouble).contiguous();
  const double lo = noise_ratio(s, s.t_min()), hi = noise_ratio(s, s.t_max());
  const std::int64_t n = host.size(0);
  at::Tensor t = at::empty({n}, at::kDouble), a = at::empty({n}, at::kDouble), g = at::empty({n}, at::kDouble);
  const double* r = host.data_ptr<double>();
  for (std::int64_t i = 0; i < n; ++i) {
    EPS_CHECK(std::isfinite(r[i]) && r[i] > 0, value_error, where, ": ratio ", i, " must be finite and > 0, got ",
              r[i]);
    const double ti = time_from_noise_ratio(s, std::min(std::max(r[i], lo), hi));
    const Coefficients c = coefficients(s, ti);
    t.data_ptr<double>()[i] = ti;
    a.data_ptr<double>()[i] = c.alpha;
    g.data_ptr<double>()[i] = c.sigma;
  }
  const at::Device d = ratio.device();
  return {t.to(d), a.to(d), g.to(d)};
}

/// An exponential moving average of a module's parameters (buffers are copied, not averaged):
///   θ̄ ← β θ̄ + (1 − β) θ after every optimizer step. EDM sets β from a half-life in training images:
///   β = 0.5^(batch / half_life) (`decay_for_half_life`). The average lives on the module's devices
///   and dtypes; it is matched to the module by parameter names, and a module of another structure is
///   a shape_error that names the first mismatch.
class Ema {
 public:
  explicit Ema(const torch::nn::Module& m) {
    for (const auto& p : m.named_parameters(true)) entries_.push_back({p.key(), p.value().detach().clone(), false});
    for (const auto& b : m.named_buffers(true)) entries_.push_back({b.key(), b.value().detach().clone(), true});
  }

  /// β = 0.5^(batch / half_life): the weight of an update falls to one half after half_life samples.
  static double decay_for_half_life(double batch, double half_life) {
    EPS_CHECK(batch > 0 && half_life > 0 && std::isfinite(batch) && std::isfinite(half_life), value_error,
              "eps::libtorch::Ema::decay_for_half_life: batch and half_life must be finite and > 0, got ", batch,
              " and ", half_life);
    return std::pow(0.5, batch / half_life);
  }

  /// θ̄ ← β θ̄ + (1 − β) θ for every parameter; buffers are copied.
  void update(const torch::nn::Module& m, double beta) {
    EPS_CHECK(beta >= 0 && beta <= 1, value_error, "eps::libtorch::Ema::update: beta must be in [0, 1], got ", beta);
    at::NoGradGuard no_grad;
    const auto current = tensors_of(m, "eps::libtorch::Ema::update");
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].buffer)
        entries_[i].value.copy_(current[i]);
      else
        entries_[i].value.mul_(beta).add_(current[i], 1 - beta);
    }
  }

  /// Writes the average into m (for evaluation, or to save the EMA weights).
  void copy_to(torch::nn::Module& m) const {
    at::NoGradGuard no_grad;
    const auto current = tensors_of(m, "eps::libtorch::Ema::copy_to");
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      at::Tensor dst = current[i];
      dst.copy_(entries_[i].value);
    }
  }

  /// Replaces the average by `tensors` (from a checkpoint: named_tensors()'s values, in that order); each
  /// must have the shape of the tensor it replaces, else shape_error. Copies into the existing storage, so
  /// the average keeps its devices and dtypes.
  void assign(const std::vector<at::Tensor>& tensors) {
    EPS_CHECK(tensors.size() == entries_.size(), shape_error, "eps::libtorch::Ema::assign: got ", tensors.size(),
              " tensors, the average has ", entries_.size());
    for (std::size_t i = 0; i < tensors.size(); ++i)
      EPS_CHECK(tensors[i].defined() && tensors[i].sizes() == entries_[i].value.sizes(), shape_error,
                "eps::libtorch::Ema::assign: tensor ", i, " ('", entries_[i].name, "') must be ",
                detail::libtorch::sizes_str(entries_[i].value.sizes()), ", got ",
                tensors[i].defined() ? detail::libtorch::sizes_str(tensors[i].sizes()) : "undefined");
    at::NoGradGuard no_grad;
    for (std::size_t i = 0; i < tensors.size(); ++i) entries_[i].value.copy_(tensors[i]);
  }

  /// The averaged tensors, parameters first then buffers, in the module's order (for checkpoints).
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() const {
    std::vector<std::pair<std::string, at::Tensor>> out;
    for (const auto& e : entries_) out.emplace_back(e.name, e.value);
    return out;
  }

 private:
  struct Entry {
    std::string name;
    at::Tensor value;
    bool buffer;
  };
  std::vector<at::Tensor> tensors_of(const torch::nn::Module& m, const char* where) const {
    std::vector<std::pair<std::string, at::Tensor>> got;
    for (const auto& p : m.named_parameters(true)) got.emplace_back(p.key(), p.value());
    for (const auto& b : m.named_buffers(true)) got.emplace_back(b.key(), b.value());
    EPS_CHECK(got.size() == entries_.size(), shape_error, where, ": the module has ", got.size(),
              " parameters and buffers, the average ", entries_.size());
    std::vector<at::Tensor> out;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EPS_CHECK(got[i].first == entries_[i].name && got[i].second.sizes() == entries_[i].value.sizes(), shape_error,
                where, ": the module's tensor ", i, " is '", got[i].first, "' ",
                detail::libtorch::sizes_str(got[i].second.sizes()), ", the average's '", entries_[i].name, "' ",
                detail::libtorch::sizes_str(entries_[i].value.sizes()));
      out.push_back(got[i].second);
    }
    return out;
  }

  std::vector<Entry> entries_;
};

}  // namespace eps::libtorch
