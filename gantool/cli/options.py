"""Option types shared by every command, and the step that merges a command's global options
with those given before the command name (`gantool --seed 1 train` == `gantool train --seed 1`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.context import Env
from gantool.device import DEVICE_HELP

GLOBAL = "Global options"

Device = Annotated[Optional[str], typer.Option("--device", envvar="GANTOOL_DEVICE", metavar="DEVICE",
                                               help=f"Where to compute: {DEVICE_HELP} (env GANTOOL_DEVICE; default auto).",
                                               rich_help_panel=GLOBAL, show_default=False)]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Random seed; the same seed gives the same result.",
                                             rich_help_panel=GLOBAL, show_default=False)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or status lines on stderr.",
                                     rich_help_panel=GLOBAL, show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.",
                                    rich_help_panel=GLOBAL, show_default=False)]
Debug = Annotated[bool, typer.Option("--debug", help="Show full tracebacks (env GANTOOL_DEBUG=1).",
                                     rich_help_panel=GLOBAL, show_default=False)]


def setup(ctx: typer.Context, device: str | None, seed: int | None, quiet: bool, json: bool, debug: bool) -> Env:
    """The Env of this run, its options merged: those after the command name win."""
    env: Env = ctx.obj
    o = env.options
    o.device = device or o.device
    o.seed = seed if seed is not None else o.seed
    o.quiet, o.json, o.debug = o.quiet or quiet, o.json or json, o.debug or debug
    return env


def print_json(env: Env, obj) -> None:
    import json as _json

    env.write_text(_json.dumps(obj, indent=2, sort_keys=True) + "\n")
