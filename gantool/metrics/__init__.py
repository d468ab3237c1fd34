"""Scores of generated images in the features of a judge (a classifier of the same domain, a zoo
model, Inception-v3): FID and KID (torchmetrics), precision/recall/density/coverage, and with
classes IS, the class histogram and requested-class accuracy; cached real statistics; FID during
training. The library never prints and names no flag."""

from gantool.metrics.judge import Judge
from gantool.metrics.quality import evaluate, fid_only
from gantool.metrics.stats import RealStats

__all__ = ["Judge", "RealStats", "evaluate", "fid_only"]
