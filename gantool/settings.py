"""Settings written once: a dataclass field carries its default, range, choices and help.

    lr_g: float = setting(4e-4, "Generator learning rate.", "Loss and optimiser", gt=0)

The library checks values with `check(obj)` (BadValue naming the field); the CLI builds its
options from the same fields (gantool.cli.kit.options_from), so a default, a range, a list of
choices or a help text is never written twice. Torch-free: --help reads it.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from gantool.errors import BadValue


@dataclass(frozen=True)
class Setting:
    help: str
    panel: str = "Options"
    ge: float | None = None  # value >= ge
    gt: float | None = None  # value > gt
    le: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] | None = None
    names: tuple[str, ...] = ()  # extra option names, e.g. ("-e",)
    flag: str | None = None  # a boolean's "--on/--off" pair (default: "--name/--no-name")
    default_help: str | None = None  # how --help shows the default when the value alone says too little

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed, or None."""
        if value is None:
            return None
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                return "must be a finite number"
            for bound, ok, words in ((self.ge, lambda b: value >= b, "at least"), (self.gt, lambda b: value > b, "more than"),
                                     (self.le, lambda b: value <= b, "at most"), (self.lt, lambda b: value < b, "less than")):
                if bound is not None and not ok(bound):
                    return f"must be {words} {_num(bound)}"
        return None


def setting(default: Any, help: str, panel: str = "Options", **kw) -> Any:
    """A dataclass field with its Setting in the metadata."""
    return field(default=default, metadata={"setting": Setting(help, panel, **kw)})


def settings_of(cls) -> list[tuple[str, Setting, Any, type]]:
    """(name, Setting, default, type) for each field of `cls` that is a setting, in order."""
    out = []
    for f in fields(cls):
        s = f.metadata.get("setting")
        if s is not None:
            out.append((f.name, s, None if f.default is MISSING else f.default, f.type))
    return out


def check(obj) -> None:
    """BadValue for the first setting of `obj` whose value is not allowed."""
    for name, s, _, _ in settings_of(type(obj)):
        why = s.problem(getattr(obj, name))
        if why:
            raise BadValue(name, getattr(obj, name), why)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
