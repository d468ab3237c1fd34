"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): the discriminator sees every image,
real or generated, through the same random translation and cutout, in both D's and G's steps.

On a small data set D memorizes the real images within a few epochs and its gradients stop
telling G anything useful; augmenting only the real images would teach G to draw the
augmentations. Transforming both sides with differentiable operations keeps the game on the
original distribution while D has far more distinct images to learn from.

Policies (`--augment`): `translation` (shift by up to 1/8 of the side, the border filled with 0,
the middle of the [-1, 1] range, as the paper does), `cutout` (a square of half the side set to 0
at a random place), comma-separated, or `none`. The random numbers are drawn from the trainer's
noise generator for the global batch (gantool.gan.distributed slices them), so a resumed run and
a run under torchrun draw what one uninterrupted process draws. Importing this module does not
import torch (the CLI reads the choices for --help and completion).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

POLICIES = ("translation", "cutout")
CHOICES = ("none", "translation", "cutout", "translation,cutout")


def parse(policy: str) -> tuple[str, ...]:
    """'translation,cutout' -> ('translation', 'cutout'); 'none' -> ()."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip() and p.strip() != "none")
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}")
    return names


class Augment:
    """The augmentation of one run: `draw(n, size, generator)` makes the random choices for n
    images, `apply(x, choice)` applies them (differentiably) to a batch of those images."""

    def __init__(self, policy: str):
        self.policies = parse(policy)

    def __bool__(self) -> bool:
        return bool(self.policies)

    def draw(self, n: int, size: int, generator: torch.Generator) -> torch.Tensor:
        """(n, 4) int64: translation (dy, dx) and the cutout's top-left corner (y, x), on
        `generator`'s device; the columns a policy does not use are drawn all the same."""
        import torch

        shift = size // 8
        dev = generator.device
        translation = torch.randint(-shift, shift + 1, (n, 2), device=dev, generator=generator)
        corner = torch.randint(0, size - size // 2 + 1, (n, 2), device=dev, generator=generator)
        return torch.cat([translation, corner], 1)

    def apply(self, x: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
        if "translation" in self.policies:
            x = translate(x, choice[:, :2], x.shape[-1] // 8)
        if "cutout" in self.policies:
            x = cutout(x, choice[:, 2:])
        return x


def translate(x: torch.Tensor, shift: torch.Tensor, r: int) -> torch.Tensor:
    """Each image moved by its (dy, dx), at most `r` pixels, what comes in from outside filled with 0."""
    import torch
    import torch.nn.functional as F

    b, _, h, w = x.shape
    if r == 0:
        return x
    padded = F.pad(x, [r, r, r, r])
    rows = torch.arange(h, device=x.device)[None, :] + r - shift[:, :1]  # (B, H)
    cols = torch.arange(w, device=x.device)[None, :] + r - shift[:, 1:]  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    out = padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W), contiguous
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = out.contiguous(memory_format=torch.channels_last)  # as it came (channels-last on CUDA)
    return out


def cutout(x: torch.Tensor, corner: torch.Tensor) -> torch.Tensor:
    """Each image with a square of half its side, from its corner (y, x), set to 0."""
    import torch

    _, _, h, w = x.shape
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    inside_y = (ys >= corner[:, :1]) & (ys < corner[:, :1] + h // 2)  # (B, H)
    inside_x = (xs >= corner[:, 1:]) & (xs < corner[:, 1:] + w // 2)  # (B, W)
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
    return x * keep[:, None].to(x.dtype)

