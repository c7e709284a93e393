// SPDX-License-Identifier: MIT
// `eps image eval` (docs/evaluation.md): every posterior sampler of the library on one prior, the same test
// images, measurements and initial noise, measured the same way. Per task and method: PSNR and SSIM of
// single samples and of the posterior mean, pixel-wise CRPS, the Fréchet distance in the project's
// classifier features, measurement consistency, NFE and wall time per image at batch 1 and at the run's
// batch; the cost of the pivot against one network evaluation. Writes the table (Markdown, CSV, JSON), a
// PNG grid per task, and plots; every method's samples are kept under parts/ and reused by a later run
// with the same configuration and weights (`--fresh` recomputes).
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <sstream>
#include <thread>

#include "classifier.hpp"
#include "commands.hpp"
#include "eps/backends/torch.hpp"
#include "eps/backends/torch_autograd.hpp"
#include "eps/baselines.hpp"
#include "eps/image_metrics.hpp"
#include "eps/network_input.hpp"
#include "eps/samplers.hpp"
#include "eps/tasks.hpp"
#include "idx.hpp"
#include "image_common.hpp"
#include "util.hpp"

namespace eps::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using Tn = at::Tensor;
using Op = TaskOperator<Tn>;

const ImageShape kImage{1, 28, 28};

/// The method families, in table order.
const std::vector<std::string> kFamilies{"pinv",      "prior", "eps_multitask", "eps_task", "eps_scratch", "palette",
                                         "zero_shot", "dps",   "pigdm",         "ddnm",     "ddrm"};

struct EvalOptions {
  std::string models = "models", prior, eps, palette, classifier, out = "runs/eval", device = "cpu",
              data = kFashionMnistDir;
  std::vector<std::string> tasks{"all"}, methods{"all"};
  std::int64_t images = 4, seeds = 2, batch = 32, fd_reference = 10000, grid_images = 8;
  std::vector<int> eps_nfe{1, 20, 100}, prior_nfe{20, 100}, baseline_nfe{100}, dps_nfe{250};
  double sigma_y = 0.05, dps_zeta = 1.0, sigma_max = 80.0;
  std::uint64_t seed = 1;
  int threads = 0, timing_reps = 20, cost_reps = 5;
  bool batch1 = true, plots = true, fresh = false;
};

/// One method of the table: a family at one NFE, with the model it samples from ("" for A†y).
struct Method {
  std::string family;
  int nfe = 0;
  std::string model;
  std::string id() const { return family == "pinv" ? family : family + "@" + std::to_string(nfe); }
};

/// Models loaded once, by path, with their weights' hash.
class Models {
 public:
  explicit Models(at::Device device) : device_(device) {}
  ModelFile& get(const std::string& path) {
    auto it = files_.find(path);
    if (it == files_.end()) {
      ModelFile m = read_model(path, device_);
      for (auto& p : m.net->parameters()) p.requires_grad_(false);  // VJPs need x only
      hashes_[path] = weights_hash(*m.net);
      it = files_.emplace(path, std::move(m)).first;
    }
    return it->second;
  }
  const std::string& hash(const std::string& path) {
    get(path);
    return hashes_.at(path);
  }

 private:
  at::Device device_;
  std::map<std::string, ModelFile> files_;
  std::map<std::string, std::string> hashes_;
};

Classifier read_classifier(const fs::path& path, const at::Device& device) {
  torch::serialize::InputArchive ar;
  load_archive(path, ar, device, "eps classifier (classifier.pt of `eps image classifier`)");
  c10::IValue format;
  EPS_CHECK(ar.try_read("format", format) && format.isString() && format.toStringRef() == "eps.classifier", io_error,
            "'", path.string(), "' is not an eps classifier (classifier.pt of `eps image classifier`)");
  Classifier net;
  torch::serialize::InputArchive w;
  ar.read("weights", w);
  net->load(w);
  net->to(device);
  net->eval();
  return net;
}

/// The operator of samples [b, e) of `op`, each repeated `repeats` times (the posterior seeds of an image
/// share its operator). Operators shared by the batch stay as they are.
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

/// Everything a method needs for one task: the operator of every test image, the measurements, the
/// observation images and A†y.
struct TaskData {
  Task task;
  std::size_t index = 0;
  Op op;
  Tn x0, y, observation, pinv;
};

struct EvalContext {
  const EvalOptions& o;
  at::Device device;
  Models& models;
};

/// Samples of method m for operator A (batch b, its rows' y) from the initial noise of `noise_seed`;
/// `on_step` after every sampler step; `vjp` receives the number of VJPs per sample.
Tn sample_batch(const Method& m, EvalContext& c, const Op& op, const Tn& y, std::int64_t b, std::uint64_t noise_seed,
                const std::function<void()>& on_step, int& vjp) {
  if (m.family == "pinv") return std::visit([&](const auto& A) { return pinv_apply(A, y); }, op);
  ModelFile& mf = c.models.get(m.model);
  const double sy = c.o.sigma_y;
  return with_schedule(mf.config, [&](const auto& s) -> Tn {
    EdmOptions eo;
    eo.steps = m.nfe;
    eo.ratio_max = c.o.sigma_max;
    libtorch::Generator gen(noise_seed);
    const Tn xT = initial_noise(s, edm_grid(s, eo).front(), y, b, kImage.shape(), gen);
    const StepCallback<Tn> cb = [&](const StepInfo<Tn>&) { on_step(); };
    const auto prior = [&mf, &s](const Tn& x, double t) { return denoise(mf, s, x, t); };
    return std::visit(
        [&](const auto& A) -> Tn {
          const std::string& f = m.family;
          if (f == "prior") return edm_sample(prior, s, xT, eo, cb).x;
          if (f == "eps_multitask" || f == "eps_task" || f == "eps_scratch" || f == "palette") {
            // EPS: the per-run part of the pivot (s, Uᴴy, the observation image) once, x̃ per call.
            const bool eps = f != "palette";
            const EpsInputPlan<std::decay_t<decltype(A)>> plan(A, y);
            const auto posterior = [&](const Tn& x, double t) {
              const Coefficients co = coefficients(s, t);
              return conditional_denoise(
                  mf, s, eps ? plan(x, NoiseLevels{co.alpha, co.sigma, sy}) : palette_input(A, x, y), t);
            };
            return edm_sample(posterior, s, xT, eo, cb).x;
          }
          if (f == "zero_shot") return edm_sample(zero_shot_denoiser(prior, s, A, y, sy), s, xT, eo, cb).x;
          if (f == "dps") {
            const auto r =
                dps_sample(libtorch::autograd_denoiser(prior), s, A, y, xT, eo, DpsOptions{c.o.dps_zeta}, cb);
            vjp = r.vjp;
            return r.x;
          }
          if (f == "pigdm") {
            // r_t² with the data's per-pixel variance σ_data² (the model's; docs/evaluation.md, "Baselines").
            const double sd = mf.config.value("sigma_data", 0.5);
            int n = 0;
            const Tn x = edm_sample(pigdm_denoiser(libtorch::autograd_denoiser(prior), s, A, y, sy,
                                                   PigdmOptions{1.0, sd * sd}, &n),
                                    s, xT, eo, cb)
                             .x;
            vjp = n;
            return x;
          }
          if (f == "ddnm") return edm_sample(ddnm_denoiser(prior, s, A, y, sy), s, xT, eo, cb).x;
          if (f == "ddrm") return ddrm_sample(prior, s, A, y, sy, xT, gen, eo, DdrmOptions{}, cb).x;
          detail::raise<value_error>("unknown method family '", f, "'");
        },
        op);
  });
}

/// A method's samples of every (image, seed) pair (image-major), with its timings.
struct Part {
  Tn samples;  ///< [images · seeds, 1, 28, 28] on the CPU (float32)
  double seconds = 0, seconds_b1 = NAN;
  int vjp = 0;
  bool reused = false;
};

/// The settings that determine a run's samples and timings: the key of every cached part (with the task,
/// the method and its weights) and the configuration in results.json.
json run_config(const EvalOptions& o, const at::Device& device) {
  return {{"images", o.images},       {"seeds", o.seeds},       {"batch", o.batch},
          {"sigma_y", o.sigma_y},     {"seed", o.seed},         {"dps_zeta", o.dps_zeta},
          {"sigma_max", o.sigma_max}, {"device", device.str()}, {"threads", at::get_num_threads()}};
}

json part_key(const Method& m, EvalContext& c, const TaskData& td) {
  json k = run_config(c.o, c.device);
  k["task"] = to_string(td.task);
  k["method"] = m.id();
  k["batch1"] = c.o.batch1;
  k["weights"] = m.model.empty() ? std::string() : c.models.hash(m.model);
  return k;
}

/// The part saved at `path` if it was written for `key` (same task, method, weights and settings) and holds
/// `count` samples; nothing otherwise (a part of another configuration is recomputed and overwritten).
std::optional<Part> load_part(const fs::path& path, const json& key, std::int64_t count) {
  if (!fs::exists(path)) return std::nullopt;
  try {
    torch::serialize::InputArchive ar;
    load_archive(path, ar, at::kCPU, "eps evaluation part");
    c10::IValue format, k, s, s1, v;
    if (!ar.try_read("format", format) || format.toStringRef() != "eps.eval_part" || !ar.try_read("key", k) ||
        k.toStringRef() != key.dump())
      return std::nullopt;
    Part p;
    ar.read("samples", p.samples);
    EPS_CHECK(p.samples.dim() == 4 && p.samples.size(0) == count, io_error, "it holds ", p.samples.size(0),
              " samples, expected ", count);
    ar.read("seconds", s);
    ar.read("seconds_b1", s1);
    ar.read("vjp", v);
    p.seconds = s.toDouble();
    p.seconds_b1 = s1.toDouble();
    p.vjp = static_cast<int>(v.toInt());
    p.reused = true;
    return p;
  } catch (const std::exception& e) {
    std::cerr << "eps image eval: ignoring unreadable '" << path.string() << "' (" << e.what() << ")\n";
    return std::nullopt;
  }
}

void save_part(const fs::path& path, const json& key, const Part& p) {
  torch::serialize::OutputArchive ar;
  ar.write("format", c10::IValue(std::string("eps.eval_part")));
  ar.write("key", c10::IValue(key.dump()));
  ar.write("samples", p.samples);
  ar.write("seconds", c10::IValue(p.seconds));
  ar.write("seconds_b1", c10::IValue(p.seconds_b1));
  ar.write("vjp", c10::IValue(static_cast<std::int64_t>(p.vjp)));
  std::ostringstream os;
  ar.save_to(os);
  write_file_atomic(path, os.str());
}

/// Runs method m on every (image, seed) of the task in batches of `batch` samples (the seeds of an image
/// in one batch), then once at batch 1 for the timing; or reuses the part saved by an earlier run.
Part run_method(const Method& m, EvalContext& c, const TaskData& td) {
  const EvalOptions& o = c.o;
  const fs::path path = fs::path(o.out) / "parts" / to_string(td.task) / (m.id() + ".pt");
  const json key = part_key(m, c, td);
  const std::int64_t n = o.images, k = o.seeds, per = std::max<std::int64_t>(1, o.batch / k);
  if (!o.fresh)
    if (auto p = load_part(path, key, n * k)) return *p;
  const std::int64_t chunks = (n + per - 1) / per;
  const long steps = m.family == "pinv" ? 1 : m.nfe;
  Progress bar(std::string(to_string(td.task)) + " " + m.id(), chunks * steps + (o.batch1 ? steps : 0));
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
    // The same initial noise for every method (common random numbers): seeded by task and chunk.
    const std::uint64_t ns = o.seed * 1000003ull + 7919ull * (td.index + 1) + static_cast<std::uint64_t>(chunk);
    out.push_back(sample_batch(m, c, A, y, b, ns, tick, part.vjp).to(at::kCPU, at::kFloat));
    if (m.family == "pinv") tick();
  }
  part.seconds = clock.seconds() / double(n * k);
  part.samples = at::cat(out);
  if (o.batch1) {
    const Op A = subset(td.op, 0, 1, 1, td.x0);
    int vjp = 0;
    Stopwatch c1;
    (void)sample_batch(m, c, A, td.y.slice(0, 0, 1), 1, o.seed + 17, tick, vjp).to(at::kCPU);
    if (m.family == "pinv") tick();
    part.seconds_b1 = c1.seconds();
  }
  save_part(path, key, part);
  return part;
}

/// Per-image values → mean and standard error over images.
struct MeanSe {
  double mean = NAN, se = NAN;
};
MeanSe mean_se(const std::vector<double>& v) {
  MeanSe r;
  if (v.empty()) return r;
  double s = 0, s2 = 0;
  for (double x : v) s += x;
  r.mean = s / double(v.size());
  for (double x : v) s2 += (x - r.mean) * (x - r.mean);
  r.se = v.size() > 1 ? std::sqrt(s2 / double(v.size() - 1) / double(v.size())) : 0.0;
  return r;
}

/// Classifier features of images [N, 1, 28, 28] (any device) as a host matrix (sample-major).
std::vector<double> features(Classifier& net, const Tn& x, const at::Device& device) {
  torch::NoGradGuard ng;
  std::vector<Tn> f;
  for (std::int64_t i = 0; i < x.size(0); i += 500)
    f.push_back(
        net->features(x.slice(0, i, std::min(x.size(0), i + 500)).to(device, at::kFloat)).to(at::kCPU, at::kDouble));
  const Tn all = at::cat(f).contiguous();
  return {all.data_ptr<double>(), all.data_ptr<double>() + all.numel()};
}

struct Row {
  std::string task, method, family;
  int nfe = 0, vjp = 0;
  MeanSe psnr, ssim, psnr_mean, ssim_mean, crps, consistency;
  double fd = NAN, seconds = NAN, seconds_b1 = NAN;
  std::int64_t batch = 0;
  bool reused = false;
};

/// The metrics of one method's samples against the task's truth (docs/evaluation.md, "Metrics").
Row score(const Method& m, const Part& p, const TaskData& td, const EvalOptions& o, Classifier& cls,
          const GaussianStats& ref, const at::Device& device) {
  const std::int64_t n = o.images, k = o.seeds, d = kImage.numel();
  const Tn x = p.samples.to(at::kDouble).contiguous();
  const Tn truth = td.x0.to(at::kCPU, at::kDouble).contiguous();
  // Measurement consistency ‖measured(A x̂ − y)‖/√m, m the number of measured values of the sample.
  const Op A = subset(td.op, 0, n, k, td.x0);
  Tn consistency;  // per sample
  std::visit(
      [&](const auto& Aop) {
        const Tn xs = p.samples.to(td.x0.device(), td.x0.scalar_type());
        const Tn yr = td.y.repeat_interleave(k, 0);
        const Tn res = eps::measured(Aop, Aop.apply(xs) - yr).flatten(1).to(at::kCPU, at::kDouble).norm(2, 1);
        const Tn count = (eps::measured(Aop, at::ones_like(yr)) != 0).flatten(1).sum(1).to(at::kCPU, at::kDouble);
        consistency = (res / count.clamp_min(1).sqrt()).contiguous();
      },
      A);
  Row r;
  r.task = to_string(td.task);
  r.method = m.id();
  r.family = m.family;
  r.nfe = m.family == "pinv" ? 0 : m.nfe;
  r.vjp = p.vjp;
  r.seconds = p.seconds;
  r.seconds_b1 = p.seconds_b1;
  r.batch = std::min(o.batch, n * k);
  r.reused = p.reused;
  std::vector<double> ps, ss, pm, sm, cr, co;
  const double* xp = x.data_ptr<double>();
  const double* tp = truth.data_ptr<double>();
  const double* cp = consistency.data_ptr<double>();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::span<const double> t(tp + i * d, static_cast<std::size_t>(d));
    double a = 0, b = 0, c = 0;
    std::vector<double> mean(static_cast<std::size_t>(d), 0.0);
    for (std::int64_t j = 0; j < k; ++j) {
      const std::span<const double> s(xp + (i * k + j) * d, static_cast<std::size_t>(d));
      a += psnr(s, t) / double(k);
      b += ssim(s, t, kImage) / double(k);
      c += cp[i * k + j] / double(k);
      for (std::int64_t q = 0; q < d; ++q)
        mean[static_cast<std::size_t>(q)] += s[static_cast<std::size_t>(q)] / double(k);
    }
    ps.push_back(a);
    ss.push_back(b);
    co.push_back(c);
    pm.push_back(psnr(mean, t));
    sm.push_back(ssim(mean, t, kImage));
    cr.push_back(crps(SampleSet{std::span<const double>(xp + i * k * d, static_cast<std::size_t>(k * d)), d, k}, t));
  }
  r.psnr = mean_se(ps);
  r.ssim = mean_se(ss);
  r.psnr_mean = mean_se(pm);
  r.ssim_mean = mean_se(sm);
  r.crps = mean_se(cr);
  r.consistency = mean_se(co);
  if (n * k >= 2) {
    const std::vector<double> f = features(cls, p.samples, device);
    r.fd = frechet_distance(gaussian_stats(SampleSet{f, ClassifierImpl::feature_count, n * k}), ref);
  }
  return r;
}

/// The cost comparison of one task, measured side by side (docs/evaluation.md, "Cost"): the EPS input
/// per call at batch 1 (the whole pivot through eps_input, and the per-call part through EpsInputPlan)
/// against one network evaluation; EPS@20 and prior@20 per image at batch 1 and at the run's batch, in
/// interleaved repetitions (medians), so that load on the machine hits both alike; DPS@250 at batch 1.
struct Cost {
  std::string task;
  double pivot_full_s = NAN, pivot_s = NAN, network_s = NAN;
  double eps_b1 = NAN, prior_b1 = NAN, eps_batch = NAN, prior_batch = NAN, dps_b1 = NAN;
  std::int64_t batch = 0;
};

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// The median time of `reps` calls of f (after 3 warm-up calls), waiting for the device after each.
template <class F>
double median_seconds(F&& f, int reps, const at::Device& device) {
  for (int i = 0; i < 3; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    Stopwatch c;
    Tn r = f();
    if (!device.is_cpu()) (void)r.sum().item<double>();
    t.push_back(c.seconds());
  }
  return median(std::move(t));
}

Cost measure_cost(const TaskData& td, EvalContext& c, const std::string& eps_model, const std::string& prior_model,
                  bool dps) {
  const EvalOptions& o = c.o;
  Cost r{to_string(td.task)};
  if (eps_model.empty()) return r;
  ModelFile& mf = c.models.get(eps_model);
  torch::NoGradGuard ng;
  const Op A = subset(td.op, 0, 1, 1, td.x0);
  const Tn y = td.y.slice(0, 0, 1);
  const Tn x = td.x0.slice(0, 0, 1) + at::randn_like(td.x0.slice(0, 0, 1));  // σ/α = 1
  with_schedule(mf.config, [&](const auto& s) {
    const double t = time_from_noise_ratio(s, 1.0);
    const Coefficients co = coefficients(s, t);
    PivotOptions po;
    po.check_range = false;
    std::visit(
        [&](const auto& Aop) {
          const NoiseLevels lv{co.alpha, co.sigma, o.sigma_y};
          const EpsInputPlan<std::decay_t<decltype(Aop)>> plan(Aop, y);
          r.pivot_full_s = median_seconds([&] { return eps_input(Aop, x, y, lv, po).image; }, o.timing_reps, c.device);
          r.pivot_s = median_seconds([&] { return plan(x, lv).image; }, o.timing_reps, c.device);
          const ConditionalInput<Tn> in = plan(x, lv);
          r.network_s = median_seconds([&] { return conditional_denoise(mf, s, in, t); }, o.timing_reps, c.device);
        },
        A);
    return 0;
  });
  if (prior_model.empty()) return r;
  // EPS@20 against prior@20, interleaved; then DPS@250 once, at batch 1.
  const std::int64_t per = std::max<std::int64_t>(1, o.batch / o.seeds), n = std::min(per, o.images);
  r.batch = n * o.seeds;
  const Op Ab = subset(td.op, 0, n, o.seeds, td.x0);
  const Tn yb = td.y.slice(0, 0, n).repeat_interleave(o.seeds, 0);
  const Method eps{"eps_multitask", 20, eps_model}, prior{"prior", 20, prior_model}, dps_m{"dps", 250, prior_model};
  Progress bar("cost " + r.task, 4L * o.cost_reps + (dps ? 1 : 0));
  long done = 0;
  const auto none = [] {};
  const auto timed = [&](const Method& m, const Op& op, const Tn& yy, std::int64_t b) {
    int vjp = 0;
    Stopwatch clock;
    (void)sample_batch(m, c, op, yy, b, o.seed + 29, none, vjp).to(at::kCPU);
    bar.update(++done);
    return clock.seconds() / double(b);
  };
  (void)timed(eps, A, y, 1);  // warm-up of both models
  (void)timed(prior, A, y, 1);
  done = 0;
  std::vector<double> e1, p1, eb, pb;
  for (int i = 0; i < o.cost_reps; ++i) {
    e1.push_back(timed(eps, A, y, 1));
    p1.push_back(timed(prior, A, y, 1));
    eb.push_back(timed(eps, Ab, yb, r.batch));
    pb.push_back(timed(prior, Ab, yb, r.batch));
  }
  r.eps_b1 = median(e1);
  r.prior_b1 = median(p1);
  r.eps_batch = median(eb);
  r.prior_batch = median(pb);
  if (dps) r.dps_b1 = timed(dps_m, A, y, 1);
  return r;
}

std::string fmt(double v, int prec = 3) {
  if (!std::isfinite(v)) return std::isinf(v) ? "inf" : "";
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}
std::string fmt_se(const MeanSe& m, int prec) {
  if (!std::isfinite(m.mean)) return "–";
  return fmt(m.mean, prec) + " ± " + fmt(m.se, prec);
}
/// v to 4 significant digits, or `missing` where it is not finite (an empty CSV field, NaN for gnuplot).
std::string number_or(double v, const char* missing) {
  if (!std::isfinite(v)) return missing;
  std::ostringstream os;
  os << std::setprecision(4) << v;
  return os.str();
}
std::string sci(double v) { return number_or(v, ""); }

/// v, or null where it is not finite.
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
json to_json(const MeanSe& m) { return {{"mean", number(m.mean)}, {"se", number(m.se)}}; }

std::string markdown(const std::vector<Row>& rows, const std::vector<Cost>& costs, const EvalOptions& o,
                     const std::map<std::string, double>& floors) {
  std::ostringstream md;
  std::string task;
  for (const Row& r : rows) {
    if (r.task != task) {
      task = r.task;
      md << "\n### " << task << " (σ_y = " << o.sigma_y << ", " << o.images << " images × " << o.seeds
         << " seeds; FD of " << o.images * o.seeds << " test images: " << fmt(floors.at(task), 2) << ")\n\n"
         << "| method | NFE | PSNR | SSIM | PSNR (mean) | SSIM (mean) | CRPS | FD | ‖Ax̂−y‖/√m | s/img b=1 | s/img b="
         << std::min(o.batch, o.images * o.seeds) << " |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    }
    md << "| " << r.method << " | " << r.nfe << (r.vjp > 0 ? " (+" + std::to_string(r.vjp) + " VJP)" : "") << " | "
       << fmt_se(r.psnr, 2) << " | " << fmt_se(r.ssim, 3) << " | " << fmt_se(r.psnr_mean, 2) << " | "
       << fmt_se(r.ssim_mean, 3) << " | " << fmt_se(r.crps, 4) << " | " << fmt(r.fd, 2) << " | "
       << fmt_se(r.consistency, 3) << " | " << sci(r.seconds_b1) << " | " << sci(r.seconds) << " |\n";
  }
  // Cost, side by side.
  md << "\n### Cost (side by side; seconds per image are medians of interleaved runs)\n\n"
        "| task | EPS input per call, eps_input / plan (ms, b=1) | network eval (ms, b=1) | pivot share | "
        "EPS@20 / prior@20, b=1 | EPS@20 / prior@20, batch | DPS@250 / EPS@20, b=1 | DPS@250 / EPS@20, batch |\n"
        "|---|---|---|---|---|---|---|---|\n";
  for (const Cost& c : costs) {
    const auto find = [&](const std::string& id) -> const Row* {
      for (const Row& r : rows)
        if (r.task == c.task && r.method == id) return &r;
      return nullptr;
    };
    const Row *e = find("eps_multitask@20"), *dps = find("dps@250");
    const auto ratio = [](double a, double b) { return std::isfinite(a / b) ? fmt(a / b, 3) + "×" : std::string("–"); };
    md << "| " << c.task << " | " << fmt(c.pivot_full_s * 1e3, 3) << " / " << fmt(c.pivot_s * 1e3, 3) << " | "
       << fmt(c.network_s * 1e3, 2) << " | " << fmt(100 * c.pivot_s / c.network_s, 2) << " % | "
       << ratio(c.eps_b1, c.prior_b1) << " (" << sci(c.eps_b1) << " s) | " << ratio(c.eps_batch, c.prior_batch)
       << " (b=" << c.batch << ") | " << ratio(c.dps_b1, c.eps_b1) << " | "
       << (e && dps ? ratio(dps->seconds, e->seconds) : std::string("–")) << " |\n";
  }
  return md.str();
}

void write_plots(const fs::path& dir, const std::vector<Row>& rows, const std::vector<std::string>& tasks) {
  const fs::path pd = dir / "plots";
  fs::create_directories(pd);
  std::ostringstream gp;
  gp << "set terminal pngcairo noenhanced size 900,560 font 'sans,10'\nset grid\nset key outside right\n";
  for (const std::string& task : tasks) {
    std::ostringstream dat;
    std::vector<std::string> names;
    std::string pinv_psnr, pinv_fd;
    for (const std::string& f : kFamilies) {
      std::vector<const Row*> pts;
      for (const Row& r : rows)
        if (r.task == task && r.family == f) pts.push_back(&r);
      if (pts.empty()) continue;
      if (f == "pinv") {
        pinv_psnr = fmt(pts[0]->psnr.mean, 4);
        pinv_fd = fmt(pts[0]->fd, 4);
        continue;
      }
      std::sort(pts.begin(), pts.end(), [](const Row* a, const Row* b) { return a->nfe < b->nfe; });
      dat << "# " << f << "\n";
      for (const Row* r : pts) dat << r->nfe << " " << fmt(r->psnr.mean, 4) << " " << number_or(r->fd, "NaN") << "\n";
      dat << "\n\n";
      names.push_back(f);
    }
    const fs::path df = pd / ("nfe_" + task + ".dat");
    write_file_atomic(df, dat.str());
    for (int col : {2, 3}) {
      const std::string what = col == 2 ? "psnr" : "fd";
      gp << "set output '" << (pd / (what + "_" + task + ".png")).string() << "'\nset title '"
         << (col == 2 ? "PSNR of one posterior sample (dB), " : "Fréchet distance (classifier features), ") << task
         << "'\nset logscale x\nset xlabel 'NFE per sample'\nset ylabel '" << (col == 2 ? "PSNR (dB)" : "FD") << "'\n";
      // One colour and point type per family, the same in every plot; PSNR from 0 dB (A†y can lie far below).
      static const char* colours[] = {"#000000", "#7f7f7f", "#d62728", "#ff7f0e", "#8c564b", "#2ca02c",
                                      "#17becf", "#1f77b4", "#9467bd", "#bcbd22", "#e377c2"};
      gp << (col == 2 ? "set yrange [0:*]\n" : "set autoscale y\n") << "plot ";
      for (std::size_t i = 0; i < names.size(); ++i) {
        const auto k =
            static_cast<std::size_t>(std::find(kFamilies.begin(), kFamilies.end(), names[i]) - kFamilies.begin());
        gp << "'" << df.string() << "' index " << i << " using 1:" << col << " with linespoints lw 2 pt " << 4 + k % 10
           << " ps 1.5 lc rgb '" << colours[k % 11] << "' title '" << names[i] << "', ";
      }
      const std::string& pv = col == 2 ? pinv_psnr : pinv_fd;
      if (!pv.empty())
        gp << pv << " with lines dt 2 lw 2 lc rgb 'black' title 'A†y (" << pv << ")'\n";
      else
        gp << "NaN notitle\n";
      gp << "unset logscale\nset autoscale y\n";
    }
  }
  // Cost: seconds per image per method (mean over tasks), at batch 1 and at the run's batch.
  std::map<std::string, std::pair<double, double>> sum;
  std::map<std::string, int> cnt;
  std::vector<std::string> order;
  for (const Row& r : rows) {
    if (!cnt.count(r.method)) order.push_back(r.method);
    sum[r.method].first += r.seconds_b1;
    sum[r.method].second += r.seconds;
    ++cnt[r.method];
  }
  std::ostringstream cd;
  for (const std::string& m : order)
    cd << "\"" << m << "\" " << number_or(sum[m].first / cnt[m], "NaN") << " "
       << number_or(sum[m].second / cnt[m], "NaN") << "\n";
  const fs::path cf = pd / "cost.dat";
  write_file_atomic(cf, cd.str());
  gp << "set output '" << (pd / "cost.png").string()
     << "'\nset terminal pngcairo noenhanced size 1100,560 font 'sans,10'\n"
     << "set title 'wall time per image (mean over tasks)'\nset style data histogram\nset style histogram cluster gap "
        "1\n"
     << "set style fill solid 0.8 border -1\nset logscale y\nset format y '%g'\nunset xlabel\n"
     << "set ylabel 'seconds per image'\nset xtics rotate by -45\n"
     << "set datafile missing NaN\nplot '" << cf.string()
     << "' using 2:xtic(1) title 'batch 1', '' using 3 title 'run batch'\n";
  const fs::path script = pd / "plots.gp";
  write_file_atomic(script, gp.str());
  run_gnuplot(script, "eps image eval");
}

int run_eval(const EvalOptions& o) {
  Stopwatch total;
  const at::Device device = parse_device(o.device);
  // Every hardware thread by default (LibTorch's own default counts physical cores only).
  at::set_num_threads(o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  // Tasks and methods.
  const std::vector<Task> tasks = tasks_from_flag(o.tasks);
  std::set<std::string> fam;
  for (const std::string& m : o.methods) {
    if (m == "all") {
      fam.insert(kFamilies.begin(), kFamilies.end());
      continue;
    }
    EPS_CHECK(std::find(kFamilies.begin(), kFamilies.end(), m) != kFamilies.end(), value_error,
              "--methods: unknown method '", m,
              "'; expected all or some of pinv, prior, eps_multitask, eps_task, eps_scratch, palette, zero_shot, dps, "
              "pigdm, ddnm, ddrm");
    fam.insert(m);
  }
  EPS_CHECK(o.images >= 1 && o.seeds >= 1, value_error, "--images and --seeds must be >= 1");
  const fs::path md(o.models);
  const auto pick = [&](const std::string& flag, const fs::path& dflt) { return flag.empty() ? dflt.string() : flag; };
  const std::string prior = pick(o.prior, md / "prior" / "model.pt"),
                    eps = pick(o.eps, md / "eps_multitask" / "model.pt"),
                    palette = pick(o.palette, md / "palette_multitask" / "model.pt"),
                    classifier = pick(o.classifier, md / "classifier" / "classifier.pt");
  // The model each family runs on (the per-task and from-scratch EPS models are looked up per task) and the
  // flag that names it: one table for the check that the selected methods' models exist and for the methods.
  struct SharedModel {
    const std::string* path;
    const char* what;
    const char* flag;
  };
  const SharedModel prior_model{&prior, "prior", "prior"}, eps_model{&eps, "multi-task EPS model", "eps"},
      palette_model{&palette, "Palette model", "palette"};
  const std::map<std::string, SharedModel> shared_model{
      {"prior", prior_model}, {"eps_multitask", eps_model}, {"palette", palette_model}, {"zero_shot", prior_model},
      {"dps", prior_model},   {"pigdm", prior_model},       {"ddnm", prior_model},      {"ddrm", prior_model}};
  const auto need = [&](const std::string& path, const char* what, const char* flag) {
    EPS_CHECK(fs::exists(path), io_error, "no ", what, " at '", path,
              "' (the shipped models are in the repository's models/: run from the repository root, or pass --models "
              "DIR or --",
              flag, " FILE)");
  };
  need(classifier, "classifier", "classifier");
  for (const auto& [f, m] : shared_model)
    if (fam.count(f)) need(*m.path, m.what, m.flag);
  Models models(device);
  EvalContext ctx{o, device, models};
  // Data: the first `images` test images are restored; the Fréchet reference is the first fd_reference.
  const ImageData test = load_image_data(o.data, true, 0, device);
  const std::int64_t ntest = test.train.size(0);
  EPS_CHECK(o.images + o.images * o.seeds <= ntest && o.fd_reference >= 2 && o.fd_reference <= ntest, value_error,
            "--images ", o.images, " x --seeds ", o.seeds, " and --fd-reference ", o.fd_reference,
            " need more than the ", ntest, " test images");
  Classifier cls = read_classifier(classifier, device);
  const std::vector<double> rf = features(cls, test.train.slice(0, 0, o.fd_reference), device);
  const GaussianStats ref = gaussian_stats(SampleSet{rf, ClassifierImpl::feature_count, o.fd_reference});
  const fs::path out(o.out);
  std::vector<Row> rows;
  std::vector<Cost> costs;
  std::map<std::string, double> floors;
  std::vector<std::string> task_names;
  std::size_t reused = 0, ran = 0;
  for (std::size_t ti = 0; ti < tasks.size(); ++ti) {
    const Task task = tasks[ti];
    const std::string tn = to_string(task);
    task_names.push_back(tn);
    // Seeds depend on the task itself, not on its position in --tasks: a task gets the same operators,
    // measurements and initial noise in every run.
    const auto tid = static_cast<std::size_t>(task);
    TaskData td{task, tid, Op{Mask<Tn>(at::ones({1, 1, 28, 28}, test.train.options()), kImage.shape())}, {}, {},
                {},   {}};
    td.x0 = test.train.slice(0, 0, o.images);
    TaskSampler<Tn> sampler(kImage, {task}, o.seed + 101 * tid);
    td.op = sampler.evaluation(task, td.x0, o.images);
    libtorch::Generator gen(o.seed + 303 * tid);
    std::visit(
        [&](const auto& A) {
          const Tn clean = A.apply(td.x0);
          td.y = clean + o.sigma_y * at::randn(clean.sizes(), gen.on(device), clean.options());
          td.observation = observation_image(A, td.y);
          td.pinv = pinv_apply(A, td.y);
        },
        td.op);
    // The FD floor: as many other test images as there are samples.
    const std::int64_t ns = o.images * o.seeds;
    floors[tn] = ns >= 2
                     ? frechet_distance(
                           gaussian_stats(SampleSet{features(cls, test.train.slice(0, o.images, o.images + ns), device),
                                                    ClassifierImpl::feature_count, ns}),
                           ref)
                     : NAN;
    // Methods of this task.
    std::vector<Method> ms;
    const auto add = [&](const std::string& f, const std::vector<int>& nfes, const std::string& model) {
      if (!fam.count(f)) return;
      for (int n : nfes) ms.push_back(Method{f, n, model});
    };
    const auto add_shared = [&](const std::string& f, const std::vector<int>& nfes) {
      add(f, nfes, *shared_model.at(f).path);
    };
    add("pinv", {0}, "");
    add_shared("prior", o.prior_nfe);
    add_shared("eps_multitask", o.eps_nfe);
    const fs::path per_task = md / ("eps_" + tn) / "model.pt", scratch = md / ("eps_scratch_" + tn) / "model.pt";
    if (fs::exists(per_task)) add("eps_task", o.eps_nfe, per_task.string());
    if (fs::exists(scratch)) add("eps_scratch", o.eps_nfe, scratch.string());
    add_shared("palette", o.baseline_nfe);
    add_shared("zero_shot", o.baseline_nfe);
    add_shared("dps", o.dps_nfe);
    add_shared("pigdm", o.baseline_nfe);
    add_shared("ddnm", o.baseline_nfe);
    add_shared("ddrm", o.baseline_nfe);
    std::map<std::string, Part> parts;
    for (const Method& m : ms) {
      Part p = run_method(m, ctx, td);
      (p.reused ? reused : ran) += 1;
      rows.push_back(score(m, p, td, o, cls, ref, device));
      parts.emplace(m.id(), std::move(p));
    }
    costs.push_back(measure_cost(td, ctx, fam.count("eps_multitask") ? eps : std::string(),
                                 fam.count("prior") ? prior : std::string(), fam.count("dps") > 0));
    // The grid: truth, observation, A†y, one sample of each method, EPS's posterior mean and pixel std.
    const std::int64_t g = std::min(o.grid_images, o.images);
    const auto seed0 = [&](const Tn& s) {
      return s.view({o.images, o.seeds, 1, 28, 28}).select(1, 0).slice(0, 0, g).to(at::kCPU, at::kFloat);
    };
    std::vector<Tn> grid{td.x0.slice(0, 0, g).to(at::kCPU, at::kFloat),
                         td.observation.slice(0, 0, g).to(at::kCPU, at::kFloat),
                         td.pinv.slice(0, 0, g).to(at::kCPU, at::kFloat)};
    std::ostringstream legend;
    legend << "columns of grid_" << tn << ".png (rows: test images 0.." << g - 1
           << "):\n1 ground truth\n2 measurement as an image\n3 A†y\n";
    int row = 4;
    for (const Method& m : ms) {
      if (m.family == "pinv") continue;
      grid.push_back(seed0(parts.at(m.id()).samples));
      legend << row++ << " " << m.id() << " (seed 0)\n";
    }
    std::string ens;
    for (const char* id : {"eps_multitask@20", "eps_multitask@100", "eps_task@20", "eps_scratch@20"})
      if (ens.empty() && parts.count(id)) ens = id;
    if (ens.empty())
      for (const Method& m : ms)
        if (ens.empty() && m.family.rfind("eps", 0) == 0) ens = m.id();
    if (!ens.empty()) {
      const Tn s = parts.at(ens).samples.view({o.images, o.seeds, 1, 28, 28}).slice(0, 0, g);
      grid.push_back(s.mean(1));
      grid.push_back(o.seeds > 1 ? (s.std(1) / 0.5).clamp(0, 1) * 2 - 1 : at::full_like(s.mean(1), -1));
      legend << row << " " << ens << " posterior mean over " << o.seeds << " seeds\n";
      legend << row + 1 << " " << ens << " pixel standard deviation (black 0, white >= 0.5)\n";
    }
    // One row per test image, one column per entry of the legend.
    const auto cols = static_cast<std::int64_t>(grid.size());
    write_file_atomic(out / ("grid_" + tn + ".png"), png_grid(at::stack(grid, 1).reshape({g * cols, 1, 28, 28}), cols));
    write_file_atomic(out / ("grid_" + tn + ".txt"), legend.str());
  }
  // Outputs.
  const std::string table = markdown(rows, costs, o, floors);
  write_file_atomic(out / "results.md", "# eps image eval\n" + table);
  std::ostringstream csv;
  csv << "task,method,family,nfe,vjp,psnr,psnr_se,ssim,ssim_se,psnr_mean,psnr_mean_se,ssim_mean,ssim_mean_se,crps,"
         "crps_se,fd,consistency,consistency_se,sigma_y,seconds_per_image_b1,seconds_per_image,batch,images,seeds\n";
  csv << std::setprecision(10);
  json jrows = json::array();
  for (const Row& r : rows) {
    csv << r.task << "," << r.method << "," << r.family << "," << r.nfe << "," << r.vjp << "," << r.psnr.mean << ","
        << r.psnr.se << "," << r.ssim.mean << "," << r.ssim.se << "," << r.psnr_mean.mean << "," << r.psnr_mean.se
        << "," << r.ssim_mean.mean << "," << r.ssim_mean.se << "," << r.crps.mean << "," << r.crps.se << ","
        << sci(r.fd) << "," << r.consistency.mean << "," << r.consistency.se << "," << o.sigma_y << ","
        << sci(r.seconds_b1) << "," << r.seconds << "," << r.batch << "," << o.images << "," << o.seeds << "\n";
    jrows.push_back({{"task", r.task},
                     {"method", r.method},
                     {"family", r.family},
                     {"nfe", r.nfe},
                     {"vjp", r.vjp},
                     {"psnr", to_json(r.psnr)},
                     {"ssim", to_json(r.ssim)},
                     {"psnr_mean", to_json(r.psnr_mean)},
                     {"ssim_mean", to_json(r.ssim_mean)},
                     {"crps", to_json(r.crps)},
                     {"fd", number(r.fd)},
                     {"consistency", to_json(r.consistency)},
                     {"seconds_per_image_b1", number(r.seconds_b1)},
                     {"seconds_per_image", r.seconds},
                     {"batch", r.batch},
                     {"reused", r.reused}});
  }
  write_file_atomic(out / "results.csv", csv.str());
  json jc = json::array();
  for (const Cost& c : costs)
    jc.push_back({{"task", c.task},
                  {"eps_input_seconds_b1", number(c.pivot_full_s)},
                  {"eps_input_plan_seconds_b1", number(c.pivot_s)},
                  {"network_seconds_b1", number(c.network_s)},
                  {"pivot_share", number(c.pivot_s / c.network_s)},
                  {"eps20_seconds_per_image_b1", number(c.eps_b1)},
                  {"prior20_seconds_per_image_b1", number(c.prior_b1)},
                  {"eps20_seconds_per_image_batch", number(c.eps_batch)},
                  {"prior20_seconds_per_image_batch", number(c.prior_batch)},
                  {"dps250_seconds_per_image_b1", number(c.dps_b1)},
                  {"batch", c.batch}});
  json jf = json::object();
  for (const auto& [t, v] : floors) jf[t] = number(v);
  json config = run_config(o, device);
  config["fd_reference"] = o.fd_reference;
  config["ssim"] = "Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, data range 2, valid positions";
  config["fd_features"] = "penultimate layer (128) of the project's Fashion-MNIST classifier, not Inception";
  config["models"] = {{"prior", prior}, {"eps_multitask", eps}, {"palette", palette}, {"classifier", classifier}};
  const json doc{{"config", config}, {"rows", jrows}, {"cost", jc}, {"fd_test_images", jf}};
  write_file_atomic(out / "results.json", doc.dump(1) + "\n");
  if (o.plots) write_plots(out, rows, task_names);
  std::cout << table
            << "\nPSNR/SSIM: mean ± standard error over images (single samples averaged over seeds; "
               "\"mean\": of the posterior mean over seeds); SSIM: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 "
               "0.03, range 2; FD: Fréchet distance in the project's classifier features (not Inception FID) to "
            << o.fd_reference << " test images\n"
            << ran << " method runs computed, " << reused << " reused from " << (out / "parts").string()
            << " (--fresh recomputes); " << total.seconds() << " s\nwrote " << (out / "results.md").string() << ", "
            << (out / "results.csv").string() << ", " << (out / "results.json").string() << ", "
            << (out / "grid_<task>.png").string() << " (columns listed in grid_<task>.txt)"
            << (o.plots ? ", " + (out / "plots").string() + "/" : std::string()) << "\n";
  return 0;
}

}  // namespace

void add_image_eval_command(CLI::App& image) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* c = image.add_subcommand(
      "eval",
      "Every posterior sampler on the shipped models: PSNR, SSIM, CRPS, FD, consistency, cost (docs/evaluation.md)");
  c->add_option("--models", o->models,
                "Directory of the models (prior/, eps_multitask/, palette_multitask/, classifier/, and eps_<task>/, "
                "eps_scratch_<task>/ where present)");
  c->add_option("--prior", o->prior, "model.pt of the prior (default: MODELS/prior/model.pt)");
  c->add_option("--eps", o->eps, "model.pt of the multi-task EPS model (default: MODELS/eps_multitask/model.pt)");
  c->add_option("--palette", o->palette, "model.pt of Palette (default: MODELS/palette_multitask/model.pt)");
  c->add_option("--classifier", o->classifier, "classifier.pt (default: MODELS/classifier/classifier.pt)");
  c->add_option("--tasks", o->tasks,
                "all, or some of random_inpainting, box_inpainting, super_resolution, "
                "gaussian_deblur, motion_deblur")
      ->delimiter(',');
  c->add_option("--methods", o->methods,
                "all, or some of pinv, prior, eps_multitask, eps_task, eps_scratch, palette, zero_shot, dps, pigdm, "
                "ddnm, ddrm")
      ->delimiter(',');
  c->add_option("--images", o->images, "Test images restored per task")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{5000}));
  c->add_option("--seeds", o->seeds, "Posterior samples per image")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}));
  c->add_option("--batch", o->batch, "Samples per sampler call (a realistic batch; an image's seeds share one call)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000}));
  c->add_option("--eps-nfe", o->eps_nfe, "NFE of the EPS models")->delimiter(',')->check(CLI::Range(1, 100000));
  c->add_option("--prior-nfe", o->prior_nfe, "NFE of the unconditional prior sampler")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000));
  c->add_option("--baseline-nfe", o->baseline_nfe, "NFE of Palette, the zero-shot pivot, PiGDM, DDNM and DDRM")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000));
  c->add_option("--dps-nfe", o->dps_nfe, "NFE of DPS")->delimiter(',')->check(CLI::Range(1, 100000));
  c->add_option("--sigma-y", o->sigma_y, "Measurement noise")->check(CLI::Range(0.0, 10.0));
  c->add_option("--dps-zeta", o->dps_zeta, "DPS step size zeta")->check(CLI::Range(0.0, 1e6));
  c->add_option("--sigma-max", o->sigma_max,
                "Largest sigma/alpha of every sampler's EDM grid (where EPS at 1 NFE evaluates its network)")
      ->check(CLI::Range(0.01, 1000.0));
  c->add_option("--seed", o->seed, "Seed of the operators, the measurement noise and the samplers' noise");
  c->add_option("--fd-reference", o->fd_reference, "Test images whose features are the Fréchet reference")
      ->check(CLI::Range(std::int64_t{2}, std::int64_t{10000}));
  c->add_option("--grid-images", o->grid_images, "Images (columns) in each grid")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{64}));
  c->add_option("--timing-reps", o->timing_reps, "Repetitions of the pivot and network timings")
      ->check(CLI::Range(1, 100000));
  c->add_option("--cost-reps", o->cost_reps,
                "Interleaved repetitions of EPS@20 and prior@20 (batch 1 and the run's batch) in the cost comparison")
      ->check(CLI::Range(1, 1000));
  c->add_flag("!--no-batch1", o->batch1, "Skip the batch-1 timing run of every method");
  c->add_flag("!--no-plots", o->plots, "Skip the gnuplot figures");
  c->add_flag("--fresh", o->fresh, "Recompute every method even where OUT/parts holds its samples");
  c->add_option("--out", o->out, "Output directory");
  c->add_option("--data", o->data, "Directory of the Fashion-MNIST IDX files");
  c->add_option("--device", o->device, "cpu, cuda or cuda:k");
  c->add_option("--threads", o->threads, "CPU threads (0: every hardware thread)")->check(CLI::Range(0, 1024));
  c->callback([o] { throw CommandResult{run_eval(*o)}; });
}

}  // namespace eps::cli
