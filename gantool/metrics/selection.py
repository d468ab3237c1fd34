"""Picking a model during training: the FID of the sampling generator every N epochs.

`gantool train --eval-every N --eval-features FILE` makes a `Selection`; gantool.gan.trainer calls
it at the end of every N-th epoch (and of the run) on the generator it samples from (the EMA one
with --ema), logs the value in the `fid` column of losses.csv, and when it is the best so far the
run folder writes model-best.safetensors beside model.safetensors. The real statistics are the
judge's features of the training data as the GAN sees it (its size and channels), computed once;
the generated images come from the same latents every time (seeded by the run's seed), so the
curve follows the generator, not the draw. The best value and its step are kept in the
checkpoint's resume state, and survive --resume with the same judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gantool.errors import BadValue
from gantool.settings import check, setting

if TYPE_CHECKING:
    import torch

    from gantool.metrics.stats import RealStats

DEFAULT_SAMPLES = 2000
EVAL = "Model selection"


@dataclass
class SelectionSettings:
    """When and on how many images the FID is measured during training (its judge is a file, named
    beside these)."""

    eval_every: int | None = setting(None, "Measure the FID of the generator every this many epochs (and at the end) "
                                     "in the features of the judge named with it: a fid column in losses.csv and "
                                     "losses.png, and model-best.safetensors beside the model whenever it is the "
                                     "lowest so far.", EVAL, ge=1, default_help="never")
    eval_samples: int = setting(DEFAULT_SAMPLES, "Images drawn for each measurement, the same latents each time.",
                                EVAL, ge=2, le=1_000_000)

    def validate(self) -> None:
        check(self)

    def selection(self, features: str | None, device) -> "Selection | None":
        """The Selection these settings ask for with the judge `features` (a classifier file), its
        judge loaded (and so checked) before any data; None when no measurement is asked for."""
        from gantool.classify.classifiers import is_zoo_name
        from gantool.metrics.judge import Judge

        self.validate()
        if self.eval_every is None:
            return None
        if is_zoo_name(features):
            raise BadValue("eval_features", features, "give a classifier file",
                           "train one with `gantool train-classifier`; zoo models judge in `gantool evaluate`")
        return Selection(Judge.load(features, device), self.eval_every, self.eval_samples)


def draw(G, n: int, seed: int) -> tuple[torch.Tensor, list[int] | None]:
    """n images of G in [0, 1] on the CPU, in eval mode, from latents seeded by `seed`, and for a
    conditional G the class of each (the classes in turn)."""
    import torch

    from gantool.gan.sampling import generate, latent_chunks
    from gantool.models.dcgan import NORMALIZATION

    cfg = G.cfg
    classes = [i % cfg.num_classes for i in range(n)] if cfg.conditional else None
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    try:
        images = torch.cat([generate(G, z, device, NORMALIZATION) for z in latent_chunks(G, n, seed, classes)])
    finally:
        G.train(was_training)
    return images, classes


class Selection:
    def __init__(self, judge, every: int, samples: int = DEFAULT_SAMPLES):
        self.judge, self.every, self.samples = judge, every, samples
        self.real: RealStats | None = None
        self.seed = 0
        self.best_fid: float | None = None
        self.best_step: int | None = None

    def prepare(self, data, seed: int) -> None:
        """The real statistics of the training data (ImageData at the GAN's size), once."""
        from gantool.metrics.stats import RealStats

        self.real = RealStats.from_images(self.judge, data.images, name=data.name)
        self.seed = seed

    def due(self, epoch: int, last: bool) -> bool:
        return epoch % self.every == 0 or last

    def measure(self, G, step: int) -> float:
        """The FID of `samples` images of G (classes in turn for a conditional G), recorded."""
        from gantool.metrics.quality import fid_only

        images, _ = draw(G, self.samples, self.seed + 7919)
        fid = fid_only(self.judge, images, self.real)
        if self.best_fid is None or fid < self.best_fid:
            self.best_fid, self.best_step = fid, step
        return fid

    def best_at(self, step: int) -> dict | None:
        """What model-best.safetensors records, when the best is the model of `step`; else None."""
        if self.best_step != step:
            return None
        return {"fid": self.best_fid, "step": step, "judge": self.judge.identity, "samples": self.samples}

    def state(self) -> dict:
        """For the checkpoint's resume state."""
        return {"judge": self.judge.identity, "best_fid": self.best_fid, "best_step": self.best_step}

    def restore(self, state: dict | None, warn=lambda m: None) -> None:
        """The best so far from the resume state, when it was measured by this judge."""
        if not state or state.get("best_fid") is None:
            return
        if state.get("judge") != self.judge.identity:
            warn(f"the run's best FID was measured by another judge ({state.get('judge')}); the best starts over "
                 "and the next measurement replaces model-best.safetensors")
            return
        self.best_fid, self.best_step = float(state["best_fid"]), int(state["best_step"])
