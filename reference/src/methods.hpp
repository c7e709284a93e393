// SPDX-License-Identifier: MIT
// The one registry of posterior samplers shared by `eps image eval`, `eps image tune` and `eps toy gmm`
// (docs/evaluation.md §2, docs/gmm_benchmark.md): one entry per method — its name (the one spelling every
// table, flag and file uses), the model it samples with, how its budget and VJPs count, its knobs with their
// defaults and the values a tuning sweep tries, and the call into the library. Adding a method is one entry
// here plus its update rule in the library (eps/baselines.hpp).
//
// An entry runs against a *context* that each program supplies for one sampling call: the schedule `s`, the
// operator `A`, the measurement `y` and `sigma_y`, the grid's top `sigma_max`, the data's `sigma_data` and
// range [`data_min`, `data_max`], a step callback `cb`; `edm(nfe)` (the EDM options of a budget) and
// `edm_ode(nfe)` (the same for the deterministic denoiser-only samplers, which a program may run with Heun),
// `start(t0)` (the common initial state at time t0), `gen()` (the noise source of the stochastic methods),
// and the denoisers it has: prior(), differentiable_prior(), eps_posterior(), palette_posterior(), oracle(),
// pinv(). A program without a model (the toy has no Palette) throws from that accessor and does not offer
// the methods that need it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "eps/baselines.hpp"
#include "eps/error.hpp"
#include "eps/samplers.hpp"

namespace eps::cli::methods {

/// What a method samples with.
enum class Model {
  none,     ///< nothing but the operator (A†y)
  prior,    ///< the unconditional prior (and, for DPS and ΠGDM, its VJPs)
  eps,      ///< an EPS model (the anisotropic denoiser of the pivot)
  palette,  ///< a Palette model
  oracle    ///< the exact posterior score (analytic priors only)
};

/// Which budget flag sets a method's NFE (`--eps-nfe`, `--prior-nfe`, `--baseline-nfe`, `--dps-nfe`).
enum class Budget { none, eps, prior, baseline, dps };

/// A knob of a method: its default, the values `eps image tune` tries, and what it does.
struct Knob {
  std::string name;
  double value = 0;
  std::vector<double> sweep;
  std::string help;
};

/// One method of the registry.
struct Spec {
  std::string name;   ///< pinv, prior, eps, palette, zero_shot, dps, pigdm, ddnm, ddrm, daps, mpgd, oracle
  std::string label;  ///< for grids and legends
  Model model = Model::prior;
  Budget budget = Budget::baseline;
  bool vjp = false;         ///< one vector-Jacobian product through the network per step
  std::string cost;         ///< how the NFE counts
  std::vector<Knob> knobs;  ///< tunable settings (defaults: the authors')
  std::string what;         ///< one line
};

/// The knob values of one run (name → value); a method reads only its own.
using Knobs = std::map<std::string, double>;

/// The knob `name` of `spec` in `k`, else its default.
inline double knob(const Spec& spec, const Knobs& k, const std::string& name) {
  if (auto it = k.find(name); it != k.end()) return it->second;
  for (const Knob& kn : spec.knobs)
    if (kn.name == name) return kn.value;
  detail::raise<value_error>("method ", spec.name, " has no knob '", name, "'");
}

namespace entries {

/// Fails where an operator has no factorisation (the method's update lives in its singular basis).
template <class Op>
void require_spectral(const Spec& s) {
  if constexpr (!SpectralOperator<Op>)
    detail::raise<domain_error>("method ", s.name, " needs a spectral operator (a factorisation of A)");
}

struct Pinv {
  static Spec spec() {
    return {"pinv", "A+y", Model::none, Budget::none, false, "0 (no network)", {}, "the pseudo-inverse A†y"};
  }
  template <class C>
  static auto run(C& c, int, const Knobs&) {
    return SampleResult<typename C::T>{c.pinv(), 0, 0};
  }
};

struct Prior {
  static Spec spec() {
    return {"prior", "prior", Model::prior, Budget::prior,
            false,   "steps", {},           "the unconditional prior (EDM Euler; ignores y)"};
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs&) {
    const EdmOptions o = c.edm_ode(nfe);
    return edm_sample(c.prior(), c.s, c.start(edm_grid(c.s, o).front()), o, c.cb);
  }
};

struct Eps {
  static Spec spec() {
    return {"eps",
            "EPS",
            Model::eps,
            Budget::eps,
            false,
            "steps (one network call per step; no VJP)",
            {{"sigma_max_1", 80.0, {2, 5, 10, 20, 40, 80}, "σ_max of the 1-NFE posterior-mean estimate"}},
            "EPS: the backbone's EDM Euler sampler on the posterior denoiser D(μ*, Σ*)"};
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs& k) {
    EdmOptions o = c.edm_ode(nfe);
    if (nfe == 1) o.ratio_max = knob(spec(), k, "sigma_max_1");
    return edm_sample(c.eps_posterior(), c.s, c.start(edm_grid(c.s, o).front()), o, c.cb);
  }
};

struct Palette {
  static Spec spec() {
    return {"palette",
            "Palette",
            Model::palette,
            Budget::baseline,
            false,
            "steps",
            {},
            "Palette: a network trained on [x_t, observation image], EDM Euler"};
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs&) {
    const EdmOptions o = c.edm_ode(nfe);
    return edm_sample(c.palette_posterior(), c.s, c.start(edm_grid(c.s, o).front()), o, c.cb);
  }
};

struct Oracle {
  static Spec spec() {
    return {"oracle",
            "oracle",
            Model::oracle,
            Budget::eps,
            false,
            "steps",
            {},
            "EDM Euler on the exact posterior score (analytic priors only)"};
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs&) {
    const EdmOptions o = c.edm_ode(nfe);
    return edm_sample(c.oracle(), c.s, c.start(edm_grid(c.s, o).front()), o, c.cb);
  }
};

struct ZeroShot {
  static Spec spec() {
    return {"zero_shot", "zero-shot", Model::prior, Budget::baseline,
            false,       "steps",     {},           "the prior fed the exact pivot x̃ at the current time (EDM Euler)"};
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs&) {
    const EdmOptions o = c.edm_ode(nfe);
    return edm_sample(zero_shot_denoiser(c.prior(), c.s, c.A, c.y, c.sigma_y), c.s, c.start(edm_grid(c.s, o).front()),
                      o, c.cb);
  }
};

struct Dps {
  static Spec spec() {
    return {"dps",
            "DPS",
            Model::prior,
            Budget::dps,
            true,
            "steps + one VJP per step",
            {{"zeta", 1.0, {0.1, 0.2, 0.5, 1, 2, 5, 10, 20}, "step ζ: x ← x − ζ ∇‖y − A x̂0‖ per sample"}},
            "DPS (Chung et al. 2023), EDM Euler"};
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs& k) {
    const EdmOptions o = c.edm(nfe);
    return dps_sample(c.differentiable_prior(), c.s, c.A, c.y, c.start(edm_grid(c.s, o).front()), o,
                      DpsOptions{knob(spec(), k, "zeta")}, c.cb);
  }
};

struct Pigdm {
  static Spec spec() {
    return {"pigdm",
            "PiGDM",
            Model::prior,
            Budget::baseline,
            true,
            "steps + one VJP per step",
            {{"ddim", 1, {}, "1: the published DDIM-VE sampler with eta; 0: EDM Euler"},
             {"eta", 1.0, {0, 0.5, 0.85, 1}, "DDIM stochasticity (published: 1)"}},
            "ΠGDM (Song et al. 2023), r_t² with the data variance σ_data²"};
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs& k) {
    using Op = std::decay_t<decltype(c.A)>;
    require_spectral<Op>(spec());
    if constexpr (SpectralOperator<Op>) {
      int vjp = 0;
      const double v = c.sigma_data * c.sigma_data;
      auto D = pigdm_denoiser(c.differentiable_prior(), c.s, c.A, c.y, c.sigma_y, PigdmOptions{1.0, v}, &vjp);
      const bool ddim = knob(spec(), k, "ddim") != 0;
      const EdmOptions o = ddim ? c.edm(nfe) : c.edm_ode(nfe);
      const auto x = c.start(edm_grid(c.s, o).front());
      auto r =
          ddim ? edm_ddim_sample(D, c.s, x, knob(spec(), k, "eta"), c.gen(), o, c.cb) : edm_sample(D, c.s, x, o, c.cb);
      r.vjp = vjp;
      return r;
    } else {
      return SampleResult<typename C::T>{};
    }
  }
};

struct Ddnm {
  static Spec spec() {
    return {"ddnm",
            "DDNM+",
            Model::prior,
            Budget::baseline,
            false,
            "steps",
            {{"eta", 0.85, {}, "DDIM stochasticity"},
             {"sv_cut", 3e-2, {0, 1e-3, 1e-2, 3e-2, 1e-1}, "singular values below this × the largest are dropped"}},
            "DDNM⁺ as the authors' code runs it (Wang et al. 2023)"};
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs& k) {
    using Op = std::decay_t<decltype(c.A)>;
    require_spectral<Op>(spec());
    if constexpr (SpectralOperator<Op>) {
      const EdmOptions o = c.edm(nfe);
      return ddnm_plus_sample(c.prior(), c.s, c.A, c.y, c.sigma_y, c.start(edm_grid(c.s, o).front()), c.gen(), o,
                              DdnmPlusOptions{knob(spec(), k, "eta"), knob(spec(), k, "sv_cut")}, c.cb);
    } else {
      return SampleResult<typename C::T>{};
    }
  }
};

struct Ddrm {
  static Spec spec() {
    return {"ddrm",
            "DDRM",
            Model::prior,
            Budget::baseline,
            false,
            "steps",
            {{"eta", 0.85, {}, "noise of the unmeasured directions"},
             {"eta_b", 1.0, {}, "weight of the measurement"},
             {"sv_cut", 3e-2, {}, "singular values below this × the largest are dropped"}},
            "DDRM (Kawar et al. 2022)"};
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs& k) {
    using Op = std::decay_t<decltype(c.A)>;
    require_spectral<Op>(spec());
    if constexpr (SpectralOperator<Op>) {
      const EdmOptions o = c.edm(nfe);
      return ddrm_sample(c.prior(), c.s, c.A, c.y, c.sigma_y, c.start(edm_grid(c.s, o).front()), c.gen(), o,
                         DdrmOptions{knob(spec(), k, "eta"), knob(spec(), k, "eta_b"), knob(spec(), k, "sv_cut")},
                         c.cb);
    } else {
      return SampleResult<typename C::T>{};
    }
  }
};

struct Daps {
  static Spec spec() {
    return {"daps",
            "DAPS",
            Model::prior,
            Budget::baseline,
            false,
            "levels × ode_steps (the budget sets levels = NFE / ode_steps); no VJP",
            {{"lr", 1e-4, {1e-5, 3e-5, 1e-4, 3e-4, 1e-3}, "Langevin step at the first level"},
             {"tau", 0.01, {0.01, 0.03, 0.07}, "data term −‖A x0 − y‖²/τ²"},
             {"ode_steps", 5, {}, "Euler steps of each level's ODE solve"},
             {"langevin_steps", 100, {}, "Langevin steps per level"},
             {"exact", 0, {}, "1: draw the Gaussian target exactly instead of the chain"}},
            "DAPS (Zhang et al. 2024): decoupled annealing, Langevin on p(x0 | x̂0, y)"};
  }
  /// levels = max(1, budget / ode_steps): the NFE it spends is levels × ode_steps (at least ode_steps).
  static int levels(int budget, const Knobs& k) {
    const int ode = static_cast<int>(knob(spec(), k, "ode_steps"));
    EPS_CHECK(ode >= 1, value_error, "daps: ode_steps must be >= 1");
    return std::max(1, budget / ode);
  }
  static int nfe(int budget, const Knobs& k) {
    return levels(budget, k) * static_cast<int>(knob(spec(), k, "ode_steps"));
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs& k) {
    const Spec sp = spec();
    DapsOptions o;
    o.ode_steps = static_cast<int>(knob(sp, k, "ode_steps"));
    o.levels = levels(nfe, k);
    o.langevin_steps = static_cast<int>(knob(sp, k, "langevin_steps"));
    o.lr = knob(sp, k, "lr");
    o.tau = knob(sp, k, "tau");
    o.exact = knob(sp, k, "exact") != 0;
    o.sigma_max = std::min(o.sigma_max, c.sigma_max);
    return daps_sample(c.prior(), c.s, c.A, c.y, c.start(daps_times(c.s, o).front()), c.gen(), o, c.cb);
  }
};

struct Mpgd {
  static Spec spec() {
    return {"mpgd",
            "MPGD",
            Model::prior,
            Budget::baseline,
            false,
            "steps (the gradient is of ‖y − A x̂0‖ in x̂0: no VJP)",
            {{"step", 1.0, {0.03, 0.1, 0.3, 1, 3, 10}, "ζ: x̂0 moves ζ √(1 + ς'²) along −∇‖y − A x̂0‖"},
             {"eta", 0.5, {}, "DDIM stochasticity"}},
            "MPGD (He et al. 2023), pixel space without projection, x̂0 clipped to the data range"};
  }
  template <class C>
  static auto run(C& c, int nfe, const Knobs& k) {
    MpgdOptions mp;
    mp.step = knob(spec(), k, "step");
    mp.eta = knob(spec(), k, "eta");
    mp.clip_min = c.data_min;
    mp.clip_max = c.data_max;
    const EdmOptions o = c.edm(nfe);
    return mpgd_sample(c.prior(), c.s, c.A, c.y, c.start(edm_grid(c.s, o).front()), c.gen(), o, mp, c.cb);
  }
};

/// Every entry, in table order.
using All = std::tuple<Pinv, Prior, Eps, Palette, Oracle, ZeroShot, Dps, Pigdm, Ddnm, Ddrm, Daps, Mpgd>;

}  // namespace entries

/// The registry's specs, in table order.
inline const std::vector<Spec>& table() {
  static const std::vector<Spec> t =
      std::apply([](auto... e) { return std::vector<Spec>{decltype(e)::spec()...}; }, entries::All{});
  return t;
}

/// The spec named `name`; value_error listing the names otherwise (`flag` names the option it came from). Views,
/// not references: the result lives in the table, whatever the arguments' lifetimes.
inline const Spec& find(std::string_view name, std::string_view flag = "--methods") {
  for (const Spec& s : table())
    if (s.name == name) return s;
  std::ostringstream os;
  for (const Spec& s : table()) os << (os.tellp() > 0 ? ", " : "") << s.name;
  detail::raise<value_error>(flag, ": unknown method '", name, "'; expected ", os.str());
}

/// Runs method `name` in context `c` with `nfe` network evaluations (the budget) and knobs `k`.
template <class C>
SampleResult<typename C::T> run(const std::string& name, C& c, int nfe, const Knobs& k) {
  std::optional<SampleResult<typename C::T>> r;
  std::apply(
      [&](auto... e) {
        ((!r && decltype(e)::spec().name == name ? (void)(r = decltype(e)::run(c, nfe, k)) : void()), ...);
      },
      entries::All{});
  EPS_CHECK(r.has_value(), value_error, "unknown method '", name, "'");
  return std::move(*r);
}

/// The NFE method `name` spends on a budget of `budget` with knobs `k` (what its tables' labels carry): the
/// budget itself, except where an entry rounds it (DAPS: a whole number of levels of ode_steps each).
inline int counted_nfe(const std::string& name, int budget, const Knobs& k) {
  int n = budget;
  std::apply(
      [&](auto... e) {
        (([&] {
           using E = decltype(e);
           if constexpr (requires { E::nfe(budget, k); })
             if (E::spec().name == name) n = E::nfe(budget, k);
         }()),
         ...);
      },
      entries::All{});
  return n;
}

/// Parses `--set METHOD.KNOB=VALUE` into per-method knob values, checking the method and knob names and the
/// value (finite).
inline std::map<std::string, Knobs> parse_settings(const std::vector<std::string>& items) {
  std::map<std::string, Knobs> out;
  for (const std::string& it : items) {
    const auto dot = it.find('.'), eq = it.find('=');
    EPS_CHECK(dot != std::string::npos && eq != std::string::npos && dot < eq, value_error, "--set '", it,
              "': expected METHOD.KNOB=VALUE (for example dps.zeta=2)");
    const std::string m = it.substr(0, dot), k = it.substr(dot + 1, eq - dot - 1), v = it.substr(eq + 1);
    const Spec& s = find(m, "--set");
    EPS_CHECK(std::any_of(s.knobs.begin(), s.knobs.end(), [&](const Knob& kn) { return kn.name == k; }), value_error,
              "--set '", it, "': method ", m, " has no knob '", k, "'");
    std::size_t used = 0;
    double x = 0;
    try {
      x = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    EPS_CHECK(used == v.size() && !v.empty() && std::isfinite(x), value_error, "--set '", it, "': '", v,
              "' is not a finite number");
    out[m][k] = x;
  }
  return out;
}

}  // namespace eps::cli::methods
