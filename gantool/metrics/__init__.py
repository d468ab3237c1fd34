"""Scores of generated images in the features of a judge (a classifier of the same domain, a zoo
model, Inception-v3): FID and KID (torchmetrics), precision/recall/density/coverage, and with
classes IS, the class histogram and requested-class accuracy; cached real statistics; FID during
training; one evaluation as a command asks for it (gantool.metrics.request). The library never
prints and names no flag.

The names below are imported when first used: the settings (gantool.metrics.request) are read by
--help, which must not import torch."""

_NAMES = {"Judge": "gantool.metrics.judge", "RealStats": "gantool.metrics.stats",
          "evaluate": "gantool.metrics.quality", "fid_only": "gantool.metrics.quality"}

__all__ = list(_NAMES)


def __getattr__(name: str):
    import importlib

    if name not in _NAMES:
        raise AttributeError(f"module 'gantool.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
