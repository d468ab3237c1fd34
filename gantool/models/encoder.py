"""An encoder for a generator: image -> z (and, for conditional models, class logits), trained
from the generator alone on pairs (z, G(z)) (gantool.latent.encoder), so `invert --init encoder`
starts near the answer. Registered as architecture "dcgan-encoder", kind "encoder"; its file sits
beside the generator's (`model.encoder.safetensors` next to `model.safetensors`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from gantool.errors import BadValue
from gantool.models.dcgan_config import MAX_WIDTH, base_and_doublings
from gantool.models.registry import Arch, config_from_dict


@dataclass(frozen=True)
class EncoderConfig:
    image_size: int = 28
    channels: int = 1
    nz: int = 64
    num_classes: int = 0
    ndf: int = 32

    def to_dict(self) -> dict:
        return {"arch": "dcgan-encoder", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderConfig":
        return config_from_dict(cls, d)

    def validate(self) -> None:
        base_and_doublings(self.image_size)
        for name in ("nz", "ndf"):
            if not 1 <= getattr(self, name) <= MAX_WIDTH:
                raise BadValue(name, getattr(self, name), f"must be from 1 to {MAX_WIDTH}")
        if self.channels not in (1, 3):
            raise BadValue("channels", self.channels, "must be 1 or 3")
        if self.num_classes < 0:
            raise BadValue("num_classes", self.num_classes, "must be 0 or more")


class Encoder(nn.Module):
    """Images (B, C, S, S) in the generator's range -> (z (B, nz), class logits (B, K) or None)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        base, n = base_and_doublings(cfg.image_size)
        widths = [cfg.ndf * 2**i for i in range(n)]
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(widths[-1] * base * base, cfg.nz + cfg.num_classes)

    def forward(self, images: torch.Tensor):
        out = self.head(self.features(images))
        nz = self.cfg.nz
        return out[:, :nz], (out[:, nz:] if self.cfg.num_classes else None)


def build(cfg: EncoderConfig) -> dict[str, nn.Module]:
    return {"encoder": Encoder(cfg)}


def describe(cfg: EncoderConfig) -> str:
    cls = f", {cfg.num_classes} class logits" if cfg.num_classes else ""
    return f"encoder for a DCGAN, {cfg.image_size}x{cfg.image_size}x{cfg.channels} -> z ({cfg.nz}){cls}"


ARCHS = {"dcgan-encoder": Arch("dcgan-encoder", "encoder", EncoderConfig, build, describe)}
