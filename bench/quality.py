"""Sample quality against training wall time: FID of recipes at equal time, and conditional accuracy.

The recipes, each trained here in turn from the same seed on the same data, on the CPU:
  textbook  the hyperparameters of PyTorch's examples/dcgan: 64x64, nz 100, ngf = ndf = 64,
            lr 2e-4 for G and D, batch 64, betas (0.5, 0.999), BCE (gantool's DCGAN is that network)
  0.1.0     gantool 0.1.0's default recipe (28x28, nz 64, ngf = ndf 32, lr 4e-4 / 2e-4, batch 64)
  0.2.0     gantool 0.2.0's: today's without the linear learning-rate decay and R1 (its float32 on the
            CPU is --amp off, which applies to every recipe of a run)
  default   today's `TrainSpec()`: what `gantool train` runs with no option
  --recipe NAME=OPTIONS adds others ("wide=ngf=64,ndf=64"), for trying settings.

First `default` trains for --steps (by default `gantool train`'s budget, 4,000) or --epochs; its
training time T is the budget of the others (so every row is at equal wall time on this machine),
or with --equal steps its step count (every row at equal steps: for recipes of the same networks
and batch, a comparison free of the timing noise, which is large: a recipe identical to the
default, run second, made 529 steps in the 12 s the default took for 390). Every recipe is measured at
--points evenly spaced times up to T (the time spent measuring is not training time): the FID of
--samples images in the features of a judge (a classifier trained by `gantool train-classifier`
on images of the same data set that the GANs never see, penultimate layer), against the GAN
training images. With --kinds conditional each recipe trains class-conditional, and the table adds
the judge's accuracy on the class each sample was drawn for.

The data: --data fashion-mnist (Debian's dataset-fashion-mnist, 60,000 training images) takes a
stratified --subset for the GANs and the next --judge-images for the judge (disjoint); --data
digits gives all 1,797 digits to both, as `make demo` and the README's judge do; --data real-digits
(Debian's opencv-doc: digits.png, 5,000 real 20x20 digits, trained at 28x28) gives each row's first 80
to the GANs (4,000) and its last 20 to the judge (1,000). The floor printed
is the FID of one half of the GAN training images against the other half.

Run:  .venv/bin/python bench/quality.py                       # fashion-mnist, 5,000 images, 4,000 steps
      .venv/bin/python bench/quality.py --only 0.2.0 --epochs 10 --amp off  # 0.2.0's default budget there
      .venv/bin/python bench/quality.py --kinds unconditional,conditional --grids docs/
      .venv/bin/python bench/quality.py --data digits
      .venv/bin/python bench/quality.py --data real-digits --kinds unconditional,conditional
Run it alone: another torch process on these 2 cores slows both 5-10x and moves every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch

from gantool.data.sources import ImageData, fit, load_data
from gantool.files.images import grid_png
from gantool.gan.spec import DEFAULT_STEPS, Runtime, TrainSpec
from gantool.gan.trainer import GANTrainer
from gantool.metrics import classes as class_metrics
from gantool.metrics.frechet import fid
from gantool.metrics.judge import Judge
from gantool.metrics.selection import draw
from gantool.metrics.stats import RealStats
from gantool.models.dcgan import NORMALIZATION
from gantool.models.dcgan_config import size_for

GANTOOL = [sys.executable, "-m", "gantool"]
RECIPES = {
    "textbook": dict(image_size=64, nz=100, ngf=64, ndf=64, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
                     batch_size=64, ema=0.0, augment="none", class_weight=0.0, lr_decay="none", r1=0.0),
    "0.1.0": dict(image_size=28, nz=64, ngf=32, ndf=32, lr_g=4e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
                  batch_size=64, ema=0.0, augment="none", class_weight=0.0, lr_decay="none", r1=0.0),
    "0.2.0": dict(lr_decay="none", r1=0.0),
    "default": {},
}


def stratified(labels: np.ndarray, per_class: int, skip: int, seed: int) -> np.ndarray:
    """Indices: for each class, `per_class` of its images after the first `skip` of a seeded shuffle."""
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        out.append(idx[skip : skip + per_class])
    return np.sort(np.concatenate(out))


def split_data(args) -> tuple[ImageData, ImageData]:
    """(GAN training images, judge training images): disjoint, stratified, seeded."""
    if args.data == "real-digits":  # OpenCV's digits.png: each row's first 80 for the GANs, last 20 for the judge
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from real_data import opencv_digits

        def sheet(split):
            images, labels = opencv_digits(split)
            return ImageData(torch.from_numpy(images), torch.from_numpy(labels), [str(i) for i in range(10)],
                             f"digits.png {split}[{len(images)}]")

        return sheet("train"), sheet("test")
    data = load_data(args.data)
    labels = data.labels.numpy()
    k = data.num_classes
    if args.data == "digits":  # as `make demo` and the README: the GAN and the judge see all of them
        gan = judge = np.arange(len(labels))
    else:
        gan = stratified(labels, args.subset // k, 0, 0)
        judge = stratified(labels, args.judge_images // k, args.subset // k, 0)

    def part(idx):
        return ImageData(data.images[idx].contiguous(), data.labels[idx].contiguous(), data.classes,
                         f"{data.name}[{len(idx)}]")

    return part(gan), part(judge)


def train_judge(data: ImageData, path: str, threads: int) -> str:
    """A gantool classifier trained on the judge's images (the product's own command), into `path`."""
    arrays = os.path.join(os.path.dirname(os.path.abspath(path)), ".judge-images.npz")
    np.savez(arrays, images=data.images.numpy(), labels=data.labels.numpy(), classes=np.array(data.classes))
    r = subprocess.run([*GANTOOL, "--seed", "0", "--threads", str(threads), "--json", "train-classifier",
                        "--data", arrays, "-o", path, "--augment"], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"train-classifier failed: {r.stderr.strip()}")
    os.remove(arrays)
    accuracy = json.loads(r.stdout)["heldout_accuracy"]
    print(f"judge: gantool train-classifier on {data.num_images} images, held-out accuracy {accuracy:.2%}",
          file=sys.stderr)
    return path


class Measure:
    """FID (and requested-class accuracy) of a generator's samples in the judge's features."""

    def __init__(self, judge: Judge, real: RealStats, samples: int):
        self.judge, self.real, self.samples = judge, real, samples

    def __call__(self, G) -> dict:
        images, classes = draw(G, self.samples, 1234)
        features, logits = self.judge.extract(images, logits=True)
        out = {"fid": fid(self.real.features, features)}
        if classes is not None:
            out["accuracy"] = class_metrics.requested_accuracy(logits, torch.tensor(classes))
        return out


def train_for(spec: TrainSpec, data: ImageData, measure: Measure, *, seconds: float | None = None,
              steps: int | None = None, points: int, runtime: Runtime) -> tuple[list[dict], GANTrainer]:
    """Train until `seconds` of training time (or `steps`), measuring at `points` evenly spaced
    times (for `steps`: evenly spaced steps); returns the rows and the trainer."""
    data = fit(data, image_size=spec.image_size or size_for(data.image_size))  # as `gantool train` does
    with tempfile.TemporaryDirectory() as out:
        trainer = GANTrainer(spec, data, out, runtime)
    rows, spent = [], 0.0
    marks = [(i + 1) / points for i in range(points)]
    for m in marks:
        t0 = time.perf_counter()
        trainer.G.train()
        trainer.D.train()
        while (seconds is not None and spent + time.perf_counter() - t0 < m * seconds) or \
                (steps is not None and trainer.step < round(m * steps)):
            trainer.train_step()
        trainer.batches.images[:1].sum().item()  # a sync (a no-op on the CPU)
        spent += time.perf_counter() - t0
        row = {"seconds": spent, "step": trainer.step, "epochs": trainer.step / trainer.steps_per_epoch,
               **measure(trainer.sampling_generator())}
        rows.append(row)
        print(f"  {spent:6.1f}s step {trainer.step:5d}  FID {row['fid']:7.2f}"
              + (f"  accuracy {row['accuracy']:.1%}" if "accuracy" in row else ""), file=sys.stderr)
    return rows, trainer


def save_grid(trainer: GANTrainer, path: str) -> None:
    G = trainer.sampling_generator()
    G.eval()
    with torch.no_grad():
        images = NORMALIZATION.from_model(G(trainer.fixed).float())
    nrow = images.shape[0] // trainer.cfg.num_classes if trainer.cfg.conditional else 8
    with open(path, "wb") as f:
        f.write(grid_png(images, nrow=nrow))


def parse_recipe(text: str) -> tuple[str, dict]:
    name, _, options = text.partition("=")
    items: list[str] = []
    for item in filter(None, options.split(",")):  # "augment=translation,cutout": a value with a comma
        if "=" in item or not items:
            items.append(item)
        else:
            items[-1] += "," + item
    values = {}
    for item in items:
        key, _, raw = item.partition("=")
        default = getattr(TrainSpec(), key)
        if isinstance(default, bool):
            values[key] = raw.lower() in ("1", "true", "yes")
        elif default is not None:
            values[key] = type(default)(raw)
        else:  # a setting whose default hangs on others (r1) or none (epochs): a number
            values[key] = float(raw) if any(c in raw for c in ".e") else int(raw)
    return name, values


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="fashion-mnist", choices=("fashion-mnist", "digits", "real-digits"))
    p.add_argument("--subset", type=int, default=5000, help="GAN training images (fashion-mnist)")
    p.add_argument("--judge-images", type=int, default=10000, help="judge training images (fashion-mnist)")
    p.add_argument("--steps", type=int, help="the default recipe's budget; its time is everyone's "
                                               "(default: `gantool train`'s, DEFAULT_STEPS)")
    p.add_argument("--epochs", type=int, help="the default recipe's budget in passes over the data, instead")
    p.add_argument("--points", type=int, default=5, help="measurements per recipe")
    p.add_argument("--samples", type=int, default=2000, help="generated images per FID")
    p.add_argument("--only", default="textbook,0.1.0,default", help="comma-separated recipes to run")
    p.add_argument("--recipe", action="append", default=[], help="NAME=key=value,key=value: another recipe")
    p.add_argument("--kinds", default="unconditional", help="unconditional, conditional or both (comma-separated)")
    p.add_argument("--seconds", type=float, help="the time budget, instead of the default recipe's steps")
    p.add_argument("--equal", default="time", choices=("time", "steps"),
                   help="what the other recipes share with the default: its training time or its step count")
    p.add_argument("--judge", help="the judge classifier: read when the file exists, else trained into it")
    p.add_argument("--grids", help="a folder for each recipe's final sample grid")
    p.add_argument("--amp", default="auto", choices=("auto", "on", "off"),
                   help="bf16 autocast: auto is `gantool train`'s default")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.epochs is None and args.steps is None:
        args.steps = DEFAULT_STEPS
    torch.set_num_threads(args.threads)
    runtime = Runtime(device="cpu", amp={"auto": None, "on": True, "off": False}[args.amp])

    recipes = {**RECIPES, **dict(parse_recipe(r) for r in args.recipe)}
    names = [n for n in args.only.split(",") if n] + [parse_recipe(r)[0] for r in args.recipe]
    gan_data, judge_data = split_data(args)
    with tempfile.TemporaryDirectory() as folder:
        path = args.judge or os.path.join(folder, "judge.safetensors")
        judge = Judge.load(path if os.path.exists(path) else train_judge(judge_data, path, args.threads))
    # the real images as the GANs see them (digits: 8x8 upscaled to 28x28), as `train --eval-every` does
    seen = fit(gan_data, image_size=size_for(gan_data.image_size))
    real = RealStats.from_images(judge, seen.images, name=gan_data.name)
    measure = Measure(judge, real, args.samples)
    halves = torch.randperm(gan_data.num_images, generator=torch.Generator().manual_seed(0)).chunk(2)
    floor = fid(real.features[halves[0]], real.features[halves[1]])
    print(f"data: {gan_data.name} for the GANs, {judge_data.name} for the judge; FID of one half of the GAN "
          f"images against the other (the floor): {floor:.2f}", file=sys.stderr)

    table, budget, budget_steps = [], args.seconds, None
    kinds = [k == "conditional" for k in args.kinds.split(",") if k]
    for conditional in kinds:
        order = (["default"] if "default" in names and budget is None else []) + \
                [n for n in names if n != "default" or budget is not None]
        for name in order:
            spec = replace(TrainSpec(**recipes[name]), seed=args.seed, conditional=conditional)
            label = f"{name}{' conditional' if conditional else ''}"
            by_steps = budget is None or (args.equal == "steps" and budget_steps is not None)
            shared = f"{budget_steps} steps" if by_steps and budget_steps else f"{budget:.0f}s" if budget else \
                (f"{args.steps} steps" if args.steps else f"{args.epochs} epochs")
            print(f"{label}: {shared}", file=sys.stderr)
            if by_steps:
                steps = budget_steps or args.steps or _epoch_steps(spec, gan_data, args.epochs)
                spec = replace(spec, epochs=None, steps=steps)
                rows, trainer = train_for(spec, gan_data, measure, steps=steps, points=args.points, runtime=runtime)
                if budget is None:
                    budget, budget_steps = rows[-1]["seconds"], rows[-1]["step"]
            else:
                # trained for the time; the run's step budget (what --lr-decay spreads over) is the
                # default recipe's step count in that time (right for a recipe with the default's batch
                # size and networks, though a run's speed moves with its place in the order), or --epochs'
                # steps without it
                spec = replace(spec, steps=budget_steps or args.steps or _epoch_steps(spec, gan_data, args.epochs))
                rows, trainer = train_for(spec, gan_data, measure, seconds=budget, points=args.points, runtime=runtime)
            if args.grids:
                save_grid(trainer, os.path.join(args.grids, f"quality-{label.replace(' ', '-')}.png"))
            table.append({"recipe": label, "rows": rows})
        budget, budget_steps = args.seconds, None  # the conditional runs set their own budget

    print(f"\nFID ({args.samples} samples, judge floor {floor:.2f}) at training time; lower is better")
    for entry in table:
        cells = "  ".join(f"{r['seconds']:5.0f}s {r['fid']:7.2f}" + (f" ({r['accuracy']:.1%})" if "accuracy" in r
                                                                     else "") for r in entry["rows"])
        last = entry["rows"][-1]
        print(f"{entry['recipe']:<24} {cells}   [{last['step']} steps, {last['epochs']:.1f} epochs]")
    if args.json:
        print(json.dumps({"floor": floor, "samples": args.samples, "table": table}))


def _epoch_steps(spec: TrainSpec, data: ImageData, epochs: int) -> int:
    per_epoch = max(1, (data.num_images // min(spec.batch_size, data.num_images)) // spec.d_steps)
    return per_epoch * epochs


if __name__ == "__main__":
    main()
