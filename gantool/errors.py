"""Exit statuses and the errors that commands turn into one-line messages."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1
    USAGE = 2
    INTERRUPTED = 130


class GantoolError(Exception):
    """A failure the user can act on: printed as `gantool CMD: error: WHAT (HINT)`, exit 1."""

    exit_status = ExitStatus.ERROR

    def __init__(self, what: str, hint: str | None = None):
        super().__init__(what)
        self.what = what
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.what} ({self.hint})" if self.hint else self.what


class UsageError(GantoolError):
    """Bad options or arguments: exit 2."""

    exit_status = ExitStatus.USAGE


class Interrupted(GantoolError):
    """Ctrl-C after the command saved what it could: exit 130."""

    exit_status = ExitStatus.INTERRUPTED
