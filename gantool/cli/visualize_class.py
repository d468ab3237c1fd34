"""`gantool visualize-class`: the image a classifier reads as a class, by regularized gradient ascent."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.explain.settings import VisualizeSettings

COLUMNS = [("target", "class", ""), ("start_probability", "p(start)", ".4f"),
           ("probability", "p(8-bit image)", ".4f"), ("predicted", "predicted", "")]


@kit.command(settings={"settings": VisualizeSettings})
def visualize_class(
    env: Env,
    settings: dict,
    model: kit.ClassifierModel = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
    init_image: Annotated[Optional[str], typer.Option(
        "--init-image", show_default=False, metavar="FILE",
        help="Start from this image (read at the classifier's input size; - for stdin) instead of noise.")] = None,
    strip: Annotated[Optional[str], typer.Option(
        "--strip", show_default=False, metavar="FILE",
        help="Write the progress strip here: one row per class, --frames snapshots from the start to the end.")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE",
        help="Write the image here (PNG at the classifier's input size; several classes: a row of them; - for "
             "stdout).")] = None,
) -> None:
    """Class visualization: an image the classifier reads as a class, by gradient ascent on its score.

    The CS231n recipe (after Simonyan et al. 2014 and Yosinski et al. 2015): from seeded noise (or
    --init-image), repeat --steps times: roll the image by a random jitter, step along the
    normalized gradient of the target's logit minus --l2 x ||x - 0.5||^2, roll it back, clip to
    [0, 1], and blur it every --blur-every steps. --target takes a class name or index, several
    separated by commas, or `all`: each gets its own image, in one batch. The table (JSON with
    --json) gives each class's probability for the start image and for the exported 8-bit image.
    """
    from gantool.data.inputs import ImageChunks
    from gantool.errors import BadValue, UsageError
    from gantool.explain import visualize as vis
    from gantool.files.writing import STDIO, write_output

    s = VisualizeSettings(**settings)
    s.validate()
    if init_image is not None and "start" in settings:
        raise UsageError("--init-image and --start cannot be combined", "give one start")
    outputs = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--strip", strip, "a PNG image")], default="-o",
                                hint="use -o image.png, --strip strip.png or a pipe")
    init = [init_image] if init_image is not None else []
    chunks = ImageChunks(init, kit.stdin_images(env, init)) if init else None  # checked before the model
    if chunks is not None and chunks.total != 1:
        raise BadValue("init_image", init_image, f"holds {kit.plural(chunks.total, 'image')}; give one")
    dev, clf = kit.load_classifier(env, model, pretrained, weights)
    targets = vis.resolve_targets(clf, s.target)
    pixels = next(chunks.read(clf.channels, clf.input_size))[0] if chunks is not None else None
    start = vis.start_for(clf, len(targets), s, env.options.seed, dev, pixels)
    env.log(f"visualizing {kit.plural(len(targets), 'class')} of {clf.name}: {s.steps} steps")
    v = vis.visualize(clf, targets, start, s, seed=env.options.seed)
    for option, data in (("-o", vis.image_png), ("--strip", vis.strip_png)):
        if outputs[option] is not None:
            write_output(env, outputs[option], data(v), "a PNG image", option)
    rows = vis.result_rows(clf, targets, v)
    kit.print_rows(env, rows, COLUMNS, to_stderr=STDIO in (outputs["-o"], outputs["--strip"]))
    env.log(vis.summary(rows))


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("What the digits classifier draws for each class, with the progress of each, a table of the probabilities.",
     "gantool visualize-class -m digits.safetensors --target all -o classes.png --strip progress.png"),
    ("A pretrained resnet18's 'tabby', from a photo, 500 steps.",
     "gantool visualize-class -m resnet18 --pretrained --target tabby --init-image cat.jpg --steps 500 -o tabby.png"),
    ("A 3 drawn from an image read on stdin.",
     "gantool visualize-class -m digits.safetensors --target 3 --init-image - -o three.png < seven.png"),
]
FILES = [("-o FILE", "The image at the classifier's input size (several classes: a row)."),
         ("--strip FILE", "One row per class, --frames snapshots from the start to the end.")]
ENVIRONMENT = kit.TORCH_HOME
