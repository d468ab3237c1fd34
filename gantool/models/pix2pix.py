"""pix2pix (Isola et al. 2017): a U-Net generator with skip connections and a PatchGAN discriminator
on (input, output) pairs. Registered as architecture "pix2pix", kind "translator".

The U-Net halves the image `depth` times (depth from the training size: down to a 1x1 bottleneck,
at most 8, as the reference's 256x256 net) and mirrors it with transposed convolutions, each
decoder block joined to its encoder twin. Widths ngf, 2 ngf, 4 ngf, then 8 ngf; dropout in the
three decoder blocks nearest the bottleneck. It is fully convolutional: `forward` pads any input
(reflect, replicate where the image is too small to reflect) to a multiple of 2^depth and crops the
output back, so a 100x77 image comes back 100x77.

The PatchGAN scores overlapping patches: `d_layers` stride-2 convolutions, then two of stride 1.
Its receptive field (`receptive_field`): 16 pixels for 1 layer, 34 for 2, 70 for 3 (the paper's
70x70 default), 142 for 4, 286 for 5. It needs the training crop to leave at least one patch:
the largest default that fits is taken (`default_d_layers`).

What the sides hold is the config's `task`: `paired` and `restore` map pixels in [-1, 1] to pixels
in [-1, 1]; `colorize` maps L/50 - 1 (one channel) to (a*, b*)/110 (two), as the reference's
colorization mode (gantool.translation.colour converts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F

from gantool.errors import BadValue
from gantool.models.registry import Arch, config_from_dict
from gantool.models.translator_config import (MAX_DEPTH, NORMS, TASKS, check_d_layers, receptive_field,
                                               unet_depth)

MAX_WIDTH = 4096
MAX_SIZE = 4096


@dataclass(frozen=True)
class Pix2PixConfig:
    image_size: int = 256  # the training crop's side: it sets the U-Net's depth
    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    ndf: int = 64
    norm: str = "batch"
    dropout: float = 0.5
    d_layers: int = 3
    task: str = "paired"

    def to_dict(self) -> dict:
        return {"arch": "pix2pix", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "Pix2PixConfig":
        return config_from_dict(cls, d)

    @property
    def depth(self) -> int:
        return unet_depth(self.image_size)

    def validate(self) -> None:
        if not 4 <= self.image_size <= MAX_SIZE:
            raise BadValue("image_size", self.image_size, f"must be from 4 to {MAX_SIZE}")
        for name in ("in_channels", "out_channels"):
            if not 1 <= getattr(self, name) <= 4:
                raise BadValue(name, getattr(self, name), "must be from 1 to 4")
        for name in ("ngf", "ndf"):
            if not 1 <= getattr(self, name) <= MAX_WIDTH:
                raise BadValue(name, getattr(self, name), f"must be from 1 to {MAX_WIDTH}")
        if self.norm not in NORMS:
            raise BadValue("norm", self.norm, f"must be one of {', '.join(NORMS)}")
        if self.task not in TASKS:
            raise BadValue("task", self.task, f"must be one of {', '.join(TASKS)}")
        if not 0 <= self.dropout < 1:
            raise BadValue("dropout", self.dropout, "must be at least 0 and less than 1")
        if self.task == "colorize" and (self.in_channels, self.out_channels) != (1, 2):
            raise BadValue("task", self.task, "maps L (1 channel) to a*b* (2 channels)")
        check_d_layers(self.d_layers, self.image_size)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    return nn.BatchNorm2d(channels)


class UNet(nn.Module):
    """Images (B, in, H, W) of any size -> (B, out, H, W) in [-1, 1] (tanh)."""

    def __init__(self, cfg: Pix2PixConfig):
        super().__init__()
        self.depth = d = cfg.depth
        bias = cfg.norm == "instance"  # batch norm's shift makes a conv bias redundant
        w = [cfg.ngf * min(2**i, 8) for i in range(d)]
        downs = [nn.Conv2d(cfg.in_channels, w[0], 4, 2, 1, bias=bias)]
        for i in range(1, d):
            inner = i == d - 1  # the bottleneck: no norm (it is 1x1 at the training size)
            downs.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(w[i - 1], w[i], 4, 2, 1, bias=bias or inner),
                                       *([] if inner else [_norm(cfg.norm, w[i])])))
        ups = [nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * w[0], cfg.out_channels, 4, 2, 1), nn.Tanh())]
        for i in range(1, d):
            cin = w[i] if i == d - 1 else 2 * w[i]
            drop = cfg.dropout > 0 and max(1, d - 4) <= i <= d - 2
            ups.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(cin, w[i - 1], 4, 2, 1, bias=bias),
                                     _norm(cfg.norm, w[i - 1]), *([nn.Dropout(cfg.dropout)] if drop else [])))
        self.downs, self.ups = nn.ModuleList(downs), nn.ModuleList(ups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2**self.depth
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode=mode)
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[-1](skips[-1])
        for i in range(self.depth - 2, -1, -1):
            x = self.ups[i](torch.cat([x, skips[i]], 1))
        return x[..., ph // 2: ph // 2 + h, pw // 2: pw // 2 + w]


class PatchGAN(nn.Module):
    """(input, output) pairs (B, in + out, H, W) -> a score per patch (B, 1, h, w), raw (a logit)."""

    def __init__(self, cfg: Pix2PixConfig, in_channels: int | None = None):
        super().__init__()
        bias = cfg.norm == "instance"
        c = cfg.in_channels + cfg.out_channels if in_channels is None else in_channels
        layers: list[nn.Module] = [nn.Conv2d(c, cfg.ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = cfg.ndf
        for n in range(1, cfg.d_layers + 1):
            nxt = cfg.ndf * min(2**n, 8)
            stride = 2 if n < cfg.d_layers else 1
            layers += [nn.Conv2d(width, nxt, 4, stride, 1, bias=bias), _norm(cfg.norm, nxt), nn.LeakyReLU(0.2)]
            width = nxt
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.net(pair)


def init_weights(net: nn.Module, seed: int | None = None) -> None:
    """The reference's init: convolutions N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build(cfg: Pix2PixConfig) -> dict[str, nn.Module]:
    cfg.validate()
    G, D = UNet(cfg), PatchGAN(cfg)
    if not any(p.is_meta for p in G.parameters()):
        init_weights(G)
        init_weights(D)
    return {"generator": G, "discriminator": D}


_SIDES = {"paired": ("{i}-channel image", "{o}-channel image"), "restore": ("damaged image", "restored image"),
          "colorize": ("L", "a*b*")}


def describe(cfg: Pix2PixConfig) -> str:
    a, b = (s.format(i=cfg.in_channels, o=cfg.out_channels) for s in _SIDES[cfg.task])
    rf = receptive_field(cfg.d_layers)
    return (f"pix2pix {cfg.task}: {a} -> {b}, U-Net of depth {cfg.depth} (ngf {cfg.ngf}, {cfg.norm} norm, dropout "
            f"{cfg.dropout:g}), trained on {cfg.image_size}x{cfg.image_size} crops; PatchGAN of {cfg.d_layers} layers "
            f"({rf}x{rf} patches, ndf {cfg.ndf}); any input size")


ARCHS = {"pix2pix": Arch("pix2pix", "translator", Pix2PixConfig, build, describe)}

__all__ = ["ARCHS", "MAX_DEPTH", "PatchGAN", "Pix2PixConfig", "UNet", "init_weights"]
