"""`gantool invert`: the latents that reproduce given images, with PSNR and SSIM per image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.latent.invert import InvertSettings


@kit.command(settings={"settings": InvertSettings})
def invert(
    env: Env,
    settings: dict,
    images: Annotated[Optional[list[str]], typer.Argument(
        metavar="IMAGES...", show_default=False,
        help="Image files, folders of images, .npy/.npz batches, or - for stdin (the default).")] = None,
    model: kit.Model = None,
    init: Annotated[str, typer.Option(
        "--init", show_default=False, metavar="HOW",
        help="random (default), best-of-K (the closest of K random latents, forward passes only), encoder (the "
             "guess of the encoder beside the model, from `gantool train-encoder`), or a .npy of starting latents, "
             "one row per image.")] = "random",
    class_: Annotated[Optional[str], typer.Option(
        "--class", "-c", show_default=False, metavar="CLASS",
        help="Conditional models: invert with this class (index or name) (default: try every class, keep the best).")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE",
        help="Write a PNG grid of target | reconstruction pairs here (- for stdout).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out-dir", show_default=False, metavar="DIR", help="Write each reconstruction as a PNG into this folder.")] = None,
    latents: Annotated[Optional[str], typer.Option(
        "--latents", show_default=False, metavar="FILE",
        help="Write the latents as .npy (- for stdout; the default when stdout is a pipe and no output is named).")] = None,
) -> None:
    """Find the latent that reproduces each image (GAN inversion), and report PSNR and SSIM.

    All images and all restarts are optimized together as one batch, the generator in eval mode and
    each image's loss its own: an image gets the same latent alone or inside any batch, and the same
    --seed the same result. The table (PSNR, SSIM, final loss, class) goes to stdout, or to stderr
    when the latents take stdout; --json prints one JSON object per image instead.
    """
    import json
    import secrets

    import numpy as np
    import torch

    from gantool.data.sources import load_images
    from gantool.errors import BadValue, GantoolError, UsageError
    from gantool.files.reading import read_input, read_latents
    from gantool.files.writing import STDIO
    from gantool.gan.sampling import resolve_class
    from gantool.latent.encoder import encode, encoder_path
    from gantool.latent.invert import InvertSettings, invert as run_inversion, quality
    from gantool.models import loader
    from gantool.progress import make_progress

    # ---- check ----
    model = kit.require_model(model)
    sources = images or [STDIO]
    if sources.count(STDIO) > 1:
        raise UsageError("stdin can be read once: give - at most once")
    inv = InvertSettings(**settings)
    inv.validate()
    latents = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--out-dir", out_dir, "folder"),
                                      ("--latents", latents, ".npy latents")], default="--latents",
                                hint="use -o grid.png, --out-dir DIR, --latents FILE or a pipe")["--latents"]
    if env.options.json and latents == STDIO:
        raise UsageError("--latents - and --json cannot share stdout")
    info = loader.inspect(model, kinds=("gan",))
    cfg = info.config
    if class_ is not None and not cfg.conditional:
        raise BadValue("class", class_, f"{model} is unconditional: it has no classes")
    if init not in ("random", "encoder") and not init.startswith("best-of-") and not init.endswith(".npy"):
        raise BadValue("init", init, "must be random, best-of-K, encoder or a .npy file")
    if init == "encoder":
        encoder_file = encoder_path(model)
        if not encoder_file.exists():
            raise GantoolError(f"--init encoder: no encoder beside the model ({encoder_file})",
                               f"train one with `gantool train-encoder -m {model}`")
        loader.inspect(encoder_file, kinds=("encoder",))
    if init.startswith("best-of-") and not (init[8:].isdigit() and 1 <= int(init[8:]) <= 4096):
        raise BadValue("init", init, "best-of-K needs K from 1 to 4096")
    stdin = read_input(env, STDIO, "images or a .npy/.npz batch") if STDIO in sources else None
    targets8, names = load_images(sources, cfg.channels, cfg.image_size, stdin)
    start = init
    if init.endswith(".npy"):
        start = torch.from_numpy(read_latents(env, init))
        if start.shape[0] != len(names) or start.shape[1] not in (cfg.nz, cfg.latent_dim):
            raise BadValue("init", init, f"holds {start.shape[0]} rows of {start.shape[1]}; this needs {len(names)} "
                                         f"rows of {cfg.nz} or {cfg.latent_dim}")

    # ---- work ----
    dev, loaded = kit.load_generator(env, model, roles=("generator", "discriminator") if inv.perceptual else None)
    norm = loaded.normalization
    seed = env.options.seed if env.options.seed is not None else secrets.randbelow(2**31)
    targets = norm.to_model(targets8.float().div(255)).to(dev)
    if init == "encoder":
        start = encode(loader.load(encoder_path(model), dev, kinds=("encoder",))["encoder"], targets)
    classes = (torch.full((len(names),), resolve_class(class_, info.classes), dtype=torch.int64)
               if class_ is not None else None)
    result = run_inversion(loaded["generator"], targets, inv, seed, D=loaded.nets.get("discriminator"),
                           classes=classes, init=start, progress=make_progress(env, "invert"))
    recon01 = norm.from_model(result.images.float()).cpu()
    target01 = targets8.float().div(255)
    psnr, ssim = quality(recon01, target01)
    _write(env, names, target01, recon01, result.latents.numpy(), output, out_dir, latents)
    rows = [{"image": name, "psnr": round(float(p), 2), "ssim": round(float(s), 4), "loss": float(l),
             "class": info.classes[int(result.classes[i])] if result.classes is not None else None}
            for i, (name, p, s, l) in enumerate(zip(names, psnr, ssim, result.loss))]
    if env.options.json:
        for row in rows:
            env.write_text(json.dumps(row, sort_keys=True) + "\n")
    else:
        table = _table(rows, float(np.mean([r["psnr"] for r in rows])), float(np.mean([r["ssim"] for r in rows])))
        if latents == STDIO:
            if not env.options.quiet:
                env.stderr.write(table)
        else:
            env.write_text(table)
    env.log(f"inverted {kit.plural(len(names), 'image')} in {inv.steps} steps x {inv.restarts} restart(s) "
            f"(seed {seed}): mean PSNR {float(psnr.mean()):.2f} dB, SSIM {float(ssim.mean()):.3f}")


def _write(env, names, target01, recon01, latents_array, output, out_dir, latents) -> None:
    import torch

    from gantool.files.images import grid_png, png_bytes, to_uint8
    from gantool.files.writing import atomic_write, safe_name, write_latents, write_output

    if latents is not None:
        write_latents(env, latents, latents_array)
    if output is not None:
        pairs = torch.stack([target01, recon01], 1).flatten(0, 1)
        write_output(env, output, grid_png(pairs, 2 * min(8, len(names))), "a PNG image", "-o")
    if out_dir is not None:
        for name, image in zip(names, to_uint8(recon01)):
            atomic_write(out_dir / f"{safe_name(name)}.png", png_bytes(image))


def _table(rows: list[dict], mean_psnr: float, mean_ssim: float) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    for column in ("image", "PSNR dB", "SSIM", "loss") + (("class",) if rows[0]["class"] is not None else ()):
        table.add_column(column, justify="left" if column in ("image", "class") else "right")
    for r in rows:
        table.add_row(r["image"], f"{r['psnr']:.2f}", f"{r['ssim']:.4f}", f"{r['loss']:.4g}",
                      *((r["class"],) if r["class"] is not None else ()))
    table.add_row("mean", f"{mean_psnr:.2f}", f"{mean_ssim:.4f}", "", *(("",) if rows[0]["class"] is not None else ()))
    buf = io.StringIO()
    Console(file=buf, width=100, no_color=True, force_terminal=False).print(table)
    return buf.getvalue()


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("Invert a folder of images: latents, a grid of target | reconstruction pairs, and a PSNR/SSIM table.",
     "gantool invert faces/ -m run/model.safetensors --latents z.npy -o pairs.png"),
    ("Generated images come back to (about) their own latents: a check of the optimizer.",
     "gantool sample -m run/model.safetensors -n 8 --out-dir gen/ && gantool invert gen/ -m run/model.safetensors "
     "--restarts 4 --init best-of-64 --steps 500 --latents z.npy"),
    ("Invert, then walk between the first two images' latents.",
     "gantool invert a.png b.png -m run/model.safetensors --latents - | gantool interpolate -o walk.png"),
]
FILES = [("*.npy", "Latents out (and --init in): float32, one row per image.")]
