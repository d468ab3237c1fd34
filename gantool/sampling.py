"""Latents and images from a trained generator.

A latent row is the generator's whole input: z, then for conditional models the one-hot class.
"""

from __future__ import annotations

import torch

from gantool.errors import GantoolError


def make_latents(cfg, n: int, generator: torch.Generator | None = None, classes: list[int] | None = None) -> torch.Tensor:
    """n latent rows on the CPU: z ~ N(0, I), with one-hot `classes` appended for conditional models."""
    z = torch.randn(n, cfg.nz, generator=generator)
    if not cfg.conditional:
        if classes is not None:
            raise GantoolError("this model is not conditional: it has no classes to pick")
        return z
    if classes is None:
        classes = torch.randint(0, cfg.num_classes, (n,), generator=generator).tolist()
    return torch.cat([z, torch.nn.functional.one_hot(torch.tensor(classes), cfg.num_classes).float()], 1)


def resolve_class(spec: str, class_names: list[str], num_classes: int) -> int:
    """A class given by index or by name."""
    if spec in class_names:
        return class_names.index(spec)
    try:
        k = int(spec)
    except ValueError:
        k = -1
    if not 0 <= k < num_classes:
        names = ", ".join(class_names) if class_names else f"0..{num_classes - 1}"
        raise GantoolError(f"no class {spec!r} in this model", f"classes: {names}")
    return k


@torch.no_grad()
def generate(G: torch.nn.Module, latents: torch.Tensor, device, batch_size: int = 256) -> torch.Tensor:
    """Images in [-1, 1] on the CPU for latents (N, D), in batches."""
    out = [G(chunk.to(device)).float().cpu() for chunk in latents.split(batch_size)]
    return torch.cat(out) if out else torch.empty(0)
