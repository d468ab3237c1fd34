"""FID and KID by torchmetrics, on features already taken by a judge.

torchmetrics' FrechetInceptionDistance and KernelInceptionDistance take a custom feature module;
they are given `Precomputed`, which passes the judge's features through as float64, so each image
goes through the network once (gantool.metrics.judge) and cached real features need no images.
The FID's sums and covariances are float64 in torchmetrics; KID's polynomial kernel runs on the
float64 features. KID's subsets are drawn from a generator seeded by `seed`.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import torch
from torch import nn

CHUNK = 4096  # feature rows per update
# torchmetrics' FID takes the eigenvalues of a D x D product (LAPACK geev): for small D, threads only
# contend, and on a busy 2-core CPU 2 threads took 0.75 s for D = 128 where 1 took 0.01 s
ONE_THREAD_UP_TO = 512


class Precomputed(nn.Module):
    """The feature module torchmetrics is given: features (N, D) in, the same as float64 out."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.double()


@contextmanager
def quiet():
    """torchmetrics warns that KID and IS keep every feature in memory (here they are in memory
    already), and that the std of one IS split has no degrees of freedom (it is reported as 0)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        warnings.filterwarnings("ignore", message=".*degrees of freedom.*")
        yield


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """The Fréchet distance between the Gaussians fitted to two feature sets (N, D)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=Precomputed(real.shape[1]))
    for chunk in real.split(CHUNK):
        metric.update(chunk, real=True)
    for chunk in fake.split(CHUNK):
        metric.update(chunk, real=False)
    threads = torch.get_num_threads()
    if real.shape[1] <= ONE_THREAD_UP_TO:
        torch.set_num_threads(1)
    try:
        return float(metric.compute())
    finally:
        torch.set_num_threads(threads)


def kid(real: torch.Tensor, fake: torch.Tensor, subset_size: int = 1000, subsets: int = 100,
        seed: int = 0) -> tuple[float, float, int]:
    """(KID mean, std over `subsets` subsets, the subset size used: at most the smaller set)."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = max(2, min(subset_size, len(real), len(fake)))
    with quiet():
        metric = KernelInceptionDistance(feature=Precomputed(real.shape[1]), subsets=subsets, subset_size=size)
    for chunk in real.split(CHUNK):
        metric.update(chunk, real=True)
    for chunk in fake.split(CHUNK):
        metric.update(chunk, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std), size
