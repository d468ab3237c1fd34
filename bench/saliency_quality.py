"""Saliency quality and speed on the default digits classifier's held-out images.

1. For each method: the mean deletion and insertion AUC (RISE protocol, gantool's defaults: 16
   steps, deletion to black, insertion from a blurred copy) of the maps against a seeded random
   order of the pixels, the held-out accuracy after deleting the 10% most salient pixels against
   a random 10%, and the rank correlation with the maps of the fully re-initialized model
   (Adebayo et al.'s cascading test, last stage).
2. `gantool saliency` over a folder of 256 images (one call, chunked batches) against a loop
   of one call per image (in the same process: the loop pays the model loading per call, not
   Python's start-up), in images per second, and the ratio.

The classifier: `gantool train-classifier` with its defaults and --seed 0 (trained here, about
5 s), whose held-out split is the seeded 20% that training kept aside.

    python bench/saliency_quality.py [--threads 1] [--loop 64]
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
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gantool.classify.classifiers import load_classifier  # noqa: E402
from gantool.classify.training import split  # noqa: E402
from gantool.cli import main  # noqa: E402
from gantool.context import Env  # noqa: E402
from gantool.explain import checks  # noqa: E402
from gantool.explain.saliency import attribute  # noqa: E402
from gantool.explain.settings import METHODS, SaliencySettings  # noqa: E402


def gantool(*args) -> str:
    out, err = io.BytesIO(), io.StringIO()
    env = Env(stdin=io.BytesIO(), stdout=out, stderr=err, stdin_isatty=False, stdout_isatty=False,
              stderr_isatty=False)
    code = main([str(a) for a in args], env)
    if code != 0:
        raise SystemExit(f"gantool {' '.join(map(str, args))} failed: {err.getvalue()}")
    return out.getvalue().decode()


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
    parser.add_argument("--loop", type=int, default=64, help="images timed in the per-image loop (its rate is per image)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threads = ["--threads", str(args.threads)]
    work = Path(tempfile.mkdtemp(prefix="saliency-bench-"))
    model = work / "digits.safetensors"
    gantool("--seed", "0", *threads, "-q", "train-classifier", "-o", model)
    clf = load_classifier(str(model))
    images8, labels = held_out()
    x = images8.float().div(255)
    accuracy = float((clf(x).argmax(1) == labels).float().mean())
    print(f"digits classifier (train-classifier --seed 0): held-out accuracy {accuracy:.2%} on {len(x)} images, "
          f"{args.threads} thread(s)\n")

    print("1. Each method's maps against a random order of the pixels (means over the held-out images)\n")
    print(f"{'method':<22} {'deletion AUC':>13} {'random':>7} {'insertion AUC':>14} {'random':>7} "
          f"{'acc -10% salient':>17} {'acc -10% random':>16} {'sanity rho':>11} {'seconds':>8}")
    for method in METHODS:
        s = SaliencySettings(method=method)
        t0 = time.perf_counter()
        found = attribute(clf, x, s)
        scores = checks.deletion_insertion(clf, x, found.maps, found.target, s.deletion_steps, s.fill)
        seconds = time.perf_counter() - t0
        salient = float((checks.removal_predictions(clf, x, found.maps, 0.1) == labels).float().mean())
        rand = float((checks.removal_predictions(clf, x, found.maps, 0.1, random=True) == labels).float().mean())
        sane = checks.randomization(clf, x, found.maps, lambda c, im: attribute(c, im, s, found.target).maps)
        print(f"{method:<22} {scores.deletion.mean():>13.3f} {scores.random_deletion.mean():>7.3f} "
              f"{scores.insertion.mean():>14.3f} {scores.random_insertion.mean():>7.3f} {salient:>17.2%} "
              f"{rand:>16.2%} {sane.mean():>11.3f} {seconds:>8.2f}")
    ig = attribute(clf, x, SaliencySettings(method="integrated-gradients"))
    relative = (ig.completeness_error / ig.score_gap.abs().clamp_min(1e-12)).mean()
    print(f"\nintegrated-gradients (32 steps, black baseline): completeness error {ig.completeness_error.mean():.4f} "
          f"mean absolute, {relative:.2%} of score(x) - score(baseline)")

    print("\n2. gantool saliency over a folder of 256 images against one call per image (gradient, with its checks)\n")
    folder = work / "images"
    folder.mkdir()
    for i in range(256):
        Image.fromarray(images8[i % len(images8), 0].numpy()).save(folder / f"{i:03d}.png")
    files = sorted(folder.iterdir())
    gantool(*threads, "-q", "saliency", files[0], "-m", model, "--out-dir", work / "warm")  # imports, caches
    t0 = time.perf_counter()
    gantool(*threads, "-q", "--json", "saliency", folder, "-m", model, "--out-dir", work / "batched")
    batched = 256 / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for f in files[:args.loop]:
        gantool(*threads, "-q", "--json", "saliency", f, "-m", model, "--out-dir", work / "loop")
    looped = args.loop / (time.perf_counter() - t0)
    print(f"{'how':<36} {'images/s':>9}")
    print(f"{'one call, folder of 256 (chunked)':<36} {batched:>9.1f}")
    print(f"{f'a call per image ({args.loop} timed)':<36} {looped:>9.1f}")
    print(f"ratio: {batched / looped:.1f}x")


if __name__ == "__main__":
    main_()
