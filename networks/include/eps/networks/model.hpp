// SPDX-License-Identifier: MIT
/// @file model.hpp
/// A trained denoiser as the samplers need it (docs/own-model.md): a model file parsed once into what it is —
/// its objective (prior, EPS, Palette), the schedule it was trained on, what its network predicts, its data
/// range, σ_data and image shape — and the denoiser x̂0 = E[x0 | input] that makes of it on *any* schedule of
/// the library. Two sources:
///  - the eps.model files of `eps image train` (the U-Net; EDM preconditioning or velocity output);
///  - TorchScript modules from outside (`torch.jit.trace` / `torch.jit.script`, saved by a PyTorch that
///    this LibTorch reads), with a declared contract: a JSON file beside the module (`model.pt.json`), or a
///    string attribute `eps_contract` of the module. The contract says what the module predicts (x0, ε,
///    v = α ε − σ x0, or the flow velocity α' x0 + σ' ε), on which schedule (any named schedule of the library
///    with its parameters, or a table of ᾱ), what its time argument is (t, σ, σ/α, EDM's c_noise = ¼ ln σ/α,
///    or a timestep index), its data range ([−1, 1] or [0, 1] …), σ_data and its input layout (C × H × W).
///
/// The conversion (docs/own-model.md §1): eps samples in its own data space [−1, 1] on its own schedule; at a
/// level (α, σ) the input x is mapped to the model's data space by the affine map d ↦ m + s d of the ranges,
/// which turns the noise ratio ς = σ/α into s ς; the model is evaluated at the time of its own schedule with
/// that ratio, on α_m (s x/α + m), and its prediction goes back to x̂0 through the library's parametrizations
/// (eps/parametrization.hpp) and the inverse map. So one network serves every sampler and every schedule, and
/// the glue that wrapping a model usually gets wrong (σ ↔ t, c_in, [0, 1] against [−1, 1]) is written once.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "eps/backends/torch.hpp"
#include "eps/network_input.hpp"
#include "eps/schedule.hpp"

namespace eps::networks {

/// What a model is trained for.
enum class Objective { prior, eps, palette };

/// What a network's output is (before the conversion to x̂0).
enum class Prediction {
  edm_x0,        ///< eps.model: the raw network F of EDM's preconditioning, x̂0 = c_skip x + c_out F(c_in x, c_noise)
  edm_velocity,  ///< eps.model: the raw network of the velocity parametrization (docs/training.md §1)
  x0,            ///< x̂0 itself
  epsilon,       ///< ε̂: x̂0 = (x − σ ε̂)/α
  v,             ///< v = α ε − σ x0: x̂0 = (α x − σ v)/(α² + σ²)
  velocity       ///< the flow velocity α' x0 + σ' ε: x̂0 = eps::x0_from_velocity
};

/// What a TorchScript module takes as its second argument (one value per sample, float32).
enum class TimeInput {
  t,            ///< the schedule's time
  sigma,        ///< σ(t)
  noise_ratio,  ///< σ/α (EDM's σ for a VP model)
  c_noise,      ///< ¼ ln(σ/α) (EDM's c_noise)
  index         ///< a timestep index: t · (steps − 1) of a table schedule, t · steps otherwise
};

/// What a model is, parsed once.
struct Contract {
  Objective objective = Objective::prior;
  Prediction prediction = Prediction::x0;
  TimeInput time = TimeInput::t;
  AnySchedule schedule = AnySchedule(VeEdm{});
  nlohmann::json schedule_json;        ///< the schedule as declared (name and parameters, or the table)
  double data_min = -1, data_max = 1;  ///< the model's data range; eps's is [−1, 1]
  double sigma_data = 0.5;             ///< of the model's data (EDM preconditioning)
  std::int64_t channels = 1, height = 28, width = 28;
  std::int64_t steps = 1000;  ///< timesteps of TimeInput::index
  std::string source;         ///< "eps.model" or "torchscript"
};

/// Parses a contract (the JSON of a TorchScript module; docs/own-model.md §2). value_error naming the field
/// and what it expects for a missing or bad field, an unknown prediction, schedule or time input.
Contract parse_contract(const nlohmann::json& j, const std::string& where);

/// A trained model on a device. Copies share the network.
class Model {
 public:
  /// Reads an eps.model file or a TorchScript module with its contract. io_error for a missing, damaged or
  /// foreign file, one this LibTorch cannot read (a newer file format, an unknown operator: said so, with what
  /// to do), or a module without a contract; value_error for a bad contract; and, for TorchScript, a probe
  /// call on zeros of the declared shape must return that shape and finite values.
  static Model load(const std::filesystem::path& path, const at::Device& device);

  const Contract& contract() const;
  /// The training configuration of an eps.model file (empty for TorchScript).
  const nlohmann::json& config() const;
  std::int64_t step() const;
  const std::filesystem::path& path() const;
  /// The weights' hash (FNV-1a of every parameter and buffer).
  const std::string& hash() const;
  bool conditional() const { return contract().objective != Objective::prior; }
  /// σ_data in eps's data space (the contract's, divided by the scale of the data-range map).
  double sigma_data() const { return contract().sigma_data * 2 / (contract().data_max - contract().data_min); }
  /// "edm_prior", "eps" or "palette".
  const char* objective_name() const {
    return contract().objective == Objective::eps       ? "eps"
           : contract().objective == Objective::palette ? "palette"
                                                        : "edm_prior";
  }

  /// x̂0 in eps's data space for the input x at noise ratio ς = σ/α of x̄ = x/α (x: [B, C, H, W] in eps's data
  /// space; for EPS the pivot x̃, for Palette x_t, with the observation image appended as the model declares).
  /// Differentiable in x (autograd) for every source.
  at::Tensor x0(const at::Tensor& x_bar, double ratio, const at::Tensor& observation = {}) const;

  /// x̂0 of a prior at time t of schedule s: the denoiser the samplers and the training-free baselines take.
  template <Schedule S>
  at::Tensor denoise(const S& s, const at::Tensor& x, double t) const {
    const Coefficients c = coefficients(s, t);
    EPS_CHECK(c.alpha > 0 && c.sigma > 0, domain_error,
              "eps::networks::Model::denoise: needs alpha, sigma > 0, got t = ", t);
    return x0(x / c.alpha, c.sigma / c.alpha);
  }
  /// x̂0 of a conditional model (EPS: in.image = x̃; Palette: x_t) at time t of schedule s.
  template <Schedule S>
  at::Tensor conditional_denoise(const S& s, const ConditionalInput<at::Tensor>& in, double t) const {
    const Coefficients c = coefficients(s, t);
    EPS_CHECK(c.alpha > 0 && c.sigma > 0, domain_error,
              "eps::networks::Model::conditional_denoise: needs alpha, sigma > 0, got t = ", t);
    return x0(in.image / c.alpha, c.sigma / c.alpha, in.observation);
  }

  /// The schedule the model was trained on (samplers may run on any other: the conversion matches σ/α).
  const AnySchedule& schedule() const { return contract().schedule; }

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace eps::networks
