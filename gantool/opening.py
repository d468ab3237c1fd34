"""The one way a command opens a model from what the user typed: a gantool .safetensors (a GAN's
generator and other networks, an encoder, a classifier), a torchvision zoo name, or a GAN file's
discriminator read as a classifier. The refusals are written here once; the CLI (gantool.cli.kit)
only picks the device first, so an unknown device fails before any file is read.

- `open_networks(value, device, kinds, roles)`: a LoadedModel (gantool.models.loader) with the
  networks of `roles`, every tensor's name, shape and finiteness checked before any is used.
- `open_classifier(value, device, pretrained, weights, need_weights)`: a Classifier
  (gantool.classify.classifiers): images in [0, 1] of any size in, logits out.
"""

from __future__ import annotations

from gantool.errors import BadValue


def require(value: str | None, field: str = "model") -> str:
    """The model named, or the refusal every command gives when none is (`field`: the setting
    that names it, `model` or, for evaluate's judge, `features`)."""
    if value is None or value == "":
        raise BadValue(field, None, "no model given", "name a model file, or set GANTOOL_MODEL")
    return value


def open_networks(value: str | None, device, kinds: tuple[str, ...] = ("gan",), roles: tuple[str, ...] | None = None):
    from gantool.models import loader

    return loader.load(require(value), device, kinds=kinds, roles=roles or ("generator",))


def open_classifier(value: str | None, device, pretrained: bool = False, weights: str | None = None,
                    need_weights: bool = True, field: str = "model"):
    from gantool.classify.classifiers import is_zoo_name, load_classifier

    value = require(value, field)
    if need_weights and is_zoo_name(value) and not pretrained and weights is None:
        raise BadValue(field, value, "its random weights classify nothing: give {pretrained} (torchvision's, "
                                     "from the torch cache) or {weights} FILE")
    return load_classifier(value, device, pretrained=pretrained, weights=weights)
