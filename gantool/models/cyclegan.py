"""CycleGAN (Zhu et al. 2017): two ResNet generators (A -> B and B -> A) and a PatchGAN per domain,
all in one model file. Registered as architecture "cyclegan", kind "translator"; roles
`generator_ab` (G: A -> B), `generator_ba` (F: B -> A), `discriminator_a` (real A against F(B)) and
`discriminator_b` (real B against G(A)).

The generator is the reference's (Johnson et al. 2016): reflection padding, a 7x7 convolution,
two stride-2 3x3 convolutions (ngf, 2 ngf, 4 ngf), `n_blocks` residual blocks (reflection padding,
3x3, norm, ReLU, 3x3, norm; the paper uses 6 for 128x128 crops and 9 for 256x256 and larger),
two transposed 3x3 convolutions back, a 7x7 convolution and tanh. It is fully convolutional:
`forward` pads any input (reflect; replicate where the image is too small to reflect) to a multiple
of 4, and to at least 8 so the residual blocks' reflection has room, and crops the output back.

The discriminators are gantool.models.pix2pix's PatchGAN on one image (its `in_channels` the
domain's), `d_layers` deep (70x70 patches at 3). Domains may differ in channels (gray <-> colour):
each network takes and makes its own domain's. Pixels are in [-1, 1] on both sides.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F

from gantool.errors import BadValue
from gantool.models.pix2pix import PatchGAN, _norm, init_weights
from gantool.models.registry import Arch, config_from_dict
from gantool.models.translator_config import NORMS, check_d_layers, receptive_field

MAX_WIDTH = 4096
MAX_SIZE = 4096
MAX_BLOCKS = 32
ROLES = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")
GENERATOR = {"a2b": "generator_ab", "b2a": "generator_ba"}  # translate --direction -> the role applied


def default_blocks(crop: int) -> int:
    """The paper's rule: 6 residual blocks for crops under 256, 9 from 256 up."""
    return 9 if crop >= 256 else 6


@dataclass(frozen=True)
class CycleGANConfig:
    image_size: int = 256  # the training crop's side (the networks take any size)
    a_channels: int = 3
    b_channels: int = 3
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    norm: str = "instance"
    d_layers: int = 3

    task = "unpaired"  # what the sides hold (gantool.translation.sides): pixels in [-1, 1] each way
    dropout = 0.0  # no dropout layer (the reference's --no_dropout default for CycleGAN)

    def to_dict(self) -> dict:
        return {"arch": "cyclegan", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "CycleGANConfig":
        return config_from_dict(cls, d)

    def channels(self, direction: str) -> tuple[int, int]:
        """(in, out) channels of the generator that translates `direction`."""
        return (self.a_channels, self.b_channels) if direction == "a2b" else (self.b_channels, self.a_channels)

    def validate(self) -> None:
        if not 4 <= self.image_size <= MAX_SIZE:
            raise BadValue("image_size", self.image_size, f"must be from 4 to {MAX_SIZE}")
        for name in ("a_channels", "b_channels"):
            if not 1 <= getattr(self, name) <= 4:
                raise BadValue(name, getattr(self, name), "must be from 1 to 4")
        for name in ("ngf", "ndf"):
            if not 1 <= getattr(self, name) <= MAX_WIDTH:
                raise BadValue(name, getattr(self, name), f"must be from 1 to {MAX_WIDTH}")
        if not 1 <= self.n_blocks <= MAX_BLOCKS:
            raise BadValue("n_blocks", self.n_blocks, f"must be from 1 to {MAX_BLOCKS}")
        if self.norm not in NORMS:
            raise BadValue("norm", self.norm, f"must be one of {', '.join(NORMS)}")
        check_d_layers(self.d_layers, self.image_size)


class ResnetBlock(nn.Module):
    def __init__(self, width: int, norm: str, bias: bool):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=bias), _norm(norm, width),
                                  nn.ReLU(True), nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=bias),
                                  _norm(norm, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Images (B, in, H, W) of any size -> (B, out, H, W) in [-1, 1] (tanh)."""

    def __init__(self, in_channels: int, out_channels: int, ngf: int, n_blocks: int, norm: str = "instance"):
        super().__init__()
        bias = norm == "instance"  # batch norm's shift makes a conv bias redundant
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), _norm(norm, ngf),
                                   nn.ReLU(True)]
        for i in range(2):
            w = ngf * 2**i
            layers += [nn.Conv2d(w, 2 * w, 3, 2, 1, bias=bias), _norm(norm, 2 * w), nn.ReLU(True)]
        layers += [ResnetBlock(4 * ngf, norm, bias) for _ in range(n_blocks)]
        for i in (2, 1):
            w = ngf * 2**i
            layers += [nn.ConvTranspose2d(w, w // 2, 3, 2, 1, output_padding=1, bias=bias), _norm(norm, w // 2),
                       nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = max(8, h + (-h) % 4) - h, max(8, w + (-w) % 4) - w
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode=mode)
        return self.net(x)[..., ph // 2: ph // 2 + h, pw // 2: pw // 2 + w]


def build(cfg: CycleGANConfig) -> dict[str, nn.Module]:
    cfg.validate()
    nets = {"generator_ab": ResnetGenerator(cfg.a_channels, cfg.b_channels, cfg.ngf, cfg.n_blocks, cfg.norm),
            "generator_ba": ResnetGenerator(cfg.b_channels, cfg.a_channels, cfg.ngf, cfg.n_blocks, cfg.norm),
            "discriminator_a": PatchGAN(cfg, in_channels=cfg.a_channels),
            "discriminator_b": PatchGAN(cfg, in_channels=cfg.b_channels)}
    if not any(p.is_meta for p in nets["generator_ab"].parameters()):
        for net in nets.values():
            init_weights(net)
    return nets


def describe(cfg: CycleGANConfig) -> str:
    rf = receptive_field(cfg.d_layers)
    blocks = f"{cfg.n_blocks} residual block{'s' * (cfg.n_blocks != 1)}"
    return (f"CycleGAN: A ({cfg.a_channels}-channel) <-> B ({cfg.b_channels}-channel), two ResNet generators of "
            f"{blocks} (ngf {cfg.ngf}, {cfg.norm} norm), trained on {cfg.image_size}x{cfg.image_size} crops; a "
            f"PatchGAN per domain of {cfg.d_layers} layers ({rf}x{rf} patches, ndf {cfg.ndf}); any input size, either "
            "direction")


ARCHS = {"cyclegan": Arch("cyclegan", "translator", CycleGANConfig, build, describe)}

__all__ = ["ARCHS", "CycleGANConfig", "GENERATOR", "ROLES", "ResnetGenerator", "default_blocks"]
