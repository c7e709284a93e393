// SPDX-License-Identifier: MIT
// Pivot-solve benchmarks, LibTorch backend (float64 and float32 on the CPU, one intra-op thread as for
// the Eigen rows; and on cuda:0 when present): the operators and sizes of bench_pivot.cpp, next to a plain
// copy of the same buffers (x_t and y copied into a preallocated tensor) measured in the same run; and the
// EPS network input at the evaluation's size (one 1 × 28 × 28 image, float32) per task operator, through
// eps::eps_input (the whole pivot per call) and through eps::EpsInputPlan (the per-run part computed once).
// Results: docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include <ATen/Parallel.h>

#include "eps/backends/torch.hpp"
#include "bench_common.hpp"
#include "eps/eps.hpp"
#include "eps/network_input.hpp"
#include "eps/tasks.hpp"

namespace {

using T = at::Tensor;

using eps::bench::kLevels;
using eps::bench::kSizes;
using eps::bench::Size;

/// Waits for the device (a one-element read: a no-op cost on the CPU, a synchronisation on CUDA).
void sync(const T& x) { benchmark::DoNotOptimize(x.reshape({-1})[0].item<double>()); }

template <class Op>
void run_pivot(benchmark::State& state, const Op& A, const Size& s, const T& like) {
  eps::libtorch::Generator gen(1);
  const T x = eps::randn(like, s.batch, A.in_shape(), gen);
  const T y = eps::randn(like, s.batch, A.out_shape(), gen);
  eps::PivotOptions opt;
  opt.check_finite = false;
  for (auto _ : state) {
    auto pv = eps::pivot(A, x, y, kLevels, opt);
    sync(pv.x_tilde());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * double(3 * x.numel() * x.element_size())));
  state.counters["d"] = double(x.numel());
}

void BM_copy(benchmark::State& state, Size s, T like) {
  eps::libtorch::Generator gen(1);
  const T x = eps::randn(like, s.batch, s.img.shape(), gen), y = eps::randn(like, s.batch, s.img.shape(), gen);
  T out = at::empty_like(x);
  for (auto _ : state) {
    out.copy_(x);
    out.copy_(y);
    sync(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * double(4 * x.numel() * x.element_size())));
  state.counters["d"] = double(x.numel());
}
void BM_mask(benchmark::State& state, Size s, T like) {
  std::mt19937_64 gen(2);
  run_pivot(state, eps::Mask<T>(like, eps::random_mask(s.img, 0.7, gen), s.img.shape()), s, like);
}
void BM_avgpool4(benchmark::State& state, Size s, T like) {
  run_pivot(state, eps::AvgPool<T>(like, s.img, 4), s, like);
}
void BM_blur11(benchmark::State& state, Size s, T like) {
  run_pivot(state, eps::Blur<T>(like, s.img, eps::gaussian_kernel(11, 0.75 * s.img.height / 64.0 + 0.5)), s, like);
}

/// One call of the EPS input at batch 1 for the evaluation operator of `task`: `plan` selects the cached path.
void BM_eps_input(benchmark::State& state, eps::Task task, bool plan) {
  const T like = eps::libtorch::like(at::kFloat);
  const eps::ImageShape img{1, 28, 28};
  eps::TaskSampler<T> tasks(img, {task}, 1);
  const eps::TaskOperator<T> op = tasks.evaluation(task, like, 1);
  eps::libtorch::Generator gen(1);
  const T x = eps::randn(like, 1, img.shape(), gen);
  const eps::NoiseLevels lv{1.0, 0.8, 0.05};
  std::visit(
      [&](const auto& A) {
        const T y = A.apply(eps::randn(like, 1, img.shape(), gen));
        eps::PivotOptions po;
        po.check_range = false;  // as a sampler runs it (y checked once per run)
        const eps::EpsInputPlan<std::decay_t<decltype(A)>> p(A, y);
        for (auto _ : state) {
          const auto in = plan ? p(x, lv) : eps::eps_input(A, x, y, lv, po);
          sync(in.image);
        }
      },
      op);
}

const bool registered = [] {
  eps::bench::set_allocator();
  at::set_num_threads(1);
  std::vector<std::pair<std::string, T>> likes{{"torch-cpu-f64", eps::libtorch::like(at::kDouble)},
                                               {"torch-cpu-f32", eps::libtorch::like(at::kFloat)}};
  if (at::hasCUDA()) {
    likes.emplace_back("torch-cuda-f64", eps::libtorch::like(at::kDouble, at::Device(at::kCUDA, 0)));
    likes.emplace_back("torch-cuda-f32", eps::libtorch::like(at::kFloat, at::Device(at::kCUDA, 0)));
  }
  for (const auto& [name, like] : likes)
    for (const Size& s : kSizes) {
      const std::string tag = "/d=" + std::to_string(s.numel());
      benchmark::RegisterBenchmark((name + "/copy" + tag).c_str(), BM_copy, s, like)->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark((name + "/pivot_mask" + tag).c_str(), BM_mask, s, like)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark((name + "/pivot_avgpool4" + tag).c_str(), BM_avgpool4, s, like)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark((name + "/pivot_blur11" + tag).c_str(), BM_blur11, s, like)
          ->Unit(benchmark::kMicrosecond);
    }
  for (eps::Task t : eps::all_tasks)
    for (bool plan : {false, true})
      benchmark::RegisterBenchmark(
          (std::string("torch-cpu-f32/eps_input_") + (plan ? "plan_" : "") + eps::to_string(t) + "/d=784").c_str(),
          BM_eps_input, t, plan)
          ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
