"""`gantool sample`: images and their latents from a trained generator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import options as opt


def sample(
    ctx: typer.Context,
    model: Annotated[Optional[str], typer.Option("--model", "-m", envvar="GANTOOL_MODEL", show_default=False,
                                                help="A gan .safetensors from `gantool train` (env GANTOOL_MODEL).")] = None,
    n: Annotated[int, typer.Option("-n", "--count", min=1, help="How many images to draw; for a conditional model without --class, how many per class.")] = 16,
    output: Annotated[Optional[str], typer.Option("--output", "-o", show_default=False, help="Write a PNG grid here (- for stdout).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out-dir", show_default=False, help="Write one PNG per image into this folder.")] = None,
    latents: Annotated[Optional[str], typer.Option("--latents", show_default=False, help="Write the latents as .npy here (- for stdout; the default when stdout is a pipe).")] = None,
    class_: Annotated[Optional[str], typer.Option("--class", "-c", show_default=False, help="Conditional models: draw only this class (index or name) (default: one row per class).")] = None,
    nrow: Annotated[Optional[int], typer.Option("--nrow", min=1, show_default=False, help="Images per grid row (default: about square, or -n per class).")] = None,
    device: opt.Device = None,
    seed: opt.Seed = None,
    quiet: opt.Quiet = False,
    json: opt.Json = False,
    debug: opt.Debug = False,
) -> None:
    """Draw images from a trained generator: a PNG grid, one PNG per image, and their latents.

    A latent row is the generator's whole input (z, then the one-hot class for conditional
    models), so a command reading the latents needs nothing else. The same --seed
    gives the same latents and images.
    """
    env = opt.setup(ctx, device, seed, quiet, json, debug)
    from gantool.errors import UsageError

    if model is None:
        raise UsageError("no model given", "use -m FILE or set GANTOOL_MODEL")
    if output is None and out_dir is None and latents is None:
        if env.options.json:
            raise UsageError("--json needs an output for the latents or images", "add --latents FILE or -o FILE")
        if env.stdout_isatty:
            raise UsageError("refusing to write .npy latents to a terminal", "use -o grid.png, --out-dir DIR, --latents FILE or a pipe")
        latents = "-"
    to_stdout = [name for name, v in (("--output", output), ("--latents", latents)) if v == "-"]
    if len(to_stdout) > 1 or (to_stdout and env.options.json):
        raise UsageError(f"{' and '.join(to_stdout + (['--json'] if env.options.json else []))} cannot share stdout")

    import math
    import secrets

    import torch

    from gantool import modelfile, sampling
    from gantool.device import resolve_device
    from gantool.fileio import atomic_write, npy_bytes, write_output
    from gantool.images import grid_png, png_bytes, to_uint8
    from gantool.models.dcgan import DCGANConfig

    dev = resolve_device(env.options.device)  # an unknown --device is a usage error, whatever the model
    header = modelfile.read_header(model)
    modelfile.expect_kind(header, modelfile.KIND_GAN)
    cfg = DCGANConfig.from_dict(header.config)
    names = header.data.get("classes") or [str(i) for i in range(cfg.num_classes)]
    if class_ is not None and not cfg.conditional:
        raise UsageError("--class needs a conditional model", f"{model} is unconditional")
    G, _, _ = modelfile.load_gan(model, dev)

    seed_value = env.options.seed if env.options.seed is not None else secrets.randbelow(2**31)
    gen = torch.Generator().manual_seed(seed_value)
    if cfg.conditional and class_ is None:
        classes = [c for c in range(cfg.num_classes) for _ in range(n)]
        nrow = nrow or n
    else:
        classes = [sampling.resolve_class(class_, names, cfg.num_classes)] * n if class_ is not None else None
        nrow = nrow or math.ceil(math.sqrt(n))
    z = sampling.make_latents(cfg, len(classes) if classes else n, gen, classes)
    images = sampling.generate(G, z, dev)

    if output is not None:
        write_output(env, output, grid_png(images, nrow), "a PNG image", "-o")
    if out_dir is not None:
        for i, image in enumerate(to_uint8(images)):
            tag = f"-{_safe(names[classes[i]])}" if classes else ""
            atomic_write(out_dir / f"{i:05d}{tag}.png", png_bytes(image))
    if latents is not None:
        write_output(env, latents, npy_bytes(z.numpy()), ".npy latents", "--latents")
    written = [str(p) for p in (output, out_dir, latents) if p is not None and p != "-"]
    env.log(f"drew {z.shape[0]} images (seed {seed_value})" + (f": {', '.join(written)}" if written else ""))
    if env.options.json:
        opt.print_json(env, {"model": model, "count": int(z.shape[0]), "latent_dim": cfg.latent_dim, "seed": seed_value,
                             "grid": output, "out_dir": str(out_dir) if out_dir else None, "latents": latents,
                             "classes": [names[c] for c in classes] if classes else None})


def _safe(name: str) -> str:
    """A class name fit for a file name."""
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "class"


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("A PNG grid of 64 images, 8 per row.", "gantool sample -m run/model.safetensors -n 64 -o grid.png"),
    ("Two latents through a pipe, the model named once in the environment.",
     "GANTOOL_MODEL=run/model.safetensors gantool sample -n 2 | "
     "python -c \"import io, sys, numpy; print(numpy.load(io.BytesIO(sys.stdin.buffer.read())).shape)\""),
    ("From a conditional model (train --conditional --out cgan): 16 images of class 3 only.",
     "gantool sample -m cgan/model.safetensors --class 3 -o threes.png"),
]

