"""Runs side by side, read from their files alone: what each was trained with, how far it got, its
curves and its sample grids.

A run is a run folder (`gantool train --out DIR`: model.safetensors, checkpoint.safetensors,
losses.csv, samples/epoch-NNNN.png) or a model file (a run folder's, or any gantool model: a
classifier from train-classifier has no curves or grids, only its numbers). The options come from
the checkpoint's resume state where there is one (every option of the run, as it ran), else from
the model's config and training summary. `differing(runs)` keeps the options whose values are not
all equal: the table a person wants. Runs of other data (another fingerprint) or another kind are
refused in one line: their numbers do not compare.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from gantool.errors import BadValue, GantoolError
from gantool.files import modelfile
from gantool.files.reading import reading

MODEL, CHECKPOINT, LOSSES, SAMPLES = "model.safetensors", "checkpoint.safetensors", "losses.csv", "samples"
X_COLUMNS = ("step", "epoch", "images")  # the axes of losses.csv; every other numeric column is a curve
# what a run reached, not what it was asked to do: never an option
RESULTS = {"final", "images_seen", "seconds", "total_steps", "processes", "device", "heldout_accuracy",
           "heldout_images", "train_images", "final_loss", "selection", "per_class"}
MAX_RUNS = 16  # side by side: more is no longer a comparison anyone reads
_EPOCH = re.compile(r"epoch-(\d+)\.png$")


TRAINED_IN_RUNS = ("gan", "translator")  # kinds whose run folders hold losses.csv and samples/epoch-NNNN.png


@dataclass
class Run:
    """One run as its files describe it."""

    path: str  # as given
    model: Path
    kind: str  # gan, classifier, ...
    options: dict  # name -> value (JSON-able)
    data: dict  # gantool.data of the model
    numbers: dict  # final step, seconds, images/s, best and last FID, held-out accuracy (where known)
    curves: dict = field(default_factory=dict)  # quantity -> [(step, epoch, value)]
    grids: dict = field(default_factory=dict)  # epoch -> PNG path
    label: str = ""

    @property
    def folder(self) -> Path:
        return self.model.parent


def read_run(value: str) -> Run:
    """A run from a run folder or a model file; a folder that holds no model is refused, a
    missing losses.csv or grid folder only leaves the run without curves or grids (`missing`)."""
    path = Path(value)
    model = path / MODEL if path.is_dir() else path
    with reading(model, "model file"):
        model.stat()
    header = modelfile.read_header(model)
    if header.kind not in ("gan", "translator", "classifier"):
        raise GantoolError(f"{value} holds {header.kind} data, not a trained model", "give run folders or model files")
    options = _options(model, header)
    run = Run(value, model, header.kind, options, header.data, {})
    run.curves, rows = _curves(model.parent / LOSSES) if (model.parent / LOSSES).is_file() else ({}, [])
    run.grids = {int(m.group(1)): p for p in sorted((model.parent / SAMPLES).glob("epoch-*.png"))
                 if (m := _EPOCH.search(p.name))} if header.kind in TRAINED_IN_RUNS else {}
    run.numbers = _numbers(header.training, rows)
    return run


def missing(run: Run) -> list[str]:
    """What a run folder (a GAN's or a translator's) lacks for a full comparison, by file name."""
    if run.kind not in TRAINED_IN_RUNS:
        return []
    return [name for name, there in ((str(run.folder / LOSSES), bool(run.curves)),
                                     (str(run.folder / SAMPLES) + "/", bool(run.grids))) if not there]


def _options(model: Path, header) -> dict:
    """Every option of the run: the checkpoint's resume spec (a run folder's), else the config and
    the training summary (without what the run reached)."""
    checkpoint = model.parent / CHECKPOINT
    if model.name == MODEL and checkpoint.is_file():
        extra = modelfile.read_header(checkpoint).extra
        if "resume" in extra:
            spec = json.loads(extra["resume"]).get("spec", {})
            return {k: v for k, v in spec.items() if k not in RESULTS}
    config = {k: v for k, v in header.config.items() if k != "arch"}
    training = {k: v for k, v in header.training.items() if k not in RESULTS}
    return {"data": header.data.get("name"), **config, **training}


def _curves(path: Path) -> tuple[dict, list[dict]]:
    with reading(path, "losses file"):
        text = path.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "step" not in rows[0]:
        raise GantoolError(f"{path} holds no losses", "a run folder's losses.csv starts with a step column")
    curves: dict = {}
    for name in (c for c in rows[0] if c not in X_COLUMNS):
        points = [(float(r["step"]), float(r.get("epoch") or "nan"), float(r[name]))
                  for r in rows if r.get(name) not in (None, "")]
        if points:
            curves[name] = points
    return curves, rows


def _numbers(training: dict, rows: list[dict]) -> dict:
    seconds = training.get("seconds")
    images = training.get("images_seen")
    numbers = {"step": int(float(rows[-1]["step"])) if rows else training.get("steps"), "seconds": seconds,
               "images_per_s": round(images / seconds, 1) if images and seconds else None}
    fids = [float(r["fid"]) for r in rows if r.get("fid")]
    if fids:
        numbers.update(best_fid=round(min(fids), 3), last_fid=round(fids[-1], 3))
    if "heldout_accuracy" in training:
        numbers["heldout_accuracy"] = training["heldout_accuracy"]
    return {k: v for k, v in numbers.items() if v is not None}


def read_runs(values: list[str]) -> list[Run]:
    """The runs, checked to compare: at least two, of one kind and one data set; labelled by the
    shortest ending of their paths that tells them apart."""
    if len(values) < 2:
        raise BadValue("runs", len(values), "a comparison needs two runs or more")
    if len(values) > MAX_RUNS:
        raise BadValue("runs", len(values), f"at most {MAX_RUNS} runs side by side")
    runs = [read_run(v) for v in values]
    kinds = {r.kind for r in runs}
    if len(kinds) > 1:
        first = {k: next(r.path for r in runs if r.kind == k) for k in sorted(kinds)}
        raise GantoolError(f"these runs cannot be compared: {', '.join(f'{p} is a {k}' for k, p in first.items())}",
                           "compare GANs with GANs and classifiers with classifiers")
    data = {}
    for r in runs:
        data.setdefault((r.data.get("name"), r.data.get("fingerprint")), r.path)
    if len(data) > 1:
        (a_data, a), (b_data, b) = list(data.items())[:2]
        raise BadValue("runs", None, f"{a} and {b} were trained on different data ({a_data[0]} and {b_data[0]}, "
                                     "fingerprints differ): their numbers do not compare",
                       "compare runs of one data set")
    for run, label in zip(runs, labels([r.path for r in runs])):
        run.label = label
    return runs


def labels(paths: list[str]) -> list[str]:
    """`a/run`, `b/run` -> `a/run`, `b/run`; `runs/ngf16`, `runs/ngf32` -> `ngf16`, `ngf32`."""
    parts = [Path(p.rstrip("/")).parts for p in paths]
    for n in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-n:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def differing(runs: list[Run]) -> tuple[list[str], dict]:
    """(the options whose values are not all equal, in a stable order; the options all share)."""
    names = sorted({k for r in runs for k in r.options})
    shown = [k for k in names if len({json.dumps(r.options.get(k), sort_keys=True) for r in runs}) > 1]
    shared = {k: runs[0].options.get(k) for k in names if k not in shown}
    return shown, shared


def grid_epochs(runs: list[Run], asked: list[int] | None) -> list[int]:
    """The epochs to show as rows: those asked (each held by every run with grids), else the last
    epoch every run has."""
    with_grids = [r for r in runs if r.grids]
    if not with_grids:
        return []
    common = sorted(set.intersection(*(set(r.grids) for r in with_grids)))
    if asked is None:
        return common[-1:]
    for epoch in asked:
        lacking = next((r for r in with_grids if epoch not in r.grids), None)
        if lacking is not None:
            raise BadValue("epoch", epoch, f"{lacking.path} has no grid of epoch {epoch}",
                           f"epochs every run has: {', '.join(map(str, common)) or 'none'}")
    return asked


def smoothed(values: list[float], weight: float) -> list[float]:
    """An exponential moving average (as TensorBoard's smoothing): weight 0 leaves the curve as it is."""
    out, last = [], None
    for v in values:
        last = v if last is None else weight * last + (1 - weight) * v
        out.append(last)
    return out


def summary(run: Run, shown: list[str]) -> dict:
    """One run's --json object: its label, path, differing options and numbers."""
    return {"run": run.label, "path": run.path, "kind": run.kind,
            "options": {k: run.options.get(k) for k in shown}, **run.numbers}
