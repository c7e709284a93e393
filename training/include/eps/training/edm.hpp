// SPDX-License-Identifier: MIT
/// @file edm.hpp
/// Training a denoiser the way EDM does (docs/training.md §2–3), around the preconditioning of
/// eps/networks/preconditioning.hpp: the distribution of noise levels (EDM's log-normal, with a share of
/// log-uniform draws) and an exponential moving average of a module's weights. Library eps::training.
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
#include "eps/networks/preconditioning.hpp"

namespace eps::training {

using libtorch::Generator;

/// EDM's training distribution of noise levels: ln ς ~ N(P_mean, P_std²) (EDM: P_mean = −1.2, P_std = 1.2),
/// ς the noise ratio σ/α. On a schedule whose ratio is bounded (VP: ς(t_max) is finite; any schedule with
/// t_min > 0) a draw outside the schedule's range is clamped to its end (docs/training.md §2).
struct LogNormalNoise {
  double p_mean = -1.2, p_std = 1.2;

  /// n draws of ς (float64, on `device`), from `gen`'s generator for that device.
  at::Tensor sample(std::int64_t n, Generator& gen, const at::Device& device = at::kCPU) const {
    EPS_CHECK(n >= 1, value_error, "eps::training::LogNormalNoise::sample: n must be >= 1, got ", n);
    EPS_CHECK(std::isfinite(p_mean) && std::isfinite(p_std) && p_std >= 0, value_error,
              "eps::training::LogNormalNoise: p_mean must be finite and p_std finite and >= 0, got ", p_mean, ", ",
              p_std);
    const at::Tensor z = at::randn({n}, gen.on(device), at::TensorOptions().dtype(at::kDouble).device(device));
    return at::exp(p_mean + p_std * z);
  }
};

/// EDM's log-normal with a share of log-uniform draws (docs/training.md §2): with probability
/// `uniform_weight` a draw is ln ς ~ U(ln lo, ln hi), else ln ς ~ N(P_mean, P_std²). The log-normal puts
/// about 1 % of its mass above ς = 5, where a 20-step EDM grid from 80 spends 8 of its steps; the
/// log-uniform share covers the sampler's whole range. uniform_weight = 0 is LogNormalNoise, draw for draw.
struct MixedNoise {
  LogNormalNoise log_normal{};
  double uniform_weight = 0, lo = 0.002, hi = 80;

  at::Tensor sample(std::int64_t n, Generator& gen, const at::Device& device = at::kCPU) const {
    EPS_CHECK(std::isfinite(uniform_weight) && uniform_weight >= 0 && uniform_weight <= 1, value_error,
              "eps::training::MixedNoise: uniform_weight must be in [0, 1], got ", uniform_weight);
    EPS_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo > 0 && lo < hi, value_error,
              "eps::training::MixedNoise: the log-uniform range must be 0 < lo < hi (finite), got [", lo, ", ", hi,
              "]");
    const at::Tensor ln = log_normal.sample(n, gen, device);
    if (uniform_weight == 0) return ln;
    const auto opt = at::TensorOptions().dtype(at::kDouble).device(device);
    const at::Tensor pick = at::rand({n}, gen.on(device), opt) < uniform_weight;
    const at::Tensor u = at::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * at::rand({n}, gen.on(device), opt));
    return at::where(pick, u, ln);
  }
};

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
              "eps::training::Ema::decay_for_half_life: batch and half_life must be finite and > 0, got ", batch,
              " and ", half_life);
    return std::pow(0.5, batch / half_life);
  }

  /// θ̄ ← β θ̄ + (1 − β) θ for every parameter; buffers are copied.
  void update(const torch::nn::Module& m, double beta) {
    EPS_CHECK(beta >= 0 && beta <= 1, value_error, "eps::training::Ema::update: beta must be in [0, 1], got ", beta);
    at::NoGradGuard no_grad;
    const auto current = tensors_of(m, "eps::training::Ema::update");
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
    const auto current = tensors_of(m, "eps::training::Ema::copy_to");
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      at::Tensor dst = current[i];
      dst.copy_(entries_[i].value);
    }
  }

  /// Replaces the average by `tensors` (from a checkpoint: named_tensors()'s values, in that order); each
  /// must have the shape of the tensor it replaces, else shape_error. Copies into the existing storage, so
  /// the average keeps its devices and dtypes.
  void assign(const std::vector<at::Tensor>& tensors) {
    EPS_CHECK(tensors.size() == entries_.size(), shape_error, "eps::training::Ema::assign: got ", tensors.size(),
              " tensors, the average has ", entries_.size());
    for (std::size_t i = 0; i < tensors.size(); ++i)
      EPS_CHECK(tensors[i].defined() && tensors[i].sizes() == entries_[i].value.sizes(), shape_error,
                "eps::training::Ema::assign: tensor ", i, " ('", entries_[i].name, "') must be ",
                eps::detail::libtorch::sizes_str(entries_[i].value.sizes()), ", got ",
                tensors[i].defined() ? eps::detail::libtorch::sizes_str(tensors[i].sizes()) : "undefined");
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
                eps::detail::libtorch::sizes_str(got[i].second.sizes()), ", the average's '", entries_[i].name, "' ",
                eps::detail::libtorch::sizes_str(entries_[i].value.sizes()));
      out.push_back(got[i].second);
    }
    return out;
  }

  std::vector<Entry> entries_;
};

}  // namespace eps::training
