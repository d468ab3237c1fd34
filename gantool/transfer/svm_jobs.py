"""What `svm train|predict|evaluate` do with features files, without the command line: the checks
between files (labels, dimensions, classes), one training's result row, the model and confusion
files' bytes, predictions and scores of a saved model, and the tables they print.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from gantool.errors import GantoolError
from gantool.transfer import svm as S
from gantool.transfer.features import Features


def fingerprint(feats: Features) -> str:
    """Which features file a model was trained on (`--held-out` finds its held-out rows again)."""
    h = hashlib.sha256(feats.features.tobytes())
    h.update(feats.labels.tobytes())
    return h.hexdigest()[:16]


def same_space(train: Features, other: Features) -> None:
    if other.features.shape[1] != train.features.shape[1]:
        raise GantoolError(f"{other.name} has {other.features.shape[1]} dimensions, {train.name} "
                           f"{train.features.shape[1]}", "extract both from the same layer")
    if other.classes and train.classes and other.classes != train.classes:
        raise GantoolError(f"{other.name} names other classes than {train.name}")


def check_training(sets: list[Features], test: Features | None) -> None:
    """Before any fit: every training file labelled, the test file too, and in the same space."""
    for feats in sets + ([test] if test is not None else []):
        if not feats.labelled:
            raise GantoolError(f"{feats.name} has unlabelled rows",
                               "training and scoring need labels: extract features from a labelled data set")
    for feats in sets:
        if test is not None:
            same_space(feats, test)


def train_one(feats: Features, recipe: S.Recipe, test: Features | None) -> tuple[S.Result, dict]:
    """Fit one features file: the result and its row (what --json prints, the comparison's line)."""
    result = S.train(feats.features, feats.labels, len(feats.classes), recipe,
                     None if test is None else (test.features, test.labels))
    row = {"features": feats.name, "layer": feats.layer, "model": feats.model, "rows": int(len(feats.labels)),
           "dims": result.dims, "pca": recipe.pca, "scale": recipe.scale, "kernel": recipe.kernel,
           "solver": result.solver, "cv": result.cv, "best_C": result.best_c, "accuracy": result.accuracy,
           "per_class": dict(zip(feats.classes, result.per_class)), "fit_seconds": round(result.fit_s, 4),
           "cv_seconds": round(result.cv_s, 3),
           "test": test.name if test is not None else f"{len(result.predictions)} held-out rows ({recipe.holdout:g})"}
    return result, row


def model_bytes(result: S.Result, feats: Features, recipe: S.Recipe, row: dict) -> bytes:
    extra = {} if result.test_index is None else {"split.test_index": result.test_index.astype(np.int64)}
    return S.to_bytes(result.model,
                      {"recipe": {"C": result.best_c, "pca": recipe.pca, "scale": recipe.scale, "kernel": recipe.kernel,
                                  "solver": result.solver, "folds": recipe.folds, "holdout": recipe.holdout,
                                  "seed": recipe.seed}},
                      {"classes": feats.classes, "dims": result.dims, "layer": feats.layer, "model": feats.model,
                       "features": feats.name, "fingerprint": fingerprint(feats)},
                      {"cv": result.cv, "accuracy": result.accuracy, "fit_seconds": result.fit_s, "test": row["test"]},
                      extra)


def confusion_bytes(result: S.Result, feats: Features) -> bytes:
    from gantool.plots import confusion_png

    title = f"{Path(feats.name).name}{f' ({feats.layer})' if feats.layer else ''}: {result.accuracy:.2%} held-out"
    return confusion_png(result.confusion, feats.classes, title)


def train_report(result: S.Result, feats: Features, row: dict, folds: int) -> str:
    """One training's tables and summary line."""
    return (cv_table(result.cv, result.best_c, folds)
            + class_table(feats.classes, result.per_class, result.confusion.sum(1))
            + f"held-out accuracy: {result.accuracy:.2%} (C {result.best_c:g}, {row['test']}); fit "
              f"{result.fit_s:.3f}s ({result.solver}), cross-validation {result.cv_s:.2f}s\n")


# ---- a saved model ---------------------------------------------------------------------------------

def select(loaded: S.Loaded, model: str, sets: list[Features], held_out: bool, labels: bool) -> list[Features]:
    """The rows a saved model is applied to, checked: the model's dimensions, and (`held_out`) only
    the rows its training held out of this same file, (`labels`) labelled rows of its classes."""
    dims = S.expected_dims(loaded)
    for feats in sets:
        if feats.features.shape[1] != dims:
            raise GantoolError(f"{feats.name} has {feats.features.shape[1]} dimensions, {model} takes {dims}",
                               f"extract them from the layer it was trained on ({loaded.data.get('layer') or '?'})")
        if held_out:
            if "split.test_index" not in loaded.arrays:
                raise GantoolError(f"{model} held no rows out (it was scored on a test file)",
                                   "apply it to the whole file")
            if fingerprint(feats) != loaded.data.get("fingerprint"):
                raise GantoolError(f"{feats.name} is not the features file {model} was trained on",
                                   f"its held-out rows are those of {loaded.data.get('features')}")
            index = loaded.arrays["split.test_index"]
            feats.features, feats.labels = feats.features[index], feats.labels[index]
            feats.paths = [feats.paths[i] for i in index]
        if labels and not feats.labelled:
            raise GantoolError(f"{feats.name} has unlabelled rows", "scoring needs labels; predict their classes instead")
        if labels and feats.classes and feats.classes != loaded.classes:
            raise GantoolError(f"{feats.name} names other classes than {model}")
    return sets


def predictions(loaded: S.Loaded, sets: list[Features]) -> list[dict]:
    classes = loaded.classes
    return [{"path": p, "class": classes[int(k)], "index": int(k)}
            for feats in sets for p, k in zip(feats.paths, loaded.model.predict(feats.features))]


def evaluate(loaded: S.Loaded, sets: list[Features]) -> dict:
    x = np.concatenate([f.features for f in sets])
    y = np.concatenate([f.labels for f in sets])
    return {**S.score(loaded.model, x, y, len(loaded.classes)), "rows": int(len(y))}


# ---- tables ----------------------------------------------------------------------------------------

def _render(table) -> str:
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=120, no_color=True, force_terminal=False).print(table)
    return buf.getvalue()


def cv_table(cv: list[dict], best: float, folds: int) -> str:
    from rich.table import Table

    table = Table(title=f"{folds}-fold cross-validation", header_style="bold")
    table.add_column("C", justify="right")
    table.add_column("accuracy (mean ± std)", justify="right")
    table.add_column("")
    for r in cv:
        table.add_row(f"{r['C']:g}", f"{r['mean']:.2%} ± {r['std']:.2%}", "best" if r["C"] == best else "")
    return _render(table)


def class_table(classes: list[str], per_class: list, counts) -> str:
    from rich.table import Table

    table = Table(header_style="bold")
    table.add_column("class")
    table.add_column("rows", justify="right")
    table.add_column("accuracy", justify="right")
    for name, acc, n in zip(classes, per_class, counts):
        table.add_row(name, f"{int(n):,}", "-" if acc is None else f"{acc:.2%}")
    return _render(table)


def comparison(rows: list[dict]) -> str:
    from rich.table import Table

    table = Table(header_style="bold")
    for name, justify in (("features", "left"), ("layer", "left"), ("dims", "right"), ("PCA", "right"),
                          ("best C", "right"), ("CV accuracy", "right"), ("accuracy", "right"),
                          ("fit time", "right"), ("solver", "left")):
        table.add_column(name, justify=justify)
    for r in rows:
        best = next(c for c in r["cv"] if c["C"] == r["best_C"])
        table.add_row(Path(r["features"]).name, r["layer"] or "-", f"{r['dims']:,}", str(r["pca"] or "-"),
                      f"{r['best_C']:g}", f"{best['mean']:.2%} ± {best['std']:.2%}", f"{r['accuracy']:.2%}",
                      f"{r['fit_seconds']:.3f}s", r["solver"])
    return _render(table)
