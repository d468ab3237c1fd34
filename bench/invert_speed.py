"""Inversion throughput: 256 images in one batched `invert` call against a per-image loop with the
same steps, in the same run. Prints images/second of each, the ratio, and the mean PSNR of each.

    python bench/invert_speed.py [--model FILE] [--images 256] [--steps 300] [--loop-images 16]

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
