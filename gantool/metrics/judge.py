"""The judge: the feature network every score of generated images is measured with.

A Fréchet distance means something only in the features of a network that knows the domain: the
usual Inception-v3 FID says little about 8x8 digits, and its weights cannot be downloaded here.
So, as TF-GAN's MNIST Fréchet distance does, the judge is any classifier gantool can load
(gantool.classify.classifiers.load_classifier): a classifier trained on the same domain (`gantool
train-classifier`), a zoo model with weights (`inception_v3 --pretrained` gives torchvision's
Inception-v3, whose numbers are close to, not equal to, the papers' TF-Inception FID), or a GAN
file's discriminator. Its features are one layer's (default: penultimate, the head's input;
a conv map is averaged over H and W).

`Judge` is an nn.Module as torchmetrics wants a custom feature extractor: images in [0, 1]
(N, C, H, W) of any channels and size in (the Classifier converts and resizes them), float64
features (N, num_features) out, and a `num_features` attribute, so `FrechetInceptionDistance(
feature=judge)` needs no dummy input. gantool.metrics itself runs each image through the network
once (`extract`: the features and, for IS and the class histogram, the logits of one pass) and
hands torchmetrics the features (gantool.metrics.frechet.Precomputed).

`identity` names the network's weights (a sha256 of the file they came from) and the layer:
real statistics cached by another judge are refused.
"""

from __future__ import annotations

import hashlib
import os

import torch
from torch import nn

from gantool.errors import BadValue, GantoolError

PIXELS_PER_PASS = 2**22  # at the judge's input size: 4,096 digits (8x8), 15 at Inception's 299x299x3


def pass_size(clf) -> int:
    """Images per forward pass: fewer passes for small inputs (each costs hooks and a resize)."""
    return max(16, min(4096, PIXELS_PER_PASS // (clf.channels * clf.input_size**2)))


def file_digest(path: str) -> str:
    """The first 16 hex digits of a file's sha256."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise GantoolError(f"cannot read {path}: {e.strerror or e}") from None
    return h.hexdigest()[:16]


class Judge(nn.Module):
    """Images in [0, 1] -> float64 features of one layer of a classifier (see the module docstring)."""

    def __init__(self, clf, tap, identity: str):
        super().__init__()
        self.clf, self.tap, self.identity = clf, tap, identity
        self.num_features = 0
        with torch.inference_mode():  # one blank image: the width, and proof that the layer runs
            blank = torch.zeros(1, clf.channels, clf.input_size, clf.input_size, device=self.device)
            self.num_features = int(self._pass(blank, logits=False)[0].shape[1])

    @classmethod
    def load(cls, value: str, device="cpu", layer: str | None = None, pretrained: bool = False,
             weights: str | None = None) -> "Judge":
        """A judge from what `load_classifier` takes: a classifier file, a zoo name (with `pretrained`
        or `weights`: random weights judge nothing) or a GAN file (its discriminator); `layer` by the
        names `gantool layers` lists, default penultimate."""
        from gantool.classify.classifiers import is_zoo_name
        from gantool.opening import open_classifier
        from gantool.transfer.features import resolve_layers

        zoo = is_zoo_name(value)
        clf = open_classifier(value, device, pretrained=pretrained, weights=weights, field="features")
        taps = resolve_layers(clf, layer)
        if len(taps) != 1:
            raise BadValue("layer", layer, "a judge takes one layer", "give one name")
        source = clf.source if zoo else value
        name = value if zoo else os.path.basename(value)
        return cls(clf, taps[0], f"{name}@sha256:{file_digest(source)}#{taps[0].layer}")

    @property
    def device(self) -> torch.device:
        return next((p.device for p in self.clf.parameters()), torch.device("cpu"))

    @property
    def has_classes(self) -> bool:
        """Whether the logits are classes (IS, the class histogram): not for a discriminator's fake/real."""
        return not self.clf.binary

    @property
    def classes(self) -> list[str]:
        return list(self.clf.classes)

    @property
    def name(self) -> str:
        return f"{self.clf.name} ({self.tap.layer})"

    def _pass(self, images: torch.Tensor, logits: bool):
        from gantool.transfer.features import pool

        if self.tap.take == "input" and self.tap.module == self.clf.head:  # penultimate: no hook on gantool's nets
            features, out = self.clf.penultimate(images)
            return pool(features, "avg"), (out.float() if logits else None)
        taken, out = self.clf.activations(images, [self.tap.module], take=self.tap.take)
        if not isinstance(taken.get(self.tap.module), torch.Tensor):
            raise GantoolError(f"layer {self.tap.layer} of {self.clf.name} gives no tensor in the forward pass",
                               "choose a layer that `gantool layers` shows with an output shape")
        return pool(taken[self.tap.module], "avg"), (out.float() if logits else None)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) floats in [0, 1] (uint8 is read as 0..255) -> float64 (N, num_features)."""
        x = images.to(self.device)
        x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
        return self._pass(x, logits=False)[0].double()

    @torch.inference_mode()
    def extract(self, images, logits: bool = True, batch_size: int | None = None):
        """(features float32 (N, D), logits float32 (N, K) or None) on the CPU, `batch_size` images
        per pass. `images`: float in [0, 1] or uint8, (N, C, H, W), on any device; or an iterable of
        such chunks (generated as they are judged: memory holds the features, not the images)."""
        feats, outs = [], []
        want_logits = logits and self.has_classes
        chunks = images.split(batch_size or pass_size(self.clf)) if isinstance(images, torch.Tensor) else images
        for chunk in chunks:
            if chunk.dim() != 4:
                raise GantoolError(f"images must be (N, C, H, W), not {tuple(chunk.shape)}")
            x = chunk.to(self.device)
            x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
            f, out = self._pass(x, want_logits)
            feats.append(f.float().cpu())
            if want_logits:
                outs.append(out.cpu())
        if not feats:
            raise GantoolError("no images to judge")
        return torch.cat(feats), (torch.cat(outs) if want_logits else None)
