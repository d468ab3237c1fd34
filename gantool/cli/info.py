"""`gantool info`: what a gantool .safetensors file holds, read from its header alone."""

from __future__ import annotations

from typing import Annotated

import typer

from gantool.cli import options as opt


def info(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="A gantool .safetensors file (model or checkpoint), or - for stdin.", show_default=False)],
    device: opt.Device = None,
    seed: opt.Seed = None,
    quiet: opt.Quiet = False,
    json: opt.Json = False,
    debug: opt.Debug = False,
) -> None:
    """Show a model file's kind, architecture, data, training summary and tensors."""
    env = opt.setup(ctx, device, seed, quiet, json, debug)
    from gantool import modelfile
    from gantool.fileio import STDIO, read_input

    if file == STDIO:
        header = modelfile.parse_header(read_input(env, file, "a .safetensors file"), "<stdin>")
    else:
        header = modelfile.read_header(file)
    roles = sorted({name.split(".", 1)[0] for name in header.tensors})
    params = {role: header.num_params(role + ".") for role in roles}
    if env.options.json:
        opt.print_json(env, {"file": header.path, "kind": header.kind, "version": header.version,
                             "config": header.config, "data": header.data, "training": header.training,
                             "tensors": {"count": header.num_tensors, "bytes": header.num_bytes, "parameters": params}})
        return
    env.write_text(_table(header, params))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v) if len(v) <= 12 else f"{len(v)} items: {', '.join(map(str, v[:10]))}, ..."
    if isinstance(v, dict):
        return " ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)


def _table(header, params: dict) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(title=header.path, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    c = header.config
    table.add_row("kind", f"{header.kind} (gantool {header.version})")
    if "image_size" in c:
        cond = f"conditional, {c.get('num_classes')} classes" if c.get("num_classes") else "unconditional"
        table.add_row("architecture", f"DCGAN, {cond}, {c['image_size']}x{c['image_size']}x{c['channels']}, "
                                      f"latent {c['nz'] + c.get('num_classes', 0)} (nz {c['nz']})")
    for section, values in (("config", c), ("data", header.data), ("training", header.training)):
        for k, v in values.items():
            table.add_row(f"{section}.{k}", _fmt(v))
    for role, n in params.items():
        table.add_row(f"tensors.{role}", f"{n:,} values")
    table.add_row("tensors", f"{header.num_tensors} tensors, {header.num_bytes / 1e6:.2f} MB")
    buf = io.StringIO()
    Console(file=buf, width=100, no_color=True, force_terminal=False).print(table)
    return buf.getvalue()


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("What a model holds: architecture, data, training summary and tensors.", "gantool info run/model.safetensors"),
    ("The same as JSON on stdout, for scripts.", "gantool --json info run/model.safetensors"),
]
