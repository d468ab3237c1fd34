"""A classifier to inspect: the one way any command gets one from a command-line value.

`load_classifier(value, device, pretrained=False, weights=None)` takes

- a zoo name (`resnet18`, `vgg16`, ...: gantool.models.registry.ZOO): torchvision's architecture,
  with `pretrained` (its default weights from the torch cache, never downloaded) or `weights`
  (a state-dict file), or neither (random weights: fine for `layers`, useless for classifying);
  ImageNet class names and the weights' own preprocessing;
- a gantool classifier file (`gantool train-classifier`, or a gantool file of a zoo model);
- a gantool GAN file: its discriminator, as a two-class classifier ["fake", "real"] whose logits
  are (0, D(x)): the softmax gives p(real) = sigmoid(D(x)), the "real" logit is D's raw output
  (a critic score under wgan-gp and a margin under hinge: still ordered, not a probability).
  The discriminator of a conditional GAN needs each image's class: not supported yet.

and returns a `Classifier`: an nn.Module in eval mode that takes images in [0, 1], (N, C, H, W)
(or one (C, H, W)) of any size and returns logits (N, K). Inside, before the network: channels
converted (gray repeated to RGB; RGB to gray by luma), then, unless the image is already at the
network's input size, the shorter side resized to `resize_size` and the centre cropped to
`input_size` (for zoo models the weights' own resize and crop: 256 then 224), then the model's
normalization. An image at the input size goes in untouched, so gradients and saliency maps line
up with its pixels.

Layers by name are the network's own module names (`layer4.1.conv2` for resnet18, `block2` for a
gantool CNN); `layers()` lists them with types and output shapes. In-place activations are made
out-of-place, so a hooked layer's output is never overwritten by the next ReLU. torchvision's
residual blocks still add in place (`out += identity` in ResNet and EfficientNet blocks, onto the
output of their last batch norm): `activations()` hands the network a copy of every tapped output,
so what it takes is exactly the layer's output; a hook of your own on such a batch norm should do
the same (or tap the block).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from gantool.data.normalization import Normalization
from gantool.errors import BadValue, GantoolError, UsageError, flag
from gantool.models.registry import ZOO


@dataclass(frozen=True)
class Layer:
    name: str
    type: str
    shape: tuple | None  # output shape for one image at the input size, without the batch dimension; None if not run
    parameters: int


class Classifier(nn.Module):
    """Images in [0, 1] -> logits; `.net` is the network, `.classes` its class names."""

    def __init__(self, net: nn.Module, *, name: str, classes: list[str], channels: int, input_size: int,
                 resize_size: int | None = None, normalization: Normalization = Normalization(),
                 interpolation: str = "bilinear", binary: bool = False, source: str = ""):
        super().__init__()
        self.net = net
        self.name, self.classes, self.channels, self.input_size = name, list(classes), channels, input_size
        self.resize_size = resize_size or input_size
        self.normalization, self.interpolation, self.binary = normalization, interpolation, binary
        self.source = source  # where the weights came from: a file, the torch cache, or "random"
        for m in net.modules():  # in-place activations would overwrite the output a hook took
            if getattr(m, "inplace", False) is True:
                m.inplace = False
        self.eval()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> what the network takes (see the module docstring)."""
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms.v2 import functional as TF

        x = images[None] if images.dim() == 3 else images
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"{self.name} takes images (N, C, H, W) with C 1 or 3, not {tuple(images.shape)}")
        if x.shape[1] != self.channels:
            x = TF.grayscale_to_rgb(x) if self.channels == 3 else TF.rgb_to_grayscale(x)
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = TF.resize(x, [self.resize_size], InterpolationMode(self.interpolation), antialias=True)
            x = TF.center_crop(x, [self.input_size, self.input_size])
        return self.normalization.to_model(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._logits(self.net(self.preprocess(images)))

    def _logits(self, out: torch.Tensor) -> torch.Tensor:
        if self.binary:  # a discriminator's one score -> logits (fake 0, real D(x))
            out = out.reshape(-1)
            return torch.stack([torch.zeros_like(out), out], 1)
        return out

    def penultimate(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the head's input, logits) in one pass: by the network's own `penultimate` and head for
        gantool's networks, by a hook on the head's input for torchvision's."""
        if hasattr(self.net, "penultimate"):
            features = self.net.penultimate(self.preprocess(images))
            return features, self._logits(self.net.get_submodule(self.net.HEAD)(features))
        taken, logits = self.activations(images, [self.head], take="input")
        return taken[self.head], logits

    # ---- layers ------------------------------------------------------------------------------------

    def module(self, name: str) -> nn.Module:
        """The layer called `name` (as `layers()` lists it)."""
        try:
            found = self.net.get_submodule(name) if name else None
        except AttributeError:
            found = None
        if found is None:
            raise BadValue("layer", name, f"is not a layer of {self.name}", f"`gantool layers {self.name}` lists them")
        return found

    def probe(self, hook_for) -> None:
        """One forward pass of a blank image at the input size with a forward hook on each named
        module for which `hook_for(name, module)` gives one (None: no hook): how layers are found
        and measured."""
        handles = []
        for name, m in self.net.named_modules():
            hook = hook_for(name, m) if name else None
            if hook is not None:
                handles.append(m.register_forward_hook(hook))
        try:
            device = next((p.device for p in self.parameters()), torch.device("cpu"))
            with torch.inference_mode():
                self(torch.zeros(1, self.channels, self.input_size, self.input_size, device=device))
        finally:
            for h in handles:
                h.remove()

    def layers(self) -> list[Layer]:
        """Every named module of the network, in definition order, with its type, its output shape
        for one image at the input size (from one forward pass with hooks) and its parameters."""
        shapes = {}
        self.probe(lambda name, m: lambda mod, args, out: shapes.__setitem__(name, _shape(out)))
        return [Layer(name, type(m).__name__, shapes.get(name), sum(p.numel() for p in m.parameters()))
                for name, m in self.net.named_modules() if name]

    @property
    def head(self) -> str:
        """The name of the last layer with weights that runs (a Linear or a convolution): the head.
        Its input is the penultimate representation (`penultimate(x)`). gantool's networks name it
        (HEAD); a torchvision model's is found by one forward pass with hooks."""
        if getattr(self.net, "HEAD", None):
            return self.net.HEAD
        order = []
        self.probe(lambda name, m: (lambda mod, args, out: order.append(name))
                   if isinstance(m, (nn.Linear, nn.Conv2d)) else None)
        return order[-1]

    def activations(self, images: torch.Tensor, names: list[str], take: str = "output") -> tuple[dict, torch.Tensor]:
        """({name: the layer's output (or, with take="input", its first input)}, logits) for `images`.
        The network goes on with a copy of each taken tensor, so no later in-place operation can
        change what was taken; gradients flow through it as usual."""
        if take not in ("output", "input"):
            raise ValueError(f"take must be output or input, not {take!r}")
        taken, handles = {}, []

        def on_output(name):
            def hook(mod, args, out):
                if isinstance(out, torch.Tensor):
                    taken[name] = out
                    return out.clone()
                taken[name] = out
            return hook

        def on_input(name):
            def hook(mod, args):
                taken[name] = args[0]
                return (args[0].clone(), *args[1:]) if isinstance(args[0], torch.Tensor) else None
            return hook

        try:
            for name in names:
                m = self.module(name)
                handles.append(m.register_forward_hook(on_output(name)) if take == "output"
                               else m.register_forward_pre_hook(on_input(name)))
            logits = self(images)
        finally:
            for h in handles:
                h.remove()
        return taken, logits


def _shape(out) -> tuple | None:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape[1:])  # per image
    if isinstance(out, (tuple, list)):
        return tuple(_shape(o) for o in out)
    return None


# ---- from a command-line value -------------------------------------------------------------------------

def is_zoo_name(value: str) -> bool:
    return value in ZOO and not os.path.exists(value)


def load_classifier(value: str, device="cpu", pretrained: bool = False, weights: str | None = None) -> Classifier:
    """A Classifier from a zoo name, a gantool classifier file or a GAN file (see the module docstring)."""
    if pretrained and weights:
        raise UsageError(f"{flag('pretrained')} and {flag('weights')} cannot be combined", "give one source of weights")
    if is_zoo_name(value):
        return _zoo(value, pretrained, weights).to(device)
    if pretrained or weights is not None:
        option = flag("pretrained") if pretrained else flag("weights")
        if os.path.exists(value):
            raise UsageError(f"{option} applies to zoo models; {value} is a file with its own weights")
        raise UsageError(f"{option} applies to zoo models; {value} is not one", f"zoo models: {', '.join(ZOO)}")
    if not os.path.exists(value) and not _looks_like_path(value):
        raise UsageError(f"unknown model {value}", f"give a gantool .safetensors file or a zoo model: {', '.join(ZOO)}")
    return _file(value, device)


def _looks_like_path(value: str) -> bool:
    return os.sep in value or "." in value


def _zoo(name: str, pretrained: bool, weights: str | None) -> Classifier:
    from gantool.models import zoo

    w = zoo.default_weights(name)
    prep, classes = zoo.preprocessing(w), zoo.imagenet_classes(w)
    header = None
    if pretrained:
        state, source = zoo.pretrained_state(name)
    elif weights is not None:
        state, header = zoo.read_weights(weights)
        source = str(weights)
    else:
        net = zoo.build(zoo.TorchvisionConfig(name))["classifier"]
        return Classifier(net, name=name, classes=classes, channels=3, input_size=prep.image_size,
                          resize_size=prep.resize_size, normalization=prep.normalization,
                          interpolation=prep.interpolation, source="random")
    if header is not None:  # a gantool file of a zoo model: its own classes and preprocessing
        from gantool.models import loader

        info = loader.describe_header(header, ("classifier",))
        if not (info.arch.name == "torchvision" and info.config.model == name):
            raise UsageError(f"{flag('weights')} {weights} holds a {info.arch.describe(info.config)}, not {name}",
                             f"use {flag('model')} {weights} on its own")
        num_classes = info.config.num_classes
        classes = info.classes
        data = header.data
        prep = zoo.Preprocessing(int(data.get("image_size", prep.image_size)),
                                 int(data.get("resize_size", prep.resize_size)), info.normalization,
                                 str(data.get("interpolation", prep.interpolation)))
    else:
        num_classes = zoo.num_classes_of(name, state)
        if num_classes != len(classes):
            classes = [str(i) for i in range(num_classes)]
    net = zoo.with_state(name, state, source, num_classes)
    return Classifier(net, name=name, classes=classes, channels=3, input_size=prep.image_size,
                      resize_size=prep.resize_size, normalization=prep.normalization,
                      interpolation=prep.interpolation, source=source)


def _file(path: str, device) -> Classifier:
    from gantool.models import loader

    info = loader.inspect(path, kinds=("classifier", "gan"))
    data = info.header.data
    if info.header.kind == "gan":
        cfg = info.config
        if cfg.conditional:
            raise GantoolError(f"not supported yet: the discriminator of a conditional GAN as a classifier ({path})",
                               "it needs each image's class; use an unconditional GAN")
        loaded = loader.load(path, device, kinds=("gan",), roles=("discriminator",))
        return Classifier(loaded["discriminator"], name=path, classes=["fake", "real"], channels=cfg.channels,
                          input_size=cfg.image_size, normalization=loaded.normalization, binary=True, source=path)
    loaded = loader.load(path, device, kinds=("classifier",), roles=("classifier",))
    size = int(data.get("image_size") or getattr(info.config, "image_size", 0))
    channels = int(data.get("channels") or getattr(info.config, "channels", 3))
    if size < 1:
        raise GantoolError(f"{path} does not record its input size", "gantool.data has no image_size")
    return Classifier(loaded["classifier"], name=path, classes=loaded.classes, channels=channels, input_size=size,
                      resize_size=int(data.get("resize_size") or size), normalization=loaded.normalization,
                      interpolation=str(data.get("interpolation") or "bilinear"), source=path)


# ---- predictions ---------------------------------------------------------------------------------------

def top_k(clf: Classifier, images_uint8: torch.Tensor, k: int, device) -> tuple:
    """(probabilities (N, k), class indices (N, k)), most probable first, for uint8 images (N, C, H, W)."""
    with torch.inference_mode():
        x = images_uint8.to(device).float().div(255)
        p, i = clf(x).float().softmax(1).topk(min(k, clf.num_classes), 1)
    return p.cpu(), i.cpu()


@dataclass
class TopK:
    """`gantool classify`'s work on a chunk of uint8 images (gantool.explain.jobs.run): each image's
    `k` most probable classes, a row each."""

    clf: Classifier
    device: object
    k: int
    read_size: int | None = None  # what the model loads: its resize size (zoo models crop inside)
    chunk: int = 64  # images per forward pass: 64 x 3 x 256 x 256 uint8 is 12 MB, its float copy 50 MB

    def __post_init__(self):
        self.read_size = self.read_size or self.clf.resize_size

    def __call__(self, pixels: torch.Tensor, names: list[str], done: int = 0) -> list[dict]:
        probs, idx = top_k(self.clf, pixels, self.k, self.device)
        c = self.clf.classes
        return [{"image": name, "top": [{"class": c[int(i)], "index": int(i), "probability": round(float(p), 6)}
                                        for p, i in zip(probs[n], idx[n])]} for n, name in enumerate(names)]


# ---- layers --------------------------------------------------------------------------------------------

def layer_rows(clf: Classifier, leaves: bool = False) -> list[dict]:
    """One row per layer (`leaves`: only those that hold no other layer): name, type, output shape
    for one image at the input size (nested lists for tuples, None where it did not run),
    parameters, and whether it is the head."""
    try:
        found = clf.layers()
    except RuntimeError as e:
        raise GantoolError(f"{clf.name}: one forward pass at {clf.input_size}x{clf.input_size} failed: "
                           f"{str(e).splitlines()[0]}") from None
    if leaves:
        names = [layer.name for layer in found]
        found = [layer for layer in found if not any(n.startswith(layer.name + ".") for n in names)]
    head = clf.head
    return [{"name": layer.name, "type": layer.type, "shape": _json_shape(layer.shape),
             "parameters": layer.parameters, "head": layer.name == head} for layer in found]


def _json_shape(shape):
    if shape is None:
        return None
    return [_json_shape(s) if isinstance(s, tuple) or s is None else s for s in shape]


def shape_text(shape) -> str:
    """A layer row's shape as a table shows it: `64x8x8`, `(64x8x8, 64)` for a tuple, `-` if it did not run."""
    if shape is None:
        return "-"
    if any(isinstance(s, list) or s is None for s in shape):
        return "(" + ", ".join(shape_text(s) for s in shape) + ")"
    return "x".join(str(s) for s in shape)


def load_classifier_bytes(blob: bytes, device="cpu", name: str = "<stdin>") -> Classifier:
    """A gantool classifier or GAN file given as bytes (piped in): opened as `load_classifier`
    opens a file, through a private temporary copy; messages and the Classifier name it `name`."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="gantool-") as folder:
        path = str(Path(folder) / "model.safetensors")
        Path(path).write_bytes(blob)
        try:
            clf = _file(path, device)
        except GantoolError as e:
            e.what = e.what.replace(path, name)
            e.hint = e.hint.replace(path, name) if e.hint else e.hint
            e.args = (e.what,)
            raise
    clf.name = clf.source = name
    return clf
