"""Architectures by name: `arch` in a model file's gantool.config -> its config class and builder.

A family module (dcgan.py, encoder.py, classifier.py, zoo.py) defines `ARCHS`, a dict of
name -> Arch. FAMILIES below says which module holds which names, so nothing imports torch until
an architecture is asked for. Adding an architecture: define it in its family module and add its
name here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from gantool.errors import GantoolError

FAMILIES = {
    "dcgan": "gantool.models.dcgan",
    "dcgan-encoder": "gantool.models.encoder",
    "cnn-classifier": "gantool.models.classifier",
    "torchvision": "gantool.models.zoo",
    "pix2pix": "gantool.models.pix2pix",
    "cyclegan": "gantool.models.cyclegan",
}

# The torchvision classification models gantool takes by name (`-m resnet18`): architecture
# "torchvision" with config `model` (gantool.models.zoo). Each builds with torchvision's defaults
# and its default weights (inception_v3 with the builder options of zoo.BUILD; googlenet not yet).
ZOO = ("alexnet", "efficientnet_b0", "inception_v3", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
       "resnet18", "resnet34", "resnet50", "squeezenet1_0", "squeezenet1_1", "vgg11", "vgg13", "vgg16", "vgg19")


@dataclass(frozen=True)
class Arch:
    """One architecture: how its config reads and how its networks are built."""

    name: str
    kind: str  # what a file of it is (`gantool.kind`): "gan", ...
    config: type  # a dataclass with from_dict(dict), to_dict() (which records `arch`) and validate()
    build: Callable[[Any], dict]  # config -> {role: nn.Module}; roles prefix the tensor names
    describe: Callable[[Any], str]  # config -> one line for `gantool info`


def config_from_dict(cls, d: dict):
    """A config dataclass from plain data (a file's header): unknown keys are ignored, and a value
    of another type than the field's default is refused (bool is not an int here, nor an int a bool)."""
    from dataclasses import fields

    from gantool.errors import BadValue

    values = {}
    for f in fields(cls):
        if f.name in d:
            if type(d[f.name]) is not type(f.default):
                raise BadValue(f.name, d[f.name], f"must be {type(f.default).__name__}")
            values[f.name] = d[f.name]
    return cls(**values)


def names() -> list[str]:
    return sorted(FAMILIES)


def get(name: str) -> Arch:
    if name not in FAMILIES:
        raise GantoolError(f"unknown architecture {name!r}", f"gantool knows {', '.join(names())}")
    return importlib.import_module(FAMILIES[name]).ARCHS[name]


def arch_name(config: dict, kind: str) -> str | None:
    """The architecture a file's config names; gantool 0.1.0 named none and knew only DCGANs."""
    name = config.get("arch")
    if name is None and kind in ("gan", "checkpoint"):
        return "dcgan"
    return name if isinstance(name, str) else None
