"""A small CNN classifier, sized from its data: `gantool train-classifier` trains it, every
"classifier to inspect" command (classify, layers, ...) loads it. Registered as architecture
"cnn-classifier", kind "classifier"; tensors under `classifier.`.

Layers, by name (what `gantool layers` lists and Grad-CAM or feature extraction take):

    block1 .. blockN   conv 3x3, batch norm, ReLU, conv 3x3, batch norm, ReLU, max-pool 2x2
                       (N = 2 for images under 16 pixels, else 3; widths w, 2w, 4w)
    features           the penultimate block: adaptive average pool to 2x2, flatten, linear, ReLU
    head               linear: features -> one logit per class

The network takes normalized images at its `image_size` (the file's gantool.data records the
normalization); gantool.classify.classifiers wraps it for images in [0, 1] of any size.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
from torch import nn

from gantool.errors import BadValue
from gantool.models.registry import Arch, config_from_dict

MAX_IMAGE_SIZE = 1024
MAX_WIDTH = 1024


@dataclass(frozen=True)
class CNNClassifierConfig:
    image_size: int = 8
    channels: int = 1
    num_classes: int = 10
    width: int = 32  # channels of the first block; each next block doubles them
    hidden: int = 128  # width of the penultimate `features` block

    def to_dict(self) -> dict:
        return {"arch": "cnn-classifier", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "CNNClassifierConfig":
        return config_from_dict(cls, d)

    @property
    def num_blocks(self) -> int:
        return 2 if self.image_size < 16 else 3

    def validate(self) -> None:
        if not 4 <= self.image_size <= MAX_IMAGE_SIZE:
            raise BadValue("image_size", self.image_size, f"must be from 4 to {MAX_IMAGE_SIZE}")
        if self.channels not in (1, 3):
            raise BadValue("channels", self.channels, "must be 1 or 3")
        if not 2 <= self.num_classes <= 100_000:
            raise BadValue("num_classes", self.num_classes, "must be from 2 to 100000")
        for name in ("width", "hidden"):
            if not 1 <= getattr(self, name) <= MAX_WIDTH:
                raise BadValue(name, getattr(self, name), f"must be from 1 to {MAX_WIDTH}")


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(cin, cout, 3, padding=1, bias=False)), ("bn1", nn.BatchNorm2d(cout)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(cout, cout, 3, padding=1, bias=False)), ("bn2", nn.BatchNorm2d(cout)), ("relu2", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)),
    ]))


class CNNClassifier(nn.Module):
    """Normalized images (B, C, S, S) -> logits (B, num_classes). As every gantool network that
    classifies: `penultimate(x)` is the head's input and `head` (named by HEAD) maps it to the
    output, so nothing needs a hook to read them."""

    HEAD = "head"

    def __init__(self, cfg: CNNClassifierConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        widths = [cfg.channels] + [cfg.width * 2**i for i in range(cfg.num_blocks)]
        self.blocks = [f"block{i + 1}" for i in range(cfg.num_blocks)]
        for name, cin, cout in zip(self.blocks, widths, widths[1:]):
            self.add_module(name, _block(cin, cout))
        self.features = nn.Sequential(OrderedDict([
            ("pool", nn.AdaptiveAvgPool2d(2)), ("flatten", nn.Flatten()),
            ("linear", nn.Linear(widths[-1] * 4, cfg.hidden)), ("relu", nn.ReLU()),
        ]))
        self.head = nn.Linear(cfg.hidden, cfg.num_classes)

    def penultimate(self, images: torch.Tensor) -> torch.Tensor:
        """(B, hidden): what the head classifies."""
        x = images
        for name in self.blocks:
            x = getattr(self, name)(x)
        return self.features(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.penultimate(images))


def build(cfg: CNNClassifierConfig) -> dict[str, nn.Module]:
    return {"classifier": CNNClassifier(cfg)}


def describe(cfg: CNNClassifierConfig) -> str:
    return (f"CNN classifier, {cfg.image_size}x{cfg.image_size}x{cfg.channels} -> {cfg.num_classes} classes, "
            f"{cfg.num_blocks} conv blocks (width {cfg.width}), features {cfg.hidden}")


ARCHS = {"cnn-classifier": Arch("cnn-classifier", "classifier", CNNClassifierConfig, build, describe)}
