// SPDX-License-Identifier: MIT
// `eps image eval`: the cost comparison of one task, measured side by side (docs/evaluation.md, "Cost"): the
// EPS input per call at batch 1 (the whole pivot through eps_input, and the per-call part through
// EpsInputPlan) against one network evaluation; EPS@20 and prior@20 per image at batch 1 and at the run's
// batch in interleaved repetitions (medians), so that load on the machine hits both alike; DPS@250 at batch 1.
#include <algorithm>

#include "eps/backends/torch.hpp"
#include "eps/network_input.hpp"
#include "eval.hpp"
#include "util.hpp"

namespace eps::cli::eval {
namespace {

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

}  // namespace

Cost measure_cost(const TaskData& td, Context& c, const std::string& eps_model, const std::string& prior_model,
                  bool dps) {
  const EvalOptions& o = c.o;
  Cost r{to_string(td.task)};
  if (eps_model.empty()) return r;
  const networks::Model& mf = c.models.get(eps_model);
  torch::NoGradGuard ng;
  const Op A = subset(td.op, 0, 1, 1, td.x0);
  const Tn y = td.y.slice(0, 0, 1);
  const Tn x = td.x0.slice(0, 0, 1) + at::randn_like(td.x0.slice(0, 0, 1));  // σ/α = 1
  const AnySchedule& s = mf.schedule();
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
        r.network_s = median_seconds([&] { return mf.conditional_denoise(s, in, t); }, o.timing_reps, c.device);
      },
      A);
  if (prior_model.empty()) return r;
  // EPS@20 against prior@20, interleaved; then DPS@250 once, at batch 1.
  const std::int64_t per = std::max<std::int64_t>(1, o.batch / o.seeds), n = std::min(per, o.images);
  r.batch = n * o.seeds;
  const Op Ab = subset(td.op, 0, n, o.seeds, td.x0);
  const Tn yb = td.y.slice(0, 0, n).repeat_interleave(o.seeds, 0);
  const Run eps{"eps", "eps_multitask", 20, eps_model, std::nullopt},
      prior{"prior", "prior", 20, prior_model, std::nullopt}, dps_run{"dps", "dps", 250, prior_model, std::nullopt};
  Progress bar("cost " + r.task, 4L * o.cost_reps + (dps ? 1 : 0));
  long done = 0;
  const auto none = [] {};
  const auto timed = [&](const Run& m, const Op& op, const Tn& yy, std::int64_t b) {
    Counts counts;
    Stopwatch clock;
    (void)sample_batch(m, c, td, op, yy, b, o.seed + 29, none, counts).to(at::kCPU);
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
  if (dps) r.dps_b1 = timed(dps_run, A, y, 1);
  return r;
}

}  // namespace eps::cli::eval
