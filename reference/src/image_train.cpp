// SPDX-License-Identifier: MIT
// `eps image train`: trains the U-Net prior on Fashion-MNIST with EDM's recipe (docs/training.md §4):
// preconditioning, loss weight and log-normal levels from eps/backends/torch_edm.hpp on any schedule of the
// library, Adam with linear warm-up, an EMA of the weights, atomic checkpoints that hold everything a run
// needs to continue bit for bit (`--resume`), a loss log (CSV) and its plot beside the checkpoint.
#include <torch/cuda.h>
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
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "eps/backends/torch_edm.hpp"
#include "idx.hpp"
#include "unet.hpp"
#include "util.hpp"

namespace eps::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct TrainOptions {
  // What is trained (part of the checkpoint's configuration: a resumed run must match it).
  std::string schedule = "ve";
  std::int64_t batch = 64;
  double lr = 1e-3;
  std::int64_t warmup = 500;
  double ema_half_life = 20000;  ///< in training images
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
  bool resume = false, no_plots = false, no_attention = false;
};

json config_of(const TrainOptions& o) {
  return {{"model", "unet"},
          {"objective", "edm_prior"},
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
}

/// FNV-1a (64 bit) of a byte range, continued from h.
std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
std::string hex(std::uint64_t h) {
  std::ostringstream os;
  os << std::hex << std::setw(16) << std::setfill('0') << h;
  return os.str();
}
/// The hash of a module's parameters and buffers (their float bytes on the CPU, in order).
std::string weights_hash(const torch::nn::Module& m) {
  std::uint64_t h = 1469598103934665603ull;
  for (const auto& t : m.parameters()) {
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    h = fnv1a(c.data_ptr(), static_cast<std::size_t>(c.nbytes()), h);
  }
  for (const auto& t : m.buffers()) {
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    h = fnv1a(c.data_ptr(), static_cast<std::size_t>(c.nbytes()), h);
  }
  return hex(h);
}

/// The data: training images without the validation split (every 30th image of the training set: 2000
/// images, fixed whatever the seed), on `device`, [N, 1, 28, 28] in [−1, 1].
struct Data {
  at::Tensor train, val;
  std::string hash;
};
Data load_data(const TrainOptions& o, const at::Device& device) {
  const FashionMnist fm = load_fashion_mnist(o.data, true);
  const std::int64_t n = fm.count;
  std::vector<std::int64_t> tr, va;
  for (std::int64_t i = 0; i < n; ++i) (i % 30 == 0 ? va : tr).push_back(i);
  if (o.train_subset > 0) {
    EPS_CHECK(o.train_subset <= static_cast<std::int64_t>(tr.size()), value_error, "--train-subset: at most ",
              tr.size(), " training images, got ", o.train_subset);
    tr.resize(static_cast<std::size_t>(o.train_subset));
  }
  // A view of fm's pixels: index_select below copies what it keeps.
  const at::Tensor all = at::from_blob(const_cast<float*>(fm.images.data()), {n, 1, fm.height, fm.width}, at::kFloat);
  Data d;
  d.train = all.index_select(0, at::tensor(tr, at::kLong)).to(device);
  d.val = all.index_select(0, at::tensor(va, at::kLong)).to(device);
  std::uint64_t h = fnv1a(fm.images.data(), fm.images.size() * sizeof(float));
  h = fnv1a(tr.data(), tr.size() * sizeof(std::int64_t), h);
  d.hash = hex(h);
  return d;
}

at::Device parse_device(const std::string& s) {
  try {
    const at::Device d(s);
    EPS_CHECK(d.is_cpu() || (d.is_cuda() && at::hasCUDA()), value_error, "--device ", s,
              ": this LibTorch has no CUDA (or no GPU is visible); use --device cpu");
    if (d.is_cuda())
      EPS_CHECK((d.has_index() ? d.index() : 0) < static_cast<int>(torch::cuda::device_count()), value_error,
                "--device ", s, ": no such GPU");
    return d;
  } catch (const c10::Error&) {
    detail::raise<value_error>("--device: expected cpu, cuda or cuda:k, got '", s, "'");
  }
}

/// One row of the loss log.
struct LogRow {
  double step, train_loss, lr, val_loss;
};

/// Everything a run is: the network, its EMA, the optimizer, the generator, the data order, the log.
struct Run {
  UNet net{nullptr};
  std::unique_ptr<libtorch::Ema> ema;
  std::unique_ptr<torch::optim::Adam> opt;
  libtorch::Generator gen;
  at::Tensor perm;        ///< this epoch's order of the training images (CPU, int64)
  std::int64_t pos = 0;   ///< position in perm
  std::int64_t step = 0;  ///< optimizer steps done
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

void save_checkpoint(const fs::path& path, Run& r, const json& config, const std::string& data_hash,
                     const at::Device& device) {
  torch::serialize::OutputArchive ar;
  ar.write("format", c10::IValue(std::string("eps.train_checkpoint")));
  ar.write("version", c10::IValue(std::int64_t{1}));
  ar.write("config", c10::IValue(config.dump()));
  ar.write("data_hash", c10::IValue(data_hash));
  ar.write("step", c10::IValue(r.step));
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
  at::Tensor log = at::empty({static_cast<std::int64_t>(r.log.size()), 4}, at::kDouble);
  for (std::size_t i = 0; i < r.log.size(); ++i) {
    const LogRow& l = r.log[i];
    const double row[4] = {l.step, l.train_loss, l.lr, l.val_loss};
    for (int j = 0; j < 4; ++j) log[static_cast<std::int64_t>(i)][j] = row[j];
  }
  ar.write("log", log);
  std::ostringstream os;
  ar.save_to(os);
  write_file_atomic(path, os.str());
}

/// Restores r from the checkpoint at `path`; its configuration and data must be this run's.
void load_checkpoint(const fs::path& path, Run& r, const json& config, const std::string& data_hash,
                     const at::Device& device) {
  const std::string bytes = read_file(path);
  torch::serialize::InputArchive ar;
  const auto bad = [&](const std::string& why) {
    detail::raise<io_error>("checkpoint '", path.string(), "' is not a usable eps training checkpoint: ", why);
  };
  // A checkpoint is a zip archive (torch's serialisation format) that ends with its central directory: a
  // file that is not one, or one cut short, is refused here, before LibTorch 1.13's reader (which leaks its
  // state when the directory cannot be parsed).
  const auto eocd = bytes.size() >= 22 ? bytes.rfind("PK\x05\x06") : std::string::npos;
  if (bytes.size() < 4 || bytes.compare(0, 4, "PK\x03\x04") != 0)
    bad("corrupt or not a checkpoint (not a zip archive)");
  if (eocd == std::string::npos || bytes.size() - eocd > 22 + 65535)
    bad("corrupt or not a checkpoint (truncated: the zip archive has no central directory at its end)");
  try {
    std::istringstream is(bytes);
    ar.load_from(is, device);
  } catch (const c10::Error& e) {
    bad(std::string("corrupt or not a checkpoint (") + e.what_without_backtrace() + ")");
  }
  try {
    c10::IValue v;
    if (!ar.try_read("format", v) || !v.isString() || v.toStringRef() != "eps.train_checkpoint")
      bad("no 'format' = eps.train_checkpoint");
    ar.read("config", v);
    const json theirs = json::parse(v.toStringRef());
    for (const auto& [k, val] : config.items())
      EPS_CHECK(theirs.contains(k) && theirs[k] == val, value_error, "--resume: the checkpoint '", path.string(),
                "' was written with ", k, " = ", theirs.contains(k) ? theirs[k].dump() : "(absent)", ", this run has ",
                val.dump(), " (start a new --out, or use the checkpoint's settings)");
    ar.read("data_hash", v);
    EPS_CHECK(v.toStringRef() == data_hash, value_error, "--resume: the checkpoint '", path.string(),
              "' was trained on other data (hash ", v.toStringRef(), ", this run's data ", data_hash, ")");
    ar.read("step", v);
    r.step = v.toInt();
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
    r.opt->load(opt);
    at::Tensor s;
    ar.read("rng_cpu", s);
    r.gen.on(at::kCPU).set_state(s.to(at::kCPU));
    if (!device.is_cpu()) {
      ar.read("rng_device", s);
      r.gen.on(device).set_state(s.to(at::kCPU));
    }
    at::Tensor log;
    ar.read("log", log);
    log = log.to(at::kCPU);
    r.log.clear();
    for (std::int64_t i = 0; i < log.size(0); ++i)
      r.log.push_back(
          {log[i][0].item<double>(), log[i][1].item<double>(), log[i][2].item<double>(), log[i][3].item<double>()});
  } catch (const c10::Error& e) {
    bad(std::string("a field is missing or malformed (") + e.what_without_backtrace() + ")");
  }
}

std::string number(double v) {
  std::ostringstream os;
  os.precision(8);
  os << v;
  return os.str();
}

void write_log(const fs::path& dir, const std::vector<LogRow>& log, bool plots) {
  std::ostringstream os;
  os << "step,train_loss,lr,val_loss\n";
  os.precision(8);
  for (const auto& l : log)
    os << static_cast<std::int64_t>(l.step) << "," << l.train_loss << "," << l.lr << ","
       << (std::isnan(l.val_loss) ? std::string() : number(l.val_loss)) << "\n";
  write_file_atomic(dir / "loss.csv", os.str());
  if (!plots || std::system("command -v gnuplot > /dev/null 2>&1") != 0) return;
  const fs::path script = dir / "loss.gp";
  write_file_atomic(script, "set datafile separator ','\nset terminal pngcairo size 800,500\nset output '" +
                                (dir / "loss.png").string() +
                                "'\nset logscale y\nset xlabel 'step'\nset ylabel 'EDM loss'\nset key top right\n"
                                "plot '" +
                                (dir / "loss.csv").string() +
                                "' every ::1 using 1:2 with lines title 'train (mean since last row)', '' every ::1 "
                                "using 1:($4 > 0 ? $4 : 1/0) with linespoints title 'validation (EMA weights)'\n");
  const std::string cmd = "gnuplot '" + script.string() + "' > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    std::cerr << "eps image train: gnuplot failed on " << script << " (plot skipped)\n";
}

int train(const TrainOptions& o) {
  const at::Device device = parse_device(o.device);
  if (o.threads > 0) at::set_num_threads(o.threads);
  const json config = config_of(o);
  const Data data = load_data(o, device);
  const fs::path out(o.out), ckpt = fs::path(o.out) / "checkpoint.pt";

  Run r;
  r.gen = libtorch::Generator(o.seed);
  at::manual_seed(o.seed);  // the initial weights
  r.net = UNet(net_config(o));
  r.net->to(device);
  r.ema = std::make_unique<libtorch::Ema>(*r.net);
  r.opt = std::make_unique<torch::optim::Adam>(r.net->parameters(),
                                               torch::optim::AdamOptions(o.lr).betas({0.9, 0.999}).eps(1e-8));
  const std::int64_t n_train = data.train.size(0);
  r.perm = at::randperm(n_train, r.gen.on(at::kCPU), at::kLong);

  if (fs::exists(ckpt)) {
    EPS_CHECK(o.resume, value_error, "'", ckpt.string(),
              "' exists: pass --resume to continue that run, or choose another --out");
    load_checkpoint(ckpt, r, config, data.hash, device);
    EPS_CHECK(r.step <= o.steps, value_error, "--steps ", o.steps, ": the checkpoint is already at step ", r.step);
    std::cerr << "eps image train: resumed from " << ckpt.string() << " at step " << r.step << "\n";
  } else if (o.resume) {
    std::cerr << "eps image train: no checkpoint in " << out.string() << "; starting from step 0\n";
  }

  const auto run_schedule = [&](auto&& body) {
    if (o.schedule == "ve") return body(VeEdm{});
    return body(Linear{});
  };
  const libtorch::EdmPreconditioning pre(0.5);
  const libtorch::LogNormalNoise levels;
  const double beta = libtorch::Ema::decay_for_half_life(double(o.batch), o.ema_half_life);
  UNet eval_net(net_config(o));
  eval_net->to(device);

  // The validation loss of the EMA weights: the first val_images validation images, noise and levels from
  // a generator of fixed seed, so that every evaluation of a run (and of a resumed run) sees the same draws.
  const auto validation = [&]() {
    r.ema->copy_to(*eval_net);
    eval_net->eval();
    torch::NoGradGuard ng;
    libtorch::Generator vg(1234567);
    const std::int64_t nv = std::min<std::int64_t>(o.val_images, data.val.size(0));
    double total = 0;
    for (std::int64_t i = 0; i < nv; i += o.batch) {
      const at::Tensor x0 = data.val.slice(0, i, std::min(nv, i + o.batch));
      const at::Tensor ratio = levels.sample(x0.size(0), vg, device);
      const at::Tensor noise = at::randn(x0.sizes(), vg.on(device), x0.options());
      const at::Tensor l = run_schedule([&](const auto& s) -> at::Tensor {
        const libtorch::TrainingLevels lv = libtorch::training_levels(s, ratio);
        return pre.loss([&](const at::Tensor& x, const at::Tensor& c) { return eval_net->forward(x, c); }, x0, noise,
                        lv.alpha, lv.sigma);
      });
      total += l.sum().item<double>();
    }
    return total / double(nv);
  };

  std::cerr << "eps image train: U-Net with " << r.net->parameter_count() << " parameters; " << n_train
            << " training and " << data.val.size(0) << " validation images; schedule " << o.schedule << "; device "
            << device << "; " << at::get_num_threads() << " threads\n";
  Progress bar("train", o.steps);
  Stopwatch clock;
  const std::int64_t first = r.step;
  double acc = 0;
  std::int64_t acc_n = 0;
  r.net->train();
  while (r.step < o.steps) {
    if (r.pos + o.batch > n_train) {
      r.perm = at::randperm(n_train, r.gen.on(at::kCPU), at::kLong);
      r.pos = 0;
    }
    const at::Tensor idx = r.perm.slice(0, r.pos, r.pos + o.batch).to(device);
    r.pos += o.batch;
    const at::Tensor x0 = data.train.index_select(0, idx);
    const at::Tensor ratio = levels.sample(o.batch, r.gen, device);
    const at::Tensor noise = at::randn(x0.sizes(), r.gen.on(device), x0.options());
    const double lr = o.lr * std::min(1.0, double(r.step + 1) / double(std::max<std::int64_t>(o.warmup, 1)));
    for (auto& group : r.opt->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    const at::Tensor loss = run_schedule([&](const auto& s) -> at::Tensor {
      const libtorch::TrainingLevels lv = libtorch::training_levels(s, ratio);
      return pre
          .loss([&](const at::Tensor& x, const at::Tensor& c) { return r.net->forward(x, c); }, x0, noise, lv.alpha,
                lv.sigma)
          .mean();
    });
    r.opt->zero_grad();
    loss.backward();
    r.opt->step();
    r.ema->update(*r.net, beta);
    ++r.step;
    const double l = loss.item<double>();
    EPS_CHECK(std::isfinite(l), convergence_error, "eps image train: the loss is not finite at step ", r.step,
              " (lower --lr?)");
    acc += l;
    ++acc_n;
    const bool at_ckpt = r.step % o.checkpoint_every == 0 || r.step == o.steps;
    if (r.step % o.log_every == 0 || at_ckpt) {
      r.log.push_back({double(r.step), acc / double(acc_n), lr, at_ckpt ? validation() : std::nan("")});
      r.net->train();
      acc = 0;
      acc_n = 0;
    }
    if (at_ckpt) {
      save_checkpoint(ckpt, r, config, data.hash, device);
      write_log(out, r.log, !o.no_plots);
    }
    const double sps = double(r.step - first) / std::max(clock.seconds(), 1e-9);
    std::ostringstream extra;
    extra << "loss " << std::setprecision(4) << l << ", " << std::setprecision(3) << sps << " steps/s";
    bar.update(r.step, extra.str());
  }

  // The summary: weights hashes (what the resume test compares), losses, cost.
  const json summary = {{"config", config},
                        {"steps", r.step},
                        {"parameters", r.net->parameter_count()},
                        {"weights_hash", weights_hash(*r.net)},
                        {"ema_hash",
                         [&] {
                           r.ema->copy_to(*eval_net);
                           return weights_hash(*eval_net);
                         }()},
                        {"final_val_loss", r.log.empty() ? 0.0 : r.log.back().val_loss},
                        {"data_hash", data.hash},
                        {"seconds_this_session", clock.seconds()}};
  write_file_atomic(out / "train.json", summary.dump(2) + "\n");
  std::cout << "trained " << r.step << " steps (" << r.step - first << " in this session, " << std::setprecision(3)
            << clock.seconds() << " s); validation loss (EMA) " << summary["final_val_loss"].get<double>() << "\nwrote "
            << ckpt.string() << ", " << (out / "loss.csv").string() << ", " << (out / "train.json").string() << "\n";
  return 0;
}

}  // namespace

void add_image_command(CLI::App& app) {
  CLI::App* img = app.add_subcommand("image", "Image pipeline on Fashion-MNIST (LibTorch)");
  img->require_subcommand(1);
  auto o = std::make_shared<TrainOptions>();
  CLI::App* t = img->add_subcommand("train", "Train the U-Net prior with EDM's recipe (docs/training.md)");
  t->add_option("--steps", o->steps, "Optimizer steps in all (a resumed run continues up to this)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  t->add_option("--batch", o->batch, "Minibatch size")->check(CLI::Range(std::int64_t{1}, std::int64_t{65536}));
  t->add_option("--lr", o->lr, "Adam learning rate after warm-up")->check(CLI::Range(1e-8, 1.0));
  t->add_option("--warmup", o->warmup, "Linear learning-rate warm-up (steps)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{100000000}));
  t->add_option("--ema-half-life", o->ema_half_life, "EMA half-life in training images")->check(CLI::Range(1.0, 1e12));
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
  t->add_option("--seed", o->seed, "Seed of the weights, the data order, the levels and the noise");
  t->add_option("--checkpoint-every", o->checkpoint_every, "Steps between checkpoints (and validation)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  t->add_option("--log-every", o->log_every, "Steps between rows of loss.csv")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  t->add_option("--val-images", o->val_images, "Validation images behind the validation loss")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{2000}));
  t->add_option("--data", o->data, "Directory of the Fashion-MNIST IDX files");
  t->add_option("--out", o->out, "Run directory (checkpoint.pt, loss.csv, loss.png, train.json)");
  t->add_option("--device", o->device, "cpu, cuda or cuda:k");
  t->add_option("--threads", o->threads, "CPU threads (0: LibTorch's default)")->check(CLI::Range(0, 1024));
  t->add_flag("--resume", o->resume, "Continue the run in --out from its checkpoint");
  t->add_flag("--no-plots", o->no_plots, "Do not plot the loss");
  t->callback([o] { throw CommandResult{train(*o)}; });
}

}  // namespace eps::cli
