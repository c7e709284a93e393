// SPDX-License-Identifier: MIT
// eps (Python): the samplers and baselines with a Python callable as the denoiser (docs/own-model.md §5).
#include <pybind11/stl.h>

#include <optional>

#include "bindings.hpp"
#include "eps/backends/torch_autograd.hpp"
#include "eps/baselines.hpp"
#include "eps/network_input.hpp"
#include "eps/samplers.hpp"

namespace eps::python {
namespace {

EdmOptions edm_options(int steps, double sigma_max, double sigma_min, double rho, bool heun = false) {
  EdmOptions o;
  o.steps = steps;
  o.ratio_max = sigma_max;
  o.ratio_min = sigma_min;
  o.rho = rho;
  o.heun = heun;
  return o;
}

/// Runs f(A) for a spectral operator, or says the method needs one.
template <class F>
auto spectral(const Operator& A, const char* method, F&& f) {
  return A.visit([&](const auto& a) -> SampleResult<T> {
    if constexpr (SpectralOperator<std::decay_t<decltype(a)>>)
      return f(a);
    else
      detail::raise<domain_error>("eps.", method, ": needs an operator with a factorisation, got ", a.name());
  });
}

/// Runs a sampler with the GIL released (LibTorch's autograd engine refuses to run under it; the Python
/// denoiser takes it back for each call) and returns (x, nfe, vjp).
template <class F>
py::tuple released(F&& f) {
  std::optional<SampleResult<T>> r;
  {
    py::gil_scoped_release nogil;
    r.emplace(f());
  }
  return py::make_tuple(r->x, r->nfe, r->vjp);
}

}  // namespace

void bind_samplers(py::module_& m) {
  using namespace py::literals;
  const char* grid = "schedule: a name of eps.schedule_names(); steps, sigma_max, sigma_min, rho: EDM's grid";
  m.def("schedule_names", &schedule_names, "the schedules the samplers take by name");
  m.def(
      "initial_noise",
      [](const std::string& schedule, const T& like, std::int64_t batch, int steps, double sigma_max, double sigma_min,
         double rho, std::uint64_t seed) {
        const AnySchedule s = make_schedule(schedule);
        libtorch::Generator gen(seed);
        const Shape shape(like.sizes().begin() + 1, like.sizes().end());
        return initial_noise(s, edm_grid(s, edm_options(steps, sigma_max, sigma_min, rho)).front(), like, batch, shape,
                             gen);
      },
      "schedule"_a = "ve_edm", "like"_a, "batch"_a, "steps"_a = 18, "sigma_max"_a = 80.0, "sigma_min"_a = 0.002,
      "rho"_a = 7.0, "seed"_a = 0, "σ(t0) ε shaped as like's samples: the start of every sampler below");
  m.def(
      "edm_sample",
      [](const py::function& D, const T& x, const std::string& schedule, int steps, double sigma_max, double sigma_min,
         double rho, bool heun) {
        return released([&] {
          return edm_sample(denoiser(D), make_schedule(schedule), x,
                            edm_options(steps, sigma_max, sigma_min, rho, heun));
        });
      },
      "denoiser"_a, "x"_a, "schedule"_a = "ve_edm", "steps"_a = 18, "sigma_max"_a = 80.0, "sigma_min"_a = 0.002,
      "rho"_a = 7.0, "heun"_a = false,
      "EDM's sampler with denoiser(x, t) -> x0 (a Python callable); returns (samples, nfe, vjp)");
  m.def(
      "eps_sample",
      [](const py::function& net, const Operator& A, const T& y, double sigma_y, const T& x,
         const std::string& schedule, int steps, double sigma_max, double sigma_min, double rho) {
        const AnySchedule s = make_schedule(schedule);
        return released([&] {
          return A.visit([&](const auto& a) {
            using Op = std::decay_t<decltype(a)>;
            const auto input = [&]() -> std::function<ConditionalInput<T>(const T&, const NoiseLevels&)> {
              if constexpr (SpectralOperator<Op>) {  // the per-run part of the pivot once (EpsInputPlan)
                auto plan = std::make_shared<const EpsInputPlan<Op>>(a, y);
                return [plan](const T& xx, const NoiseLevels& lv) { return (*plan)(xx, lv); };
              } else {
                return [&a, &y](const T& xx, const NoiseLevels& lv) { return eps::eps_input(a, xx, y, lv); };
              }
            }();
            const auto D = [&](const T& xx, double t) {
              const Coefficients c = coefficients(s, t);
              const ConditionalInput<T> in = input(xx, NoiseLevels{c.alpha, c.sigma, sigma_y});
              py::gil_scoped_acquire gil;
              return net(in.image, in.observation, t).cast<T>();
            };
            return edm_sample(D, s, x, edm_options(steps, sigma_max, sigma_min, rho));
          });
        });
      },
      "net"_a, "A"_a, "y"_a, "sigma_y"_a, "x"_a, "schedule"_a = "ve_edm", "steps"_a = 20, "sigma_max"_a = 80.0,
      "sigma_min"_a = 0.002, "rho"_a = 7.0,
      "EPS: EDM's sampler on net(x_tilde, observation, t) -> x0, the network fed the pivot and the observation "
      "image (an EPS-trained network)");
  m.def(
      "zero_shot_sample",
      [](const py::function& D, const Operator& A, const T& y, double sigma_y, const T& x, const std::string& schedule,
         int steps, double sigma_max, double sigma_min, double rho) {
        const AnySchedule s = make_schedule(schedule);
        return released([&] {
          return A.visit([&](const auto& a) {
            return edm_sample(zero_shot_denoiser(denoiser(D), s, a, y, sigma_y), s, x,
                              edm_options(steps, sigma_max, sigma_min, rho));
          });
        });
      },
      "denoiser"_a, "A"_a, "y"_a, "sigma_y"_a, "x"_a, "schedule"_a = "ve_edm", "steps"_a = 100, "sigma_max"_a = 80.0,
      "sigma_min"_a = 0.002, "rho"_a = 7.0, "the zero-shot pivot: a prior's denoiser fed the exact pivot");
  m.def(
      "dps_sample",
      [](const py::function& D, const Operator& A, const T& y, const T& x, double zeta, const std::string& schedule,
         int steps, double sigma_max, double sigma_min, double rho) {
        const AnySchedule s = make_schedule(schedule);
        return released([&] {
          return A.visit([&](const auto& a) {
            return dps_sample(libtorch::autograd_denoiser(denoiser(D)), s, a, y, x,
                              edm_options(steps, sigma_max, sigma_min, rho), DpsOptions{zeta});
          });
        });
      },
      "denoiser"_a, "A"_a, "y"_a, "x"_a, "zeta"_a = 1.0, "schedule"_a = "ve_edm", "steps"_a = 250, "sigma_max"_a = 80.0,
      "sigma_min"_a = 0.002, "rho"_a = 7.0,
      "DPS, VJPs by autograd through the Python denoiser (it must be differentiable in x)");
  m.def(
      "pigdm_sample",
      [](const py::function& D, const Operator& A, const T& y, double sigma_y, const T& x, double data_variance,
         double eta, bool ddim, std::uint64_t seed, const std::string& schedule, int steps, double sigma_max,
         double sigma_min, double rho) {
        const AnySchedule s = make_schedule(schedule);
        libtorch::Generator gen(seed);
        return released([&] {
          return spectral(A, "pigdm_sample", [&](const auto& a) {
            int vjp = 0;
            auto P = pigdm_denoiser(libtorch::autograd_denoiser(denoiser(D)), s, a, y, sigma_y,
                                    PigdmOptions{1.0, data_variance}, &vjp);
            const EdmOptions o = edm_options(steps, sigma_max, sigma_min, rho);
            auto r = ddim ? edm_ddim_sample(P, s, x, eta, gen, o) : edm_sample(P, s, x, o);
            r.vjp = vjp;
            return r;
          });
        });
      },
      "denoiser"_a, "A"_a, "y"_a, "sigma_y"_a, "x"_a, "data_variance"_a = 1.0, "eta"_a = 1.0, "ddim"_a = true,
      "seed"_a = 0, "schedule"_a = "ve_edm", "steps"_a = 100, "sigma_max"_a = 80.0, "sigma_min"_a = 0.002,
      "rho"_a = 7.0, "ΠGDM (published sampler: DDIM in VE form, eta = 1), VJPs by autograd");
  m.def(
      "ddnm_plus_sample",
      [](const py::function& D, const Operator& A, const T& y, double sigma_y, const T& x, double eta, double sv_cut,
         std::uint64_t seed, const std::string& schedule, int steps, double sigma_max, double sigma_min, double rho) {
        const AnySchedule s = make_schedule(schedule);
        libtorch::Generator gen(seed);
        return released([&] {
          return spectral(A, "ddnm_plus_sample", [&](const auto& a) {
            return ddnm_plus_sample(denoiser(D), s, a, y, sigma_y, x, gen,
                                    edm_options(steps, sigma_max, sigma_min, rho), DdnmPlusOptions{eta, sv_cut});
          });
        });
      },
      "denoiser"_a, "A"_a, "y"_a, "sigma_y"_a, "x"_a, "eta"_a = 0.85, "sv_cut"_a = 3e-2, "seed"_a = 0,
      "schedule"_a = "ve_edm", "steps"_a = 100, "sigma_max"_a = 80.0, "sigma_min"_a = 0.002, "rho"_a = 7.0,
      "DDNM+ as the authors' code runs it");
  m.def(
      "ddrm_sample",
      [](const py::function& D, const Operator& A, const T& y, double sigma_y, const T& x, double eta, double eta_b,
         double sv_cut, std::uint64_t seed, const std::string& schedule, int steps, double sigma_max, double sigma_min,
         double rho) {
        const AnySchedule s = make_schedule(schedule);
        libtorch::Generator gen(seed);
        return released([&] {
          return spectral(A, "ddrm_sample", [&](const auto& a) {
            return ddrm_sample(denoiser(D), s, a, y, sigma_y, x, gen, edm_options(steps, sigma_max, sigma_min, rho),
                               DdrmOptions{eta, eta_b, sv_cut});
          });
        });
      },
      "denoiser"_a, "A"_a, "y"_a, "sigma_y"_a, "x"_a, "eta"_a = 0.85, "eta_b"_a = 1.0, "sv_cut"_a = 3e-2, "seed"_a = 0,
      "schedule"_a = "ve_edm", "steps"_a = 100, "sigma_max"_a = 80.0, "sigma_min"_a = 0.002, "rho"_a = 7.0, "DDRM");
  m.def(
      "mpgd_sample",
      [](const py::function& D, const Operator& A, const T& y, const T& x, double step, double eta, double clip_min,
         double clip_max, std::uint64_t seed, const std::string& schedule, int steps, double sigma_max,
         double sigma_min, double rho) {
        const AnySchedule s = make_schedule(schedule);
        libtorch::Generator gen(seed);
        MpgdOptions mp;
        mp.step = step;
        mp.eta = eta;
        mp.clip_min = clip_min;
        mp.clip_max = clip_max;
        return released([&] {
          return A.visit([&](const auto& a) {
            return mpgd_sample(denoiser(D), s, a, y, x, gen, edm_options(steps, sigma_max, sigma_min, rho), mp);
          });
        });
      },
      "denoiser"_a, "A"_a, "y"_a, "x"_a, "step"_a = 1.0, "eta"_a = 0.5, "clip_min"_a = -1.0, "clip_max"_a = 1.0,
      "seed"_a = 0, "schedule"_a = "ve_edm", "steps"_a = 100, "sigma_max"_a = 80.0, "sigma_min"_a = 0.002,
      "rho"_a = 7.0, "MPGD (pixel space, x0 clipped to [clip_min, clip_max])");
  m.def(
      "daps_sample",
      [](const py::function& D, const Operator& A, const T& y, const T& x, int levels, int ode_steps,
         int langevin_steps, double lr, double tau, bool exact, std::uint64_t seed, const std::string& schedule,
         double sigma_max) {
        const AnySchedule s = make_schedule(schedule);
        libtorch::Generator gen(seed);
        DapsOptions o;
        o.levels = levels;
        o.ode_steps = ode_steps;
        o.langevin_steps = langevin_steps;
        o.lr = lr;
        o.tau = tau;
        o.exact = exact;
        o.sigma_max = sigma_max;
        return released(
            [&] { return A.visit([&](const auto& a) { return daps_sample(denoiser(D), s, a, y, x, gen, o); }); });
      },
      "denoiser"_a, "A"_a, "y"_a, "x"_a, "levels"_a = 20, "ode_steps"_a = 5, "langevin_steps"_a = 100, "lr"_a = 1e-4,
      "tau"_a = 0.01, "exact"_a = false, "seed"_a = 0, "schedule"_a = "ve_edm", "sigma_max"_a = 100.0,
      "DAPS (start from initial_noise at sigma_max, clamped to the schedule's)");
  (void)grid;
}

}  // namespace eps::python
