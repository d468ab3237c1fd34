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
  141  the reader of stdout went away (`gantool sample | head -c 100`): the command ends quietly.

Library code raises GantoolError (1) or BadValue (a domain error naming a setting by its field
name, 2); the CLI turns a BadValue's field, and any setting a message marks with `flag(field)`,
into the flag the user typed. No library message writes a flag itself.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1
    USAGE = 2
    INTERRUPTED = 130  # 128 + SIGINT
    PIPE_CLOSED = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head`); nothing is printed
    TERMINATED = 143  # 128 + SIGTERM


_MARK = "\x1f"


def flag(field: str) -> str:
    """A setting named inside a library message: `flag("lr_g")` is shown as the flag the user
    typed (`--lr-g`) once the CLI names it (GantoolError.named), as `--lr-g` otherwise. The library
    never writes a flag itself (a test checks it)."""
    return f"{_MARK}{field}{_MARK}"


def _default_flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _name_fields(text: str | None, flag_of) -> str | None:
    if not text or _MARK not in text:
        return text
    parts = text.split(_MARK)
    return "".join(flag_of(p) if i % 2 else p for i, p in enumerate(parts))


class GantoolError(Exception):
    """A failure the user can act on: printed as `gantool CMD: error: WHAT (HINT)`, exit 1."""

    exit_status = ExitStatus.ERROR
    shown_elsewhere = False  # True: another process of the same run (torchrun) prints it; exit quietly

    def __init__(self, what: str, hint: str | None = None):
        super().__init__(what)
        self.what = what
        self.hint = hint

    def named(self, flag_of) -> "GantoolError":
        """Show the settings that `flag()` marked as the user typed them: `flag_of(field)` -> "--lr-g"."""
        self.what, self.hint = _name_fields(self.what, flag_of), _name_fields(self.hint, flag_of)
        self.args = (self.what,)
        return self

    def __str__(self) -> str:
        what, hint = _name_fields(self.what, _default_flag), _name_fields(self.hint, _default_flag)
        return f"{what} ({hint})" if hint else what


class UsageError(GantoolError):
    """The command line asks for something that cannot be done: exit 2."""

    exit_status = ExitStatus.USAGE


class BadValue(UsageError):
    """A setting's value cannot be used. `field` is the library's name for it (`lr_g`); the CLI
    shows the flag (`--lr-g`). `why` may name other settings as `{field}`, shown the same way."""

    def __init__(self, field: str, value, why: str, hint: str | None = None):
        self.field, self.value, self.why = field, value, why
        super().__init__("", hint)
        self._say(lambda name: name)

    def named(self, flag_of) -> "BadValue":
        self._say(flag_of)
        self.hint = _name_fields(self.hint, flag_of)
        return self

    def _say(self, flag_of) -> None:
        """Name the settings as the user wrote them: `flag_of(field)` -> "--lr-g"."""

        class _Names(dict):
            def __missing__(self, key):
                return flag_of(key)

        shown, why = flag_of(self.field), self.why.format_map(_Names())
        self.what = f"{shown} {self.value}: {why}" if self.value is not None else f"{shown}: {why}"
        self.args = (self.what,)


class Stopped(GantoolError):
    """A signal stopped the command after it saved what it could: exit 130 (Ctrl-C) or 143 (SIGTERM)."""

    def __init__(self, what: str, hint: str | None = None, terminated: bool = False):
        super().__init__(what, hint)
        self.exit_status = ExitStatus.TERMINATED if terminated else ExitStatus.INTERRUPTED

