// SPDX-License-Identifier: MIT
#include "eps/networks/torch_compat.hpp"

#include <ATen/Parallel.h>
#include <torch/optim/adam.h>
#include <torch/serialize/input-archive.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "eps/error.hpp"

namespace eps::networks::compat {
namespace {

/// A deterministic tensor of `shape` (sines of the flat index: no generator, whose streams differ by version).
at::Tensor wave(at::IntArrayRef shape, double f, double amp) {
  std::int64_t n = 1;
  for (const std::int64_t s : shape) n *= s;
  return (amp * at::sin(f * at::arange(n, at::kDouble) + 0.3)).reshape(shape);
}

/// max |a − ref| / max |ref|, infinite for a non-finite a.
double relative_error(const at::Tensor& a, const at::Tensor& ref) {
  const double e =
      (a.to(at::kDouble) - ref).abs().max().item<double>() / std::max(ref.abs().max().item<double>(), 1e-30);
  return std::isfinite(e) ? e : INFINITY;
}

/// The largest relative error of a 3 × 3 convolution (stride 1, padding 1) of [4, cin, hw, hw] to cout channels in
/// float32 (the backend LibTorch chooses: oneDNN where enabled) against float64 (ATen's own kernels): the output
/// and the gradient with respect to the input.
double probe(std::int64_t cin, std::int64_t cout, std::int64_t hw) {
  const at::Tensor x = wave({4, cin, hw, hw}, 0.37, 0.9), w = wave({cout, cin, 3, 3}, 0.11, 0.2),
                   g = wave({4, cout, hw, hw}, 0.23, 1.0);
  const auto run = [&](at::ScalarType t) {
    const at::Tensor xt = x.to(t), wt = w.to(t), gt = g.to(t);
    const at::Tensor y = at::conv2d(xt, wt, {}, 1, 1);
    const auto grads = at::convolution_backward(gt, xt, wt, at::OptionalIntArrayRef{}, {1, 1}, {1, 1}, {1, 1}, false,
                                                {0, 0}, 1, {true, false, false});
    return std::make_pair(y, std::get<0>(grads));
  };
  const auto [y32, gx32] = run(at::kFloat);
  const auto [y64, gx64] = run(at::kDouble);
  return std::max(relative_error(y32, y64), relative_error(gx32, gx64));
}

ConvolutionCheck run_check() {
  ConvolutionCheck c;
  c.onednn = at::globalContext().userEnabledMkldnn();
  const char* env = std::getenv("EPS_ONEDNN");
  const std::string mode = env ? env : "";
  EPS_CHECK(mode.empty() || mode == "keep" || mode == "off", value_error, "environment variable EPS_ONEDNN='", mode,
            "': expected keep (check, leave oneDNN on) or off (turn oneDNN off), or unset (check, turn off if wrong)");
  if (mode == "off") {
    at::globalContext().setUserEnabledMkldnn(false);
    c.disabled = c.onednn;
    c.report = "eps: oneDNN convolutions turned off (EPS_ONEDNN=off)";
    return c;
  }
  if (!c.onednn) return c;
  at::NoGradGuard ng;
  const int threads = at::get_num_threads();
  // The shapes where Debian 13's LibTorch 2.6 went wrong on an AVX-512 CPU (docs/backends.md): backward-data to 1
  // and 8 output channels, from 1 and 32 input channels; forward from 24 input channels. At the process's thread
  // count and at one thread (oneDNN picks its kernels by both).
  for (const int t : {threads, 1}) {
    at::set_num_threads(t);
    for (const auto& [cin, cout, hw] : {std::array<std::int64_t, 3>{32, 1, 14}, {16, 8, 14}, {1, 8, 14}, {24, 8, 7}})
      c.max_error = std::max(c.max_error, probe(cin, cout, hw));
    if (t == 1) break;
  }
  at::set_num_threads(threads);
  c.faulty = !(c.max_error <= 1e-4);
  if (!c.faulty) return c;
  std::ostringstream os;
  os << "eps: this LibTorch (" << torch_version << ") computes oneDNN convolutions wrongly on this CPU (relative error "
     << c.max_error << " against ATen's reference on a probe; docs/backends.md, \"LibTorch versions\"); ";
  if (mode == "keep") {
    os << "oneDNN left on (EPS_ONEDNN=keep): results of convolutional networks are NOT to be trusted";
  } else {
    at::globalContext().setUserEnabledMkldnn(false);
    c.disabled = true;
    os << "oneDNN turned off for this process (correct, but convolutions are several times slower; EPS_ONEDNN=keep "
          "leaves it on)";
  }
  c.report = os.str();
  std::cerr << c.report << "\n";
  return c;
}

}  // namespace

void load_adam(torch::optim::Adam& opt, torch::serialize::InputArchive& archive) {
  const auto bad = [](const std::string& what) {
    detail::raise<io_error>("the optimizer state in this checkpoint is unusable: ", what);
  };
  torch::serialize::InputArchive states, groups;
  if (!archive.try_read("state", states) || !archive.try_read("param_groups", groups))
    bad("no 'state' or 'param_groups' (not an archive of torch::optim::Adam)");
  at::Tensor n;
  if (!groups.try_read("param_groups/size", n) || n.numel() != 1 ||
      n.item<std::int64_t>() != static_cast<std::int64_t>(opt.param_groups().size()))
    bad("it has another number of parameter groups than the network");
  for (std::size_t g = 0; g < opt.param_groups().size(); ++g) {
    torch::serialize::InputArchive group;
    groups.read("param_groups/" + std::to_string(g), group);
    const std::vector<at::Tensor>& params = opt.param_groups()[g].params();
    at::Tensor size;
    if (!group.try_read("params/size", size) || size.numel() != 1 ||
        size.item<std::int64_t>() != static_cast<std::int64_t>(params.size()))
      bad("parameter group " + std::to_string(g) + " has another number of parameters than the network");
    for (std::size_t i = 0; i < params.size(); ++i) {
      c10::IValue key;
      group.read("params/" + std::to_string(i), key);
      torch::serialize::InputArchive st;
      if (!key.isString() || !states.try_read(key.toStringRef(), st)) continue;  // never stepped: no state
      auto s = std::make_unique<torch::optim::AdamParamState>();
      c10::IValue v;
      if (!st.try_read("step", v) || !v.isInt()) bad("parameter " + std::to_string(i) + " has no step count");
      s->step(v.toInt());
      for (const char* moment : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) {
        if (!st.try_read(moment, v)) {
          if (std::string(moment) == "max_exp_avg_sq") continue;  // written only with amsgrad
          bad("parameter " + std::to_string(i) + " has no " + moment);
        }
        if (!v.isTensor() || !v.toTensor().sizes().equals(params[i].sizes()))
          bad("the " + std::string(moment) + " of parameter " + std::to_string(i) + " is not of its shape " +
              c10::str(params[i].sizes()));
        const at::Tensor t = v.toTensor().to(params[i].device(), params[i].scalar_type());
        if (std::string(moment) == "exp_avg")
          s->exp_avg(t);
        else if (std::string(moment) == "exp_avg_sq")
          s->exp_avg_sq(t);
        else
          s->max_exp_avg_sq(t);
      }
      opt.state()[optimizer_state_key(params[i])] = std::move(s);
    }
  }
}

const ConvolutionCheck& check_convolutions() {
  static const ConvolutionCheck c = run_check();
  return c;
}

}  // namespace eps::networks::compat
