"""`gantool train-classifier`: a small CNN classifier on any labelled data source, with its held-out accuracy."""

from __future__ import annotations

from typing import Annotated

import typer

from gantool.classify.adapt import AdaptSettings
from gantool.classify.training import DATA, ClassifierSettings
from gantool.cli import kit
from gantool.context import Env


DataRoot, Download = kit.data_root_option(DATA)


@kit.command(settings={"settings": ClassifierSettings, "adaptation": AdaptSettings})
def train_classifier(
    env: Env,
    settings: dict,
    adaptation: dict,
    output: Annotated[str, typer.Option(
        "--output", "-o", show_default=False, metavar="FILE",
        help="Where to write the classifier .safetensors (default classifier.safetensors).")] = "classifier.safetensors",
    data_root: DataRoot = None,
    download: Download = False,
) -> None:
    """Train a small CNN classifier and report its held-out accuracy.

    The data are any labelled source `gantool train` takes; a seeded, stratified share of each class
    (--holdout) is kept out of training and measured at the end. The file records the class names
    and the normalization (the training images' mean and std), so `gantool classify`, `gantool
    layers` and the commands that inspect classifiers use it alone. Prints the held-out accuracy,
    overall and per class (--json: one object). Ctrl-C stops it with nothing written (exit 130).

    --adapt TARGET trains a Domain-Adversarial Neural Network (Ganin & Lempitsky): a domain head
    behind a gradient reversal layer makes the features of source and target alike; the target's
    labels, if any, only score its held-out part. Prints source, target and domain head accuracy.
    """
    from gantool.classify.adapt import adaptation_from
    from gantool.classify.training import train_and_save
    from gantool.device import prepare
    from gantool.errors import UsageError
    from gantool.files.writing import STDIO, check_writable
    from gantool.progress import make_progress

    s = ClassifierSettings(**settings)
    s.validate()
    if output == STDIO:
        raise UsageError("-o -: a classifier is written to a file", "give -o FILE.safetensors")
    a = adaptation_from(adaptation)
    check_writable(output, "-o", holds="safetensors")
    if a is not None and a.features_png:
        check_writable(a.features_png, "--features-png", holds="png")
    dev = prepare(env.options.device, env.options.threads)
    result = train_and_save(s, output, env.options.seed, dev, root=str(data_root) if data_root else None,
                            download=download, progress=make_progress(env, "train-classifier"), log=env.log, adapt=a)
    if env.options.json:
        kit.print_json(env, result.summary(output, s, env.options.seed))
    else:
        env.write_text(kit.table(result.rows(), result.columns(), mean=False))


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("A digit classifier from the embedded digits (about 99% held-out in seconds), then what it says about images.",
     "gantool train-classifier -o digits.safetensors && gantool classify -m digits.safetensors samples/"),
    ("Fashion-MNIST at 28x28 with light augmentation, the result as JSON.",
     "gantool --json train-classifier --data fashion-mnist --data-root ~/data --augment --epochs 5 -o fashion.safetensors"),
    ("A folder with one subfolder per class, resized to 32x32 RGB.",
     "gantool train-classifier --data photos/ --image-size 32 --channels 3 -o photos.safetensors"),
    ("DANN from gray digits to their blend with photos, against the source-only classifier, with the feature picture.",
     "gantool blend --data digits --photos photos/ -o blend.npz && gantool train-classifier --adapt blend.npz "
     "--compare-source-only --features-png features.png -o dann.safetensors"),
]
FILES = [("*.safetensors", "The classifier (kind classifier, architecture cnn-classifier) with its class names and "
                           "normalization.")]
