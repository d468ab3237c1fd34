"""Adversarial attacks on the default digits classifier's 360 held-out images.

For each attack at Linf eps 0.1, 0.2 and 0.3 (and gradient-ascent, which has no eps): the success
rate of the attack's iterates and of the same images rounded to 8 bits (what a PNG keeps), the
median L2 and Linf of the 8-bit perturbation in [0, 1] units, and seconds per image (one batch of
all 360, gantool's defaults otherwise: pgd 40 steps of 2.5 x eps / 40 from a random start).

Targets: untargeted (any other class), and targeted towards each image's runner-up (its second
most probable class), `next` (label + 1) and its least likely class.

The classifier: `gantool train-classifier` with its defaults and --seed 0 (trained here, about 5 s).

    python bench/adversarial_quality.py [--threads 1]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gantool.classify.classifiers import load_classifier  # noqa: E402
from gantool.classify.training import split  # noqa: E402
from gantool.cli import main  # noqa: E402
from gantool.context import Env  # noqa: E402
from gantool.explain.attacks import attack  # noqa: E402
from gantool.explain.settings import AttackSettings  # noqa: E402


def gantool(*args) -> None:
    err = io.StringIO()
    env = Env(stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=err, stdin_isatty=False, stdout_isatty=False,
              stderr_isatty=False)
    if main([str(a) for a in args], env) != 0:
        raise SystemExit(f"gantool {' '.join(map(str, args))} failed: {err.getvalue()}")


def held_out() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    _, held = split(torch.tensor(d.target), 0.2, 0)
    held = np.sort(held)
    images = np.round(d.images[held] * 255 / 16).astype(np.uint8)
    return torch.from_numpy(images)[:, None], torch.from_numpy(d.target[held])


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="adversarial-bench-"))
    model = work / "digits.safetensors"
    gantool("--seed", "0", "--threads", args.threads, "-q", "train-classifier", "-o", model)
    clf = load_classifier(str(model))
    images8, labels = held_out()
    x = images8.float().div(255)
    with torch.no_grad():
        accuracy = float((clf(x).argmax(1) == labels).float().mean())
    print(f"digits classifier (train-classifier --seed 0): held-out accuracy {accuracy:.2%} on {len(x)} images, "
          f"{args.threads} thread(s)\n")
    runs = []
    for eps in (0.1, 0.2, 0.3):
        runs += [("fgsm", None, eps, {}), ("pgd", None, eps, {}), ("pgd", "runner-up", eps, {}),
                 ("pgd", "next", eps, {}), ("pgd", "least-likely", eps, {})]
    runs += [("gradient-ascent", "runner-up", None, {}), ("gradient-ascent", "next", None, {}),
             ("gradient-ascent", "next", None, {"lattice": True})]
    print("| attack | target | Linf eps | success | after 8-bit rounding | median L2 | median Linf (/255) "
          "| s per image |\n|---|---|---|---|---|---|---|---|")
    for method, target, eps, extra in runs:
        kw = dict(method=method, target=target, **extra)
        if eps is not None:
            kw["eps"] = eps
        s = AttackSettings(**kw)
        t0 = time.perf_counter()
        r = attack(clf, x, s, target, seed=0)
        seconds = (time.perf_counter() - t0) / len(x)
        name = method + (" --lattice" if s.lattice else "")
        print(f"| {name} | {target or 'untargeted'} | {eps if eps is not None else '-'} | "
              f"{float(r.success.float().mean()):.1%} | {float(r.saved_success.float().mean()):.1%} | "
              f"{float(r.l2.median()):.3f} | {float(r.linf.median()):.3f} ({round(float(r.linf.median()) * 255)}) | "
              f"{seconds * 1000:.1f} ms |")


if __name__ == "__main__":
    main_()
