// SPDX-License-Identifier: MIT
// `eps image train`: trains the networks of the image pipeline on Fashion-MNIST (docs/training.md §4–6): the
// U-Net prior with EDM's recipe, EPS networks on [pivot, observation image] (fine-tuned from a prior, or from
// scratch) and Palette on [x_t, observation image], with an operator drawn for every minibatch; x0 or
// velocity output on any schedule of the library; on one process or many (c10d data parallelism). Atomic
// checkpoints hold everything a run needs to continue bit for bit (`--resume`); a loss log (CSV), its plot
// and the EMA weights (`model.pt`) are written beside them.
#include <ATen/autocast_mode.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <variant>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "eps/training/distributed.hpp"
#include "eps/training/checkpoint.hpp"
#include "eps/training/edm.hpp"
#include "eps/networks/torch_compat.hpp"
#include "eps/network_input.hpp"
#include "eps/tasks.hpp"
#include "image_common.hpp"
#include "idx.hpp"
#include "unet.hpp"
#include "util.hpp"

namespace eps::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct TrainOptions {
  // What is trained (part of the checkpoint's configuration: a resumed run must match it).
  std::string objective = "prior";  ///< prior | eps | palette
  std::vector<std::string> tasks{"all"};
  double sigma_y = 0.05;
  std::string init;  ///< model.pt of a prior to fine-tune from (eps, palette) or to continue (prior)
  bool from_scratch = false;
  std::string output = "x0";  ///< x0 | velocity
  std::string schedule = "ve";
  std::int64_t batch = 64;
  double lr = 1e-3;
  std::int64_t warmup = 500;
  double ema_half_life = 20000;  ///< in training images
  double ema_rampup = 0.05;      ///< half-life at most this × the images trained in this run (EDM's ramp-up); 0: off
  double sigma_uniform = 0;      ///< share of log-uniform noise levels over [0.002, 80] (docs/training.md §2)
  std::int64_t channels = 32, blocks = 1;
  std::vector<std::int64_t> multipliers{1, 2, 2};
  std::int64_t train_subset = 0;  ///< 0: every training image (the validation images excepted)
  std::uint64_t seed = 1;
  // How it runs (free to change between a run and its resumption, except steps which may only grow).
  std::int64_t steps = 20000;
  std::int64_t checkpoint_every = 1000, log_every = 50;
  std::int64_t val_images = 512;
  std::string data = kFashionMnistDir, out = "runs/prior", device = "cpu";
  int threads = 0;
  std::string precision = "fp32";  ///< fp32 | bf16 (autocast of the forward pass; weights, optimizer and EMA in fp32)
  bool channels_last = false;
  double dist_timeout = 120;  ///< seconds a collective may wait for the other processes
  bool resume = false, no_plots = false, no_attention = false;

  bool conditional() const { return objective != "prior"; }
};

/// The canonical names of the run's --tasks (as the configuration records them).
std::vector<std::string> task_names(const TrainOptions& o) {
  std::vector<std::string> names;
  for (Task t : tasks_from_flag(o.tasks)) names.emplace_back(to_string(t));
  return names;
}

/// The training configuration: what a checkpoint must match to be resumed, and what a model file records.
/// A prior's keys are those of the first version of this program (so that its checkpoints still resume).
/// `origin` is engaged for a continued conditional model: the prior it was fine-tuned from (recorded as init),
/// while init_hash and init_step name the model it continues.
json config_of(const TrainOptions& o, const std::string& init_hash, std::int64_t init_step,
               const std::optional<std::string>& origin) {
  json c = {{"model", "unet"},
            {"objective", o.conditional() ? o.objective : "edm_prior"},
            {"schedule", o.schedule},
            {"batch", o.batch},
            {"lr", o.lr},
            {"warmup", o.warmup},
            {"ema_half_life", o.ema_half_life},
            {"channels", o.channels},
            {"blocks", o.blocks},
            {"multipliers", o.multipliers},
            {"attention", !o.no_attention},
            {"train_subset", o.train_subset},
            {"seed", o.seed},
            {"sigma_data", 0.5},
            {"p_mean", -1.2},
            {"p_std", 1.2}};
  if (o.output != "x0" || o.conditional()) c["output"] = o.output;
  if (o.ema_rampup > 0) c["ema_rampup"] = o.ema_rampup;
  if (o.sigma_uniform > 0) c["sigma_uniform"] = o.sigma_uniform;
  if (!o.conditional() && !o.init.empty()) {  // a prior continued from a model file, with a fresh optimizer
    c["init"] = init_hash;
    c["init_step"] = init_step;
  }
  if (o.conditional()) {
    c["tasks"] = task_names(o);
    c["sigma_y"] = o.sigma_y;
    c["init"] = o.from_scratch ? std::string("scratch") : origin ? *origin : init_hash;
    if (origin) {  // provenance: the model it continues, at which step
      c["continues"] = init_hash;
      c["init_step"] = init_step;
    }
  }
  return c;
}

/// One row of the loss log.
struct LogRow {
  double step, train_loss, lr, val_loss;
  double val_loss_raw = std::nan("");  ///< the raw (not averaged) weights' validation loss
};

/// Everything a run is: the network, its EMA, the optimizer, the generators, the data order, the log.
struct Run {
  UNet net{nullptr};
  std::unique_ptr<training::Ema> ema;
  std::unique_ptr<torch::optim::Adam> opt;
  libtorch::Generator gen;
  std::optional<TaskSampler<at::Tensor>> tasks;  ///< conditional objectives: the operator of each minibatch
  at::Tensor perm;                               ///< this epoch's order of the training images (CPU, int64)
  std::int64_t pos = 0;                          ///< position in perm
  std::int64_t step = 0;                         ///< optimizer steps done
  double seconds = 0;  ///< wall-clock training seconds up to the last checkpoint, over every session (NaN: unknown)
  std::vector<LogRow> log;
};

UNetConfig net_config(const TrainOptions& o) {
  UNetConfig c;
  c.channels = o.channels;
  c.blocks = o.blocks;
  c.multipliers = o.multipliers;
  c.attention = !o.no_attention;
  return c;
}

constexpr const char* kCheckpointFormat = "eps.train_checkpoint";

void save_checkpoint(const fs::path& path, Run& r, const json& config, const std::string& data_hash,
                     const at::Device& device) {
  training::write_checkpoint(path, {kCheckpointFormat, 1, config}, data_hash, [&](torch::serialize::OutputArchive& ar) {
    ar.write("step", c10::IValue(r.step));
    ar.write("seconds", c10::IValue(r.seconds));
    ar.write("pos", c10::IValue(r.pos));
    ar.write("perm", r.perm);
    torch::serialize::OutputArchive model, ema, opt;
    r.net->save(model);
    ar.write("model", model);
    // By position (parameter names contain dots, which archive keys may not); Ema::assign checks names' shapes.
    const auto averaged = r.ema->named_tensors();
    ema.write("count", c10::IValue(static_cast<std::int64_t>(averaged.size())));
    for (std::size_t i = 0; i < averaged.size(); ++i) ema.write("t" + std::to_string(i), averaged[i].second);
    ar.write("ema", ema);
    r.opt->save(opt);
    ar.write("optimizer", opt);
    ar.write("rng_cpu", r.gen.on(at::kCPU).get_state());
    if (!device.is_cpu()) ar.write("rng_device", r.gen.on(device).get_state());
    if (r.tasks) ar.write("rng_tasks", c10::IValue(r.tasks->state()));
    at::Tensor log = at::empty({static_cast<std::int64_t>(r.log.size()), 5}, at::kDouble);
    for (std::size_t i = 0; i < r.log.size(); ++i) {
      const LogRow& l = r.log[i];
      const double row[5] = {l.step, l.train_loss, l.lr, l.val_loss, l.val_loss_raw};
      for (int j = 0; j < 5; ++j) log[static_cast<std::int64_t>(i)][j] = row[j];
    }
    ar.write("log", log);
  });
}

/// Restores r from the checkpoint at `path`; its configuration and data must be this run's.
void load_checkpoint(const fs::path& path, Run& r, const json& config, const std::string& data_hash,
                     const at::Device& device) {
  training::read_checkpoint(
      path, device, kCheckpointFormat, "eps training checkpoint", 1, config, data_hash,
      [&](torch::serialize::InputArchive& ar) {
        c10::IValue v;
        ar.read("step", v);
        r.step = v.toInt();
        // Checkpoints written before the training time was kept lack it: the total is then unknown (NaN).
        r.seconds = std::nan("");
        if (ar.try_read("seconds", v)) {
          EPS_CHECK(v.isDouble() && v.toDouble() >= 0, io_error, "'", path.string(),
                    "' is not a usable eps training checkpoint: its training time is not a number of seconds >= 0");
          r.seconds = v.toDouble();
        }
        ar.read("pos", v);
        r.pos = v.toInt();
        ar.read("perm", r.perm);
        r.perm = r.perm.to(at::kCPU);
        torch::serialize::InputArchive model, ema, opt;
        ar.read("model", model);
        r.net->load(model);
        ar.read("ema", ema);
        ema.read("count", v);
        std::vector<at::Tensor> averaged(static_cast<std::size_t>(v.toInt()));
        for (std::size_t i = 0; i < averaged.size(); ++i) ema.read("t" + std::to_string(i), averaged[i]);
        r.ema->assign(averaged);
        ar.read("optimizer", opt);
        networks::compat::load_adam(*r.opt, opt);  // by position: the keys differ between LibTorch 1.13 and 2.x
        at::Tensor s;
        ar.read("rng_cpu", s);
        r.gen.on(at::kCPU).set_state(s.to(at::kCPU));
        if (!device.is_cpu()) {
          ar.read("rng_device", s);
          r.gen.on(device).set_state(s.to(at::kCPU));
        }
        if (r.tasks) {
          ar.read("rng_tasks", v);
          r.tasks->set_state(v.toStringRef());
        }
        at::Tensor log;
        ar.read("log", log);
        log = log.to(at::kCPU);
        r.log.clear();
        EPS_CHECK(log.dim() == 2 && (log.size(1) == 4 || log.size(1) == 5), io_error, "'", path.string(),
                  "' is not a usable eps training checkpoint: the loss log is ", log.sizes(),
                  ", expected [rows, 4 or 5]");
        for (std::int64_t i = 0; i < log.size(0); ++i)  // checkpoints before the raw column hold 4 columns
          r.log.push_back({log[i][0].item<double>(), log[i][1].item<double>(), log[i][2].item<double>(),
                           log[i][3].item<double>(), log.size(1) == 5 ? log[i][4].item<double>() : std::nan("")});
      });
}

std::string number(double v) {
  std::ostringstream os;
  os.precision(8);
  os << v;
  return os.str();
}

void write_log(const fs::path& dir, const std::vector<LogRow>& log, bool plots, const std::string& what) {
  std::ostringstream os;
  os << "step,train_loss,lr,val_loss,val_loss_raw\n";
  os.precision(8);
  const auto opt = [](double v) { return std::isnan(v) ? std::string() : number(v); };
  for (const auto& l : log)
    os << static_cast<std::int64_t>(l.step) << "," << l.train_loss << "," << l.lr << "," << opt(l.val_loss) << ","
       << opt(l.val_loss_raw) << "\n";
  write_file_atomic(dir / "loss.csv", os.str());
  if (!plots || std::system("command -v gnuplot > /dev/null 2>&1") != 0) return;
  const fs::path script = dir / "loss.gp";
  write_file_atomic(script,
                    "set datafile separator ','\nset terminal pngcairo size 800,500\nset output '" +
                        (dir / "loss.png").string() + "'\nset logscale y\nset xlabel 'step'\nset ylabel '" + what +
                        "'\nset key top right\n"
                        "plot '" +
                        (dir / "loss.csv").string() +
                        "' every ::1 using 1:2 with lines title 'train (mean since last row)', '' every ::1 "
                        "using 1:($4 > 0 ? $4 : 1/0) with linespoints title 'validation (EMA weights)', '' "
                        "every ::1 using 1:($5 > 0 ? $5 : 1/0) with points pt 6 title 'validation (raw weights)'\n");
  const std::string cmd = "gnuplot '" + script.string() + "' > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    std::cerr << "eps image train: gnuplot failed on " << script << " (plot skipped)\n";
}

/// A minibatch as the network sees it: the clean images, the levels, the network's image input (x_t for
/// the prior and Palette, the pivot x̃ for EPS) and the observation image (conditional objectives).
struct Batch {
  at::Tensor x0, input, observation;
  networks::TrainingLevels lv;
};

/// Draws levels, noise and (conditional objectives) an operator and a measurement for x0, all from `gen`
/// and `tasks`, in a fixed order (so that a resumed run draws what an uninterrupted one draws).
/// `sigma_uniform`: the share of log-uniform levels (the run's for training; 0 for validation, whose levels are
/// EDM's log-normal whatever the run trains on). A defined `fixed_ratio` ([B]) replaces the draw of levels.
template <Schedule S>
Batch make_batch(const TrainOptions& o, const S& schedule, const at::Tensor& x0, libtorch::Generator& gen,
                 TaskSampler<at::Tensor>* tasks, double sigma_uniform, const at::Tensor& fixed_ratio = {}) {
  const at::Device device = x0.device();
  const std::int64_t b = x0.size(0);
  Batch out;
  out.x0 = x0;
  const at::Tensor ratio =
      fixed_ratio.defined() ? fixed_ratio : training::MixedNoise{{}, sigma_uniform}.sample(b, gen, device);
  const at::Tensor noise = at::randn(x0.sizes(), gen.on(device), x0.options());
  out.lv = networks::training_levels(schedule, ratio);
  const auto per_sample = [&](const at::Tensor& v) { return v.to(x0.scalar_type()).view({b, 1, 1, 1}); };
  const at::Tensor xt = per_sample(out.lv.alpha) * x0 + per_sample(out.lv.sigma) * noise;
  if (!tasks) {
    out.input = xt;
    return out;
  }
  const auto drawn = tasks->draw(x0, b);
  std::visit(
      [&](const auto& A) {
        const at::Tensor clean = A.apply(x0);
        const at::Tensor y = clean + o.sigma_y * at::randn(clean.sizes(), gen.on(device), clean.options());
        ConditionalInput<at::Tensor> in;
        if (o.objective == "eps") {
          const BatchCoefficients c = out.lv.coefficients();
          PivotOptions po;
          po.check_finite = false;  // x_t and y are finite by construction
          in = eps_input(A, xt, y, NoiseLevels{c.alpha, c.sigma, o.sigma_y}, po);
        } else {
          in = palette_input(A, xt, y);
        }
        out.input = in.image;
        out.observation = in.observation;
      },
      drawn.second);
  return out;
}

/// bfloat16 autocast of the forward pass on `device` while it lives (when `on`); the cache of cast weights is
/// cleared at the end, so that the next step casts the updated weights.
class AutocastGuard {
 public:
  AutocastGuard(const at::Device& device, bool on) : device_(device), on_(on) {
    if (on_) networks::compat::set_autocast(device_, at::kBFloat16, true);
  }
  ~AutocastGuard() {
    if (!on_) return;
    networks::compat::set_autocast(device_, at::kBFloat16, false);
    at::autocast::clear_cache();
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  at::Device device_;
  bool on_;
};

/// The per-sample loss of rows [lo, hi) of a batch.
at::Tensor batch_loss(const TrainOptions& o, UNet& net, const Batch& b, std::int64_t lo, std::int64_t hi) {
  const auto rows = [&](const at::Tensor& t) { return t.slice(0, lo, hi); };
  const at::Tensor obs = b.observation.defined() ? rows(b.observation) : at::Tensor();
  const auto raw = [&](const at::Tensor& x, const at::Tensor& c) {
    return net->forward(obs.defined() ? at::cat({x, obs}, 1) : x, c);
  };
  if (o.output == "velocity") {
    networks::TrainingLevels lv{rows(b.lv.t), rows(b.lv.alpha), rows(b.lv.sigma), rows(b.lv.alpha_dot),
                                rows(b.lv.sigma_dot)};
    return networks::VelocityParametrization(0.5).loss_at(raw, rows(b.input), rows(b.x0), lv);
  }
  return networks::EdmPreconditioning(0.5).loss_at(raw, rows(b.input), rows(b.x0), rows(b.lv.alpha), rows(b.lv.sigma));
}

int train(TrainOptions o) {
  const at::Device device = parse_device(o.device);
  if (o.threads > 0) at::set_num_threads(o.threads);
  EPS_CHECK(!o.conditional() || (o.init.empty() != !o.from_scratch), value_error, "--objective ", o.objective,
            ": give exactly one of --init MODEL (fine-tune a prior) and --from-scratch");
  EPS_CHECK(o.conditional() || !o.from_scratch, value_error,
            "--from-scratch is for --objective eps or palette (a prior starts from random weights, or --init MODEL "
            "continues one)");
  EPS_CHECK(std::isfinite(o.sigma_y) && o.sigma_y > 0, value_error,
            "--sigma-y must be finite and > 0 (the training measurements are noisy), got ", o.sigma_y);
  const training::DistributedEnv env = training::DistributedEnv::from_environment();
  EPS_CHECK(o.batch % env.world_size == 0, value_error, "--batch ", o.batch, " must be divisible by the ",
            env.world_size, " processes of the job");
  const at::Device run_device =
      device.is_cuda() && !device.has_index() && env.world_size > 1 ? at::Device(at::kCUDA, env.local_rank) : device;

  // The network: a prior to fine-tune (its architecture, its EMA weights, conv_in widened), or new weights.
  Run r;
  std::string init_hash;
  std::optional<std::string> origin;  // a continued conditional model: the prior it was fine-tuned from
  std::int64_t init_step = 0;         // a continued model: the step of the model it continues
  bool continued = false;
  at::manual_seed(o.seed);  // the initial weights
  if (!o.init.empty()) {
    ModelFile prior = read_model(o.init, run_device);
    const json& pc = prior.config;
    // A model of this run's conditional objective is continued (an unfinished run restarted from its committed
    // model.pt, with a fresh optimizer): the same tasks and measurement noise, its weights as they are.
    continued = o.conditional() && pc.value("objective", "") == o.objective;
    if (continued) {
      EPS_CHECK(
          pc.value("tasks", std::vector<std::string>{}) == task_names(o) && pc.value("sigma_y", -1.0) == o.sigma_y,
          value_error, "--init '", o.init, "' is a ", o.objective, " model of tasks ",
          pc.value("tasks", json::array()).dump(), " at sigma_y ", pc.value("sigma_y", -1.0),
          "; continuing it needs the same --tasks and --sigma-y");
      origin = pc.value("init", "");
    }
    EPS_CHECK(continued || pc.value("objective", "") == "edm_prior", value_error, "--init '", o.init, "' is a ",
              pc.value("objective", "?"), " model; fine-tuning starts from a prior (objective edm_prior)",
              o.conditional() ? ", or continues a model of the same objective" : "");
    EPS_CHECK(pc.value("schedule", "") == o.schedule && pc.value("output", "x0") == o.output, value_error, "--init '",
              o.init, "' was trained with --schedule ", pc.value("schedule", "?"), " --output ",
              pc.value("output", "x0"), "; this run has ", o.schedule, ", ", o.output);
    const UNetConfig nc = prior.net->config();
    EPS_CHECK(nc.in_channels == (continued ? 2 : 1), value_error, "--init '", o.init, "': expected ", continued ? 2 : 1,
              " input channels, this has ", nc.in_channels);
    o.channels = nc.channels;
    o.blocks = nc.blocks;
    o.multipliers = nc.multipliers;
    o.no_attention = !nc.attention;
    init_hash = weights_hash(*prior.net);
    r.net = prior.net;
    if (o.conditional() && !continued)
      r.net->widen_input(1);
    else
      init_step = prior.step;
  } else {
    UNetConfig nc = net_config(o);
    if (o.conditional()) nc.in_channels = 2;
    r.net = UNet(nc);
  }
  r.net->to(run_device);
  if (o.channels_last) {
    torch::NoGradGuard ng;
    for (auto& p : r.net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
  const json config = config_of(o, init_hash, init_step, origin);
  json model_config = config;
  model_config["network"] = to_json(r.net->config());

  const ImageData data = load_image_data(o.data, false, o.train_subset, run_device);
  const fs::path out(o.out), ckpt = fs::path(o.out) / "checkpoint.pt";
  // NCCL for GPUs where this build has it; Gloo otherwise (it reduces CUDA tensors too, through the host).
  training::DataParallel dp(env, run_device.is_cuda() && training::DataParallel::has_nccl ? "nccl" : "gloo",
                            std::chrono::milliseconds(static_cast<std::int64_t>(o.dist_timeout * 1000)));
  const bool root = dp.is_root();

  r.gen = libtorch::Generator(o.seed);
  if (o.conditional()) r.tasks.emplace(ImageShape{1, 28, 28}, tasks_from_flag(o.tasks), o.seed + 1);
  r.ema = std::make_unique<training::Ema>(*r.net);
  r.opt = std::make_unique<torch::optim::Adam>(r.net->parameters(),
                                               torch::optim::AdamOptions(o.lr).betas({0.9, 0.999}).eps(1e-8));
  const std::int64_t n_train = data.train.size(0);
  EPS_CHECK(o.batch <= n_train, value_error, "--batch ", o.batch, " exceeds the ", n_train, " training images");
  r.perm = at::randperm(n_train, r.gen.on(at::kCPU), at::kLong);
  r.step = init_step;

  if (fs::exists(ckpt)) {
    EPS_CHECK(o.resume, value_error, "'", ckpt.string(),
              "' exists: pass --resume to continue that run, or choose another --out");
    load_checkpoint(ckpt, r, config, data.hash, run_device);
    EPS_CHECK(r.step <= o.steps, value_error, "--steps ", o.steps, ": the checkpoint is already at step ", r.step);
    if (root) std::cerr << "eps image train: resumed from " << ckpt.string() << " at step " << r.step << "\n";
  } else if (init_step > 0 && root) {
    std::cerr << "eps image train: continuing the " << (continued ? o.objective : "prior") << " model " << o.init
              << " from its step " << init_step
              << " with its EMA weights as the weights and a fresh optimizer state, data order and generators\n";
  } else if (o.resume && root) {
    std::cerr << "eps image train: no checkpoint in " << out.string() << "; starting from step 0\n";
  }
  dp.broadcast(r.net->parameters());  // every process starts from rank 0's weights

  const auto run_schedule = [&](auto&& body) {
    if (o.schedule == "ve") return body(VeEdm{});
    return body(Linear{});
  };
  // EMA half-life in images: o.ema_half_life, ramped up over the run (EDM: at most ema_rampup × the images
  // trained so far in this run), so that a short fine-tune does not keep its initial weights in the average.
  const auto ema_beta = [&](std::int64_t steps_done) {
    const double images = double(steps_done - init_step) * double(o.batch);
    const double h = o.ema_rampup > 0 ? std::min(o.ema_half_life, o.ema_rampup * images) : o.ema_half_life;
    return h > 0 ? training::Ema::decay_for_half_life(double(o.batch), h) : 0.0;
  };
  UNet eval_net(r.net->config());
  eval_net->to(run_device);

  // The validation loss of the EMA weights: the first val_images validation images, with levels, noise and
  // operators from generators of fixed seed, so that every evaluation of a run (and of a resumed run) sees
  // the same draws.
  const auto validation = [&](UNet& net) {
    net->eval();
    torch::NoGradGuard ng;
    libtorch::Generator vg(1234567);
    std::optional<TaskSampler<at::Tensor>> vt;
    if (o.conditional()) vt.emplace(ImageShape{1, 28, 28}, tasks_from_flag(o.tasks), 7654321);
    const std::int64_t nv = std::min<std::int64_t>(o.val_images, data.val.size(0));
    double total = 0;
    for (std::int64_t i = 0; i < nv; i += o.batch) {
      const at::Tensor x0 = data.val.slice(0, i, std::min(nv, i + o.batch));
      const Batch b = run_schedule([&](const auto& s) { return make_batch(o, s, x0, vg, vt ? &*vt : nullptr, 0.0); });
      total += batch_loss(o, net, b, 0, x0.size(0)).sum().item<double>();
    }
    return total / double(nv);
  };

  if (root)
    std::cerr << "eps image train: " << o.objective << " U-Net (" << r.net->config().in_channels << " input channels, "
              << r.net->parameter_count() << " parameters"
              << (o.init.empty() ? (o.conditional() ? ", from scratch" : "")
                  : (continued || !o.conditional())
                      ? ", continuing " + o.init + " from step " + std::to_string(init_step)
                      : ", fine-tuned from " + o.init)
              << "); " << n_train << " training and " << data.val.size(0) << " validation images; schedule "
              << o.schedule << ", output " << o.output << "; device " << run_device << "; " << at::get_num_threads()
              << " threads"
              << (env.world_size > 1 ? "; process " + std::to_string(env.rank) + " of " + std::to_string(env.world_size)
                                     : std::string())
              << "\n";
  Progress bar("train", o.steps, r.step);
  Stopwatch clock;
  const double seconds_before = r.seconds;  // this run's (not its --init model's) time in earlier sessions
  const std::int64_t first = r.step;
  const std::int64_t shard = o.batch / env.world_size, lo = env.rank * shard;
  double acc = 0;
  std::int64_t acc_n = 0;
  r.net->train();
  const std::string what = o.output == "velocity" ? "velocity loss" : "EDM loss";
  while (r.step < o.steps) {
    if (r.pos + o.batch > n_train) {
      r.perm = at::randperm(n_train, r.gen.on(at::kCPU), at::kLong);
      r.pos = 0;
    }
    const at::Tensor idx = r.perm.slice(0, r.pos, r.pos + o.batch).to(run_device);
    r.pos += o.batch;
    at::Tensor x0 = data.train.index_select(0, idx);
    if (o.channels_last) x0 = x0.contiguous(at::MemoryFormat::ChannelsLast);
    // Every process draws the whole minibatch (cheap next to the network) and trains on its shard.
    const Batch b = run_schedule(
        [&](const auto& s) { return make_batch(o, s, x0, r.gen, r.tasks ? &*r.tasks : nullptr, o.sigma_uniform); });
    const double lr =
        o.lr * std::min(1.0, double(r.step - init_step + 1) / double(std::max<std::int64_t>(o.warmup, 1)));
    for (auto& group : r.opt->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    at::Tensor loss;
    {
      const AutocastGuard ac(run_device, o.precision == "bf16");
      loss = batch_loss(o, r.net, b, lo, lo + shard).mean();
    }
    r.opt->zero_grad();
    loss.backward();
    at::Tensor loss_value = loss.detach().to(at::kDouble).reshape({1}).clone();
    dp.average_gradients(r.net->parameters());
    dp.average({loss_value});
    r.opt->step();
    ++r.step;
    r.ema->update(*r.net, ema_beta(r.step));
    const double l = loss_value.item<double>();
    EPS_CHECK(std::isfinite(l), convergence_error, "eps image train: the loss is not finite at step ", r.step,
              " (lower --lr?)");
    acc += l;
    ++acc_n;
    const bool at_ckpt = r.step % o.checkpoint_every == 0 || r.step == o.steps;
    if (r.step % o.log_every == 0 || at_ckpt) {
      LogRow row{double(r.step), acc / double(acc_n), lr, std::nan("")};
      if (at_ckpt && root) {
        r.ema->copy_to(*eval_net);
        row.val_loss = validation(eval_net);
        row.val_loss_raw = validation(r.net);
      }
      r.log.push_back(row);
      r.net->train();
      acc = 0;
      acc_n = 0;
    }
    if (at_ckpt && root) {
      r.seconds = seconds_before + clock.seconds();
      save_checkpoint(ckpt, r, config, data.hash, run_device);
      r.ema->copy_to(*eval_net);
      write_model(out / "model.pt", *eval_net, model_config, r.step);
      write_log(out, r.log, !o.no_plots, what);
    }
    const double sps = double(r.step - first) / std::max(clock.seconds(), 1e-9);
    std::ostringstream extra;
    extra << "loss " << std::setprecision(4) << l << ", " << std::setprecision(3) << sps << " steps/s";
    bar.update(r.step, extra.str());
  }
  dp.barrier();
  if (!root) return 0;

  // The summary: weights hashes (what the resume test compares), losses, cost.
  r.ema->copy_to(*eval_net);
  if (first == r.step) write_model(out / "model.pt", *eval_net, model_config, r.step);
  const double secs = clock.seconds();
  const json summary = {
      {"config", config},
      {"network", model_config["network"]},
      {"steps", r.step},
      {"parameters", r.net->parameter_count()},
      {"weights_hash", weights_hash(*r.net)},
      {"ema_hash", weights_hash(*eval_net)},
      {"final_val_loss", r.log.empty() ? json(nullptr) : json(r.log.back().val_loss)},
      {"data_hash", data.hash},
      {"processes", env.world_size},
      {"seconds_this_session", secs},
      // Over every session, up to the last checkpoint: a finished run resumed again keeps its total.
      {"seconds_total", std::isfinite(r.seconds) ? json(r.seconds) : json(nullptr)},
      {"images_per_second_this_session", r.step > first ? double((r.step - first) * o.batch) / secs : 0.0}};
  write_file_atomic(out / "train.json", summary.dump(2) + "\n");
  std::cout << "trained " << r.step << " steps (" << r.step - first << " in this session, " << std::setprecision(3)
            << secs << " s); validation loss (EMA) ";
  if (r.log.empty())
    std::cout << "not measured (no step logged)";
  else
    std::cout << r.log.back().val_loss;
  std::cout << "\nwrote " << ckpt.string() << ", " << (out / "model.pt").string() << ", " << (out / "loss.csv").string()
            << ", " << (out / "train.json").string() << "\n";
  return 0;
}

/// `eps image compare A B`: the largest difference between two model files' weights, relative to the
/// largest weight; exit 1 when it exceeds --tol (what the data-parallel test asserts).
int compare(const std::string& a, const std::string& b, double tol) {
  const ModelFile ma = read_model(a, at::kCPU), mb = read_model(b, at::kCPU);
  const auto pa = ma.net->named_parameters(), pb = mb.net->named_parameters();
  EPS_CHECK(pa.size() == pb.size(), value_error, "eps image compare: '", a, "' and '", b, "' have different networks (",
            pa.size(), " and ", pb.size(), " parameter tensors)");
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EPS_CHECK(pa[i].value().sizes() == pb[i].value().sizes(), value_error, "eps image compare: parameter '",
              pa[i].key(), "' differs in shape");
    diff = std::max(diff, (pa[i].value() - pb[i].value()).abs().max().item<double>());
    scale = std::max(scale, pa[i].value().abs().max().item<double>());
  }
  const double rel = scale > 0 ? diff / scale : diff;
  std::cout << "max |a - b| = " << diff << ", relative to max |a| = " << rel << " (tolerance " << tol << ")\n";
  return rel <= tol ? 0 : 1;
}

/// `eps image loss`: the validation loss of trained models at fixed noise levels (docs/training.md §2): per
/// model and σ, the mean over validation images of the training objective (EDM's λ‖D − x0‖², or the velocity
/// loss), with the draws of the training's validation (images, noise, operators of fixed seed); a CSV and a
/// log-log plot with one curve per model.
struct LossOptions {
  std::vector<std::string> models;
  std::vector<double> sigmas{0.002, 0.01, 0.05, 0.2, 0.5, 1, 2, 5, 10, 20, 40, 80};
  std::int64_t val_images = 512, batch = 64;
  std::string data = kFashionMnistDir, device = "cpu", out = "runs/loss";
  int threads = 0;
};

/// The training options a model file was trained with (what make_batch and batch_loss read).
TrainOptions options_of(const ModelFile& m) {
  TrainOptions o;
  const std::string obj = m.config.value("objective", "edm_prior");
  o.objective = obj == "edm_prior" ? "prior" : obj;
  o.output = m.config.value("output", "x0");
  o.schedule = m.config.value("schedule", "ve");
  o.sigma_y = m.config.value("sigma_y", 0.05);
  if (m.config.contains("tasks")) o.tasks = m.config["tasks"].get<std::vector<std::string>>();
  return o;
}

int loss_by_sigma(const LossOptions& lo) {
  const at::Device device = parse_device(lo.device);
  if (lo.threads > 0) at::set_num_threads(lo.threads);
  for (double s : lo.sigmas)
    EPS_CHECK(std::isfinite(s) && s > 0, value_error, "--sigmas: every level must be finite and > 0, got ", s);
  const ImageData data = load_image_data(lo.data, false, 0, device);
  const std::int64_t nv = std::min<std::int64_t>(lo.val_images, data.val.size(0));
  std::ostringstream csv, table;
  csv << "model,sigma,loss\n";
  csv.precision(8);
  table << "| sigma |";
  for (const auto& m : lo.models) table << " " << m << " |";
  table << "\n|---|";
  for (std::size_t i = 0; i < lo.models.size(); ++i) table << "---|";
  table << "\n";
  std::vector<std::vector<double>> loss(lo.models.size());
  for (std::size_t mi = 0; mi < lo.models.size(); ++mi) {
    ModelFile m = read_model(lo.models[mi], device);
    const TrainOptions o = options_of(m);
    UNet net = m.net;
    torch::NoGradGuard ng;
    for (double sigma : lo.sigmas) {
      libtorch::Generator vg(1234567);
      std::optional<TaskSampler<at::Tensor>> vt;
      if (o.conditional()) vt.emplace(ImageShape{1, 28, 28}, tasks_from_flag(o.tasks), 7654321);
      double total = 0;
      for (std::int64_t i = 0; i < nv; i += lo.batch) {
        const at::Tensor x0 = data.val.slice(0, i, std::min(nv, i + lo.batch));
        const at::Tensor ratio = at::full({x0.size(0)}, sigma, at::TensorOptions().dtype(at::kDouble).device(device));
        const Batch b = with_schedule(
            m.config, [&](const auto& s) { return make_batch(o, s, x0, vg, vt ? &*vt : nullptr, 0.0, ratio); });
        total += batch_loss(o, net, b, 0, x0.size(0)).sum().item<double>();
      }
      loss[mi].push_back(total / double(nv));
      csv << lo.models[mi] << "," << sigma << "," << loss[mi].back() << "\n";
    }
  }
  for (std::size_t k = 0; k < lo.sigmas.size(); ++k) {
    table << "| " << lo.sigmas[k] << " |";
    for (const auto& l : loss) table << " " << number(l[k]) << " |";
    table << "\n";
  }
  write_file_atomic(fs::path(lo.out + ".csv"), csv.str());
  std::cout << "validation loss at fixed sigma (" << nv << " validation images; the training objective, EDM-weighted)\n"
            << table.str() << "wrote " << lo.out << ".csv";
  // The plot: one block per model in OUT.dat (gnuplot's index), log-log.
  std::ostringstream dat, gp;
  for (std::size_t mi = 0; mi < lo.models.size(); ++mi) {
    dat << "# " << lo.models[mi] << "\n";
    for (std::size_t k = 0; k < lo.sigmas.size(); ++k) dat << lo.sigmas[k] << " " << number(loss[mi][k]) << "\n";
    dat << "\n\n";
  }
  write_file_atomic(fs::path(lo.out + ".dat"), dat.str());
  gp << "set terminal pngcairo noenhanced size 800,500\nset output '" << lo.out
     << ".png'\nset logscale xy\nset grid\nset key bottom left\nset xlabel 'sigma'\nset ylabel 'validation loss at "
        "sigma'\nplot ";
  for (std::size_t mi = 0; mi < lo.models.size(); ++mi)
    gp << (mi ? ", " : "") << "'" << lo.out << ".dat' index " << mi << " using 1:2 with linespoints lw 2 title '"
       << lo.models[mi] << "'";
  gp << "\n";
  write_file_atomic(fs::path(lo.out + ".gp"), gp.str());
  run_gnuplot(fs::path(lo.out + ".gp"), "eps image loss");
  std::cout << ", " << lo.out << ".png";
  std::cout << "\n";
  return 0;
}

}  // namespace

void add_image_command(CLI::App& app) {
  CLI::App* img = app.add_subcommand("image", "Image pipeline on Fashion-MNIST (LibTorch)");
  img->require_subcommand(1);
  auto o = std::make_shared<TrainOptions>();
  CLI::App* t = img->add_subcommand("train", "Train a prior, an EPS network or Palette (docs/training.md)");
  t->add_option("--objective", o->objective,
                "prior (EDM denoiser), eps ([pivot, observation] input) or palette ([x_t, observation] input)")
      ->check(CLI::IsMember({"prior", "eps", "palette"}));
  t->add_option("--tasks", o->tasks,
                "Tasks drawn per minibatch (eps, palette): all, or a list of random_inpainting, box_inpainting, "
                "super_resolution, gaussian_deblur, motion_deblur")
      ->delimiter(',');
  t->add_option("--sigma-y", o->sigma_y, "Measurement noise of the training tasks");
  t->add_option("--init", o->init,
                "model.pt of a prior: to fine-tune (eps, palette; the network's architecture is the prior's), or "
                "to continue (a prior, or a model of this run's objective, tasks and sigma_y: from the model's step "
                "and EMA weights, with a fresh optimizer)");
  t->add_flag("--from-scratch", o->from_scratch, "Train eps or palette from random weights instead of --init");
  t->add_option("--output", o->output, "What the network predicts: x0 (EDM preconditioning) or velocity")
      ->check(CLI::IsMember({"x0", "velocity"}));
  t->add_option("--steps", o->steps, "Optimizer steps in all (a resumed run continues up to this)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  t->add_option("--batch", o->batch, "Minibatch size (all processes together)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{65536}));
  t->add_option("--lr", o->lr, "Adam learning rate after warm-up")->check(CLI::Range(1e-8, 1.0));
  t->add_option("--warmup", o->warmup, "Linear learning-rate warm-up (steps)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{100000000}));
  t->add_option("--ema-half-life", o->ema_half_life, "EMA half-life in training images")->check(CLI::Range(1.0, 1e12));
  t->add_option("--ema-rampup", o->ema_rampup,
                "EMA ramp-up: the half-life is at most this fraction of the images trained in this run (0: off)")
      ->check(CLI::Range(0.0, 1.0));
  t->add_option("--sigma-uniform", o->sigma_uniform,
                "Share of noise levels drawn log-uniformly over [0.002, 80] instead of EDM's log-normal")
      ->check(CLI::Range(0.0, 1.0));
  t->add_option("--schedule", o->schedule, "Interpolant: ve (EDM) or linear (flow matching)")
      ->check(CLI::IsMember({"ve", "linear"}));
  t->add_option("--channels", o->channels, "U-Net channels at the top level (a multiple of 8)")
      ->check(CLI::Range(std::int64_t{8}, std::int64_t{1024}));
  t->add_option("--blocks", o->blocks, "Residual blocks per level")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{8}));
  t->add_option("--multipliers", o->multipliers, "Channel multiplier per level (28, 14, 7 for three levels)")
      ->delimiter(',')
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{16}));
  t->add_flag("--no-attention", o->no_attention, "No self-attention in the middle block");
  t->add_option("--train-subset", o->train_subset, "Use only the first N training images (0: all)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{60000}));
  t->add_option("--seed", o->seed, "Seed of the weights, the data order, the levels, the noise and the operators");
  t->add_option("--checkpoint-every", o->checkpoint_every, "Steps between checkpoints (and validation)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  t->add_option("--log-every", o->log_every, "Steps between rows of loss.csv")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  t->add_option("--val-images", o->val_images, "Validation images behind the validation loss")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{2000}));
  t->add_option("--data", o->data, "Directory of the Fashion-MNIST IDX files");
  t->add_option("--out", o->out, "Run directory (checkpoint.pt, model.pt, loss.csv, loss.png, train.json)");
  t->add_option("--device", o->device, "cpu, cuda or cuda:k (cuda with several processes: cuda:LOCAL_RANK)");
  t->add_option("--threads", o->threads, "CPU threads (0: LibTorch's default)")->check(CLI::Range(0, 1024));
  t->add_option("--dist-timeout", o->dist_timeout,
                "Seconds a data-parallel collective waits for the other processes before failing")
      ->check(CLI::Range(1.0, 86400.0));
  t->add_option("--precision", o->precision,
                "fp32, or bf16 (bfloat16 autocast of the forward pass; weights, optimizer and EMA stay fp32)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  t->add_flag("--channels-last", o->channels_last, "Channels-last memory format for the convolutions");
  t->add_flag("--resume", o->resume, "Continue the run in --out from its checkpoint");
  t->add_flag("--no-plots", o->no_plots, "Do not plot the loss");
  t->callback([o] { throw CommandResult{train(*o)}; });

  auto files = std::make_shared<std::vector<std::string>>();
  auto tol = std::make_shared<double>(1e-5);
  CLI::App* c = img->add_subcommand("compare", "Largest difference between the weights of two model files");
  c->add_option("models", *files, "Two model.pt files")->required()->expected(2);
  c->add_option("--tol", *tol, "Relative tolerance (exit 1 above it)")->check(CLI::Range(0.0, 1.0));
  c->callback([files, tol] { throw CommandResult{compare((*files)[0], (*files)[1], *tol)}; });
  auto lo = std::make_shared<LossOptions>();
  CLI::App* l = img->add_subcommand("loss", "Validation loss of trained models at fixed noise levels (and a plot)");
  l->add_option("models", lo->models, "model.pt files")->required();
  l->add_option("--sigmas", lo->sigmas, "Noise levels sigma/alpha")->delimiter(',');
  l->add_option("--val-images", lo->val_images, "Validation images")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{2000}));
  l->add_option("--batch", lo->batch, "Batch")->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
  l->add_option("--data", lo->data, "Directory of the Fashion-MNIST IDX files");
  l->add_option("--device", lo->device, "cpu, cuda or cuda:k");
  l->add_option("--threads", lo->threads, "CPU threads (0: LibTorch's default)")->check(CLI::Range(0, 1024));
  l->add_option("--out", lo->out, "Prefix of the CSV and PNG written (OUT.csv, OUT.png)");
  l->callback([lo] { throw CommandResult{loss_by_sigma(*lo)}; });
  add_image_classifier_command(*img);
  add_image_sample_command(*img);
  add_image_restore_command(*img);
  add_image_eval_command(*img);
  add_image_tune_command(*img);
}

}  // namespace eps::cli
