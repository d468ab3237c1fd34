"""Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020):
how much of the generated set lies on the real manifold, and how much of the real manifold it covers.

A manifold is estimated by k-NN balls: around each sample, a ball reaching its k-th nearest
neighbour in its own set.
- precision: the fraction of generated samples inside some real ball (fidelity);
- recall: the fraction of real samples inside some generated ball (diversity);
- density: how many real balls hold each generated sample, over k, averaged (1 for a generated
  set distributed like the real one; above 1 when it crowds where the real data is dense);
- coverage: the fraction of real samples whose ball holds some generated sample (diversity, robust
  to outliers in the generated set, which inflate recall).
Distances are Euclidean, in row chunks (memory grows with the chunk, not with N x M).
"""

from __future__ import annotations

import torch

CHUNK = 1024  # rows per block of pairwise distances


def _blocks(a: torch.Tensor, b: torch.Tensor):
    """(start, distances (n, len(b))) for row blocks of a."""
    for start in range(0, len(a), CHUNK):
        yield start, torch.cdist(a[start:start + CHUNK], b)


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """The distance from each row of x to its k-th nearest other row."""
    k = min(k, len(x) - 1)
    radii = torch.empty(len(x), dtype=x.dtype)
    for start, d in _blocks(x, x):
        rows = torch.arange(len(d))
        d[rows, rows + start] = float("inf")  # not its own neighbour
        radii[start:start + len(d)] = d.topk(k, dim=1, largest=False).values[:, -1]
    return radii


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> dict:
    """{precision, recall, density, coverage} of fake (M, D) against real (N, D) features."""
    real, fake = real.double(), fake.double()
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    in_real_balls = torch.zeros(len(fake), dtype=torch.long)  # per fake: real balls holding it
    nearest_fake = torch.empty(len(real), dtype=real.dtype)  # per real: distance to the nearest fake
    for start, d in _blocks(real, fake):  # (n real, M fake)
        inside = d <= r_real[start:start + len(d), None]
        in_real_balls += inside.sum(0)
        nearest_fake[start:start + len(d)] = d.min(1).values
    recalled = torch.zeros(len(real), dtype=torch.bool)
    for start, d in _blocks(fake, real):  # (m fake, N real)
        recalled |= (d <= r_fake[start:start + len(d), None]).any(0)
    return {
        "precision": float((in_real_balls > 0).double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(in_real_balls.double().sum() / (min(k, len(real) - 1) * len(fake))),
        "coverage": float((nearest_fake <= r_real).double().mean()),
    }
