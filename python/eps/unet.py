# SPDX-License-Identifier: MIT
"""The U-Net of eps's shipped models in PyTorch (the twin of networks/src/unet.cpp, docs/training.md §4): load
an eps.model file's weights into it, fine-tune it in your own training loop, export it as TorchScript."""
import json
import math

import torch
import torch.nn.functional as F
from torch import nn


def _norm(c):
    return nn.GroupNorm(min(8, c), c)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb):
        super().__init__()
        self.norm1 = _norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.proj = nn.Linear(emb, cout)
        self.norm2 = _norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.proj(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = _norm(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.out = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        a = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), -1)
        return x + self.out(torch.bmm(v, a.transpose(1, 2)).reshape(b, c, h, w))


class UNet(nn.Module):
    """F(x, c_noise): x [B, in_channels, H, W], c_noise [B]; the raw network of EDM's preconditioning."""

    def __init__(self, in_channels=1, out_channels=1, channels=32, multipliers=(1, 2, 2), blocks=1, embedding=64,
                 attention=True):
        super().__init__()
        self.embedding = embedding
        self.levels = len(multipliers)
        self.blocks = blocks
        e = 4 * channels
        self.emb1 = nn.Linear(embedding, e)
        self.emb2 = nn.Linear(e, e)
        self.conv_in = nn.Conv2d(in_channels, channels, 3, padding=1)
        skips, cur = [channels], channels
        for l, mult in enumerate(multipliers):
            ch = channels * mult
            for b in range(blocks):
                setattr(self, f"down{l}_{b}", ResBlock(cur, ch, e))
                cur = ch
                skips.append(cur)
            if l + 1 < len(multipliers):
                setattr(self, f"downsample{l}", nn.Conv2d(cur, cur, 3, stride=2, padding=1))
                skips.append(cur)
        self.mid1 = ResBlock(cur, cur, e)
        self.attn = Attention(cur) if attention else None
        self.mid2 = ResBlock(cur, cur, e)
        for l in reversed(range(len(multipliers))):
            ch = channels * multipliers[l]
            for b in range(blocks + 1):
                setattr(self, f"up{l}_{b}", ResBlock(cur + skips.pop(), ch, e))
                cur = ch
            if l > 0:
                setattr(self, f"upsample{l}", nn.Conv2d(cur, cur, 3, padding=1))
        self.norm_out = _norm(cur)
        self.conv_out = nn.Conv2d(cur, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, c_noise):
        half = self.embedding // 2
        f = torch.exp(torch.arange(half, dtype=x.dtype, device=x.device) * (math.log(100.0) / max(half - 1, 1)))
        arg = c_noise.to(x.dtype)[:, None] * f[None]
        emb = self.emb2(F.silu(self.emb1(torch.cat([torch.cos(arg), torch.sin(arg)], 1))))
        h = self.conv_in(x)
        skips = [h]
        for l in range(self.levels):
            for b in range(self.blocks):
                h = getattr(self, f"down{l}_{b}")(h, emb)
                skips.append(h)
            if l + 1 < self.levels:
                h = getattr(self, f"downsample{l}")(h)
                skips.append(h)
        h = self.mid1(h, emb)
        if self.attn is not None:
            h = self.attn(h)
        h = self.mid2(h, emb)
        for l in reversed(range(self.levels)):
            for b in range(self.blocks + 1):
                h = getattr(self, f"up{l}_{b}")(torch.cat([h, skips.pop()], 1), emb)
            if l > 0:
                h = getattr(self, f"upsample{l}")(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def load_unet(path, device="cpu"):
    """The U-Net of an eps.model file (`eps image train`'s model.pt) with its EMA weights, and the file's
    training configuration (a dict)."""
    archive = torch.jit.load(path, map_location=device)
    if getattr(archive, "format", None) != "eps.model":
        raise ValueError(f"{path} is not an eps.model file")
    config = json.loads(archive.config)
    n = config["network"]
    net = UNet(n["in_channels"], n["out_channels"], n["channels"], tuple(n["multipliers"]), n["blocks"],
               n["embedding"], n["attention"]).to(device)
    state = {name: p.detach().clone() for name, p in archive.weights.named_parameters()}
    net.load_state_dict(state, strict=True)
    return net, config
