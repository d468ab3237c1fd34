"""pix2pix figures on real photos: colorization at equal training time, and training throughput.

colorize: the L1-only model (--gan-weight 0) against pix2pix, trained for the same time on
random crops of colour photos that install offline (opencv-doc's examples/data, scikit-image's
bundled photos, scikit-learn's two), scored on held-out photos never trained on: PSNR and SSIM
against the true colours, and the ratio of the outputs' colourfulness (Hasler & Suesstrunk) to the
truth's. Equal time: pix2pix trains --epochs; the L1 model gets the steps that take as long (its
steps are cheaper, no D), from a timed calibration of both at the start of this process (on a
machine whose load changes during the run, the seconds each took can differ: both are printed).
Writes a panel: per held-out photo, gray | L1 | pix2pix | truth.

    python bench/pix2pix.py colorize [--epochs 800] [--gan-weight 1] [--panel docs/pix2pix-colorize.png]

throughput: gantool's trainer (`Pix2PixTrainer.train_step`, data one uint8 tensor, crops and flips
as one gather, stats kept on the device) against a textbook pix2pix loop of the same networks,
batch, crop and optimiser: a torchvision-style Dataset of PIL images with per-sample Resize,
RandomCrop, RandomHorizontalFlip, ToTensor, Normalize, a DataLoader, `.item()` on every loss. Both read the same files (256x256 crops of the
photos, A gray and B colour): gantool once, at the start; the textbook loop per sample and step. The
rounds alternate (both see the same background load); each side's best round is reported.

    python bench/pix2pix.py throughput [--size 64] [--batch 16] [--steps 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gantool.translation.colour import colourfulness, lightness  # noqa: E402

OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")
# natural colour photos among opencv-doc's examples (no logos, charts, text or renders)
PHOTOS = ["aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "board.jpg",
          "building.jpg", "butterfly.jpg", "chicky_512.png", "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg",
          "HappyFish.jpg", "leuvenA.jpg", "lena.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png", "smarties.png",
          "squirrel_cls.jpg", "starry_night.jpg", "stuff.jpg"]
HELD_OUT = ["fruits.jpg", "baboon.jpg", "building.jpg", "butterfly.jpg", "smarties.png", "coffee"]


def photos() -> dict[str, np.ndarray]:
    """name -> RGB uint8 (H, W, 3), every offline photo found."""
    out = {}
    for name in PHOTOS:
        if (OPENCV / name).exists():
            out[name] = np.asarray(Image.open(OPENCV / name).convert("RGB"))
    try:
        import skimage.data as sd

        for name in ("astronaut", "chelsea", "coffee", "rocket", "cat"):
            out[name] = getattr(sd, name)()
    except ImportError:
        print("scikit-image is not installed (pip install -e '.[bench]'): fewer photos", file=sys.stderr)
    from sklearn.datasets import load_sample_images

    for i, im in enumerate(load_sample_images().images):
        out[f"sklearn{i}"] = im
    return out


def colorize(args) -> None:
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    from gantool.models import loader
    from gantool.translation.sides import Sides
    from gantool.translation.trainer import start

    all_photos = photos()
    held = {k: v for k, v in all_photos.items() if k in HELD_OUT}
    train = {k: v for k, v in all_photos.items() if k not in HELD_OUT}
    work = Path(tempfile.mkdtemp(prefix="pix2pix-bench-"))
    (work / "train").mkdir()
    for k, v in train.items():
        Image.fromarray(v).save(work / "train" / f"{Path(k).stem}.png")
    common = {"data": str(work / "train"), "task": "colorize", "image_size": args.size, "load_size": args.load,
              "ngf": args.width, "ndf": args.width, "batch_size": args.batch, "seed": args.seed}

    def trainer(name: str, epochs: int, decay: int, **kw):
        return start({**common, "epochs": epochs, "decay_epochs": decay, **kw}, {}, work / name, "cpu")

    gan_kw = {"label_smoothing": args.label_smoothing, "gan_weight": args.gan_weight,
              **({"d_layers": args.d_layers} if args.d_layers else {})}
    # calibration: seconds per step of each, in this process
    per_step = {}
    for name, kw in (("gan", gan_kw), ("l1", {"gan_weight": 0.0})):
        t = trainer(f"cal-{name}", 1, 0, **kw)
        t.train_step()
        t0 = time.perf_counter()
        for _ in range(5):
            t.train_step()
        per_step[name] = (time.perf_counter() - t0) / 5
    gan = trainer("pix2pix", args.epochs // 2, args.epochs - args.epochs // 2, **gan_kw)
    l1_epochs = max(1, round(args.epochs * per_step["gan"] / per_step["l1"]))
    l1 = trainer("l1", l1_epochs // 2, l1_epochs - l1_epochs // 2, gan_weight=0.0)
    print(f"# colorization: {len(train)} training photos squashed to {args.load}x{args.load}, random "
          f"{args.size}x{args.size} crops, U-Net/PatchGAN width {args.width}, batch {args.batch}, pix2pix's GAN weight "
          f"{args.gan_weight:g} (L1 100); "
          f"{len(held)} held-out photos ({', '.join(held)}) at {args.eval_side}px on the shorter side\n")
    seconds = {}
    for name, t in (("L1 only (--gan-weight 0)", l1), ("pix2pix", gan)):
        s = t.run()
        seconds[name] = (s["seconds"], s["steps"])
    rows, panel = [], []
    models = {"L1 only (--gan-weight 0)": work / "l1" / "model.safetensors", "pix2pix": work / "pix2pix" / "model.safetensors"}
    truths = [_fit_short(v, args.eval_side) for v in held.values()]
    panel = [[gray_of(x) for x in truths]]
    for name, path in models.items():
        m = loader.load(path, "cpu", kinds=("translator",), roles=("generator",))
        sides = Sides.of(m.config, m.header.data)
        outs = []
        with torch.no_grad():
            for x in truths:
                outs.append(sides.decode(m["generator"](sides.encode(x)), x))
        p = float(np.mean([peak_signal_noise_ratio(o, x, data_range=1.0) for o, x in zip(outs, truths)]))
        s = float(np.mean([structural_similarity_index_measure(o, x, data_range=1.0) for o, x in zip(outs, truths)]))
        ratio = float(np.mean([colourfulness(o) / colourfulness(x) for o, x in zip(outs, truths)]))
        rows.append((name, p, s, ratio, *seconds[name]))
        panel.append(outs)
    panel.append(truths)
    gray_p = float(np.mean([peak_signal_noise_ratio(g, x, data_range=1.0) for g, x in zip(panel[0], truths)]))
    print("| model | PSNR dB | SSIM | colourfulness / truth's | train s | steps |")
    print("|---|---|---|---|---|---|")
    print(f"| the gray input | {gray_p:.2f} | | 0.00 | | |")
    for name, p, s, ratio, sec, steps in rows:
        print(f"| {name} | {p:.2f} | {s:.4f} | {ratio:.2f} | {sec:.0f} | {steps} |")
    (_, pl, _, rl, *_), (_, pg, _, rg, *_) = rows
    print(f"\npix2pix / L1 colourfulness ratio: {rg / rl:.2f}x (target >= 1.3x); PSNR pix2pix - L1: {pg - pl:+.2f} dB "
          "(target >= -1 dB)")
    if args.panel:
        write_panel(panel, args.panel)
        print(f"panel: {args.panel} (per photo: gray | L1 only | pix2pix | truth)")


def _fit_short(im: np.ndarray, side: int) -> torch.Tensor:
    h, w = im.shape[:2]
    scale = side / min(h, w)
    small = Image.fromarray(im).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1)[None].float() / 255


def gray_of(x: torch.Tensor) -> torch.Tensor:
    from gantool.translation.colour import from_lab

    l_ = lightness(x)
    return from_lab(l_, torch.zeros_like(l_).expand(-1, 2, -1, -1))


def write_panel(columns: list[list[torch.Tensor]], path: str) -> None:
    """A row per photo, a column per list; each cell a centre square, so photos of any shape line up."""
    from torchvision.utils import make_grid

    from gantool.files.images import png_bytes, to_uint8

    side = min(min(x.shape[-2:]) for col in columns for x in col)
    cells = []
    for i in range(len(columns[0])):
        for col in columns:
            x = col[i][0]
            h, w = x.shape[-2:]
            cells.append(x[:, (h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side])
    Path(path).write_bytes(png_bytes(to_uint8(make_grid(torch.stack(cells), nrow=len(columns), padding=2,
                                                        pad_value=1.0))))


def throughput(args) -> None:
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    from gantool.gan import losses
    from gantool.models.pix2pix import Pix2PixConfig, build
    from gantool.translation.trainer import start

    work = Path(tempfile.mkdtemp(prefix="pix2pix-tp-"))
    (work / "A").mkdir()
    (work / "B").mkdir()
    load = round(args.size * 1.12)
    pool = list(photos().values())
    for i in range(args.batch * 8):  # 256x256 crops of the photos as files: A gray, B colour, decoded per step
        im = pool[i % len(pool)]
        h, w = im.shape[:2]
        y, x = (i * 37) % max(1, h - 256), (i * 53) % max(1, w - 256)
        arr = np.ascontiguousarray(im[y:y + 256, x:x + 256])
        Image.fromarray(arr).convert("L").convert("RGB").save(work / "A" / f"{i}.png")
        Image.fromarray(arr).save(work / "B" / f"{i}.png")
    ours = start({"data": str(work), "image_size": args.size, "load_size": load, "ngf": args.width, "ndf": args.width,
                  "batch_size": args.batch, "epochs": 1000}, {}, work / "run", "cpu")

    class Pairs(Dataset):
        def __init__(self):
            self.files = sorted((work / "A").iterdir())
            self.tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

        def __len__(self):
            return len(self.files)

        def __getitem__(self, i):
            a, b = Image.open(self.files[i]).convert("RGB"), Image.open(work / "B" / self.files[i].name).convert("RGB")
            a, b = a.resize((load, load), Image.BICUBIC), b.resize((load, load), Image.BICUBIC)
            x, y = np.random.randint(0, load - args.size + 1, 2)
            a, b = a.crop((x, y, x + args.size, y + args.size)), b.crop((x, y, x + args.size, y + args.size))
            if np.random.rand() < 0.5:
                a, b = a.transpose(Image.FLIP_LEFT_RIGHT), b.transpose(Image.FLIP_LEFT_RIGHT)
            return self.tf(a), self.tf(b)

    cfg = Pix2PixConfig(image_size=args.size, in_channels=3, out_channels=3, ngf=args.width, ndf=args.width,
                        d_layers=ours.cfg.d_layers)
    torch.manual_seed(0)
    nets = build(cfg)
    G, D = nets["generator"], nets["discriminator"]
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    loader = DataLoader(Pairs(), batch_size=args.batch, shuffle=True, drop_last=True, num_workers=0)
    loss = losses.get("nonsaturating")

    def reference(steps: int) -> None:
        done = 0
        while done < steps:
            for a, b in loader:
                fake = G(a)
                pred_fake = D(torch.cat([a, fake.detach()], 1))
                pred_real = D(torch.cat([a, b], 1))
                loss_d = 0.5 * (bce(pred_fake, torch.zeros_like(pred_fake)) + bce(pred_real, torch.ones_like(pred_real)))
                opt_d.zero_grad()
                loss_d.backward()
                opt_d.step()
                for p in D.parameters():
                    p.requires_grad = False
                pred = D(torch.cat([a, fake], 1))
                loss_g = bce(pred, torch.ones_like(pred)) + 100 * torch.nn.functional.l1_loss(fake, b)
                opt_g.zero_grad()
                loss_g.backward()
                opt_g.step()
                for p in D.parameters():
                    p.requires_grad = True
                print(loss_d.item(), loss_g.item(), file=open("/dev/null", "w"))
                done += 1
                if done == steps:
                    return

    del loss
    best = best_rounds(ours, reference, args.steps, args.rounds, args.batch)
    print(f"# pix2pix training throughput: {args.size}x{args.size} crops, RGB -> RGB, width {args.width}, batch "
          f"{args.batch}, {torch.get_num_threads()} threads, best of {args.rounds} rounds of {args.steps} steps\n")
    print("| loop | pairs/s |")
    print("|---|---|")
    for name, v in best.items():
        print(f"| {name} | {v:.1f} |")
    print(f"\ngantool / textbook: {best['gantool'] / best['textbook']:.2f}x (target >= 1.3x)")


def best_rounds(ours, reference, steps: int, rounds: int, batch: int) -> dict:
    """Pairs a second, best of `rounds` alternating rounds of `steps` steps: gantool's trainer
    (`ours.train_step()`, the stats read once a round, as run() reads them once per logging block)
    against `reference(steps)`, after a warm-up step of each."""
    def gantool_steps(n: int) -> None:
        acc = None
        for _ in range(n):
            s = ours.train_step()
            acc = s if acc is None else acc + s
        acc.tolist()

    best = {"gantool": 0.0, "textbook": 0.0}
    gantool_steps(1)
    reference(1)
    for _ in range(rounds):
        for name, fn in (("gantool", gantool_steps), ("textbook", reference)):
            t = time.perf_counter()
            fn(steps)
            best[name] = max(best[name], steps * batch / (time.perf_counter() - t))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("colorize")
    c.add_argument("--epochs", type=int, default=800, help="pix2pix's epochs (half constant, half decay)")
    c.add_argument("--size", type=int, default=64)
    c.add_argument("--load", type=int, default=128)
    c.add_argument("--width", type=int, default=32)
    c.add_argument("--batch", type=int, default=8)
    c.add_argument("--label-smoothing", type=float, default=1.0)
    c.add_argument("--gan-weight", type=float, default=1.0, help="pix2pix's GAN weight (its L1 weight stays 100)")
    c.add_argument("--d-layers", type=int)
    c.add_argument("--eval-side", type=int, default=128)
    c.add_argument("--panel")
    t = sub.add_parser("throughput")
    t.add_argument("--size", type=int, default=64)
    t.add_argument("--width", type=int, default=32)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--steps", type=int, default=10)
    t.add_argument("--rounds", type=int, default=3)
    for p in (c, t):
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    colorize(args) if args.what == "colorize" else throughput(args)


if __name__ == "__main__":
    main()
