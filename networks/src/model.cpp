// SPDX-License-Identifier: MIT
#include "eps/networks/model.hpp"

#include <caffe2/serialize/versions.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <vector>

#include "eps/file.hpp"
#include "eps/networks/model_file.hpp"
#include "eps/networks/torch_compat.hpp"
#include "eps/networks/zip_check.hpp"
#include "eps/parametrization.hpp"

namespace eps::networks {
namespace {

using json = nlohmann::json;

std::string hash_of(const std::vector<at::Tensor>& tensors) {
  std::uint64_t h = 1469598103934665603ull;
  for (const at::Tensor& t : tensors) {
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const auto* p = static_cast<const unsigned char*>(c.data_ptr());
    for (std::size_t i = 0; i < static_cast<std::size_t>(c.nbytes()); ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  std::ostringstream os;
  os << std::hex << std::setw(16) << std::setfill('0') << h;
  return os.str();
}

/// A schedule given by a table of ᾱ (DDPM's alphas_cumprod): t ∈ [0, 1] is the fractional index
/// u = t (T − 1); log ᾱ is interpolated linearly between entries; α = √ᾱ, σ = √(1 − ᾱ).
AnySchedule table_schedule(std::vector<double> abar, const std::string& where) {
  EPS_CHECK(abar.size() >= 2, value_error, where, ".schedule.alphas_cumprod: need at least 2 values, got ",
            abar.size());
  for (std::size_t i = 0; i < abar.size(); ++i) {
    EPS_CHECK(std::isfinite(abar[i]) && abar[i] > 0 && abar[i] < 1, value_error, where, ".schedule.alphas_cumprod[", i,
              "] must lie in (0, 1), got ", abar[i]);
    EPS_CHECK(i == 0 || abar[i] < abar[i - 1], value_error, where,
              ".schedule.alphas_cumprod must decrease strictly (at index ", i, ")");
  }
  auto log_abar = std::make_shared<std::vector<double>>();
  for (double a : abar) log_abar->push_back(std::log(a));
  const double n = double(abar.size() - 1);
  // log ᾱ(t) and its derivative, piecewise linear in u = t·n.
  const auto la = [log_abar, n](double t) {
    const double u = std::clamp(t, 0.0, 1.0) * n;
    const auto i = static_cast<std::size_t>(std::min(std::floor(u), n - 1));
    return (*log_abar)[i] + (u - double(i)) * ((*log_abar)[i + 1] - (*log_abar)[i]);
  };
  const auto dla = [log_abar, n](double t) {
    const double u = std::clamp(t, 0.0, 1.0) * n;
    const auto i = static_cast<std::size_t>(std::min(std::floor(u), n - 1));
    return n * ((*log_abar)[i + 1] - (*log_abar)[i]);
  };
  const auto alpha = [la](double t) { return std::exp(0.5 * la(t)); };
  const auto sigma = [la](double t) { return std::sqrt(-std::expm1(la(t))); };
  return AnySchedule(
      alpha, sigma, [alpha, dla](double t) { return 0.5 * dla(t) * alpha(t); },
      [la, dla, sigma](double t) { return -0.5 * dla(t) * std::exp(la(t)) / sigma(t); }, 0.0, 1.0, "table");
}

/// A named schedule of the library with its parameters: "ve_edm", or {"name": "vp_linear", "beta_min": …}.
AnySchedule schedule_of(const json& s, const std::string& where) {
  const auto num = [&](const json& o, const char* key, double dflt) {
    if (!o.contains(key)) return dflt;
    EPS_CHECK(o[key].is_number() && std::isfinite(o[key].get<double>()), value_error, where, ".schedule.", key,
              ": expected a finite number");
    return o[key].get<double>();
  };
  if (s.is_string()) return make_schedule(s.get<std::string>());
  EPS_CHECK(s.is_object() && s.contains("name") && s["name"].is_string(), value_error, where,
            ".schedule: expected a schedule name or {\"name\": …, parameters}");
  const std::string name = s["name"].get<std::string>();
  if (name == "vp_linear") {
    VpLinear v{num(s, "beta_min", 0.1), num(s, "beta_max", 20.0)};
    EPS_CHECK(v.beta_min > 0 && v.beta_max > v.beta_min, value_error, where,
              ".schedule: need 0 < beta_min < beta_max, got ", v.beta_min, ", ", v.beta_max);
    return AnySchedule(v);
  }
  if (name == "vp_cosine") return AnySchedule(VpCosine{num(s, "s", 0.008)});
  if (name == "ve_edm" || name == "ve_geometric") {
    const double lo = num(s, "sigma_min", 0.002), hi = num(s, "sigma_max", 80.0);
    EPS_CHECK(lo > 0 && hi > lo, value_error, where, ".schedule: need 0 < sigma_min < sigma_max, got ", lo, ", ", hi);
    return name == "ve_edm" ? AnySchedule(VeEdm{lo, hi}) : AnySchedule(VeGeometric{lo, hi});
  }
  if (name == "table") {
    EPS_CHECK(s.contains("alphas_cumprod") && s["alphas_cumprod"].is_array(), value_error, where,
              ".schedule: a table needs \"alphas_cumprod\": [ᾱ_0, …, ᾱ_{T−1}]");
    std::vector<double> a;
    for (const json& v : s["alphas_cumprod"]) {
      EPS_CHECK(v.is_number(), value_error, where, ".schedule.alphas_cumprod: expected numbers");
      a.push_back(v.get<double>());
    }
    return table_schedule(std::move(a), where);
  }
  return make_schedule(name);  // the others have no parameters (value_error lists the names)
}

template <class E>
E one_of(const json& j, const char* key, const std::vector<std::pair<const char*, E>>& names, const std::string& where,
         std::optional<E> dflt = std::nullopt) {
  if (!j.contains(key)) {
    EPS_CHECK(dflt.has_value(), value_error, where, ": missing \"", key, "\"");
    return *dflt;
  }
  std::string list;
  for (const auto& [n, e] : names) {
    if (j[key].is_string() && j[key].get<std::string>() == n) return e;
    list += (list.empty() ? "" : ", ") + std::string(n);
  }
  detail::raise<value_error>(where, ".", key, ": ", j[key].dump(), " is not one of ", list);
}

}  // namespace

Contract parse_contract(const json& j, const std::string& where) {
  EPS_CHECK(j.is_object(), value_error, where, ": a contract is a JSON object");
  Contract c;
  c.source = "torchscript";
  c.objective = one_of<Objective>(j, "objective", {{"prior", Objective::prior}}, where, Objective::prior);
  c.prediction = one_of<Prediction>(j, "predicts",
                                    {{"x0", Prediction::x0},
                                     {"epsilon", Prediction::epsilon},
                                     {"v", Prediction::v},
                                     {"velocity", Prediction::velocity}},
                                    where);
  c.time = one_of<TimeInput>(j, "time",
                             {{"t", TimeInput::t},
                              {"sigma", TimeInput::sigma},
                              {"noise_ratio", TimeInput::noise_ratio},
                              {"c_noise", TimeInput::c_noise},
                              {"index", TimeInput::index}},
                             where);
  EPS_CHECK(j.contains("schedule"), value_error, where, ": missing \"schedule\"");
  c.schedule = schedule_of(j["schedule"], where);
  c.schedule_json = j["schedule"];
  if (j["schedule"].is_object() && j["schedule"].contains("alphas_cumprod"))
    c.steps = static_cast<std::int64_t>(j["schedule"]["alphas_cumprod"].size());
  if (j.contains("steps")) {
    EPS_CHECK(j["steps"].is_number_integer() && j["steps"].get<std::int64_t>() >= 1, value_error, where,
              ".steps: expected an integer >= 1");
    c.steps = j["steps"].get<std::int64_t>();
  }
  if (j.contains("data_range")) {
    const json& r = j["data_range"];
    EPS_CHECK(r.is_array() && r.size() == 2 && r[0].is_number() && r[1].is_number() &&
                  r[0].get<double>() < r[1].get<double>(),
              value_error, where, ".data_range: expected [lo, hi] with lo < hi");
    c.data_min = r[0].get<double>();
    c.data_max = r[1].get<double>();
  }
  if (j.contains("sigma_data")) {
    EPS_CHECK(j["sigma_data"].is_number() && j["sigma_data"].get<double>() > 0, value_error, where,
              ".sigma_data: expected a number > 0");
    c.sigma_data = j["sigma_data"].get<double>();
  }
  EPS_CHECK(j.contains("shape") && j["shape"].is_array() && j["shape"].size() == 3, value_error, where,
            ": missing \"shape\": [C, H, W] (the input layout)");
  for (const json& d : j["shape"])
    EPS_CHECK(d.is_number_integer() && d.get<std::int64_t>() >= 1 && d.get<std::int64_t>() <= 4096, value_error, where,
              ".shape: expected three integers in [1, 4096]");
  c.channels = j["shape"][0].get<std::int64_t>();
  c.height = j["shape"][1].get<std::int64_t>();
  c.width = j["shape"][2].get<std::int64_t>();
  return c;
}

struct Model::Impl {
  Contract contract;
  json config = json::object();
  std::int64_t step = 0;
  std::filesystem::path path;
  std::string hash;
  at::Device device = at::kCPU;
  UNet unet{nullptr};                 ///< eps.model
  mutable torch::jit::Module module;  ///< TorchScript (forward is not const)
  bool torchscript = false;
};

namespace {

/// eps.model: the configuration of `eps image train` as a contract.
Contract contract_of(const json& config) {
  Contract c;
  c.source = "eps.model";
  const std::string obj = config.value("objective", "edm_prior");
  c.objective = obj == "eps" ? Objective::eps : obj == "palette" ? Objective::palette : Objective::prior;
  c.prediction = config.value("output", "x0") == "velocity" ? Prediction::edm_velocity : Prediction::edm_x0;
  const std::string s = config.value("schedule", "ve");
  EPS_CHECK(s == "ve" || s == "linear", io_error, "model schedule '", s, "': expected ve or linear");
  c.schedule = s == "linear" ? AnySchedule(Linear{}) : AnySchedule(VeEdm{});
  c.schedule_json = s == "linear" ? "linear" : "ve_edm";
  c.sigma_data = config.value("sigma_data", 0.5);
  return c;
}

static_assert(kMaxTorchFileFormat == caffe2::serialize::kMaxSupportedFileFormatVersion,
              "zip_problem's newest file format must be LibTorch's");

/// What LibTorch's error on loading a module means for the user.
[[noreturn]] void torchscript_error(const std::filesystem::path& path, const std::string& what) {
  const std::string v = compat::torch_version;
  std::string advice;
  if (what.find("version") != std::string::npos && what.find("support") != std::string::npos)
    advice = "it was saved by a PyTorch newer than this LibTorch (" + v +
             ") reads: export it from the Python code with a torch no newer than " + v +
             " (Debian's python3-torch of the same release; loading and saving the file again with the newer torch "
             "does not help)";
  else if (what.find("Unknown builtin op") != std::string::npos || what.find("Unknown type") != std::string::npos ||
           what.find("schema") != std::string::npos)
    advice = "it uses an operator or type this LibTorch (" + v + ") does not know: export it with torch " + v +
             ", or trace a module that avoids it";
  else
    advice = "it is not a TorchScript module this LibTorch (" + v +
             ") can read (torch.jit.trace or torch.jit.script, then torch.jit.save)";
  detail::raise<io_error>("'", path.string(), "': ", advice, " (LibTorch: ", what.substr(0, 400), ")");
}

}  // namespace

Model Model::load(const std::filesystem::path& path, const at::Device& device) {
  compat::check_convolutions();
  auto m = std::make_shared<Impl>();
  m->path = path;
  m->device = device;
  const std::string bytes = read_file(path);
  if (const auto problem = zip_problem(bytes, false))
    detail::raise<io_error>("'", path.string(), "' is not a usable model: ", *problem);
  // eps's own files hold only module declarations and format = eps.model; anything else is TorchScript.
  bool eps_model = false;
  if (!zip_problem(bytes, true)) {
    torch::serialize::InputArchive ar;
    load_archive(path, ar, at::kCPU, "model file");
    c10::IValue v;
    eps_model = ar.try_read("format", v) && v.isString() && v.toStringRef() == "eps.model";
  }
  if (eps_model) {
    ModelFile f = read_model(path, device);
    m->config = f.config;
    m->step = f.step;
    m->unet = f.net;
    m->contract = contract_of(f.config);
    const UNetConfig& nc = f.net->config();
    m->contract.channels = nc.out_channels;
    std::vector<at::Tensor> all = f.net->parameters();
    for (const auto& b : f.net->buffers()) all.push_back(b);
    m->hash = hash_of(all);
  } else {
    m->torchscript = true;
    try {
      std::istringstream is(bytes);
      m->module = torch::jit::load(is, device);
    } catch (const std::exception& e) {
      torchscript_error(path, e.what());
    }
    m->module.eval();
    json contract;
    const std::filesystem::path beside = path.string() + ".json";
    std::string where;
    if (m->module.hasattr("eps_contract")) {
      const c10::IValue a = m->module.attr("eps_contract");
      EPS_CHECK(a.isString(), value_error, "'", path.string(), "': the attribute eps_contract must be a JSON string");
      where = path.string() + " (eps_contract)";
      try {
        contract = json::parse(a.toStringRef());
      } catch (const json::exception& e) {
        detail::raise<value_error>(where, ": not valid JSON (", e.what(), ")");
      }
    } else {
      EPS_CHECK(std::filesystem::exists(beside), io_error, "'", path.string(),
                "' is a TorchScript module without a contract: write '", beside.string(),
                "' (what it predicts, its schedule, time input, data range and shape; docs/own-model.md §2) or give "
                "the module a string attribute eps_contract");
      where = beside.string();
      try {
        contract = json::parse(read_file(beside));
      } catch (const json::exception& e) {
        detail::raise<value_error>(where, ": not valid JSON (", e.what(), ")");
      }
    }
    m->contract = parse_contract(contract, where);
    std::vector<at::Tensor> all;
    for (const auto& p : m->module.parameters()) all.push_back(p);
    for (const auto& b : m->module.buffers()) all.push_back(b);
    m->hash = hash_of(all);
    for (auto p : m->module.parameters()) p.requires_grad_(false);  // VJPs need x only
  }
  Model model;
  model.impl_ = std::move(m);
  if (model.impl_->torchscript) {  // the probe: zeros of the declared shape, at the middle of the schedule
    const Contract& c = model.contract();
    const at::Tensor z = at::zeros({1, c.channels, c.height, c.width}, at::TensorOptions().device(device));
    at::Tensor out;
    try {
      out = model.x0(z, 1.0);
    } catch (const eps::shape_error& e) {
      detail::raise<io_error>("'", path.string(), "': the probe call on zeros of [1, ", c.channels, ", ", c.height,
                              ", ", c.width, "] failed: ", e.what());
    } catch (const c10::Error& e) {
      detail::raise<io_error>("'", path.string(), "': the probe call on zeros of [1, ", c.channels, ", ", c.height,
                              ", ", c.width,
                              "] failed (does the contract's shape match the module?): ", e.what_without_backtrace());
    } catch (const std::exception& e) {
      detail::raise<io_error>("'", path.string(), "': the probe call on zeros of [1, ", c.channels, ", ", c.height,
                              ", ", c.width, "] failed: ", e.what());
    }
    EPS_CHECK(at::isfinite(out).all().item<bool>(), io_error, "'", path.string(),
              "': the probe call on zeros returned non-finite values");
  }
  return model;
}

const Contract& Model::contract() const { return impl_->contract; }
const nlohmann::json& Model::config() const { return impl_->config; }
std::int64_t Model::step() const { return impl_->step; }
const std::filesystem::path& Model::path() const { return impl_->path; }
const std::string& Model::hash() const { return impl_->hash; }

at::Tensor Model::x0(const at::Tensor& x_bar, double ratio, const at::Tensor& observation) const {
  const Impl& m = *impl_;
  const Contract& c = m.contract;
  EPS_CHECK(std::isfinite(ratio) && ratio > 0, value_error,
            "eps::networks::Model: the noise ratio must be finite and > 0, got ", ratio);
  EPS_CHECK(x_bar.dim() == 4 && x_bar.size(1) == c.channels, shape_error, "eps::networks::Model: expected [B, ",
            c.channels, ", H, W], got ", x_bar.sizes());
  EPS_CHECK(c.objective == Objective::prior || observation.defined(), value_error,
            "eps::networks::Model: a conditional model needs the observation image");
  // eps's data space [−1, 1] → the model's: d ↦ offset + scale·d; the noise ratio scales with it.
  const double scale = (c.data_max - c.data_min) / 2, offset = (c.data_max + c.data_min) / 2;
  const AnySchedule& s = c.schedule;
  const double lo = noise_ratio(s, s.t_min()), hi = noise_ratio(s, s.t_max());
  const double r = std::clamp(scale * ratio, lo > 0 ? lo : 0.0, hi);  // beyond the model's range: its end
  const double t = time_from_noise_ratio(s, r);
  const Coefficients co = coefficients(s, t);
  const at::Tensor xm = (x_bar * scale + offset) * co.alpha;
  const std::int64_t b = x_bar.size(0);
  at::Tensor x0m;
  if (!m.torchscript) {
    UNet net = m.unet;
    const at::Tensor obs = observation.defined() ? observation * scale + offset : at::Tensor();
    x0m = model_denoise(
        m.config, s,
        [&](const at::Tensor& xi, const at::Tensor& cn) {
          return net->forward(obs.defined() ? at::cat({xi, obs}, 1) : xi, cn);
        },
        xm, t);
  } else {
    double time = t;
    switch (c.time) {
      case TimeInput::t:
        time = t;
        break;
      case TimeInput::sigma:
        time = co.sigma;
        break;
      case TimeInput::noise_ratio:
        time = r;
        break;
      case TimeInput::c_noise:
        time = 0.25 * std::log(r);
        break;
      case TimeInput::index:
        time = t * double(c.schedule.name() == "table" ? c.steps - 1 : c.steps);
        break;
    }
    const at::Tensor tt = at::full({b}, time, x_bar.options().dtype(at::kFloat));
    const c10::IValue out = m.module.forward({xm.to(at::kFloat), tt});
    EPS_CHECK(out.isTensor(), shape_error, "eps::networks::Model: the module returned ", out.tagKind(),
              ", expected a tensor");
    const at::Tensor y = out.toTensor().to(x_bar.scalar_type());
    EPS_CHECK(y.sizes() == xm.sizes(), shape_error, "eps::networks::Model: the module returned ", y.sizes(),
              " for an input of ", xm.sizes());
    switch (c.prediction) {
      case Prediction::x0:
      case Prediction::edm_x0:
        x0m = y;
        break;
      case Prediction::epsilon:
        x0m = (xm - co.sigma * y) / co.alpha;
        break;
      case Prediction::v:
        x0m = (co.alpha * xm - co.sigma * y) / (co.alpha * co.alpha + co.sigma * co.sigma);
        break;
      case Prediction::velocity:
      case Prediction::edm_velocity:
        x0m = eps::x0_from_velocity(y, xm, BatchCoefficients{co.alpha, co.sigma, co.alpha_dot, co.sigma_dot});
        break;
    }
  }
  return (x0m - offset) / scale;
}

}  // namespace eps::networks
