"""Class visualization: an image a Classifier (gantool.classify.classifiers) reads as a class, by
gradient ascent on the class's logit (Simonyan et al. 2014), regularized as in Stanford's CS231n
recipe: an L2 penalty, a random jitter (a roll of the image) before every step, and a Gaussian
blur every few steps. Images are in [0, 1] and clipped to it after every step; the Classifier
normalizes inside. One image per target, all in one batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gantool.explain.settings import VisualizeSettings


@dataclass
class Visualized:
    images: torch.Tensor  # float (K, C, H, W) in [0, 1]: the last iterate, one per target
    frames: torch.Tensor  # float (K, F, C, H, W): the progress, from the start to the end
    start_probability: torch.Tensor  # (K,) the target's probability of the start image
    probability: torch.Tensor  # (K,) the target's probability of the image rounded to 8 bits (what is written)
    predicted: torch.Tensor  # (K,) int64: the class predicted for the 8-bit image


def default_jitter(size: int) -> int:
    """1/14 of the side (16 pixels at 224, as CS231n), at least 1."""
    return max(1, size // 14)


def start_images(clf, count: int, kind: str, seed: int, device) -> torch.Tensor:
    """`count` start images at the classifier's input size: seeded gray noise (sd 0.1) or gray."""
    shape = (count, clf.channels, clf.input_size, clf.input_size)
    if kind == "gray":
        return torch.full(shape, 0.5, device=device)
    g = torch.Generator().manual_seed(seed)
    return (0.5 + 0.1 * torch.randn(shape, generator=g)).clamp(0, 1).to(device)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as TF

    side = min(x.shape[-2:])
    k = min(2 * math.ceil(3 * sigma) + 1, side if side % 2 else side - 1)
    return TF.gaussian_blur(x, [k, k], [sigma, sigma]) if k >= 3 else x


def visualize(clf, targets: torch.Tensor, start: torch.Tensor, s: VisualizeSettings, frames: int = 8,
              seed: int = 0) -> Visualized:
    """Gradient ascent from `start` (float (K, C, H, W) in [0, 1]) on each target's logit (`targets`
    (K,) int64), with `frames` snapshots from the start to the end (evenly spaced in steps)."""
    from gantool.files.images import to_uint8

    x = start.detach().float().clone()
    targets = targets.to(x.device)
    jitter = s.jitter if s.jitter is not None else default_jitter(clf.input_size)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        p0 = clf(x).float().softmax(1).gather(1, targets[:, None])[:, 0]
    keep = {round(i * s.steps / max(1, frames - 1)) for i in range(frames)} if frames > 1 else {s.steps}
    shots = [x.clone()] if 0 in keep else []
    for step in range(1, s.steps + 1):
        dy, dx = (torch.randint(-jitter, jitter + 1, (2,), generator=g).tolist() if jitter else (0, 0))
        xr = torch.roll(x, (dy, dx), (2, 3)).requires_grad_(True)
        score = clf(xr).float().gather(1, targets[:, None])[:, 0] - s.l2 * (xr - 0.5).flatten(1).pow(2).sum(1)
        (grad,) = torch.autograd.grad(score.sum(), xr)
        rms = grad.flatten(1).norm(dim=1).div(math.sqrt(grad[0].numel())).clamp_min(1e-12)
        xr = (xr + s.lr * grad / rms[:, None, None, None]).detach()
        x = torch.roll(xr, (-dy, -dx), (2, 3)).clamp(0, 1)
        if s.blur_every and step % s.blur_every == 0:
            x = _blur(x, s.blur_sigma).clamp(0, 1)
        if step in keep:
            shots.append(x.clone())
    saved = to_uint8(x).to(x.device).float().div(255)
    with torch.no_grad():
        p = clf(saved).float().softmax(1)
    return Visualized(x.cpu(), torch.stack(shots, 1).cpu(), p0.cpu(), p.gather(1, targets[:, None])[:, 0].cpu(),
                      p.argmax(1).cpu())
