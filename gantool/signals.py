"""Ctrl-C (SIGINT) and SIGTERM (`timeout`, batch schedulers, `docker stop`).

Outside long jobs (gantool.cli.app): both end the command with one line, exit 130 or 143; atomic
writes leave no half file. Inside a long job (training): the first signal is a request, the job
finishes its step, saves and stops; a second one stops it at once, except inside a `critical()`
section (a save), which it lets finish first, so the folder is always consistent.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt is for SIGINT."""


def _raise_terminated(signum, frame):
    raise Terminated()


def install_sigterm() -> None:
    """Turn SIGTERM into the Terminated exception, so `finally` blocks run and the command ends with one line."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


class StopFlag:
    """A stop request: which signal asked (SIGINT or SIGTERM), and how many times."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.count = 0
        self._critical = 0
        self._pending: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def terminated(self) -> bool:
        return self.signal == signal.SIGTERM

    def set(self, signum: int = signal.SIGINT) -> None:
        self.signal = self.signal or signum
        self.count += 1

    @contextmanager
    def critical(self):
        """A section a second signal must not cut in half: it is held until the section ends."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
            if not self._critical and self._pending is not None:
                self._pending = None
                self._hard_stop()

    def _hard_stop(self):
        raise Terminated() if self.terminated else KeyboardInterrupt()

    def _handler(self, signum, frame):
        self.set(signum)
        if self.count > 1:
            if self._critical:
                self._pending = signum
            else:
                self._hard_stop()


@contextmanager
def stop_on_signals(flag: StopFlag):
    """While inside, SIGINT and SIGTERM set `flag`; a second signal stops at once (see StopFlag)."""
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.signal(s, flag._handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
