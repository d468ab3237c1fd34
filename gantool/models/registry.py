"""Architectures by name: `arch` in a model file's gantool.config -> its config class and builder.

A family module (dcgan.py; later a classifier, the torchvision zoo) defines `ARCHS`, a dict of
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
}


@dataclass(frozen=True)
class Arch:
    """One architecture: how its config reads and how its networks are built."""

    name: str
    kind: str  # what a file of it is (`gantool.kind`): "gan", ...
    config: type  # a dataclass with from_dict(dict), to_dict() (which records `arch`) and validate()
    build: Callable[[Any], dict]  # config -> {role: nn.Module}; roles prefix the tensor names
    describe: Callable[[Any], str]  # config -> one line for `gantool info`


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
