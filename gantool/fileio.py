"""The one way files and streams are read and written: atomic writes, `-` for stdin/stdout,
refusal to put binary on a terminal, and `.npy` latents validated on the way in."""

from __future__ import annotations

import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from gantool.context import Env
from gantool.errors import GantoolError, UsageError

STDIO = "-"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one step.

    An interrupted or failed write leaves the old file (or none), never half of a new one.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise _cannot_write(target, e) from None
    os.close(fd)
    try:
        yield Path(tmp)
        try:
            os.replace(tmp, target)
        except OSError as e:
            raise _cannot_write(target, e) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cannot_write(target: Path, e: OSError) -> GantoolError:
    """A one-line error for an output path that cannot be written (a folder, under a file, read-only)."""
    if target.is_dir():
        return GantoolError(f"cannot write {target}: it is a folder", "give a file name")
    where = f" ({e.filename})" if e.filename and str(e.filename) != str(target) else ""
    return GantoolError(f"cannot write {target}: {e.strerror or e}{where}")


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def refuse_terminal(env: Env, what: str, option: str) -> None:
    if env.stdout_isatty:
        raise UsageError(
            f"refusing to write {what} to a terminal",
            f"use {option} FILE or pipe the output into another command",
        )


def write_output(env: Env, target: str, data: bytes, what: str, option: str) -> None:
    """Write `data` to file `target`, or to stdout when it is `-` (never to a terminal)."""
    if target == STDIO:
        refuse_terminal(env, what, option)
        env.stdout.write(data)
        env.stdout.flush()
    else:
        atomic_write(target, data)


def read_input(env: Env, source: str, what: str) -> bytes:
    """Read a file, or all of stdin when `source` is `-` (a pipe is not seekable)."""
    if source == STDIO:
        if env.stdin_isatty:
            raise UsageError(f"expected {what} on standard input, found a terminal", "pipe it in or give a file")
        return env.stdin.read()
    with reading(source):
        return Path(source).read_bytes()


@contextmanager
def reading(path, what: str = "file") -> Iterator[None]:
    """Turn the OS errors of reading `path` into one-line errors."""
    try:
        yield
    except FileNotFoundError:
        raise GantoolError(f"no such {what}: {path}") from None
    except IsADirectoryError:
        raise GantoolError(f"{path} is a folder, not a {what}") from None
    except OSError as e:
        raise GantoolError(f"cannot read {path}: {e.strerror}") from None


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def parse_latents(data: bytes, name: str, width: int | None = None) -> np.ndarray:
    """Parse `.npy` latents: float, shape (N, D), D == width when given. Returns float32."""
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise GantoolError(f"{name} holds Python objects, not numbers", "latents are float32 .npy arrays") from None
        raise GantoolError(f"{name} is not a .npy array: {e}") from None
    except Exception as e:  # numpy raises several types for truncated or foreign files
        raise GantoolError(f"{name} is not a readable .npy array ({type(e).__name__})") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number) or array.dtype.kind == "c":
        raise GantoolError(f"{name} holds {getattr(array, 'dtype', 'no')} values, not real numbers")
    if array.ndim != 2:
        raise GantoolError(f"{name} has shape {array.shape}, latents need shape (N, D)")
    if width is not None and array.shape[1] != width:
        raise GantoolError(f"{name} has {array.shape[1]} values per latent, the model takes {width}")
    if not np.isfinite(array).all():
        raise GantoolError(f"{name} contains NaN or infinite values")
    return array.astype(np.float32, copy=False)
