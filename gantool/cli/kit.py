"""The command kit: what every command shares, declared once.

- `@command(...)` turns `def NAME(env, ...)` into a Typer command: it adds the global options
  (GLOBALS) to its signature, merges them with those given before the command name, resolves their
  environment variables (an option given anywhere on the line beats its variable), sets up the
  Env, and calls the function with it. With `settings={"spec": TrainSpec}`, the options of a
  settings dataclass (gantool.settings) are added too and arrive as a dict of the values given.
- Shared option types (Model, LatentsIn, Output, ...) and `load_generator`.
- A library BadValue names a field (`lr_g`); `flag_for` turns it into the flag (`--lr-g`).

A command module defines the command function (named after the module), and for its man page
EXAMPLES, and optionally FILES and ENVIRONMENT; gantool.cli.app registers it with one line.
"""

from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Optional, get_type_hints

import typer

from gantool.context import Env
from gantool.data.builtin import BUILTIN
from gantool.device import DEVICE_CHOICES, DEVICE_HELP
from gantool.errors import GantoolError, UsageError
from gantool.words import article, plural  # noqa: F401 (kit.plural and kit.article, for the commands)

GLOBAL_PANEL = "Global options"
DEFAULT_SEED = 0  # every command is seeded: the same command line gives the same result
MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's range


@dataclass(frozen=True)
class Global:
    """A global option: accepted before or after the command name; `env` is its variable."""

    name: str
    decls: tuple[str, ...]
    type: Any
    help: str
    env: str | None = None


GLOBALS = (
    Global("device", ("--device",), Optional[str], f"Where to compute: {DEVICE_HELP} (default auto).", "GANTOOL_DEVICE"),
    Global("seed", ("--seed",), Optional[int], f"Random seed, 0 to {MAX_SEED} (default {DEFAULT_SEED}): the same seed "
           "gives the same result."),
    Global("threads", ("--threads",), Optional[int], "CPU threads for torch (default: every core this process may "
           "use); lower it when several gantool processes share a machine.", "GANTOOL_THREADS"),
    Global("quiet", ("--quiet", "-q"), bool, "No progress or status lines on stderr."),
    Global("json", ("--json",), bool, "Print the result as JSON on stdout."),
    Global("debug", ("--debug",), bool, "Show full tracebacks.", "GANTOOL_DEBUG"),
)

# Values shell completion offers for options that are neither choices nor numbers:
# long flag -> (values, also complete file names)
COMPLETE = {
    "--device": (DEVICE_CHOICES, False),
    "--data": (BUILTIN, True),
    "--data-a": (BUILTIN, True),
    "--data-b": (BUILTIN, True),
    "--adapt": (BUILTIN, True),
    "--class": ((), False),  # class names live in the model file
    "--mask": (("center", "random:0.5"), True),
    "--C": ((), False),  # numbers, comma-separated
    "--layer": ((), False),  # layer names: `gantool layers MODEL` lists them
    "--epoch": ((), False),  # epoch numbers, comma-separated
}


def _global_param(g: Global, default=None) -> inspect.Parameter:
    env = f" (env {g.env})" if g.env and g.env != "GANTOOL_DEBUG" else " (env GANTOOL_DEBUG=1)" if g.env else ""
    option = typer.Option(*g.decls, help=g.help + env, rich_help_panel=GLOBAL_PANEL, show_default=False,
                          metavar=g.name.upper() if g.type is not bool else None)
    return inspect.Parameter(g.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[g.type, option],
                             default=False if g.type is bool else default)


def global_params() -> list[inspect.Parameter]:
    return [_global_param(g) for g in GLOBALS]


def merge_globals(env: Env, values: dict) -> None:
    """Fold the global options given at one place on the line into env.options: a value given
    after the command name replaces one given before it; flags add up."""
    o = env.options
    for g in GLOBALS:
        v = values.get(g.name)
        if g.type is bool:
            setattr(o, g.name, getattr(o, g.name) or bool(v))
        elif v is not None:
            setattr(o, g.name, v)
            o.explicit.add(g.name)


def resolve_environment(env: Env) -> None:
    """Environment variables for the global options not given on the line, checked here (a bad
    GANTOOL_DEVICE is named as such; it is never looked at when --device is given)."""
    o = env.options
    if "device" not in o.explicit:
        o.device = env.environ.get("GANTOOL_DEVICE") or "auto"
        source = "GANTOOL_DEVICE"
    else:
        source = "--device"
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", o.device.strip().lower()):
        raise UsageError(f"{source} {o.device}: not a device", f"use {DEVICE_HELP}")
    if "threads" not in o.explicit and env.environ.get("GANTOOL_THREADS"):
        try:
            o.threads = int(env.environ["GANTOOL_THREADS"])
        except ValueError:
            raise UsageError(f"GANTOOL_THREADS {env.environ['GANTOOL_THREADS']}: not a whole number") from None
        source = "GANTOOL_THREADS"
    else:
        source = "--threads"
    if o.threads is not None and o.threads < 1:
        raise UsageError(f"{source} {o.threads}: must be at least 1")
    if o.seed is None:
        o.seed = DEFAULT_SEED  # the one seed policy: 0 unless --seed ("seed" in o.explicit tells them apart)
    elif not 0 <= o.seed <= MAX_SEED:
        raise UsageError(f"--seed {o.seed}: must be from 0 to {MAX_SEED}")
    o.debug = o.debug or env.environ.get("GANTOOL_DEBUG") == "1"


# ---- settings dataclasses as options ------------------------------------------------------------

def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def settings_params(cls) -> list[inspect.Parameter]:
    """One option per setting of `cls` (gantool.settings), default None so that a value given on
    the line can be told from the default; the help shows the setting's default."""
    from gantool.settings import settings_of

    hints = get_type_hints(cls)
    params = []
    for name, s, default, _ in settings_of(cls):
        kind = hints[name]
        base = next((a for a in getattr(kind, "__args__", (kind,)) if a is not type(None)), kind)
        if s.choices:
            base = Literal[s.choices]
        shown = s.default_help or (("on" if default else "off") if base is bool else default)
        text = s.help + (f" (default: {shown})" if shown is not None else "")
        decls = (s.flag,) if s.flag else ((f"{_flag(name)}/--no-{name.replace('_', '-')}",) if base is bool
                                           else (_flag(name), *s.names))
        option = typer.Option(*decls, help=text, rich_help_panel=s.panel, show_default=False)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                        annotation=Annotated[Optional[base], option], default=None))
    return params


# ---- the command decorator ----------------------------------------------------------------------

def command(settings: dict[str, type] | None = None, no_args_is_help: bool = False):
    """Make `def NAME(env, ...)` a gantool command (see the module docstring)."""
    settings = settings or {}

    def wrap(fn: Callable) -> Callable:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]  # without env
        setting_params = {key: settings_params(cls) for key, cls in settings.items()}
        own = [p for p in own if p.name not in settings]
        params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
                  *[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own],
                  *[p for ps in setting_params.values() for p in ps], *global_params()]

        @functools.wraps(fn)
        def wrapper(ctx: typer.Context, **kwargs):
            env: Env = ctx.obj
            merge_globals(env, {g.name: kwargs.pop(g.name) for g in GLOBALS})
            resolve_environment(env)
            for key, ps in setting_params.items():
                given = {p.name: kwargs.pop(p.name) for p in ps}
                kwargs[key] = {k: v for k, v in given.items() if v is not None}
            try:
                return fn(env, **kwargs)
            except GantoolError as e:  # the library's field names as the flags the user typed
                raise e.named(lambda field: flag_for(ctx, field)) from None

        wrapper.__signature__ = inspect.Signature(params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        wrapper.no_args_is_help = no_args_is_help
        return wrapper

    return wrap


def flag_for(ctx, field: str) -> str:
    """The flag the user knows for a library field name (`lr_g` -> `--lr-g`, `class` -> `--class`)."""
    for p in ctx.command.params:
        if p.name in (field, field + "_") and getattr(p, "opts", None):
            if p.param_type_name == "argument":
                return p.metavar or p.name.upper()
            longs = [o for o in p.opts if o.startswith("--")]
            return (longs or p.opts)[0]
    return _flag(field)


# ---- shared option types ------------------------------------------------------------------------

Model = Annotated[Optional[str], typer.Option(
    "--model", "-m", envvar="GANTOOL_MODEL", show_default=False, metavar="FILE",
    help="A model .safetensors from `gantool train` (env GANTOOL_MODEL).")]
Output = Annotated[Optional[str], typer.Option(
    "--output", "-o", show_default=False, metavar="FILE", help="Write a PNG grid here (- for stdout).")]
LatentsIn = Annotated[Optional[str], typer.Option(
    "--latents-in", show_default=False, metavar="FILE",
    help="Read latents (.npy, - for stdin) from any gantool command and draw their images.")]
ClassOption = Annotated[Optional[str], typer.Option(
    "--class", "-c", show_default=False, metavar="CLASS",
    help="Conditional models: draw only this class (index or name) (default: one row per class).")]


def data_root_option(panel: str):
    """--data-root and --download, the same for every command that reads a built-in data set."""
    root = Annotated[Optional[Path], typer.Option(
        "--data-root", envvar="GANTOOL_DATA_ROOT", show_default=False, rich_help_panel=panel, metavar="DIR",
        help="Where the built-in sets live: torchvision's layout, or MNIST-style IDX files (.gz or not) flat in DIR "
             "(default ~/.cache/gantool/data, then /usr/share/datasets/NAME as Debian's dataset-* packages install "
             "them).")]
    download = Annotated[bool, typer.Option(
        "--download", show_default=False, rich_help_panel=panel,
        help="Let torchvision try to download a missing data set.")]
    return root, download


ClassifierModel = Annotated[Optional[str], typer.Option(
    "--model", "-m", envvar="GANTOOL_MODEL", show_default=False, metavar="MODEL",
    help="The classifier: a torchvision model by name (resnet18, vgg16, squeezenet1_1, alexnet, mobilenet_v3_small, "
         "...; with --pretrained or --weights), a .safetensors from `gantool train-classifier`, or a GAN "
         ".safetensors (its discriminator, classes fake and real).")]
Pretrained = Annotated[bool, typer.Option(
    "--pretrained", show_default=False,
    help="Zoo models: torchvision's default weights, from the torch cache ($TORCH_HOME/hub/checkpoints); never "
         "downloaded.")]
Weights = Annotated[Optional[str], typer.Option(
    "--weights", show_default=False, metavar="FILE",
    help="Zoo models: weights from a .safetensors state dict, or a .pth/.pt state dict (read with weights_only).")]
TORCH_HOME = {"TORCH_HOME": "Where --pretrained looks for torchvision's weights: $TORCH_HOME/hub/checkpoints "
                            "(default ~/.cache/torch/hub/checkpoints)."}


# what an output's `what` says it holds -> gantool.files.writing.SUFFIXES key (the name's ending is checked)
_HOLDS = {"a PNG image": "png", ".npy latents": "npy", "a features .npz": "npz", "a model": "safetensors",
          "an HTML page": "html"}


def check_outputs(env: Env, outputs: list[tuple[str, Any, str]], default: str | None, hint: str) -> dict:
    """Check every output before any work: `outputs` are (option, value, what); a `what` of
    "folder" takes one file per image (ImageChunks.plan_files names them). With none named, the
    `default` option goes to stdout when stdout is a pipe (None: an output must be named). Each file
    is claimed (gantool.files.claims): no two outputs, and no output and input, may be the same
    file. Returns the values by option."""
    from gantool.files.writing import STDIO, check_folder_writable, check_writable, refuse_terminal

    values = {option: value for option, value, _ in outputs}
    whats = {option: what for option, _, what in outputs}
    if all(v is None for v in values.values()):
        if default is None:
            raise UsageError("no output named", hint)
        if env.options.json:
            raise UsageError(f"--json needs an output for the {whats[default]}", hint)
        if env.stdout_isatty:
            raise UsageError(f"refusing to write {whats[default]} to a terminal", hint)
        values[default] = STDIO
    to_stdout = [option for option, v in values.items() if v == STDIO]
    if len(to_stdout) > 1 or (to_stdout and env.options.json):
        raise UsageError(f"{' and '.join(to_stdout + (['--json'] if env.options.json else []))} cannot share stdout")
    for option, value in values.items():
        if value == STDIO:
            refuse_terminal(env, whats[option], option)
        elif value is not None and whats[option] == "folder":
            check_folder_writable(value)
        elif value is not None:
            check_writable(value, option, _HOLDS.get(whats[option]))
    return values


Images = Annotated[Optional[list[str]], typer.Argument(
    metavar="IMAGES...", show_default=False,
    help="Image files, folders of images, .npy/.npz batches, or - for stdin (the default).")]


def image_sources(images: list[str] | None, *more: list[str] | None) -> list[str]:
    """IMAGES as given (`-`, stdin, when none), refusing `-` twice among them and the `more` lists."""
    sources = images or ["-"]
    if sum((lst or []).count("-") for lst in (sources, *more)) > 1:
        raise UsageError("stdin can be read once: give - at most once")
    return sources


def stdin_images(env: Env, *sources: list[str] | None) -> bytes | None:
    """stdin's bytes when `-` is among the sources (read once, after the checks), else None."""
    from gantool.files.reading import read_input

    if any("-" in (lst or []) for lst in sources):
        return read_input(env, "-", "images or a .npy/.npz batch")
    return None


def image_chunks(env: Env, images: list[str] | None, out_dir, output: str | None, columns: int, what: str,
                 suffixes: tuple[str, ...] = (".png",)):
    """For commands that write files per image into --out-dir (`suffixes`: each image's files) and
    a grid of `columns` pictures per image to -o: the outputs checked, stdin read, every image path
    listed, the --out-dir files named (two images may not share a file, nor a file be an input).
    Returns (ImageChunks, the -o value, the --out-dir stems or None), before any model. With no
    output named, one must be: a grid on stdout is never a default."""
    from gantool.data.inputs import ImageChunks
    from gantool.files.images import MAX_GRID_IMAGES

    sources = image_sources(images)
    output = check_outputs(env, [("--out-dir", out_dir, "folder"), ("-o", output, "a PNG image")], default=None,
                           hint="use --out-dir DIR or -o grid.png (- for stdout)")["-o"]
    chunks = ImageChunks(sources, stdin_images(env, sources))
    if output is not None and columns * chunks.total > MAX_GRID_IMAGES:
        raise UsageError(f"a grid of {plural(chunks.total, 'image')} x {columns} is too large to look at",
                         f"use --out-dir for the {what}, or fewer images with -o")
    stems = chunks.plan_files(out_dir, suffixes, "--out-dir") if out_dir is not None else None
    return chunks, output, stems


def require_model(model: str | None) -> str:
    from gantool.opening import require

    return require(model)


def load_generator(env: Env, model: str | None, kinds: tuple[str, ...] = ("gan",), roles: tuple[str, ...] | None = None):
    """A generator (and, with `roles`, its other networks) by gantool.opening: (torch
    device, LoadedModel). The device is resolved first: an unknown one fails before the file is read."""
    from gantool.device import prepare
    from gantool.opening import open_networks

    dev = prepare(env.options.device, env.options.threads)
    return dev, open_networks(model, dev, kinds=kinds, roles=roles)


def load_classifier(env: Env, model: str | None, pretrained: bool = False, weights: str | None = None,
                    need_weights: bool = True):
    """A classifier to inspect by gantool.opening: (torch device, Classifier). With
    `need_weights`, a zoo model without --pretrained or --weights is refused."""
    from gantool.device import prepare
    from gantool.opening import open_classifier, require

    require(model)
    dev = prepare(env.options.device, env.options.threads)
    return dev, open_classifier(model, dev, pretrained=pretrained, weights=weights, need_weights=need_weights)


def run_training(env: Env, trainer, out, stop) -> None:
    """A translator's training (train-pix2pix, train-cyclegan): its status line, the run with
    signals turned into a checkpoint first (`stop`, the trainer's StopFlag), the model's path on
    stdout (--json: the summary)."""
    from gantool.signals import stop_on_signals

    env.log(trainer.starting(out))
    done_before = trainer.step
    with stop_on_signals(stop):
        summary = trainer.run()
    if trainer.step > done_before:
        env.log(f"wrote {trainer.folder.model} after {plural(summary['steps'], 'step')} in {summary['seconds']:.0f}s")
    if env.options.json:
        print_json(env, {"model": str(trainer.folder.model), "run": str(out), **summary})
    else:
        env.write_text(f"{trainer.folder.model}\n")


def print_json(env: Env, obj) -> None:
    """One JSON object on one line of stdout. The --json rule of every command: a command with one
    result prints one object; a command with several (one per image, per row, per file) prints one
    object per result, a line each (JSON lines), as they come."""
    import json as _json

    env.write_text(_json.dumps(_finite(obj), sort_keys=True, allow_nan=False) + "\n")


def _finite(obj):
    """JSON has no NaN or infinity (jq refuses them): such a number is printed as null (an exact
    reconstruction's PSNR is infinite)."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def print_rows(env: Env, rows: list[dict], columns: list[tuple[str, str, str]], to_stderr: bool = False) -> None:
    """Results as JSON lines under --json, else as a table (`columns`: key, heading, format; see
    `table`) on stdout, or on stderr when stdout carries data (`to_stderr`; silenced by -q)."""
    if env.options.json:
        for row in rows:
            print_json(env, row)
        return
    text = table(rows, columns)
    if not to_stderr:
        env.write_text(text)
    elif not env.options.quiet:
        env.stderr.write(text)


def stream_rows(env: Env, chunks_of_rows) -> list[dict]:
    """Every row of a job that yields its rows a chunk at a time (gantool.explain.jobs.run): under
    --json each chunk's rows are printed as they come (JSON lines); all of them are returned, for a
    table or a summary at the end."""
    rows = []
    for chunk_rows in chunks_of_rows:
        if env.options.json:
            for row in chunk_rows:
                print_json(env, row)
        rows += chunk_rows
    return rows


def table(rows: list[dict], columns: list[tuple[str, str, str]], mean: bool = True) -> str:
    """A Rich table as text: `columns` are (key, heading, format); with `mean`, numeric columns
    (but a loss) get a mean row."""
    import io

    from rich.console import Console
    from rich.table import Table

    out = Table(show_header=True, header_style="bold")
    for key, heading, fmt in columns:
        out.add_column(heading, justify="left" if not fmt else "right")
    for r in rows:
        out.add_row(*(format(r[key], fmt) if fmt and r[key] is not None else str(r[key] if r[key] is not None else "")
                      for key, _, fmt in columns))
    if mean and len(rows) > 1 and any(fmt and key != "loss" for key, _, fmt in columns):
        means = []
        for key, _, fmt in columns:
            values = [r[key] for r in rows if r[key] is not None]
            means.append(format(sum(values) / len(values), fmt) if fmt and values and key != "loss" else "")
        means[0] = "mean"
        out.add_row(*means)
    buf = io.StringIO()
    Console(file=buf, width=120, no_color=True, force_terminal=False).print(out)
    return buf.getvalue()
