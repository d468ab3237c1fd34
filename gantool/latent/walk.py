"""Walks between latent rows: slerp or lerp, between consecutive pairs or along one path.

A latent row is [z | one-hot class] (gantool.models.dcgan). The z part is interpolated with the
chosen method (slerp by default: for Gaussian z, straight lines pass through the low-probability
middle of the ball; White 2016); the class part always linearly, so the class morphs too, unless
it is pinned to one class. Plain NumPy: the generator is only called on the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gantool.words import plural
from gantool.errors import BadValue, GantoolError, flag
from gantool.latent import METHODS, MODES


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Rows a + t (b - a) for each t: (T, D)."""
    t = t[:, None]
    return (1 - t) * a[None] + t * b[None]


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation of the vectors themselves (their norms blend too): (T, D).
    Falls back to lerp when a and b are (anti)parallel or zero."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    t = t[:, None]
    return (np.sin((1 - t) * omega) * a[None] + np.sin(t * omega) * b[None]) / np.sin(omega)


@dataclass(frozen=True)
class Walk:
    """The latents of a walk, (rows * steps, D), in grid order: `rows` rows of `steps` frames."""

    latents: np.ndarray
    rows: int
    steps: int


def walk(latents: np.ndarray, steps: int, nz: int, num_classes: int = 0, method: str = "slerp",
         mode: str = "pairs", loop: bool = False, pinned_class: int | None = None) -> Walk:
    """Interpolate between rows of `latents` (N, nz + num_classes).

    pairs: rows 0->1, 2->3, ... (N even), one grid row each. path: 0->1->...->N-1 (->0 with
    `loop`), one grid row per segment. Each row has `steps` frames, its two ends included.
    """
    if method not in METHODS:
        raise BadValue("method", method, f"must be one of {', '.join(METHODS)}")
    if mode not in MODES:
        raise BadValue("mode", mode, f"must be one of {', '.join(MODES)}")
    if steps < 2:
        raise BadValue("steps", steps, "must be at least 2 (the two ends)")
    n, width = latents.shape
    if width != nz + num_classes:
        raise GantoolError(f"latents have {width} values per row, the model takes {nz + num_classes}")
    if loop and mode == "pairs":
        raise BadValue("loop", None, "closes a path", f"use it with {flag('mode')} path")
    if mode == "pairs":
        if n < 2 or n % 2:
            raise GantoolError(f"{plural(n, 'latent row')} given; pairs need an even number, at least 2",
                               f"draw them with `gantool sample -n 2`, or use {flag('mode')} path")
        segments = [(i, i + 1) for i in range(0, n, 2)]
    else:
        if n < 2:
            raise GantoolError(f"{n} latent row given; a path needs at least 2", "draw them with `gantool sample -n 2`")
        segments = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if loop else [])
    if pinned_class is not None and not 0 <= pinned_class < num_classes:
        raise BadValue("class", pinned_class, "no such class in this model")
    t = np.linspace(0.0, 1.0, steps)
    interpolate = slerp if method == "slerp" else lerp
    rows = []
    for i, j in segments:
        a, b = latents[i].astype(np.float64), latents[j].astype(np.float64)
        z = interpolate(a[:nz], b[:nz], t)
        if num_classes:
            if pinned_class is not None:
                c = np.zeros((steps, num_classes))
                c[:, pinned_class] = 1.0
            else:
                c = lerp(a[nz:], b[nz:], t)
            z = np.concatenate([z, c], axis=1)
        rows.append(z)
    return Walk(np.concatenate(rows).astype(np.float32), len(segments), steps)


def frames(w: Walk, mode: str, loop: bool) -> np.ndarray:
    """Frame order for an animation: every row's frames in turn; along a path, each joint once. A
    loop ends on the frame it started with."""
    if mode == "pairs":
        return np.arange(len(w.latents))
    order = [0] + [r * w.steps + k for r in range(w.rows) for k in range(1, w.steps)]
    return np.asarray(order)


def draw(G, device, normalization, w: Walk, mode: str, loop: bool, fps: float, outputs) -> None:
    """The walk's images, into a grid (a row per leg) and an animation (`frames` order); `G` may be
    None when only the latents are asked for (gantool.latent.outputs.Outputs)."""
    import torch

    from gantool.gan.sampling import array_chunks, generate

    outputs.write_latents(w.latents)
    if G is None or (outputs.grid is None and outputs.animation is None):
        return
    images = torch.cat([generate(G, z, device, normalization) for z in array_chunks(w.latents)])
    outputs.write_grid(images, w.steps)
    outputs.write_animation(images[torch.from_numpy(frames(w, mode, loop))], fps)
