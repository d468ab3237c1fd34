"""`gantool train-classifier`: a small CNN classifier on any labelled data source, with its held-out accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.classify.training import DATA, ClassifierSettings
from gantool.cli import kit
from gantool.context import Env


DataRoot, Download = kit.data_root_option(DATA)


@kit.command(settings={"settings": ClassifierSettings})
def train_classifier(
    env: Env,
    settings: dict,
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
    """
    import secrets

    from gantool.classify.training import load_training_data, train_classifier as run
    from gantool.device import prepare
    from gantool.errors import UsageError
    from gantool.files import modelfile
    from gantool.files.modelfile import with_prefix
    from gantool.files.writing import STDIO, check_writable
    from gantool.progress import make_progress

    # ---- check ----
    s = ClassifierSettings(**settings)
    s.validate()
    if output == STDIO:
        raise UsageError("-o -: a classifier is written to a file", "give -o FILE.safetensors")
    check_writable(output)
    dev = prepare(env.options.device, env.options.threads)
    seed = env.options.seed if env.options.seed is not None else secrets.randbelow(2**31)

    # ---- work ----
    data = load_training_data(s, root=str(data_root) if data_root else None, download=download)
    env.log(f"training a CNN classifier ({data.image_size}x{data.image_size}x{data.channels}, "
            f"{data.num_classes} classes) on {data.name} "
            f"({kit.plural(data.num_images, 'image')}) for {kit.plural(s.epochs, 'epoch')} on {dev}, seed {seed}")
    model, cfg, norm, result = run(data, s, seed, dev, progress=make_progress(env, "train-classifier"))
    training = {"epochs": s.epochs, "batch_size": s.batch_size, "lr": s.lr, "weight_decay": s.weight_decay,
                "augment": s.augment, "holdout": s.holdout, "seed": seed, "seconds": result.seconds,
                "train_images": result.train_images, "heldout_images": result.heldout_images,
                "heldout_accuracy": result.heldout_accuracy, "final_loss": result.final_loss, "device": str(dev)}
    data_info = {"name": data.name, "image_size": data.image_size, "channels": data.channels,
                 "num_images": data.num_images, "classes": data.classes, "fingerprint": data.fingerprint(),
                 "normalization": {"mean": list(norm.mean), "std": list(norm.std)}}
    modelfile.save(output, "classifier", with_prefix(model.state_dict(), "classifier"), cfg.to_dict(), data_info,
                   training)
    env.log(f"wrote {output} in {result.seconds:.0f}s: held-out accuracy {result.heldout_accuracy:.2%} "
            f"({result.heldout_images} images)")
    if env.options.json:
        kit.print_json(env, {"classifier": output, "heldout_accuracy": result.heldout_accuracy,
                             "per_class": result.per_class, "heldout_images": result.heldout_images,
                             "train_images": result.train_images, "epochs": s.epochs, "seconds": result.seconds,
                             "seed": seed})
    else:
        env.write_text(_table(result))


def _table(result) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", title="held-out accuracy", title_justify="left")
    table.add_column("class")
    table.add_column("images", justify="right")
    table.add_column("accuracy", justify="right")
    for name, acc in result.per_class.items():
        table.add_row(name, str(result.heldout_counts[name]), f"{acc:.2%}")
    table.add_row("all", str(result.heldout_images), f"{result.heldout_accuracy:.2%}", style="bold")
    buf = io.StringIO()
    Console(file=buf, width=100, no_color=True, force_terminal=False).print(table)
    return buf.getvalue()


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("A digit classifier from the embedded digits (about 99% held-out in seconds), then what it says about images.",
     "gantool train-classifier -o digits.safetensors && gantool classify -m digits.safetensors samples/"),
    ("Fashion-MNIST at 28x28 with light augmentation, the result as JSON.",
     "gantool --json train-classifier --data fashion-mnist --data-root ~/data --augment --epochs 5 -o fashion.safetensors"),
    ("A folder with one subfolder per class, resized to 32x32 RGB.",
     "gantool train-classifier --data photos/ --image-size 32 --channels 3 -o photos.safetensors"),
]
FILES = [("*.safetensors", "The classifier (kind classifier, architecture cnn-classifier) with its class names and "
                           "normalization.")]
