// SPDX-License-Identifier: MIT
// Pivot-solve benchmarks, LibTorch backend (float64 and float32 on the CPU, one intra-op thread as for
// the Eigen rows; and on cuda:0 when present): the operators and sizes of bench_pivot.cpp, next to a plain
// copy of the same buffers (x_t and y copied into a preallocated tensor) measured in the same run.
// Results: docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include <ATen/Parallel.h>

#include "eps/backends/torch.hpp"
#include "bench_common.hpp"
#include "eps/eps.hpp"

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
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
