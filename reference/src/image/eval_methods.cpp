// SPDX-License-Identifier: MIT
// `eps image eval`: the registry's methods on the shipped LibTorch models (the context every entry of
// methods.hpp runs against), each run's samples cached under OUT/parts, the knob settings (registry
// defaults, the tuned file, --set).
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <iostream>
#include <sstream>

#include "eps/backends/torch.hpp"
#include "eps/backends/torch_autograd.hpp"
#include "eps/network_input.hpp"
#include "eval.hpp"
#include "util.hpp"

namespace eps::cli::eval {

const networks::Model& Models::get(const std::string& path) {
  auto it = models_.find(path);
  if (it == models_.end()) it = models_.emplace(path, networks::Model::load(path, device_)).first;
  return it->second;
}

Settings::Settings(const std::string& tuned_path, const std::vector<std::string>& set, const std::string& prior_hash)
    : set_(methods::parse_settings(set)) {
  if (tuned_path.empty() || tuned_path == "none") {
    source_ = "the registry's defaults";
  } else {
    try {
      tuned_ = json::parse(read_file(tuned_path));
    } catch (const json::exception& e) {
      detail::raise<value_error>("--tuned '", tuned_path, "': not valid JSON (", e.what(), ")");
    }
    EPS_CHECK(tuned_.is_object() && tuned_.value("format", "") == "eps.tuned" && tuned_.contains("values") &&
                  tuned_["values"].is_object(),
              value_error, "--tuned '", tuned_path,
              "': not a tuned-settings file of `eps image tune` (format eps.tuned with \"values\")");
    for (const auto& [family, per_task] : tuned_["values"].items()) {
      const std::string method = family.rfind("eps_", 0) == 0 ? "eps" : family;
      const methods::Spec& s = methods::find(method, "--tuned");
      for (const auto& [task, kv] : per_task.items())
        for (const auto& [k, v] : kv.items())
          EPS_CHECK(v.is_number() && std::isfinite(v.get<double>()) &&
                        std::any_of(s.knobs.begin(), s.knobs.end(), [&](const auto& kn) { return kn.name == k; }),
                    value_error, "--tuned '", tuned_path, "': ", family, ".", task, ".", k,
                    " is not a finite value of a knob of ", method);
    }
    source_ = tuned_path;
    if (!prior_hash.empty() && tuned_.value("prior", prior_hash) != prior_hash)
      std::cerr << "eps image eval: note: " << tuned_path << " was tuned for another prior (weights "
                << tuned_.value("prior", "?") << ", this prior " << prior_hash << ")\n";
  }
}

methods::Knobs Settings::knobs(const std::string& family, const std::string& task) const {
  const std::string method = family.rfind("eps_", 0) == 0 ? "eps" : family;
  methods::Knobs k;
  for (const auto& kn : methods::find(method).knobs) k[kn.name] = kn.value;
  if (tuned_.is_object() && tuned_["values"].contains(family) && tuned_["values"][family].contains(task))
    for (const auto& [name, v] : tuned_["values"][family][task].items()) k[name] = v.get<double>();
  if (auto it = set_.find(method); it != set_.end())
    for (const auto& [name, v] : it->second) k[name] = v;
  return k;
}

Op subset(const Op& op, std::int64_t b, std::int64_t e, std::int64_t repeats, const Tn& like) {
  return std::visit(
      [&](const auto& A) -> Op {
        using A_t = std::decay_t<decltype(A)>;
        if constexpr (std::is_same_v<A_t, Mask<Tn>>) {
          if (A.mask().size(0) == 1) return A;
          return Mask<Tn>(A.mask().slice(0, b, e).repeat_interleave(repeats, 0), A.in_shape());
        } else if constexpr (std::is_same_v<A_t, Blur<Tn>>) {
          if (A.kernels().size() == 1) return A;
          std::vector<Kernel> ks;
          for (std::int64_t i = b; i < e; ++i)
            for (std::int64_t r = 0; r < repeats; ++r) ks.push_back(A.kernels()[static_cast<std::size_t>(i)]);
          return Blur<Tn>(like, kImage, std::move(ks));
        } else {
          return A;
        }
      },
      op);
}

namespace {

/// The context the registry's entries run against (methods.hpp) for one sampler call on LibTorch: the
/// model's denoisers (networks::Model: an eps.model or a TorchScript module), sampled on the model's own
/// schedule; the common initial noise ε (a state at time t0 is σ(t0) ε); the generator that the stochastic
/// methods continue to draw from.
template <Schedule S, class A_t>
struct TorchContext {
  using T = Tn;
  const S& s;
  const A_t& A;
  const Tn& y;
  double sigma_y, sigma_max, sigma_data;
  double data_min = -1, data_max = 1;
  StepCallback<Tn> cb;
  const networks::Model* model;  ///< the model of the run (the prior, or the EPS / Palette model)
  const Tn& noise;
  libtorch::Generator& generator;

  libtorch::Generator& gen() { return generator; }
  EdmOptions edm(int nfe) const {
    EdmOptions o;
    o.steps = nfe;
    o.ratio_max = sigma_max;
    return o;
  }
  EdmOptions edm_ode(int nfe) const { return edm(nfe); }
  Tn start(double t0) const { return noise * coefficients(s, t0).sigma; }
  Tn pinv() const { return pinv_apply(A, y); }
  auto prior() const {
    return [m = model, &s = s](const Tn& x, double t) { return m->denoise(s, x, t); };
  }
  auto differentiable_prior() const { return libtorch::autograd_denoiser(prior()); }
  auto eps_posterior() const {
    // The per-run part of the pivot (s, Uᴴy, the observation image) once, x̃ per call (EpsInputPlan).
    return [m = model, &s = s, plan = EpsInputPlan<A_t>(A, y), sy = sigma_y](const Tn& x, double t) {
      const Coefficients co = coefficients(s, t);
      return m->conditional_denoise(s, plan(x, NoiseLevels{co.alpha, co.sigma, sy}), t);
    };
  }
  auto palette_posterior() const {
    return [m = model, &s = s, &A = A, &y = y](const Tn& x, double t) {
      return m->conditional_denoise(s, palette_input(A, x, y), t);
    };
  }
  auto oracle() const {
    return
        [](const Tn&, double) -> Tn { detail::raise<value_error>("the oracle needs an analytic prior (eps toy gmm)"); };
  }
};

}  // namespace

Tn sample_batch(const Run& r, Context& c, const TaskData& td, const Op& A, const Tn& y, std::int64_t b,
                std::uint64_t noise_seed, const std::function<void()>& on_step, Counts& counts) {
  const methods::Knobs knobs = r.knobs ? *r.knobs : c.settings.knobs(r.family, to_string(td.task));
  libtorch::Generator gen(noise_seed);
  // The common initial noise of every method (common random numbers): the first draw of the chunk's generator.
  const Tn noise = at::randn({b, 1, 28, 28}, gen.on(c.device), y.options());
  if (r.method == "pinv") return std::visit([&](const auto& Aop) { return pinv_apply(Aop, y); }, A);
  const networks::Model& mf = c.models.get(r.model);
  const StepCallback<Tn> cb = [&](const StepInfo<Tn>&) { on_step(); };
  const AnySchedule& s = mf.schedule();
  return std::visit(
      [&](const auto& Aop) -> Tn {
        TorchContext<AnySchedule, std::decay_t<decltype(Aop)>> ctx{
            s, Aop, y, c.o.sigma_y, c.o.sigma_max, mf.sigma_data(), -1, 1, cb, &mf, noise, gen};
        const SampleResult<Tn> res = methods::run(r.method, ctx, r.nfe, knobs);
        counts = {res.nfe, res.vjp};
        return res.x;
      },
      A);
}

json run_config(const EvalOptions& o, const at::Device& device) {
  json c = {{"split", to_string(o.split)},
            {"first", o.first},
            {"images", o.images},
            {"seeds", o.seeds},
            {"batch", o.batch},
            {"sigma_y", o.sigma_y},
            {"seed", o.seed},
            {"sigma_max", o.sigma_max},
            {"device", device.str()},
            {"threads", at::get_num_threads()}};
  if (o.box_drawn) c["box"] = "drawn";  // only then: the parts of runs before the flag stay valid
  return c;
}

namespace {

json part_key(const Run& r, Context& c, const TaskData& td) {
  json k = run_config(c.o, c.device);
  k["task"] = to_string(td.task);
  k["method"] = r.id();
  k["batch1"] = c.o.batch1;
  k["weights"] = r.model.empty() ? std::string() : c.models.hash(r.model);
  json kn = json::object();
  if (r.method != "pinv")
    for (const auto& [name, v] : r.knobs ? *r.knobs : c.settings.knobs(r.family, to_string(td.task))) kn[name] = v;
  k["knobs"] = kn;
  k["format"] = 2;  // the registry's methods (2026-12); parts of earlier runs are recomputed
  return k;
}

}  // namespace

Part run_method(const Run& r, Context& c, const TaskData& td) {
  const EvalOptions& o = c.o;
  // Drawn boxes (--box drawn) keep parts of their own beside the centred box's.
  const std::string folder =
      to_string(td.task) + std::string(o.box_drawn && td.task == Task::box_inpainting ? "_drawn" : "");
  const fs::path path = fs::path(o.out) / "parts" / to_string(o.split) / folder / (r.id() + ".pt");
  const json key = part_key(r, c, td);
  const std::int64_t n = o.images, k = o.seeds, per = std::max<std::int64_t>(1, o.batch / k);
  if (!o.fresh)
    if (auto p = read_eval_part(path, key.dump(), n * k, std::cerr)) return *p;
  const std::int64_t chunks = (n + per - 1) / per;
  const long steps = r.method == "pinv" ? 1 : r.nfe;
  Progress bar(std::string(to_string(td.task)) + " " + r.id(), chunks * steps + (o.batch1 ? steps : 0));
  long done = 0;
  const auto tick = [&] { bar.update(++done); };
  torch::NoGradGuard ng;
  Part part;
  std::vector<Tn> out;
  Stopwatch clock;
  for (std::int64_t i0 = 0, chunk = 0; i0 < n; i0 += per, ++chunk) {
    const std::int64_t i1 = std::min(n, i0 + per), b = (i1 - i0) * k;
    const Op A = subset(td.op, i0, i1, k, td.x0);
    const Tn y = td.y.slice(0, i0, i1).repeat_interleave(k, 0);
    // The same initial noise for every method (common random numbers): seeded by task, first image and chunk.
    const std::uint64_t ns = o.seed * 1000003ull + 7919ull * (td.index + 1) +
                             static_cast<std::uint64_t>(o.first) * 104729ull + static_cast<std::uint64_t>(chunk);
    Counts counts;
    out.push_back(sample_batch(r, c, td, A, y, b, ns, tick, counts).to(at::kCPU, at::kFloat));
    part.nfe = counts.nfe;
    part.vjp = counts.vjp;
    if (r.method == "pinv") tick();
  }
  part.seconds = clock.seconds() / double(n * k);
  part.samples = at::cat(out);
  if (o.batch1) {
    const Op A = subset(td.op, 0, 1, 1, td.x0);
    Counts counts;
    Stopwatch c1;
    (void)sample_batch(r, c, td, A, td.y.slice(0, 0, 1), 1, o.seed + 17, tick, counts).to(at::kCPU);
    if (r.method == "pinv") tick();
    part.seconds_b1 = c1.seconds();
  }
  write_eval_part(path, key.dump(), part);
  return part;
}

}  // namespace eps::cli::eval
