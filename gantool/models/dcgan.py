"""DCGAN generator and discriminator (Radford et al. 2015), optionally class-conditional.

Sizes: a base of 4x4 or 7x7 doubled at least twice, so 16, 32, 64, 128, ... and 28, 56, 112, ...
(28 is 7 -> 14 -> 28, as in the Keras MNIST tutorial). The generator's input is one latent row:
z, followed for conditional models by the one-hot class, so a generator is callable on latents
alone, and makes its own latents (`Generator.latents`: the one implementation, used by training
and sampling). The conditional discriminator is a projection discriminator (Miyato & Koyama 2018),
with `class_head` also an auxiliary classifier of its features (AC-GAN, Odena et al. 2017), whose
class loss on generated images is what makes G draw the class it is asked for.
Images are in [-1, 1] (NORMALIZATION). Registered as architecture "dcgan" (gantool.models.registry).
"""

from __future__ import annotations

import torch
from torch import nn

from gantool.data.normalization import Normalization
from gantool.errors import BadValue
from gantool.models.dcgan_config import DCGANConfig, base_and_doublings
from gantool.models.registry import Arch

NORMALIZATION = Normalization.range(-1.0, 1.0)  # tanh output


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

    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def latents(self, n: int, generator: torch.Generator | None = None, classes=None):
        """n latent rows on `generator`'s device: z ~ N(0, I), then for conditional models the
        one-hot class, from `classes` (a list or tensor) or drawn uniformly. Returns (latents, labels or None)."""
        device = generator.device if generator is not None else torch.device("cpu")
        z = torch.randn(n, self.cfg.nz, device=device, generator=generator)
        if not self.cfg.conditional:
            if classes is not None:
                raise BadValue("class", None, "this model is not conditional: it has no classes to pick")
            return z, None
        if classes is None:
            labels = torch.randint(0, self.cfg.num_classes, (n,), device=device, generator=generator)
        else:
            labels = torch.as_tensor(classes, dtype=torch.int64, device=device)
        onehot = nn.functional.one_hot(labels, self.cfg.num_classes).to(z.dtype)
        return torch.cat([z, onehot], 1), labels

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.main(latents[:, :, None, None])


class Discriminator(nn.Module):
    """Images (B, C, S, S) [and labels (B,)] -> one logit or critic score per image (B,); with
    `classes=True` also the class head's logits (B, num_classes), None without a class head.
    `penultimate(x)` is the head's input (the last conv maps), `head` (named by HEAD) the layer
    that scores them."""

    HEAD = "head"

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
        self.classify = nn.Linear(widths[-1], cfg.num_classes) if cfg.class_head else None
        if cfg.init == "dcgan":
            _init_dcgan(self)
        if cfg.spectral_norm:
            sn = nn.utils.parametrizations.spectral_norm
            for m in list(self.modules()):
                if isinstance(m, (nn.Conv2d, nn.Embedding)):
                    sn(m)

    def penultimate(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, base, base): the maps the head scores (and the projection and class head read)."""
        return self.features(images)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None, classes: bool = False):
        h = self.penultimate(images)
        out = self.head(h).flatten()
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional discriminator needs labels")
            out = out + (self.embed(labels) * h.sum((2, 3))).sum(1)
        if not classes:
            return out
        return out, (self.classify(h.mean((2, 3))) if self.classify is not None else None)


def build(cfg: DCGANConfig) -> dict[str, nn.Module]:
    return {"generator": Generator(cfg), "discriminator": Discriminator(cfg)}


def describe(cfg: DCGANConfig) -> str:
    cond = f"conditional, {cfg.num_classes} classes" if cfg.conditional else "unconditional"
    return (f"DCGAN, {cond}, {cfg.image_size}x{cfg.image_size}x{cfg.channels}, "
            f"latent {cfg.latent_dim} (nz {cfg.nz})")


ARCHS = {"dcgan": Arch("dcgan", "gan", DCGANConfig, build, describe)}
