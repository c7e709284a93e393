# SPDX-License-Identifier: MIT
"""eps: exact posterior scores for linear inverse problems, on torch.Tensor (docs/own-model.md §5).

The library's core (operators, the pivot and its covariance, the EPS network input, the samplers and the
training-free baselines, EDM's preconditioning, the task sampler, models from files) is the C++ extension
`eps._eps`, built against the PyTorch of /usr/bin/python3 (Debian's python3-torch); autograd flows through
every operation. This module adds the pieces that are plain PyTorch: widening a first convolution for EPS
fine-tuning, and the EPS objective of one minibatch for your own training loop.
"""
import torch

from ._eps import *  # noqa: F401,F403
from ._eps import EdmPreconditioning, check_convolutions, eps_input, noise_levels, palette_input

# Before any convolution of yours: torch's oneDNN convolutions checked against its own reference once (Debian 13's
# torch 2.6 gets some wrong on AVX-512 CPUs); if wrong, oneDNN is turned off and the report printed (EPS_ONEDNN).
check_convolutions()

__all__ = [name for name in dir() if not name.startswith("_")]


def widen_conv_input(conv: torch.nn.Conv2d, extra: int) -> torch.nn.Conv2d:
    """A copy of `conv` that takes `extra` more input channels, appended after the existing ones, with weights
    0: on [x, anything] it computes exactly what `conv` computed on x (the EPS fine-tuning's widening,
    docs/math.md §5; the C++ eps::networks::widen_input_channels). Register it in place of the old one."""
    if extra < 1:
        raise ValueError(f"widen_conv_input: extra channels must be >= 1, got {extra}")
    if conv.groups != 1:
        raise ValueError(f"widen_conv_input: grouped convolutions are not supported (groups = {conv.groups})")
    wide = torch.nn.Conv2d(conv.in_channels + extra, conv.out_channels, conv.kernel_size, stride=conv.stride,
                           padding=conv.padding, dilation=conv.dilation, bias=conv.bias is not None,
                           padding_mode=conv.padding_mode, device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        wide.weight.zero_()
        wide.weight[:, : conv.in_channels].copy_(conv.weight)
        if conv.bias is not None:
            wide.bias.copy_(conv.bias)
    return wide


def eps_loss(raw, x0, A, sigma_y, levels, precond=None, objective="eps"):
    """The EPS objective of one minibatch (docs/training.md §5), per sample: y = A x0 + σ_y n and
    x_t = α x0 + σ ε are drawn, the network sees [c_in x̃, observation image] (EPS: x̃ = α μ*, the pivot) or
    [c_in x_t, observation image] (objective="palette"), and the loss is EDM's on that input.

    raw(input, c_noise) -> output is your network (input has 2C channels); levels come from eps.noise_levels;
    precond defaults to EdmPreconditioning(0.5). Returns [B]; average it and call backward()."""
    precond = precond or EdmPreconditioning(0.5)
    alpha = levels.alpha.to(x0.device)
    sigma = levels.sigma.to(x0.device)
    shape = (-1,) + (1,) * (x0.dim() - 1)
    x_t = alpha.to(x0.dtype).view(shape) * x0 + sigma.to(x0.dtype).view(shape) * torch.randn_like(x0)
    y = A.apply(x0)
    y = y + sigma_y * torch.randn_like(y)
    if objective == "eps":
        image, observation = eps_input(A, x_t, y, alpha, sigma, sigma_y)
    elif objective == "palette":
        image, observation = palette_input(A, x_t, y)
    else:
        raise ValueError(f"eps_loss: objective must be 'eps' or 'palette', got {objective!r}")
    return precond.loss(lambda inp, c: raw(torch.cat([inp, observation], 1), c), image, x0, alpha, sigma)
