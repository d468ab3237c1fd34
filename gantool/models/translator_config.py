"""What image-to-image translation networks are, in numbers (torch-free: --help and the settings read it).

- `unet_depth(size)`: how many times a U-Net trained on size x size crops halves them: down to a
  1x1 bottleneck (ceil(log2 size)), at most MAX_DEPTH (the reference's 256x256 net).
- `receptive_field(d_layers)`: the side of the patch each PatchGAN score sees.
- `largest_d_layers(size)`: the most PatchGAN layers (up to the paper's 3) that leave a score on a
  size x size crop; `check_d_layers` refuses more.
"""

from __future__ import annotations

import math

from gantool.errors import BadValue

TASKS = ("paired", "colorize", "restore")
NORMS = ("batch", "instance")
MAX_DEPTH = 8
MAX_D_LAYERS = 5
DEFAULT_D_LAYERS = 3


def unet_depth(size: int) -> int:
    return max(2, min(MAX_DEPTH, math.ceil(math.log2(size))))


def receptive_field(d_layers: int) -> int:
    r = 7  # the two stride-1 4x4 convolutions at the end
    for _ in range(d_layers):
        r = 2 * r + 2
    return r


def patch_grid(d_layers: int, size: int) -> int:
    """The side of the PatchGAN's score map on a size x size input."""
    return size // 2**d_layers - 2


def largest_d_layers(size: int) -> int:
    n = DEFAULT_D_LAYERS
    while n > 1 and patch_grid(n, size) < 1:
        n -= 1
    return n


def check_d_layers(d_layers: int, size: int) -> None:
    if not 1 <= d_layers <= MAX_D_LAYERS:
        raise BadValue("d_layers", d_layers, f"must be from 1 to {MAX_D_LAYERS}")
    if patch_grid(d_layers, size) < 1:
        raise BadValue("d_layers", d_layers, f"leaves no patch to score on {size}x{size} crops (it needs at least "
                                             f"{3 * 2**d_layers} pixels)", f"give {largest_d_layers(size)} or fewer")
