// SPDX-License-Identifier: MIT
// `eps image eval` and `eps image tune` (docs/evaluation.md): the pieces shared by the evaluation's runner and
// cache (eval_methods.cpp), its scoring (eval_score.cpp), its reports (eval_report.cpp), the cost comparison
// (eval_cost.cpp), the command (eval.cpp) and the tuning sweep (tune.cpp). The methods themselves are the
// registry's (methods.hpp).
#pragma once

#include <ATen/ATen.h>

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eps/training/classifier.hpp"
#include "eps/networks/model.hpp"
#include "eps/image_metrics.hpp"
#include "eps/tasks.hpp"
#include "fd_bootstrap.hpp"
#include "idx.hpp"
#include "image_common.hpp"
#include "methods.hpp"

namespace eps::cli::eval {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Tn = at::Tensor;
using Op = TaskOperator<Tn>;
/// The classifier behind the FD (classifier.pt of `eps image classifier`).
using training::Classifier;
using training::ClassifierImpl;
using training::read_classifier;

inline const ImageShape kImage{1, 28, 28};

/// The images a run restores: the test set (final tables), or held-out training images (tuning).
enum class Split { test, val };

struct EvalOptions {
  std::string models = "models", prior, eps, palette, classifier, tuned, out = "runs/eval", device = "cpu",
              data = kFashionMnistDir;
  std::vector<std::string> tasks{"all"}, methods{"all"}, settings;
  Split split = Split::test;
  std::int64_t first = 0, images = 4, seeds = 2, batch = 32, fd_reference = 10000, grid_images = 8;
  std::vector<int> eps_nfe{1, 20, 100}, prior_nfe{20, 100}, baseline_nfe{100}, dps_nfe{250};
  double sigma_y = 0.05, sigma_max = 80.0;
  std::uint64_t seed = 1;
  int threads = 0, timing_reps = 20, cost_reps = 5, fd_bootstrap = 200;
  bool batch1 = true, plots = true, fresh = false, cost = true;
  bool box_drawn = false;  ///< --box drawn: box inpainting on boxes from the training distribution
};

/// The knob values of every method family, per task: the registry's defaults, then the tuned file's values,
/// then --set (which applies to every task).
class Settings {
 public:
  /// `tuned_path` empty or "none": no tuned values.
  Settings(const std::string& tuned_path, const std::vector<std::string>& set, const std::string& prior_hash);
  /// The knobs of family `family` (a registry name, or eps_multitask / eps_task / eps_scratch) on `task`.
  methods::Knobs knobs(const std::string& family, const std::string& task) const;
  const std::string& source() const { return source_; }

 private:
  json tuned_;
  std::map<std::string, methods::Knobs> set_;
  std::string source_;
};

/// One row of the table: a registry method with a model (its family names the model variant: eps_multitask,
/// eps_task, eps_scratch for EPS; the method's name otherwise) at one budget.
struct Run {
  std::string method, family;
  int nfe = 0;
  std::string model;                    ///< the model file it samples with ("" for A†y)
  std::optional<methods::Knobs> knobs;  ///< explicit knob values (the tuning sweep); else the settings'
  std::string id() const { return method == "pinv" ? family : family + "@" + std::to_string(nfe); }
};

/// Models (eps.model files or TorchScript modules with a contract) loaded once, by path.
class Models {
 public:
  explicit Models(at::Device device) : device_(device) {}
  const networks::Model& get(const std::string& path);
  const std::string& hash(const std::string& path) { return get(path).hash(); }

 private:
  at::Device device_;
  std::map<std::string, networks::Model> models_;
};

/// Everything a method needs for one task: the operator of every image, the measurements, the observation
/// images and A†y.
struct TaskData {
  Task task;
  std::size_t index = 0;
  Op op;
  Tn x0, y, observation, pinv;
};

struct Context {
  const EvalOptions& o;
  at::Device device;
  Models& models;
  const Settings& settings;
};

/// The operator of samples [b, e) of `op`, each repeated `repeats` times (an image's seeds share it).
Op subset(const Op& op, std::int64_t b, std::int64_t e, std::int64_t repeats, const Tn& like);

/// Network evaluations and VJPs per sample of one sampler call.
struct Counts {
  int nfe = 0, vjp = 0;
};

/// Samples of run r for operator A (batch b, its rows' y), from the initial noise of `noise_seed`; `on_step`
/// after every sampler step; `counts` receives the NFE and VJPs per sample.
Tn sample_batch(const Run& r, Context& c, const TaskData& td, const Op& A, const Tn& y, std::int64_t b,
                std::uint64_t noise_seed, const std::function<void()>& on_step, Counts& counts);

/// A run's samples of every (image, seed) pair (image-major), with its timings (image_common.hpp).
using Part = EvalPart;

/// Runs r on every (image, seed) of the task in batches, then once at batch 1 for the timing; or reuses the
/// part an earlier run with the same key saved under OUT/parts.
Part run_method(const Run& r, Context& c, const TaskData& td);

/// The settings that determine a run's samples (the key of every cached part, and results.json's config).
json run_config(const EvalOptions& o, const at::Device& device);

/// Mean and standard error over images.
struct MeanSe {
  double mean = NAN, se = NAN;
};
MeanSe mean_se(const std::vector<double>& v);

struct Row {
  std::string task, method, family, label;
  int nfe = 0, vjp = 0;
  MeanSe psnr, ssim, psnr_mean, ssim_mean, crps, consistency;
  std::vector<double> psnr_per_image, ssim_per_image;  ///< each image's value (over its seeds): paired comparisons
  std::vector<double> psnr_mean_per_image;             ///< each image's posterior-mean PSNR: paired too
  MeanSe fd;  ///< FD of all samples ± the bootstrap standard error over images (fd_bootstrap.hpp)
  std::vector<double> fd_replicates;  ///< FD of each bootstrap replicate (the same draws for every run: paired)
  double seconds = NAN, seconds_b1 = NAN;
  std::int64_t batch = 0;
  bool reused = false;
  json knobs = json::object();
};

/// Classifier features of images [N, 1, 28, 28] as a host matrix (sample-major).
std::vector<double> features(Classifier& net, const Tn& x, const at::Device& device);

/// The metrics of one run's samples, clamped to the data range [−1, 1] first (docs/evaluation.md, "Metrics");
/// FD against `ref`, its standard error from `boot`'s replicates (the same draws for every run).
Row score(const Run& r, const Part& p, const TaskData& td, const EvalOptions& o, Classifier& cls,
          const GaussianStats& ref, const FdBootstrap& boot, const at::Device& device);

/// The cost comparison of one task (docs/evaluation.md, "Cost").
struct Cost {
  std::string task;
  double pivot_full_s = NAN, pivot_s = NAN, network_s = NAN;
  double eps_b1 = NAN, prior_b1 = NAN, eps_batch = NAN, prior_batch = NAN, dps_b1 = NAN;
  std::int64_t batch = 0;
};
Cost measure_cost(const TaskData& td, Context& c, const std::string& eps_model, const std::string& prior_model,
                  bool dps);

/// The Fréchet distances that frame a task's FD column: other images of the split (as many as there are
/// samples) and the truths themselves, each repeated as often as it has samples.
struct Floors {
  double others = NAN, truths = NAN;
};

/// The reports: results.md (returned too), results.csv, results.json, the plots.
std::string write_reports(const fs::path& out, const std::vector<Row>& rows, const std::vector<Cost>& costs,
                          const EvalOptions& o, const std::map<std::string, Floors>& floors, const json& config);
void write_plots(const fs::path& dir, const std::vector<Row>& rows, const std::vector<std::string>& tasks);

/// What eval and tune share: the models, the knob settings, the images of the split, the runs of a task.
struct Session {
  const EvalOptions& o;
  at::Device device;
  std::string prior, eps, palette, classifier;
  std::set<std::string> fam;  ///< the selected methods and EPS families
  Models models;
  std::unique_ptr<Settings> settings;
  ImageData data;

  Session(const EvalOptions& opts, bool need_classifier);
  /// The task's operators, measurements, observation images and A†y (seeded by the task, the split and the
  /// first image: a task gets the same draws whatever else the run holds).
  TaskData task_data(Task task) const;
  /// The runs of a task, in the registry's order.
  std::vector<Run> runs(Task task) const;
};

/// The options eval and tune share (models, data, budgets, settings).
void add_common_options(CLI::App* c, EvalOptions& o);

/// The images of a split on `device` (the test set, or validation images 1000 … 1999: held out from training
/// and from the training's own validation loss, which reads the first 512).
ImageData split_images(const EvalOptions& o, const at::Device& device);
const char* to_string(Split s);

}  // namespace eps::cli::eval
