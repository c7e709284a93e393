// SPDX-License-Identifier: MIT
/// @file distributed.hpp
/// Data-parallel training over torch's own distributed engine, c10d (docs/training.md §6): a process group
/// (Gloo on the CPU; NCCL where LibTorch is a CUDA build and EPS_WITH_NCCL is defined) from the rendezvous
/// variables that torchrun and Slurm scripts set, and the gradient averaging that replaces PyTorch's
/// DistributedDataParallel (LibTorch has no C++ one): one all-reduce of all gradients, flattened into one
/// bucket, after backward. With one process everything is a no-op and no socket is opened.
///
/// Needs the c10d headers of libtorch-dev and Gloo's (libgloo-dev); `EPS_HAVE_GLOO` says whether they
/// were found. Without them only a world of one process can be created.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "eps/error.hpp"
#include "eps/networks/torch_compat.hpp"

#if __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>) && __has_include(<gloo/rendezvous/store.h>)
#define EPS_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(EPS_WITH_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#else
#define EPS_HAVE_GLOO 0
#endif

namespace eps::training {

/// Who this process is in a data-parallel job, and where the rendezvous is.
struct DistributedEnv {
  int rank = 0, world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int local_rank = 0;  ///< the GPU this process uses on its node (LOCAL_RANK, SLURM_LOCALID)

  /// From torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), else Slurm's
  /// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; MASTER_ADDR and MASTER_PORT set by the batch script);
  /// none of them: one process. value_error naming the variable when one is malformed or inconsistent.
  static DistributedEnv from_environment() {
    DistributedEnv e;
    const auto integer = [](const char* name, int lo, int hi, int fallback) {
      const char* v = std::getenv(name);
      if (!v || !*v) return fallback;
      char* end = nullptr;
      const long x = std::strtol(v, &end, 10);
      EPS_CHECK(*end == '\0' && x >= lo && x <= hi, value_error, "environment variable ", name, "='", v,
                "': expected an integer in [", lo, ", ", hi, "]");
      return static_cast<int>(x);
    };
    const bool torchrun = std::getenv("WORLD_SIZE") != nullptr;
    e.world_size = integer(torchrun ? "WORLD_SIZE" : "SLURM_NTASKS", 1, 1 << 20, 1);
    e.rank = integer(torchrun ? "RANK" : "SLURM_PROCID", 0, (1 << 20) - 1, 0);
    e.local_rank = integer(torchrun ? "LOCAL_RANK" : "SLURM_LOCALID", 0, 1 << 16, 0);
    EPS_CHECK(e.rank < e.world_size, value_error, "distributed environment: rank ", e.rank,
              " is not below the world size ", e.world_size,
              torchrun ? " (RANK, WORLD_SIZE)" : " (SLURM_PROCID, SLURM_NTASKS)");
    if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
    e.master_port = integer("MASTER_PORT", 1, 65535, 29500);
    return e;
  }
};

/// A data-parallel group: this process's rank, the world size, gradient averaging and broadcasts. Every
/// collective waits at most `timeout`; a peer that died or does not answer is an eps::distributed_error that
/// says so (never a hang beyond the timeout).
class DataParallel {
 public:
  /// Joins the group described by `env` (rank 0 serves the TCP store); "gloo" or "nccl" (CUDA builds with
  /// EPS_WITH_NCCL only). A world of one creates nothing.
  explicit DataParallel(const DistributedEnv& env, const std::string& backend = "gloo",
                        std::chrono::milliseconds timeout = std::chrono::seconds(120))
      : env_(env), timeout_(timeout) {
    EPS_CHECK(backend == "gloo" || backend == "nccl", value_error,
              "eps::training::DataParallel: backend must be gloo or nccl, got '", backend, "'");
    if (env.world_size == 1) return;
#if EPS_HAVE_GLOO
    try {
      c10d::TCPStoreOptions so;
      so.port = static_cast<std::uint16_t>(env.master_port);
      so.isServer = env.rank == 0;
      so.numWorkers = static_cast<std::size_t>(env.world_size);
      so.timeout = timeout;
      networks::compat::use_classic_tcp_store(so);
      store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      if (backend == "gloo") {
        auto o = c10d::ProcessGroupGloo::Options::create(timeout);
        // One node (the rendezvous on the loopback): the loopback; several: this host's own address.
        const bool loopback = env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
        o->devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                      : c10d::ProcessGroupGloo::createDefaultDevice());
        group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, env.rank, env.world_size, o);
      } else {
#if defined(EPS_WITH_NCCL)
        auto o = c10d::ProcessGroupNCCL::Options::create();
        o->timeout = timeout;
        group_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, env.rank, env.world_size, o);
#else
        eps::detail::raise<value_error>(
            "eps::training::DataParallel: this build has no NCCL (a CUDA build of LibTorch ",
            "with EPS_WITH_NCCL); use gloo");
#endif
      }
    } catch (const c10::Error& e) {
      eps::detail::raise<distributed_error>("data-parallel rendezvous at ", env.master_addr, ":", env.master_port,
                                            " failed for rank ", env.rank, " of ", env.world_size, " within ",
                                            timeout.count(), " ms: ", e.what_without_backtrace());
    }
#else
    eps::detail::raise<value_error>("eps::training::DataParallel: ", env.world_size,
                                    " processes need c10d with Gloo (libtorch-dev and libgloo-dev); this build has "
                                    "neither header");
#endif
  }

  /// Whether this build can use NCCL (EPS_WITH_NCCL, a CUDA build of LibTorch).
#if EPS_HAVE_GLOO && defined(EPS_WITH_NCCL)
  static constexpr bool has_nccl = true;
#else
  static constexpr bool has_nccl = false;
#endif

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  bool is_root() const { return env_.rank == 0; }

  /// Replaces every tensor of `ts` by the mean over the processes of its values (all-reduce of one
  /// flattened bucket, then division by the world size). `ts` are gradients or scalars of one dtype and
  /// device; undefined tensors are skipped.
  void average(const std::vector<at::Tensor>& ts) const {
    if (env_.world_size == 1) return;
    at::Tensor bucket = flatten(ts);
    if (!bucket.defined()) return;
    all_reduce_sum(bucket, "gradient all-reduce");
    bucket.div_(env_.world_size);
    unflatten(bucket, ts);
  }

  /// Averages the gradients of `params` (after backward; parameters without a gradient are skipped).
  void average_gradients(const std::vector<at::Tensor>& params) const {
    std::vector<at::Tensor> g;
    for (const at::Tensor& p : params) g.push_back(p.grad());
    average(g);
  }

  /// Copies rank 0's values of `ts` into every process's (the initial weights).
  void broadcast(const std::vector<at::Tensor>& ts) const {
    if (env_.world_size == 1) return;
#if EPS_HAVE_GLOO
    std::vector<at::Tensor> bucket{flatten(ts)};
    if (!bucket[0].defined()) return;
    run("broadcast", [&] { return group_->broadcast(bucket); });
    unflatten(bucket[0], ts);
#endif
  }

  /// Waits for every process.
  void barrier() const {
    if (env_.world_size == 1) return;
    at::Tensor one = at::ones({1});
    all_reduce_sum(one, "barrier");
  }

 private:
  /// The defined tensors of `ts`, flattened and concatenated into one bucket (undefined if there is none).
  static at::Tensor flatten(const std::vector<at::Tensor>& ts) {
    std::vector<at::Tensor> flat;
    for (const at::Tensor& t : ts)
      if (t.defined()) flat.push_back(t.detach().reshape({-1}));
    return flat.empty() ? at::Tensor() : at::cat(flat);
  }
  /// Copies a bucket made by flatten back into the defined tensors of `ts`, in order.
  static void unflatten(const at::Tensor& bucket, const std::vector<at::Tensor>& ts) {
    std::int64_t pos = 0;
    at::NoGradGuard ng;
    for (const at::Tensor& t : ts) {
      if (!t.defined()) continue;
      at::Tensor dst = t;
      dst.copy_(bucket.slice(0, pos, pos + t.numel()).view(t.sizes()));
      pos += t.numel();
    }
  }
  void all_reduce_sum(at::Tensor& t, const char* what) const {
#if EPS_HAVE_GLOO
    std::vector<at::Tensor> v{t};
    run(what, [&] { return group_->allreduce(v); });
    t = v[0];
#else
    (void)t;
    (void)what;
#endif
  }
#if EPS_HAVE_GLOO
  template <class F>
  void run(const char* what, F&& start) const {
    try {
      auto work = start();
      work->wait(timeout_);
    } catch (const std::exception& e) {
      eps::detail::raise<distributed_error>("data-parallel ", what, " failed on rank ", env_.rank, " of ",
                                            env_.world_size, " (a peer process died, or did not answer within ",
                                            timeout_.count(), " ms): ", e.what());
    }
  }
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<networks::compat::CollectiveBackend> group_;
#endif
  DistributedEnv env_;
  std::chrono::milliseconds timeout_;
};

}  // namespace eps::training
