"""The one device resolver: `auto|cpu|cuda|cuda:N|mps` to a torch.device, or a clear error."""

from __future__ import annotations

import re

from gantool.errors import GantoolError, UsageError

DEVICE_HELP = "auto|cpu|cuda|cuda:N|mps"


def resolve_device(spec: str | None):
    import torch

    spec = (spec or "auto").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not mps_ok:
            raise GantoolError("--device mps asked for, but MPS is not available here", "use --device cpu or auto")
        return torch.device("mps")
    m = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not m:
        raise UsageError(f"unknown device {spec!r}", f"use {DEVICE_HELP}")
    if not torch.cuda.is_available():
        raise GantoolError(f"--device {spec} asked for, but CUDA is not available here", "use --device cpu or auto")
    index = int(m.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise GantoolError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) here")
    return torch.device("cuda", index)
