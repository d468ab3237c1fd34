"""What `invert` and `restore` share: their --init and --class options, checked before any work and
turned into what `gantool.latent.invert.invert` takes, and the quality table."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.errors import BadValue, GantoolError

Init = Annotated[str, typer.Option(
    "--init", show_default=False, metavar="HOW",
    help="random (default), best-of-K (the closest of K random latents, forward passes only), encoder (the "
         "guess of the encoder beside the model, from `gantool train-encoder`), or a .npy of starting latents, "
         "one row per image.")]
SearchClass = Annotated[Optional[str], typer.Option(
    "--class", "-c", show_default=False, metavar="CLASS",
    help="Conditional models: search with this class (index or name) (default: try every class, keep the best).")]


def check_init(init: str, model: str) -> None:
    """Refuse a bad --init before any work."""
    from gantool.latent.encoder import encoder_path
    from gantool.models import loader

    if init not in ("random", "encoder") and not init.startswith("best-of-") and not init.endswith(".npy"):
        raise BadValue("init", init, "must be random, best-of-K, encoder or a .npy file")
    if init.startswith("best-of-") and not (init[8:].isdigit() and 1 <= int(init[8:]) <= 4096):
        raise BadValue("init", init, "best-of-K needs K from 1 to 4096")
    if init == "encoder":
        encoder_file = encoder_path(model)
        if not encoder_file.exists():
            raise GantoolError(f"--init encoder: no encoder beside the model ({encoder_file})",
                               f"train one with `gantool train-encoder -m {model}`")
        loader.inspect(encoder_file, kinds=("encoder",))


def check_class(class_: str | None, model: str, info) -> None:
    if class_ is not None and not info.config.conditional:
        raise BadValue("class", class_, f"{model} is unconditional: it has no classes")


def read_start(env, init: str, rows: int, cfg):
    """--init as given: a name, or the rows of a .npy file (read and checked now, before any work)."""
    import torch

    from gantool.files.reading import read_latents

    if not init.endswith(".npy"):
        return init
    start = torch.from_numpy(read_latents(env, init))
    if start.shape[0] != rows or start.shape[1] not in (cfg.nz, cfg.latent_dim):
        raise BadValue("init", init, f"holds {start.shape[0]} rows of {start.shape[1]}; this needs {rows} "
                                     f"rows of {cfg.nz} or {cfg.latent_dim}")
    return start


def start_latents(start, model: str, dev, guess):
    """The start for the search: the encoder's latents for `guess()` (images in the model's range)
    under --init encoder, else `start` as read."""
    from gantool.latent.encoder import encode, encoder_path
    from gantool.models import loader

    if isinstance(start, str) and start == "encoder":
        return encode(loader.load(encoder_path(model), dev, kinds=("encoder",))["encoder"], guess())
    return start


def classes_for(class_: str | None, info, rows: int):
    """(rows,) class indices under --class, or None (search every class)."""
    import torch

    from gantool.gan.sampling import resolve_class

    if class_ is None:
        return None
    return torch.full((rows,), resolve_class(class_, info.classes), dtype=torch.int64)


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A Rich table as text: `columns` are (key, heading, format); numeric columns get a mean row."""
    import io

    from rich.console import Console
    from rich.table import Table

    out = Table(show_header=True, header_style="bold")
    for key, heading, fmt in columns:
        out.add_column(heading, justify="left" if not fmt else "right")
    for r in rows:
        out.add_row(*(format(r[key], fmt) if fmt and r[key] is not None else str(r[key] or "")
                      for key, _, fmt in columns))
    if len(rows) > 1 and any(fmt and key != "loss" for key, _, fmt in columns):
        means = []
        for key, _, fmt in columns:
            values = [r[key] for r in rows if r[key] is not None]
            means.append(format(sum(values) / len(values), fmt) if fmt and values and key != "loss" else "")
        means[0] = "mean"
        out.add_row(*means)
    buf = io.StringIO()
    Console(file=buf, width=120, no_color=True, force_terminal=False).print(out)
    return buf.getvalue()
