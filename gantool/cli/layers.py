"""`gantool layers`: a classifier's layers by name, with their types and output shapes."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.explain.settings import LayersSettings

COLUMNS = [("name", "layer", ""), ("type", "type", ""), ("shape", "output", ""), ("parameters", "parameters", ",")]
MODEL_HELP = ("A torchvision model by name (resnet18, vgg16, ...), a .safetensors from `gantool train-classifier`, or "
              "a GAN .safetensors (its discriminator); - reads a gantool .safetensors from stdin.")


@kit.command(settings={"settings": LayersSettings})
def layers(
    env: Env,
    settings: dict,
    model_arg: Annotated[Optional[str], typer.Argument(
        metavar="MODEL", show_default=False, help=MODEL_HELP + " The same as -m.")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", show_default=False, metavar="MODEL",
        help=MODEL_HELP + " (env GANTOOL_MODEL)")] = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
) -> None:
    """List a classifier's layers: name, type, output shape, parameters.

    The names are what the commands that inspect a classifier take for a layer (Grad-CAM,
    extract-features). Output shapes are for one image at the model's input size, from one forward
    pass; a layer that does not run in it shows "-". A zoo model needs no weights for this (its
    random ones have the same shapes); --pretrained or --weights check that weights load. A table
    on stdout (its caption names the head), or with --json one JSON object per layer.
    """
    from gantool.classify.classifiers import layer_rows, load_classifier_bytes, shape_text
    from gantool.device import prepare
    from gantool.errors import UsageError
    from gantool.files.reading import read_input

    s = LayersSettings(**settings)
    s.validate()
    if model_arg is not None and model is not None and model_arg != model:
        raise UsageError(f"two models given: {model_arg} and -m {model}", "give one")
    model = model_arg or model or env.environ.get("GANTOOL_MODEL") or None
    if model == "-":
        if pretrained or weights is not None:
            raise UsageError("--pretrained and --weights apply to zoo models; - reads a gantool file")
        blob = read_input(env, "-", "a model .safetensors")
        clf = load_classifier_bytes(blob, prepare(env.options.device, env.options.threads))
    else:
        clf = kit.load_classifier(env, model, pretrained, weights, need_weights=False)[1]
    rows = layer_rows(clf, s.leaves)
    if env.options.json:
        kit.print_rows(env, rows, COLUMNS)
    else:
        shown = [dict(r, shape=shape_text(r["shape"])) for r in rows]
        env.write_text(kit.table(shown, COLUMNS, mean=False)
                       + f"head: {clf.head} (its input is the penultimate representation)\n")
    env.log(f"{clf.name}: input {clf.channels}x{clf.input_size}x{clf.input_size}, "
            f"{kit.plural(clf.num_classes, 'class')}, {kit.plural(len(rows), 'layer')}; the head is {clf.head}, "
            f"its input the penultimate features")


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("resnet18's layers and their output shapes for a 224x224 image.", "gantool layers resnet18"),
    ("A trained classifier's convolutions and activations only, as JSON lines (one object per layer).",
     "gantool --json layers -m digits.safetensors --leaves"),
    ("The discriminator of the GAN named by GANTOOL_MODEL.", "GANTOOL_MODEL=run/model.safetensors gantool layers"),
    ("A model piped in.", "gantool layers - < digits.safetensors"),
]
ENVIRONMENT = {"GANTOOL_MODEL": "The model when neither MODEL nor -m is given.", **kit.TORCH_HOME}
