"""`gantool invert`: the latents that reproduce given images, with PSNR and SSIM per image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit, search
from gantool.context import Env
from gantool.latent.invert import InvertSettings


@kit.command(settings={"settings": InvertSettings})
def invert(
    env: Env,
    settings: dict,
    images: kit.Images = None,
    model: kit.Model = None,
    init: search.Init = "random",
    class_: search.SearchClass = None,
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

    from gantool.data.sources import load_images
    from gantool.errors import UsageError
    from gantool.files.writing import STDIO
    from gantool.latent.invert import InvertSettings, invert as run_inversion, quality
    from gantool.models import loader
    from gantool.progress import make_progress

    # ---- check ----
    model = kit.require_model(model)
    sources = kit.image_sources(images)
    inv = InvertSettings(**settings)
    inv.validate()
    latents = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--out-dir", out_dir, "folder"),
                                      ("--latents", latents, ".npy latents")], default="--latents",
                                hint="use -o grid.png, --out-dir DIR, --latents FILE or a pipe")["--latents"]
    if env.options.json and latents == STDIO:
        raise UsageError("--latents - and --json cannot share stdout")
    info = loader.inspect(model, kinds=("gan",))
    cfg = info.config
    search.check_class(class_, model, info)
    search.check_init(init, model)
    stdin = kit.stdin_images(env, sources)
    targets8, names = load_images(sources, cfg.channels, cfg.image_size, stdin, exact_channels=(
        "convert it to grayscale first" if cfg.channels == 1 else "gantool restore --gray colorizes grayscale images"))
    start = search.read_start(env, init, len(names), cfg)

    # ---- work ----
    dev, loaded = kit.load_generator(env, model, roles=("generator", "discriminator") if inv.perceptual else None)
    norm = loaded.normalization
    seed = env.options.seed if env.options.seed is not None else secrets.randbelow(2**31)
    targets = norm.to_model(targets8.float().div(255)).to(dev)
    start = search.start_latents(start, model, dev, lambda: targets)
    result = run_inversion(loaded["generator"], targets, inv, seed, D=loaded.nets.get("discriminator"),
                           classes=search.classes_for(class_, info, len(names)), init=start,
                           progress=make_progress(env, "invert"))
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
        columns = [("image", "image", ""), ("psnr", "PSNR dB", ".2f"), ("ssim", "SSIM", ".4f"), ("loss", "loss", ".4g")]
        text = search.table(rows, columns + ([("class", "class", "")] if cfg.conditional else []))
        if latents == STDIO:
            if not env.options.quiet:
                env.stderr.write(text)
        else:
            env.write_text(text)
    env.log(f"inverted {kit.plural(len(names), 'image')} in {inv.steps} steps x {inv.restarts} restart(s) "
            f"(seed {seed}): mean PSNR {float(np.mean(psnr.numpy())):.2f} dB, SSIM {float(ssim.mean()):.3f}")


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
