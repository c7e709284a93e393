#!/usr/bin/env python3
"""Exports one small x0-predictor as TorchScript modules in every parametrization eps reads (docs/own-model.md):
x0 on EDM's VE schedule with σ as time, ε on VP-linear with t, v on VP-cosine with a timestep index and data in
[0, 1], the flow velocity on the linear interpolant, ε on a DDPM table of ᾱ with an index, and x0 with EDM's
c_noise as time and the contract as a module attribute; traced and scripted. Every module is the *same*
denoiser once eps's conversion undoes its parametrization, schedule, time input and data range, which is what
tests/test_models.cpp checks (to float32 round-off) and what a user's export must get right.

Usage: /usr/bin/python3 export_models.py OUT_DIR   (Debian's torch 1.13, the version LibTorch reads)
"""
import json
import math
import os
import sys

import torch

torch.manual_seed(0)


class Base(torch.nn.Module):
    """The underlying denoiser in eps's data space [-1, 1]: x̂0 from x̄ = x/α and the ratio ς = σ/α."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, xbar, ratio):
        r = ratio.view(-1, 1, 1, 1)
        c_in = 1.0 / torch.sqrt(r * r + 0.25)
        h = torch.tanh(self.conv1(xbar * c_in) + 0.25 * torch.log(r))
        return 0.25 / (r * r + 0.25) * xbar + 0.5 * self.conv2(h)


BASE = Base()


def vp_linear(t: torch.Tensor, beta_min: float = 0.1, beta_max: float = 20.0):
    log_a = -0.5 * (beta_min * t + 0.5 * (beta_max - beta_min) * t * t)
    return torch.exp(log_a), torch.sqrt(-torch.expm1(2 * log_a))


def vp_cosine(t: torch.Tensor, s: float = 0.008):
    # In float64: 1 − α² cancels near t = 0 (float32 loses σ there: 2 % at σ/α = 0.001), as a careful module does.
    f0 = s / (1 + s) * math.pi / 2
    a = torch.sin(math.pi * (1 - t.double()) / (2 * (1 + s))) / math.cos(f0)
    return a.to(t.dtype), torch.sqrt(torch.clamp(1 - a * a, min=0.0)).to(t.dtype)


DDPM_ABAR = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)


def table(index: torch.Tensor):
    """ᾱ at a fractional index, log ᾱ linear between entries (the library's table schedule)."""
    la = torch.log(DDPM_ABAR).to(index.dtype)
    i = torch.clamp(torch.floor(index), 0, 998).long()
    frac = index - i.to(index.dtype)
    lab = la[i] + frac * (la[i + 1] - la[i])
    return torch.exp(0.5 * lab), torch.sqrt(-torch.expm1(lab))


class VeX0(torch.nn.Module):  # x0, ve_edm, time = sigma, data [-1, 1]
    def __init__(self):
        super().__init__()
        self.base = BASE

    def forward(self, x, sigma):
        return self.base(x, sigma)


class VpLinearEps(torch.nn.Module):  # epsilon, vp_linear, time = t
    def __init__(self):
        super().__init__()
        self.base = BASE

    def forward(self, x, t):
        a, s = vp_linear(t)
        a4, s4 = a.view(-1, 1, 1, 1), s.view(-1, 1, 1, 1)
        x0 = self.base(x / a4, s / a)
        return (x - a4 * x0) / s4


class VpCosineV(torch.nn.Module):  # v, vp_cosine, time = index (t · 1000), data [0, 1]
    def __init__(self):
        super().__init__()
        self.base = BASE

    def forward(self, x, index):
        a, s = vp_cosine(index / 1000.0)
        a4, s4 = a.view(-1, 1, 1, 1), s.view(-1, 1, 1, 1)
        xbar_m, ratio_m = x / a4, s / a
        x0_m = 0.5 + 0.5 * self.base((xbar_m - 0.5) / 0.5, ratio_m / 0.5)
        eps = (x - a4 * x0_m) / s4
        return a4 * eps - s4 * x0_m


class FlowVelocity(torch.nn.Module):  # velocity α' x0 + σ' ε, linear interpolant (α = 1 − t, σ = t), time = t
    def __init__(self):
        super().__init__()
        self.base = BASE

    def forward(self, x, t):
        a, s = (1 - t).view(-1, 1, 1, 1), t.view(-1, 1, 1, 1)
        x0 = self.base(x / a, t / (1 - t))
        return -x0 + (x - a * x0) / s


class TableEps(torch.nn.Module):  # epsilon, DDPM table of ᾱ, time = index
    def __init__(self):
        super().__init__()
        self.base = BASE

    def forward(self, x, index):
        a, s = table(index)
        a4, s4 = a.view(-1, 1, 1, 1), s.view(-1, 1, 1, 1)
        x0 = self.base(x / a4, s / a)
        return (x - a4 * x0) / s4


class CnoiseX0(torch.nn.Module):  # x0, ve_edm, time = c_noise = ¼ ln σ, contract as an attribute
    eps_contract: str

    def __init__(self, contract):
        super().__init__()
        self.base = BASE
        self.eps_contract = contract

    def forward(self, x, c_noise):
        return self.base(x, torch.exp(4 * c_noise))


class NanOutput(torch.nn.Module):  # a module whose output is not finite: refused at load
    def forward(self, x, t):
        return x * float("nan")


def save(module, name, contract, out, scripted=False):
    x = torch.randn(2, 1, 28, 28)
    t = torch.tensor([0.3, 0.5])
    m = torch.jit.script(module) if scripted else torch.jit.trace(module, (x, t))
    path = os.path.join(out, name + ".pt")
    torch.jit.save(m, path)
    if contract is not None:
        with open(path + ".json", "w") as f:
            json.dump(contract, f, indent=1)


def main(out):
    os.makedirs(out, exist_ok=True)
    shape = [1, 28, 28]
    save(VeX0(), "ve_x0_traced", {"predicts": "x0", "schedule": "ve_edm", "time": "sigma", "shape": shape}, out)
    save(VeX0(), "ve_x0_scripted", {"predicts": "x0", "schedule": "ve_edm", "time": "sigma", "shape": shape}, out, True)
    save(VpLinearEps(), "vp_linear_eps",
         {"predicts": "epsilon", "schedule": {"name": "vp_linear", "beta_min": 0.1, "beta_max": 20}, "time": "t",
          "shape": shape}, out)
    save(VpCosineV(), "vp_cosine_v_01",
         {"predicts": "v", "schedule": "vp_cosine", "time": "index", "steps": 1000, "data_range": [0, 1],
          "sigma_data": 0.25, "shape": shape}, out, True)
    save(FlowVelocity(), "flow_velocity",
         {"predicts": "velocity", "schedule": "linear", "time": "t", "shape": shape}, out)
    save(TableEps(), "table_eps",
         {"predicts": "epsilon", "schedule": {"name": "table", "alphas_cumprod": DDPM_ABAR.tolist()}, "time": "index",
          "shape": shape}, out)
    contract = json.dumps({"predicts": "x0", "schedule": "ve_edm", "time": "c_noise", "shape": shape})
    save(CnoiseX0(contract), "ve_cnoise_attribute", None, out, True)
    save(NanOutput(), "nan_output", {"predicts": "x0", "schedule": "ve_edm", "time": "sigma", "shape": shape}, out)
    print("exported 8 modules to", out, "with torch", torch.__version__)


if __name__ == "__main__":
    main(sys.argv[1])
