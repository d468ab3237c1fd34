"""One evaluation as a command asks for it: generated images (drawn from a GAN file, or given),
real images (a data source, or statistics saved before), a judge, and the settings of the scores.

`EvaluateSettings` is written once (default, range, help) and `gantool evaluate` builds its options
from it. `evaluate_request` checks, then works: the numbers of images on both sides are known, and
checked against the scores asked (`check_counts`: k-NN balls need k + 1 images a side, KID subsets
no more images than a side has, FID two), before the judge runs on anything. Torch is imported
inside the functions: --help reads the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gantool.words import plural
from gantool.errors import BadValue, GantoolError
from gantool.settings import check, setting

GENERATED, JUDGE, SCORES = "Generated images", "Judge", "Scores"
DEFAULT_COUNT = 2000
DEFAULT_KID_SUBSET = 1000
SHOW_PROGRESS_OVER = 512  # images: fewer are judged at once, without a bar


@dataclass
class EvaluateSettings:
    count: int = setting(DEFAULT_COUNT, "How many images a model draws (a conditional one: every class in turn); FID "
                         "is biased upward at small N, so compare models at the same N.", GENERATED, ge=2,
                         le=10_000_000, names=("-n",), default_help=f"{DEFAULT_COUNT:,}")
    layer: str | None = setting(None, "The judge's layer, by the names `gantool layers` lists (conv maps averaged "
                                "over H and W), or penultimate: the head's input.", JUDGE, names=("-l",),
                                default_help="penultimate")
    neighbours: int = setting(5, "The k of the k-NN balls of precision, recall, density and coverage (at most the "
                              "smaller set's count less 1).", SCORES, ge=1, le=1000)
    kid_subset: int | None = setting(None, "Images per KID subset (100 subsets), at most the smaller set.", SCORES,
                                     ge=2, le=1_000_000, default_help=f"{DEFAULT_KID_SUBSET}, or the smaller set")

    def validate(self) -> None:
        check(self)

    def check_counts(self, n_fake: int, n_real: int, drawn: bool = False) -> None:
        """Refuse counts too small for the scores asked: FID and KID need 2 images a side, the k-NN
        balls k + 1 (with k or more every ball holds its whole set: precision and recall read 1),
        an explicit KID subset no more than the smaller side. `drawn`: the generated count is `count`."""
        for n, side in ((n_fake, "generated"), (n_real, "real")):
            if n < 2:
                raise GantoolError(f"{plural(n, side + ' image')}: FID and KID need at least 2",
                                   "give more images")
        n, side = min((n_fake, "generated"), (n_real, "real"), key=lambda t: t[0])
        k = self.neighbours
        if k >= n:
            more = f"draw {k + 1} or more with {{count}}, or " if side == "generated" and drawn else ""
            raise BadValue("neighbours", k, f"needs at least {k + 1} images on each side, not {n} {side}: "
                                            f"{more}give {{neighbours}} at most {n - 1}")
        if self.kid_subset is not None and self.kid_subset > n:
            raise BadValue("kid_subset", self.kid_subset, f"must be at most {n}, the number of {side} images")

    def kid_size(self, n_fake: int, n_real: int) -> int:
        return self.kid_subset or min(DEFAULT_KID_SUBSET, n_fake, n_real)


@dataclass
class Generated:
    """The generated side: a GAN file to draw `count` images from, or images (ImageChunks)."""

    model: str | None = None
    images: object | None = None  # gantool.data.inputs.ImageChunks


@dataclass
class Real:
    """The real side: a data source (as `train` takes them) or a stats file; `save_stats` keeps the
    judge's features of `data` there."""

    data: str | None = None
    stats: str | None = None
    save_stats: str | None = None
    root: str | None = None
    download: bool = False


def _nothing(message: str) -> None:
    pass


def evaluate_request(s: EvaluateSettings, features: str, generated: Generated, real: Real, device, seed: int = 0,
                     pretrained: bool = False, weights: str | None = None, progress=None,
                     log: Callable[[str], None] = _nothing, warn: Callable[[str], None] = _nothing) -> dict:
    """Every score of gantool.metrics.evaluate, with what was compared (`generated`, `real`, `seed`).
    Checks the counts before the judge (`features`, see Judge.load) is loaded."""
    from gantool.metrics import Judge, RealStats, evaluate

    s.validate()
    info = _model_info(generated.model) if generated.model is not None else None
    n_fake = s.count if info is not None else generated.images.total
    images, name = _real_images(real, info)
    n_real = len(images) if images is not None else RealStats.count(real.stats)
    s.check_counts(n_fake, n_real, drawn=info is not None)

    judge = Judge.load(features, device, layer=s.layer, pretrained=pretrained, weights=weights)
    if images is None:
        stats = RealStats.load(real.stats, judge)
    else:
        stats = RealStats.from_images(judge, images, name=name)
        if real.save_stats is not None:
            stats.save(real.save_stats)
            log(f"saved the statistics of {plural(stats.n, 'real image')} to {real.save_stats}")
    requested = None
    if info is not None:
        fakes, requested = _drawn(generated.model, info, judge, s.count, seed, device, warn)
    else:
        fakes = (x for x, _ in generated.images.read(judge.clf.channels, judge.clf.input_size))
    result = evaluate(judge, _with_progress(fakes, n_fake, progress), stats, requested_labels=requested,
                      k=s.neighbours, kid_subset=s.kid_size(n_fake, n_real), seed=seed)
    result = {key: v + 0.0 if isinstance(v, float) else v for key, v in result.items()}  # -0.0 + 0.0 is 0.0
    result.update(generated=generated.model if info is not None else "images",
                  real=stats.info.get("name") or real.stats, seed=seed if info is not None else None)
    log(f"judged {plural(result['n_fake'], 'generated image')} against {plural(result['n_real'], 'real one')} "
        f"in {judge.num_features} features of {judge.name}")
    return result


def _model_info(path: str):
    from gantool.models import loader

    return loader.inspect(path, kinds=("gan",))


def _real_images(real: Real, info):
    """(uint8 images, name) of `real.data`, at a model's size and channels as it was trained; (None,
    None) for a stats file."""
    if real.data is None:
        return None, None
    from gantool.data.sources import load_data

    size = {"channels": info.config.channels, "image_size": info.config.image_size} if info is not None else {}
    data = load_data(real.data, root=real.root, download=real.download, **size)
    return data.images, data.name


def _drawn(model: str, info, judge, count: int, seed: int, device, warn):
    """(image chunks drawn from the model, the judge's class index each was drawn for, or None)."""
    import torch

    from gantool.gan.sampling import generate, latent_chunks
    from gantool.models import loader

    G, cfg = loader.load(model, device, kinds=("gan",), roles=("generator",))["generator"], info.config
    classes = [i % cfg.num_classes for i in range(count)] if cfg.conditional else None
    mapping = class_map(info.classes, judge, warn) if classes is not None else None
    requested = torch.tensor([mapping[c] for c in classes]) if mapping is not None else None
    return (generate(G, z, device, info.normalization) for z in latent_chunks(G, count, seed, classes)), requested


def class_map(names: list[str], judge, warn=_nothing) -> list[int] | None:
    """The judge's class index for each of the generator's classes: by name, else by position when
    the counts agree; None (with a warning) when the judge cannot tell them."""
    if not judge.has_classes:
        return None
    theirs = judge.classes
    if all(name in theirs for name in names):
        return [theirs.index(name) for name in names]
    if len(names) == len(theirs):
        warn(f"the model's classes ({', '.join(names[:5])}, ...) are not the judge's by name; "
             "matched by position for the requested-class accuracy")
        return list(range(len(names)))
    warn(f"the judge's {len(theirs)} classes are not the model's {len(names)}: no requested-class accuracy")
    return None


def _with_progress(chunks, total: int, progress):
    from gantool.progress import over

    return over(chunks, total, progress if total > SHOW_PROGRESS_OVER else None)

