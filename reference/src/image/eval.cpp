// SPDX-License-Identifier: MIT
// `eps image eval` (docs/evaluation.md): every posterior sampler of the registry (methods.hpp) on the shipped
// models, the same images, measurements and initial noise, measured the same way. Per task and method: PSNR
// and SSIM of single samples and of the posterior mean, pixel-wise CRPS, the Fréchet distance in the project's
// classifier features, measurement consistency, NFE and wall time per image at batch 1 and at the run's batch;
// the cost of the pivot against one network evaluation. Writes the table (Markdown, CSV, JSON), a labelled PNG
// grid per task, and plots; every run's samples are kept under parts/ and reused by a later run with the same
// configuration, weights and knobs (`--fresh` recomputes).
#include <CLI/CLI.hpp>
#include <iostream>
#include <set>
#include <thread>

#include "commands.hpp"
#include "eps/backends/torch.hpp"
#include "eps/network_input.hpp"
#include "eval.hpp"
#include "util.hpp"

namespace eps::cli::eval {
namespace {

/// The budgets a method runs at: its budget flag's NFE list.
std::vector<int> budgets(const methods::Spec& s, const EvalOptions& o) {
  switch (s.budget) {
    case methods::Budget::eps:
      return o.eps_nfe;
    case methods::Budget::prior:
      return o.prior_nfe;
    case methods::Budget::dps:
      return o.dps_nfe;
    case methods::Budget::baseline:
      return o.baseline_nfe;
    case methods::Budget::none:
      return {0};
  }
  return {};
}

/// The short label of a run's column in the grids.
std::string grid_label(const Run& r) {
  std::string l = methods::find(r.method).label;
  if (r.family == "eps_multitask") l = "EPS MT";
  if (r.family == "eps_task") l = "EPS TASK";
  if (r.family == "eps_scratch") l = "EPS SCR";
  return r.method == "pinv" ? l : l + "@" + std::to_string(r.nfe);
}

/// The method selection of --methods: registry names, or the EPS families (eps selects all three).
std::set<std::string> selected_families(const std::vector<std::string>& names) {
  std::set<std::string> fam;
  const std::vector<std::string> eps_fams{"eps_multitask", "eps_task", "eps_scratch"};
  for (const std::string& m : names) {
    if (m == "all") {
      for (const auto& s : methods::table())
        if (s.model != methods::Model::oracle) fam.insert(s.name);
      fam.insert(eps_fams.begin(), eps_fams.end());
    } else if (std::find(eps_fams.begin(), eps_fams.end(), m) != eps_fams.end()) {
      fam.insert(m);
      fam.insert("eps");
    } else {
      const methods::Spec& s = methods::find(m);
      EPS_CHECK(s.model != methods::Model::oracle, value_error, "--methods: ", m,
                " needs an analytic prior (eps toy gmm)");
      fam.insert(m);
      if (m == "eps") fam.insert(eps_fams.begin(), eps_fams.end());
    }
  }
  return fam;
}

}  // namespace

Session::Session(const EvalOptions& opts, bool need_classifier)
    : o(opts), device(parse_device(opts.device)), models(device) {
  // Every hardware thread by default (LibTorch's own default counts physical cores only).
  at::set_num_threads(o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  fam = selected_families(o.methods);
  EPS_CHECK(o.images >= 1 && o.seeds >= 1, value_error, "--images and --seeds must be >= 1");
  EPS_CHECK(o.first >= 0, value_error, "--first must be >= 0, got ", o.first);
  const fs::path md(o.models);
  const auto pick = [&](const std::string& flag, const fs::path& dflt) { return flag.empty() ? dflt.string() : flag; };
  prior = pick(o.prior, md / "prior" / "model.pt");
  eps = pick(o.eps, md / "eps_multitask" / "model.pt");
  palette = pick(o.palette, md / "palette_multitask" / "model.pt");
  classifier = pick(o.classifier, md / "classifier" / "classifier.pt");
  const auto need = [&](const std::string& path, const char* what, const char* flag) {
    EPS_CHECK(fs::exists(path), io_error, "no ", what, " at '", path,
              "' (the shipped models are in the repository's models/: run from the repository root, or pass "
              "--models DIR or --",
              flag, " FILE)");
  };
  if (need_classifier) need(classifier, "classifier", "classifier");
  bool needs_prior = false;
  for (const std::string& f : fam)
    if (f != "eps" && f.rfind("eps_", 0) != 0 && methods::find(f).model == methods::Model::prior) needs_prior = true;
  if (needs_prior) need(prior, "prior", "prior");
  if (fam.count("eps_multitask")) need(eps, "multi-task EPS model", "eps");
  if (fam.count("palette")) need(palette, "Palette model", "palette");
  const std::string tuned =
      o.tuned.empty() ? (fs::exists(md / "tuned.json") ? (md / "tuned.json").string() : "") : o.tuned;
  settings = std::make_unique<Settings>(tuned, o.settings, fs::exists(prior) ? models.hash(prior) : "");
  data = split_images(o, device);
  const std::int64_t n = data.train.size(0);
  EPS_CHECK(o.first + o.images <= n, value_error, "--first ", o.first, " + --images ", o.images, " exceed the ", n,
            " images of the ", to_string(o.split), " split");
}

TaskData Session::task_data(Task task) const {
  const auto tid = static_cast<std::size_t>(task);
  TaskData td{task, tid, Op{Mask<Tn>(at::ones({1, 1, 28, 28}, data.train.options()), kImage.shape())}, {}, {}, {}, {}};
  td.x0 = data.train.slice(0, o.first, o.first + o.images);
  const std::uint64_t base =
      o.seed + (o.split == Split::val ? 5000003ull : 0) + 7ull * static_cast<std::uint64_t>(o.first);
  TaskSettings ts;
  ts.box_eval_drawn = o.box_drawn;
  TaskSampler<Tn> sampler(kImage, {task}, base + 101 * tid, ts);
  td.op = sampler.evaluation(task, td.x0, o.images);
  libtorch::Generator gen(base + 303 * tid);
  std::visit(
      [&](const auto& A) {
        const Tn clean = A.apply(td.x0);
        td.y = clean + o.sigma_y * at::randn(clean.sizes(), gen.on(device), clean.options());
        td.observation = observation_image(A, td.y);
        td.pinv = pinv_apply(A, td.y);
      },
      td.op);
  return td;
}

std::vector<Run> Session::runs(Task task) const {
  const std::string tn = eps::to_string(task);
  const fs::path md(o.models);
  std::vector<Run> rs;
  for (const methods::Spec& s : methods::table()) {
    if (!fam.count(s.name)) continue;
    const auto add = [&](const std::string& family, const std::string& model) {
      if (!fam.count(family)) return;
      // The label carries the NFE the method spends (DAPS rounds its budget to whole levels), once per count.
      const methods::Knobs k = settings->knobs(family, tn);
      for (int b : budgets(s, o)) {
        const int n = methods::counted_nfe(s.name, b, k);
        if (std::none_of(rs.begin(), rs.end(), [&](const Run& r) { return r.family == family && r.nfe == n; }))
          rs.push_back(Run{s.name, family, n, model, std::nullopt});
      }
    };
    switch (s.model) {
      case methods::Model::none:
        add(s.name, "");
        break;
      case methods::Model::prior:
        add(s.name, prior);
        break;
      case methods::Model::palette:
        add(s.name, palette);
        break;
      case methods::Model::oracle:
        break;
      case methods::Model::eps: {
        add("eps_multitask", eps);
        const fs::path task_model = md / ("eps_" + tn) / "model.pt", scratch = md / ("eps_scratch_" + tn) / "model.pt";
        if (fs::exists(task_model)) add("eps_task", task_model.string());
        if (fs::exists(scratch)) add("eps_scratch", scratch.string());
        break;
      }
    }
  }
  return rs;
}

namespace {

int run_eval(const EvalOptions& o) {
  Stopwatch total;
  Session ss(o, true);
  const std::vector<Task> tasks = tasks_from_flag(o.tasks);
  Context ctx{o, ss.device, ss.models, *ss.settings};
  // The Fréchet reference: the first fd_reference test images, whatever the split.
  const ImageData test = o.split == Split::test ? ImageData{} : load_image_data(o.data, true, 0, ss.device);
  const Tn& test_images = o.split == Split::test ? ss.data.train : test.train;
  EPS_CHECK(o.fd_reference >= 2 && o.fd_reference <= test_images.size(0), value_error, "--fd-reference ",
            o.fd_reference, " must lie in [2, ", test_images.size(0), "]");
  Classifier cls = read_classifier(ss.classifier, ss.device);
  const std::vector<double> rf = features(cls, test_images.slice(0, 0, o.fd_reference), ss.device);
  const GaussianStats ref = gaussian_stats(SampleSet{rf, ClassifierImpl::feature_count, o.fd_reference});
  // One set of bootstrap draws for every task and run: FD differences pair over images, across tasks too.
  const FdBootstrap boot(ref, o.images, o.fd_bootstrap,
                         o.seed * 1000003ull + 7ull * static_cast<std::uint64_t>(o.first));
  const fs::path out(o.out);
  std::vector<Row> rows;
  std::vector<Cost> costs;
  std::map<std::string, Floors> floors;
  std::vector<std::string> task_names;
  std::size_t reused = 0, ran = 0;
  const std::int64_t ns = o.images * o.seeds;
  for (const Task task : tasks) {
    const std::string tn = eps::to_string(task);
    task_names.push_back(tn);
    const TaskData td = ss.task_data(task);
    // The FD floors: as many other images of the split as there are samples (where the split has them),
    // and the truths themselves, each repeated as often as it has samples.
    Floors fl;
    const std::int64_t other0 = o.first + o.images;
    if (ns >= 2 && other0 + ns <= ss.data.train.size(0))
      fl.others = frechet_distance(
          gaussian_stats(SampleSet{features(cls, ss.data.train.slice(0, other0, other0 + ns), ss.device),
                                   ClassifierImpl::feature_count, ns}),
          ref);
    if (ns >= 2)
      fl.truths =
          frechet_distance(gaussian_stats(SampleSet{features(cls, td.x0.repeat_interleave(o.seeds, 0), ss.device),
                                                    ClassifierImpl::feature_count, ns}),
                           ref);
    floors[tn] = fl;
    const std::vector<Run> rs = ss.runs(task);
    std::map<std::string, Part> parts;
    for (const Run& r : rs) {
      Part p = run_method(r, ctx, td);
      (p.reused ? reused : ran) += 1;
      Row row = score(r, p, td, o, cls, ref, boot, ss.device);
      if (r.method != "pinv")
        for (const auto& [k, v] : ss.settings->knobs(r.family, tn)) row.knobs[k] = v;
      rows.push_back(std::move(row));
      parts.emplace(r.id(), std::move(p));
    }
    if (o.cost)
      costs.push_back(measure_cost(td, ctx, ss.fam.count("eps_multitask") ? ss.eps : std::string(),
                                   ss.fam.count("prior") ? ss.prior : std::string(), ss.fam.count("dps") > 0));
    // The grid: truth, observation, A†y, one sample of each run, EPS's posterior mean and pixel std.
    const std::int64_t g = std::min(o.grid_images, o.images);
    const auto seed0 = [&](const Tn& s) {
      return s.view({o.images, o.seeds, 1, 28, 28}).select(1, 0).slice(0, 0, g).to(at::kCPU, at::kFloat);
    };
    std::vector<Tn> grid{td.x0.slice(0, 0, g).to(at::kCPU, at::kFloat),
                         td.observation.slice(0, 0, g).to(at::kCPU, at::kFloat),
                         td.pinv.slice(0, 0, g).to(at::kCPU, at::kFloat)};
    std::vector<std::string> labels{"truth", "observed", "A+y"};
    std::ostringstream legend;
    legend << "columns of grid_" << tn << ".png (rows: " << to_string(o.split) << " images " << o.first << ".."
           << o.first + g - 1 << "; samples clamped to [-1, 1]):\n1 ground truth\n2 measurement as an image\n3 A†y\n";
    int col = 4;
    for (const Run& r : rs) {
      if (r.method == "pinv") continue;
      grid.push_back(seed0(parts.at(r.id()).samples));
      labels.push_back(grid_label(r));
      legend << col++ << " " << r.id() << " (seed 0)\n";
    }
    std::string ens;
    for (const char* id : {"eps_multitask@20", "eps_multitask@100", "eps_task@20", "eps_scratch@20"})
      if (ens.empty() && parts.count(id)) ens = id;
    if (ens.empty())
      for (const Run& r : rs)
        if (ens.empty() && r.method == "eps") ens = r.id();
    if (!ens.empty()) {
      const Tn s = parts.at(ens).samples.clamp(-1, 1).view({o.images, o.seeds, 1, 28, 28}).slice(0, 0, g);
      grid.push_back(s.mean(1));
      grid.push_back(o.seeds > 1 ? (s.std(1) / 0.5).clamp(0, 1) * 2 - 1 : at::full_like(s.mean(1), -1));
      labels.push_back("mean");
      labels.push_back("std");
      legend << col << " " << ens << " posterior mean over " << o.seeds << " seeds\n";
      legend << col + 1 << " " << ens << " pixel standard deviation (black 0, white >= 0.5)\n";
    }
    // One row per image, one column per entry of the legend, each labelled.
    const auto cols = static_cast<std::int64_t>(grid.size());
    write_file_atomic(out / ("grid_" + tn + ".png"),
                      png_grid_labelled(at::stack(grid, 1).reshape({g * cols, 1, 28, 28}), cols, labels));
    write_file_atomic(out / ("grid_" + tn + ".txt"), legend.str());
  }
  json config = run_config(o, ss.device);
  config["fd_reference"] = o.fd_reference;
  config["fd_bootstrap"] = o.fd_bootstrap;
  config["ssim"] = "Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, data range 2, valid positions";
  config["fd_features"] = "penultimate layer (128) of the project's Fashion-MNIST classifier, not Inception";
  config["models"] = {
      {"prior", ss.prior}, {"eps_multitask", ss.eps}, {"palette", ss.palette}, {"classifier", ss.classifier}};
  config["settings"] = ss.settings->source();
  const std::string table = write_reports(out, rows, costs, o, floors, config);
  if (o.plots) write_plots(out, rows, task_names);
  std::cout << table << ran << " method runs computed, " << reused << " reused from " << (out / "parts").string()
            << " (--fresh recomputes); " << total.seconds() << " s\nwrote " << (out / "results.md").string() << ", "
            << (out / "results.csv").string() << ", " << (out / "results.json").string() << ", "
            << (out / "grid_<task>.png").string() << " (columns listed in grid_<task>.txt)"
            << (o.plots ? ", " + (out / "plots").string() + "/" : std::string()) << "\n";
  return 0;
}

}  // namespace

void add_common_options(CLI::App* c, EvalOptions& o) {
  c->add_option("--models", o.models,
                "Directory of the models (prior/, eps_multitask/, palette_multitask/, classifier/, eps_<task>/, "
                "eps_scratch_<task>/ where present, tuned.json)");
  c->add_option("--prior", o.prior, "model.pt of the prior (default: MODELS/prior/model.pt)");
  c->add_option("--eps", o.eps, "model.pt of the multi-task EPS model (default: MODELS/eps_multitask/model.pt)");
  c->add_option("--palette", o.palette, "model.pt of Palette (default: MODELS/palette_multitask/model.pt)");
  c->add_option("--tasks", o.tasks,
                "all, or some of random_inpainting, box_inpainting, super_resolution, gaussian_deblur, motion_deblur")
      ->delimiter(',');
  c->add_option("--box", o.box_drawn,
                "Box inpainting's boxes: centred (the 14 x 14 evaluation box) or drawn (one per image from the "
                "training distribution, sides U[7, 14])")
      ->transform(CLI::CheckedTransformer(std::map<std::string, bool>{{"centred", false}, {"drawn", true}}));
  c->add_option("--first", o.first, "Start at this image of the split")->check(CLI::NonNegativeNumber);
  c->add_option("--images", o.images, "Images restored per task")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{5000}));
  c->add_option("--seeds", o.seeds, "Posterior samples per image")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}));
  c->add_option("--batch", o.batch, "Samples per sampler call (a realistic batch; an image's seeds share one call)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000}));
  c->add_option("--eps-nfe", o.eps_nfe, "NFE of the EPS models")->delimiter(',')->check(CLI::Range(1, 100000));
  c->add_option("--prior-nfe", o.prior_nfe, "NFE of the unconditional prior sampler")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000));
  c->add_option("--baseline-nfe", o.baseline_nfe,
                "NFE of Palette, the zero-shot pivot, PiGDM, DDNM+, DDRM, DAPS (levels x ode steps) and MPGD")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000));
  c->add_option("--dps-nfe", o.dps_nfe, "NFE of DPS")->delimiter(',')->check(CLI::Range(1, 100000));
  c->add_option("--sigma-y", o.sigma_y, "Measurement noise")->check(CLI::Range(0.0, 10.0));
  c->add_option("--sigma-max", o.sigma_max, "Largest sigma/alpha of every sampler's grid (EPS at 1 NFE: its knob)")
      ->check(CLI::Range(0.01, 1000.0));
  c->add_option("--seed", o.seed, "Seed of the operators, the measurement noise and the samplers' noise");
  c->add_option("--tuned", o.tuned,
                "Tuned knob values (default: MODELS/tuned.json where it exists; none: the registry's defaults)");
  c->add_option("--set", o.settings, "METHOD.KNOB=VALUE for every task, over the tuned values (repeatable)")
      ->delimiter(',');
  c->add_flag("--fresh", o.fresh, "Recompute every method even where OUT/parts holds its samples");
  c->add_option("--data", o.data, "Directory of the Fashion-MNIST IDX files");
  c->add_option("--device", o.device, "cpu, cuda or cuda:k");
  c->add_option("--threads", o.threads, "CPU threads (0: every hardware thread)")->check(CLI::Range(0, 1024));
}

}  // namespace eps::cli::eval

namespace eps::cli {

void add_image_eval_command(CLI::App& image) {
  using namespace eval;
  auto o = std::make_shared<EvalOptions>();
  CLI::App* c = image.add_subcommand(
      "eval",
      "Every posterior sampler on the shipped models: PSNR, SSIM, CRPS, FD, consistency, cost (docs/evaluation.md)");
  add_common_options(c, *o);
  c->add_option("--classifier", o->classifier, "classifier.pt (default: MODELS/classifier/classifier.pt)");
  c->add_option("--split", o->split, "test (the final tables) or val (validation images 1000-1999, for choices)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, Split>{{"test", Split::test}, {"val", Split::val}}));
  std::ostringstream names;
  for (const auto& s : methods::table())
    if (s.model != methods::Model::oracle) names << s.name << ", ";
  c->add_option("--methods", o->methods,
                "all, or some of " + names.str() + "eps_multitask, eps_task, eps_scratch (eps: all three)")
      ->delimiter(',');
  c->add_option("--fd-reference", o->fd_reference, "Test images whose features are the Fréchet reference")
      ->check(CLI::Range(std::int64_t{2}, std::int64_t{10000}));
  c->add_option("--fd-bootstrap", o->fd_bootstrap,
                "Bootstrap replicates over images behind FD's standard error (0: none)")
      ->check(CLI::Range(0, 100000));
  c->add_option("--grid-images", o->grid_images, "Images (rows) in each grid")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{64}));
  c->add_option("--timing-reps", o->timing_reps, "Repetitions of the pivot and network timings")
      ->check(CLI::Range(1, 100000));
  c->add_option("--cost-reps", o->cost_reps,
                "Interleaved repetitions of EPS@20 and prior@20 (batch 1 and the run's batch) in the cost comparison")
      ->check(CLI::Range(1, 1000));
  c->add_flag("!--no-batch1", o->batch1, "Skip the batch-1 timing run of every method");
  c->add_flag("!--no-cost", o->cost, "Skip the cost comparison");
  c->add_flag("!--no-plots", o->plots, "Skip the gnuplot figures");
  c->add_option("--out", o->out, "Output directory");
  c->callback([o] { throw CommandResult{run_eval(*o)}; });
}

}  // namespace eps::cli
