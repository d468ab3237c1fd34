"""Exit statuses and the errors that commands turn into one-line messages.

The exit-status rule (docs/architecture.md):
  2  the command line asks for something that cannot be done: an unknown option, a missing
     argument, a value out of range or not among the choices, options that contradict each other
     or the model or run they apply to (--class on an unconditional model, --resume with another
     --lr-g or other data), a terminal where a pipe is needed.
  1  an input cannot be read or holds the wrong contents (a damaged model, latents of the wrong
     width, an image that does not decode), the machine cannot serve the request (no CUDA, disk
     full, permission denied), or training diverged.
  130 / 143  stopped by Ctrl-C / SIGTERM (training saves a checkpoint first).

Library code raises GantoolError (1) or BadValue (a domain error naming a setting by its field
name, 2); the CLI turns a BadValue's field into the flag the user typed.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1
    USAGE = 2
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM


class GantoolError(Exception):
    """A failure the user can act on: printed as `gantool CMD: error: WHAT (HINT)`, exit 1."""

    exit_status = ExitStatus.ERROR
    shown_elsewhere = False  # True: another process of the same run (torchrun) prints it; exit quietly

    def __init__(self, what: str, hint: str | None = None):
        super().__init__(what)
        self.what = what
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.what} ({self.hint})" if self.hint else self.what


class UsageError(GantoolError):
    """The command line asks for something that cannot be done: exit 2."""

    exit_status = ExitStatus.USAGE


class BadValue(UsageError):
    """A setting's value cannot be used. `field` is the library's name for it (`lr_g`); the CLI
    shows the flag (`--lr-g`). `why` may name other settings as `{field}`, shown the same way."""

    def __init__(self, field: str, value, why: str, hint: str | None = None):
        self.field, self.value, self.why = field, value, why
        super().__init__("", hint)
        self.named(lambda name: name)

    def named(self, flag_of) -> "BadValue":
        """Name the settings as the user wrote them: `flag_of(field)` -> "--lr-g"."""

        class _Names(dict):
            def __missing__(self, key):
                return flag_of(key)

        flag, why = flag_of(self.field), self.why.format_map(_Names())
        self.what = f"{flag} {self.value}: {why}" if self.value is not None else f"{flag}: {why}"
        self.args = (self.what,)
        return self


class Stopped(GantoolError):
    """A signal stopped the command after it saved what it could: exit 130 (Ctrl-C) or 143 (SIGTERM)."""

    def __init__(self, what: str, hint: str | None = None, terminated: bool = False):
        super().__init__(what, hint)
        self.exit_status = ExitStatus.TERMINATED if terminated else ExitStatus.INTERRUPTED

