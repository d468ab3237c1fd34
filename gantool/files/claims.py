"""The paths one command reads and writes, so that no command writes over one of its own inputs and
no two of its outputs share a path (compared as `cp` does: the same inode, or the same resolved
path for a file not there yet).

Inputs are claimed where they are read (gantool.files.reading, the input lister of
gantool.data.inputs, the model loader); outputs where they are checked before any work
(gantool.files.writing.check_writable). Whichever comes second is refused, before any work, with a
UsageError naming both (exit 2). Devices, FIFOs, pipes and `-` are never claimed: writing
/dev/null twice loses nothing. `begin()` starts a command's claims afresh (gantool.cli.app.main).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from gantool.errors import UsageError


@dataclass
class _Claims:
    inputs: dict = field(default_factory=dict)  # identity -> (path, what)
    outputs: dict = field(default_factory=dict)  # identity -> (path, who)


_claims = _Claims()


def begin() -> None:
    """Forget the claims of the command before (one process may run several, as the tests do)."""
    global _claims
    _claims = _Claims()


def _identities(path) -> list | None:
    """What makes two paths the same file: its inode when it exists, and its resolved path; None
    for stdin/stdout, devices, FIFOs and sockets."""
    if path is None or str(path) == "-":
        return None
    p = Path(path)
    keys = [("path", os.path.realpath(p))]
    try:
        st = os.stat(p)
    except OSError:
        return keys
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return None
    return keys + [("inode", st.st_dev, st.st_ino)]


def _found(keys: list, table: dict):
    """What `table` holds under the first of `keys` it has, or None."""
    return next((table[key] for key in keys if key in table), None)


def _over_input(who: str, out, what: str, src) -> UsageError:
    return UsageError(f"{who} {out} is also an input ({what} {src})",
                      "gantool never writes over its inputs: name another output")


def claim_input(path, what: str = "input") -> None:
    """`path` is read by this command: refused when an output already claimed it."""
    keys = _identities(path)
    if keys is None:
        return
    if (output := _found(keys, _claims.outputs)) is not None:
        raise _over_input(output[1], output[0], what, path)
    for key in keys:
        _claims.inputs.setdefault(key, (str(path), what))


def claim_output(path, who: str) -> None:
    """`path` will be written by this command as `who` (an option and, for a folder's files, the
    file): refused when it is an input, or another output claimed it."""
    keys = _identities(path)
    if keys is None:
        return
    if (source := _found(keys, _claims.inputs)) is not None:
        raise _over_input(who, path, source[1], source[0])
    if (other := _found(keys, _claims.outputs)) is not None and other != (str(path), who):
        raise UsageError(f"{other[1]} {other[0]} and {who} {path} are the same file", "give each output its own path")
    for key in keys:
        _claims.outputs.setdefault(key, (str(path), who))
