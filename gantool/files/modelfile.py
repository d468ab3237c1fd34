"""gantool's `.safetensors` files: tensors prefixed by role, and header metadata that rebuilds the model.

Metadata (string to string, structured values JSON-encoded objects):
  gantool.kind      "gan" (later kinds: "classifier", ...), or "checkpoint" for resumable state
  gantool.config    the architecture: `arch` (a name in gantool.models) and its settings, enough
                    to rebuild every network in the file (0.1.0 wrote no `arch`: a DCGAN)
  gantool.data      image size, channels, normalization, class names, data set name
  gantool.training  a summary of how it was trained
  gantool.version   the gantool that wrote it

This module reads and writes the format; gantool.models.loader builds networks from it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from gantool.words import article
from gantool import __version__
from gantool.errors import GantoolError
from gantool.files.reading import reading
from gantool.files.writing import atomic_path

KIND_GAN = "gan"
KIND_CHECKPOINT = "checkpoint"
_MAX_HEADER = 100 * 1024 * 1024
_CHUNK = 1 << 20


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
        tensors = {k: {"dtype": str(t["dtype"]), "shape": [int(d) for d in t["shape"]],
                       "bytes": int(t["data_offsets"][1]) - int(t["data_offsets"][0])}
                   for k, t in sorted(header.items())}
        end = max((int(t["data_offsets"][1]) for t in header.values()), default=0)
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise TypeError
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        raise GantoolError(bad, "its header is not valid safetensors JSON") from None
    if 8 + n + end > size:
        raise GantoolError(f"{name} is truncated", f"{size} bytes, the header promises {8 + n + end}")
    if "gantool.kind" not in meta:
        raise GantoolError(f"{name} has no gantool metadata", "it was not written by gantool")
    decoded = {}
    for key in ("config", "data", "training"):
        try:
            decoded[key] = json.loads(meta.get(f"gantool.{key}", "{}"))
        except ValueError:
            decoded[key] = None
        if not isinstance(decoded[key], dict):
            raise GantoolError(f"{name} has corrupt gantool metadata", f"gantool.{key} is not a JSON object")
    extra = {k: v for k, v in meta.items() if not k.startswith("gantool.")}
    return Header(name, meta["gantool.kind"], decoded["config"], decoded["data"], decoded["training"],
                  meta.get("gantool.version", "?"), tensors, extra)


def read_header(path) -> Header:
    """The header of a model file, reading only its first bytes."""
    with reading(path, "model file"):
        with open(path, "rb") as f:
            blob = _read_head(f)
            size = Path(path).stat().st_size
    return parse_header(blob, str(path), size)


def read_header_stream(stream, name: str) -> Header:
    """The header of a model file on a stream (stdin): the header is parsed, the tensors are only
    counted (to tell a truncated file), never held in memory."""
    blob = _read_head(stream)
    size = len(blob)
    if len(blob) >= 8 and 8 + struct.unpack("<Q", blob[:8])[0] == len(blob):
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
    return parse_header(blob, name, size)


def _read_head(f) -> bytes:
    head = f.read(8)
    n = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
    return head + (f.read(n) if n <= _MAX_HEADER else b"")


def expect_kind(header: Header, *kinds: str) -> None:
    if header.kind not in kinds:
        want = " or ".join(kinds)
        raise GantoolError(f"{header.path} holds {article(header.kind)} model, this command needs {article(want)}")


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
