"""Inversion throughput: 256 images in one batched `invert` call against a per-image loop with the
same steps, in the same run. Prints images/second of each, the ratio, and the mean PSNR of each.

    python bench/invert_speed.py [--model FILE] [--images 256] [--steps 300] [--loop-images 16] [--encoder]

With --encoder (an encoder beside the model, from `gantool train-encoder`): the steps an encoder
start needs to reach the mean PSNR that 1,000 random-start steps reach, on --encoder-images images.

The model defaults to demo/model.safetensors (`make demo`); the images are real digits (the data
the demo model was trained on; the GAN saw them all, so "held-out" here means not generated). The
per-image loop is timed on --loop-images images and scaled (it is linear in the count), so the
bench takes a few minutes on 2 cores. Both sides use the same code path (gantool.latent.invert),
the same seed and init, so the difference is batching alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gantool.data.sources import load_data  # noqa: E402
from gantool.latent.invert import InvertSettings, invert, quality  # noqa: E402
from gantool.models import loader  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "demo" / "model.safetensors"))
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--loop-images", type=int, default=16)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--encoder", action="store_true", help="also measure --init encoder against random starts")
    p.add_argument("--encoder-images", type=int, default=64)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path(args.model).exists():
        print(f"no model at {args.model}: run `make demo` first or give --model", file=sys.stderr)
        return 2
    m = loader.load(args.model, "cpu")
    G, norm, cfg = m["generator"], m.normalization, m.config
    data = load_data("digits", channels=cfg.channels, image_size=cfg.image_size)
    g = torch.Generator().manual_seed(0)
    pick = torch.randperm(data.num_images, generator=g)[:args.images]
    target01 = data.images[pick].float().div(255)
    targets = norm.to_model(target01)
    classes = data.labels[pick] if cfg.conditional else None
    settings = InvertSettings(steps=args.steps)

    t0 = time.perf_counter()
    batched = invert(G, targets, settings, seed=0, classes=classes)
    t_batch = time.perf_counter() - t0
    psnr_batch = quality(norm.from_model(batched.images), target01)[0]

    n = min(args.loop_images, args.images)
    t0 = time.perf_counter()
    singles = [invert(G, targets[i:i + 1], settings, seed=0, classes=None if classes is None else classes[i:i + 1])
               for i in range(n)]
    t_loop = time.perf_counter() - t0
    loop_images = torch.cat([s.images for s in singles])
    psnr_loop = quality(norm.from_model(loop_images), target01[:n])[0]

    batch_rate, loop_rate = args.images / t_batch, n / t_loop
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cfg.image_size}x{cfg.image_size}, "
          f"{args.steps} steps, 1 restart, random init")
    print(f"{'method':<28} {'images':>7} {'seconds':>8} {'images/s':>9} {'mean PSNR dB':>13}")
    print(f"{'batched (one call)':<28} {args.images:>7} {t_batch:>8.1f} {batch_rate:>9.2f} {psnr_batch.mean():>13.2f}")
    print(f"{'per-image loop':<28} {n:>7} {t_loop:>8.1f} {loop_rate:>9.2f} {psnr_loop.mean():>13.2f}")
    print(f"ratio (batched / loop): {batch_rate / loop_rate:.1f}x; same images in both: "
          f"PSNR {psnr_batch[:n].mean():.2f} (batched) vs {psnr_loop.mean():.2f} (loop)")
    if args.encoder:
        encoder_steps(args, G, norm, targets, target01, classes)
    return 0


def encoder_steps(args, G, norm, targets, target01, classes) -> None:
    """Steps from the encoder's guess to the PSNR 1,000 random-start steps reach."""
    from gantool.latent.encoder import encode, encoder_path

    path = encoder_path(args.model)
    if not path.exists():
        print(f"no encoder at {path}: run `gantool train-encoder -m {args.model}` first", file=sys.stderr)
        return
    E = loader.load(path, "cpu", kinds=("encoder",))["encoder"]
    k = min(args.encoder_images, len(targets))
    t, t01, c = targets[:k], target01[:k], None if classes is None else classes[:k]

    def psnr(settings, init):
        result = invert(G, t, settings, seed=0, classes=c, init=init)
        return float(quality(norm.from_model(result.images), t01)[0].mean())

    goal = psnr(InvertSettings(steps=1000), "random")
    print(f"\nencoder start, {k} images: random start, 1000 steps: {goal:.2f} dB")
    start = encode(E, t)
    for steps in (1, 10, 25, 50, 100, 200, 400, 1000):
        got = psnr(InvertSettings(steps=steps), start)
        print(f"  encoder start, {steps:>4} steps: {got:.2f} dB")
        if got >= goal:
            print(f"encoder start reaches it in {steps} steps: {steps / 1000:.1%} of the random-start steps")
            break
    else:
        print("encoder start did not reach it within 1000 steps")


if __name__ == "__main__":
    sys.exit(main())
