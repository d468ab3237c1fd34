"""`gantool svm train|predict|evaluate`: SVMs on features from extract-features."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.transfer.recipe import TRAIN, Recipe


@kit.command(settings={"recipe": Recipe}, no_args_is_help=True)
def svm(
    env: Env,
    action: Annotated[Literal["train", "predict", "evaluate"], typer.Argument(
        metavar="ACTION", show_default=False,
        help="train: fit on FEATURES (several: one comparison table); predict: the class of each row; evaluate: "
             "accuracy on labelled FEATURES.")],
    features: Annotated[list[str], typer.Argument(
        metavar="FEATURES...", show_default=False,
        help="Features .npz files from `gantool extract-features` (- for stdin).")],
    recipe: dict,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE", help="train: the model .safetensors.")] = None,
    out_dir: Annotated[Optional[str], typer.Option(
        "--out-dir", show_default=False, metavar="DIR",
        help="train with several FEATURES: a model each, STEM.safetensors and STEM-confusion.png, into DIR.")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", show_default=False, metavar="FILE",
        help="predict, evaluate: a model from `svm train`.")] = None,
    test: Annotated[Optional[str], typer.Option(
        "--test", show_default=False, metavar="FILE", rich_help_panel=TRAIN,
        help="Score on this labelled features file instead of held-out rows (every training row is then used).")]
        = None,
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
    time. Every fit answers Ctrl-C and SIGTERM at once.
    """
    from gantool.errors import UsageError

    if action == "train":
        given = [flag for flag, on in (("-m", model is not None), ("--held-out", held_out)) if on]
        if given:
            raise UsageError(f"{given[0]} applies to svm predict and evaluate, not train")
        settings = Recipe(**recipe, seed=env.options.seed)
        settings.validate()
        return _train(env, features, output, out_dir, confusion, settings, test)
    given = ["--" + name.replace("_", "-") for name in recipe] + [
        flag for flag, value in (("-o", output), ("--out-dir", out_dir), ("--test", test)) if value is not None]
    if given:
        raise UsageError(f"{given[0]} applies to svm train, not {action}", "the model file holds the recipe")
    if model is None:
        raise UsageError(f"svm {action} needs a model", "give -m FILE from `gantool svm train`")
    if action == "predict" and confusion is not None:
        raise UsageError("--confusion applies to svm train and evaluate", "predict has no labels to compare")
    _apply(env, action, features, model, confusion, held_out)


def _read(env: Env, sources: list[str]) -> list:
    """The features files (claimed as inputs), `-` being stdin, read once."""
    from gantool.errors import UsageError
    from gantool.files.reading import read_input
    from gantool.transfer.features import read_features

    if sources.count("-") > 1:
        raise UsageError("stdin can be read once: give - at most once")
    data = read_input(env, "-", "a features .npz") if "-" in sources else None
    return [read_features(source, data) for source in sources]


def _plan(files: list[str], output: str | None, out_dir: str | None, confusion: str | None) -> tuple:
    """(where the models go: -o's file or --out-dir's folder, [(model, confusion PNG) per features
    file]), every path checked and claimed before any work."""
    from pathlib import Path

    from gantool.errors import UsageError
    from gantool.files.claims import claim_output
    from gantool.files.writing import check_folder_writable, check_writable

    several = len(files) > 1
    if several and (confusion is not None or output is not None):
        raise UsageError(f"{'--confusion' if confusion else '-o'} names one file; several FEATURES give a model each",
                         "use --out-dir DIR")
    if out_dir is not None and not several:
        raise UsageError("--out-dir takes the models of several FEATURES", "use -o FILE for one")
    if output is None and not several:
        raise UsageError("svm train needs -o FILE for the model")
    if output == "-":
        raise UsageError("the model cannot go to stdout (safetensors needs a file)", "use -o FILE")
    if not several:
        png = confusion or str(Path(output).with_name(f"{Path(output).stem}-confusion.png"))
        check_writable(output, "-o", "safetensors")
        check_writable(png, "--confusion" if confusion else "-o", "png")
        return output, [(output, png)]
    stems = ["stdin" if f == "-" else Path(f).stem for f in files]
    if len(set(stems)) != len(stems):
        raise UsageError("several FEATURES share a file name", "each model is named after its features file")
    plans = [(f"{s}.safetensors", f"{s}-confusion.png") if out_dir else (None, None) for s in stems]
    if out_dir:  # (model, confusion) per file in the folder, made when the first is written
        check_folder_writable(out_dir)
        for name in (n for plan in plans for n in plan):
            claim_output(Path(out_dir) / name, "--out-dir")
    return out_dir, plans


def _train(env: Env, files: list[str], output: str | None, out_dir: str | None, confusion: str | None,
           recipe: Recipe, test: str | None) -> None:
    from pathlib import Path

    from gantool.files.writing import atomic_write, write_in
    from gantool.transfer import svm_jobs as J

    several = len(files) > 1
    output, plans = _plan(files, output, out_dir, confusion)
    sets = _read(env, files + ([test] if test else []))
    test_set = sets.pop() if test else None
    J.check_training(sets, test_set)

    def put(path: str, data: bytes) -> None:
        write_in(output, path, data) if several else atomic_write(path, data)

    rows = []
    for feats, (model_path, png) in zip(sets, plans):
        if several:
            env.log(f"{feats.name}: {feats.features.shape[0]:,} x {feats.features.shape[1]:,}")
        result, row = J.train_one(feats, recipe, test_set)
        if result.unconverged:
            env.warn(f"{feats.name}: {result.solver} did not converge in {kit.plural(result.unconverged, 'fit')}; "
                     "try --scale standard, a smaller C or --solver libsvm")
        if model_path is not None:
            put(model_path, J.model_bytes(result, feats, recipe, row))
            put(png, J.confusion_bytes(result, feats))
            row["output"], row["confusion"] = (str(Path(output) / model_path), str(Path(output) / png)) if several \
                else (model_path, png)
        rows.append(row)
        if not several and not env.options.json:
            env.write_text(J.train_report(result, feats, row, recipe.folds))
    if env.options.json:
        for row in rows:
            kit.print_json(env, row)
    elif several:
        env.write_text(J.comparison(rows))
    for row in (r for r in rows if "output" in r):
        env.log(f"wrote {row['output']} and {row['confusion']}")


def _apply(env: Env, action: str, files: list[str], model: str, confusion: str | None, held_out: bool) -> None:
    from gantool.files.writing import atomic_write, check_writable
    from gantool.plots import confusion_png
    from gantool.transfer import svm as S, svm_jobs as J

    if confusion is not None:
        check_writable(confusion, "--confusion", "png")
    loaded = S.load(model)
    sets = J.select(loaded, model, _read(env, files), held_out, labels=action == "evaluate")
    if action == "predict":
        rows = J.predictions(loaded, sets)
        if env.options.json:
            for row in rows:
                kit.print_json(env, row)
        else:
            env.write_text("".join(f"{r['path']}\t{r['class']}\n" for r in rows))
        return
    result, classes = J.evaluate(loaded, sets), loaded.classes
    if confusion is not None:
        atomic_write(confusion, confusion_png(result["confusion"], classes, f"{model}: {result['accuracy']:.2%}"))
    if env.options.json:
        kit.print_json(env, {"model": model, "rows": result["rows"], "accuracy": result["accuracy"],
                             "per_class": dict(zip(classes, result["per_class"]))})
        return
    env.write_text(J.class_table(classes, result["per_class"], result["confusion"].sum(1))
                   + f"accuracy: {result['accuracy']:.2%} ({result['rows']:,} rows)\n")


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("An SVM on a classifier's penultimate features: a table per C, the held-out accuracy, a confusion matrix.",
     "gantool svm train digits-features.npz --C 0.1,1,10 -o svm.safetensors"),
    ("Which layer is best: one comparison table, 64 principal components each.",
     "gantool svm train feat-*.npz --pca 64 --out-dir models/"),
    ("The class of each new row, and the accuracy on the rows training held out.",
     "gantool svm predict new.npz -m svm.safetensors && "
     "gantool svm evaluate digits-features.npz -m svm.safetensors --held-out"),
    ("Features straight from extract-features, through a pipe.",
     "gantool extract-features --data digits -m digits.safetensors | gantool svm train - -o svm.safetensors"),
]
