"""Run a scikit-learn fit where Ctrl-C and SIGTERM still reach: in a forked child process.

liblinear and libsvm run in C without returning to Python, so a Python signal handler (the
KeyboardInterrupt of Ctrl-C, gantool.signals.Terminated for SIGTERM) would wait for the fit to end:
minutes, or forever for a C that never converges. A worker thread does not help either: the fit
releases the GIL, but the interpreter cannot stop the thread, and exiting while it runs crashes in
finalization (measured: a segmentation fault). A forked child can be stopped: the parent waits on a
pipe, where a signal interrupts it at once; the child is then killed and reaped.

What comes back is arrays and JSON (a safetensors blob), never a pickle. Where there is no fork
(Windows), the function runs in this process.
"""

from __future__ import annotations

import json
import os
import signal
from typing import Callable

import numpy as np

from gantool.errors import BadValue, GantoolError, UsageError

Arrays = dict[str, np.ndarray]


def _encode_error(e: BaseException) -> dict:
    if isinstance(e, BadValue):
        value = e.value if isinstance(e.value, (int, float, str, type(None))) else str(e.value)
        return {"kind": "bad", "field": e.field, "value": value, "why": e.why, "hint": e.hint}
    if isinstance(e, GantoolError):
        return {"kind": "usage" if isinstance(e, UsageError) else "error", "what": e.what, "hint": e.hint}
    return {"kind": "bug", "what": f"{type(e).__name__}: {e}"}


def _raise(spec: dict):
    if spec["kind"] == "bad":
        raise BadValue(spec["field"], spec["value"], spec["why"], spec["hint"])
    if spec["kind"] == "usage":
        raise UsageError(spec["what"], spec["hint"])
    if spec["kind"] == "error":
        raise GantoolError(spec["what"], spec["hint"])
    raise RuntimeError(spec["what"])


def _child(fn: Callable, args: tuple, fd: int) -> None:
    """In the child: run, write the result (or the error) to `fd`, and leave without cleanup."""
    from safetensors.numpy import save

    code = 0
    try:
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_DFL)  # the parent decides; a signal to the group ends the child now
        try:
            arrays, meta = fn(*args)
            blob = b"k" + save({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                               metadata={"meta": json.dumps(meta)})
        except Exception as e:  # noqa: BLE001 - carried to the parent, which raises it
            blob = b"e" + json.dumps(_encode_error(e)).encode()
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        code = 1
    finally:
        os._exit(code)


def call(fn: Callable[..., tuple[Arrays, dict]], *args) -> tuple[Arrays, dict]:
    """`fn(*args)` -> (arrays, JSON-able dict), run in a forked child that a signal to this process
    stops at once (KeyboardInterrupt or Terminated is raised here, the child killed)."""
    if not hasattr(os, "fork"):
        return fn(*args)
    from safetensors.numpy import load

    from gantool.signals import Terminated

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(fn, args, write_fd)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as f:
            blob = f.read()  # a signal interrupts this wait (PEP 475: its handler runs and raises)
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:  # interrupted: stop the child now
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
    if not blob:
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT:
            raise KeyboardInterrupt
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM:
            raise Terminated
        raise GantoolError(f"the scikit-learn fit ended without a result (status {status})",
                           "it may have run out of memory")
    if blob[:1] == b"e":
        _raise(json.loads(blob[1:]))
    arrays = load(blob[1:])
    header_len = int.from_bytes(blob[1:9], "little")
    meta = json.loads(json.loads(blob[9:9 + header_len])["__metadata__"]["meta"])  # safetensors' header
    return arrays, meta
