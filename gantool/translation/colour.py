"""L*a*b* for colorization, by kornia's differentiable conversions, scaled as the pix2pix reference
does (L / 50 - 1 and a*b* / 110, both about [-1, 1]), and colourfulness (Hasler & Suesstrunk 2003).

Images are floats in [0, 1], (N, C, H, W); gray images (C = 1) are read as R = G = B.
"""

from __future__ import annotations

import torch

L_SCALE, AB_SCALE = 50.0, 110.0


def _rgb(images01: torch.Tensor) -> torch.Tensor:
    return images01.expand(-1, 3, -1, -1) if images01.shape[1] == 1 else images01


def to_lab(images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(L / 50 - 1 (N, 1, H, W), a*b* / 110 (N, 2, H, W)) of RGB or gray images."""
    from kornia.color import rgb_to_lab

    lab = rgb_to_lab(_rgb(images01.float()).clamp(0, 1))
    return lab[:, :1] / L_SCALE - 1, lab[:, 1:] / AB_SCALE


def lightness(images01: torch.Tensor) -> torch.Tensor:
    """L / 50 - 1 of RGB or gray images (N, 1, H, W)."""
    return to_lab(images01)[0]


def from_lab(l_scaled: torch.Tensor, ab_scaled: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] from scaled L (N, 1, H, W) and a*b* (N, 2, H, W). A colour outside sRGB keeps its
    L and has its chroma shrunk (a*, b* towards 0, by bisection) until it fits: clipping each RGB
    channel instead would change the lightness a colorizer must keep."""
    from kornia.color import lab_to_rgb

    lightness_, ab = (l_scaled.float() + 1) * L_SCALE, ab_scaled.float() * AB_SCALE

    def rgb(scale):
        return lab_to_rgb(torch.cat([lightness_, ab * scale], 1), clip=False)

    def fits(x):
        return ((x >= 0) & (x <= 1)).all(1, keepdim=True)

    out = rgb(1.0)
    inside = fits(out)
    if not bool(inside.all()):
        lo, hi = torch.zeros_like(lightness_), torch.ones_like(lightness_)
        for _ in range(10):
            mid = (lo + hi) / 2
            ok = fits(rgb(mid))
            lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
        out = rgb(torch.where(inside, torch.ones_like(lo), lo))
    return out.clamp(0, 1)


def colourfulness(images01: torch.Tensor) -> torch.Tensor:
    """Hasler and Suesstrunk's colourfulness M = sigma_rgyb + 0.3 mu_rgyb per image (N,), on the 0-255
    scale of the paper (0 for a gray image; about 100 and more for vivid photos)."""
    x = _rgb(images01.float()) * 255
    r, g, b = x[:, 0].flatten(1), x[:, 1].flatten(1), x[:, 2].flatten(1)
    rg, yb = r - g, 0.5 * (r + g) - b
    sigma = (rg.var(1, unbiased=False) + yb.var(1, unbiased=False)).sqrt()
    mu = (rg.mean(1).pow(2) + yb.mean(1).pow(2)).sqrt()
    return sigma + 0.3 * mu
