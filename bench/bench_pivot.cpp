// SPDX-License-Identifier: MIT
// Pivot-solve benchmarks (Eigen and xtensor backends, float64): mask, 4×4 average pooling, 11×11 Gaussian blur and a
// dense operator on batched images from ~1e3 to ~1e6 values, next to a plain copy of the same buffers in
// the same run (bytes/s: read x_t and y, write x̃); and the scaling of the three solve paths (spectral,
// conjugate gradients, dense Cholesky of the precision matrix). Results: docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <Eigen/Dense>
#include <random>

#include "eps/backends/eigen.hpp"
#include "eps/backends/xtensor.hpp"
#include "bench_common.hpp"
#include "eps/eps.hpp"

namespace {

using T = eps::eigen::Tensor<double>;

using eps::bench::kLevels;
using eps::bench::kSizes;
using eps::bench::Size;

template <class Op>
void run_pivot(benchmark::State& state, const Op& A, const Size& s) {
  using TT = typename Op::tensor_type;
  std::mt19937_64 gen(1);
  const TT x = eps::randn(TT{}, s.batch, A.in_shape(), gen);
  const TT y = eps::randn(TT{}, s.batch, A.out_shape(), gen);
  eps::PivotOptions opt;
  opt.check_finite = false;
  for (auto _ : state) {
    auto pv = eps::pivot(A, x, y, kLevels, opt);
    benchmark::DoNotOptimize(pv.x_tilde().data());
  }
  const double bytes = double(x.size() + y.size() + x.size()) * sizeof(double);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["d"] = double(x.size());
}

/// Copies x and y (the pivot's inputs) into a preallocated buffer: the memory-bandwidth reference.
template <class TT>
void BM_copy(benchmark::State& state, Size s) {
  std::mt19937_64 gen(1);
  const TT x = eps::randn(TT{}, s.batch, s.img.shape(), gen), y = eps::randn(TT{}, s.batch, s.img.shape(), gen);
  TT out = x;
  for (auto _ : state) {
    std::copy(x.data(), x.data() + x.size(), out.data());
    benchmark::DoNotOptimize(out.data());
    std::copy(y.data(), y.data() + y.size(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 4.0 * double(x.size()) * sizeof(double)));
  state.counters["d"] = double(x.size());
}

template <class TT>
void BM_mask(benchmark::State& state, Size s) {
  std::mt19937_64 gen(2);
  run_pivot(state, eps::Mask<TT>(TT{}, eps::random_mask(s.img, 0.7, gen), s.img.shape()), s);
}
template <class TT>
void BM_avgpool4(benchmark::State& state, Size s) {
  run_pivot(state, eps::AvgPool<TT>(TT{}, s.img, 4), s);
}
template <class TT>
void BM_blur11(benchmark::State& state, Size s) {
  run_pivot(state, eps::Blur<TT>(TT{}, s.img, eps::gaussian_kernel(11, 0.75 * s.img.height / 64.0 + 0.5)), s);
}
void BM_dense(benchmark::State& state, Size s) {
  std::mt19937_64 gen(3);
  const eps::index_t d = s.img.numel(), m = d / 4;
  std::vector<double> a(static_cast<std::size_t>(m * d));
  std::normal_distribution<double> n;
  for (auto& v : a) v = n(gen) / std::sqrt(double(d));
  run_pivot(state, eps::Dense<T>(T{}, a, m, s.img.shape()), s);
}

// Solve-path scaling at one sample: spectral, conjugate gradients (matrix-free view), dense Cholesky.
void BM_path_spectral(benchmark::State& state, eps::ImageShape img) {
  run_pivot(state, eps::Blur<T>(T{}, img, eps::gaussian_kernel(5, 1.0)), Size{1, img});
}
void BM_path_cg(benchmark::State& state, eps::ImageShape img) {
  run_pivot(state, eps::matrix_free(eps::Blur<T>(T{}, img, eps::gaussian_kernel(5, 1.0))), Size{1, img});
}
void BM_path_dense(benchmark::State& state, eps::ImageShape img) {
  const eps::Blur<T> A(T{}, img, eps::gaussian_kernel(5, 1.0));
  const eps::index_t d = img.numel();
  const Eigen::MatrixXd a = A.apply(Eigen::MatrixXd::Identity(d, d));
  std::mt19937_64 gen(1);
  const Eigen::VectorXd x = eps::randn(T{}, 1, img.shape(), gen), y = eps::randn(T{}, 1, img.shape(), gen);
  const double al = 0.7, sg = 0.7, sy = 0.05;
  for (auto _ : state) {
    const Eigen::MatrixXd P = (al * al / (sg * sg)) * Eigen::MatrixXd::Identity(d, d) + a.transpose() * a / (sy * sy);
    const Eigen::VectorXd z = P.llt().solve((al / (sg * sg)) * x + a.transpose() * y / (sy * sy));
    benchmark::DoNotOptimize(z.data());
  }
  state.counters["d"] = double(d);
}

const bool registered = [] {
  eps::bench::set_allocator();
  for (const Size& s : kSizes) {
    const std::string tag = "/d=" + std::to_string(s.numel());
    using X = eps::xtensor::Tensor<double>;
    benchmark::RegisterBenchmark(("copy" + tag).c_str(), BM_copy<T>, s)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("pivot_mask" + tag).c_str(), BM_mask<T>, s)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("pivot_avgpool4" + tag).c_str(), BM_avgpool4<T>, s)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("pivot_blur11" + tag).c_str(), BM_blur11<T>, s)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("xtensor/copy" + tag).c_str(), BM_copy<X>, s)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("xtensor/pivot_mask" + tag).c_str(), BM_mask<X>, s)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("xtensor/pivot_avgpool4" + tag).c_str(), BM_avgpool4<X>, s)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("xtensor/pivot_blur11" + tag).c_str(), BM_blur11<X>, s)
        ->Unit(benchmark::kMicrosecond);
    if (s.img.numel() <= 3 * 64 * 64)
      benchmark::RegisterBenchmark(("pivot_dense_m=d/4" + tag).c_str(), BM_dense, s)->Unit(benchmark::kMicrosecond);
  }
  for (eps::index_t h : {8, 16, 32, 64}) {
    const eps::ImageShape img{1, h, h};
    const std::string tag = "/d=" + std::to_string(img.numel());
    benchmark::RegisterBenchmark(("path_spectral" + tag).c_str(), BM_path_spectral, img)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("path_cg" + tag).c_str(), BM_path_cg, img)->Unit(benchmark::kMicrosecond);
    if (h <= 32)
      benchmark::RegisterBenchmark(("path_dense_cholesky" + tag).c_str(), BM_path_dense, img)
          ->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
