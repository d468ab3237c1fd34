"""The options of the commands that inspect a classifier (saliency, adversarial, visualize-class,
classify, layers), written once (gantool.settings): the library checks them, the commands turn them
into options. Torch-free: --help reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gantool.errors import BadValue, UsageError, flag
from gantool.settings import check, setting

METHODS = ("gradient", "smoothgrad", "integrated-gradients", "grad-cam")
IG_BASELINES = ("black", "white", "gray", "blur")
FILLS = ("rise", "black", "blur")
METHOD, CHECKS = "Method", "Checks"


@dataclass
class SaliencySettings:
    method: str = setting("gradient", "gradient: max |d score / d pixel| over channels (Simonyan et al. 2014); "
                          "smoothgrad: the same, averaged over noisy copies; integrated-gradients: attributions "
                          "along a path from a baseline (signed, summed over channels); grad-cam: the class "
                          "activation map of a layer, upsampled to the image.", METHOD, choices=METHODS)
    target: Optional[str] = setting(None, "The class to explain, by index or name.", METHOD,
                                    default_help="each image's predicted class")
    layer: Optional[str] = setting(None, "grad-cam: the layer, by name (`gantool layers MODEL` lists them).", METHOD,
                                   names=("-l",), default_help="the last spatial layer before pooling")
    samples: int = setting(25, "smoothgrad: noisy copies per image.", METHOD, ge=1, le=1000)
    noise: float = setting(0.15, "smoothgrad: the noise's standard deviation as a fraction of the input range "
                           "(images are in [0, 1]).", METHOD, gt=0, le=1)
    ig_steps: int = setting(32, "integrated-gradients: steps of the path integral (Gauss-Legendre).", METHOD,
                            ge=2, le=4096)
    baseline: str = setting("black", "integrated-gradients: the baseline image: black, white, gray, or a blurred "
                            "copy of the image.", METHOD, choices=IG_BASELINES)
    deletion_steps: int = setting(16, "Deletion and insertion curves: how many steps from no pixel to every pixel.",
                                  CHECKS, ge=2, le=1024)
    fill: str = setting("rise", "What deleted pixels become and what insertion starts from: rise (deletion to "
                        "black, insertion from a blurred copy, as RISE), black, or blur (both).", CHECKS,
                        choices=FILLS)
    sanity: bool = setting(False, "Also run the model-randomization test (Adebayo et al. 2018): the maps again with "
                           "the layers re-initialized from the top, and each map's rank correlation with its "
                           "randomized counterpart; a warning when they stay alike.", CHECKS, flag="--sanity")
    colormap: Optional[str] = setting(None, "A matplotlib colormap for the heatmaps.", "Pictures",
                                      default_help="inferno; RdBu_r for the signed maps of integrated-gradients")

    def validate(self) -> None:
        check(self)
        if self.layer is not None and self.method != "grad-cam":
            raise UsageError(f"{flag('layer')} is for {flag('method')} grad-cam, not {self.method}")
        if self.colormap is not None:
            import matplotlib

            if self.colormap not in matplotlib.colormaps:
                raise BadValue("colormap", self.colormap, "is not a matplotlib colormap",
                               "e.g. inferno, viridis, jet, RdBu_r")


# ---- adversarial examples (gantool adversarial) ------------------------------------------------------

ATTACKS = ("gradient-ascent", "fgsm", "pgd", "growing-spheres")
NORMS = ("linf", "l2")
TARGET_RULES = ("runner-up", "next", "least-likely")  # --target values that pick a class per image
ATTACK, BUDGET, SPHERES = "Attack", "Budget", "Growing spheres"
MAX_SHELLS, MAX_SHELL_SAMPLES = 10000, 100000


@dataclass
class AttackSettings:
    method: str = setting("pgd", "gradient-ascent: step along the L2-normalized gradient of the target's logit until "
                          "the model predicts it (targeted, unbounded; stops per image); fgsm: one signed-gradient "
                          "step of --eps (Goodfellow et al. 2015, captum's FGSM); pgd: --steps signed steps, each "
                          "projected back into the --norm ball of radius --eps (Madry et al. 2018, captum's PGD); "
                          "growing-spheres: random 8-bit samples in spherical shells of growing L2 radius around "
                          "the image until one is read as the target, the closest kept, then its pixels reset to the "
                          "original's, smallest change first, while the class holds (Laugel et al. 2018; no "
                          "gradient).", ATTACK, choices=ATTACKS)
    target: Optional[str] = setting(None, "The class to reach: a name or an index, or per image `runner-up` (its second most "
                                    "probable class), `next` (the predicted class + 1, modulo the classes) or "
                                    "`least-likely` (its least probable class).",
                                    ATTACK, default_help="none: untargeted, any other class than the predicted one; "
                                                         "gradient-ascent needs one")
    eps: float = setting(8 / 255, "fgsm, pgd: the perturbation's radius in [0, 1] units (Linf: at most 1; 8/255 is "
                         "0.0314).", BUDGET, gt=0, default_help="0.0314 (8/255)")
    norm: str = setting("linf", "pgd: the ball --eps bounds, linf or l2 (captum's L2 PGD takes signed steps, "
                        "projected onto the L2 ball).", BUDGET, choices=NORMS)
    steps: Optional[int] = setting(None, "pgd: the steps (all run); gradient-ascent: the most steps per image.", BUDGET,
                                   ge=1, le=100000, default_help="pgd 40, gradient-ascent 1000")
    step_size: Optional[float] = setting(None, "pgd: each signed step's size per pixel; gradient-ascent: each step's L2 "
                                         "length, in [0, 1] units.", BUDGET, gt=0,
                                         default_help="pgd 2.5 x eps / steps (L2: divided by the square root of "
                                                      "the pixels), gradient-ascent 0.02")
    random_start: bool = setting(True, "pgd: start from a random point of the ball (seeded by --seed).", BUDGET)
    lattice: bool = setting(False, "Keep every iterate on the 1/255 lattice of 8-bit images, so the saved PNG fools "
                            "the model as the iterate did (fgsm, pgd: --eps rounded down and --step-size rounded to "
                            "whole 1/255 steps; gradient-ascent: the model sees the rounded image, the step goes "
                            "to the unrounded one).", BUDGET)
    shells: int = setting(100, "growing-spheres: the most shells sampled per image, the halvings of the first "
                          "ball included; an image with no counterfactual within them is reported as a failure.",
                          SPHERES, ge=1, le=MAX_SHELLS)
    samples: int = setting(256, "growing-spheres: random samples per shell and image.", SPHERES, ge=1,
                           le=MAX_SHELL_SAMPLES)
    shell_width: Optional[float] = setting(None, "growing-spheres: the L2 radius of the first ball, in [0, 1] units: "
                                           "halved while the ball already holds the target class, then the width "
                                           "of every shell.", SPHERES, gt=0, le=1000,
                                           default_help="0.05 x the square root of the pixel count (0.4 for 8x8 "
                                                        "digits)")

    def validate(self) -> None:
        check(self)
        if self.norm == "linf" and self.eps > 1:
            raise BadValue("eps", self.eps, "must be at most 1 under {norm} linf (images are in [0, 1])")

    def resolved_steps(self) -> int:
        if self.method == "fgsm":
            return 1
        return self.steps or (40 if self.method == "pgd" else 1000)


# ---- class visualization (gantool visualize-class) ----------------------------------------------------

INITS = ("noise", "gray")
ASCENT, REGULARIZE = "Ascent", "Regularization"


@dataclass
class VisualizeSettings:
    target: Optional[str] = setting(None, "The class (or classes) to draw: names or indices separated by commas, or "
                                    "`all`.", ASCENT, default_help="required")
    steps: int = setting(200, "Gradient-ascent steps.", ASCENT, ge=1, le=100000)
    lr: float = setting(0.02, "Each step's size: the per-pixel RMS change, in [0, 1] units (the gradient is "
                        "normalized by its norm, as in CS231n).", ASCENT, gt=0, le=1)
    l2: float = setting(0.01, "L2 regularization: the objective is the target's logit - l2 x ||x - 0.5||^2.",
                        REGULARIZE, ge=0)
    jitter: Optional[int] = setting(None, "Shift the image by up to this many pixels (a random roll) before each "
                                    "step, and back after.", REGULARIZE, ge=0, default_help="1/14 of the side, at least 1")
    blur_every: int = setting(10, "Blur the image every this many steps (0: never).", REGULARIZE, ge=0)
    blur_sigma: float = setting(0.5, "The blur's Gaussian standard deviation, in pixels.", REGULARIZE, gt=0, le=20)
    start: str = setting("noise", "What the ascent starts from without --init-image: noise (gray, standard deviation "
                         "0.1, seeded by --seed) or gray.", ASCENT, choices=INITS)
    frames: int = setting(8, "Snapshots in the progress strip, from the start to the end.", "Pictures", ge=2, le=64)

    def validate(self) -> None:
        check(self)
        if self.target is None:
            raise UsageError("no class given", f"use {flag('target')} CLASS (a name or an index, several with commas, "
                                               "or all)")


# ---- classify and layers -------------------------------------------------------------------------------

MAX_TOP = 1000


@dataclass
class ClassifySettings:
    top: int = setting(5, "How many classes to show per image, most probable first.", names=("-k",), ge=1,
                       le=MAX_TOP)

    def validate(self) -> None:
        check(self)


@dataclass
class LayersSettings:
    leaves: bool = setting(False, "Only the layers that hold no other layers (convolutions, activations, ...), not "
                           "the blocks around them.", flag="--leaves")

    def validate(self) -> None:
        check(self)
