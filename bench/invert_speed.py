"""Inversion throughput: 256 images in one batched `invert` call against a per-image loop with the
same steps, in the same run. Prints images/second of each, the ratio, and the mean PSNR of each.

    python bench/invert_speed.py [--model FILE] [--images 256] [--steps 300] [--loop-images 16] [--encoder]
    python bench/invert_speed.py --generated [--model FILE] [--generated-images 64] --threads 1

With --generated: convergence instead of throughput. The model draws --generated-images images
(seeded, rounded to 8 bits as a PNG would be), so a latent that reproduces each exists; each is
inverted at the previous defaults, spelled out as options (300 Adam steps, no L-BFGS: the
reference) and at today's defaults (gantool.latent.invert.InvertSettings()), in the same run.
Prints the mean and worst PSNR of each, its seconds and the time ratio, and beside them the PSNR
of the same search on as many real digits (bounded by what the generator can draw).

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
    p.add_argument("--generated", action="store_true", help="PSNR on images the model drew, old and new defaults")
    p.add_argument("--generated-images", type=int, default=64)
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
    if args.generated:
        k = args.generated_images
        real01 = data.images[pick[:k]].float().div(255)
        return generated(G, norm, real01, data.labels[pick[:k]] if cfg.conditional else None, k)
    target01 = data.images[pick].float().div(255)
    targets = norm.to_model(target01)
    classes = data.labels[pick] if cfg.conditional else None
    settings = InvertSettings(steps=args.steps, refine=0)  # Adam alone: the throughput of batching

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


REFERENCE = {"steps": 300, "refine": 0, "restarts": 1, "prune": 0}  # the defaults before the L-BFGS finish


def generated(G, norm, real01, real_classes, k: int) -> int:
    """Mean and worst PSNR on k images G drew (8-bit), the reference against today's defaults."""
    G.eval()
    with torch.no_grad():
        z, classes = G.latents(k, generator=torch.Generator().manual_seed(1))
        gen01 = (norm.from_model(G(z)).clamp(0, 1) * 255).round() / 255
    now = InvertSettings()
    runs = [(f"reference ({', '.join(f'{a} {b}' for a, b in REFERENCE.items())})", InvertSettings(**REFERENCE)),
            (f"defaults (steps {now.steps}, refine {now.refine}, restarts {now.restarts}, prune {now.prune})", now)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {G.cfg.image_size}x{G.cfg.image_size}, "
          f"{k} generated images (8-bit) and {k} real digits, seed 0")
    print(f"{'settings':<52} {'gen mean':>9} {'gen worst':>9} {'seconds':>8} {'real mean':>9} {'real worst':>10}")
    seconds = []
    for name, settings in runs:
        t0 = time.perf_counter()
        result = invert(G, norm.to_model(gen01), settings, seed=0, classes=classes)
        seconds.append(time.perf_counter() - t0)
        psnr = quality(norm.from_model(result.images), gen01)[0]
        real = quality(norm.from_model(invert(G, norm.to_model(real01), settings, seed=0, classes=real_classes).images),
                       real01)[0]
        print(f"{name:<52} {psnr.mean():>9.2f} {psnr.min():>9.2f} {seconds[-1]:>8.1f} {real.mean():>9.2f} "
              f"{real.min():>10.2f}", flush=True)
    print(f"time ratio (defaults / reference, generated images): {seconds[1] / seconds[0]:.2f}")
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

    goal = psnr(InvertSettings(steps=1000, refine=0), "random")
    print(f"\nencoder start, {k} images: random start, 1000 steps: {goal:.2f} dB")
    start = encode(E, t)
    for steps in (1, 10, 25, 50, 100, 200, 400, 1000):
        got = psnr(InvertSettings(steps=steps, refine=0), start)
        print(f"  encoder start, {steps:>4} steps: {got:.2f} dB")
        if got >= goal:
            print(f"encoder start reaches it in {steps} steps: {steps / 1000:.1%} of the random-start steps")
            break
    else:
        print("encoder start did not reach it within 1000 steps")


if __name__ == "__main__":
    sys.exit(main())
