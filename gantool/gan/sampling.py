"""Latents and images from a trained generator, a chunk at a time (memory stays bounded for any -n).

A latent row is the generator's whole input: z, then for conditional models the one-hot class.
The generator makes its own latents (Generator.latents); chunk k draws from a generator seeded
with (seed, k), so the same seed gives the same rows on any device and for any output choice.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from gantool.errors import BadValue

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
