#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fine-tune a PyTorch U-Net with the EPS objective in your own training loop, then sample with it.

Loads the shipped prior's weights (or another eps.model, --prior) into the PyTorch twin of eps's U-Net
(eps.unet), widens its first convolution by the observation channel with zero weights (so that it starts as
the zero-shot pivot), fine-tunes it on Fashion-MNIST with eps.eps_loss — an operator of the five tasks drawn
per minibatch, the network fed [pivot, observation image] — and restores test images with eps.eps_sample,
against the zero-shot pivot of the prior it started from. The training loop is yours: an optimizer, an EMA,
a schedule of learning rates, your own data.

  PYTHONPATH=build/release/python /usr/bin/python3 examples/python/finetune_eps.py --steps 300
"""
import argparse
import copy
import gzip
import math
import os
import struct
import time

import torch

import eps
from eps.unet import load_unet

FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims :]), dtype=torch.uint8).reshape(shape)


def images(split):
    name = "train-images-idx3-ubyte.gz" if split == "train" else "t10k-images-idx3-ubyte.gz"
    x = read_idx(os.path.join(FASHION, name)).float() / 127.5 - 1
    return x[:, None]


def psnr(a, b):
    mse = ((a.clamp(-1, 1) - b) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(4 / mse)).mean().item()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prior", default="models/prior/model.pt")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--test-images", type=int, default=8)
    p.add_argument("--sample-steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    net, config = load_unet(a.prior)
    sigma_data = config.get("sigma_data", 0.5)
    prior = copy.deepcopy(net).eval()
    net.conv_in = eps.widen_conv_input(net.conv_in, 1)  # [pivot, observation image]: starts as the zero-shot pivot
    ema = copy.deepcopy(net).eval()
    precond = eps.EdmPreconditioning(sigma_data)
    train = images("train")
    tasks = eps.TaskSampler([1, 28, 28], ["all"], 1)
    gen = eps.Generator(2)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    t0 = time.time()
    for step in range(1, a.steps + 1):
        x0 = train[torch.randint(0, train.shape[0], (a.batch,))]
        _, A = tasks.draw(x0, a.batch)
        loss = eps.eps_loss(net, x0, A, 0.05, eps.noise_levels(a.batch, gen, "ve_edm", 0.3), precond).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():  # EMA with EDM's ramp-up: half-life min(20000, 0.05 · images seen) images
            half = min(20000.0, 0.05 * step * a.batch)
            beta = 0.5 ** (a.batch / half)
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.mul_(beta).add_(pn, alpha=1 - beta)
        if step % 50 == 0 or step == a.steps:
            print(f"step {step}: loss {loss.item():.4f} ({(time.time() - t0) / step:.2f} s/step)", flush=True)

    # Restore test images: EPS with the fine-tuned network, and the zero-shot pivot of the prior it started from.
    test = images("test")[: a.test_images]
    ve = lambda t: 0.002 + t * 79.998  # noqa: E731  the ve_edm schedule (the shipped models')
    ones = torch.ones(a.test_images, dtype=torch.float64)

    def eps_net(image, observation, t):
        with torch.no_grad():
            return precond.denoise(lambda x, c: ema(torch.cat([x, observation], 1), c), image, ones,
                                   ones * ve(t)).float()

    def prior_denoiser(x, t):
        with torch.no_grad():
            return precond.denoise(prior, x, ones, ones * ve(t)).float()

    for task in ["random_inpainting", "box_inpainting", "super_resolution", "gaussian_deblur", "motion_deblur"]:
        A = eps.TaskSampler([1, 28, 28], [task], 3).evaluation(task, test, a.test_images)
        y = A.apply(test)
        y = y + 0.05 * torch.randn_like(y)
        x = eps.initial_noise("ve_edm", test, a.test_images, steps=a.sample_steps, seed=4)
        fine, _, _ = eps.eps_sample(eps_net, A, y, 0.05, x, steps=a.sample_steps)
        zero, _, _ = eps.zero_shot_sample(prior_denoiser, A, y, 0.05, x, steps=a.sample_steps)
        print(f"{task}: PSNR of one posterior sample, EPS fine-tuned {psnr(fine, test):.2f} dB, zero-shot pivot "
              f"{psnr(zero, test):.2f} dB ({a.sample_steps} NFE, {a.test_images} test images)")
    if not all(math.isfinite(v) for v in [loss.item()]):
        raise SystemExit("the loss is not finite")


if __name__ == "__main__":
    main()
