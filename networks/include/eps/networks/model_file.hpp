// SPDX-License-Identifier: MIT
/// @file model_file.hpp
/// The model files of the image pipeline (docs/training.md §8; format `eps.model`): a trained U-Net's EMA
/// weights with the training configuration that says how to use it — its objective (edm_prior, eps,
/// palette), schedule (ve, linear), output (x0 through EDM preconditioning, or velocity) and sigma_data —
/// and the denoiser that configuration defines. Library eps::networks (component torch).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>

#include "eps/error.hpp"
#include "eps/network_input.hpp"
#include "eps/networks/archive.hpp"
#include "eps/networks/preconditioning.hpp"
#include "eps/networks/unet.hpp"
#include "eps/schedule.hpp"

namespace eps::networks {

/// A trained network: its configuration (the training configuration, with "network" describing the
/// U-Net) and the network holding the EMA weights, in evaluation mode.
struct ModelFile {
  nlohmann::json config;
  std::int64_t step = 0;
  UNet net{nullptr};
};

/// Reads a model file onto `device`; io_error for a missing, corrupt or foreign file (a training
/// checkpoint, for instance).
ModelFile read_model(const std::filesystem::path& path, const at::Device& device);

/// Writes `net`'s weights with the training configuration `config` (with "network": to_json of the
/// U-Net's) and `step` to `path` atomically, as read_model reads them (format eps.model, version 1).
void write_model(const std::filesystem::path& path, const torch::nn::Module& net, const nlohmann::json& config,
                 std::int64_t step);

/// The U-Net configuration recorded in a model's configuration ("network"), and its inverse.
nlohmann::json to_json(const UNetConfig& c);
UNetConfig unet_config_from_json(const nlohmann::json& j);

/// x̂0 of a model's raw network F(input, c_noise) at time t of schedule s, for the network input x (x_t,
/// or the pivot x̃ for EPS): EDM preconditioning or the velocity parametrization, as the model's
/// configuration says (docs/training.md §1), with its sigma_data.
template <Schedule S, class Raw>
at::Tensor model_denoise(const nlohmann::json& config, const S& s, Raw&& raw, const at::Tensor& x, double t) {
  const Coefficients c = coefficients(s, t);
  const std::int64_t b = x.size(0);
  const auto full = [&](double v) {
    return at::full({b}, v, at::TensorOptions().dtype(at::kDouble).device(x.device()));
  };
  const double sigma_data = config.value("sigma_data", 0.5);
  if (config.value("output", "x0") == "velocity") {
    TrainingLevels lv{full(t), full(c.alpha), full(c.sigma), full(c.alpha_dot), full(c.sigma_dot)};
    return VelocityParametrization(sigma_data).denoise(raw, x, lv);
  }
  return EdmPreconditioning(sigma_data).denoise(raw, x, full(c.alpha), full(c.sigma));
}

/// x̂0 of a model fed x alone (a prior: x = x_t, or the pivot for the zero-shot denoiser) at time t.
template <Schedule S>
at::Tensor denoise(const ModelFile& m, const S& s, const at::Tensor& x, double t) {
  UNet net = m.net;  // a handle: forward is not const
  return model_denoise(
      m.config, s, [&](const at::Tensor& xi, const at::Tensor& c) { return net->forward(xi, c); }, x, t);
}

/// x̂0 of a conditional model (EPS: [x̃, observation image]; Palette: [x_t, observation image]) at time t:
/// the two inputs concatenated along channels, the preconditioning applied to `in.image`.
template <Schedule S>
at::Tensor conditional_denoise(const ModelFile& m, const S& s, const ConditionalInput<at::Tensor>& in, double t) {
  UNet net = m.net;
  return model_denoise(
      m.config, s,
      [&](const at::Tensor& xi, const at::Tensor& c) { return net->forward(at::cat({xi, in.observation}, 1), c); },
      in.image, t);
}

/// Calls f(schedule) with the schedule a model was trained on ("ve": VeEdm, "linear": Linear).
template <class F>
decltype(auto) with_schedule(const nlohmann::json& config, F&& f) {
  const std::string s = config.value("schedule", "ve");
  if (s == "linear") return f(Linear{});
  EPS_CHECK(s == "ve", value_error, "model schedule '", s, "': expected ve or linear");
  return f(VeEdm{});
}

}  // namespace eps::networks
