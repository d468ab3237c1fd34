"""`gantool evaluate`: how good generated images are, in the features of a judge of their domain."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.errors import UsageError
from gantool.metrics.request import GENERATED, JUDGE, EvaluateSettings

REAL = "Real data"

DataRoot, Download = kit.data_root_option(REAL)


Images = Annotated[Optional[list[str]], typer.Argument(
    metavar="IMAGES...", show_default=False,
    help="Generated images: files, folders of images, .npy/.npz batches, or - for stdin (instead of -m).")]
Model = Annotated[Optional[str], typer.Option(
    "--model", "-m", show_default=False, rich_help_panel=GENERATED, metavar="FILE",
    help="A GAN .safetensors from `gantool train`: draw -n images from it (a conditional model: every class in turn, "
         "and the accuracy of the judge on the requested classes).")]
Data = Annotated[Optional[str], typer.Option(
    "--data", "-d", show_default=False, rich_help_panel=REAL, metavar="SOURCE",
    help="The real images: digits, mnist, fashion-mnist, cifar10, svhn, a folder of images or a .npy/.npz file, as "
         "`train` takes them (with -m, at the model's size and channels, as it was trained).")]
Stats = Annotated[Optional[str], typer.Option(
    "--stats", show_default=False, rich_help_panel=REAL, metavar="FILE",
    help="Real statistics saved by --save-stats, instead of --data (refused when another judge made them).")]
SaveStats = Annotated[Optional[str], typer.Option(
    "--save-stats", show_default=False, rich_help_panel=REAL, metavar="FILE",
    help="Save the judge's features of --data here (.safetensors), for --stats next time.")]
Features = Annotated[Optional[str], typer.Option(
    "--features", "-f", show_default=False, rich_help_panel=JUDGE, metavar="MODEL",
    help="The judge whose features the scores are measured in: a classifier .safetensors of the same domain "
         "(`gantool train-classifier`; the usual choice), a zoo model with --pretrained or --weights (inception_v3 "
         "--pretrained: torchvision's Inception-v3), or a GAN file (its discriminator).")]


@kit.command(settings={"settings": EvaluateSettings})
def evaluate(env: Env, settings: dict, images: Images = None, model: Model = None, data: Data = None,
             data_root: DataRoot = None, download: Download = False, stats: Stats = None, save_stats: SaveStats = None,
             features: Features = None, pretrained: kit.Pretrained = False, weights: kit.Weights = None) -> None:
    """Score generated images against real data: FID, KID, precision/recall, density/coverage, IS.

    The generated images come from a model (-m, drawing -n images, seeded by --seed, default 0) or
    from IMAGES; the real ones from --data, or from statistics saved before (--stats). Both are
    seen through the judge (--features): the usual Inception FID means little on digits and its
    weights cannot be downloaded here, so, as TF-GAN's MNIST Fréchet distance does, the judge is best
    a classifier trained on the same domain (`gantool train-classifier`). Images are converted and
    resized to the judge's input; its penultimate layer (or --layer) gives the features.

    FID and KID come from torchmetrics; precision and recall (Kynkäänniemi et al. 2019) and density
    and coverage (Naeem et al. 2020) from k-NN balls in the same features: each side needs more
    images than --neighbours. A judge with classes adds the Inception Score, the class histogram of
    the samples and its normalized entropy (near 0: the generator draws few classes, a mode
    collapse), and for a conditional model the fraction of samples read as the class they were
    drawn for. The numbers of images are always reported: FID falls as N grows, so compare at the
    same N, judge and real data. A table on stdout, or --json (one object).
    """
    from gantool.device import prepare
    from gantool.files.writing import check_writable
    from gantool.metrics.report import COLUMNS, score_rows
    from gantool.metrics.request import Generated, Real, evaluate_request
    from gantool.progress import make_progress

    s = EvaluateSettings(**settings)
    s.validate()
    _refuse_contradictions(images, model, "count" in settings, features, data, stats, save_stats)
    if save_stats is not None:
        check_writable(save_stats, "--save-stats", "safetensors")
    if model is None and not images and env.stdin_isatty:
        raise UsageError("nothing to evaluate", "give -m MODEL, IMAGES..., or pipe a .npy/.npz")
    generated = Generated(model=model) if model is not None else Generated(images=_chunks(env, images))
    real = Real(data=data, stats=stats, save_stats=save_stats, root=str(data_root) if data_root else None,
                download=download)
    dev = prepare(env.options.device, env.options.threads)
    result = evaluate_request(s, features, generated, real, dev, seed=env.options.seed, pretrained=pretrained,
                              weights=weights, progress=make_progress(env, "evaluate"), log=env.log, warn=env.warn)
    if env.options.json:
        kit.print_json(env, result)
    else:
        env.write_text(kit.table(score_rows(result), COLUMNS, mean=False))


def _refuse_contradictions(images, model, count_given: bool, features, data, stats, save_stats) -> None:
    """The options that cannot go together, or are missing, before anything is read."""
    from gantool.files.writing import STDIO

    refusals = [
        (images and model is not None, "IMAGES and -m cannot be combined", "give a model to draw from, or generated "
                                                                          "images"),
        (count_given and model is None, "-n is for -m: IMAGES are evaluated as given", None),
        (features is None, "no judge given", "use --features CLASSIFIER: a classifier of the same domain "
                                             "(gantool train-classifier), or a zoo model with --pretrained"),
        (data is not None and stats is not None, "--data and --stats cannot be combined",
         "give the real images or their statistics"),
        (data is None and stats is None, "no real data", "give --data SOURCE (digits, a folder, ...) or --stats FILE"),
        (save_stats is not None and data is None, "--save-stats needs --data", "statistics are computed from real "
                                                                               "images"),
        (save_stats == STDIO, "--save-stats needs a file name", "statistics are a .safetensors file"),
    ]
    for refused, what, hint in refusals:
        if refused:
            raise UsageError(what, hint)


def _chunks(env: Env, images: list[str] | None):
    from gantool.data.inputs import ImageChunks

    sources = kit.image_sources(images)
    return ImageChunks(sources, kit.stdin_images(env, sources))


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("Train a judge for digits, then score a model in its features (2,000 samples against the 1,797 digits).",
     "gantool train-classifier -o digits.safetensors && "
     "gantool evaluate -m run/model.safetensors --data digits --features digits.safetensors"),
    ("Compute the real statistics once, then score several runs with them, as JSON.",
     "gantool evaluate -m a/model.safetensors --data digits -f digits.safetensors --save-stats digits-stats.safetensors"
     " && gantool --json evaluate -m b/model.safetensors --stats digits-stats.safetensors -f digits.safetensors"),
    ("Score images on disk (from `gantool sample --out-dir`, or another program).",
     "gantool evaluate imgs/ --data digits -f digits.safetensors"),
    ("Which of a run's models is better: the last one, or the one training kept at its lowest FID.",
     "for m in run/model.safetensors run/model-best.safetensors; do gantool --json evaluate -m $m --data digits "
     "-f digits.safetensors | jq .fid; done"),
    ("Torchvision's Inception-v3 as the judge (its weights copied into $TORCH_HOME/hub/checkpoints first).",
     "gantool evaluate -m cifar-run/model.safetensors --data cifar10 -f inception_v3 --pretrained"),
]
FILES = [("*.safetensors (stats)", "Real statistics (--save-stats, --stats): the judge's features of the real images, "
                                   "and which judge and layer made them."),
         ("$TORCH_HOME/hub/checkpoints/*.pth", "torchvision's weights, as torch.hub keeps them; --pretrained reads "
                                               "them there and never downloads.")]
ENVIRONMENT = kit.TORCH_HOME
