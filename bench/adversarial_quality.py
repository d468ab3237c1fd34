"""Adversarial attacks on the default digits classifier's 360 held-out images.

For each attack at Linf eps 0.1, 0.2 and 0.3 (and gradient-ascent and growing-spheres, which have no
eps): the success rate of the attack's iterates and of the same images rounded to 8 bits (what a PNG
keeps), the median L0 (pixels changed in the 8-bit image, of 64), L2 and Linf of the 8-bit
perturbation in [0, 1] units, and seconds per image (one batch of all 360, gantool's defaults
otherwise: pgd 40 steps of 2.5 x eps / 40 from a random start; growing-spheres 256 samples a shell,
at most 100 shells, a first ball of L2 radius 0.4). Medians are over all 360 images (an image an
attack left as it was counts 0). Growing spheres also reports the median L0 of the sample it found
before its sparsity step, over the images it found one for.

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
    runs += [("growing-spheres", None, None, {}), ("growing-spheres", "runner-up", None, {}),
             ("growing-spheres", "next", None, {})]
    print("| attack | target | Linf eps | success | after 8-bit rounding | median L0 | median L2 | median Linf (/255) "
          "| s per image |\n|---|---|---|---|---|---|---|---|---|")
    notes = []
    for method, target, eps, extra in runs:
        kw = dict(method=method, target=target, **extra)
        if eps is not None:
            kw["eps"] = eps
        s = AttackSettings(**kw)
        t0 = time.perf_counter()
        r = attack(clf, x, s, target, seed=0)
        seconds = (time.perf_counter() - t0) / len(x)
        name = method + (" --lattice" if s.lattice else "")
        l0, l2, linf = (float(v.float().median()) for v in (r.l0, r.l2, r.linf))
        print(f"| {name} | {target or 'untargeted'} | {eps if eps is not None else '-'} | "
              f"{float(r.success.float().mean()):.1%} | {float(r.saved_success.float().mean()):.1%} | "
              f"{l0:.0f} | {l2:.3f} | {linf:.3f} ({round(linf * 255)}) | {seconds * 1000:.1f} ms |")
        if r.l0_before_sparsity is not None:
            ok = ~r.shell_radius.isnan()
            before = float(r.l0_before_sparsity[ok].float().median())
            notes.append(f"growing-spheres {target or 'untargeted'}: median L0 {before:.0f} before the sparsity step, "
                         f"{float(r.l0[ok].float().median()):.0f} after; median shells {float(r.steps.float().median()):.0f}, "
                         f"median shell radius {float(r.shell_radius[ok].nanmedian()):.2f}")
    print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main_()
