// SPDX-License-Identifier: MIT
// `eps image classifier`: trains the Fashion-MNIST classifier whose features the evaluation's Fréchet
// distance uses (docs/training.md §7). Adam on the training split (the validation images held out), a
// random horizontal flip, a checkpoint after every epoch (atomic; `--resume` continues bit for bit), and
// the test accuracy at the end, measured on the 10,000 test images.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.hpp"
#include "eps/backends/torch.hpp"
#include "eps/networks/torch_compat.hpp"
#include "eps/training/checkpoint.hpp"
#include "eps/training/classifier.hpp"
#include "image_common.hpp"
#include "idx.hpp"
#include "util.hpp"

namespace eps::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

using training::Classifier;
constexpr const char* kCheckpointFormat = "eps.classifier_checkpoint";

struct ClassifierOptions {
  std::int64_t epochs = 6, batch = 128, train_subset = 0;
  double lr = 1e-3;
  std::uint64_t seed = 1;
  std::string data = kFashionMnistDir, out = "runs/classifier", device = "cpu";
  int threads = 0;
  bool resume = false;
};

json config_of(const ClassifierOptions& o) {
  return {{"model", "classifier"},          {"batch", o.batch}, {"lr", o.lr}, {"seed", o.seed},
          {"train_subset", o.train_subset}, {"flip", true}};
}

/// The generator that torch::nn::Dropout draws from on `device`.
at::Generator default_generator(const at::Device& device) {
  return device.is_cpu() ? at::detail::getDefaultCPUGenerator() : at::globalContext().defaultGenerator(device);
}

/// Accuracy of `net` on images x with labels l (evaluation mode, batches of 500).
double accuracy(Classifier& net, const at::Tensor& x, const at::Tensor& l) {
  torch::NoGradGuard ng;
  net->eval();
  std::int64_t right = 0;
  for (std::int64_t i = 0; i < x.size(0); i += 500) {
    const std::int64_t j = std::min(x.size(0), i + 500);
    right += (net->forward(x.slice(0, i, j)).argmax(1) == l.slice(0, i, j)).sum().item<std::int64_t>();
  }
  net->train();
  return double(right) / double(x.size(0));
}

int train_classifier(const ClassifierOptions& o) {
  const at::Device device = parse_device(o.device);
  if (o.threads > 0) at::set_num_threads(o.threads);
  const ImageData data = load_image_data(o.data, false, o.train_subset, device);
  EPS_CHECK(o.batch <= data.train.size(0), value_error, "--batch ", o.batch, " exceeds the ", data.train.size(0),
            " training images");
  const fs::path out(o.out), ckpt = out / "checkpoint.pt";
  const json config = config_of(o);
  at::manual_seed(o.seed);
  Classifier net;
  net->to(device);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.lr));
  libtorch::Generator gen(o.seed);
  std::int64_t epoch = 0;
  std::string log = "epoch,train_loss,val_accuracy\n";
  if (fs::exists(ckpt)) {
    EPS_CHECK(o.resume, value_error, "'", ckpt.string(),
              "' exists: pass --resume to continue that run, or choose another --out");
    training::read_checkpoint(ckpt, device, kCheckpointFormat, "eps classifier checkpoint", 1, config, data.hash,
                              [&](torch::serialize::InputArchive& ar) {
                                c10::IValue v;
                                ar.read("epoch", v);
                                epoch = v.toInt();
                                ar.read("log", v);
                                log = v.toStringRef();
                                torch::serialize::InputArchive m, a;
                                ar.read("model", m);
                                net->load(m);
                                ar.read("optimizer", a);
                                networks::compat::load_adam(opt, a);
                                at::Tensor st;
                                ar.read("rng_cpu", st);
                                gen.on(at::kCPU).set_state(st.to(at::kCPU));
                                ar.read("rng_dropout", st);  // dropout draws from the default generator of the device
                                default_generator(device).set_state(st.to(at::kCPU));
                                if (!device.is_cpu()) {
                                  ar.read("rng_device", st);
                                  gen.on(device).set_state(st.to(at::kCPU));
                                }
                              });
    std::cerr << "eps image classifier: resumed after epoch " << epoch << "\n";
  }
  EPS_CHECK(epoch <= o.epochs, value_error, "--epochs ", o.epochs, ": the checkpoint is already at epoch ", epoch);
  const std::int64_t n = data.train.size(0), per_epoch = n / o.batch;
  Progress bar("classifier", static_cast<long>(o.epochs * per_epoch), static_cast<long>(epoch * per_epoch));
  Stopwatch clock;
  const std::int64_t first = epoch;
  net->train();
  for (; epoch < o.epochs;) {
    const at::Tensor perm = at::randperm(n, gen.on(at::kCPU), at::kLong).to(device);
    double total = 0;
    for (std::int64_t b = 0; b < per_epoch; ++b) {
      const at::Tensor idx = perm.slice(0, b * o.batch, (b + 1) * o.batch);
      at::Tensor x = data.train.index_select(0, idx);
      const at::Tensor flip = at::rand({o.batch}, gen.on(device)) < 0.5;
      x = at::where(flip.view({-1, 1, 1, 1}), x.flip({3}), x);
      const at::Tensor loss = at::cross_entropy_loss(net->forward(x), data.train_labels.index_select(0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
      total += loss.item<double>();
      std::ostringstream extra;
      const double done = double((epoch - first) * per_epoch + b + 1);
      extra << "epoch " << epoch + 1 << ", loss " << std::setprecision(3) << loss.item<double>() << ", "
            << done / std::max(clock.seconds(), 1e-9) << " steps/s";
      bar.update(static_cast<long>(epoch * per_epoch + b + 1), extra.str());
    }
    ++epoch;
    const double val = accuracy(net, data.val, data.val_labels);
    std::ostringstream row;
    row << epoch << "," << std::setprecision(6) << total / double(per_epoch) << "," << val << "\n";
    log += row.str();
    training::write_checkpoint(ckpt, {kCheckpointFormat, 1, config}, data.hash,
                               [&](torch::serialize::OutputArchive& ar) {
                                 torch::serialize::OutputArchive m, a;
                                 ar.write("epoch", c10::IValue(epoch));
                                 ar.write("log", c10::IValue(log));
                                 net->save(m);
                                 ar.write("model", m);
                                 opt.save(a);
                                 ar.write("optimizer", a);
                                 ar.write("rng_cpu", gen.on(at::kCPU).get_state());
                                 ar.write("rng_dropout", default_generator(device).get_state());
                                 if (!device.is_cpu()) ar.write("rng_device", gen.on(device).get_state());
                               });
    write_file_atomic(out / "accuracy.csv", log);
  }
  // The final model and its test accuracy (the test split, used here and by the evaluation only).
  const ImageData test = load_image_data(o.data, true, 0, device);
  const double test_acc = accuracy(net, test.train, test.train_labels);
  training::write_classifier(out / "classifier.pt", net, config, test_acc);
  const json summary = {{"config", config},
                        {"epochs", epoch},
                        {"test_accuracy", test_acc},
                        {"weights_hash", weights_hash(*net)},
                        {"seconds_this_session", clock.seconds()},
                        {"epochs_this_session", epoch - first}};
  write_file_atomic(out / "train.json", summary.dump(2) + "\n");
  std::cout << "classifier: " << epoch << " epochs; test accuracy " << std::setprecision(4) << 100 * test_acc
            << " % (10,000 test images)\nwrote " << (out / "classifier.pt").string() << ", "
            << (out / "accuracy.csv").string() << ", " << (out / "train.json").string() << "\n";
  return 0;
}

}  // namespace

void add_image_classifier_command(CLI::App& image) {
  auto o = std::make_shared<ClassifierOptions>();
  CLI::App* c = image.add_subcommand(
      "classifier", "Train the Fashion-MNIST classifier behind the evaluation's feature distance (docs/training.md)");
  c->add_option("--epochs", o->epochs, "Epochs in all (a resumed run continues up to this)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}));
  c->add_option("--batch", o->batch, "Minibatch size")->check(CLI::Range(std::int64_t{1}, std::int64_t{8192}));
  c->add_option("--lr", o->lr, "Adam learning rate")->check(CLI::Range(1e-8, 1.0));
  c->add_option("--seed", o->seed, "Seed of the weights, the data order and the flips");
  c->add_option("--train-subset", o->train_subset, "Use only the first N training images (0: all)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{60000}));
  c->add_option("--data", o->data, "Directory of the Fashion-MNIST IDX files");
  c->add_option("--out", o->out, "Run directory (checkpoint.pt, classifier.pt, accuracy.csv, train.json)");
  c->add_option("--device", o->device, "cpu, cuda or cuda:k");
  c->add_option("--threads", o->threads, "CPU threads (0: LibTorch's default)")->check(CLI::Range(0, 1024));
  c->add_flag("--resume", o->resume, "Continue the run in --out from its checkpoint");
  c->callback([o] { throw CommandResult{train_classifier(*o)}; });
}

}  // namespace eps::cli
