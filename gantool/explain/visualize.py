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


def visualize(clf, targets: torch.Tensor, start: torch.Tensor, s: VisualizeSettings, frames: int | None = None,
              seed: int = 0) -> Visualized:
    """Gradient ascent from `start` (float (K, C, H, W) in [0, 1]) on each target's logit (`targets`
    (K,) int64), with `frames` (default `s.frames`) snapshots from the start to the end (evenly
    spaced in steps)."""
    from gantool.files.images import to_uint8

    frames = s.frames if frames is None else frames
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


# ---- what `gantool visualize-class` asks of it --------------------------------------------------------

def resolve_targets(clf, text: str) -> torch.Tensor:
    """The classes of a target setting: names or indices separated by commas, or `all`: (K,) int64."""
    from gantool.errors import BadValue
    from gantool.explain.saliency import resolve_target

    names = [t.strip() for t in text.split(",")] if text != "all" else [str(i) for i in range(clf.num_classes)]
    if any(not n for n in names):
        raise BadValue("target", text, "has an empty class between its commas")
    return torch.tensor([resolve_target(clf, n) for n in names], dtype=torch.int64)


def start_for(clf, count: int, s: VisualizeSettings, seed: int, device, pixels: torch.Tensor | None = None):
    """`count` start images: the one uint8 image `pixels` (1, C, H, W) at the input size repeated,
    or `s.start` (seeded noise or gray)."""
    if pixels is not None:
        return pixels.to(device).float().div(255).expand(count, -1, -1, -1).clone()
    return start_images(clf, count, s.start, seed, device)


def image_png(v: Visualized) -> bytes:
    """The images, one PNG: the image alone, or a row of them."""
    from gantool.files.images import grid_png, png_bytes, to_uint8

    return png_bytes(to_uint8(v.images[0])) if len(v.images) == 1 else grid_png(v.images, len(v.images))


def strip_png(v: Visualized) -> bytes:
    """The progress strip: one row per target, its snapshots from the start to the end."""
    from gantool.files.images import grid_png

    return grid_png(v.frames.flatten(0, 1), v.frames.shape[1])


def result_rows(clf, targets: torch.Tensor, v: Visualized) -> list[dict]:
    """One row per target: its probability for the start image and for the exported 8-bit image."""
    return [{"target": clf.classes[int(t)], "target_index": int(t),
             "start_probability": round(float(v.start_probability[i]), 6),
             "probability": round(float(v.probability[i]), 6), "predicted": clf.classes[int(v.predicted[i])],
             "predicted_index": int(v.predicted[i])} for i, t in enumerate(targets)]


def summary(rows: list[dict]) -> str:
    reached = sum(r["predicted_index"] == r["target_index"] for r in rows)
    mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    return (f"{reached}/{len(rows)} exported images predicted as their class; mean target probability "
            f"{mean('start_probability'):.3f} at the start, {mean('probability'):.3f} at the end (8-bit)")
