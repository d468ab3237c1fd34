"""The `gantool` Typer app: the commands (one module each, registered by COMMANDS) and `main`, which
runs a command against an Env and turns every failure into one line and an exit status."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
import warnings

import typer

from gantool import __version__
from gantool.cli import kit
from gantool.context import Env
from gantool.errors import ExitStatus, GantoolError
from gantool.files import claims

# Adding a command: a module gantool/cli/NAME.py defining NAME(env, ...) with @kit.command, and its
# name here (a module name; `extract_features` becomes the command `extract-features`).
COMMANDS = ("train", "sample", "interpolate", "arithmetic", "invert", "restore", "train_encoder", "train_classifier",
            "classify", "layers", "saliency", "adversarial", "visualize_class", "extract_features", "svm", "evaluate", "compare", "train_pix2pix", "train_cyclegan", "translate", "blend", "info")

app = typer.Typer(
    name="gantool",
    help="Train GANs and look inside CNNs with composable commands that read and write files.",
    epilog="Results and binary data go to stdout, progress and errors to stderr. "
           "`gantool COMMAND --help` describes a command; `man gantool` the whole tool "
           "(after `make install-man`, or `man -l man/gantool.1` in the source tree).",
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


def root(ctx: typer.Context, version: bool = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."), **globals_) -> None:
    """Global options before the command name."""
    env: Env = ctx.obj
    env.command = ctx.invoked_subcommand or ""
    kit.merge_globals(env, globals_)


root.__signature__ = inspect.Signature([*list(inspect.signature(root).parameters.values())[:2],
                                        *kit.global_params()])
app.callback()(root)


def command_name(module: str) -> str:
    return module.replace("_", "-")


for _module in COMMANDS:
    _fn = getattr(importlib.import_module(f"gantool.cli.{_module}"), _module)
    app.command(command_name(_module), no_args_is_help=_fn.no_args_is_help)(_fn)


def _command_name(argv: list[str]) -> str:
    names = {command_name(m) for m in COMMANDS}
    return next((a for a in argv if a in names), "")


def main(argv: list[str] | None = None, env: Env | None = None) -> int:
    """Run one command line against `env` (the process's streams by default): its exit status."""
    claims.begin()
    try:
        return _run(argv, env)
    finally:
        claims.begin()  # an in-process caller (the tests, a program embedding gantool) starts the next one clean


def _run(argv: list[str] | None, env: Env | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = env or Env.from_sys()
    env.command = _command_name(argv)
    debug = os.environ.get("GANTOOL_DEBUG") == "1" or "--debug" in argv
    prefix = f"gantool {env.command}".rstrip()
    from gantool.signals import Terminated, install_sigterm

    install_sigterm()

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if not env.options.quiet:  # -q: errors only
            text = " ".join(str(message).split())
            print(f"{prefix}: warning: {text}", file=env.stderr, flush=True)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning  # library warnings (torch, Pillow) as one line each
            command = typer.main.get_command(app)
            result = command.main(argv, prog_name="gantool", obj=env, standalone_mode=False)
        if result == ExitStatus.INTERRUPTED:  # Typer turns a KeyboardInterrupt into a silent 130
            print(f"{prefix}: interrupted", file=env.stderr)
        return int(result) if isinstance(result, int) else ExitStatus.SUCCESS
    except typer.Abort:  # click turns Ctrl-C while it parses into Abort
        print(f"{prefix}: interrupted", file=env.stderr)
        return ExitStatus.INTERRUPTED
    except GantoolError as e:
        if e.shown_elsewhere:  # another process of the same run (torchrun) says it
            return e.exit_status
        if debug or env.options.debug:
            traceback.print_exc(file=env.stderr)
        print(f"{prefix}: error: {e}", file=env.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=env.stderr)
        return ExitStatus.INTERRUPTED
    except Terminated:
        print(f"{prefix}: terminated", file=env.stderr)
        return ExitStatus.TERMINATED
    except BrokenPipeError:
        return _pipe_closed()
    except SystemExit as e:
        # click turns EPIPE into a silent sys.exit(1) before we see the BrokenPipeError
        if isinstance(e.__context__, BrokenPipeError):
            return _pipe_closed()
        raise
    except OSError as e:  # a system failure no library code foresaw: still one line naming the file
        if debug or env.options.debug:
            traceback.print_exc(file=env.stderr)
        where = f"{e.filename}: " if e.filename else ""
        print(f"{prefix}: error: {where}{e.strerror or e}", file=env.stderr)
        return ExitStatus.ERROR
    except Exception as e:
        return _other_failure(e, env, prefix, debug or env.options.debug)


def _other_failure(e: Exception, env: Env, prefix: str, debug: bool) -> int:
    """Typer's (vendored or external) click exceptions, matched by shape, not by class; else a bug or
    an unforeseen failure: still one line unless --debug."""
    if type(e).__name__ == "NoArgsIsHelpError":  # help was printed: a group called without arguments
        return ExitStatus.USAGE
    if hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int):
        hint = f" (see `{prefix} --help`)" if e.exit_code == ExitStatus.USAGE else ""
        message = " ".join(e.format_message().split())
        print(f"{prefix}: error: {message}{hint}", file=env.stderr)
        return e.exit_code
    if debug:
        traceback.print_exc(file=env.stderr)
    else:
        print(f"{prefix}: error: {type(e).__name__}: {e} (rerun with --debug for the traceback)", file=env.stderr)
    return ExitStatus.ERROR


def _pipe_closed() -> int:
    """The reader went away (`| head`): end quietly, with the status of a process that SIGPIPE
    stopped (141, as `yes | head` gives: `set -o pipefail` sees the output was cut short), and keep
    Python from complaining at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests, embedding)
        pass
    return ExitStatus.PIPE_CLOSED
