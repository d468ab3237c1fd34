"""What the latent commands share: the --class check, and for `invert` and `restore` their --init
and --class options and their outputs, checked before any work and turned into what the jobs of
`gantool.latent.jobs` take."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.errors import BadValue, GantoolError

Init = Annotated[str, typer.Option(
    "--init", show_default=False, metavar="HOW",
    help="random (default), best-of-K (the closest of K random latents, forward passes only), encoder (the "
         "guess of the encoder beside the model, from `gantool train-encoder`), or a .npy of starting latents, "
         "one row per image.")]
SearchClass = Annotated[Optional[str], typer.Option(
    "--class", "-c", show_default=False, metavar="CLASS",
    help="Conditional models: search with this class (index or name) (default: try every class, keep the best).")]
DamagedImages = Annotated[Optional[list[str]], typer.Argument(
    metavar="IMAGES...", show_default=False,
    help="Damaged images (clean ones under --simulate): files, folders, .npy/.npz batches, or - for stdin "
         "(the default).")]
Reference = Annotated[Optional[list[str]], typer.Option(
    "--reference", show_default=False, metavar="CLEAN",
    help="The clean originals, one per image, in the same order (files, folders or batches; repeatable): "
         "PSNR and SSIM of the damaged input and of the restoration.")]


def output_option(help: str):
    """-o FILE, an image output (- for stdout)."""
    return Annotated[Optional[str], typer.Option("--output", "-o", show_default=False, metavar="FILE",
                                                 help=help + " (- for stdout).")]


def out_dir_option(help: str):
    return Annotated[Optional[Path], typer.Option("--out-dir", show_default=False, metavar="DIR", help=help)]


def latents_option(what: str = "the latents", default: str = "the default when stdout is a pipe and no output is named",
                   tail: str = ""):
    return Annotated[Optional[str], typer.Option("--latents", show_default=False, metavar="FILE",
                                                 help=f"Write {what} as .npy (- for stdout; {default}){tail}.")]


def class_option(help: str):
    return Annotated[Optional[str], typer.Option("--class", "-c", show_default=False, metavar="CLASS",
                                                 help=f"Conditional models: {help}")]


def generator_for(env, model: str, needed: bool):
    """(G, device, normalization) when an output needs images, else (None, None, None): latents
    alone never load the generator."""
    if not needed:
        return None, None, None
    dev, loaded = kit.load_generator(env, model)
    return loaded["generator"], dev, loaded.normalization


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


def outputs(env, images, output, out_dir, latents, suffixes: tuple[str, ...], reference=None):
    """Every output checked and claimed (the --out-dir files named per image: two images may not
    share one, nor may one be an input), then stdin read and the inputs listed: (Outputs,
    ImageChunks, the reference's ImageChunks or None)."""
    from gantool.data.inputs import ImageChunks
    from gantool.latent.outputs import Outputs

    sources = kit.image_sources(images, reference)
    latents = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--out-dir", out_dir, "folder"),
                                      ("--latents", latents, ".npy latents")], default="--latents",
                                hint="use -o grid.png, --out-dir DIR, --latents FILE or a pipe")["--latents"]
    stdin = kit.stdin_images(env, sources, reference)
    chunks = ImageChunks(sources, stdin, chunk=4096)
    references = ImageChunks(reference, stdin, chunk=4096) if reference else None
    stems = chunks.plan_files(out_dir, suffixes, "--out-dir") if out_dir is not None else None
    return Outputs(env, grid=output, out_dir=out_dir, latents=latents, stems=stems), chunks, references


def read_start(env, init: str, rows: int, cfg):
    """--init as given: a name, or the rows of a .npy file (read and checked now, before any work;
    a file of the wrong shape is bad contents: exit 1, as latents of the wrong width everywhere)."""
    import torch

    from gantool.files.reading import read_latents

    if not init.endswith(".npy"):
        return init
    start = torch.from_numpy(read_latents(env, init))
    if start.shape[1] not in (cfg.nz, cfg.latent_dim):
        raise GantoolError(f"--init {init} has {start.shape[1]} values per latent, the model takes {cfg.nz}"
                           + (f" (z) or {cfg.latent_dim} (z and class)" if cfg.latent_dim != cfg.nz else ""))
    if start.shape[0] != rows:
        raise BadValue("init", init, f"holds {kit.plural(start.shape[0], 'row')} for {kit.plural(rows, 'image')}",
                       "one starting latent per image, in order")
    return start


def load_encoder(init: str, model: str, dev):
    """The encoder beside the model under --init encoder (gantool.latent.encoder), else None."""
    from gantool.latent.encoder import encoder_path
    from gantool.models import loader

    return loader.load(encoder_path(model), dev, kinds=("encoder",))["encoder"] if init == "encoder" else None


def classes_for(class_: str | None, info, rows: int):
    """(rows,) class indices under --class, or None (search every class)."""
    import torch

    from gantool.gan.sampling import resolve_class

    if class_ is None:
        return None
    return torch.full((rows,), resolve_class(class_, info.classes), dtype=torch.int64)


def print_table(env, job, outputs, conditional: bool, restore: bool) -> None:
    """The rows: JSON lines under --json, else a table on stdout (stderr when the latents take it)."""
    from gantool.latent.jobs import columns

    reference = any(row.get("psnr") is not None for row in job.rows)
    kit.print_rows(env, job.rows, columns(reference, conditional, restore), to_stderr=outputs.table_to_stderr)
