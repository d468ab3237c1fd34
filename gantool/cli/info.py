"""`gantool info`: what a gantool .safetensors file holds, read from its header alone."""

from __future__ import annotations

from typing import Annotated

import typer

from gantool.cli import kit
from gantool.context import Env


@kit.command()
def info(
    env: Env,
    file: Annotated[str, typer.Argument(metavar="FILE", show_default=False,
                                        help="A gantool .safetensors file (model or checkpoint), or - for stdin.")],
) -> None:
    """Show a model file's kind, architecture, data, training summary and tensors.

    Only the header is read (from stdin, the tensors are counted, not kept), so info is instant
    for any size of file and builds nothing.
    """
    from gantool.errors import GantoolError
    from gantool.files import modelfile
    from gantool.files.reading import stdin_stream
    from gantool.files.writing import STDIO

    if file == STDIO:
        header = modelfile.read_header_stream(stdin_stream(env, "a .safetensors file"), "<stdin>")
    else:
        header = modelfile.read_header(file)
    config = header.config
    try:
        architecture, config = _describe(header)
    except GantoolError as e:  # show what the file says even when this gantool cannot build it
        architecture = f"not buildable here: {e}"
    roles = sorted({name.split(".", 1)[0] for name in header.tensors})
    params = {role: header.num_params(role + ".") for role in roles}
    if env.options.json:
        kit.print_json(env, {"file": header.path, "kind": header.kind, "version": header.version,
                             "architecture": architecture, "config": header.config, "data": header.data,
                             "training": header.training,
                             "tensors": {"count": header.num_tensors, "bytes": header.num_bytes, "parameters": params}})
        return
    env.write_text(_table(header, architecture, config, params))


# files that hold no network, each described by the module that writes it (imported only for its kind)
_OWN_KIND = {"svm": "gantool.transfer.svm", "stats": "gantool.metrics.stats"}


def _describe(header) -> tuple[str, dict]:
    """(the architecture line, the config for the table): networks through the model registry,
    svm and stats files by their own modules."""
    import importlib

    from gantool.models import loader

    if header.kind in _OWN_KIND:
        return importlib.import_module(_OWN_KIND[header.kind]).describe_header(header)
    model = loader.describe_header(header)
    return model.arch.describe(model.config), header.config


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v) if len(v) <= 12 else f"{len(v)} items: {', '.join(map(str, v[:10]))}, ..."
    if isinstance(v, dict):
        return " ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)


def _table(header, architecture: str, config: dict, params: dict) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(title=header.path, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("kind", f"{header.kind} (gantool {header.version})")
    table.add_row("architecture", architecture)
    for section, values in (("config", config), ("data", header.data), ("training", header.training)):
        for k, v in values.items():
            table.add_row(f"{section}.{k}", _fmt(v))
    for role, n in params.items():
        table.add_row(f"tensors.{role}", f"{n:,} values")
    table.add_row("tensors", f"{header.num_tensors} tensors, {header.num_bytes / 1e6:.2f} MB")
    buf = io.StringIO()
    Console(file=buf, width=100, no_color=True, force_terminal=False).print(table)
    return buf.getvalue()


# For the man page (gantool.cli.docgen)
EXAMPLES = [
    ("What a model holds: architecture, data, training summary and tensors.", "gantool info run/model.safetensors"),
    ("The same as JSON on stdout, for scripts.", "gantool --json info run/model.safetensors"),
]
FILES = [("*.safetensors", "A gantool model or checkpoint; only its header is read.")]
