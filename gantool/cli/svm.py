"""`gantool svm train|predict|evaluate`: SVMs on features from extract-features."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from gantool.cli import kit
from gantool.context import Env

TRAIN = "Training (svm train)"


@kit.command(no_args_is_help=True)
def svm(
    env: Env,
    action: Annotated[Literal["train", "predict", "evaluate"], typer.Argument(
        metavar="ACTION", show_default=False,
        help="train: fit on FEATURES (several: one comparison table); predict: the class of each row; evaluate: "
             "accuracy on labelled FEATURES.")],
    features: Annotated[list[str], typer.Argument(
        metavar="FEATURES...", show_default=False, help="Features .npz files from `gantool extract-features`.")],
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="PATH",
        help="train: the model .safetensors (several FEATURES: a folder, one STEM.safetensors each).")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", show_default=False, metavar="FILE",
        help="predict, evaluate: a model from `svm train`.")] = None,
    c_values: Annotated[str, typer.Option(
        "--C", "-C", show_default=False, metavar="C,...", rich_help_panel=TRAIN,
        help="The values of C to cross-validate; the best refits on every training row (default 0.1,1,5,10).")]
        = "0.1,1,5,10",
    pca: Annotated[Optional[int], typer.Option(
        "--pca", min=1, show_default=False, metavar="N", rich_help_panel=TRAIN,
        help="Project onto N principal components (fitted on the training rows) before the SVM.")] = None,
    scale: Annotated[Literal["standard", "l2", "none"], typer.Option(
        "--scale", show_default=False, rich_help_panel=TRAIN,
        help="Per-dimension standardization, each row to unit length, or nothing (default standard).")] = "standard",
    kernel: Annotated[Literal["linear", "rbf"], typer.Option(
        "--kernel", show_default=False, rich_help_panel=TRAIN,
        help="A linear SVM, or an SVC with an RBF kernel (gamma scale) (default linear).")] = "linear",
    solver: Annotated[Literal["auto", "liblinear", "libsvm"], typer.Option(
        "--solver", show_default=False, rich_help_panel=TRAIN,
        help="The linear kernel's solver: liblinear (LinearSVC: one-vs-rest, squared hinge; scales to many rows), "
             "libsvm (SVC with a linear kernel: one-vs-one, hinge; fast on wide features), or auto: libsvm when "
             "the SVM's inputs (after --pca) have more dimensions than there are training rows (default auto).")]
        = "auto",
    folds: Annotated[int, typer.Option(
        "--folds", min=2, max=100, show_default=False, metavar="K", rich_help_panel=TRAIN,
        help="Stratified cross-validation folds (default 5).")] = 5,
    holdout: Annotated[float, typer.Option(
        "--holdout", min=0.01, max=0.9, show_default=False, metavar="FRACTION", rich_help_panel=TRAIN,
        help="Rows held out (stratified, by --seed) to score the final model (default 0.2).")] = 0.2,
    test: Annotated[Optional[str], typer.Option(
        "--test", show_default=False, metavar="FILE", rich_help_panel=TRAIN,
        help="Score on this features file instead of held-out rows (every training row is then used).")] = None,
    confusion: Annotated[Optional[str], typer.Option(
        "--confusion", show_default=False, metavar="PNG",
        help="Write the confusion matrix here (train default: beside the model, STEM-confusion.png).")] = None,
    held_out: Annotated[bool, typer.Option(
        "--held-out", show_default=False,
        help="predict, evaluate: only the rows `svm train` held out of this same features file.")] = False,
) -> None:
    """Train, apply and score SVMs on features (scikit-learn), stored without pickle.

    `svm train` picks C by stratified k-fold cross-validation on the training rows (a table of mean ±
    std accuracy per C), refits the best on all of them, and scores the held-out rows (or --test):
    accuracy, per-class accuracy, fit time, and a confusion-matrix PNG. The scaler, PCA and SVM go
    into one .safetensors (arrays as tensors, the rest JSON in the header; `gantool info` reads it),
    which `svm predict` and `svm evaluate` rebuild into the same scikit-learn objects: predictions
    are identical to the fitted model's. Given several features files (say one per layer), `svm
    train` fits each and prints one comparison table: layer, dimensions, PCA, best C, accuracy, fit
    time.
    """
    from gantool.errors import UsageError
    from gantool.transfer import svm as S

    c_given = c_values != "0.1,1,5,10"
    if action == "train":
        given = [flag for flag, on in (("-m", model is not None), ("--held-out", held_out)) if on]
        if given:
            raise UsageError(f"{given[0]} applies to svm predict and evaluate, not train")
        try:
            cs = [float(c) for c in c_values.split(",")]
        except ValueError:
            raise UsageError(f"--C {c_values}: not a comma-separated list of numbers") from None
        recipe = S.Recipe(cs=cs, pca=pca, scale=scale, kernel=kernel, folds=folds, holdout=holdout,
                          seed=env.options.seed if env.options.seed is not None else 0, solver=solver)
        recipe.check()
        _train(env, features, output, confusion, recipe, test)
        return
    given = [flag for flag, on in (("-o", output is not None), ("--C", c_given), ("--pca", pca is not None),
                                   ("--scale", scale != "standard"), ("--kernel", kernel != "linear"),
                                   ("--solver", solver != "auto"),
                                   ("--folds", folds != 5), ("--holdout", holdout != 0.2), ("--test", test is not None))
             if on]
    if given:
        raise UsageError(f"{given[0]} applies to svm train, not {action}", "the model file holds the recipe")
    if model is None:
        raise UsageError(f"svm {action} needs a model", "give -m FILE from `gantool svm train`")
    if action == "predict" and confusion is not None:
        raise UsageError("--confusion applies to svm train and evaluate", "predict has no labels to compare")
    _apply(env, action, features, model, confusion, held_out)


def _train(env: Env, files: list[str], output: str | None, confusion: str | None, recipe, test: str | None) -> None:
    import os
    from pathlib import Path

    import numpy as np

    from gantool.errors import GantoolError, UsageError
    from gantool.files.writing import atomic_write, check_folder_writable, check_writable
    from gantool.plots import confusion_png
    from gantool.transfer import features as F, svm as S

    several = len(files) > 1
    if several and confusion is not None:
        raise UsageError("--confusion names one file; with several FEATURES each goes beside its model in -o DIR")
    if output is None and not several:
        raise UsageError("svm train needs -o FILE for the model")
    if output == "-":
        raise UsageError("the model cannot go to stdout (safetensors needs a file)", "use -o FILE")
    stems = [Path(f).stem for f in files]
    if several and len(set(stems)) != len(stems):
        raise UsageError("several FEATURES share a file name", "each model is named after its features file")
    plans = []  # (features path, model path or None, confusion path or None)
    for f, stem in zip(files, stems):
        if several:
            model_path = os.path.join(output, f"{stem}.safetensors") if output else None
            png = os.path.join(output, f"{stem}-confusion.png") if output else None
        else:
            model_path = output
            png = confusion or str(Path(output).with_name(f"{Path(output).stem}-confusion.png"))
        plans.append((f, model_path, png))
    if several and output:
        check_folder_writable(output)
    else:
        for _, m, png in plans:
            check_writable(m)
            check_writable(png)
    loaded = [F.read_features(f) for f in files]
    test_set = F.read_features(test) if test else None
    for feats in loaded:
        if not feats.labelled:
            raise GantoolError(f"{feats.name} has unlabelled rows", "svm train needs labels (extract with --data)")
        if test_set is not None:
            _same_space(feats, test_set, test)
    rows = []
    for (f, model_path, png), feats in zip(plans, loaded):
        if several:
            env.log(f"{f}: {feats.features.shape[0]:,} x {feats.features.shape[1]:,}")
        k = len(feats.classes)
        result = S.train(feats.features, feats.labels, k, recipe,
                         None if test_set is None else (test_set.features, test_set.labels))
        if result.unconverged:
            env.warn(f"{f}: LinearSVC did not converge in {result.unconverged} fit(s); try --scale standard, a "
                     "smaller C or --solver libsvm")
        row = {"features": f, "layer": feats.layer, "model": feats.model, "rows": int(len(feats.labels)),
               "dims": result.dims, "pca": recipe.pca, "scale": recipe.scale, "kernel": recipe.kernel,
               "solver": result.solver,
               "cv": result.cv, "best_C": result.best_c, "accuracy": result.accuracy,
               "per_class": dict(zip(feats.classes, result.per_class)), "fit_seconds": round(result.fit_s, 4),
               "cv_seconds": round(result.cv_s, 3),
               "test": test or f"{len(result.predictions)} held-out rows ({recipe.holdout:g})"}
        if model_path is not None:
            extra = {} if result.test_index is None else {"split.test_index": result.test_index.astype(np.int64)}
            S.save(model_path, result.model,
                   {"recipe": {"C": result.best_c, "pca": recipe.pca, "scale": recipe.scale, "kernel": recipe.kernel,
                               "solver": result.solver,
                               "folds": recipe.folds, "holdout": recipe.holdout, "seed": recipe.seed}},
                   {"classes": feats.classes, "dims": result.dims, "layer": feats.layer, "model": feats.model,
                    "features": str(f), "fingerprint": fingerprint(feats)},
                   {"cv": result.cv, "accuracy": result.accuracy, "fit_seconds": result.fit_s,
                    "test": row["test"]}, extra)
            row["output"] = model_path
        if png is not None:
            title = f"{Path(f).name}{f' ({feats.layer})' if feats.layer else ''}: {result.accuracy:.2%} held-out"
            atomic_write(png, confusion_png(result.confusion, feats.classes, title))
            row["confusion"] = png
        rows.append(row)
        if not several and not env.options.json:
            env.write_text(_cv_table(result.cv, result.best_c, recipe.folds))
            env.write_text(_class_table(feats.classes, result.per_class, result.confusion.sum(1)))
            env.write_text(f"held-out accuracy: {result.accuracy:.2%} (C {result.best_c:g}, "
                           f"{row['test']}); fit {result.fit_s:.3f}s ({result.solver}), "
                           f"cross-validation {result.cv_s:.2f}s\n")
    if env.options.json:
        kit.print_json(env, rows if several else rows[0])
    elif several:
        env.write_text(_comparison(rows))
    for row in rows:
        if "output" in row:
            env.log(f"wrote {row['output']}" + (f" and {row['confusion']}" if "confusion" in row else ""))


def fingerprint(feats) -> str:
    import hashlib

    h = hashlib.sha256(feats.features.tobytes())
    h.update(feats.labels.tobytes())
    return h.hexdigest()[:16]


def _same_space(train, other, name: str) -> None:
    from gantool.errors import GantoolError

    if other.features.shape[1] != train.features.shape[1]:
        raise GantoolError(f"{name} has {other.features.shape[1]} dimensions, {train.name} "
                           f"{train.features.shape[1]}", "extract both from the same layer")
    if other.classes and train.classes and other.classes != train.classes:
        raise GantoolError(f"{name} names other classes than {train.name}")


def _apply(env: Env, action: str, files: list[str], model: str, confusion: str | None, held_out: bool) -> None:
    import json

    import numpy as np

    from gantool.errors import GantoolError
    from gantool.files.writing import atomic_write, check_writable
    from gantool.plots import confusion_png
    from gantool.transfer import features as F, svm as S

    if confusion is not None:
        check_writable(confusion)
    loaded = S.load(model)
    dims, classes = S.expected_dims(loaded), loaded.classes
    sets = [F.read_features(f) for f in files]
    for feats in sets:
        if feats.features.shape[1] != dims:
            raise GantoolError(f"{feats.name} has {feats.features.shape[1]} dimensions, {model} takes {dims}",
                               f"extract them from the layer it was trained on ({loaded.data.get('layer') or '?'})")
        if held_out:
            if "split.test_index" not in loaded.arrays:
                raise GantoolError(f"{model} held no rows out (it was scored on --test)", "drop --held-out")
            if fingerprint(feats) != loaded.data.get("fingerprint"):
                raise GantoolError(f"{feats.name} is not the features file {model} was trained on",
                                   f"--held-out needs {loaded.data.get('features')}")
            index = loaded.arrays["split.test_index"]
            feats.features, feats.labels = feats.features[index], feats.labels[index]
            feats.paths = [feats.paths[i] for i in index]
        if action == "evaluate" and not feats.labelled:
            raise GantoolError(f"{feats.name} has unlabelled rows", "svm evaluate needs labels; use svm predict")
        if action == "evaluate" and feats.classes and feats.classes != classes:
            raise GantoolError(f"{feats.name} names other classes than {model}")
    if action == "predict":
        for feats in sets:
            pred = loaded.model.predict(feats.features)
            if env.options.json:
                env.write_text("".join(json.dumps({"path": p, "class": classes[int(k)], "index": int(k)}) + "\n"
                                       for p, k in zip(feats.paths, pred)))
            else:
                env.write_text("".join(f"{p}\t{classes[int(k)]}\n" for p, k in zip(feats.paths, pred)))
        return
    x = np.concatenate([f.features for f in sets])
    y = np.concatenate([f.labels for f in sets])
    result = S.score(loaded.model, x, y, len(classes))
    if confusion is not None:
        atomic_write(confusion, confusion_png(result["confusion"], classes, f"{model}: {result['accuracy']:.2%}"))
    if env.options.json:
        kit.print_json(env, {"model": model, "rows": int(len(y)), "accuracy": result["accuracy"],
                             "per_class": dict(zip(classes, result["per_class"]))})
        return
    env.write_text(_class_table(classes, result["per_class"], result["confusion"].sum(1)))
    env.write_text(f"accuracy: {result['accuracy']:.2%} ({len(y):,} rows)\n")


def _render(table) -> str:
    import io

    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=120, no_color=True, force_terminal=False).print(table)
    return buf.getvalue()


def _cv_table(cv: list[dict], best: float, folds: int) -> str:
    from rich.table import Table

    table = Table(title=f"{folds}-fold cross-validation", header_style="bold")
    table.add_column("C", justify="right")
    table.add_column("accuracy (mean ± std)", justify="right")
    table.add_column("")
    for r in cv:
        table.add_row(f"{r['C']:g}", f"{r['mean']:.2%} ± {r['std']:.2%}", "best" if r["C"] == best else "")
    return _render(table)


def _class_table(classes: list[str], per_class: list, counts) -> str:
    from rich.table import Table

    table = Table(header_style="bold")
    table.add_column("class")
    table.add_column("rows", justify="right")
    table.add_column("accuracy", justify="right")
    for name, acc, n in zip(classes, per_class, counts):
        table.add_row(name, f"{int(n):,}", "-" if acc is None else f"{acc:.2%}")
    return _render(table)


def _comparison(rows: list[dict]) -> str:
    from pathlib import Path

    from rich.table import Table

    table = Table(header_style="bold")
    for name, justify in (("features", "left"), ("layer", "left"), ("dims", "right"), ("PCA", "right"),
                          ("best C", "right"), ("CV accuracy", "right"), ("accuracy", "right"),
                          ("fit time", "right"), ("solver", "left")):
        table.add_column(name, justify=justify)
    for r in rows:
        best = next(c for c in r["cv"] if c["C"] == r["best_C"])
        table.add_row(Path(r["features"]).name, r["layer"] or "-", f"{r['dims']:,}", str(r["pca"] or "-"), f"{r['best_C']:g}",
                      f"{best['mean']:.2%} ± {best['std']:.2%}", f"{r['accuracy']:.2%}", f"{r['fit_seconds']:.3f}s",
                      r["solver"])
    return _render(table)


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("An SVM on a classifier's penultimate features: a table per C, the held-out accuracy, a confusion matrix.",
     "gantool svm train digits-features.npz --C 0.1,1,10 -o svm.safetensors"),
    ("Which layer is best: one comparison table, 64 principal components each.",
     "gantool svm train feat-*.npz --pca 64 -o models/"),
    ("The class of each new row, and the accuracy on the rows training held out.",
     "gantool svm predict new.npz -m svm.safetensors && "
     "gantool svm evaluate digits-features.npz -m svm.safetensors --held-out"),
]
