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
    from gantool import fileinfo
    from gantool.files import modelfile
    from gantool.files.reading import stdin_stream
    from gantool.files.writing import STDIO

    if file == STDIO:
        header = modelfile.read_header_stream(stdin_stream(env, "a .safetensors file"), "<stdin>")
    else:
        header = modelfile.read_header(file)
    summary = fileinfo.summary(header)
    if env.options.json:
        kit.print_json(env, summary)
    else:
        env.write_text(f"{header.path}\n" + kit.table(fileinfo.rows(summary, fileinfo.describe(header)[1]),
                                                     fileinfo.COLUMNS, mean=False))


# For the man page (gantool.docgen)
EXAMPLES = [
    ("What a model holds: architecture, data, training summary and tensors.", "gantool info run/model.safetensors"),
    ("The same as JSON on stdout, for scripts.", "gantool --json info run/model.safetensors"),
]
FILES = [("*.safetensors", "A gantool model or checkpoint; only its header is read.")]
