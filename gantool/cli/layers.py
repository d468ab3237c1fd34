"""`gantool layers`: a classifier's layers by name, with their types and output shapes."""

from __future__ import annotations

from typing import Annotated

import typer

from gantool.cli import kit
from gantool.context import Env


@kit.command(no_args_is_help=True)
def layers(
    env: Env,
    model: Annotated[str, typer.Argument(
        metavar="MODEL", show_default=False,
        help="A torchvision model by name (resnet18, vgg16, ...), a .safetensors from `gantool train-classifier`, or "
             "a GAN .safetensors (its discriminator).")],
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
    leaves: Annotated[bool, typer.Option(
        "--leaves", show_default=False, help="Only the layers that hold no other layers (convolutions, "
                                             "activations, ...), not the blocks around them.")] = False,
) -> None:
    """List a classifier's layers: name, type, output shape, parameters.

    The names are what the commands that inspect a classifier take for a layer (Grad-CAM,
    extract-features). Output shapes are for one image at the model's input size, from one forward
    pass; a layer that does not run in it shows "-". A zoo model needs no weights for this (its
    random ones have the same shapes); --pretrained or --weights check that weights load.
    """
    from gantool.errors import GantoolError

    dev, clf = kit.load_classifier(env, model, pretrained, weights, need_weights=False)
    try:
        found = clf.layers()
    except RuntimeError as e:
        raise GantoolError(f"{model}: one forward pass at {clf.input_size}x{clf.input_size} failed: "
                           f"{str(e).splitlines()[0]}") from None
    names = [layer.name for layer in found]
    if leaves:
        found = [layer for layer in found if not any(n.startswith(layer.name + ".") for n in names)]
    head = clf.head
    if env.options.json:
        kit.print_json(env, {"model": clf.name, "input": [clf.channels, clf.input_size, clf.input_size],
                             "classes": clf.num_classes, "head": head,
                             "layers": [{"name": layer.name, "type": layer.type, "shape": _json_shape(layer.shape),
                                         "parameters": layer.parameters} for layer in found]})
        return
    env.write_text(_table(found, head))
    env.log(f"{clf.name}: input {clf.channels}x{clf.input_size}x{clf.input_size}, {clf.num_classes} classes, "
            f"{kit.plural(len(found), 'layer')}; the head is {head}, its input the penultimate features")


def _json_shape(shape):
    if shape is None:
        return None
    return [_json_shape(s) if isinstance(s, tuple) or s is None else s for s in shape]


def _text_shape(shape) -> str:
    if shape is None:
        return "-"
    if any(isinstance(s, tuple) or s is None for s in shape):
        return "(" + ", ".join(_text_shape(s) for s in shape) + ")"
    return "x".join(str(s) for s in shape)


def _table(found, head: str) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", caption=f"head: {head} (its input is the penultimate "
                                                                 f"representation)", caption_justify="left")
    table.add_column("layer")
    table.add_column("type")
    table.add_column("output", justify="right")
    table.add_column("parameters", justify="right")
    for layer in found:
        table.add_row(layer.name, layer.type, _text_shape(layer.shape),
                      f"{layer.parameters:,}")
    buf = io.StringIO()
    Console(file=buf, width=100, no_color=True, force_terminal=False).print(table)
    return buf.getvalue()


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("resnet18's layers and their output shapes for a 224x224 image.", "gantool layers resnet18"),
    ("A trained classifier's convolutions and activations only, as JSON.",
     "gantool --json layers digits.safetensors --leaves"),
]
ENVIRONMENT = kit.TORCH_HOME
