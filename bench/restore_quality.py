"""Restoration quality: gantool restore against the best classical method of scikit-image.

On held-out images of the data the model was trained on, for four damages (a centre hole of half
the side, Gaussian noise sigma 0.3, Gaussian blur sigma 1.5, x4 area downsampling), the mean PSNR
and SSIM of: the damaged input (nearest-neighbour upscaled where smaller), the classical methods
(inpaint_biharmonic; denoise_tv_chambolle and denoise_nl_means; richardson_lucy and wiener;
bicubic resize) with their parameters tuned on other held-out images, and gantool restore. Every
method sees the same damaged 8-bit images (gantool's Damage.simulate) and is scored by the same
code (torchmetrics).

Data: Fashion-MNIST's test set from the Debian package dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist, `apt-get install dataset-fashion-mnist`); without it, the last
300 of scikit-learn's digits (say so). The model: --model FILE, trained on the training set only
(for Fashion-MNIST: `gantool train --data train.npz`, the .npz that --write-train writes).

    python bench/restore_quality.py --model run/model.safetensors [--n 64] [--panel docs/restoration.png]
        [--pix2pix inpaint=hole/model.safetensors --pix2pix x4=x4/model.safetensors ...]

--finetune STEPS adds gantool restore --finetune (Deep Generative Prior: a copy of the generator
fine-tuned per image after the search, gantool.latent.finetune) from each image's --finetune-average
best starts: the fine-tuned image of the best start, and the mean of all of them (what
--finetune-average K keeps), each also with --paste-known where it applies; and a row of undamaged
held-out images (--clean, on by default with --finetune): the latent search alone against the
fine-tuned generator, which the search's ceiling (what the generator draws) does not bound.

--pix2pix KIND=FILE adds a learned restorer (`gantool train-pix2pix --task restore` with the same
damage, trained on the same training set) to that damage's rows: the two roads side by side, the
generator as a prior searched per image, and a network trained on pairs applied in one pass.

scikit-image is a bench extra (`pip install -e '.[bench]'`), not a dependency of the commands.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_data import FASHION, idx_images, idx_labels  # noqa: E402  (the offline data sets, read in one place)
from gantool.latent.finetune import FinetuneSettings, finetune_search  # noqa: E402
from gantool.latent.invert import SearchSettings, image_seed, quality  # noqa: E402
from gantool.latent.restore import Damage, paste_known, restore  # noqa: E402
from gantool.models import loader  # noqa: E402

DAMAGES = [  # (label, kind, the damage as the issue states it)
    ("inpaint (centre hole, half the side)", "inpaint", Damage(mask="center")),
    ("denoise (sigma 0.3)", "denoise", Damage(noise=0.3)),
    ("deblur (sigma 1.5)", "deblur", Damage(blur=1.5)),
    ("x4 upscale", "x4", Damage(downsample=4)),
]
CLEAN = ("undamaged (--clean)", "clean", Damage())


def held_out() -> tuple[np.ndarray, str]:
    if (FASHION / "t10k-images-idx3-ubyte.gz").exists():
        return idx_images(FASHION / "t10k-images-idx3-ubyte.gz"), "Fashion-MNIST test set (never trained on)"
    from sklearn.datasets import load_digits

    print("dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist): falling back to digits, "
          "whose last 300 images the model must not have seen", file=sys.stderr)
    images = np.round(load_digits().images * (255 / 16)).astype(np.uint8)[:, None]
    return images[-300:], "the last 300 digits"


# ---- the classical methods: name -> (parameter grid, function(damaged HxW, param, damage, psf, missing) -> HxW)

def _tv(y, w, d, psf, missing):
    from skimage.restoration import denoise_tv_chambolle
    return denoise_tv_chambolle(y, weight=w)


def _nlm(y, k, d, psf, missing):
    from skimage.restoration import denoise_nl_means
    return denoise_nl_means(y, h=k * d.noise, sigma=d.noise, patch_size=3, patch_distance=4, fast_mode=True)


def _rl(y, n, d, psf, missing):
    from skimage.restoration import richardson_lucy
    return richardson_lucy(y, psf, num_iter=n, clip=True)


def _wiener(y, b, d, psf, missing):
    from skimage.restoration import wiener
    return wiener(y, psf, balance=b, clip=True)


def _biharmonic(y, _, d, psf, missing):
    from skimage.restoration import inpaint_biharmonic
    return inpaint_biharmonic(y, missing)


def _resize(y, order, d, psf, missing):
    from skimage.transform import resize
    return resize(y, (y.shape[0] * d.downsample,) * 2, order=order, anti_aliasing=False)


CLASSICAL = {
    "inpaint": {"inpaint_biharmonic": ([None], _biharmonic)},
    "denoise": {"denoise_tv_chambolle": ([0.05, 0.1, 0.15, 0.2, 0.3, 0.4], _tv),
                "denoise_nl_means": ([0.4, 0.6, 0.8, 1.0, 1.2], _nlm)},
    "deblur": {"richardson_lucy": ([5, 10, 20, 40, 80], _rl), "wiener": ([0.001, 0.003, 0.01, 0.03, 0.1, 0.3], _wiener)},
    "x4": {"bicubic resize": ([3], _resize)},
}


def classical(kind: str, damaged: np.ndarray, damage: Damage, missing: np.ndarray | None, param_of: dict):
    """{method: (restored (N, 1, H, W) in [0, 1], seconds per image)} with the tuned parameters."""
    psf = None
    if damage.blur:
        delta = torch.zeros(1, 1, 15, 15)
        delta[0, 0, 7, 7] = 1
        psf = Damage(blur=damage.blur).observe(delta)[0, 0].numpy().astype(np.float64)
    out = {}
    for name, (_, fn) in CLASSICAL[kind].items():
        t = time.perf_counter()
        images = [fn(y[0].astype(np.float64), param_of[name], damage, psf, missing) for y in damaged]
        out[name] = (np.clip(np.stack(images)[:, None], 0, 1), (time.perf_counter() - t) / len(damaged))
    return out


def tune(kind: str, damaged: np.ndarray, clean: np.ndarray, damage: Damage, missing) -> dict:
    """Each classical method's parameter with the best mean PSNR on the tuning images."""
    best = {}
    for name, (grid, _) in CLASSICAL[kind].items():
        scores = []
        for p in grid:
            restored = classical(kind, damaged, damage, missing, {name: p} | {n: g[0] for n, (g, _) in
                                                                             CLASSICAL[kind].items() if n != name})
            scores.append(float(psnr_ssim(restored[name][0], clean)[0]))
        best[name] = grid[int(np.argmax(scores))]
    return best


def psnr_ssim(images: np.ndarray | torch.Tensor, clean: np.ndarray) -> tuple[float, float]:
    p, s = quality(torch.as_tensor(np.asarray(images), dtype=torch.float32), torch.as_tensor(clean, dtype=torch.float32))
    return float(p.mean()), float(s.mean())


def apply_translator(path: str, damaged: torch.Tensor) -> tuple[torch.Tensor, float]:
    """A pix2pix restorer's output for the damaged images in [0, 1], and its seconds per image."""
    from gantool.translation.sides import Sides

    m = loader.load(path, torch.device("cpu"), kinds=("translator",), roles=("generator",))
    sides = Sides.of(m.config, m.header.data)
    t = time.perf_counter()
    with torch.no_grad():
        out = sides.decode(m["generator"](sides.encode(damaged)))
    return out, (time.perf_counter() - t) / len(damaged)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a GAN trained on the data's training set (required unless --write-train)")
    ap.add_argument("--n", type=int, default=64, help="held-out images scored (default 64)")
    ap.add_argument("--tune", type=int, default=16, help="other held-out images the classical parameters are tuned on")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--restarts", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    ap.add_argument("--only", help="comma-separated kinds to run: inpaint, denoise, deblur, x4 (default: all)")
    ap.add_argument("--panel", help="write a PNG: per damage, for 3 images, damaged | best classical | gantool | clean")
    ap.add_argument("--pix2pix", action="append", default=[], metavar="KIND=FILE",
                    help="a learned restorer (train-pix2pix --task restore) for one damage kind")
    ap.add_argument("--finetune", type=int, default=0, metavar="STEPS", help="add gantool restore --finetune STEPS")
    ap.add_argument("--finetune-lr", type=float, default=FinetuneSettings.finetune_lr)
    ap.add_argument("--finetune-features", type=float, default=FinetuneSettings.finetune_features)
    ap.add_argument("--finetune-order", default=FinetuneSettings.finetune_order)
    ap.add_argument("--finetune-average", type=int, default=4, help="best starts fine-tuned per image (default 4)")
    ap.add_argument("--clean", action=argparse.BooleanOptionalAction, default=None,
                    help="a row of undamaged images: the search alone against the fine-tuned (default: with --finetune)")
    ap.add_argument("--write-train", metavar="NPZ", help="write Fashion-MNIST's training set as an .npz and stop")
    args = ap.parse_args()
    if args.write_train:
        np.savez(args.write_train, images=idx_images(FASHION / "train-images-idx3-ubyte.gz"),
                 labels=idx_labels(FASHION / "train-labels-idx1-ubyte.gz"))
        return
    if not args.model:
        ap.error("--model is required")
    if args.threads:
        torch.set_num_threads(args.threads)

    learned = dict(v.split("=", 1) for v in args.pix2pix)
    images, what = held_out()
    loaded = loader.load(args.model, torch.device("cpu"), kinds=("gan",))
    G, norm, cfg = loaded["generator"], loaded.normalization, loaded.config
    size = cfg.image_size
    from gantool.data.sources import ImageData, fit

    images = fit(ImageData(torch.from_numpy(images[:args.n + args.tune].copy()), None, [], "held"), cfg.channels, size).images
    clean = images.float().div(255)
    evaluate, tuning = clean[:args.n], clean[args.n:]
    settings = SearchSettings(steps=args.steps, restarts=args.restarts)
    tuning_settings = FinetuneSettings(finetune=args.finetune, finetune_lr=args.finetune_lr,
                                       finetune_features=args.finetune_features, finetune_order=args.finetune_order)
    average = min(args.finetune_average, args.restarts)
    clean_row = args.finetune > 0 if args.clean is None else args.clean
    tuned = f"--finetune {args.finetune}"
    print(f"# restore quality: {what}, {size}x{size}, {args.n} images scored, classical parameters tuned on "
          f"{len(tuning)} others; gantool: {args.steps} steps x {args.restarts} restarts"
          + (f", {tuned} (lr {args.finetune_lr:g}, features {args.finetune_features:g}, {args.finetune_order} side "
             f"first, the {average} best starts); torch threads {torch.get_num_threads()}" if args.finetune else "")
          + f"; model {args.model}\n")
    print("| damage | method | PSNR dB | SSIM | s/image |")
    print("|---|---|---|---|---|")
    panel_rows = []
    for label, kind, damage in DAMAGES + ([CLEAN] if clean_row else []):
        if args.only and kind not in args.only.split(",") and not (kind == "clean" and args.clean):
            continue
        known = damage.known(size, args.seed)
        missing = (known[0, 0] == 0).numpy() if known is not None else None

        def damage_of(x):
            return damage.simulate(x, known, [image_seed(args.seed, i) for i in x])

        damaged = damage_of(evaluate)
        results = {}
        if kind != "clean":
            damaged_tune = damage_of(tuning)
            params = tune(kind, damaged_tune.numpy(), tuning.numpy(), damage, missing)
            results["damaged input"] = (damage.seen(damaged, cfg.channels, size), 0.0)
            for name, (restored, sec) in classical(kind, damaged.numpy(), damage, missing, params).items():
                shown = name + (f" ({params[name]})" if params[name] is not None and kind != "x4" else "")
                results[shown] = (torch.from_numpy(restored).float(), sec)
        t = time.perf_counter()
        out = restore(G, norm, damaged, damage, known, settings, args.seed)
        sec = (time.perf_counter() - t) / len(damaged)
        restored = norm.from_model(out.images.float())
        pastes = known is not None or damage.downsample > 1 or damage.gray
        results["gantool restore" if kind != "clean" else "gantool invert (latent search)"] = (restored, sec)
        if pastes:
            results["gantool restore --paste-known"] = (paste_known(restored, damaged, damage, known), sec)
        if args.finetune:
            t = time.perf_counter()
            pick = out.candidate_loss.argsort(1)[:, :average]
            starts = out.candidates[torch.arange(len(damaged))[:, None], pick]
            each, _ = finetune_search(loaded, out, damaged, tuning_settings, args.seed, settings.loss,
                                      damage if kind != "clean" else None, known, latents=starts)
            per_start = (time.perf_counter() - t) / len(damaged) / average
            for name, images, cost in ((tuned, each[:, 0], sec + per_start),
                                       (f"{tuned} --finetune-average {average}", each.mean(1),
                                        sec + average * per_start)):
                results[f"gantool {'restore' if kind != 'clean' else 'invert'} {name}"] = (images, cost)
                if pastes:
                    results[f"gantool restore {name} --paste-known"] = (paste_known(images, damaged, damage, known),
                                                                        cost)
        if kind in learned:
            results["pix2pix --task restore"] = apply_translator(learned[kind], damaged)
        scores = {name: psnr_ssim(x, evaluate) for name, (x, _) in results.items()}
        for name, (p, s) in scores.items():
            print(f"| {label} | {name} | {p:.2f} | {s:.4f} | {results[name][1]:.4f} |")
        searched = max((n for n in scores if n.startswith("gantool") and "finetune" not in n), key=lambda n: scores[n][0])
        ours = max((n for n in scores if n.startswith("gantool")), key=lambda n: scores[n][0])
        if kind == "clean":
            if ours != searched or args.finetune:
                print(f"| {label} | **fine-tuned - latent search** | **{scores[ours][0] - scores[searched][0]:+.2f}** | "
                      f"{scores[ours][1] - scores[searched][1]:+.4f} | |")
            continue
        classic = max((n for n in scores if n != "damaged input" and not n.startswith(("gantool", "pix2pix"))),
                      key=lambda n: scores[n][0])
        for what, name in (("gantool (latent search)", searched),) + ((("gantool --finetune", ours),)
                                                                     if args.finetune else ()):
            print(f"| {label} | **{what} - best classical** | **{scores[name][0] - scores[classic][0]:+.2f}** | "
                  f"{scores[name][1] - scores[classic][1]:+.4f} | |")
        if kind in learned:
            p2p = scores["pix2pix --task restore"]
            print(f"| {label} | **pix2pix - best classical** | **{p2p[0] - scores[classic][0]:+.2f}** | "
                  f"{p2p[1] - scores[classic][1]:+.4f} | |")
        learned_col = [results["pix2pix --task restore"][0][:3]] if kind in learned else []
        panel_rows.append([results["damaged input"][0][:3], results[classic][0][:3], results[ours][0][:3],
                           *learned_col, evaluate[:3]])
    if args.panel:
        from torchvision.utils import make_grid

        from gantool.files.images import png_bytes, to_uint8

        tiles = []
        for row in panel_rows:  # per damage: image 1 (damaged, classical, gantool, clean), image 2 ...
            for i in range(3):
                tiles += [col[i] for col in row]
        grid = make_grid(torch.stack(tiles), nrow=3 * len(panel_rows[0]), padding=2, pad_value=1.0)
        grid = torch.nn.functional.interpolate(grid[None], scale_factor=3, mode="nearest")[0]
        Path(args.panel).write_bytes(png_bytes(to_uint8(grid[:cfg.channels])))
        print(f"\npanel: {args.panel} (rows: {', '.join(label for label, _, _ in DAMAGES)}; per image: damaged | best classical | gantool "
              f"{'| pix2pix ' if learned else ''}| clean)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
