// SPDX-License-Identifier: MIT
// eps (Python): the EPS training objective for a user's torch.nn.Module — EDM's preconditioning and loss on any
// schedule, noise levels, the task sampler — and models from files (eps.model or TorchScript with a contract).
#include <pybind11/stl.h>

#include <optional>

#include "bindings.hpp"
#include "eps/training/edm.hpp"
#include "eps/networks/model.hpp"
#include "eps/tasks.hpp"

namespace eps::python {
namespace {

/// A Python callable F(input, c_noise) → output: the raw network of the preconditioning.
std::function<T(const T&, const T&)> raw(const py::function& f) {
  return [p = &f](const T& x, const T& c) { return (*p)(x, c).cast<T>(); };
}

}  // namespace

void bind_training(py::module_& m) {
  using namespace py::literals;
  py::class_<libtorch::Generator>(m, "Generator", "eps's generator (one stream per device), for levels and operators")
      .def(py::init<std::uint64_t>(), "seed"_a = 0);

  py::class_<networks::EdmPreconditioning>(
      m, "EdmPreconditioning",
      "EDM's preconditioning on any schedule (docs/training.md §1): D(x) = c_skip x + c_out F(c_in x, c_noise) at "
      "the level (alpha, sigma) of each sample; the loss ||F − (x0 − c_skip x)/c_out||² = λ||D − x0||²")
      .def(py::init<double>(), "sigma_data"_a = 0.5)
      .def(
          "coefficients",
          [](const networks::EdmPreconditioning& p, const T& alpha, const T& sigma) {
            const auto c = p.coefficients(alpha, sigma);
            return py::make_tuple(c.c_skip, c.c_out, c.c_in, c.c_noise);
          },
          "alpha"_a, "sigma"_a, "(c_skip, c_out, c_in, c_noise) per sample")
      .def(
          "denoise",
          [](const networks::EdmPreconditioning& p, const py::function& F, const T& x, const T& alpha, const T& sigma) {
            return p.denoise(raw(F), x, alpha, sigma);
          },
          "raw"_a, "x"_a, "alpha"_a, "sigma"_a, "x0 = c_skip x + c_out raw(c_in x, c_noise)")
      .def(
          "loss",
          [](const networks::EdmPreconditioning& p, const py::function& F, const T& x, const T& x0, const T& alpha,
             const T& sigma) { return p.loss_at(raw(F), x, x0, alpha, sigma); },
          "raw"_a, "x"_a, "x0"_a, "alpha"_a, "sigma"_a,
          "the per-sample loss for the network input x at (alpha, sigma): x_t, or the EPS pivot x̃ (differentiable "
          "through raw)");

  py::class_<networks::TrainingLevels>(m, "TrainingLevels", "per-sample t, alpha, sigma (float64 [B])")
      .def_readonly("t", &networks::TrainingLevels::t)
      .def_readonly("alpha", &networks::TrainingLevels::alpha)
      .def_readonly("sigma", &networks::TrainingLevels::sigma)
      .def_readonly("alpha_dot", &networks::TrainingLevels::alpha_dot)
      .def_readonly("sigma_dot", &networks::TrainingLevels::sigma_dot);
  m.def(
      "noise_levels",
      [](std::int64_t n, libtorch::Generator& gen, const std::string& schedule, double uniform_weight,
         const std::string& device) {
        const at::Tensor ratio = training::MixedNoise{{}, uniform_weight}.sample(n, gen, at::Device(device));
        return networks::training_levels(make_schedule(schedule), ratio);
      },
      "n"_a, "generator"_a, "schedule"_a = "ve_edm", "uniform_weight"_a = 0.0, "device"_a = "cpu",
      "training levels: EDM's log-normal σ/α with a share of log-uniform draws over [0.002, 80] (docs/training.md §2), "
      "mapped onto the schedule");

  py::class_<TaskSampler<T>>(m, "TaskSampler",
                             "the tasks of docs/training.md §5: an operator drawn per minibatch, or the evaluation's")
      .def(py::init(
               [](const std::vector<std::int64_t>& shape, const std::vector<std::string>& tasks, std::uint64_t seed) {
                 EPS_CHECK(shape.size() == 3, shape_error, "eps.TaskSampler: shape is (C, H, W)");
                 std::vector<Task> ts;
                 for (const auto& t : tasks) {
                   if (t == "all")
                     ts.insert(ts.end(), all_tasks.begin(), all_tasks.end());
                   else
                     ts.push_back(task_from_string(t));
                 }
                 return TaskSampler<T>(ImageShape{shape[0], shape[1], shape[2]}, ts, seed);
               }),
           "shape"_a, "tasks"_a = std::vector<std::string>{"all"}, "seed"_a = 0)
      .def(
          "draw",
          [](TaskSampler<T>& s, const T& like, std::int64_t batch) {
            auto [task, op] = s.draw(like, batch);
            return py::make_tuple(std::string(to_string(task)), from_task(op));
          },
          "like"_a, "batch"_a, "(task name, operator) for a minibatch (one mask or kernel per sample)")
      .def(
          "evaluation",
          [](TaskSampler<T>& s, const std::string& task, const T& like, std::int64_t batch) {
            return from_task(s.evaluation(task_from_string(task), like, batch));
          },
          "task"_a, "like"_a, "batch"_a, "the evaluation operator of a task");

  py::class_<networks::Model>(m, "Model",
                              "a trained denoiser from a file: an eps.model, or a TorchScript module with a contract "
                              "(docs/own-model.md)")
      .def_static(
          "load",
          [](const std::string& path, const std::string& device) {
            return networks::Model::load(path, at::Device(device));
          },
          "path"_a, "device"_a = "cpu")
      .def(
          "x0",
          [](const networks::Model& mdl, const T& x_bar, double ratio, const std::optional<T>& observation) {
            return mdl.x0(x_bar, ratio, observation.value_or(T()));
          },
          "x_bar"_a, "ratio"_a, "observation"_a = py::none(),
          "x̂0 in eps's data space [-1, 1] for x̄ = x/α at noise ratio σ/α")
      .def(
          "denoise",
          [](const networks::Model& mdl, const T& x, double t, const std::string& schedule) {
            return mdl.denoise(make_schedule(schedule), x, t);
          },
          "x"_a, "t"_a, "schedule"_a = "ve_edm",
          "x̂0 at time t of the named schedule (any: the model is matched by σ/α)")
      .def_property_readonly("hash", &networks::Model::hash)
      .def_property_readonly("objective", &networks::Model::objective_name)
      .def_property_readonly("sigma_data", &networks::Model::sigma_data)
      .def_property_readonly("schedule", [](const networks::Model& mdl) { return mdl.schedule().name(); })
      .def_property_readonly("shape", [](const networks::Model& mdl) {
        const auto& c = mdl.contract();
        return std::vector<std::int64_t>{c.channels, c.height, c.width};
      });
}

}  // namespace eps::python
