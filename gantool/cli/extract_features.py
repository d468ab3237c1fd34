"""`gantool extract-features`: a classifier's (or a discriminator's) activations as a features .npz."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from gantool.cli import kit
from gantool.context import Env

INPUT = "Input"


def _workers_default() -> int:
    """A worker per 4 cores, at most 4: decoding a PNG or JPEG costs little next to a CNN's forward
    pass, and a worker takes a core from the forward pass's threads (on 2 cores, vgg16 and resnet18
    ran 10-20% slower with one worker than with none)."""
    from gantool.device import available_cores

    return min(4, available_cores() // 4)


DataRoot, Download = kit.data_root_option(INPUT)


@kit.command()
def extract_features(
    env: Env,
    images: Annotated[Optional[list[str]], typer.Argument(
        metavar="IMAGES...", show_default=False,
        help="Image files, folders of images or .npy/.npz batches, unlabelled (or --data).")] = None,
    data: Annotated[Optional[str], typer.Option(
        "--data", "-d", show_default=False, rich_help_panel=INPUT, metavar="SOURCE",
        help="Labelled input: digits, mnist, fashion-mnist, cifar10, svhn, a folder (class subfolders give labels; a "
             "flat folder is unlabelled) or a .npy/.npz array file.")] = None,
    data_root: DataRoot = None,
    model: kit.ClassifierModel = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
    layer: Annotated[Optional[str], typer.Option(
        "--layer", "-l", show_default=False, metavar="NAMES",
        help="Layers to take, by the names `gantool layers` lists, comma-separated (one output each), or "
             "penultimate: the head's input (default).")] = None,
    pool: Annotated[Literal["avg", "max", "flatten"], typer.Option(
        "--pool", show_default=False,
        help="Conv maps (N, C, H, W) to vectors: the mean or the max over H and W (C dimensions), or flatten "
             "(C*H*W) (default avg).")] = "avg",
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE",
        help="The features .npz (- for stdout). With several layers, {layer} in FILE is replaced by each layer's "
             "name; without it, FILE's stem gets -LAYER.")] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", "-b", min=1, max=65536, show_default=False, metavar="N",
        help="Images per forward pass (default 64).")] = 64,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=0, max=64, show_default=False, metavar="N",
        help="DataLoader processes that decode image files (0: in this one) (default: one per 4 cores, at most 4).")] = None,
    estimate: Annotated[bool, typer.Option(
        "--estimate", show_default=False,
        help="Print each output's shape and size, and stop before extracting.")] = False,
) -> None:
    """Extract features from a layer of a classifier or a GAN's discriminator into a .npz.

    The model is a zoo model (`-m vgg16 --pretrained`, or --weights), a classifier from `gantool
    train-classifier`, or a GAN file, whose discriminator's features are the DCGAN paper's recipe
    for classification. Images are brought to the model's input as `classify` does (gray repeated
    to RGB for RGB models, the weights' own resize, crop and normalization); image files are
    decoded in DataLoader workers. One forward pass per batch under inference mode takes every
    --layer at once (a copy of each, so no in-place operation can change it) and stops as soon as
    all are taken.

    Each output is a .npz as CONVENTIONS.md has it: `features` (N, D) float32, `labels` (N,) int64
    (-1 where unlabelled), `classes` and `paths` (unicode), plus `layer` and `model`; `np.load`
    reads it with allow_pickle=False. It is written as the batches come, so a huge layer never sits
    in memory; its size is printed before the first batch (add --pool avg, or PCA in `svm train`,
    if it is too big), and a disk that cannot hold it is refused up front.
    """
    import shutil
    import time

    from gantool.errors import GantoolError, UsageError
    from gantool.files.writing import STDIO, check_writable, output as open_out, refuse_terminal, safe_name
    from gantool.progress import make_progress
    from gantool.transfer import features as F

    if images and data:
        raise UsageError("IMAGES and --data cannot be combined", "give images as arguments or one --data source")
    if not images and data is None:
        raise UsageError("nothing to extract from", "give IMAGES... or --data SOURCE (digits, a folder, ...)")
    if images and STDIO in images:
        raise UsageError("extract-features does not read images from stdin", "give files, folders or arrays")
    if output is None and not estimate:
        if env.stdout_isatty:
            raise UsageError("refusing to write a .npz to a terminal", "use -o FILE or a pipe")
        output = STDIO
    inputs = F.data_inputs(data, str(data_root) if data_root else None) if data else F.image_inputs(images)
    dev, clf = kit.load_classifier(env, model, pretrained, weights, need_weights=False)
    taps = F.resolve_layers(clf, layer)
    extractor = F.Extractor(clf, taps, pool)
    try:
        dims = extractor.dims(dev)
    except RuntimeError as e:
        raise GantoolError(f"{clf.name}: one forward pass at {clf.input_size}x{clf.input_size} failed: "
                           f"{str(e).splitlines()[0]}") from None
    if clf.source == "random":
        env.warn(f"{clf.name} has random weights: give --pretrained or --weights for useful features")

    # outputs: one per layer, all checked before any work
    targets = {}
    if output is not None:
        if len(taps) > 1 and output == STDIO:
            raise UsageError("several layers cannot share stdout", "use -o FILE ({layer} is replaced by each name)")
        for tap in taps:
            if len(taps) == 1:
                targets[tap.layer] = output
            elif "{layer}" in output:
                targets[tap.layer] = output.replace("{layer}", safe_name(tap.layer))
            else:
                p = Path(output)
                targets[tap.layer] = str(p.with_name(f"{p.stem}-{safe_name(tap.layer)}{p.suffix or '.npz'}"))
        if len(set(targets.values())) != len(targets):
            raise UsageError(f"-o {output}: several layers would write the same file", "put {layer} in it")
        for target in targets.values():
            if target == STDIO:
                refuse_terminal(env, "a .npz", "-o")
            else:
                check_writable(target)
    names = inputs.names
    width = max((len(n) for n in names), default=1)
    sizes = {t.layer: F.estimate_bytes(inputs.total, dims[t.layer], width) for t in taps}
    plan = [{"layer": t.layer, "shape": [inputs.total, dims[t.layer]], "bytes": sizes[t.layer],
             **({"output": targets[t.layer]} if targets else {})} for t in taps]
    for p in plan:
        env.log(f"{p['layer']}: {p['shape'][0]:,} x {p['shape'][1]:,} float32 = {F.human_bytes(p['bytes'])}"
                + (f" -> {p['output']}" if "output" in p else ""))
    if estimate:
        if env.options.json:
            kit.print_json(env, {"model": clf.name, "images": inputs.total, "layers": plan})
        else:
            env.write_text("".join(f"{p['layer']}\t{p['shape'][0]}x{p['shape'][1]}\t{p['bytes']}\n" for p in plan))
        return
    by_folder = {}
    for layer_name, target in targets.items():
        if target != STDIO:
            folder = str(Path(target).resolve().parent)
            by_folder[folder] = by_folder.get(folder, 0) + sizes[layer_name]
    for folder, need in by_folder.items():
        free = shutil.disk_usage(folder).free
        if need > free:
            raise GantoolError(f"the features need {F.human_bytes(need)} but {folder} has {F.human_bytes(free)} free",
                               "pool them (--pool avg or max), take fewer layers, or write elsewhere")

    import torch
    from contextlib import ExitStack

    n_workers = _workers_default() if workers is None else workers
    progress = make_progress(env, "extract-features") if inputs.total > batch_size else None
    t0 = time.perf_counter()
    with ExitStack() as stack:
        writers = {}
        for tap in taps:
            stream = stack.enter_context(open_out(env, targets[tap.layer], "a .npz", "-o"))
            writers[tap.layer] = F.NpzWriter(stream, inputs.total, dims[tap.layer])
        if progress is not None:
            progress.start(inputs.total)
            stack.callback(progress.stop)
        done = 0
        with torch.inference_mode():
            for batch in F.batches(inputs, clf.channels, clf.resize_size, batch_size, n_workers):
                x = batch.to(dev, non_blocking=True).float().div_(255)
                for name, rows in extractor(x).items():
                    writers[name].write(rows.cpu().numpy())
                done += len(batch)
                if progress is not None:
                    progress.update(done, {})
        for tap in taps:
            writers[tap.layer].close(inputs.labels, inputs.classes, names, layer=tap.layer, model=clf.name)
    seconds = time.perf_counter() - t0
    rate = inputs.total / seconds if seconds > 0 else float("inf")
    if env.options.json:
        kit.print_json(env, {"model": clf.name, "images": inputs.total, "seconds": round(seconds, 3),
                             "images_per_second": round(rate, 1), "layers": plan})
    env.log(f"extracted {kit.plural(inputs.total, 'image')} x {kit.plural(len(taps), 'layer')} from {clf.name} in "
            f"{seconds:.1f}s ({rate:,.0f} images/s)")


# For the man page (gantool.cli.docgen): (what it does, command line).
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
