"""gantool's `.safetensors` files: tensors prefixed by role, and header metadata that rebuilds the model.

Metadata (string to string, structured values JSON-encoded):
  gantool.kind      "gan" (later kinds: "classifier", ...), or "checkpoint" for resumable state
  gantool.config    the architecture, enough to rebuild every network in the file
  gantool.data      image size, channels, normalization, class names, data set name
  gantool.training  a summary of how it was trained
  gantool.version   the gantool that wrote it
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from gantool import __version__
from gantool.errors import GantoolError
from gantool.fileio import atomic_path, reading

KIND_GAN = "gan"
KIND_CHECKPOINT = "checkpoint"
KINDS = (KIND_GAN, KIND_CHECKPOINT)
NORMALIZATION = "[-1, 1]: x / 127.5 - 1"
_MAX_HEADER = 100 * 1024 * 1024


@dataclass
class Header:
    """What a model file says about itself, read without loading any tensor."""

    path: str
    kind: str
    config: dict
    data: dict
    training: dict
    version: str
    tensors: dict[str, dict] = field(default_factory=dict)  # name -> {"dtype", "shape", "bytes"}
    extra: dict[str, str] = field(default_factory=dict)  # other metadata, e.g. resume state

    @property
    def num_tensors(self) -> int:
        return len(self.tensors)

    @property
    def num_bytes(self) -> int:
        return sum(t["bytes"] for t in self.tensors.values())

    def num_params(self, prefix: str) -> int:
        total = 0
        for name, t in self.tensors.items():
            if name.startswith(prefix):
                n = 1
                for d in t["shape"]:
                    n *= d
                total += n
        return total


def save(path, kind: str, tensors: dict, config: dict, data: dict, training: dict, extra: dict | None = None) -> None:
    """Write tensors and metadata atomically."""
    from safetensors.torch import save_file

    meta = {
        "gantool.kind": kind,
        "gantool.config": json.dumps(config, sort_keys=True),
        "gantool.data": json.dumps(data, sort_keys=True),
        "gantool.training": json.dumps(training, sort_keys=True),
        "gantool.version": __version__,
    }
    meta.update(extra or {})
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def parse_header(blob: bytes, name: str, file_size: int | None = None) -> Header:
    """Parse and check a safetensors header (format: u64 little-endian length, then JSON)."""
    size = len(blob) if file_size is None else file_size
    bad = f"{name} is not a safetensors model file"
    if len(blob) < 8:
        raise GantoolError(bad, "it is too short to hold a header")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise GantoolError(bad, "its header is missing or truncated")
    try:
        header = json.loads(blob[8 : 8 + n])
        meta = header.pop("__metadata__", None) or {}
        end = max((t["data_offsets"][1] for t in header.values()), default=0)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise GantoolError(bad, "its header is not valid safetensors JSON") from None
    if 8 + n + end > size:
        raise GantoolError(f"{name} is truncated", f"{size} bytes, the header promises {8 + n + end}")
    if "gantool.kind" not in meta:
        raise GantoolError(f"{name} has no gantool metadata", "it was not written by gantool")
    try:
        decoded = {k: json.loads(meta.get(f"gantool.{k}", "{}")) for k in ("config", "data", "training")}
    except ValueError:
        raise GantoolError(f"{name} has corrupt gantool metadata") from None
    tensors = {
        k: {"dtype": t["dtype"], "shape": list(t["shape"]), "bytes": t["data_offsets"][1] - t["data_offsets"][0]}
        for k, t in sorted(header.items())
    }
    extra = {k: v for k, v in meta.items() if not k.startswith("gantool.")}
    return Header(name, meta["gantool.kind"], decoded["config"], decoded["data"], decoded["training"],
                  meta.get("gantool.version", "?"), tensors, extra)


def read_header(path) -> Header:
    p = Path(path)
    with reading(path, "model file"):
        with open(p, "rb") as f:
            head = f.read(8)
            n = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
            blob = head + f.read(min(n, _MAX_HEADER))
        size = p.stat().st_size
    return parse_header(blob, str(path), size)


def expect_kind(header: Header, *kinds: str) -> None:
    if header.kind not in kinds:
        want = " or ".join(kinds)
        raise GantoolError(f"{header.path} holds a {header.kind} model, this command needs a {want}")


def load_tensors(path, header: Header, device="cpu") -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=str(device))
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise GantoolError(f"cannot load tensors from {header.path}: {e}") from None


def split_prefix(tensors: dict, prefix: str) -> dict:
    """The tensors under `prefix.`, with the prefix removed (a state dict)."""
    p = prefix + "."
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}


def with_prefix(state: dict, prefix: str) -> dict:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def load_gan(path, device="cpu", discriminator: bool = False):
    """Rebuild a GAN's generator (and optionally discriminator) from its file alone, in eval mode."""
    from gantool.models.dcgan import DCGANConfig, Discriminator, Generator

    header = read_header(path)
    expect_kind(header, KIND_GAN)
    cfg = DCGANConfig.from_dict(header.config)
    tensors = load_tensors(path, header, device)
    try:
        G = Generator(cfg).to(device)
        G.load_state_dict(split_prefix(tensors, "generator"))
        D = None
        if discriminator:
            D = Discriminator(cfg).to(device)
            D.load_state_dict(split_prefix(tensors, "discriminator"))
    except (RuntimeError, ValueError) as e:
        raise GantoolError(f"{header.path}: its tensors do not match its config", str(e).splitlines()[0]) from None
    G.eval()
    if D is not None:
        D.eval()
    return G, D, header
