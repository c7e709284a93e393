// SPDX-License-Identifier: MIT
/// @file torch_compat.hpp
/// The seams between the LibTorch releases eps supports, Debian 12's 1.13 and Debian 13's 2.6 (docs/backends.md,
/// "LibTorch versions"): every difference the networks and the training code meet is named here once, so that no
/// other file tests a version.
///  - c10d: up to 1.13 the process groups (Gloo, NCCL) derive from c10d::ProcessGroup; since 2.0 they are
///    c10d::Backend objects, which a c10d::ProcessGroup dispatches to. eps talks to the backend directly.
///  - the TCP store of the rendezvous: 2.x asks for a libuv server by default, which Debian's 2.6 lacks.
///  - autocast: 2.x takes the device type as an argument (set_autocast_dtype/set_autocast_enabled) and
///    deprecates 1.13's per-device functions (set_autocast_cpu_dtype, set_cpu_enabled, ...).
///  - optimizer state: LibTorch's archive of an optimizer keys each parameter's state by its TensorImpl address as
///    a string, hexadecimal in 1.13 ("0x55…") and decimal in 2.x, which 2.x parses with std::stoull: every 1.13 key
///    reads as 0, and a 1.13 checkpoint's Adam moments land on the wrong parameters (a crash where sizes differ,
///    silently wrong where they agree). load_adam reads both by position instead.
///  - convolutions: Debian 13's LibTorch 2.6 computes some oneDNN convolutions wrongly on AVX-512 CPUs (measured
///    on an AMD EPYC: backward-data with fewer than 16 output channels, forward with 24 input channels; errors of
///    order one, sometimes NaN); check_convolutions finds out once per process and turns oneDNN off where it must.
/// Archives need no seam: both read file formats 1 to 10 (eps/networks/zip_check.hpp) and write the same layout.
/// Library eps::networks.
#pragma once

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <string>

namespace torch::optim {
class Adam;
}
namespace torch::serialize {
class InputArchive;
}

#define EPS_TORCH_AT_LEAST_2 (TORCH_VERSION_MAJOR >= 2)

#if EPS_TORCH_AT_LEAST_2 && __has_include(<torch/csrc/distributed/c10d/Backend.hpp>)
#include <torch/csrc/distributed/c10d/Backend.hpp>
#elif __has_include(<torch/csrc/distributed/c10d/ProcessGroup.hpp>)
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

namespace eps::networks::compat {

/// The LibTorch this was compiled against, "major.minor.patch".
inline constexpr const char* torch_version = TORCH_VERSION;

#if EPS_TORCH_AT_LEAST_2 && __has_include(<torch/csrc/distributed/c10d/Backend.hpp>)
/// The class c10d's Gloo and NCCL process groups derive from (allreduce, broadcast).
using CollectiveBackend = c10d::Backend;
#elif __has_include(<torch/csrc/distributed/c10d/ProcessGroup.hpp>)
using CollectiveBackend = c10d::ProcessGroup;
#endif

/// Makes c10d's TCP store options ask for the classic server: 2.x defaults to the libuv one (useLibUV), which Debian's
/// 2.6 is built without ("use_libuv was requested but PyTorch was build without libuv support"); 1.13 has only the
/// classic one (no such field).
template <class TcpStoreOptions>
void use_classic_tcp_store(TcpStoreOptions& o) {
  if constexpr (requires { o.useLibUV; }) o.useLibUV = false;
}

/// Turns autocast to `dtype` on or off for the forward passes on `device` (CPU or CUDA).
inline void set_autocast(const at::Device& device, at::ScalarType dtype, bool on) {
#if EPS_TORCH_AT_LEAST_2
  at::autocast::set_autocast_dtype(device.type(), dtype);
  at::autocast::set_autocast_enabled(device.type(), on);
#else
  if (device.is_cpu()) {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(on);
  } else {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(on);
  }
#endif
}

/// The key of a parameter in an optimizer's state map: its TensorImpl's address, as a string in 1.13 and as a
/// pointer in 2.x.
#if EPS_TORCH_AT_LEAST_2
inline void* optimizer_state_key(const at::Tensor& p) { return p.unsafeGetTensorImpl(); }
#else
inline std::string optimizer_state_key(const at::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }
#endif

/// Restores the state of `opt` from an archive written by `opt.save` (torch::optim::Adam) under LibTorch 1.13 or 2.x:
/// each parameter's step and moments, matched by position in the parameter groups (what `opt.load` does by key, and
/// gets wrong across the two versions). io_error naming what is missing or of the wrong size; options (lr, betas)
/// are left as `opt` has them.
void load_adam(torch::optim::Adam& opt, torch::serialize::InputArchive& archive);

/// What check_convolutions found.
struct ConvolutionCheck {
  bool onednn = false;    ///< oneDNN (mkldnn) was enabled when checked
  bool faulty = false;    ///< some probe disagreed with the reference by more than 1e-4 (relative)
  bool disabled = false;  ///< oneDNN was turned off for this process because of it
  double max_error = 0;   ///< the largest relative error of the probes (NaN counts as infinite)
  std::string report;     ///< one line: what was found and done
};

/// Once per process (later calls return the first result): float32 CPU convolutions — forward and the gradient
/// with respect to the input, on the shapes where Debian 13's LibTorch 2.6 goes wrong, at the current number of
/// threads and at one — against ATen's float64 reference convolution, which never uses oneDNN. If they disagree,
/// oneDNN is turned off for the process (at::globalContext().setUserEnabledMkldnn(false): correct, several times
/// slower; docs/backends.md) and the report is printed once on stderr. The environment variable EPS_ONEDNN
/// overrides: "keep" checks and reports but leaves oneDNN on, "off" turns it off without checking. The eps
/// networks call it when they are built or loaded (UNet, Model, the classifier); call it yourself before running
/// other convolutions of your own.
const ConvolutionCheck& check_convolutions();

}  // namespace eps::networks::compat
