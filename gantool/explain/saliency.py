"""Saliency maps of a Classifier (gantool.classify.classifiers) by captum's attribution methods.

Images go in as floats in [0, 1], (N, C, H, W), at the classifier's input size (so a map's pixels
are the image's pixels); a map comes out as float32 (N, H, W):

- gradient: captum's Saliency, |d score / d pixel|, the maximum over channels (Simonyan et al. 2014);
- smoothgrad: captum's NoiseTunnel over Saliency: the same, averaged over noisy copies, the noise's
  standard deviation a fraction of the input range (1: images are in [0, 1]);
- integrated-gradients: captum's IntegratedGradients from a baseline image, summed over channels
  (signed: positive pixels speak for the target); its completeness error is |sum of the
  attributions - (score(x) - score(baseline))|;
- grad-cam: captum's LayerGradCam on a layer (by default the last spatial layer before pooling),
  ReLU'd and upsampled (bilinear) to the image size.

The score is the target class's logit. In-place activations (torchvision's VGG, SqueezeNet, ...)
were turned off when the Classifier was built, so captum's hooks see every layer's own output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gantool.errors import BadValue
from gantool.explain.settings import METHODS, SaliencySettings

POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d)


@dataclass
class Maps:
    maps: torch.Tensor  # float32 (N, H, W) on the CPU
    target: torch.Tensor  # int64 (N,): the class explained
    predicted: torch.Tensor  # int64 (N,)
    probability: torch.Tensor  # (N,) the target's softmax probability
    completeness_error: torch.Tensor | None = None  # integrated-gradients: (N,) absolute
    score_gap: torch.Tensor | None = None  # integrated-gradients: (N,) score(x) - score(baseline)
    signed: bool = False  # the maps take both signs (integrated-gradients)


def resolve_target(clf, target: str | None) -> int | None:
    """A class index from a name or an index (names first), or None for each image's prediction."""
    if target is None:
        return None
    if target in clf.classes:
        return clf.classes.index(target)
    try:
        index = int(target)
    except ValueError:
        shown = ", ".join(clf.classes[:10]) + (", ..." if clf.num_classes > 10 else "")
        raise BadValue("target", target, f"is not a class of {clf.name}", f"classes: {shown}") from None
    if not 0 <= index < clf.num_classes:
        raise BadValue("target", target, f"is out of range: {clf.name} has {clf.num_classes} classes "
                                         f"(0 to {clf.num_classes - 1})")
    return index


@dataclass(frozen=True)
class Run:
    """One module's part in a forward pass: its output shape per image, how often it ran, and
    whether its output has been pooled (a pooling layer, or a block that ends in one)."""
    name: str
    shape: tuple
    calls: int
    pooled: bool
    passes_through: bool  # a dropout or an identity: in eval mode, its input again


def forward_runs(clf) -> list[Run]:
    """Every named module of the network that runs, in the order its forward pass ends."""
    order, calls, last_leaf, pooled, shapes = [], {}, [None], {}, {}
    kinds = dict(clf.net.named_modules())

    def hook(name, leaf):
        def on(mod, args, out):
            if leaf:
                last_leaf[0] = mod
            calls[name] = calls.get(name, 0) + 1
            if name not in shapes:
                order.append(name)
            shapes[name] = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else ()
            pooled[name] = isinstance(last_leaf[0], POOLING)
        return on

    clf.probe(lambda name, m: hook(name, not any(True for _ in m.children())))
    return [Run(n, shapes[n], calls[n], pooled[n], isinstance(kinds[n], (nn.Identity, nn.modules.dropout._DropoutNd)))
            for n in order]


def cam_layer(clf, name: str | None) -> str:
    """The Grad-CAM layer: `name` checked (it runs once, with a spatial output), or the last module
    whose output is spatial (C, H, W with H x W > 1) and not yet pooled."""
    runs = {r.name: r for r in forward_runs(clf)}
    if name is not None:
        clf.module(name)  # an unknown name: BadValue naming `gantool layers`
        r = runs.get(name)
        if r is None:
            raise BadValue("layer", name, f"does not run in {clf.name}'s forward pass")
        if r.calls > 1:
            raise BadValue("layer", name, f"runs {r.calls} times in one forward pass (a shared module)",
                           "name the block around it")
        if len(r.shape) != 3:
            raise BadValue("layer", name, f"has no spatial output (its output is {'x'.join(map(str, r.shape))} "
                                          "per image)", "Grad-CAM takes a convolutional layer")
        return name
    # The order in which forwards end puts a block after its parts, so a block that ends in a
    # pooling layer is skipped and its last spatial part is taken (vgg11: features.19, resnet:
    # layer4); only what runs before the head counts (squeezenet: features, not its class map).
    order = list(runs)
    before = order[:order.index(clf.head)] if clf.head in runs else order
    candidates = [runs[n] for n in before if len(runs[n].shape) == 3 and runs[n].shape[1] * runs[n].shape[2] > 1
                  and runs[n].calls == 1 and not runs[n].pooled and not runs[n].passes_through]
    if not candidates:
        raise BadValue("method", "grad-cam", f"{clf.name} has no spatial layer for it")
    return candidates[-1].name


def _blurred(x: torch.Tensor) -> torch.Tensor:
    """A strongly blurred copy (RISE's insertion start): sigma 5/224 of the side, at least 1 pixel."""
    from torchvision.transforms.v2 import functional as TF

    side = min(x.shape[-2:])
    sigma = max(1.0, 5 * side / 224)
    k = min(2 * int(3 * sigma) + 1, side if side % 2 else side - 1)
    return TF.gaussian_blur(x, [k, k], [sigma, sigma])


def baseline_image(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "white":
        return torch.ones_like(x)
    if kind == "gray":
        return torch.full_like(x, 0.5)
    if kind == "blur":
        return _blurred(x)
    raise ValueError(f"unknown baseline {kind!r}")


def attribute(clf, images: torch.Tensor, s: SaliencySettings, target: int | torch.Tensor | None = None, layer: str | None = None,
              seed: int = 0, batch: int = 256) -> Maps:
    """Maps of `images` (float (N, C, H, W) in [0, 1] on the classifier's device) by `s.method`.
    `target`: a class for all, one per image (N,), or None for each image's prediction. `layer`
    (grad-cam) must come from `cam_layer`. Deterministic for a seed (smoothgrad's noise)."""
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency

    if s.method not in METHODS:
        raise BadValue("method", s.method, f"must be one of {', '.join(METHODS)}")
    x = images.float()
    with torch.no_grad():
        logits = clf(x).float()
    predicted = logits.argmax(1)
    if target is None:
        tgt = predicted
    elif isinstance(target, torch.Tensor):
        tgt = target.to(predicted.device)
    else:
        tgt = torch.full_like(predicted, target)
    probability = logits.softmax(1).gather(1, tgt[:, None])[:, 0]
    completeness, gap, signed = None, None, False
    if s.method == "gradient":
        a = Saliency(clf).attribute(x.clone().requires_grad_(), target=tgt, abs=True).amax(1)
    elif s.method == "smoothgrad":
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            a = NoiseTunnel(Saliency(clf)).attribute(
                x.clone().requires_grad_(), nt_type="smoothgrad", nt_samples=s.samples, stdevs=s.noise * 1.0,
                nt_samples_batch_size=max(1, min(s.samples, batch // max(1, len(x)))), target=tgt, abs=True).amax(1)
    elif s.method == "integrated-gradients":
        base = baseline_image(x, s.baseline)
        a, delta = IntegratedGradients(clf).attribute(
            x.clone().requires_grad_(), baselines=base, target=tgt, n_steps=s.ig_steps, internal_batch_size=max(len(x), batch),
            return_convergence_delta=True)
        a = a.sum(1)
        completeness = delta.detach().abs().float().cpu()
        with torch.no_grad():
            gap = (logits.gather(1, tgt[:, None])[:, 0] - clf(base).float().gather(1, tgt[:, None])[:, 0]).cpu()
        signed = True
    else:
        module = clf.module(layer or cam_layer(clf, None))
        cam = LayerGradCam(clf, module).attribute(x.clone().requires_grad_(), target=tgt, relu_attributions=True)
        a = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")[:, 0]
    return Maps(a.detach().float().cpu(), tgt.cpu(), predicted.cpu(), probability.cpu(), completeness, gap, signed)
