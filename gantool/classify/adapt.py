"""Domain adaptation for `gantool train-classifier`: a Domain-Adversarial Neural Network (Ganin &
Lempitsky 2015, "Unsupervised Domain Adaptation by Backpropagation").

The classifier's convolutional features go to its label predictor (the `features` block and the
head) and, through a gradient reversal layer (identity forward, gradient times -alpha backward),
to a domain head (two hidden layers of 1024 by default) that tells source from target. The
domain head learns to separate the domains; the reversed gradient pushes the features to make
them indistinguishable. alpha follows 2 / (1 + exp(-gamma p)) - 1 over training progress p
(0 -> 1; gamma 10 as in the paper) unless a constant is given; alpha 0 is "no reversal": the
domain head still trains, the classifier's weights are exactly the source-only one's.

One training loop (gantool.classify.training.train_classifier) with an optional domain term
(`DomainTerm`): each step takes a source batch (labelled) and a target batch of the same size
(its labels never read), forwards them separately, and adds the domain head's binary
cross-entropy on both. Batch norm is per domain by default (target statistics): the target batch
is normalized by its own statistics, and once trained the model's batch-norm statistics are
measured on the target's training images (AdaBN, Li et al. 2016), so the saved file is the
classifier for the target domain. With source statistics the target goes through the source
batch's (`SourceStatistics`) and the saved statistics stay the source's: alpha 0 is then the
source-only classifier bit for bit. The target is split at random (never by its labels) into a
part trained on, unlabelled, and a held-out part where, when the target has labels, its accuracy
is measured. The domain head has its own AdamW and the same learning-rate schedule; it is not
saved: the file is an ordinary classifier whose header records the adaptation.
"""

from __future__ import annotations

import functools
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass

from gantool.errors import BadValue, GantoolError, flag
from gantool.settings import check, setting
from gantool.words import plural

ADAPT = "Adaptation"
MIN_SIZE = 4  # the smallest image side a target may have to be brought to the source's size
TARGET_STATISTICS = ("target", "source")
MAX_DOMAIN_LAYERS, MAX_DOMAIN_WIDTH = 4, 65536


@dataclass
class AdaptSettings:
    adapt: str | None = setting(None, "Adapt to this target domain (DANN): any image source --data takes; its labels, "
                                      "if any, are never used for training, only to score the held-out part.", ADAPT,
                                default_help="none: plain training")
    alpha: float | None = setting(None, "A constant gradient reversal weight (0: no reversal, the domain head trains "
                                        "alone and the classifier is the source-only one).", ADAPT, ge=0, le=100,
                                  default_help="the schedule 2/(1+exp(-gamma p))-1 over progress p")
    alpha_gamma: float = setting(10.0, "gamma of the reversal weight's schedule (larger: full weight sooner).", ADAPT,
                                 gt=0, le=1000)
    target_statistics: str = setting(
        "target", "Batch norm of the target: target (its own batch statistics in training, and the saved file's "
                  "statistics measured on its images afterwards, AdaBN: the classifier for the target domain) or "
                  "source (the source batch's statistics; the saved ones the source's, so with --alpha 0 the file is "
                  "the source-only classifier bit for bit).", ADAPT, choices=TARGET_STATISTICS)
    domain_hidden: str = setting("1024,1024", "The domain head's hidden layers, their widths comma-separated: "
                                              "features -> 1024 -> ReLU -> 1024 -> ReLU -> 1 by default (the "
                                              "paper's head for its larger networks); 100 is its digits head.", ADAPT)
    compare_source_only: bool = setting(False, "Also train the source-only classifier with the same seed and budget, "
                                               "and report both.", ADAPT)
    features_png: str | None = setting(None, "Write a PNG of the source and target features in 2D (t-SNE), before "
                                             "(the source-only model with --compare-source-only, else the untrained "
                                             "network) and after adaptation.", ADAPT, default_help="none")

    def validate(self) -> None:
        check(self)
        try:
            widths = self.hidden_layers
        except ValueError:
            widths = []
        if not 1 <= len(widths) <= MAX_DOMAIN_LAYERS or not all(1 <= w <= MAX_DOMAIN_WIDTH for w in widths):
            raise BadValue("domain_hidden", self.domain_hidden, f"give 1 to {MAX_DOMAIN_LAYERS} widths from 1 to "
                           f"{MAX_DOMAIN_WIDTH}, comma-separated", "e.g. 1024,1024 or 100")

    @property
    def hidden_layers(self) -> list[int]:
        return [int(w) for w in str(self.domain_hidden).split(",")]

    def schedule(self) -> dict:
        """The reversal weight as the header records it."""
        if self.alpha is not None:
            return {"alpha": "constant", "value": self.alpha}
        return {"alpha": "2/(1+exp(-gamma*p))-1", "gamma": self.alpha_gamma}

    def alpha_at(self, progress: float) -> float:
        return self.alpha if self.alpha is not None else alpha_schedule(progress, self.alpha_gamma)


def alpha_schedule(progress: float, gamma: float = 10.0) -> float:
    """Ganin & Lempitsky's reversal weight: 0 at the start, near 1 from about a third of training on."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def adaptation_from(given: dict) -> AdaptSettings | None:
    """The adaptation settings given on the command line (a dict of the values given), or None for
    plain training; an adaptation option without a target, a schedule constant beside a constant
    alpha, or a target on stdin are refused."""
    a = AdaptSettings(**given)
    a.validate()
    if a.adapt is None:
        if given:
            name, value = next(iter(given.items()))
            raise BadValue(name, None if isinstance(value, bool) else value,
                           "applies to domain adaptation only", f"give {flag('adapt')} TARGET, or leave it out")
        return None
    if "alpha" in given and "alpha_gamma" in given:
        raise BadValue("alpha_gamma", a.alpha_gamma, "shapes the schedule, which a constant {alpha} replaces",
                       "give one of them")
    if a.adapt.strip() == "-":
        raise BadValue("adapt", "-", "a target is read more than once: it cannot come from stdin",
                       "save it as a .npz file or a folder")
    return a


# ---- the network's part --------------------------------------------------------------------------

@functools.cache
def _reversal():
    import torch

    class GradientReversal(torch.autograd.Function):
        """Identity forward; the gradient times -alpha backward."""

        @staticmethod
        def forward(ctx, x, alpha: float):
            ctx.alpha = alpha
            return x.view_as(x)

        @staticmethod
        def backward(ctx, grad):
            return grad.neg() * ctx.alpha, None

    return GradientReversal


def reverse_gradient(x, alpha: float):
    """x, with its gradient multiplied by -alpha on the way back."""
    return _reversal().apply(x, alpha)


def shared_features(model, images):
    """(what the domain head reads: the last conv block's output, pooled and flattened, as the
    paper's digit network branches after its convolutions; the logits). The same operations as
    model(images), so the logits are bit-identical to it."""
    x = images
    for name in model.blocks:
        x = getattr(model, name)(x)
    shared = model.features[:2](x)  # adaptive pool, flatten
    return shared, model.head(model.features[2:](shared))  # linear, ReLU: the label predictor's own layers


def shared_width(cfg) -> int:
    """The width of `shared_features` for a CNNClassifierConfig."""
    return cfg.width * 2 ** (cfg.num_blocks - 1) * 4


def domain_head(features: int, hidden: list[int]):
    """features -> hidden[0] -> ReLU -> ... -> one logit (target vs source)."""
    from torch import nn

    layers, width = [], features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, 1))


@dataclass
class Target:
    """The target domain at the network's size and channels, split at random (never by label)."""

    name: str
    train_x: object  # uint8 (N, C, S, S) on the device: trained on, unlabelled
    held_x: object  # uint8, held out
    held_y: object | None  # int64 labels of held_x in the source's classes (-1: a class the source lacks), or None
    num_images: int

    @property
    def scored(self) -> int:
        return 0 if self.held_y is None else int((self.held_y >= 0).sum())


class SourceStatistics:
    """Batch norm for the target as the trained model will see it: normalized by the statistics of
    the source batch of the same step (the model's running statistics come from the source alone).
    Forward hooks record each BatchNorm2d's source batch mean and (biased) variance; `applied()`
    runs the target through those as constants, in eval mode, the running statistics untouched. So
    the target changes nothing but through the domain head's gradient (alpha 0: the source-only
    classifier, bit for bit), and what the network learns about the target holds once saved."""

    def __init__(self, model):
        from torch import nn

        self.layers = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        self.saved: dict = {}
        self.hooks = [m.register_forward_pre_hook(self._record) for m in self.layers]

    def _record(self, layer, inputs) -> None:
        if layer.training:
            x = inputs[0].detach()
            self.saved[layer] = (x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False))

    @contextmanager
    def applied(self, model):
        kept = [(m, m.running_mean, m.running_var) for m in self.layers]
        try:
            for m in self.layers:
                m.running_mean, m.running_var = self.saved[m]
            model.eval()
            yield
        finally:
            for m, mean, var in kept:
                m.running_mean, m.running_var = mean, var
            model.train()

    def close(self) -> None:
        for h in self.hooks:
            h.remove()


def measure_statistics(model, images_uint8, mean, std, chunk: int = 256) -> None:
    """Replace every batch norm's running statistics by those of `images_uint8` (the average over
    chunks of near-equal size), the weights untouched; the model is left in eval mode."""
    import torch
    from torch import nn

    layers = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]  # as SourceStatistics
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the chunks
    model.train()
    with torch.no_grad():
        for x in images_uint8.tensor_split(max(1, math.ceil(len(images_uint8) / chunk))):
            model((x.float().div(255) - mean) / std)
    for m, momentum in zip(layers, momenta):
        m.momentum = momentum
    model.eval()


class DomainTerm:
    """The domain head and its loss, added to the label loss at each step of the training loop."""

    def __init__(self, a: AdaptSettings, target: Target, model, features: int, seed: int, batch: int, device,
                 make_optimizer):
        """`make_optimizer(parameters)` -> (optimizer, scheduler): the classifier's, for the head."""
        import torch

        self.a, self.target = a, target
        with torch.random.fork_rng(devices=[]):  # the classifier's run draws the same numbers with or without it
            torch.manual_seed(seed + 1)
            self.head = domain_head(features, a.hidden_layers).to(device)
        self.opt, self.sched = make_optimizer(self.head.parameters())
        self.batch = min(batch, len(target.train_x))
        self.order_rng = torch.Generator().manual_seed(seed + 1)
        self.order, self.at = None, 0
        self.last_alpha = 0.0
        self.stats = SourceStatistics(model) if a.target_statistics == "source" else None

    def finish(self, model, mean, std) -> None:
        """After the last step: the model's batch-norm statistics measured on the target's training
        images (target statistics), or left the source's (source statistics)."""
        if self.stats is not None:
            self.stats.close()
        else:
            measure_statistics(model, self.target.train_x, mean, std)

    def _next_batch(self):
        import torch

        n = len(self.target.train_x)
        if self.order is None or self.at + self.batch > n:
            self.order, self.at = torch.randperm(n, generator=self.order_rng).to(self.target.train_x.device), 0
        idx = self.order[self.at:self.at + self.batch]
        self.at += self.batch
        return self.target.train_x[idx]

    def loss(self, model, source_features, mean, std, progress: float):
        """The domain head's loss on this step's source features and a target batch."""
        import torch
        import torch.nn.functional as F

        self.head.train()
        target = (self._next_batch().float().div(255) - mean) / std
        if self.stats is None:  # its own batch statistics (what this does to the running ones is replaced by finish)
            target_features, _ = shared_features(model, target)
        else:
            with self.stats.applied(model):
                target_features, _ = shared_features(model, target)
        self.last_alpha = self.a.alpha_at(progress)
        both = reverse_gradient(torch.cat([source_features, target_features]), self.last_alpha)
        domain = torch.cat([torch.zeros(len(source_features)), torch.ones(len(target_features))]).to(both.device)
        return F.binary_cross_entropy_with_logits(self.head(both).squeeze(1), domain)

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.opt.step()
        self.sched.step()

    def accuracy(self, model, source_x, mean, std) -> float:
        """The domain head's balanced accuracy on held-out source and target images (0.5: the
        features no longer tell the domains apart)."""
        import torch

        self.head.eval()
        rates = []
        for images, is_target in ((source_x, False), (self.target.held_x, True)):
            with torch.inference_mode():
                said = torch.cat([self.head(shared_features(model, (x.float().div(255) - mean) / std)[0]).squeeze(1) > 0
                                  for x in images.split(512)])
            rates.append(float((said == is_target).float().mean()))
        return round(sum(rates) / 2, 4)


# ---- the data ------------------------------------------------------------------------------------

def prepare(data, a: AdaptSettings, channels: int | None, holdout: float, seed: int, device, root=None,
            download=False):
    """(the source converted to the network's channels, the Target): the target brought to the
    source's size (centre crop and resize), both at the larger channel count (gray repeated)
    unless `channels` is given; a target too small or holding too few images is refused."""
    import torch

    from gantool.data.sources import fit, load_data

    size = data.image_size

    def size_rule(native: int) -> int:
        if native < MIN_SIZE:
            raise BadValue("adapt", a.adapt, f"holds {native}x{native} images, too small to bring to the source's "
                           f"{size}x{size}", f"give a target of {MIN_SIZE}x{MIN_SIZE} pixels or more")
        return size

    if os.path.isdir(a.adapt):
        raw = load_data(a.adapt, root=root, download=download, size_rule=size_rule)
    else:
        raw = load_data(a.adapt, root=root, download=download)
        size_rule(min(raw.images.shape[-2:]))
    net = channels or max(data.channels, raw.channels)
    target = fit(raw, channels=net, image_size=size)
    data = fit(data, channels=net)
    n = target.num_images
    if n < 2:
        raise GantoolError(f"the target {a.adapt} holds {plural(n, 'image')}",
                           "adaptation needs 2 or more: some to train on, some to measure")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # at random: labels are not read
    n_held = min(n - 1, max(1, round(n * holdout)))
    held, train = order[:n_held].sort().values, order[n_held:].sort().values
    held_y = None
    if target.labels is not None:
        index = {c: i for i, c in enumerate(data.classes)}
        mapped = torch.tensor([index.get(c, -1) for c in target.classes] or [-1], dtype=torch.int64)
        held_y = mapped[target.labels[held]].to(device)
    images = target.images.to(device)
    return data, Target(a.adapt, images[train.to(device)], images[held.to(device)], held_y, n)


def target_accuracy(model, target: Target, mean, std) -> float | None:
    """Accuracy on the target's held-out images whose class the source knows; None without labels."""
    import torch

    if target.scored == 0:
        return None
    known = target.held_y >= 0
    with torch.inference_mode():
        predicted = torch.cat([model((x.float().div(255) - mean) / std).argmax(1) for x in target.held_x[known].split(512)])
    return round(float((predicted == target.held_y[known]).float().mean()), 4)


def summary(a: AdaptSettings, target: Target, result, source_only=None) -> dict:
    """What the header's gantool.training and --json record of the adaptation."""
    out = {"target": target.name, **a.schedule(), "target_statistics": a.target_statistics,
           "domain_hidden": a.hidden_layers, "target_images": target.num_images,
           "target_train_images": len(target.train_x), "target_heldout_images": len(target.held_x),
           "target_scored_images": target.scored, "target_accuracy": result.target_accuracy,
           "domain_accuracy": result.domain_accuracy}
    if source_only is not None:
        out["source_only"] = {"heldout_accuracy": source_only.heldout_accuracy,
                              "target_accuracy": source_only.target_accuracy, "seconds": source_only.seconds}
    return out
