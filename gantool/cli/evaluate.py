"""`gantool evaluate`: how good generated images are, in the features of a judge of their domain."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env

GENERATED, REAL, JUDGE, SCORES = "Generated images", "Real data", "Judge", "Scores"
DEFAULT_COUNT = 2000

DataRoot, Download = kit.data_root_option(REAL)


@kit.command()
def evaluate(
    env: Env,
    images: Annotated[Optional[list[str]], typer.Argument(
        metavar="IMAGES...", show_default=False,
        help="Generated images: files, folders of images, .npy/.npz batches, or - for stdin (instead of -m).")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", show_default=False, rich_help_panel=GENERATED, metavar="FILE",
        help="A GAN .safetensors from `gantool train`: draw -n images from it (a conditional model: every class "
             "in turn, and the accuracy of the judge on the requested classes).")] = None,
    n: Annotated[Optional[int], typer.Option(
        "-n", "--count", min=2, max=10_000_000, show_default=False, rich_help_panel=GENERATED,
        help=f"How many images -m draws (default {DEFAULT_COUNT:,}); FID is biased upward at small N, so compare "
             f"models at the same N.")] = None,
    data: Annotated[Optional[str], typer.Option(
        "--data", "-d", show_default=False, rich_help_panel=REAL, metavar="SOURCE",
        help="The real images: digits, mnist, fashion-mnist, cifar10, svhn, a folder of images or a .npy/.npz "
             "file, as `train` takes them (with -m, at the model's size and channels, as it was trained).")] = None,
    data_root: DataRoot = None,
    download: Download = False,
    stats: Annotated[Optional[str], typer.Option(
        "--stats", show_default=False, rich_help_panel=REAL, metavar="FILE",
        help="Real statistics saved by --save-stats, instead of --data (refused when another judge made "
             "them).")] = None,
    save_stats: Annotated[Optional[str], typer.Option(
        "--save-stats", show_default=False, rich_help_panel=REAL, metavar="FILE",
        help="Save the judge's features of --data here (.safetensors), for --stats next time.")] = None,
    features: Annotated[Optional[str], typer.Option(
        "--features", "-f", show_default=False, rich_help_panel=JUDGE, metavar="MODEL",
        help="The judge whose features the scores are measured in: a classifier .safetensors of the same domain "
             "(`gantool train-classifier`; the usual choice), a zoo model with --pretrained or --weights "
             "(inception_v3 --pretrained: torchvision's Inception-v3), or a GAN file (its discriminator).")] = None,
    layer: Annotated[Optional[str], typer.Option(
        "--layer", "-l", show_default=False, rich_help_panel=JUDGE, metavar="NAME",
        help="The judge's layer, by the names `gantool layers` lists (conv maps averaged over H and W), or "
             "penultimate: the head's input (default).")] = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
    k: Annotated[int, typer.Option(
        "-k", "--neighbours", min=1, max=1000, show_default=False, rich_help_panel=SCORES,
        help="The k of the k-NN balls of precision, recall, density and coverage (default 5).")] = 5,
    kid_subset: Annotated[int, typer.Option(
        "--kid-subset", min=2, max=1_000_000, show_default=False, rich_help_panel=SCORES, metavar="N",
        help="Images per KID subset (100 subsets), at most the smaller set (default 1000).")] = 1000,
) -> None:
    """Score generated images against real data: FID, KID, precision/recall, density/coverage, IS.

    The generated images come from a model (-m, drawing -n images, seeded by --seed, default 0) or
    from IMAGES; the real ones from --data, or from statistics saved before (--stats). Both are
    seen through the judge (--features): the usual Inception FID means little on digits and its
    weights cannot be downloaded here, so, as TF-GAN's MNIST Fréchet distance does, the judge is best
    a classifier trained on the same domain (`gantool train-classifier`). Images are converted and
    resized to the judge's input; its penultimate layer (or --layer) gives the features.

    FID and KID come from torchmetrics; precision and recall (Kynkäänniemi et al. 2019) and density
    and coverage (Naeem et al. 2020) from k-NN balls in the same features. A judge with classes adds
    the Inception Score, the class histogram of the samples and its normalized entropy (near 0: the
    generator draws few classes, a mode collapse), and for a conditional model the fraction of
    samples read as the class they were drawn for. The numbers of images are always reported: FID
    falls as N grows, so compare at the same N, judge and real data. A table on stdout, or --json.
    """
    from gantool.errors import UsageError
    from gantool.files.writing import STDIO, check_writable

    # ---- check: options, outputs, the model's header ----
    if images and model is not None:
        raise UsageError("IMAGES and -m cannot be combined", "give a model to draw from, or generated images")
    if n is not None and model is None:
        raise UsageError("-n is for -m: IMAGES are evaluated as given")
    if features is None:
        raise UsageError("no judge given", "use --features CLASSIFIER: a classifier of the same domain "
                                           "(gantool train-classifier), or a zoo model with --pretrained")
    if data is not None and stats is not None:
        raise UsageError("--data and --stats cannot be combined", "give the real images or their statistics")
    if data is None and stats is None:
        raise UsageError("no real data", "give --data SOURCE (digits, a folder, ...) or --stats FILE")
    if save_stats is not None and data is None:
        raise UsageError("--save-stats needs --data", "statistics are computed from real images")
    if save_stats == STDIO:
        raise UsageError("--save-stats needs a file name", "statistics are a .safetensors file")
    if save_stats is not None:
        check_writable(save_stats)
    info, chunks = None, None
    if model is not None:
        from gantool.models import loader

        info = loader.inspect(model, kinds=("gan",))
    else:
        from gantool.data.chunks import ImageChunks

        if not images and env.stdin_isatty:
            raise UsageError("nothing to evaluate", "give -m MODEL, IMAGES..., or pipe a .npy/.npz")
        sources = kit.image_sources(images)
        chunks = ImageChunks(sources, kit.stdin_images(env, sources))
    seed = env.options.seed if env.options.seed is not None else 0

    # ---- the judge, the real statistics ----
    from gantool.device import prepare
    from gantool.metrics import Judge, RealStats, evaluate as score

    dev = prepare(env.options.device, env.options.threads)
    judge = Judge.load(features, dev, layer=layer, pretrained=pretrained, weights=weights)
    if stats is not None:
        real = RealStats.load(stats, judge)
    else:
        from gantool.data.sources import load_data

        size = {"channels": info.config.channels, "image_size": info.config.image_size} if info else {}
        real_data = load_data(data, root=str(data_root) if data_root else None, download=download, **size)
        real = RealStats.from_images(judge, real_data.images, name=real_data.name)
        if save_stats is not None:
            real.save(save_stats)
            env.log(f"saved the statistics of {kit.plural(real.n, 'real image')} to {save_stats}")

    # ---- the generated images, judged chunk by chunk ----
    requested = None
    if info is not None:
        fakes, requested, total = _drawn(env, model, info, judge, n or DEFAULT_COUNT, seed, dev)
    else:
        fakes, total = (x for x, _ in chunks.read(judge.clf.channels, judge.clf.input_size)), chunks.total
    result = score(judge, _with_progress(env, fakes, total), real, requested_labels=requested, k=k,
                   kid_subset=kid_subset, seed=seed)
    result.update(generated=model if model is not None else "images", real=real.info.get("name") or stats,
                  seed=seed if model is not None else None)
    env.log(f"judged {kit.plural(result['n_fake'], 'generated image')} against {kit.plural(result['n_real'], 'real one')}"
            f" in {judge.num_features} features of {judge.name}")
    if env.options.json:
        kit.print_json(env, result)
    else:
        env.write_text(_table(result))


def _drawn(env, model, info, judge, count: int, seed: int, dev):
    """(image chunks drawn from the model, the judge's class index each was drawn for or None, count)."""
    from gantool.gan.sampling import generate, latent_chunks

    _, loaded = kit.load_generator(env, model)
    G, cfg = loaded["generator"], info.config
    classes = [i % cfg.num_classes for i in range(count)] if cfg.conditional else None
    requested = None
    if classes is not None:
        mapping = _class_map(env, info.classes, judge)
        if mapping is not None:
            import torch

            requested = torch.tensor([mapping[c] for c in classes])
    fakes = (generate(G, z, dev, info.normalization) for z in latent_chunks(G, count, seed, classes))
    return fakes, requested, count


def _class_map(env, names: list[str], judge) -> list[int] | None:
    """The judge's class index for each of the generator's classes: by name, else by position when
    the counts agree; None (with a warning) when the judge cannot tell them."""
    if not judge.has_classes:
        return None
    theirs = judge.classes
    if all(name in theirs for name in names):
        return [theirs.index(name) for name in names]
    if len(names) == len(theirs):
        env.warn(f"the model's classes ({', '.join(names[:5])}, ...) are not the judge's by name; "
                 "matched by position for the requested-class accuracy")
        return list(range(len(names)))
    env.warn(f"the judge's {len(theirs)} classes are not the model's {len(names)}: no requested-class accuracy")
    return None


def _with_progress(env, chunks, total: int):
    from gantool.progress import make_progress

    if total <= 512:
        yield from chunks
        return
    progress = make_progress(env, "evaluate")
    progress.start(total)
    done = 0
    try:
        for chunk in chunks:
            yield chunk
            done += len(chunk)
            progress.update(done, {})
    finally:
        progress.stop()


def _table(r: dict) -> str:
    from gantool.cli import search

    rows = [("images", f"{r['n_fake']:,} generated, {r['n_real']:,} real", "FID is biased at small N"),
            ("FID", f"{r['fid']:.4g}", "lower is better"),
            ("KID", f"{r['kid_mean']:.4g} ± {r['kid_std']:.2g}", f"lower is better; subsets of {r['kid_subset_size']}"),
            ("precision", f"{r['precision']:.3f}", "generated on the real manifold"),
            ("recall", f"{r['recall']:.3f}", "real on the generated manifold"),
            ("density", f"{r['density']:.3f}", "about 1 for real-like samples"),
            ("coverage", f"{r['coverage']:.3f}", f"real covered by generated (k = {r['k']})")]
    if "inception_score" in r:
        rows.append(("inception score", f"{r['inception_score']:.4g} ± {r['inception_score_std']:.2g}",
                     f"at most {len(r['classes'])}, higher is better"))
        rows.append(("class entropy", f"{r['class_entropy']:.3f}", "1 every class alike, 0 one class"))
        shown = " ".join(f"{c}:{h}" for c, h in zip(r["classes"], r["class_histogram"]) if h)
        rows.append(("classes", shown if len(shown) <= 80 else shown[:77] + "...", "samples read as each class"))
    if "requested_accuracy" in r:
        rows.append(("requested class", f"{r['requested_accuracy']:.2%}", "samples read as the class asked for"))
    return search.table([{"score": a, "value": b, "reading": c} for a, b, c in rows],
                        [("score", "score", ""), ("value", "value", ""), ("reading", "reading", "")])


# For the man page (gantool.cli.docgen): (what it does, command line).
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
