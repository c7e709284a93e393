#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Restore an image with your own TorchScript model and the training-free methods of eps.

eps.Model reads a TorchScript module with its contract (docs/own-model.md: what it predicts, on which
schedule, its time input and data range) and hands out the denoiser the samplers take on eps's schedule;
DPS and ΠGDM take their VJPs by autograd through the module. With no --model, the shipped prior is exported
as TorchScript first (an x0-predictor on EDM's VE schedule with σ as time: the EDM convention), which is also
how to hand eps an EDM network of your own.

  PYTHONPATH=build/release/python /usr/bin/python3 examples/python/zero_shot.py --task box_inpainting
"""
import argparse
import json
import os
import tempfile

import torch

import eps
from eps.unet import load_unet

sys_path = os.path.dirname(os.path.abspath(__file__))


class Edm(torch.nn.Module):
    """EDM's denoiser D(x; σ) = c_skip x + c_out F(c_in x, ¼ ln σ) of an eps U-Net (σ_data = 0.5, VE)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, sigma):
        s = sigma.view(-1, 1, 1, 1)
        v = s * s + 0.25
        return 0.25 / v * x + s * 0.5 / v.sqrt() * self.net(x / v.sqrt(), 0.25 * torch.log(sigma))


def export_prior(prior, out):
    net, _ = load_unet(prior)
    traced = torch.jit.trace(Edm(net).eval(), (torch.randn(2, 1, 28, 28), torch.tensor([1.0, 3.0])))
    torch.jit.save(traced, out)
    with open(out + ".json", "w") as f:
        json.dump({"predicts": "x0", "schedule": "ve_edm", "time": "sigma", "data_range": [-1, 1],
                   "sigma_data": 0.5, "shape": [1, 28, 28]}, f)


def read_grey_png(path):
    """An 8-bit grey PNG (the bundled test images) as [1, 1, H, W] in [-1, 1], without an imaging library."""
    import struct
    import zlib

    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            if depth != 8 or colour != 0 or interlace:
                raise ValueError(f"{path}: expected an 8-bit grey PNG without interlacing")
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw, rows, prev = zlib.decompress(idat), [], bytearray(w)
    for r in range(h):
        f, line = raw[r * (w + 1)], bytearray(raw[r * (w + 1) + 1 : (r + 1) * (w + 1)])
        for i in range(w):
            left, up, ul = (line[i - 1] if i else 0), prev[i], (prev[i - 1] if i else 0)
            if f == 1:
                line[i] = (line[i] + left) & 255
            elif f == 2:
                line[i] = (line[i] + up) & 255
            elif f == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(up - ul), abs(left - ul), abs(left + up - 2 * ul)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else ul)) & 255
        rows.append(bytes(line))
        prev = line
    x = torch.frombuffer(bytearray(b"".join(rows)), dtype=torch.uint8).reshape(1, 1, h, w)
    return x.float() / 127.5 - 1


def psnr(a, b):
    return (10 * torch.log10(4 / ((a.clamp(-1, 1) - b) ** 2).flatten(1).mean(1))).mean().item()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a TorchScript module with its contract (default: the shipped prior, exported)")
    p.add_argument("--prior", default="models/prior/model.pt")
    p.add_argument("--input", default=os.path.join(sys_path, "..", "restore_image", "data", "test_0_boot.png"))
    p.add_argument("--task", default="box_inpainting")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--dps-steps", type=int, default=100)
    a = p.parse_args()
    torch.manual_seed(0)
    model = a.model
    if model is None:
        model = os.path.join(tempfile.mkdtemp(), "prior_torchscript.pt")
        export_prior(a.prior, model)
    m = eps.Model.load(model)
    print(f"model {model}: {m.objective}, schedule {m.schedule}, shape {m.shape}, weights {m.hash}")
    x0 = read_grey_png(a.input)
    A = eps.TaskSampler([1, x0.shape[2], x0.shape[3]], [a.task], 1).evaluation(a.task, x0, 1)
    y = A.apply(x0)
    y = y + 0.05 * torch.randn_like(y)
    # The model's denoiser on eps's VE schedule (any schedule works: the contract's schedule is matched by σ/α).
    D = lambda x, t: m.denoise(x, t, "ve_edm")  # noqa: E731
    x = eps.initial_noise("ve_edm", x0, 1, seed=1)
    runs = {
        "zero-shot pivot": lambda: eps.zero_shot_sample(D, A, y, 0.05, x, steps=a.steps),
        "DPS": lambda: eps.dps_sample(D, A, y, x, zeta=1.0, steps=a.dps_steps),
        "PiGDM": lambda: eps.pigdm_sample(D, A, y, 0.05, x, data_variance=m.sigma_data ** 2, steps=a.steps),
        "DDRM": lambda: eps.ddrm_sample(D, A, y, 0.05, x, steps=a.steps),
    }
    print(f"{a.task} on {a.input} (sigma_y 0.05): pseudo-inverse {psnr(A.pinv(y), x0):.2f} dB")
    for name, run in runs.items():
        out, nfe, vjp = run()
        print(f"  {name}: PSNR {psnr(out, x0):.2f} dB ({nfe} NFE" + (f", {vjp} VJP)" if vjp else ")"))


if __name__ == "__main__":
    main()
