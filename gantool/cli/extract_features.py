"""`gantool extract-features`: a classifier's (or a discriminator's) activations as a features .npz."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.transfer.extract import ExtractSettings

INPUT = "Input"
DataRoot, Download = kit.data_root_option(INPUT)


@kit.command(settings={"settings": ExtractSettings})
def extract_features(
    env: Env,
    settings: dict,
    images: Annotated[Optional[list[str]], typer.Argument(
        metavar="IMAGES...", show_default=False,
        help="Image files, folders of images, .npy/.npz batches or - for stdin, unlabelled (or --data).")] = None,
    data: Annotated[Optional[str], typer.Option(
        "--data", "-d", show_default=False, rich_help_panel=INPUT, metavar="SOURCE",
        help="Labelled input: digits, mnist, fashion-mnist, cifar10, svhn, a folder (class subfolders give labels; a "
             "flat folder is unlabelled) or a .npy/.npz array file.")] = None,
    data_root: DataRoot = None,
    model: kit.ClassifierModel = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE",
        help="The features .npz (- for stdout, the default when it is a pipe). With several layers, {layer} in "
             "FILE is replaced by each layer's name; without it, FILE's stem gets -LAYER.")] = None,
) -> None:
    """Extract features from a layer of a classifier or a GAN's discriminator into a .npz.

    The model is a zoo model (`-m vgg16 --pretrained`, or --weights), a classifier from `gantool
    train-classifier`, or a GAN file, whose discriminator's features are the DCGAN paper's recipe
    for classification. Images are brought to the model's input as `classify` does; image files are
    decoded in DataLoader workers. One forward pass per batch under inference mode takes every
    --layer at once (a copy of each) and stops as soon as all are taken.

    Each output is a features .npz: `features` (N, D) float32, `labels` (N,) int64 (-1 where
    unlabelled), `classes` and `paths` (unicode; an image is named as in every other command),
    plus `layer` and `model`; `np.load` reads it with allow_pickle=False. It is written as the
    batches come, so a huge layer never sits in memory; its size is printed before the first batch,
    and a disk that cannot hold it is refused up front.
    """
    from gantool.files.writing import STDIO, check_writable, output as open_out, refuse_terminal
    from gantool.progress import make_progress
    from gantool.transfer import extract as X

    s = ExtractSettings(**settings)
    s.validate()
    inputs, output = _inputs(env, images, data, data_root, output, s.estimate)
    dev, clf = kit.load_classifier(env, model, pretrained, weights, need_weights=False)
    job = X.Job.make(clf, dev, s)
    if clf.source == "random":
        env.warn(f"{clf.name} has random weights: give --pretrained or --weights for useful features")
    targets = X.plan_outputs(job.taps, output)
    for target in targets.values():  # every output checked (and claimed) before any work
        refuse_terminal(env, "a .npz", "-o") if target == STDIO else check_writable(target, "-o", "npz")
    plan = X.plan(inputs, job, targets)
    for p in plan:
        env.log(X.describe(p))
    if s.estimate:
        if env.options.json:
            return kit.print_json(env, {"model": clf.name, "images": inputs.total, "layers": plan})
        return env.write_text("".join(f"{p['layer']}\t{p['shape'][0]}x{p['shape'][1]}\t{p['bytes']}\n" for p in plan))
    X.check_space(plan)
    progress = make_progress(env, "extract-features") if inputs.total > s.batch_size else None
    seconds = X.extract(inputs, job, targets, lambda t: open_out(env, t, "a .npz", "-o"), s, progress)
    _report(env, clf.name, inputs.total, plan, seconds)


def _report(env: Env, model: str, images: int, plan: list[dict], seconds: float) -> None:
    rate = images / seconds if seconds > 0 else float("inf")
    if env.options.json:
        kit.print_json(env, {"model": model, "images": images, "seconds": round(seconds, 3),
                             "images_per_second": round(rate, 1), "layers": plan})
    env.log(f"extracted {kit.plural(images, 'image')} x {kit.plural(len(plan), 'layer')} from {model} "
            f"in {seconds:.1f}s ({rate:,.0f} images/s)")


def _inputs(env: Env, images: list[str] | None, data: str | None, data_root, output: str | None, estimate: bool):
    """(the inputs, listed and claimed; the output, stdout when none is named and it is a pipe)."""
    from gantool.errors import UsageError
    from gantool.files.writing import STDIO
    from gantool.transfer import features as F

    if images and data:
        raise UsageError("IMAGES and --data cannot be combined", "give images as arguments or one --data source")
    if not images and data is None:
        raise UsageError("nothing to extract from", "give IMAGES... or --data SOURCE (digits, a folder, ...)")
    if output is None and not estimate:
        if env.stdout_isatty:
            raise UsageError("refusing to write a .npz to a terminal", "use -o FILE or a pipe")
        output = STDIO
    if data:
        return F.data_inputs(data, str(data_root) if data_root else None), output
    sources = kit.image_sources(images)
    return F.image_inputs(sources, kit.stdin_images(env, sources)), output


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("The penultimate features of a digits classifier, for every digit (labels included).",
     "gantool extract-features --data digits -m digits.safetensors -o digits-features.npz"),
    ("Three layers of vgg16 with torchvision's weights, one file each (feat-features.30.npz, ...), conv maps "
     "max-pooled.", "gantool extract-features --data photos/ -m vgg16 --pretrained --layer "
                    "features.30,classifier.1,penultimate --pool max -o feat-{layer}.npz"),
    ("A GAN's discriminator as a feature extractor, as in the DCGAN paper.",
     "gantool extract-features --data digits -m run/model.safetensors --pool flatten -o d.npz"),
    ("How big a flattened conv layer would be, before extracting it.",
     "gantool extract-features --data photos/ -m vgg16 --layer features.28 --pool flatten --estimate"),
]
FILES = [("$TORCH_HOME/hub/checkpoints/*.pth", "torchvision's weights, as torch.hub keeps them; --pretrained reads "
                                               "them there and never downloads.")]
ENVIRONMENT = kit.TORCH_HOME
