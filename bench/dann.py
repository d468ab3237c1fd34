"""Domain adaptation figures (issue 19): real handwritten digits -> their MNIST-M-style blend.

Source: OpenCV's digits.png (Debian's opencv-doc: 5,000 real 20x20 digits, a 2000x1000 sheet of 50
rows of 100, 5 rows per class 0..9), sliced into a labelled .npz. Target: `gantool blend` of it
with OpenCV's colour photos (the .jpg files of the same folder that are not gray). For each seed:

- source only and DANN: `gantool train-classifier --data SOURCE --adapt TARGET
  --compare-source-only` (the same seed and budget for both; the target split at random into the
  part trained on, unlabelled, and the held-out part scored);
- the upper bound: a classifier trained on the labels of the very target images DANN trained on
  (unlabelled there), scored on the same held-out target images.

Prints a table per seed, the means, and whether DANN closes at least half of the gap between
source only and the upper bound. The budget is stated in the output.

    PYTHONPATH=. python bench/dann.py [--threads 2] [--seeds 0,1,2] [--epochs 30] [--batch-size 32] [--width 8]
        [--lr 3e-3] [--lr-schedule one-cycle|dann] [--alpha A] [--target-statistics target|source] [--augment]
        [--domain-hidden 1024,1024]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_data import OPENCV, opencv_digits, write_npz  # noqa: E402
from transfer import gantool  # noqa: E402  (one in-process runner for the benches)


def opencv_digits_npz(out: Path) -> Path:
    """digits.png -> .npz: images uint8 (5000, 1, 20, 20), labels 0..9 (5 rows of 100 per class)."""
    images, labels = opencv_digits("all")
    return write_npz(out, images, labels, [str(i) for i in range(10)])


def colour_photos(folder: Path, out: Path) -> list[str]:
    """Links to the colour .jpg photos of `folder` (the chessboard calibration shots are gray)."""
    from gantool.files.images import image_is_gray

    out.mkdir(exist_ok=True)
    names = []
    for f in sorted(folder.glob("*.jpg")):
        if not image_is_gray(f):
            (out / f.name).symlink_to(f)
            names.append(f.name)
    return names


def target_split(n: int, holdout: float, seed: int):
    """The split train-classifier --adapt makes of the target (gantool.classify.adapt.prepare)."""
    import torch

    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_held = min(n - 1, max(1, round(n * holdout)))
    return order[n_held:].sort().values.numpy(), order[:n_held].sort().values.numpy()


def upper_bound(work: Path, target: Path, seed: int, common: list, holdout: float) -> float:
    """Train on the labels of the target images DANN trained on; accuracy on its held-out ones."""
    import torch

    from gantool.classify.classifiers import load_classifier

    z = np.load(target)
    images, labels = z["images"], z["labels"]
    train, held = target_split(len(images), holdout, seed)
    part = work / f"target-train-{seed}.npz"
    np.savez(part, images=images[train], labels=labels[train], classes=z["classes"])
    model = work / f"upper-{seed}.safetensors"
    gantool("--seed", seed, *common, "--holdout", "0.05", "--data", part, "-o", model)
    clf = load_classifier(str(model), torch.device("cpu"))
    with torch.inference_mode():
        x = torch.from_numpy(images[held]).float().div(255)
        predicted = torch.cat([clf(c).argmax(1) for c in x.split(512)]).numpy()
    return float((predicted == labels[held]).mean())


def run(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-dann-"))
    t = ("--threads", args.threads)
    source = opencv_digits_npz(work / "source.npz")
    photos = colour_photos(OPENCV, work / "photos")
    target = work / "target.npz"
    gantool(*t, "--seed", "0", "-q", "blend", "--data", source, "--photos", work / "photos", "-o", target)
    budget = ["--epochs", args.epochs, "--batch-size", args.batch_size, "--width", args.width, "--lr", args.lr,
              "--lr-schedule", args.lr_schedule, *(["--augment"] if args.augment else [])]
    common = [*t, "-q", "--json", "train-classifier", *budget]
    print(f"source: opencv digits.png (5000 20x20 gray digits, 10 classes); target: its blend with "
          f"{len(photos)} colour opencv photos at 20x20x3 (seed 0); held out: 20% of each")
    print(f"budget per model: {args.epochs} epochs over the source's 4000 training images, batch {args.batch_size} "
          f"(+ {args.batch_size} target images a step for DANN), width {args.width}, AdamW lr {args.lr:g} "
          f"{args.lr_schedule}{', augmented' if args.augment else ''}, "
          f"alpha {args.alpha if args.alpha is not None else 'schedule, gamma 10'}, "
          f"target statistics {args.target_statistics}, domain head {args.domain_hidden} hidden; "
          f"threads {args.threads}")
    print(f"{'seed':>4} {'source only':>12} {'DANN':>8} {'upper':>8} {'DANN src':>9} {'domain':>7} {'closed':>7} "
          f"{'s':>6}")
    rows = []
    for seed in args.seeds:
        t0 = time.monotonic()
        r = json.loads(gantool("--seed", seed, *common, "--data", source, "--adapt", target, "--compare-source-only",
                               *(["--alpha", args.alpha] if args.alpha is not None else []),
                               "--target-statistics", args.target_statistics, "--domain-hidden", args.domain_hidden,
                               "-o", work / f"dann-{seed}.safetensors"))
        a = r["adaptation"]
        up = upper_bound(work, target, seed, common, 0.2)
        plain, dann = a["source_only"]["target_accuracy"], a["target_accuracy"]
        closed = (dann - plain) / (up - plain) if up > plain else float("nan")
        rows.append((plain, dann, up, r["heldout_accuracy"], a["domain_accuracy"], closed))
        print(f"{seed:>4} {plain:>12.2%} {dann:>8.2%} {up:>8.2%} {r['heldout_accuracy']:>9.2%} "
              f"{a['domain_accuracy']:>7.2%} {closed:>7.0%} {time.monotonic() - t0:>6.0f}", flush=True)
    m = np.mean(rows, axis=0)
    print(f"{'mean':>4} {m[0]:>12.2%} {m[1]:>8.2%} {m[2]:>8.2%} {m[3]:>9.2%} {m[4]:>7.2%} {m[5]:>7.0%}")
    gap = (m[1] - m[0]) / (m[2] - m[0])
    print(f"DANN closes {gap:.0%} of the gap between source only and the upper bound (of the means): "
          f"{'at least' if gap >= 0.5 else 'less than'} half")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", type=lambda v: [int(s) for s in v.split(",")], default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3, help="train-classifier's default")
    p.add_argument("--lr-schedule", default="one-cycle", choices=("one-cycle", "dann"))
    p.add_argument("--alpha", type=float, default=None, help="a constant reversal weight (default: the schedule)")
    p.add_argument("--target-statistics", default="target", choices=("target", "source"))
    p.add_argument("--augment", action="store_true", help="train-classifier --augment for every model")
    p.add_argument("--domain-hidden", default="1024,1024", help="train-classifier's default")
    return p.parse_args()


if __name__ == "__main__":
    run(parse())
