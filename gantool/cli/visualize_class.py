"""`gantool visualize-class`: the image a classifier reads as a class, by regularized gradient ascent."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.cli import kit, search
from gantool.context import Env
from gantool.explain.settings import VisualizeSettings


@kit.command(settings={"settings": VisualizeSettings})
def visualize_class(
    env: Env,
    settings: dict,
    model: kit.ClassifierModel = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
    init_image: Annotated[Optional[str], typer.Option(
        "--init-image", show_default=False, metavar="FILE",
        help="Start from this image (read at the classifier's input size) instead of noise.")] = None,
    frames: Annotated[int, typer.Option(
        "--frames", min=2, max=64, metavar="N", help="Snapshots in the progress strip, from the start to the end.")] = 8,
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
    import json

    import torch

    from gantool.data.chunks import ImageChunks
    from gantool.errors import BadValue, UsageError
    from gantool.explain.saliency import resolve_target
    from gantool.explain.visualize import start_images, visualize
    from gantool.files.writing import STDIO

    # ---- check ----
    s = VisualizeSettings(**settings)
    s.validate()
    if s.target is None:
        raise UsageError("no class given", "use --target CLASS (a name or an index, several with commas, or all)")
    if init_image is not None and "start" in settings:
        raise UsageError("--init-image and --start cannot be combined", "give one start")
    outputs = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--strip", strip, "a PNG image")], default="-o",
                                hint="use -o image.png, --strip strip.png or a pipe")
    chunks = ImageChunks([init_image]) if init_image is not None else None  # the file checked before the model
    if chunks is not None and chunks.total != 1:
        raise BadValue("init_image", init_image, f"holds {kit.plural(chunks.total, 'image')}; give one")
    dev, clf = kit.load_classifier(env, model, pretrained, weights)
    names = [t.strip() for t in s.target.split(",")] if s.target != "all" else [str(i) for i in range(clf.num_classes)]
    if any(not n for n in names):
        raise BadValue("target", s.target, "has an empty class between its commas")
    targets = torch.tensor([resolve_target(clf, n) for n in names], dtype=torch.int64)
    seed = env.options.seed if env.options.seed is not None else 0

    # ---- work ----
    if chunks is not None:
        pixels, _ = next(chunks.read(clf.channels, clf.input_size))
        start = pixels.to(dev).float().div(255).expand(len(targets), -1, -1, -1).clone()
    else:
        start = start_images(clf, len(targets), s.start, seed, dev)
    env.log(f"visualizing {len(targets)} class{'es' if len(targets) > 1 else ''} of {clf.name}: {s.steps} steps")
    v = visualize(clf, targets, start, s, frames=frames, seed=seed)
    _write(env, outputs, v)
    rows = [{"target": clf.classes[int(t)], "target_index": int(t),
             "start_probability": round(float(v.start_probability[i]), 6),
             "probability": round(float(v.probability[i]), 6), "predicted": clf.classes[int(v.predicted[i])],
             "predicted_index": int(v.predicted[i])} for i, t in enumerate(targets)]
    if env.options.json:
        env.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
    else:
        text = search.table(rows, [("target", "class", ""), ("start_probability", "p(start)", ".4f"),
                                   ("probability", "p(8-bit image)", ".4f"), ("predicted", "predicted", "")])
        if STDIO in (outputs["-o"], outputs["--strip"]):
            if not env.options.quiet:
                env.stderr.write(text)
        else:
            env.write_text(text)
    reached = sum(r["predicted_index"] == r["target_index"] for r in rows)
    env.log(f"{reached}/{len(rows)} exported images predicted as their class; mean target probability "
            f"{sum(r['start_probability'] for r in rows) / len(rows):.3f} at the start, "
            f"{sum(r['probability'] for r in rows) / len(rows):.3f} at the end (8-bit)")


def _write(env, outputs: dict, v) -> None:
    from gantool.files.images import grid_png, png_bytes, to_uint8
    from gantool.files.writing import write_output

    if outputs["-o"] is not None:
        data = png_bytes(to_uint8(v.images[0])) if len(v.images) == 1 else grid_png(v.images, len(v.images))
        write_output(env, outputs["-o"], data, "a PNG image", "-o")
    if outputs["--strip"] is not None:
        frames = v.frames.shape[1]
        write_output(env, outputs["--strip"], grid_png(v.frames.flatten(0, 1), frames), "a PNG image", "--strip")


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("What the digits classifier draws for each class, with the progress of each, a table of the probabilities.",
     "gantool visualize-class -m digits.safetensors --target all -o classes.png --strip progress.png"),
    ("A pretrained resnet18's 'tabby', from a photo, 500 steps.",
     "gantool visualize-class -m resnet18 --pretrained --target tabby --init-image cat.jpg --steps 500 -o tabby.png"),
]
FILES = [("-o FILE", "The image at the classifier's input size (several classes: a row)."),
         ("--strip FILE", "One row per class, --frames snapshots from the start to the end.")]
ENVIRONMENT = kit.TORCH_HOME
