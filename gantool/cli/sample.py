"""`gantool sample`: images and their latents from a trained generator, or the images of given latents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env

DEFAULT_COUNT = 16


@kit.command()
def sample(
    env: Env,
    model: kit.Model = None,
    n: Annotated[Optional[int], typer.Option(
        "-n", "--count", min=1, show_default=False,
        help=f"How many images to draw; for a conditional model without --class, how many per class "
             f"(default {DEFAULT_COUNT}).")] = None,
    output: kit.Output = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out-dir", show_default=False, metavar="DIR", help="Write one PNG per image into this folder.")] = None,
    latents: Annotated[Optional[str], typer.Option(
        "--latents", show_default=False, metavar="FILE",
        help="Write the latents as .npy here (- for stdout; the default when stdout is a pipe).")] = None,
    latents_in: kit.LatentsIn = None,
    class_: kit.ClassOption = None,
    nrow: Annotated[Optional[int], typer.Option(
        "--nrow", min=1, show_default=False,
        help="Images per grid row (default: about square, or -n per class).")] = None,
) -> None:
    """Draw images from a trained generator: a PNG grid, one PNG per image, and their latents.

    A latent row is the generator's whole input (z, then the one-hot class for conditional
    models), so a command reading the latents needs nothing else, and --latents-in draws the
    images of latents from any gantool command. The same --seed gives the same latents and images.
    Any -n is drawn in chunks, in bounded memory, with progress on stderr.
    """
    import math
    import secrets

    from gantool.errors import BadValue, UsageError
    from gantool.files.images import MAX_GRID_IMAGES
    from gantool.files.reading import read_latents
    from gantool.files.writing import STDIO
    from gantool.gan.sampling import resolve_class
    from gantool.models import loader

    # ---- check: options, outputs, the model's header; nothing is computed or written yet ----
    model = kit.require_model(model)
    if latents_in is not None and (n is not None or class_ is not None):
        raise UsageError(f"--latents-in draws the latents it is given; {'-n' if n is not None else '--class'} "
                         "cannot be used with it")
    latents = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--out-dir", out_dir, "folder"),
                                      ("--latents", latents, ".npy latents")], default="--latents",
                                hint="use -o grid.png, --out-dir DIR, --latents FILE or a pipe")["--latents"]
    info = loader.inspect(model, kinds=("gan",))
    cfg, names = info.config, info.classes
    if class_ is not None and not cfg.conditional:
        raise BadValue("class", class_, f"{model} is unconditional: it has no classes")
    given = read_latents(env, latents_in, cfg.latent_dim) if latents_in is not None else None
    count = n or DEFAULT_COUNT
    if given is not None:
        classes, total = None, len(given)
    elif cfg.conditional and class_ is None:
        classes, total = [c for c in range(cfg.num_classes) for _ in range(count)], count * cfg.num_classes
        nrow = nrow or count
    else:
        classes = [resolve_class(class_, names)] * count if class_ is not None else None
        total = count
    nrow = nrow or math.ceil(math.sqrt(total))
    if output is not None and total > MAX_GRID_IMAGES:
        raise UsageError(f"a grid of {total:,} images is too large to look at (at most {MAX_GRID_IMAGES:,})",
                         "draw fewer, or use --out-dir for one PNG each and --latents for the latents")

    # ---- work: chunk by chunk, in bounded memory ----
    dev, loaded = kit.load_generator(env, model)
    G = loaded["generator"]
    seed = env.options.seed if env.options.seed is not None else secrets.randbelow(2**31)
    _draw(env, G, info, dev, total, seed, classes, given, output, out_dir, latents, nrow)
    written = [str(p) for p in (output, out_dir, latents) if p is not None and p != STDIO]
    source = f"from {'<stdin>' if latents_in == STDIO else latents_in}" if given is not None else f"seed {seed}"
    env.log(f"drew {kit.plural(total, 'image')} ({source})" + (f": {', '.join(written)}" if written else ""))
    if env.options.json:
        kit.print_json(env, {"model": model, "count": total, "latent_dim": cfg.latent_dim,
                             "seed": None if given is not None else seed, "latents_in": latents_in,
                             "grid": output, "out_dir": str(out_dir) if out_dir else None, "latents": latents,
                             "classes": [names[c] for c in classes] if classes else None})


def _draw(env, G, info, dev, total, seed, classes, given, output, out_dir, latents, nrow) -> None:
    """Generate `total` images chunk by chunk; each chunk goes to every output asked for."""
    import contextlib

    import torch

    from gantool.files.images import grid_png, png_bytes, to_uint8
    from gantool.files.writing import NpyWriter, atomic_write, output as open_output, safe_name, write_output
    from gantool.gan.sampling import CHUNK, array_chunks, generate, latent_chunks
    from gantool.progress import NullProgress, make_progress

    chunks = array_chunks(given) if given is not None else latent_chunks(G, total, seed, classes)
    progress = make_progress(env, "sample") if total > CHUNK else NullProgress()
    grid: list = []
    with contextlib.ExitStack() as stack:
        npy = None
        if latents is not None:
            stream = stack.enter_context(open_output(env, latents, ".npy latents", "--latents"))
            npy = NpyWriter(stream, total, info.config.latent_dim)
        progress.start(total)
        done = 0
        for z in chunks:
            images = generate(G, z, dev, info.normalization) if output is not None or out_dir is not None else None
            if output is not None:
                grid.append(images)
            if out_dir is not None:
                for i, image in enumerate(to_uint8(images), start=done):
                    tag = f"-{safe_name(info.classes[classes[i]], 'class')}" if classes else ""
                    atomic_write(out_dir / f"{i:05d}{tag}.png", png_bytes(image))
            if npy is not None:
                npy.write(z.numpy())
            done += len(z)
            progress.update(done, {})
        progress.stop()
    if output is not None:
        write_output(env, output, grid_png(torch.cat(grid), nrow), "a PNG image", "-o")


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("A PNG grid of 64 images, 8 per row.", "gantool sample -m run/model.safetensors -n 64 -o grid.png"),
    ("Two latents through a pipe, the model named once in the environment.",
     "GANTOOL_MODEL=run/model.safetensors gantool sample -n 2 | "
     "python -c \"import io, sys, numpy; print(numpy.load(io.BytesIO(sys.stdin.buffer.read())).shape)\""),
    ("From a conditional model (train --conditional --out cgan): 16 images of class 3 only.",
     "gantool sample -m cgan/model.safetensors --class 3 -o threes.png"),
    ("Latents back to pictures: redraw saved latents (from any gantool command) as a grid.",
     "gantool sample -m run/model.safetensors --latents-in z.npy -o again.png"),
]
FILES = [("*.safetensors", "A model from gantool train; its header holds all it takes to rebuild it."),
         ("*.npy", "Latents: float32, one row per image, the generator's whole input.")]
