// SPDX-License-Identifier: MIT
/// @file tasks.hpp
/// The five image tasks of docs/math.md §9 (random and box inpainting, super-resolution by average
/// pooling, Gaussian and motion deblurring) at any image size, and `TaskSampler`, which draws a task and an
/// operator for every training minibatch (docs/training.md §5). Masks and kernels are drawn on the host
/// (`eps/operators/generators.hpp`) from the sampler's own generator, whose state can be saved and
/// restored, so that a resumed training run draws the same operators as an uninterrupted one.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "eps/error.hpp"
#include "eps/operators/fourier.hpp"
#include "eps/operators/generators.hpp"
#include "eps/operators/grouped.hpp"
#include "eps/operators/mask.hpp"
#include "eps/shape.hpp"

namespace eps {

enum class Task { random_inpainting, box_inpainting, super_resolution, gaussian_deblur, motion_deblur };

inline constexpr std::array<Task, 5> all_tasks{Task::random_inpainting, Task::box_inpainting, Task::super_resolution,
                                               Task::gaussian_deblur, Task::motion_deblur};

inline const char* to_string(Task t) {
  switch (t) {
    case Task::random_inpainting:
      return "random_inpainting";
    case Task::box_inpainting:
      return "box_inpainting";
    case Task::super_resolution:
      return "super_resolution";
    case Task::gaussian_deblur:
      return "gaussian_deblur";
    case Task::motion_deblur:
      return "motion_deblur";
  }
  return "?";
}

/// The task of a name (`to_string`'s); value_error listing the names otherwise.
inline Task task_from_string(std::string_view s) {
  for (Task t : all_tasks)
    if (s == to_string(t)) return t;
  detail::raise<value_error>("unknown task '", s,
                             "' (expected random_inpainting, box_inpainting, super_resolution, gaussian_deblur or "
                             "motion_deblur)");
}

/// The parameters of the task family (docs/training.md §5 gives the 28 × 28 choices and why).
struct TaskSettings {
  double missing_min = 0.5, missing_max = 0.7;        ///< random inpainting, training: missing fraction ~ U(min, max)
  double missing_eval = 0.7;                          ///< random inpainting, evaluation
  index_t pool = 4;                                   ///< super-resolution: k × k average pooling
  index_t gaussian_size = 7;                          ///< Gaussian deblur: size × size kernel ...
  double gaussian_sigma = 1.0;                        ///< ... of this standard deviation (pixels)
  std::vector<double> motion_lengths{3, 4, 5, 6, 7};  ///< motion deblur: length drawn from these (pixels) ...
  index_t motion_size = 7;                            ///< ... in a kernel of this size; angle ~ U[0°, 180°)
  double motion_eval_length = 5;                      ///< evaluation length; angle still random per image
  /// box inpainting, evaluation: a box per image drawn as in training (`eps image eval --box drawn`), not the
  /// centred one
  bool box_eval_drawn = false;

  void validate(const ImageShape& s) const {
    constexpr const char* where = "eps::TaskSettings";
    EPS_CHECK(
        0 <= missing_min && missing_min <= missing_max && missing_max <= 1 && 0 <= missing_eval && missing_eval <= 1,
        value_error, where, ": missing fractions must satisfy 0 <= min <= max <= 1, got ", missing_min, ", ",
        missing_max, " (evaluation ", missing_eval, ")");
    EPS_CHECK(pool >= 1 && s.height % pool == 0 && s.width % pool == 0, value_error, where, ": pooling factor ", pool,
              " must divide the image size ", s.height, "x", s.width);
    EPS_CHECK(gaussian_size >= 1 && gaussian_size <= std::min(s.height, s.width) && motion_size >= 1 &&
                  motion_size <= std::min(s.height, s.width),
              value_error, where, ": kernel sizes (", gaussian_size, ", ", motion_size, ") must lie in [1, ",
              std::min(s.height, s.width), "]");
    EPS_CHECK(!motion_lengths.empty(), value_error, where, ": at least one motion length is required");
    for (double l : motion_lengths)
      EPS_CHECK(l >= 1 && l <= double(motion_size), value_error, where, ": motion length ", l,
                " must lie in [1, motion_size = ", motion_size, "]");
  }
};

/// The operator of a task: a pixel mask (both inpaintings), average pooling or a circular blur.
template <FftTensor T>
using TaskOperator = std::variant<Mask<T>, AvgPool<T>, Blur<T>>;

/// Draws tasks and operators for training (per minibatch) and evaluation (per image).
/// Per sample of the batch: random inpainting draws a missing fraction and a mask, box inpainting a
/// rectangle, motion deblurring a length and an angle; super-resolution and Gaussian deblurring are one
/// fixed operator. The generator is the sampler's own (std::mt19937_64, seeded), independent of the
/// backend's, so a minibatch's operator does not depend on the device.
template <FftTensor T>
class TaskSampler {
 public:
  TaskSampler(ImageShape shape, std::vector<Task> tasks, std::uint64_t seed, TaskSettings settings = {})
      : shape_(shape), tasks_(std::move(tasks)), settings_(std::move(settings)), gen_(seed) {
    shape_.validate("eps::TaskSampler");
    settings_.validate(shape_);
    EPS_CHECK(!tasks_.empty(), value_error, "eps::TaskSampler: at least one task is required");
  }

  /// A task drawn uniformly from the sampler's tasks, and its operator for `batch` samples (training
  /// distribution). `like` gives the dtype and device.
  std::pair<Task, TaskOperator<T>> draw(const T& like, index_t batch) {
    EPS_CHECK(batch >= 1, value_error, "eps::TaskSampler::draw: batch must be >= 1, got ", batch);
    const Task t = tasks_.size() == 1 ? tasks_.front()
                                      : tasks_[std::uniform_int_distribution<std::size_t>(0, tasks_.size() - 1)(gen_)];
    return {t, make(t, like, batch, false)};
  }

  /// The evaluation operator of task `t` for `batch` images (docs/training.md §5): 70 % of pixels missing,
  /// the centred box of half the side (or, with `box_eval_drawn`, a box per image from the training
  /// distribution), the same pooling and Gaussian kernel, motion of the evaluation length at a random angle.
  /// Draws from this sampler's generator.
  TaskOperator<T> evaluation(Task t, const T& like, index_t batch) {
    EPS_CHECK(batch >= 1, value_error, "eps::TaskSampler::evaluation: batch must be >= 1, got ", batch);
    return make(t, like, batch, true);
  }

  const std::vector<Task>& tasks() const { return tasks_; }
  const TaskSettings& settings() const { return settings_; }
  const ImageShape& shape() const { return shape_; }

  /// The generator's state as text (std::mt19937_64's stream format), and its restoration.
  std::string state() const {
    std::ostringstream os;
    os << gen_;
    return os.str();
  }
  void set_state(const std::string& s) {
    std::istringstream is(s);
    std::mt19937_64 g;
    is >> g;
    EPS_CHECK(!is.fail(), value_error, "eps::TaskSampler::set_state: not a generator state");
    gen_ = g;
  }

 private:
  TaskOperator<T> make(Task t, const T& like, index_t batch, bool eval) {
    const TaskSettings& c = settings_;
    const Shape shape = shape_.shape();
    switch (t) {
      case Task::random_inpainting: {
        std::vector<double> m;
        std::uniform_real_distribution<double> u(c.missing_min, c.missing_max);
        for (index_t b = 0; b < batch; ++b) {
          const std::vector<double> one = random_mask(shape_, eval ? c.missing_eval : u(gen_), gen_);
          m.insert(m.end(), one.begin(), one.end());
        }
        return Mask<T>(like, m, shape);
      }
      case Task::box_inpainting: {
        if (eval && !c.box_eval_drawn) return Mask<T>(like, centered_box_mask(shape_), shape);
        std::vector<double> m;
        for (index_t b = 0; b < batch; ++b) {
          const std::vector<double> one = random_box_mask(shape_, gen_);
          m.insert(m.end(), one.begin(), one.end());
        }
        return Mask<T>(like, m, shape);
      }
      case Task::super_resolution:
        return AvgPool<T>(like, shape_, c.pool);
      case Task::gaussian_deblur:
        return Blur<T>(like, shape_, gaussian_kernel(c.gaussian_size, c.gaussian_sigma));
      case Task::motion_deblur: {
        std::vector<Kernel> ks;
        std::uniform_int_distribution<std::size_t> len(0, c.motion_lengths.size() - 1);
        std::uniform_real_distribution<double> angle(0.0, 180.0);
        for (index_t b = 0; b < batch; ++b) {
          const double l = eval ? c.motion_eval_length : c.motion_lengths[len(gen_)];
          ks.push_back(motion_kernel(l, angle(gen_), c.motion_size));
        }
        return Blur<T>(like, shape_, std::move(ks));
      }
    }
    detail::raise<value_error>("eps::TaskSampler: unknown task");
  }

  ImageShape shape_;
  std::vector<Task> tasks_;
  TaskSettings settings_;
  std::mt19937_64 gen_;
};

}  // namespace eps
