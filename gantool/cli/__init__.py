"""The `gantool` command line: one Typer app, one module per command, library work imported lazily.

`main(argv, env)` runs a command against an Env (streams and isatty flags) and returns the exit
status; every error becomes one line `gantool CMD: error: WHAT (HINT)` unless --debug.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Optional

import typer

from gantool import __version__
from gantool.cli import options as opt
from gantool.cli.info import info
from gantool.cli.sample import sample
from gantool.cli.train import train
from gantool.context import Env
from gantool.errors import ExitStatus, GantoolError

app = typer.Typer(
    name="gantool",
    help="Train GANs and look inside CNNs with composable commands that read and write files.",
    epilog="Results and binary data go to stdout, progress and errors to stderr. "
           "`gantool COMMAND --help` describes a command; `man gantool` the whole tool.",
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(ctx: typer.Context, value: bool) -> None:
    if value:
        env = ctx.obj if isinstance(ctx.obj, Env) else Env.from_sys()
        env.write_text(f"gantool {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    device: opt.Device = None,
    seed: opt.Seed = None,
    quiet: opt.Quiet = False,
    json: opt.Json = False,
    debug: opt.Debug = False,
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                           help="Print the version and exit."),
) -> None:
    env: Env = ctx.obj
    env.command = ctx.invoked_subcommand or ""
    opt.setup(ctx, device, seed, quiet, json, debug)


app.command(no_args_is_help=False)(train)
app.command()(sample)
app.command()(info)

COMMANDS = ("train", "sample", "info")


def _command_name(argv: list[str]) -> str:
    return next((a for a in argv if a in COMMANDS), "")


def main(argv: list[str] | None = None, env: Env | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = env or Env.from_sys()
    env.command = _command_name(argv)
    debug = os.environ.get("GANTOOL_DEBUG") == "1" or "--debug" in argv
    prefix = f"gantool {env.command}".rstrip()
    try:
        command = typer.main.get_command(app)
        result = command.main(argv, prog_name="gantool", obj=env, standalone_mode=False)
        return int(result) if isinstance(result, int) else ExitStatus.SUCCESS
    except typer.Abort:
        return ExitStatus.INTERRUPTED
    except GantoolError as e:
        if debug or env.options.debug:
            traceback.print_exc(file=env.stderr)
        print(f"{prefix}: error: {e}", file=env.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=env.stderr)
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        return _pipe_closed()
    except SystemExit as e:
        # click turns EPIPE into a silent sys.exit(1) before we see the BrokenPipeError
        if isinstance(e.__context__, BrokenPipeError):
            return _pipe_closed()
        raise
    except Exception as e:
        # Typer's (vendored or external) click exceptions: matched by shape, not by class
        if type(e).__name__ == "NoArgsIsHelpError":  # help was printed: a group called without arguments
            return ExitStatus.USAGE
        if hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int):
            hint = f" (see `{prefix} --help`)" if e.exit_code == ExitStatus.USAGE else ""
            print(f"{prefix}: error: {e.format_message()}{hint}", file=env.stderr)
            return e.exit_code
        # a bug or an unforeseen failure: still one line unless --debug
        if debug or env.options.debug:
            traceback.print_exc(file=env.stderr)
        else:
            print(f"{prefix}: error: {type(e).__name__}: {e} (rerun with --debug for the traceback)", file=env.stderr)
        return ExitStatus.ERROR


def _pipe_closed() -> int:
    """The reader went away (`| head`): end quietly, and keep Python from complaining at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests, embedding)
        pass
    return ExitStatus.SUCCESS


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
