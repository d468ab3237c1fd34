"""Ctrl-C as a request: long jobs finish the current step, save, then stop (exit 130)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class StopFlag:
    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True


@contextmanager
def stop_on_sigint(flag: StopFlag):
    """The first Ctrl-C sets `flag`; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
