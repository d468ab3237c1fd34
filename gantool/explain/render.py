"""Saliency maps as pictures: a heatmap through a matplotlib colormap, and an overlay of it on the image.

A map that takes one sign (gradient, smoothgrad, grad-cam) is scaled by its maximum and drawn with
a sequential colormap (default inferno); a signed map (integrated-gradients) is scaled by its
largest absolute value, 0 in the middle, and drawn with a diverging one (default RdBu_r: red
speaks for the target, blue against it).
"""

from __future__ import annotations

import torch

DEFAULT_COLORMAP = {False: "inferno", True: "RdBu_r"}


def heatmaps(maps: torch.Tensor, signed: bool, colormap: str | None = None) -> torch.Tensor:
    """Maps (N, H, W) -> RGB heatmaps (N, 3, H, W) in [0, 1], each scaled on its own."""
    import matplotlib

    cmap = matplotlib.colormaps[colormap or DEFAULT_COLORMAP[signed]]
    m = maps.float()
    flat = m.reshape(len(m), -1)
    if signed:
        scale = flat.abs().amax(1).clamp_min(1e-12)
        unit = (m / scale[:, None, None] + 1) / 2
    else:
        low = flat.amin(1)
        scale = (flat.amax(1) - low).clamp_min(1e-12)
        unit = (m - low[:, None, None]) / scale[:, None, None]
    rgba = cmap(unit.clamp(0, 1).numpy())  # (N, H, W, 4) float64
    return torch.from_numpy(rgba[..., :3]).float().permute(0, 3, 1, 2).contiguous()


def overlays(images: torch.Tensor, heat: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """The heatmaps blended on the images made gray (N, 3, H, W) in [0, 1]."""
    gray = images.float().mean(1, keepdim=True) if images.shape[1] == 3 else images.float()
    return ((1 - alpha) * gray.expand(-1, 3, -1, -1) + alpha * heat).clamp(0, 1)


def panels_png(panels: torch.Tensor) -> bytes:
    """Panels (N, P, C, H, W) in [0, 1] (P pictures of each image side by side: image | map | ...)
    as one PNG grid, the panels laid out about square."""
    import math

    from gantool.files.images import grid_png

    n, p = panels.shape[:2]
    per_row = max(1, round(math.sqrt(n / p)))
    return grid_png(panels.flatten(0, 1), p * per_row)


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """(N, 1 or 3, H, W) -> (N, 3, H, W), gray repeated."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
