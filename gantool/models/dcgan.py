"""DCGAN generator and discriminator (Radford et al. 2015), optionally class-conditional.

Sizes: a base of 4x4 or 7x7 doubled at least twice, so 16, 32, 64, 128, ... and 28, 56, 112, ...
(28 is 7 -> 14 -> 28, as in the Keras MNIST tutorial). The generator's input is one latent row:
z, followed for conditional models by the one-hot class, so a generator is callable on latents
alone. The conditional discriminator is a projection discriminator (Miyato & Koyama 2018).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

ACTIVATIONS = ("relu", "leaky-relu")
INITS = ("dcgan", "default")


@dataclass(frozen=True)
class DCGANConfig:
    image_size: int = 28
    channels: int = 1
    nz: int = 64
    ngf: int = 64
    ndf: int = 64
    num_classes: int = 0  # 0: unconditional
    g_batch_norm: bool = True
    d_batch_norm: bool = True
    g_activation: str = "relu"
    d_activation: str = "leaky-relu"
    spectral_norm: bool = False
    init: str = "dcgan"

    @property
    def latent_dim(self) -> int:
        return self.nz + self.num_classes

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DCGANConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def validate(self) -> None:
        base_and_doublings(self.image_size)
        for name in ("nz", "ngf", "ndf"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, not {getattr(self, name)}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, not {self.channels}")
        if self.g_activation not in ACTIVATIONS or self.d_activation not in ACTIVATIONS:
            raise ValueError(f"activations are {', '.join(ACTIVATIONS)}")
        if self.init not in INITS:
            raise ValueError(f"init is one of {', '.join(INITS)}")


def base_and_doublings(size: int) -> tuple[int, int]:
    """(4 or 7, n) with size == base * 2**n and n >= 2, or ValueError naming the valid sizes."""
    for base in (4, 7):
        n, s = 0, size
        while s > base and s % 2 == 0:
            s //= 2
            n += 1
        if s == base and n >= 2:
            return base, n
    raise ValueError(f"image size {size} is not supported: use 16, 32, 64, 128, ... or 28, 56, 112, ...")


def supported_size_at_least(size: int) -> int:
    """The smallest supported image size >= size."""
    s = max(size, 16)
    while True:
        try:
            base_and_doublings(s)
            return s
        except ValueError:
            s += 1


def _act(name: str) -> nn.Module:
    return nn.ReLU(inplace=True) if name == "relu" else nn.LeakyReLU(0.2, inplace=True)


def _init_dcgan(module: nn.Module) -> None:
    """N(0, 0.02) conv weights, N(1, 0.02) batch-norm scales, zero biases (the DCGAN paper)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """Latents (B, nz + num_classes) -> images (B, C, S, S) in [-1, 1]."""

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        base, n = base_and_doublings(cfg.image_size)
        widths = [cfg.ngf * 2 ** (n - 1 - i) for i in range(n)]
        bn = cfg.g_batch_norm
        layers: list[nn.Module] = [nn.ConvTranspose2d(cfg.latent_dim, widths[0], base, 1, 0, bias=not bn)]
        layers += [nn.BatchNorm2d(widths[0])] if bn else []
        layers += [_act(cfg.g_activation)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=not bn)]
            layers += [nn.BatchNorm2d(cout)] if bn else []
            layers += [_act(cfg.g_activation)]
        layers += [nn.ConvTranspose2d(widths[-1], cfg.channels, 4, 2, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        if cfg.init == "dcgan":
            _init_dcgan(self)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.main(latents[:, :, None, None])


class Discriminator(nn.Module):
    """Images (B, C, S, S) [and labels (B,)] -> one logit or critic score per image (B,)."""

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        base, n = base_and_doublings(cfg.image_size)
        bn = cfg.d_batch_norm
        widths = [cfg.ndf * 2**i for i in range(n)]
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, widths[0], 4, 2, 1), _act(cfg.d_activation)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=not bn)]
            layers += [nn.BatchNorm2d(cout)] if bn else []
            layers += [_act(cfg.d_activation)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(widths[-1], 1, base, 1, 0)
        self.embed = nn.Embedding(cfg.num_classes, widths[-1]) if cfg.conditional else None
        if cfg.init == "dcgan":
            _init_dcgan(self)
        if cfg.spectral_norm:
            sn = nn.utils.parametrizations.spectral_norm
            for m in list(self.modules()):
                if isinstance(m, (nn.Conv2d, nn.Embedding)):
                    sn(m)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(images)
        out = self.head(h).flatten()
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional discriminator needs labels")
            out = out + (self.embed(labels) * h.sum((2, 3))).sum(1)
        return out
