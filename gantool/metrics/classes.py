"""What a judge with classes says about generated images: the Inception Score (by torchmetrics,
on the judge's logits), the class histogram and its normalized entropy (1: every class equally
often; 0: one class only, a collapse), and for a conditional generator the fraction of samples
read as the class they were drawn for."""

from __future__ import annotations

import math

import torch


def inception_score(logits: torch.Tensor, seed: int = 0, splits: int | None = None) -> tuple[float, float]:
    """(mean, std) of exp(E KL(p(y|x) || p(y))) over `splits` parts (default: 10, fewer under 1,000 samples)."""
    from torchmetrics.image.inception import InceptionScore

    from gantool.metrics.frechet import Precomputed, quiet

    splits = splits or max(1, min(10, len(logits) // 100))
    with quiet():
        metric = InceptionScore(feature=Precomputed(logits.shape[1]), splits=splits)
    metric.update(logits)
    with torch.random.fork_rng(devices=[]), quiet():  # its split order is a random permutation
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), (float(std) if splits > 1 else 0.0)


def class_histogram(logits: torch.Tensor) -> list[int]:
    """How many samples the judge reads as each class."""
    return torch.bincount(logits.argmax(1), minlength=logits.shape[1]).tolist()


def normalized_entropy(histogram: list[int]) -> float:
    """The histogram's entropy over log(classes): 1 uniform, 0 a single class."""
    counts = torch.tensor(histogram, dtype=torch.float64)
    if len(counts) < 2 or counts.sum() == 0:
        return 0.0
    p = counts / counts.sum()
    p = p[p > 0]
    return abs(float((p * p.log()).sum() / math.log(len(counts))))  # abs: one class is 0, not -0


def requested_accuracy(logits: torch.Tensor, requested: torch.Tensor) -> float:
    """The fraction of samples read as the class they were drawn for."""
    return float((logits.argmax(1).cpu() == torch.as_tensor(requested).cpu()).double().mean())
