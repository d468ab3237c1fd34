"""The checks every saliency map carries.

Deletion and insertion (Petsiuk et al. 2018, RISE): the pixels in order of saliency, most salient
first, are deleted (replaced by the fill) or inserted (into the fill) in K equal steps; the target
class's softmax probability is read after each step, and the area under that curve over the
fraction of pixels (0 to 1, trapezoid rule) is the score. A good map makes the deletion AUC low
and the insertion AUC high. Beside each, the same curve for a seeded random order of the pixels:
a map is only worth something where it beats that. Under the "rise" fill (RISE's protocol)
deleted pixels turn black and insertion starts from a blurred copy of the image; "black" and
"blur" use one fill for both. Ties in a map are broken by a seeded random order too.

The randomization test (Adebayo et al. 2018, "Sanity checks for saliency maps", cascading): on a
copy of the classifier, the layers with weights are re-initialized from the top (the head) down,
the maps are computed again at a few points of the cascade, and Spearman's rank correlation
between each image's map of the trained model and of the randomized one (of absolute values)
is reported; a map that stays the same when the weights it should explain are gone explains
nothing about them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from gantool.explain.saliency import _blurred

SANITY_WARNING = 0.5  # mean rank correlation above which the maps do not depend enough on the weights


def fills(images: torch.Tensor, fill: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(what deletion puts in, what insertion starts from) for `images`."""
    black = torch.zeros_like(images)
    if fill == "black":
        return black, black
    blurred = _blurred(images)
    return (blurred, blurred) if fill == "blur" else (black, blurred)


def order_of(maps: torch.Tensor, seed: int, random: bool = False) -> torch.Tensor:
    """The pixel indices (N, H*W), most salient first (ties in a seeded random order), or a seeded
    random order with `random`."""
    n, hw = maps.shape[0], maps[0].numel()
    g = torch.Generator().manual_seed(seed)
    shuffle = torch.stack([torch.randperm(hw, generator=g) for _ in range(n)])
    if random:
        return shuffle
    flat = maps.reshape(n, hw).float().cpu()
    ranked = torch.argsort(flat.gather(1, shuffle), dim=1, descending=True, stable=True)
    return shuffle.gather(1, ranked)


def _masks(order: torch.Tensor, counts: list[int], shape) -> torch.Tensor:
    """(steps, N, 1, H, W) float: 1 where a pixel is among the first counts[k] of its order."""
    n, hw = order.shape
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(hw).expand(n, hw).contiguous())
    return torch.stack([(rank < c).float().view(n, 1, *shape) for c in counts])


@torch.no_grad()
def probabilities(clf, images: torch.Tensor, target: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """The target's softmax probability of each image (N,)."""
    out = []
    for start in range(0, len(images), batch):
        logits = clf(images[start:start + batch]).float()
        out.append(logits.softmax(1).gather(1, target[start:start + batch, None].to(logits.device))[:, 0])
    return torch.cat(out).cpu()


def curve_counts(pixels: int, steps: int) -> list[int]:
    steps = min(steps, pixels)
    return [round(pixels * k / steps) for k in range(steps + 1)]


@torch.no_grad()
def curves(clf, images: torch.Tensor, order: torch.Tensor, target: torch.Tensor, steps: int, fill: str,
           batch: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(fractions (K+1,), deletion (N, K+1), insertion (N, K+1)): the target's probability as the
    pixels in `order` are deleted / inserted."""
    n, hw = order.shape
    counts = curve_counts(hw, steps)
    masks = _masks(order, counts, images.shape[-2:]).to(images.device)  # (K+1, N, 1, H, W)
    gone, start = fills(images, fill)
    deleted = images * (1 - masks) + gone * masks
    inserted = start * (1 - masks) + images * masks
    k = len(counts)
    tgt = target.repeat(k)
    d = probabilities(clf, deleted.flatten(0, 1), tgt, batch).view(k, n).T
    i = probabilities(clf, inserted.flatten(0, 1), tgt, batch).view(k, n).T
    return torch.tensor(counts, dtype=torch.float32) / hw, d, i


def auc(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Area under y(x) per row, by the trapezoid rule."""
    return torch.trapezoid(y, x, dim=-1)


@dataclass
class Scores:
    deletion: torch.Tensor  # (N,) AUC
    insertion: torch.Tensor
    random_deletion: torch.Tensor
    random_insertion: torch.Tensor


def deletion_insertion(clf, images: torch.Tensor, maps: torch.Tensor, target: torch.Tensor, steps: int, fill: str,
                       seed: int = 0, batch: int = 256) -> Scores:
    """Deletion and insertion AUC of each map, beside those of a seeded random order."""
    x, d, i = curves(clf, images, order_of(maps, seed), target, steps, fill, batch)
    _, rd, ri = curves(clf, images, order_of(maps, seed + 1, random=True), target, steps, fill, batch)
    return Scores(auc(x, d), auc(x, i), auc(x, rd), auc(x, ri))


@torch.no_grad()
def removal_predictions(clf, images: torch.Tensor, maps: torch.Tensor, fraction: float, fill: str = "black",
                        seed: int = 0, random: bool = False) -> torch.Tensor:
    """The predicted classes (N,) after deleting the `fraction` most salient pixels of each image
    (or a random `fraction`, with `random`)."""
    order = order_of(maps, seed, random)
    mask = _masks(order, [round(fraction * order.shape[1])], images.shape[-2:])[0].to(images.device)
    gone, _ = fills(images, fill)
    return clf(images * (1 - mask) + gone * mask).argmax(1).cpu()


# ---- the randomization test ----------------------------------------------------------------------------

def weighted_layers(clf) -> list[str]:
    """The names of the modules that hold weights of their own and can re-initialize them, top (the
    last to run) first."""
    ran = []

    def hook_for(name, m):
        if any(True for _ in m.parameters(recurse=False)) and hasattr(m, "reset_parameters"):
            return lambda mod, a, out: None if name in ran else ran.append(name)
        return None

    clf.probe(hook_for)
    return ran[::-1]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation of |a| and |b| per image (N,) (scipy: ties get average ranks;
    a constant map correlates 0 with anything)."""
    import numpy as np
    from scipy.stats import spearmanr

    out = []
    for x, y in zip(a.abs().reshape(len(a), -1).double().numpy(), b.abs().reshape(len(b), -1).double().numpy()):
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            out.append(0.0)
        else:
            out.append(float(spearmanr(x, y).statistic))
    return torch.tensor(out)


@dataclass
class Sanity:
    stages: list[str]  # the lowest layer re-initialized at each point of the cascade
    correlation: torch.Tensor  # (stages, N): rank correlation with the trained model's maps
    final: torch.Tensor  # (N,): with every layer re-initialized

    def mean(self) -> float:
        return float(self.final.mean())


def cascade_points(layers: list[str], points: int = 4) -> list[int]:
    """How many layers (from the top) are re-initialized at each point of the cascade: the top one,
    evenly spaced ones, and all."""
    n = len(layers)
    return sorted({max(1, round(n * k / points)) for k in range(1, points + 1)} | {1, n})


def randomization(clf, images: torch.Tensor, maps: torch.Tensor, compute, seed: int = 0, points: int = 4) -> Sanity:
    """The cascading randomization test. `compute(classifier, images)` -> maps (N, H, W) computes
    the maps as they were computed for `maps` (same method, target and layer)."""
    layers = weighted_layers(clf)
    random = copy.deepcopy(clf)
    stages, rows, done = [], [], 0
    with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
        torch.manual_seed(seed)
        for count in cascade_points(layers, points):
            for name in layers[done:count]:
                random.net.get_submodule(name).reset_parameters()  # batch norm: its running statistics too
            done = count
            rows.append(rank_correlation(maps, compute(random, images)))
            stages.append(layers[count - 1])
    correlation = torch.stack(rows)
    return Sanity(stages, correlation, correlation[-1])
