"""Latents and images from a trained generator, a chunk at a time (memory stays bounded for any -n).

A latent row is the generator's whole input: z, then for conditional models the one-hot class.
The generator makes its own latents (Generator.latents); chunk k draws from a generator seeded
with (seed, k), so the same seed gives the same rows on any device and for any output choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from gantool.errors import BadValue, flag

CHUNK = 512  # latent rows per generator call


def resolve_class(spec: str, class_names: Sequence[str]) -> int:
    """A class given by name or by index."""
    if spec in class_names:
        return list(class_names).index(spec)
    try:
        k = int(spec)
    except ValueError:
        k = -1
    if not 0 <= k < len(class_names):
        raise BadValue("class", spec, "no such class in this model", f"classes: {', '.join(class_names)}")
    return k


def latent_chunks(G, n: int, seed: int, classes: Sequence[int] | None = None,
                  chunk: int = CHUNK) -> Iterator[torch.Tensor]:
    """n fresh latent rows on the CPU, `chunk` at a time; `classes` (one per row) for conditional models."""
    for k, start in enumerate(range(0, n, chunk)):
        gen = torch.Generator().manual_seed((seed * 1_000_003 + k) % (2**63))
        size = min(chunk, n - start)
        z, _ = G.latents(size, gen, None if classes is None else list(classes[start:start + size]))
        yield z


def array_chunks(latents: np.ndarray, chunk: int = CHUNK) -> Iterator[torch.Tensor]:
    """Given latent rows (N, D), `chunk` at a time."""
    for start in range(0, len(latents), chunk):
        yield torch.from_numpy(np.ascontiguousarray(latents[start:start + chunk], dtype=np.float32))


@torch.inference_mode()
def generate(G, latents: torch.Tensor, device, normalization) -> torch.Tensor:
    """Images in [0, 1] on the CPU for one chunk of latents (N, D)."""
    return normalization.from_model(G(latents.to(device)).float()).cpu()


@dataclass(frozen=True)
class SamplePlan:
    """What one `sample` draws: `total` rows, `classes` (one per row, conditional models) or None,
    `nrow` grid images per row."""

    total: int
    classes: list[int] | None
    nrow: int


def plan(cfg, class_names: Sequence[str], count: int, nrow: int | None, class_: str | None,
         given: np.ndarray | None) -> SamplePlan:
    """Given latents as they are; else `count` rows (of one class with `class_`; of every class in
    turn, a grid row each, for a conditional model without it)."""
    if given is not None:
        classes, total = None, len(given)
    elif cfg.conditional and class_ is None:
        classes, total = [c for c in range(cfg.num_classes) for _ in range(count)], count * cfg.num_classes
        nrow = nrow or count
    else:
        classes = [resolve_class(class_, class_names)] * count if class_ is not None else None
        total = count
    return SamplePlan(total, classes, nrow or math.ceil(math.sqrt(total)))


def draw(G, info, device, p: SamplePlan, seed: int, given: np.ndarray | None, outputs, progress) -> None:
    """Generate `p.total` images chunk by chunk (fresh latents from `seed`, or `given`); each chunk
    goes to every output asked for (gantool.latent.outputs.Outputs), the latents streamed as they come."""
    import contextlib

    from gantool.files.images import png_bytes, to_uint8
    from gantool.files.writing import NpyWriter, output as open_output, safe_name, write_in
    from gantool.progress import over

    chunks = array_chunks(given) if given is not None else latent_chunks(G, p.total, seed, p.classes)
    grid: list = []
    with contextlib.ExitStack() as stack:
        npy = None
        if outputs.latents is not None:
            stream = stack.enter_context(open_output(outputs.env, outputs.latents, ".npy latents", flag("latents")))
            npy = NpyWriter(stream, p.total, info.config.latent_dim)
        done = 0
        for z in over(chunks, p.total, progress):
            images = generate(G, z, device, info.normalization) if outputs.images else None
            if outputs.grid is not None:
                grid.append(images)
            if outputs.out_dir is not None:
                for i, image in enumerate(to_uint8(images), start=done):
                    tag = f"-{safe_name(info.classes[p.classes[i]], 'class')}" if p.classes else ""
                    write_in(outputs.out_dir, f"{i:05d}{tag}.png", png_bytes(image))
            if npy is not None:
                npy.write(z.numpy())
            done += len(z)
    if grid:
        outputs.write_grid(torch.cat(grid), p.nrow)
