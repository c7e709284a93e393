// SPDX-License-Identifier: MIT
// The shipped U-Net under this LibTorch (docs/benchmarks.md, "LibTorch 1.13 against 2.6"): one network
// evaluation (no gradient, float32) at batch 1 and 64, and one training step (forward, backward, Adam) at batch
// 64 in float32 and under bfloat16 autocast (the training recipe, docs/training.md §9), on 1 and 2 threads. The
// network is models/eps_multitask/model.pt's (EPS_BENCH_MODEL overrides), inputs are fixed.
#include <benchmark/benchmark.h>

#include <ATen/Parallel.h>
#include <torch/optim/adam.h>

#include <cstdlib>
#include <string>

#include "bench_common.hpp"
#include "eps/networks/model_file.hpp"
#include "eps/networks/torch_compat.hpp"

namespace {

eps::networks::ModelFile load() {
  const char* p = std::getenv("EPS_BENCH_MODEL");
  return eps::networks::read_model(p ? p : EPS_SOURCE_DIR "/models/eps_multitask/model.pt", at::kCPU);
}

at::Tensor inputs(std::int64_t batch, std::int64_t channels) {
  return at::sin(0.37 * at::arange(batch * channels * 28 * 28, at::kFloat)).reshape({batch, channels, 28, 28});
}

void BM_forward(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  at::set_num_threads(static_cast<int>(state.range(1)));
  auto m = load();
  m.net->eval();
  const at::Tensor x = inputs(batch, m.net->config().in_channels), c = at::full({batch}, 0.1f);
  at::NoGradGuard ng;
  for (auto _ : state) benchmark::DoNotOptimize(m.net->forward(x, c).sum().item<float>());
  state.counters["images/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_train_step(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  const bool bf16 = state.range(2) != 0;
  at::set_num_threads(static_cast<int>(state.range(1)));
  auto m = load();
  m.net->train();
  torch::optim::Adam opt(m.net->parameters(), torch::optim::AdamOptions(1e-4));
  const at::Tensor x = inputs(batch, m.net->config().in_channels), c = at::full({batch}, 0.1f);
  const at::Tensor target = inputs(batch, m.net->config().out_channels) * 0.5;
  for (auto _ : state) {
    opt.zero_grad();
    at::Tensor out;
    if (bf16) eps::networks::compat::set_autocast(at::kCPU, at::kBFloat16, true);
    out = m.net->forward(x, c);
    if (bf16) {
      eps::networks::compat::set_autocast(at::kCPU, at::kBFloat16, false);
      at::autocast::clear_cache();
    }
    const at::Tensor loss = (out.to(at::kFloat) - target).square().mean();
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(loss.item<float>());
  }
  state.counters["images/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(bf16 ? "bf16" : "fp32") + ", LibTorch " + eps::networks::compat::torch_version);
}

}  // namespace

BENCHMARK(BM_forward)
    ->ArgNames({"batch", "threads"})
    ->Args({1, 1})
    ->Args({64, 1})
    ->Args({64, 2})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_train_step)
    ->ArgNames({"batch", "threads", "bf16"})
    ->Args({64, 1, 0})
    ->Args({64, 1, 1})
    ->Args({64, 2, 1})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(5);

int main(int argc, char** argv) {
  eps::bench::set_allocator();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
