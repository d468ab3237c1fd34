"""The one way outputs are written.

- A regular file (new or existing) is written to a temporary file beside it and moved into place
  in one step, so an interrupted command leaves the old file or the new one, never half of one.
  A new file gets the user's umask; a replaced file keeps its mode.
- A symlink is followed: its target is written, the link stays a link.
- Devices, FIFOs, sockets, `/dev/stdout` and process substitution (`>(cmd)`) are written through,
  never replaced.
- `-` is stdout, never a terminal for binary data.
- `check_writable` runs before the expensive work, so a refusal leaves nothing half done.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from gantool.context import Env
from gantool.errors import GantoolError, UsageError, flag

STDIO = "-"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _is_special(p: Path) -> bool:
    """An existing path that is not, or does not lead to, a regular file or a folder: a device, a
    FIFO, a socket, or a pipe (`/dev/stdout`, `/dev/fd/63` from process substitution)."""
    try:
        mode = os.stat(p).st_mode  # follows links
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _target(path: str | os.PathLike) -> Path:
    """Where writing `path` lands: the path itself for special files (opened through any link),
    a symlink's resolved target for regular files (the link stays a link), else the path."""
    p = Path(path)
    if _is_special(p) or not p.is_symlink():
        return p
    return Path(os.path.realpath(p))


def cannot_write(target: Path, e: OSError) -> GantoolError:
    """A one-line error for an output that cannot be written (a folder, under a file, read-only, disk full)."""
    if target.is_dir():
        return GantoolError(f"cannot write {target}: it is a folder", "give a file name")
    other = e.filename and str(e.filename) != str(target) and not Path(e.filename).name.startswith(f".{target.name}.")
    where = f" ({e.filename})" if other else ""  # the folder in the way, not our temporary file
    return GantoolError(f"cannot write {target}: {e.strerror or e}{where}")


# what an output holds -> the file name endings that say so (an `-o x.jpg` given PNG bytes is refused)
SUFFIXES = {"png": (".png",), "npy": (".npy",), "npz": (".npz",), "safetensors": (".safetensors",),
            "animation": (".gif", ".webp"), "html": (".html", ".htm")}


def check_writable(path: str | os.PathLike, who: str | None = None, holds: str | None = None) -> None:
    """Refuse now, before any work, an output path that cannot be written: a folder, a file in a
    folder that does not exist (an output's parents are never created: a typo or a dangling link
    would make folders anywhere), a name whose ending contradicts what it `holds` (a SUFFIXES key).
    With `who` (the option that names it), the path is claimed: it may be neither an input of this
    command nor another of its outputs (gantool.files.claims)."""
    target = _target(path)
    if target.is_dir():
        raise GantoolError(f"cannot write {target}: it is a folder", "give a file name")
    if _is_special(target):
        if not os.access(target, os.W_OK):
            raise GantoolError(f"cannot write {target}: permission denied")
        return
    if holds is not None and Path(path).suffix and Path(path).suffix.lower() not in SUFFIXES[holds]:
        raise UsageError(f"{who or 'output'} {path}: this output is {SUFFIXES[holds][0].lstrip('.')} data, not "
                         f"{Path(path).suffix.lstrip('.')}", f"name it {Path(path).stem}{SUFFIXES[holds][0]}")
    parent = target.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise GantoolError(f"cannot write {path}: {parent} {what}", "create the folder first")
    check_folder_writable(parent)
    if who is not None:
        from gantool.files.claims import claim_output

        claim_output(path, who)


def check_folder_writable(folder: str | os.PathLike) -> None:
    """A folder that exists and can take new files, or that can be created."""
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise GantoolError(f"cannot write in {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise GantoolError(f"cannot write in {folder}: permission denied" if probe == folder
                           else f"cannot create {folder}: {probe} is not writable")


@contextmanager
def open_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary stream onto `path` that lands whole (regular files) or is written through (devices, pipes)."""
    target = _target(path)
    if _is_special(target):
        try:
            with open(target, "wb") as f:
                yield f
        except OSError as e:
            raise cannot_write(target, e) from None
        return
    with atomic_path(target) as tmp:
        try:
            with open(tmp, "wb") as f:
                yield f
        except OSError as e:
            raise cannot_write(target, e) from None


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path for a writer that wants a file name (safetensors); on success the
    result replaces `path` in one step, or is copied through to a device, FIFO or pipe."""
    target = _target(path)
    special = _is_special(target)
    folder = Path(tempfile.gettempdir()) if special else target.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as e:
        raise cannot_write(target, e) from None
    tmp = Path(tmp)
    try:
        yield tmp
        try:
            if special:
                with open(tmp, "rb") as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                tmp.unlink()
            else:
                try:
                    mode = stat.S_IMODE(target.stat().st_mode)  # a replaced file keeps its mode
                except FileNotFoundError:
                    mode = 0o666 & ~_umask()  # a new file gets the user's umask (mkstemp made it 0600)
                os.chmod(tmp, mode)
                os.replace(tmp, target)
        except OSError as e:
            raise cannot_write(target, e) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    with open_output(path) as f:
        f.write(data)


def write_in(folder: str | os.PathLike, name: str, data: bytes) -> None:
    """One file of a folder output (--out-dir, a run folder): the folder is made when missing."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cannot_write(folder, e) from None
    atomic_write(folder / name, data)


def refuse_terminal(env: Env, what: str, option: str) -> None:
    if env.stdout_isatty:
        raise UsageError(f"refusing to write {what} to a terminal",
                         f"use {option} FILE or pipe the output into another command")


def write_output(env: Env, target: str, data: bytes, what: str, option: str) -> None:
    """Write `data` to file `target`, or to stdout when it is `-` (never to a terminal)."""
    with output(env, target, what, option) as f:
        f.write(data)


@contextmanager
def output(env: Env, target: str, what: str, option: str) -> Iterator[BinaryIO]:
    """A binary stream onto file `target`, or onto stdout when it is `-` (never a terminal)."""
    if target == STDIO:
        refuse_terminal(env, what, option)
        yield env.stdout
        env.stdout.flush()
    else:
        with open_output(target) as f:
            yield f


def write_latents(env: Env, target: str, latents: np.ndarray, option: str = flag("latents")) -> None:
    """Latent rows (N, D) as float32 .npy to file `target` or stdout (`-`)."""
    with output(env, target, ".npy latents", option) as f:
        NpyWriter(f, *latents.shape).write(latents)


def safe_name(name: str, fallback: str = "image") -> str:
    """A name fit for a file name (class names, image names in --out-dir)."""
    import re

    return re.sub(r"[^\w.\[\]-]+", "_", name).strip("._") or fallback


class NpyWriter:
    """A float32 (N, D) `.npy` written row chunk by row chunk: the header first (N is known), then
    the rows, so a large array never has to sit in memory."""

    def __init__(self, stream: BinaryIO, rows: int, width: int):
        self.stream, self.rows, self.width, self.written = stream, rows, width, 0
        np.lib.format.write_array_header_1_0(
            stream, {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
                     "shape": (rows, width)})

    def write(self, chunk: np.ndarray) -> None:
        chunk = np.ascontiguousarray(chunk, dtype="<f4")
        assert chunk.ndim == 2 and chunk.shape[1] == self.width and self.written + len(chunk) <= self.rows
        self.stream.write(chunk.tobytes())
        self.written += len(chunk)
