// A consumer of the installed eps::training (find_package(eps COMPONENTS torch)): a checkpoint written with
// write_checkpoint is read back by read_checkpoint bit for bit, a run of another configuration is refused
// with value_error, and one EMA update equals β θ̄ + (1 − β) θ — so that the packaging test fails if the
// training component's headers, library or link flags are missing.
#include <torch/nn/modules/linear.h>

#include <unistd.h>

#include <cstdio>
#include <eps/training/checkpoint.hpp>
#include <eps/training/edm.hpp>
#include <eps/version.hpp>
#include <filesystem>
#include <iostream>

int main() {
  namespace fs = std::filesystem;
  const fs::path path = fs::temp_directory_path() / ("eps_consumer_training_" + std::to_string(::getpid()) + ".pt");
  const nlohmann::json config = {{"lr", 0.001}, {"batch", 64}};
  const at::Tensor state = at::arange(12, at::kDouble).view({3, 4}) / 7.0;
  eps::training::write_checkpoint(path, {"consumer.checkpoint", 1, config}, "data-1",
                                  [&](torch::serialize::OutputArchive& ar) { ar.write("state", state); });
  at::Tensor back;
  eps::training::read_checkpoint(path, at::kCPU, "consumer.checkpoint", "consumer checkpoint", 1, config, "data-1",
                                 [&](torch::serialize::InputArchive& ar) { ar.read("state", back); });
  bool ok = back.defined() && at::equal(back, state);
  try {
    eps::training::read_checkpoint(path, at::kCPU, "consumer.checkpoint", "consumer checkpoint", 1,
                                   {{"lr", 0.002}, {"batch", 64}}, "data-1", [](torch::serialize::InputArchive&) {});
    ok = false;
  } catch (const eps::value_error&) {
  }
  fs::remove(path);
  torch::nn::Linear net(3, 2);
  eps::training::Ema ema(*net);
  const at::Tensor w0 = net->weight.detach().clone();
  {
    at::NoGradGuard ng;
    net->weight.add_(1.0);
  }
  ema.update(*net, 0.75);
  const at::Tensor avg = ema.named_tensors()[0].second;
  ok = ok && at::allclose(avg, 0.75 * w0 + 0.25 * (w0 + 1.0), 1e-6, 1e-6);
  std::cout << "eps " << EPS_VERSION_STRING << " training consumer: " << (ok ? "ok" : "FAILED") << "\n";
  return ok ? 0 : 1;
}
