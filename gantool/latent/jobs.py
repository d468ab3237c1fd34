"""The jobs of `invert` and `restore`: images read, searched through the generator, scored, and
written; the command line checks the options and outputs first and prints the rows.

A job's result is a row per image (image, loss, class; PSNR and SSIM where there is a clean
reference) and the latents, V rows per image under `variants`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gantool.words import plural
from gantool.errors import BadValue, GantoolError

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass
class Searched:
    rows: list[dict]  # one per image
    latents: np.ndarray  # (N * V, D)
    shown: torch.Tensor  # (N, C, H, W) in [0, 1]: the target (invert) or the damaged input as seen (restore)
    images: torch.Tensor  # (N, V, C, H, W) in [0, 1]: reconstructions, best first
    reference: torch.Tensor | None  # (N, C, H, W) in [0, 1]: the clean images, when known
    means: dict  # mean PSNR/SSIM (unrounded) by row key
    pairs: bool = False  # the grid: target | reconstruction pairs, 8 to a row (invert)

    def write(self, outputs) -> None:
        """Latents, a grid (a row per image, or target | reconstruction pairs for invert), one PNG
        per image (variants as STEM-2.png, ...) into gantool.latent.outputs.Outputs."""
        import math

        import torch

        outputs.write_latents(self.latents)
        columns = [self.shown[:, None], self.images]
        if self.reference is not None and not self.pairs:
            columns.append(self.reference[:, None])
        panel = torch.cat(columns, 1)  # (N, columns, C, H, W)
        if self.pairs:
            per_row = min(8, len(self.rows))
        else:  # several images side by side keep the grid squarish
            per_row = max(1, round(math.sqrt(len(self.rows) / panel.shape[1])))
        outputs.write_grid(panel.flatten(0, 1), panel.shape[1] * per_row)
        outputs.write_each(self.images if self.images.shape[1] > 1 else self.images[:, 0])


def columns(reference: bool, conditional: bool, restore: bool) -> list[tuple[str, str, str]]:
    """The table's columns (gantool.cli.kit.table)."""
    out = [("image", "image", "")]
    if reference and restore:
        out += [("damaged_psnr", "damaged PSNR", ".2f"), ("damaged_ssim", "SSIM", ".4f"),
                ("psnr", "restored PSNR", ".2f"), ("ssim", "SSIM", ".4f")]
    elif reference:
        out += [("psnr", "PSNR dB", ".2f"), ("ssim", "SSIM", ".4f")]
    return out + [("loss", "loss", ".4g")] + ([("class", "class", "")] if conditional else [])


def read_all(chunks, channels: int, size: int, exact_channels: str | None):
    """Every image of a gantool.data.inputs.ImageChunks: uint8 (N, C, size, size) and the names."""
    import torch

    parts = list(chunks.read(channels, size, exact_channels))
    return torch.cat([images for images, _ in parts]), [name for _, names in parts for name in names]


def _device(G):
    return next(G.parameters()).device


def _class_of(info, latent) -> str | None:
    cfg = info.config
    return info.classes[int(latent[cfg.nz:].argmax())] if cfg.conditional else None


def invert_images(loaded, info, targets8, names: list[str], settings, seed: int, classes=None, start="random",
                  encoder=None, progress=None, finetune=None, finetune_progress=None) -> Searched:
    """Invert uint8 images (N, C, H, W) at the model's size (gantool.latent.invert): `start` a
    name or starting latents, `encoder` (for `start` "encoder") guesses them instead. With
    `finetune` (gantool.latent.finetune.FinetuneSettings, on), the images are those of the
    generator fine-tuned per image from the latents found (the latents stay the search's)."""
    from gantool.latent.encoder import encode
    from gantool.latent.invert import invert, quality

    G, norm = loaded["generator"], loaded.normalization
    targets = norm.to_model(targets8.float().div(255)).to(_device(G))
    if encoder is not None:
        start = encode(encoder, targets)
    result = invert(G, targets, settings, seed, D=loaded.nets.get("discriminator"), classes=classes, init=start,
                    progress=progress)
    recon01, target01 = norm.from_model(result.images.float()).cpu(), targets8.float().div(255)
    kept = None
    if finetune is not None and finetune.on:
        from gantool.latent.finetune import finetune_search

        recon01, steps = finetune_search(loaded, result, target01, finetune, seed, settings.loss,
                                         progress=finetune_progress)
        recon01, kept = recon01[:, 0], steps[:, 0].tolist()
    psnr, ssim = quality(recon01, target01)
    rows = [{"image": name, "psnr": round(float(p), 2), "ssim": round(float(s), 4), "loss": float(l),
             "class": _class_of(info, result.latents[i])}
            for i, (name, p, s, l) in enumerate(zip(names, psnr, ssim, result.loss))]
    if kept is not None:
        for row, step in zip(rows, kept):
            row["finetune_step"] = step
    return Searched(rows, result.latents.numpy(), target01, recon01[:, None], target01,
                    {"psnr": float(psnr.mean()), "ssim": float(ssim.mean())}, pairs=True)


# ---- restore ------------------------------------------------------------------------------------

@dataclass
class RestoreInputs:
    """What restore reads before the model loads: the images (clean under `simulate`, else
    damaged at the observed size), the clean references if any, the mask of known pixels."""

    names: list[str]
    images8: Any  # uint8 (N, c, h, w)
    reference8: Any  # uint8 (N, C, H, W) or None
    known: Any  # (1, 1, h, w) float or None


def read_mask(path: str, side: int):
    """A mask file, white = missing, at the input's side: uint8 (side, side)."""
    from pathlib import Path

    from gantool.files.images import image_size_of, load_image
    from gantool.files.reading import reading

    with reading(path, "mask"):
        Path(path).stat()
    w, h = image_size_of(path)
    if (w, h) != (side, side):
        raise GantoolError(f"mask {path} is {w}x{h}, but the input is {side}x{side} here",
                           "the mask marks the input's missing pixels in white, at the input's size")
    return load_image(path, 1)[0]


def read_restore_inputs(chunks, reference_chunks, damage, simulate: bool, cfg, seed: int,
                        hint: str) -> RestoreInputs:
    """The images, references and mask, checked (`hint`: for an image of the wrong channels)."""
    size = cfg.image_size
    known = damage.known(size, seed, read_mask)
    channels, side = damage.observed_shape(cfg.channels, size)
    if simulate:
        images8, names = read_all(chunks, cfg.channels, size, hint)
    else:
        images8, names = read_all(chunks, channels, side, None if damage.gray else hint)
    reference8 = None
    if reference_chunks is not None:
        reference8, ref_names = read_all(reference_chunks, cfg.channels, size, hint)
        if len(ref_names) != len(names):
            raise BadValue("reference", None, f"gives {plural(len(ref_names), 'image')} "
                           f"for {plural(len(names), 'damaged image')}",
                           "one clean image per damaged one, in order")
    return RestoreInputs(names, images8, reference8, known)


def restore_images(loaded, info, inputs: RestoreInputs, damage, settings, variants: int, simulate: bool,
                   paste_known: bool, seed: int, classes=None, start="random", encoder=None,
                   progress=None, finetune=None, finetune_progress=None) -> Searched:
    """Restore (gantool.latent.restore) the images of `inputs`, keeping `variants` per image; with
    `finetune` (gantool.latent.finetune.FinetuneSettings, on), each variant is then redrawn by the
    generator fine-tuned for it (before --paste-known; the latents stay the search's)."""
    from gantool.latent.encoder import encode
    from gantool.latent.invert import image_seed, quality
    from gantool.latent.restore import keep_variants, paste_known as paste, restore

    G, norm, cfg = loaded["generator"], loaded.normalization, info.config
    dev, known = _device(G), inputs.known
    if simulate:
        reference01 = inputs.images8.float().div(255)
        observed01 = damage.simulate(reference01, known, [image_seed(seed, image) for image in reference01])
    else:
        reference01 = inputs.reference8.float().div(255) if inputs.reference8 is not None else None
        observed01 = inputs.images8.float().div(255)
    seen01 = damage.seen(observed01, cfg.channels, cfg.image_size)
    if encoder is not None:
        start = encode(encoder, norm.to_model(seen01.to(dev)))
    result = restore(G, norm, observed01.to(dev), damage, known.to(dev) if known is not None else None, settings,
                     seed, classes=classes, init=start, progress=progress)
    restored01, latents, losses = keep_variants(G, norm, result, variants)  # (N, V, ...), best first
    kept = None
    if finetune is not None and finetune.on:
        from gantool.latent.finetune import finetune_search

        restored01, kept = finetune_search(loaded, result, observed01, finetune, seed, settings.loss, damage, known,
                                           finetune_progress, None if finetune.finetune_average > 1 else latents)
    if paste_known:
        restored01 = paste(restored01, observed01[:, None], damage, known)
    rows = []
    for i, name in enumerate(inputs.names):
        rows.append({"image": name, "loss": float(result.loss[i]), "class": _class_of(info, latents[i, 0]),
                     "damaged_psnr": None, "damaged_ssim": None, "psnr": None, "ssim": None})
        if kept is not None:
            rows[-1]["finetune_step"] = int(kept[i, 0])
        if variants > 1:
            rows[-1]["variants"] = [{"loss": float(losses[i, v]), "class": _class_of(info, latents[i, v])}
                                    | ({"finetune_step": int(kept[i, v])} if kept is not None else {})
                                    for v in range(variants)]
    means = {}
    if reference01 is not None:
        for key, images in (("damaged_", seen01), ("", restored01[:, 0])):
            psnr, ssim = quality(images, reference01)
            means[f"{key}psnr"], means[f"{key}ssim"] = float(psnr.mean()), float(ssim.mean())
            for row, p, s in zip(rows, psnr, ssim):
                row[f"{key}psnr"], row[f"{key}ssim"] = round(float(p), 2), round(float(s), 4)
    return Searched(rows, latents.flatten(0, 1).numpy(), seen01, restored01, reference01, means)
