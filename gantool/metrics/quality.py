"""Every score of a set of generated images against real statistics, from one pass of the judge.

`evaluate` reports, beside the numbers of images compared (FID is biased upward at small N:
compare models at the same N):
- fid: the Fréchet distance in the judge's features; kid_mean, kid_std: the kernel inception
  distance (unbiased, over subsets of at most `kid_subset` images);
- precision, recall, density, coverage (gantool.metrics.manifold, k nearest neighbours);
- with a judge that has classes: inception_score (and its std over splits), class_histogram (how
  many samples read as each class), class_entropy (normalized: 1 uniform, near 0 a collapse onto
  one class), and with `requested_labels` (the judge's class index each sample was drawn for)
  requested_accuracy.
`fid_only` is the cheap one for selection during training.
"""

from __future__ import annotations

import torch

from gantool.errors import GantoolError
from gantool.metrics import classes, frechet, manifold


def _features(judge, fake_images, real, logits: bool):
    real.check(judge)
    features, out = judge.extract(fake_images, logits=logits)
    if len(features) < 2:
        raise GantoolError(f"scores need 2 or more generated images, not {len(features)}")
    return features, out


def fid_only(judge, fake_images: torch.Tensor, real) -> float:
    """The FID of generated images against `real` (RealStats); images as Judge.extract takes them."""
    fake, _ = _features(judge, fake_images, real, logits=False)
    return frechet.fid(real.features, fake)


def evaluate(judge, fake_images: torch.Tensor, real, requested_labels=None, k: int = 5, kid_subset: int = 1000,
             kid_subsets: int = 100, seed: int = 0) -> dict:
    """Every score of generated images (float in [0, 1] or uint8, (N, C, H, W), or an iterable of
    such chunks) against `real` (RealStats of the same judge); `requested_labels` (N,) are the
    judge's class indices the images were drawn for; `seed` draws KID's subsets and IS's splits."""
    fake, logits = _features(judge, fake_images, real, logits=True)
    if requested_labels is not None and len(requested_labels) != len(fake):
        raise GantoolError(f"{len(requested_labels)} requested labels for {len(fake)} images")
    kid_mean, kid_std, kid_size = frechet.kid(real.features, fake, kid_subset, kid_subsets, seed)
    result = {"n_fake": len(fake), "n_real": real.n, "judge": judge.identity, "num_features": judge.num_features,
              "fid": frechet.fid(real.features, fake), "kid_mean": kid_mean, "kid_std": kid_std,
              "kid_subset_size": kid_size, "k": k, **manifold.prdc(real.features, fake, k)}
    if logits is not None:
        result["inception_score"], result["inception_score_std"] = classes.inception_score(logits, seed)
        result["classes"] = judge.classes
        result["class_histogram"] = classes.class_histogram(logits)
        result["class_entropy"] = classes.normalized_entropy(result["class_histogram"])
        if requested_labels is not None:
            result["requested_accuracy"] = classes.requested_accuracy(logits, requested_labels)
    return result
