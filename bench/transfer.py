"""Transfer-learning figures, printed (targets live in bench/, not in timed tests).

(a) digits: held-out accuracy of a linear SVM (C by 5-fold CV over 0.1,1,10, standardized) on raw
    pixels, on the penultimate features of a trained gantool classifier and on a trained GAN
    discriminator's last conv map (flattened), each with and without PCA, with fit and CV times and
    the solver `svm train` chose.
(b) extraction throughput on a folder of 224x224 PNGs for torchvision vgg16 (random weights):
    `gantool extract-features` (batched, inference mode, DataLoader decoding) against a plain loop
    (open, transform, forward one image at a time), in the same run, on the same images.

    PYTHONPATH=. python bench/transfer.py [--threads N] [--images N] [--gan-steps N] [--skip-a] [--skip-b]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gantool.cli import main
from gantool.context import Env


def gantool(*args) -> str:
    out, err = io.BytesIO(), io.StringIO()
    code = main([str(a) for a in args], Env(stdin=io.BytesIO(), stdout=out, stderr=err, stdin_isatty=False,
                                            stdout_isatty=False, stderr_isatty=False))
    if code != 0:
        sys.exit(f"gantool {' '.join(map(str, args))} failed: {err.getvalue()}")
    return out.getvalue().decode()


def part_a(work: Path, threads: int, gan_steps: int) -> None:
    from sklearn.datasets import load_digits

    t = ("--threads", threads)
    gantool(*t, "--seed", "0", "-q", "train-classifier", "-o", work / "clf.safetensors")
    gantool(*t, "--seed", "0", "-q", "train", "--out", work / "gan", "--steps", gan_steps, "--force")
    gantool(*t, "-q", "extract-features", "--data", "digits", "-m", work / "clf.safetensors", "-o", work / "classifier.npz")
    gantool(*t, "-q", "extract-features", "--data", "digits", "-m", work / "gan" / "model.safetensors", "--pool",
            "flatten", "-o", work / "discriminator.npz")
    d = load_digits()
    np.savez(work / "pixels.npz", features=(d.data / 16).astype(np.float32), labels=d.target.astype(np.int64),
             classes=np.array([str(c) for c in d.target_names]), paths=np.array([str(i) for i in range(len(d.data))]),
             layer=np.array("pixels"))
    print(f"(a) digits, linear SVM, C from 5-fold CV over 0.1,1,10, 20% held out (seed 0), GAN {gan_steps} steps")
    print(f"{'features':<15} {'dims':>5} {'PCA':>5} {'best C':>7} {'CV acc':>16} {'held-out':>9} {'fit s':>7} "
          f"{'CV s':>7}  solver")
    for name in ("pixels", "classifier", "discriminator"):
        for pca in (None, 32):
            args = ["--json", *t, "svm", "train", work / f"{name}.npz", "--C", "0.1,1,10", "-o", work / f"{name}.svm"]
            r = json.loads(gantool(*args, *(["--pca", pca] if pca else [])))
            best = next(c for c in r["cv"] if c["C"] == r["best_C"])
            print(f"{name:<15} {r['dims']:>5} {str(pca or '-'):>5} {r['best_C']:>7g} "
                  f"{best['mean']:>9.2%} ± {best['std']:.2%} {r['accuracy']:>9.2%} {r['fit_seconds']:>7.3f} "
                  f"{r['cv_seconds']:>7.2f}  {r['solver']}", flush=True)


def part_b(work: Path, threads: int, n: int) -> None:
    import torch
    from PIL import Image
    from torchvision.models import vgg16
    from torchvision.transforms import v2 as T

    folder = work / "photos"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    torch.set_num_threads(threads)
    # the plain loop: build the model, then open, transform, forward one image at a time (timed whole,
    # as the command is: its model building and PNG decoding count too)
    t0 = time.perf_counter()
    torch.manual_seed(0)
    net = vgg16().eval()
    net.classifier[-1].register_forward_pre_hook(lambda m, a: feats.append(a[0].clone()))
    tf = T.Compose([T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Resize(256, antialias=True),
                    T.CenterCrop(224), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    feats = []
    with torch.no_grad():
        for f in sorted(folder.iterdir()):
            net(tf(Image.open(f).convert("RGB"))[None])
    loop = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    gantool("--threads", threads, "-q", "extract-features", folder, "-m", "vgg16", "-b", "16", "-o", work / "vgg.npz")
    tool = n / (time.perf_counter() - t0)
    got = np.load(work / "vgg.npz", allow_pickle=False)["features"]
    print(f"(b) vgg16 (random weights), {n} PNGs of 224x224, penultimate ({got.shape[1]} dims), {threads} thread(s)")
    print(f"    plain per-image loop  {loop:7.2f} images/s (model building included)")
    print(f"    extract-features      {tool:7.2f} images/s (model load and the PNG decoding included)")
    print(f"    ratio                 {tool / loop:7.2f}x (target 3x)")


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--gan-steps", type=int, default=1500)
    ap.add_argument("--skip-a", action="store_true")
    ap.add_argument("--skip-b", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not a.skip_a:
            part_a(Path(tmp), a.threads, a.gan_steps)
        if not a.skip_b:
            part_b(Path(tmp), a.threads, a.images)


if __name__ == "__main__":
    cli()
