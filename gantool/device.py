"""The one device resolver (`auto|cpu|cuda|cuda:N|mps` to a torch.device, or a clear error) and
the CPU thread count, set together before a command's first tensor."""

from __future__ import annotations

import os
import re

from gantool.errors import BadValue, GantoolError, flag

DEVICE_HELP = "auto|cpu|cuda|cuda:N|mps"
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")  # for completion; cuda:N too


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which taskset and schedulers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def prepare(device: str | None, threads: int | None = None):
    """Set torch's CPU threads (default: every available core) and resolve the device."""
    import torch

    if threads is not None and threads < 1:
        raise BadValue("threads", threads, "must be at least 1")
    torch.set_num_threads(threads or available_cores())
    return resolve_device(device)


def fast_bf16(device) -> bool:
    """Whether bf16 autocast speeds training up on `device`: CUDA, or a CPU with bf16 instructions
    (AVX512-BF16 or AMX), where oneDNN's bf16 convolutions and channels-last layout train gantool's
    DCGAN about 1.6x faster than float32 at the same sample quality (README, "The default recipe").
    Elsewhere a CPU emulates bf16 and is slower."""
    import torch

    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
                    and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()))
    except (AttributeError, RuntimeError):  # a torch without these probes: keep float32
        return False


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
            raise GantoolError(f"{flag('device')} mps asked for, but MPS is not available here", f"use {flag('device')} cpu or auto")
        return torch.device("mps")
    m = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not m:
        raise BadValue("device", spec, "not a device", f"use {DEVICE_HELP}")
    if not torch.cuda.is_available():
        raise GantoolError(f"{flag('device')} {spec} asked for, but CUDA is not available here",
                           f"use {flag('device')} cpu or auto")
    index = int(m.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise GantoolError(f"{flag('device')} {spec}: only {torch.cuda.device_count()} CUDA device(s) here")
    return torch.device("cuda", index)
