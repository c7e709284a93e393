// SPDX-License-Identifier: MIT
// `eps image eval`: the metrics of one run's samples (docs/evaluation.md, "Metrics"), and the images of a split.
#include <span>

#include "eps/backends/torch.hpp"
#include "eval.hpp"

namespace eps::cli::eval {

const char* to_string(Split s) { return s == Split::test ? "test" : "val"; }

ImageData split_images(const EvalOptions& o, const at::Device& device) {
  if (o.split == Split::test) return load_image_data(o.data, true, 0, device);
  // Validation images 1000 … 1999: never trained on, and not among the 512 behind the training's validation loss.
  ImageData all = load_image_data(o.data, false, 0, device);
  ImageData d;
  d.train = all.val.slice(0, 1000);
  d.train_labels = all.val_labels.slice(0, 1000);
  d.hash = all.hash;
  return d;
}

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

std::vector<double> features(Classifier& net, const Tn& x, const at::Device& device) {
  torch::NoGradGuard ng;
  std::vector<Tn> f;
  for (std::int64_t i = 0; i < x.size(0); i += 500)
    f.push_back(
        net->features(x.slice(0, i, std::min(x.size(0), i + 500)).to(device, at::kFloat)).to(at::kCPU, at::kDouble));
  const Tn all = at::cat(f).contiguous();
  return {all.data_ptr<double>(), all.data_ptr<double>() + all.numel()};
}

Row score(const Run& r, const Part& p, const TaskData& td, const EvalOptions& o, Classifier& cls,
          const GaussianStats& ref, const FdBootstrap& boot, const at::Device& device) {
  const std::int64_t n = o.images, k = o.seeds, d = kImage.numel();
  // Every metric reads the samples clamped to the data range, as the baselines' own evaluations do.
  const Tn clamped = p.samples.clamp(-1, 1);
  const Tn x = clamped.to(at::kDouble).contiguous();
  const Tn truth = td.x0.to(at::kCPU, at::kDouble).contiguous();
  // Measurement consistency ‖measured(A x̂ − y)‖/√m, m the number of measured values of the sample.
  const Op A = subset(td.op, 0, n, k, td.x0);
  Tn consistency;  // per sample
  std::visit(
      [&](const auto& Aop) {
        const Tn xs = clamped.to(td.x0.device(), td.x0.scalar_type());
        const Tn yr = td.y.repeat_interleave(k, 0);
        const Tn res = eps::measured(Aop, Aop.apply(xs) - yr).flatten(1).to(at::kCPU, at::kDouble).norm(2, 1);
        const Tn count = (eps::measured(Aop, at::ones_like(yr)) != 0).flatten(1).sum(1).to(at::kCPU, at::kDouble);
        consistency = (res / count.clamp_min(1).sqrt()).contiguous();
      },
      A);
  Row row;
  row.task = to_string(td.task);
  row.method = r.id();
  row.family = r.family;
  row.label = methods::find(r.method).label;
  row.nfe = p.nfe;
  row.vjp = p.vjp;
  row.seconds = p.seconds;
  row.seconds_b1 = p.seconds_b1;
  row.batch = std::min(o.batch, n * k);
  row.reused = p.reused;
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
  row.psnr = mean_se(ps);
  row.ssim = mean_se(ss);
  row.psnr_per_image = ps;
  row.ssim_per_image = ss;
  row.psnr_mean_per_image = pm;
  row.psnr_mean = mean_se(pm);
  row.ssim_mean = mean_se(sm);
  row.crps = mean_se(cr);
  row.consistency = mean_se(co);
  if (n * k >= 2) {
    const std::vector<double> f = features(cls, clamped, device);
    row.fd.mean = frechet_distance(gaussian_stats(SampleSet{f, ClassifierImpl::feature_count, n * k}), ref);
    row.fd_replicates = boot.replicates(f, k);
    row.fd.se = bootstrap_se(row.fd_replicates);
  }
  return row;
}

}  // namespace eps::cli::eval
