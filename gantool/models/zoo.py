"""torchvision's classification models by name (registry.ZOO), with their weights' class names and
preprocessing, and their weights from the standard torch cache or from a file; never downloaded.

A gantool file can hold one too: architecture "torchvision", config {"model": "resnet18",
"num_classes": 1000}, tensors under `classifier.`, its input size and normalization in gantool.data.

Weights:
- pretrained: the file torchvision's default weights would download, looked for where
  torch.hub puts it (`torch.hub.get_dir()/checkpoints/NAME.pth`, under TORCH_HOME); when it is
  absent, one line names the file and the folder (and where it comes from). It is read with
  `torch.load(weights_only=True)`; its hash is not checked (a file that does not fit is refused).
- a file: `.safetensors` (a plain state dict, or a gantool file of this architecture) or
  `.pth`/`.pt`/`.bin` read with `torch.load(weights_only=True)` (a state dict, or a checkpoint
  dict holding one under "state_dict" or "model"; a DataParallel "module." prefix is dropped).
A state dict whose last layer has N outputs instead of 1000 builds the model with N classes
(named 0..N-1 unless a gantool file names them); anything else that does not fit is one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from gantool.data.normalization import Normalization
from gantool.errors import BadValue, GantoolError, flag
from gantool.models.registry import ZOO, Arch, config_from_dict

IMAGENET_CLASSES = 1000
# what torchvision's builder sets when it loads the default weights: Inception-v3's weights (ported from
# TensorFlow) expect its transform_input, which maps ImageNet-normalized input to their [-1, 1]
BUILD = {"inception_v3": {"transform_input": True, "aux_logits": True, "init_weights": False}}
STATE_SUFFIXES = (".pth", ".pt", ".bin")


@dataclass(frozen=True)
class TorchvisionConfig:
    model: str = "resnet18"
    num_classes: int = IMAGENET_CLASSES

    def to_dict(self) -> dict:
        return {"arch": "torchvision", "model": self.model, "num_classes": self.num_classes}

    @classmethod
    def from_dict(cls, d: dict) -> "TorchvisionConfig":
        return config_from_dict(cls, d)

    def validate(self) -> None:
        if self.model not in ZOO:
            raise BadValue("model", self.model, f"is not a zoo model (gantool knows {', '.join(ZOO)})")
        if not 1 <= self.num_classes <= 100_000:
            raise BadValue("num_classes", self.num_classes, "must be from 1 to 100000")


def build(cfg: TorchvisionConfig) -> dict[str, nn.Module]:
    from torchvision.models import get_model

    cfg.validate()
    return {"classifier": get_model(cfg.model, weights=None, num_classes=cfg.num_classes, **BUILD.get(cfg.model, {}))}


def describe(cfg: TorchvisionConfig) -> str:
    return f"torchvision {cfg.model}, {cfg.num_classes} classes"


ARCHS = {"torchvision": Arch("torchvision", "classifier", TorchvisionConfig, build, describe)}


# ---- the default weights: class names, preprocessing, where they live ------------------------------

def check_name(name: str) -> None:
    if name not in ZOO:
        raise BadValue("model", name, f"is not a zoo model (gantool knows {', '.join(ZOO)})")


def default_weights(name: str):
    """torchvision's default weights enum value for a zoo model (metadata only; nothing is read)."""
    from torchvision.models import get_model_weights

    check_name(name)
    return get_model_weights(name).DEFAULT


@dataclass(frozen=True)
class Preprocessing:
    """What a model does to an image in [0, 1] before its first layer: resize the shorter side to
    `resize_size`, centre-crop `image_size`, normalize. Taken from the weights' own transforms."""

    image_size: int
    resize_size: int
    normalization: Normalization
    interpolation: str = "bilinear"


def preprocessing(weights) -> Preprocessing:
    t = weights.transforms()
    return Preprocessing(int(t.crop_size[0]), int(t.resize_size[0]), Normalization(tuple(t.mean), tuple(t.std)),
                         t.interpolation.value)


def imagenet_classes(weights) -> list[str]:
    return [str(c) for c in weights.meta["categories"]]


def cache_file(weights) -> Path:
    """Where torch.hub keeps the file of `weights` (it honours TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def pretrained_state(name: str) -> tuple[dict, str]:
    """The default weights of a zoo model from the torch cache, never downloaded: (state, path)."""
    weights = default_weights(name)
    path = cache_file(weights)
    if not path.is_file():
        raise GantoolError(f"no pretrained {name} weights: expected {path.name} in {path.parent}",
                           f"copy it there from a machine with network ({weights.url}), set TORCH_HOME, "
                           f"or give {flag('weights')} FILE")
    return read_state_file(path), str(path)


# ---- weights files ----------------------------------------------------------------------------------

def read_weights(path) -> tuple[dict, "object | None"]:
    """A state dict from `path`, and the gantool header when it is a gantool file (else None)."""
    from gantool.files import modelfile
    from gantool.files.reading import reading

    path = str(path)
    with reading(path, "weights file"):
        Path(path).stat()
    if path.endswith(".safetensors"):
        from safetensors import safe_open

        try:
            with safe_open(path, "pt") as f:
                meta = f.metadata() or {}
        except Exception as e:
            raise GantoolError(f"cannot read weights {path}: {_first_line(e)}") from None
        if "gantool.kind" in meta:
            header = modelfile.read_header(path)
            tensors = modelfile.load_tensors(path, header)
            state = modelfile.split_prefix(tensors, "classifier")
            if not state:
                raise GantoolError(f"{path} holds no classifier", "its tensors are not under classifier.")
            return state, header
        from safetensors.torch import load_file

        return _checked(load_file(path), path), None
    if path.endswith(STATE_SUFFIXES):
        return read_state_file(path), None
    raise GantoolError(f"cannot read weights {path}: unknown kind of file",
                       "give a .safetensors, .pth, .pt or .bin state dict")


def read_state_file(path) -> dict:
    """A PyTorch state dict file, read with weights_only=True (no code is run)."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # an unpickling refusal, a damaged zip, a file that is no checkpoint at all
        raise GantoolError(f"cannot read weights {path}: {_first_line(e)}",
                           "a weights-only PyTorch state dict is expected") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    return _checked(state, path)


def _checked(state, path) -> dict:
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise GantoolError(f"{path} is not a state dict", "expected a mapping of tensor names to tensors")
    if all(k.startswith("module.") for k in state):  # saved from DataParallel/DistributedDataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _first_line(e: Exception) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


# ---- building a zoo model from a state dict ----------------------------------------------------------

def head_key(name: str) -> str:
    """The state-dict key of the last layer's weight (its first dimension is the class count)."""
    with torch.device("meta"):
        net = build(TorchvisionConfig(name))["classifier"]
    return [k for k, v in net.state_dict().items() if k.endswith(".weight") and v.shape[0] == IMAGENET_CLASSES][-1]


def num_classes_of(name: str, state: dict) -> int:
    t = state.get(head_key(name))
    return int(t.shape[0]) if t is not None and t.dim() >= 1 else IMAGENET_CLASSES


def with_state(name: str, state: dict, source: str, num_classes: int) -> nn.Module:
    """The zoo model `name` holding `state`, every name and shape checked first (one line if not)."""
    with torch.device("meta"):
        net = build(TorchvisionConfig(name, num_classes))["classifier"]
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    # batch norm fills in a missing num_batches_tracked (state dicts saved before PyTorch 0.4.1 lack it)
    missing = [k for k in want if k not in found and not k.endswith(".num_batches_tracked")]
    extra = [k for k in found if k not in want]
    wrong = [k for k in want if k in found and want[k] != found[k]]
    if missing or extra or wrong:
        if wrong:
            detail = f"{wrong[0]} is {found[wrong[0]]}, {name} has {want[wrong[0]]}"
        elif missing:
            detail = f"{missing[0]} is missing" + (f" ({len(missing)} of {len(want)} in all)" if len(missing) > 1 else "")
        else:
            detail = f"{extra[0]} is not part of {name}" + (f" ({len(extra)} in all)" if len(extra) > 1 else "")
        raise GantoolError(f"{source} does not fit {name}: {detail}", "are these the weights of another architecture?")
    net.load_state_dict(state, strict=True, assign=True)
    return net
