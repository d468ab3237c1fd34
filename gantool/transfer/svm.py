"""SVMs on features (scikit-learn does the fitting), stored without pickle.

A model is a scikit-learn Pipeline: an optional scaler (`standard`: StandardScaler, `l2`:
Normalizer), an optional PCA, and the SVM: for the `linear` kernel a LinearSVC (liblinear: one-vs-rest,
squared hinge, in the features' space, which scales to many rows) or an SVC with a linear kernel
(libsvm: one-vs-one, hinge, in the rows' space); `auto` takes libsvm when the SVM's inputs (after
PCA) have more dimensions than there are training rows: liblinear's coordinate descent needed 45-110
s per fit on a GAN discriminator's 3,136 dimensions for 1,437 digits where libsvm took 0.5 s. The
`rbf` kernel is an SVC. `train` picks C by stratified k-fold cross-validation on the training rows,
refits on all of them and scores the held-out rows (a stratified split, or a separate test file).
C is bounded (C_MIN..C_MAX) and so are both solvers' iterations; the fits run in a forked child
(gantool.transfer.isolate), so Ctrl-C and SIGTERM stop them at once.

The file is a gantool `.safetensors` (kind `svm`): each fitted step's array attributes are tensors
named `STEP.ATTRIBUTE` in their own dtype, its scalars and constructor parameters JSON in the
header. `load` rebuilds the same scikit-learn objects (only these five classes, by name) with
the same attributes, so predictions are bit-identical to those of the fitted pipeline.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass

import numpy as np

from gantool.errors import BadValue, GantoolError
from gantool.transfer.recipe import KIND, LIBLINEAR_MAX_ITER, LIBSVM_MAX_ITER, Recipe, solver_for


def _classes():
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import Normalizer, StandardScaler
    from sklearn.svm import SVC, LinearSVC

    return {c.__name__: c for c in (StandardScaler, Normalizer, PCA, LinearSVC, SVC)}


def pipeline(recipe: Recipe, c: float, solver: str):
    from sklearn.pipeline import Pipeline

    k = _classes()
    steps = []
    if recipe.scale == "standard":
        steps.append(("scale", k["StandardScaler"]()))
    elif recipe.scale == "l2":
        steps.append(("scale", k["Normalizer"]()))
    if recipe.pca:
        steps.append(("pca", k["PCA"](n_components=recipe.pca, random_state=recipe.seed)))
    if recipe.kernel == "rbf":
        steps.append(("svm", k["SVC"](C=c, kernel="rbf", gamma="scale", max_iter=LIBSVM_MAX_ITER,
                                      random_state=recipe.seed)))
    elif solver == "libsvm":
        steps.append(("svm", k["SVC"](C=c, kernel="linear", max_iter=LIBSVM_MAX_ITER, random_state=recipe.seed)))
    else:
        steps.append(("svm", k["LinearSVC"](C=c, max_iter=LIBLINEAR_MAX_ITER, random_state=recipe.seed)))
    return Pipeline(steps)


@dataclass
class Result:
    model: object  # the fitted Pipeline
    cv: list[dict]  # {"C", "mean", "std"} per C
    best_c: float
    fit_s: float  # the final fit on every training row
    cv_s: float
    accuracy: float  # held-out
    per_class: list[float | None]  # held-out accuracy per class (None: no held-out row of it)
    confusion: np.ndarray  # (K, K) held-out counts, rows true, columns predicted
    predictions: np.ndarray
    test_index: np.ndarray | None  # rows of the training file held out (None: a test file)
    dims: int
    solver: str  # solver_for's choice
    unconverged: int = 0


def _fit_quiet(model, x, y) -> int:
    """Fit, counting convergence warnings instead of printing one per fit."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x, y)
    return sum(issubclass(w.category, ConvergenceWarning) for w in caught)


def check_sizes(recipe: Recipe, x: np.ndarray, y: np.ndarray, classes: int, test_rows: int | None) -> None:
    """Refuse what scikit-learn would fail on halfway: too few rows per class, PCA wider than the data."""
    counts = np.bincount(y, minlength=classes)
    present = counts[counts > 0]
    if len(present) < 2:
        raise GantoolError("the features hold one class only", "an SVM needs two classes at least")
    need = recipe.folds + (0 if test_rows is not None else 1)
    if present.min() < need:
        raise BadValue("folds", recipe.folds, f"the smallest class has {present.min()} rows",
                       f"it needs {need} (folds{'' if test_rows is not None else ' + a held-out row'}); "
                       "use fewer folds or add rows")
    train_rows = len(x) if test_rows is not None else int(len(x) * (1 - recipe.holdout))
    fold_rows = train_rows - -(-train_rows // recipe.folds)
    if recipe.pca is not None and recipe.pca > min(fold_rows, x.shape[1]):
        raise BadValue("pca", recipe.pca, f"PCA keeps at most min(rows in a fold {fold_rows}, dimensions "
                                          f"{x.shape[1]}) components")


def _cross_validate_and_fit(recipe: Recipe, solver: str, x_train, y_train, x_test) -> tuple[dict, dict]:
    """The fits (in a child process, gantool.transfer.isolate): each C cross-validated, the best
    refitted on every training row, its predictions on `x_test`; the model as arrays and JSON."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(recipe.folds, shuffle=True, random_state=recipe.seed)
    cv, unconverged, t0 = [], 0, time.perf_counter()
    for c in recipe.cs:
        scores = []
        for a, b in folds.split(x_train, y_train):
            model = pipeline(recipe, c, solver)
            unconverged += _fit_quiet(model, x_train[a], y_train[a])
            scores.append(float((model.predict(x_train[b]) == y_train[b]).mean()))
        cv.append({"C": c, "mean": float(np.mean(scores)), "std": float(np.std(scores))})
    cv_s = time.perf_counter() - t0
    best = max(cv, key=lambda r: (round(r["mean"], 12), -r["C"]))["C"]
    model = pipeline(recipe, best, solver)
    t0 = time.perf_counter()
    unconverged += _fit_quiet(model, x_train, y_train)
    fit_s = time.perf_counter() - t0
    tensors, steps = pack(model)
    tensors["result.predictions"] = model.predict(x_test)
    return tensors, {"cv": cv, "best": best, "cv_s": cv_s, "fit_s": fit_s, "unconverged": unconverged,
                     "steps": steps}


def train(x: np.ndarray, y: np.ndarray, classes: int, recipe: Recipe, test: tuple | None = None) -> Result:
    """Cross-validate each C on the training rows, refit the best on all of them, score the held-out
    rows. The fits run where Ctrl-C and SIGTERM stop them at once (gantool.transfer.isolate)."""
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import train_test_split

    from gantool.transfer import isolate

    recipe.validate()
    check_sizes(recipe, x, y, classes, None if test is None else len(test[0]))
    if test is None:
        index = np.arange(len(x))
        train_i, test_i = train_test_split(index, test_size=recipe.holdout, stratify=y, random_state=recipe.seed)
        test_i = np.sort(test_i)
        train_i = np.sort(train_i)
        x_train, y_train, x_test, y_test = x[train_i], y[train_i], x[test_i], y[test_i]
    else:
        test_i = None
        x_train, y_train, (x_test, y_test) = x, y, test
    solver = solver_for(recipe, len(x_train), x.shape[1])
    tensors, meta = isolate.call(_cross_validate_and_fit, recipe, solver, x_train, y_train, x_test)
    pred = tensors.pop("result.predictions")
    model = unpack(meta["steps"], tensors, "the fitted model")
    confusion = confusion_matrix(y_test, pred, labels=np.arange(classes))
    totals = confusion.sum(1)
    per_class = [float(confusion[k, k] / totals[k]) if totals[k] else None for k in range(classes)]
    return Result(model, meta["cv"], meta["best"], meta["fit_s"], meta["cv_s"], float((pred == y_test).mean()),
                  per_class, confusion, pred, test_i, int(x.shape[1]), solver, meta["unconverged"])


def score(model, x: np.ndarray, y: np.ndarray, classes: int) -> dict:
    from sklearn.metrics import confusion_matrix

    pred = model.predict(x)
    confusion = confusion_matrix(y, pred, labels=np.arange(classes))
    totals = confusion.sum(1)
    return {"accuracy": float((pred == y).mean()), "predictions": pred, "confusion": confusion,
            "per_class": [float(confusion[k, k] / totals[k]) if totals[k] else None for k in range(classes)]}


# ---- the file ------------------------------------------------------------------------------------------

def _encode(value):
    if isinstance(value, np.generic):
        return {"dtype": value.dtype.str, "value": value.item()}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    raise TypeError(f"cannot store a {type(value).__name__}")


def _decode(spec):
    if "tuple" in spec:
        return tuple(_decode(v) for v in spec["tuple"])
    if "dtype" in spec:
        return np.dtype(spec["dtype"]).type(spec["value"])
    return spec["value"]


def pack(model) -> tuple[dict, list]:
    """A fitted pipeline as (tensors named STEP.ATTRIBUTE, the steps as JSON: class, parameters and
    scalar state)."""
    tensors, steps = {}, []
    for name, est in model.steps:
        params = est.get_params()
        state = {}
        for key, value in vars(est).items():
            if key in params:
                continue
            if isinstance(value, np.ndarray):
                # the memory layout is kept too: a matmul on a Fortran-ordered copy rounds differently
                fortran = value.ndim > 1 and value.flags.f_contiguous and not value.flags.c_contiguous
                tensors[f"{name}.{key}"] = np.ascontiguousarray(value.T if fortran else value)
                if fortran:
                    state[key] = {"transposed": True}
            else:
                state[key] = _encode(value)
        steps.append({"name": name, "class": type(est).__name__, "params": params, "state": state})
    return tensors, steps


def unpack(steps: list, tensors: dict, name: str):
    """`pack`'s output back to the same scikit-learn Pipeline (only the known classes, by name)."""
    from sklearn.pipeline import Pipeline

    known = _classes()
    out = []
    try:
        for step in steps:
            cls = known.get(step["class"])
            if cls is None:
                raise GantoolError(f"{name}: unknown step {step['class']}", f"gantool stores {', '.join(known)}")
            est = cls(**step["params"])
            prefix = step["name"] + "."
            for key, value in tensors.items():
                if key.startswith(prefix):
                    key = key[len(prefix):]
                    setattr(est, key, value.T if step["state"].get(key) == {"transposed": True} else value)
            for key, spec in step["state"].items():
                if spec != {"transposed": True}:
                    setattr(est, key, _decode(spec))
            out.append((step["name"], est))
    except (KeyError, TypeError, ValueError) as e:
        raise GantoolError(f"{name} has corrupt svm metadata ({type(e).__name__}: {e})") from None
    return Pipeline(out)


def to_bytes(model, config: dict, data: dict, training: dict, extra_arrays: dict | None = None) -> bytes:
    """The fitted pipeline as a safetensors file's bytes: arrays as tensors, everything else JSON in
    the header."""
    from safetensors.numpy import save as save_bytes

    from gantool import __version__

    tensors, steps = pack(model)
    for key, value in (extra_arrays or {}).items():
        tensors[key] = np.ascontiguousarray(value)
    meta = {"gantool.kind": KIND, "gantool.config": json.dumps({**config, "steps": steps}, sort_keys=True),
            "gantool.data": json.dumps(data, sort_keys=True), "gantool.training": json.dumps(training, sort_keys=True),
            "gantool.version": __version__}
    return save_bytes(tensors, metadata=meta)


def save(path, model, config: dict, data: dict, training: dict, extra_arrays: dict | None = None) -> None:
    """`to_bytes` written atomically to `path`."""
    from gantool.files.writing import atomic_write

    atomic_write(path, to_bytes(model, config, data, training, extra_arrays))


@dataclass
class Loaded:
    model: object
    config: dict
    data: dict
    training: dict
    arrays: dict  # tensors that are not a step's (split.test_index)

    @property
    def classes(self) -> list[str]:
        return list(self.data.get("classes", []))


# what `gantool info` shows of a step: its class and the parameters that set it apart
_SHOWN = {"PCA": ("n_components",), "LinearSVC": ("C",), "SVC": ("C", "kernel", "gamma")}


def describe_header(header) -> tuple[str, dict]:
    """For `gantool info`, from the header alone: one line (the steps, inputs and classes), and the
    config as its table shows it (each step as `name: Class`; the fitted state stays in --json)."""
    try:
        steps = header.config["steps"]
        parts = []
        for step in steps:
            params = step.get("params", {})
            keys = [k for k in _SHOWN.get(step["class"], ()) if k in params
                    and not (k == "gamma" and params.get("kernel") == "linear")]
            shown = ", ".join(f"{k} {params[k]:g}" if isinstance(params[k], float) else f"{k} {params[k]}"
                              for k in keys)
            parts.append(f"{step['class']}" + (f" ({shown})" if shown else ""))
        dims = steps[0]["state"]["n_features_in_"]["value"]
        config = {**{k: v for k, v in header.config.items() if k != "steps"},
                  "steps": [f"{step['name']}: {step['class']}" for step in steps]}
    except (KeyError, TypeError, IndexError) as e:
        raise GantoolError(f"{header.path} has corrupt svm metadata ({type(e).__name__}: {e})") from None
    classes = header.data.get("classes", [])
    return f"scikit-learn pipeline {' -> '.join(parts)}, {dims} features in, {len(classes)} classes", config


def load(path: str) -> Loaded:
    """A model file back to the same scikit-learn Pipeline (see the module docstring)."""
    from safetensors.numpy import load_file

    from gantool.files import modelfile

    header = modelfile.read_header(path)
    modelfile.expect_kind(header, KIND)
    try:
        tensors = load_file(str(path))
    except Exception as e:
        raise GantoolError(f"cannot load tensors from {path}: {e}") from None
    try:
        steps = header.config["steps"]
        names = {s["name"] + "." for s in steps}
    except (KeyError, TypeError) as e:
        raise GantoolError(f"{path} has corrupt svm metadata ({type(e).__name__}: {e})") from None
    model = unpack(steps, tensors, str(path))
    arrays = {k: v for k, v in tensors.items() if not any(k.startswith(n) for n in names)}
    return Loaded(model, header.config, header.data, header.training, arrays)


def expected_dims(loaded: Loaded) -> int:
    return int(loaded.model.steps[0][1].n_features_in_)
