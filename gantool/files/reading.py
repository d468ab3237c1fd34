"""The one way inputs are read: files or `-` for stdin, OS errors as one-line errors, and `.npy`
latents validated on the way in."""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from gantool.context import Env
from gantool.errors import GantoolError, UsageError
from gantool.files.claims import claim_input
from gantool.files.writing import STDIO


def stdin_stream(env: Env, what: str) -> BinaryIO:
    """stdin for reading `what`; a terminal there is a usage error (exit 2)."""
    if env.stdin_isatty:
        raise UsageError(f"expected {what} on standard input, found a terminal", "pipe it in or give a file")
    return env.stdin


def read_input(env: Env, source: str, what: str) -> bytes:
    """Read a file, or all of stdin when `source` is `-` (a pipe is not seekable)."""
    if source == STDIO:
        return stdin_stream(env, what).read()
    with reading(source, what):
        return Path(source).read_bytes()


@contextmanager
def reading(path, what: str = "file") -> Iterator[None]:
    """Turn the OS errors of reading `path` into one-line errors; `path` is claimed as an input of
    this command (gantool.files.claims: no output of it may be the same file)."""
    claim_input(path, what)
    try:
        yield
    except FileNotFoundError:
        raise GantoolError(f"no such {what}: {path}") from None
    except IsADirectoryError:
        raise GantoolError(f"{path} is a folder, not a {what}") from None
    except NotADirectoryError:
        raise GantoolError(f"no such {what}: {path} (a part of the path is a file)") from None
    except PermissionError:
        raise GantoolError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise GantoolError(f"cannot read {path}: {e.strerror or e}") from None


def parse_latents(data: bytes, name: str, width: int | None = None) -> np.ndarray:
    """Parse `.npy` latents: float, shape (N, D), D == width when given. Returns float32."""
    if not data.startswith(b"\x93NUMPY"):  # numpy would take a PNG or text for a pickle
        what = "a PNG image" if data.startswith(b"\x89PNG") else "not a .npy file"
        raise GantoolError(f"{name} is {what}, not latents" if what.startswith("a ") else f"{name} is {what}",
                           "latents are float32 .npy arrays, one row per image")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise GantoolError(f"{name} holds Python objects, not numbers", "latents are float32 .npy arrays") from None
        raise GantoolError(f"{name} is not a .npy array ({e})") from None

    except Exception as e:  # numpy raises several types for truncated or foreign files
        raise GantoolError(f"{name} is not a readable .npy array ({type(e).__name__})") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number) or array.dtype.kind == "c":
        raise GantoolError(f"{name} holds {getattr(array, 'dtype', 'no')} values, not real numbers")
    if array.ndim != 2:
        raise GantoolError(f"{name} has shape {array.shape}, latents need shape (N, D)")
    if array.shape[0] == 0:
        raise GantoolError(f"{name} holds no latents")
    if width is not None and array.shape[1] != width:
        raise GantoolError(f"{name} has {array.shape[1]} values per latent, the model takes {width}")
    if not np.isfinite(array).all():
        raise GantoolError(f"{name} contains NaN or infinite values")
    return array.astype(np.float32, copy=False)


def read_latents(env: Env, source: str, width: int | None = None) -> np.ndarray:
    """Latents from a `.npy` file or `-` (stdin), checked against the model's latent width."""
    name = "<stdin>" if source == STDIO else str(source)
    return parse_latents(read_input(env, source, ".npy latents"), name, width)
