// SPDX-License-Identifier: MIT
/// @file torch_autograd.hpp
/// Vector–Jacobian products of LibTorch denoisers by reverse-mode autograd: the differentiable-denoiser
/// interface of the gradient-based baselines (DPS, ΠGDM; docs/api.md "Denoisers") for any callable built
/// from differentiable ATen operations — a torch::nn::Module's forward, or a closed-form prior written in
/// ATen. Kept out of eps/backends/torch.hpp, which needs only ATen.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>  // torch::autograd::grad

#include <utility>

#include "eps/backends/torch.hpp"
#include "eps/error.hpp"

namespace eps::libtorch {

/// A denoiser f(x, t) → x̂0 on batched at::Tensor with vector–Jacobian products by autograd:
///   vjp(x, t, v) = vᵀ ∂f(x, t)/∂x  (per sample: samples of a batch do not interact, so the VJP of the
///   batch is the samples' VJPs stacked — true of every denoiser that treats samples independently);
///   denoise_and_vjp(x, t, make_v) = {f(x, t), make_v(f(x, t))ᵀ ∂f/∂x}, one forward and one backward pass,
///   for guidance whose vector depends on x̂0 (DPS, ΠGDM): eps::denoise_and_vjp uses it.
/// Plain evaluation follows the caller's grad mode (run samplers under at::NoGradGuard / torch::NoGradGuard);
/// the VJPs turn grad mode on locally, differentiate with respect to a detached copy of x, and free the
/// graph. f is held by value (a torch module handle shares its parameters).
template <class F>
class AutogradDenoiser {
 public:
  explicit AutogradDenoiser(F f) : f_(std::move(f)) {}

  at::Tensor operator()(const at::Tensor& x, double t) { return f_(x, t); }

  at::Tensor vjp(const at::Tensor& x, double t, const at::Tensor& v) {
    return denoise_and_vjp(x, t, [&](const at::Tensor&) { return v; }).second;
  }

  template <class MakeV>
  std::pair<at::Tensor, at::Tensor> denoise_and_vjp(const at::Tensor& x, double t, MakeV&& make_v) {
    c10::AutoGradMode on(true);
    const at::Tensor xi = x.detach().requires_grad_(true);
    const at::Tensor out = f_(xi, t);
    EPS_CHECK(out.sizes() == x.sizes(), shape_error, "eps::libtorch::AutogradDenoiser: the denoiser returned ",
              detail::libtorch::sizes_str(out.sizes()), " for an input of ", detail::libtorch::sizes_str(x.sizes()));
    const at::Tensor x0 = out.detach();
    const at::Tensor v = make_v(x0);
    EPS_CHECK(v.sizes() == x.sizes(), shape_error, "eps::libtorch::AutogradDenoiser::vjp: v is ",
              detail::libtorch::sizes_str(v.sizes()), ", expected ", detail::libtorch::sizes_str(x.sizes()));
    if (!out.requires_grad()) return {x0, at::zeros_like(x)};  // f does not depend on x (a constant)
    const auto g = torch::autograd::grad({out}, {xi}, {v}, /*retain_graph=*/false, /*create_graph=*/false,
                                         /*allow_unused=*/true);
    return {x0, g[0].defined() ? g[0].detach() : at::zeros_like(x)};
  }

  F& function() { return f_; }

 private:
  F f_;
};

/// AutogradDenoiser with its type deduced.
template <class F>
AutogradDenoiser<F> autograd_denoiser(F f) {
  return AutogradDenoiser<F>(std::move(f));
}

}  // namespace eps::libtorch
