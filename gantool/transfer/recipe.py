"""What `svm train` fits, as settings: the values of C, PCA, scaling, kernel and solver, folds and
held-out share (gantool.settings), checked before any work. numpy- and scikit-learn-free, so that
--help and completion stay fast; gantool.transfer.svm does the fitting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gantool.errors import BadValue
from gantool.settings import check, setting

KIND = "svm"
SCALES = ("standard", "l2", "none")
KERNELS = ("linear", "rbf")
SOLVERS = ("auto", "liblinear", "libsvm")


TRAIN = "Training (svm train)"
C_MIN, C_MAX = 1e-6, 1e6  # past 1e6 liblinear spun for ever on digits (C 1e200); scaled features need far less
MAX_CS = 50
LIBLINEAR_MAX_ITER = 10_000  # liblinear's passes over the rows (scikit-learn's default is 1,000)
LIBSVM_MAX_ITER = 1_000_000  # libsvm's SMO steps (scikit-learn's default: no limit)


@dataclass
class Recipe:
    """How `svm train` fits: the settings (gantool.settings) and the seed (not a setting: the one
    global seed)."""

    C: str = setting("0.1,1,5,10", f"The values of C to cross-validate, comma-separated, each from {C_MIN:g} "
                     f"to {C_MAX:g}; the best refits on every training row.", TRAIN, names=("-C",))
    pca: Optional[int] = setting(None, "Project onto N principal components (fitted on the training rows) before "
                                 "the SVM.", TRAIN, ge=1, le=100_000, default_help="none")
    scale: str = setting("standard", "Per-dimension standardization, each row to unit length, or nothing.", TRAIN,
                         choices=SCALES)
    kernel: str = setting("linear", "A linear SVM, or an SVC with an RBF kernel (gamma scale).", TRAIN,
                          choices=KERNELS)
    solver: str = setting("auto", "The linear kernel's solver: liblinear (LinearSVC: one-vs-rest, squared hinge; "
                          "scales to many rows), libsvm (SVC with a linear kernel: one-vs-one, hinge; fast on wide "
                          "features), or auto: libsvm when the SVM's inputs (after PCA) have more dimensions than "
                          "there are training rows.", TRAIN, choices=SOLVERS)
    folds: int = setting(5, "Stratified cross-validation folds.", TRAIN, ge=2, le=100)
    holdout: float = setting(0.2, "The fraction of rows held out (stratified, by the seed) to score the final "
                             "model.", TRAIN, ge=0.01, le=0.9)
    seed: int = 0

    @property
    def cs(self) -> list[float]:
        return [float(c) for c in str(self.C).split(",")]

    def validate(self) -> None:
        """BadValue (naming the setting) for anything that cannot be fitted, before any work."""
        check(self)
        try:
            cs = self.cs
        except ValueError:
            raise BadValue("C", self.C, "not a comma-separated list of numbers") from None
        if not all(C_MIN <= c <= C_MAX for c in cs):  # NaN fails too
            raise BadValue("C", self.C, f"every C must be from {C_MIN:g} to {C_MAX:g}",
                           "features scaled to unit variance rarely need more than 100")
        if len(cs) > MAX_CS:
            raise BadValue("C", self.C, f"at most {MAX_CS} values")
        if self.kernel == "rbf" and self.solver == "liblinear":
            raise BadValue("solver", self.solver, "liblinear fits linear SVMs only; the rbf kernel is libsvm's")


def solver_for(recipe: Recipe, rows: int, dims: int) -> str:
    """The solver that fits: libsvm for rbf; for linear, the recipe's, or (auto) libsvm when the
    SVM's inputs are wider than the training rows (its n x n kernel is then the smaller problem)."""
    if recipe.kernel == "rbf":
        return "libsvm"
    if recipe.solver != "auto":
        return recipe.solver
    return "libsvm" if (recipe.pca or dims) > rows else "liblinear"
