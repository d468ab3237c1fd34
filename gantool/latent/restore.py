"""Image restoration with a generator as the prior: search the latent whose image, damaged the same
way, matches the damaged input (Bora et al. 2017, "Compressed sensing using generative models").

`Damage` names the degradation, composable: a mask of missing pixels (inpainting), a Gaussian
blur (deblurring), additive noise (denoising), area downsampling (super-resolution), and the loss
of colour (colorization). `Damage.observe` is the differentiable operator that maps a clean image
to what the input shows; `gantool.latent.invert.invert` fits G(z) through it, on the pixels the
mask keeps. `Damage.simulate` applies the same damage, noise and 8-bit rounding included, so a
demonstration or an evaluation starts from clean images.

Torch is imported inside the functions (`--help` reads the settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from gantool.errors import BadValue, GantoolError
from gantool.latent.invert import SearchSettings
from gantool.settings import check, setting

if TYPE_CHECKING:
    import torch

DAMAGE = "Damage"
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's convert("L")
HOLE = 128 / 255  # what a simulated hole holds: mid-gray, on the 8-bit lattice


@dataclass
class Damage:
    mask: Optional[str] = setting(
        None, "Inpainting: which pixels are missing: center (a centre square of half the side), random:P (a "
              "fraction P of the pixels, seeded by --seed), or a PNG of the input's size whose white pixels are "
              "missing.", DAMAGE, default_help="none")
    blur: float = setting(0.0, "Deblurring: the sigma of the Gaussian blur, in pixels.", DAMAGE, ge=0, le=16)
    noise: float = setting(0.0, "Denoising: the sigma of the noise, in [0, 1] units. The generator's range does the "
                                "denoising; with --simulate, this noise is added.", DAMAGE, ge=0, le=1)
    downsample: int = setting(1, "Super-resolution: the input is K times smaller on a side (area averaging).",
                              DAMAGE, ge=1, le=16)
    gray: bool = setting(False, "Colorization (colour models): the input is grayscale.", DAMAGE)

    def check(self) -> None:
        """The values alone (the model's size is not needed yet)."""
        check(self)

    def validate(self, channels: int, size: int) -> None:
        self.check()
        if self.mask is not None and self.mask not in ("center", "centre") and not self.mask.startswith("random:") \
                and not self.mask.lower().endswith(".png"):
            raise BadValue("mask", self.mask, "must be center, random:P or a .png file")
        if self.mask is not None and self.mask.startswith("random:"):
            try:
                p = float(self.mask[7:])
            except ValueError:
                p = -1.0
            if not 0 < p < 1:
                raise BadValue("mask", self.mask, "random:P needs a fraction P between 0 and 1, e.g. random:0.8")
        if self.gray and channels != 3:
            raise BadValue("gray", None, "colorizes: it needs a colour model, and this one draws grayscale")
        if size % self.downsample:
            raise BadValue("downsample", self.downsample, f"must divide the model's image size, {size}")
        if self.blur > size:
            raise BadValue("blur", self.blur, f"is wider than the model's {size}-pixel images")

    def any(self) -> bool:
        return self.mask is not None or self.blur > 0 or self.noise > 0 or self.downsample > 1 or self.gray

    def observed_shape(self, channels: int, size: int) -> tuple[int, int]:
        """(channels, side) of what the input shows."""
        return (1 if self.gray else channels), size // self.downsample

    def known(self, size: int, seed: int, read_mask=None) -> torch.Tensor | None:
        """The mask of known pixels, (1, 1, side, side) float 1 = known, at the observed side; None
        without --mask. `read_mask(path, side)` reads a mask file as uint8 (side, side)."""
        import torch

        if self.mask is None:
            return None
        side = size // self.downsample
        if self.mask in ("center", "centre"):
            known = torch.ones(side, side)
            a = side // 4
            known[a:a + side // 2, a:a + side // 2] = 0
        elif self.mask.startswith("random:"):
            gen = torch.Generator().manual_seed(seed)
            known = (torch.rand(side, side, generator=gen) >= float(self.mask[7:])).float()
        else:
            known = (torch.from_numpy(read_mask(self.mask, side)) < 128).float()
        if known.sum() == 0:
            raise GantoolError(f"the mask {self.mask} leaves no known pixel", "white marks the missing pixels")
        return known[None, None]

    def observe(self, images01: torch.Tensor) -> torch.Tensor:
        """The damage without its noise, differentiable: images in [0, 1] (N, C, size, size) -> what
        the input shows (mask not applied: the loss weighs the pixels)."""
        import torch
        from torchvision.transforms.v2 import functional as TF

        x = images01
        if self.gray:
            x = (x * torch.tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
        if self.blur > 0:
            radius = max(1, int(3 * self.blur + 0.5))
            radius = min(radius, x.shape[-1] - 1)  # reflect padding needs the kernel inside the image
            x = TF.gaussian_blur(x, [2 * radius + 1] * 2, [self.blur] * 2)
        if self.downsample > 1:
            x = torch.nn.functional.avg_pool2d(x, self.downsample)
        return x

    def simulate(self, clean01: torch.Tensor, known: torch.Tensor | None, seeds: list[int] | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Damage clean images in [0, 1] as a camera would: the operator, then noise, then 8-bit
        rounding; missing pixels hold mid-gray. The noise: each image's own generator, from `seeds`
        (an image's damage independent of its batch), or one draw from `generator` on the images'
        device (a training loop's stream: no per-image work, no copy)."""
        import torch

        with torch.no_grad():
            y = self.observe(clean01.float())
            if self.noise > 0:
                noise = (torch.randn(y.shape, generator=generator, device=y.device) if generator is not None else
                         torch.stack([torch.randn(y.shape[1:], generator=torch.Generator().manual_seed(s))
                                      for s in seeds]).to(y.device))
                y = y + self.noise * noise
            y = y.clamp(0, 1).mul(255).round().div(255)
            if known is not None:
                y = y * known + HOLE * (1 - known)
            return y

    def seen(self, observed01: torch.Tensor, channels: int, size: int) -> torch.Tensor:
        """The input as a full-size image of the model's channels, for display and as the encoder's
        guess: nearest-neighbour upscaling, gray repeated into colour."""
        import torch

        x = observed01
        if x.shape[-1] != size:
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="nearest")
        if x.shape[1] != channels:
            x = x.expand(-1, channels, -1, -1)
        return x


def restore(G, normalization, observed01: torch.Tensor, damage: Damage, known: torch.Tensor | None,
            settings: SearchSettings, seed: int, classes: torch.Tensor | None = None, init="random", progress=None):
    """The latents whose images, damaged by `damage`, best match `observed01` (on G's device) on the
    `known` pixels: an `invert.Inversion` (its images in the model's range, undamaged)."""
    from gantool.latent.invert import invert

    def observe(images):
        return damage.observe(normalization.from_model(images))

    return invert(G, observed01, settings, seed, classes=classes, init=init, progress=progress, observe=observe,
                  weight=known)


def paste_known(restored01: torch.Tensor, observed01: torch.Tensor, damage: Damage,
                known: torch.Tensor | None) -> torch.Tensor:
    """Keep what the input shows: the image closest to the restoration (N, ..., C, H, W) whose damage,
    noise aside, is exactly the input (N, ..., c, h, w): for a mask, the known pixels pasted back;
    under --downsample, each block shifted to the input's average; under --gray, each pixel's colour
    shifted to the input's luminance. (The orthogonal projection onto the images consistent with the
    input, as the operator's rows are orthogonal; blur has no such projection.)"""
    import torch

    size = restored01.shape[-1]
    lead = restored01.shape[:-3]
    x = restored01.reshape(-1, *restored01.shape[-3:])
    y = observed01.expand(*lead, *observed01.shape[-3:]).reshape(-1, *observed01.shape[-3:])
    residual = y - damage.observe(x)  # in the input's space
    if known is not None:
        residual = residual * known
    if damage.downsample > 1:
        residual = torch.nn.functional.interpolate(residual, size=(size, size), mode="nearest")
    if damage.gray:
        w = torch.tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        residual = residual * w / w.pow(2).sum()
    return (x + residual).clamp(0, 1).reshape(restored01.shape)


def pick_variants(images01: torch.Tensor, loss: torch.Tensor, count: int, apart: float = 0.05) -> torch.Tensor:
    """For each image, the indices (N, count) of `count` of its candidates (N, K, C, H, W): the best,
    then by rising loss those that differ from every one chosen by an RMS of at least `apart` (a
    visible difference); when too few differ, the next best fill in."""
    import torch

    n, k = loss.shape
    order = loss.argsort(1)
    chosen = []
    for i in range(n):
        picks = [int(order[i, 0])]
        for j in order[i, 1:].tolist():
            if len(picks) == count:
                break
            rms = (images01[i, picks] - images01[i, j]).pow(2).flatten(1).mean(1).sqrt()
            if bool((rms >= apart).all()):
                picks.append(j)
        for j in order[i].tolist():
            if len(picks) == count:
                break
            if j not in picks:
                picks.append(j)
        chosen.append(picks)
    return torch.tensor(chosen, dtype=torch.int64)


def keep_variants(G, normalization, result, count: int):
    """The `count` kept restorations per image of an invert.Inversion, in [0, 1] (N, V, C, H, W),
    their latents (N, V, D) and their losses (N, V), best first."""
    import torch

    n, k, d = result.candidates.shape
    if count == 1:
        best = normalization.from_model(result.images.float()).cpu()[:, None]
        return best, result.latents[:, None], result.loss[:, None]
    device = next(G.parameters()).device
    with torch.no_grad():
        flat = result.candidates.reshape(-1, d)
        images = torch.cat([normalization.from_model(G(flat[a:a + 512].to(device)).float()).cpu()
                            for a in range(0, flat.shape[0], 512)]).view(n, k, *result.images.shape[1:])
    idx = pick_variants(images, result.candidate_loss, count)
    take = torch.arange(n)[:, None]
    return images[take, idx], result.candidates[take, idx], result.candidate_loss[take, idx]


__all__ = ["Damage", "SearchSettings", "keep_variants", "paste_known", "pick_variants", "restore"]
