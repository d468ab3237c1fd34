"""`gantool restore`: repair damaged images by searching the generator's latent space."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit, search
from gantool.context import Env
from gantool.latent.invert import SearchSettings
from gantool.latent.restore import Damage

MAX_VARIANTS = 16


@kit.command(settings={"damage": Damage, "settings": SearchSettings})
def restore(
    env: Env,
    damage: dict,
    settings: dict,
    images: Annotated[Optional[list[str]], typer.Argument(
        metavar="IMAGES...", show_default=False,
        help="Damaged images (clean ones under --simulate): files, folders, .npy/.npz batches, or - for stdin "
             "(the default).")] = None,
    model: kit.Model = None,
    simulate: Annotated[bool, typer.Option(
        "--simulate", help="The images are clean: apply the damage first (noise seeded by --seed), and measure "
                           "against them.")] = False,
    reference: Annotated[Optional[list[str]], typer.Option(
        "--reference", show_default=False, metavar="CLEAN",
        help="The clean originals, one per image, in the same order (files, folders or batches; repeatable): "
             "PSNR and SSIM of the damaged input and of the restoration.")] = None,
    paste_known: Annotated[bool, typer.Option(
        "--paste-known", help="Keep what the input shows: its known pixels (--mask), its block averages "
                              "(--downsample), its luminance (--gray); only the rest comes from the generator. "
                              "Not with --blur; with --noise it keeps the noise too.")] = False,
    variants: Annotated[int, typer.Option(
        "--variants", min=1, max=MAX_VARIANTS, show_default=False, metavar="V",
        help="Keep V visibly different restorations per image from the restarts, best first (default: 1; "
             "--restarts defaults to 2V).")] = 1,
    init: search.Init = "random",
    class_: search.SearchClass = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE",
        help="Write a PNG panel here, a row per image: damaged | restored (| variants) (| reference) "
             "(- for stdout).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out-dir", show_default=False, metavar="DIR",
        help="Write each restoration as NAME.png into this folder (variants as NAME-2.png, ...).")] = None,
    latents: Annotated[Optional[str], typer.Option(
        "--latents", show_default=False, metavar="FILE",
        help="Write the latents as .npy, V rows per image (- for stdout; the default when stdout is a pipe and "
             "no output is named).")] = None,
) -> None:
    """Restore damaged images with the generator as the prior: inpaint, denoise, deblur, upscale, colorize.

    The damage options compose in one call (e.g. --downsample 4 --noise 0.05). restore searches the
    latent whose image, damaged the same way, matches the input on its known pixels, for all
    images and restarts in one batch (as gantool invert: an image's result does not depend on the
    others, and the same --seed gives the same result). The input is the damaged image, at the
    observed size (the model's size divided by --downsample; other sizes are centre-cropped and
    resized), grayscale under --gray. The table (loss, class, and with a reference the PSNR and
    SSIM of the damaged input and of the restoration) goes to stdout, or to stderr when the latents
    take stdout; --json prints one JSON object per image instead.
    """
    import json
    import secrets

    from gantool.data.sources import load_images
    from gantool.errors import GantoolError, UsageError
    from gantool.files.images import image_size_of, load_image
    from gantool.files.reading import reading
    from gantool.files.writing import STDIO
    from gantool.latent.invert import image_seed, quality
    from gantool.latent.restore import paste_known as paste, restore as run_restore
    from gantool.models import loader
    from gantool.progress import make_progress

    # ---- check ----
    model = kit.require_model(model)
    sources = kit.image_sources(images, reference)
    dmg = Damage(**damage)
    if not dmg.any():
        raise UsageError("name the damage: --mask, --blur, --noise, --downsample or --gray",
                         "gantool invert fits undamaged images")
    if "restarts" not in settings:
        settings["restarts"] = min(64, 2 * variants) if variants > 1 else 1
    opt = SearchSettings(**settings)
    opt.validate()
    if variants > opt.restarts:
        raise UsageError(f"--variants {variants} needs --restarts {variants} or more (given {opt.restarts})")
    if simulate and reference:
        raise UsageError("--simulate measures against its own clean input: --reference is for damaged input")
    if paste_known and (dmg.blur or not (dmg.mask or dmg.downsample > 1 or dmg.gray)):
        raise UsageError("--paste-known keeps what the input shows under --mask, --downsample or --gray; "
                         "a blurred input has no pixels to keep")
    latents = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--out-dir", out_dir, "folder"),
                                      ("--latents", latents, ".npy latents")], default="--latents",
                                hint="use -o panel.png, --out-dir DIR, --latents FILE or a pipe")["--latents"]
    if env.options.json and latents == STDIO:
        raise UsageError("--latents - and --json cannot share stdout")
    info = loader.inspect(model, kinds=("gan",))
    cfg, size = info.config, info.config.image_size
    dmg.validate(cfg.channels, size)
    search.check_class(class_, model, info)
    search.check_init(init, model)
    seed = env.options.seed if env.options.seed is not None else secrets.randbelow(2**31)

    def read_mask(path: str, side: int):
        with reading(path, "mask"):
            Path(path).stat()
        w, h = image_size_of(path)
        if (w, h) != (side, side):
            raise GantoolError(f"mask {path} is {w}x{h}, but the input is {side}x{side} here",
                               "the mask marks the input's missing pixels in white, at the input's size")
        return load_image(path, 1)[0]

    known = dmg.known(size, seed, read_mask)
    stdin = kit.stdin_images(env, sources, reference)
    hint = "convert it to grayscale first" if cfg.channels == 1 else "add --gray to colorize grayscale images"
    obs_channels, side = dmg.observed_shape(cfg.channels, size)
    if simulate:
        clean8, names = load_images(sources, cfg.channels, size, stdin, exact_channels=hint)
    else:
        observed8, names = load_images(sources, obs_channels, side, stdin, exact_channels=None if dmg.gray else hint)
    reference8 = None
    if reference:
        reference8, ref_names = load_images(reference, cfg.channels, size, stdin, exact_channels=hint)
        if len(ref_names) != len(names):
            raise UsageError(f"--reference gives {kit.plural(len(ref_names), 'image')} for "
                             f"{kit.plural(len(names), 'damaged image')}", "one clean image per damaged one, in order")
    start = search.read_start(env, init, len(names), cfg)

    # ---- work ----
    dev, loaded = kit.load_generator(env, model)
    G, norm = loaded["generator"], loaded.normalization
    if simulate:
        reference01 = clean8.float().div(255)
        observed01 = dmg.simulate(reference01, known, [image_seed(seed, image) for image in reference01])
    else:
        reference01 = reference8.float().div(255) if reference8 is not None else None
        observed01 = observed8.float().div(255)
    seen01 = dmg.seen(observed01, cfg.channels, size)
    targets, known_dev = observed01.to(dev), known.to(dev) if known is not None else None
    start = search.start_latents(start, model, dev, lambda: norm.to_model(seen01.to(dev)))
    result = run_restore(G, norm, targets, dmg, known_dev, opt, seed, classes=search.classes_for(class_, info, len(names)),
                         init=start, progress=make_progress(env, "restore"))
    restored01, rows_latents, losses = _variants(G, norm, result, variants)  # (N, V, ...), best first
    if paste_known:
        restored01 = paste(restored01, observed01[:, None], dmg, known)
    rows = []
    for i, name in enumerate(names):
        rows.append({"image": name, "loss": float(result.loss[i]),
                     "class": info.classes[int(rows_latents[i, 0, cfg.nz:].argmax())] if cfg.conditional else None,
                     "damaged_psnr": None, "damaged_ssim": None, "psnr": None, "ssim": None})
        if variants > 1:
            rows[-1]["variants"] = [
                {"loss": float(losses[i, v]),
                 "class": info.classes[int(rows_latents[i, v, cfg.nz:].argmax())] if cfg.conditional else None}
                for v in range(variants)]
    if reference01 is not None:
        for key, images in (("damaged", seen01), ("", restored01[:, 0])):
            psnr, ssim = quality(images, reference01)
            for row, p, s in zip(rows, psnr, ssim):
                row[f"{key}_psnr".lstrip("_")], row[f"{key}_ssim".lstrip("_")] = round(float(p), 2), round(float(s), 4)
    _write(env, names, seen01, restored01, reference01, rows_latents.flatten(0, 1).numpy(), output, out_dir, latents)

    if env.options.json:
        for row in rows:
            env.write_text(json.dumps(row, sort_keys=True) + "\n")
    else:
        columns = [("image", "image", "")]
        if reference01 is not None:
            columns += [("damaged_psnr", "damaged PSNR", ".2f"), ("damaged_ssim", "SSIM", ".4f"),
                        ("psnr", "restored PSNR", ".2f"), ("ssim", "SSIM", ".4f")]
        columns += [("loss", "loss", ".4g")] + ([("class", "class", "")] if cfg.conditional else [])
        text = search.table(rows, columns)
        if latents == STDIO:
            if not env.options.quiet:
                env.stderr.write(text)
        else:
            env.write_text(text)
    summary = ""
    if reference01 is not None:
        mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
        summary = f": PSNR {mean('damaged_psnr'):.2f} -> {mean('psnr'):.2f} dB, SSIM {mean('damaged_ssim'):.3f} -> " \
                  f"{mean('ssim'):.3f}"
    env.log(f"restored {kit.plural(len(names), 'image')} in {opt.steps} steps x {opt.restarts} restart(s) "
            f"(seed {seed}){summary}")


def _variants(G, norm, result, count: int):
    """The `count` kept restorations per image, in [0, 1] (N, V, C, H, W), their latents (N, V, D)
    and their losses (N, V)."""
    import torch

    from gantool.latent.restore import pick_variants

    n, k, d = result.candidates.shape
    if count == 1:
        best = norm.from_model(result.images.float()).cpu()[:, None]
        return best, result.latents[:, None], result.loss[:, None]
    device = next(G.parameters()).device
    with torch.no_grad():
        flat = result.candidates.reshape(-1, d)
        images = torch.cat([norm.from_model(G(flat[a:a + 512].to(device)).float()).cpu()
                            for a in range(0, flat.shape[0], 512)]).view(n, k, *result.images.shape[1:])
    idx = pick_variants(images, result.candidate_loss, count)
    take = torch.arange(n)[:, None]
    return images[take, idx], result.candidates[take, idx], result.candidate_loss[take, idx]


def _write(env, names, seen01, restored01, reference01, latents_array, output, out_dir, latents) -> None:
    import math

    import torch

    from gantool.files.images import grid_png, png_bytes, to_uint8
    from gantool.files.writing import atomic_write, safe_name, write_latents, write_output

    if latents is not None:
        write_latents(env, latents, latents_array)
    if output is not None:
        columns = [seen01[:, None], restored01] + ([reference01[:, None]] if reference01 is not None else [])
        panel = torch.cat(columns, 1)  # (N, columns, C, H, W); several images side by side keep the grid squarish
        per_row = max(1, round(math.sqrt(len(names) / panel.shape[1])))
        write_output(env, output, grid_png(panel.flatten(0, 1), panel.shape[1] * per_row), "a PNG image", "-o")
    if out_dir is not None:
        for name, images in zip(names, restored01):
            for v, image in enumerate(to_uint8(images)):
                atomic_write(out_dir / f"{safe_name(name)}{'' if v == 0 else f'-{v + 1}'}.png", png_bytes(image))


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("Demonstrate inpainting on clean images: cut a centre hole, fill it, and write a panel damaged | restored | "
     "original with the PSNR of each.",
     "gantool restore --simulate --mask center clean/ -m run/model.safetensors -o panel.png"),
    ("Restore real damaged photos with a hole marked in white in hole.png, keeping the pixels that survived.",
     "gantool restore damaged/ -m run/model.safetensors --mask hole.png --paste-known --out-dir restored/"),
    ("Four times the resolution, with some noise, scored against the originals.",
     "gantool restore small/ -m run/model.safetensors --downsample 4 --noise 0.05 --reference originals/ --json "
     "-o panel.png"),
    ("A large hole is ambiguous: show four different plausible fills from eight restarts.",
     "gantool restore --simulate --mask random:0.9 clean/ -m run/model.safetensors --variants 4 --restarts 8 "
     "-o variants.png"),
]
FILES = [("*.npy", "Latents out (V rows per image under --variants) and --init in: float32."),
         ("MASK.png", "--mask FILE: white (>= 128) marks missing pixels, at the input's size.")]
