"""CycleGAN figures: Fashion-MNIST sneakers <-> ankle boots, digits <-> colour digits, and training throughput.

fashion: a CycleGAN (gantool.translation.cycle_trainer, what `gantool train-cyclegan` runs) trained
on Fashion-MNIST's training sneakers (class 7) and ankle boots (class 9), 28x28, from the Debian
package (/usr/share/datasets/fashion-mnist), for a CPU budget in seconds (a timed calibration of
the step in this process sets the epochs; half constant, half linear decay). Scored on the test
set's 1,000 sneakers and 1,000 boots, never trained on, in the features of a ten-class judge
trained by `gantool train-classifier --data fashion-mnist` (penultimate layer, gantool.metrics):
FID of translated sneakers against the real test boots (and back), the share the judge reads as
the target class, and the cycle reconstruction error (mean |F(G(a)) - a| on [0, 1], and its PSNR).
The untranslated images are the baseline rows of the same table; real training images of the
target class against the real test ones are the floor.

    python bench/cyclegan.py fashion [--budget 300] [--judge FILE] [--threads 1]

digits: label preservation, the measurable stand-in for the paper's FCN score. opencv-doc's 5,000
real 20x20 digits: the even columns of the sheet are domain A (gray), the odd ones are blended over
crops of the offline photos by `gantool blend` (MNIST-M's recipe) as domain B (colour); 1,000
colour digits are held out. A classifier trained by `gantool train-classifier` on the gray digits
only reads the held-out colour digits as they are, and after F (B -> A, `translate --direction
b2a`): the share read as the right digit. No label reaches the CycleGAN.

    python bench/cyclegan.py digits [--budget 180] [--threads 1]

throughput: gantool's trainer (`CycleGANTrainer.train_step`: both domains one uint8 tensor each,
crops and flips as one gather, calls of one network on two batches joined under instance norm, the
pools' draws on the device, stats kept on the device) against a textbook CycleGAN loop of the same
networks, batch, crop, losses (LSGAN, cycle 10, identity 0.5, pools of 50) and optimisers: the
reference's unaligned Dataset of PIL images (per-sample Resize, RandomCrop, RandomHorizontalFlip,
ToTensor, Normalize; a random B per A), a DataLoader, its ImagePool (Python's random, a torch.cat per
image), six generator calls and four discriminator calls a step, `.item()` on every loss. Both read
the same files (256x256 crops of the offline photos, A gray and B colour): gantool once, the textbook
loop per sample and step. The rounds alternate; each side's best round is reported.

    python bench/cyclegan.py throughput [--size 64] [--width 32] [--blocks 6] [--batch 4] [--steps 6]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from pix2pix import best_rounds  # noqa: E402
from real_data import fashion as _split, opencv_digits  # noqa: E402  (Fashion-MNIST's train or test split)

SNEAKER, BOOT = 7, 9


def _judge(args, work: Path) -> str:
    if args.judge:
        return args.judge
    path = work / "judge.safetensors"
    cmd = [sys.executable, "-m", "gantool", "--threads", str(args.threads or 1), "--seed", "0", "-q",
           "train-classifier", "--data", "fashion-mnist", "--epochs", "2", "--width", "16", "-o", str(path)]
    print("# judge:", " ".join(cmd[2:]), file=sys.stderr)
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return str(path)


@torch.no_grad()
def _apply(net, images_u8: torch.Tensor, batch: int = 250) -> torch.Tensor:
    """uint8 (N, C, H, W) through a generator -> floats in [0, 1]."""
    out = [((net(x.float().div(255) * 2 - 1) + 1) / 2).clamp(0, 1) for x in images_u8.split(batch)]
    return torch.cat(out)


def fashion(args) -> None:
    from gantool.metrics import Judge
    from gantool.metrics.frechet import fid
    from gantool.models import loader
    from gantool.translation.cycle_trainer import start

    work = Path(tempfile.mkdtemp(prefix="cyclegan-bench-"))
    x, y = _split("train")
    xt, yt = _split("test")
    rng = np.random.default_rng(args.seed)
    domains = {}
    for name, label in (("sneakers", SNEAKER), ("boots", BOOT)):
        pick = np.flatnonzero(y == label)
        pick = np.sort(rng.choice(pick, min(args.n, len(pick)), replace=False))
        np.save(work / f"{name}.npy", x[pick][:, 0])
        domains[name] = label
    common = {"data_a": str(work / "sneakers.npy"), "data_b": str(work / "boots.npy"), "image_size": 28,
              "ngf": args.width, "ndf": args.width, "n_blocks": args.blocks, "batch_size": args.batch,
              "seed": args.seed}
    cal = start({**common, "epochs": 1, "decay_epochs": 0}, work / "cal", "cpu")
    cal.train_step()
    t0 = time.perf_counter()
    for _ in range(4):
        cal.train_step()
    per_step = (time.perf_counter() - t0) / 4
    per_epoch = cal.batches.per_epoch
    epochs = max(2, round(args.budget / (per_step * per_epoch)))
    trainer = start({**common, "epochs": epochs // 2, "decay_epochs": epochs - epochs // 2}, work / "run", "cpu")
    summary = trainer.run()
    model = loader.load(work / "run" / "model.safetensors", "cpu", kinds=("translator",))
    G, F = model["generator_ab"], model["generator_ba"]
    judge = Judge.load(_judge(args, work))
    names = {"sneakers": "Sneaker", "boots": "Ankle boot"}  # the judge's class of each domain (else its label)
    index = {k: judge.classes.index(v) if v in judge.classes else domains[k] for k, v in names.items()}
    test = {name: torch.from_numpy(xt[yt == label].copy()) for name, label in domains.items()}
    train = {name: torch.from_numpy(np.load(work / f"{name}.npy")[:1000, None].copy()) for name in domains}
    feats, reads = {}, {}

    def judged(key, images):
        f, logits = judge.extract(images, logits=True)
        feats[key], reads[key] = f, logits.argmax(1)

    for name in domains:
        judged(("real", name), test[name])
        judged(("train", name), train[name])
    made = {"sneakers": _apply(G, test["sneakers"]), "boots": _apply(F, test["boots"])}
    back = {"sneakers": _apply(F, (made["sneakers"] * 255).round().to(torch.uint8)),
            "boots": _apply(G, (made["boots"] * 255).round().to(torch.uint8))}
    for name in domains:
        judged(("made", name), made[name])
    print(f"# Fashion-MNIST sneakers (A, class 7) <-> ankle boots (B, class 9), 28x28: CycleGAN width {args.width}, "
          f"{args.blocks} residual blocks, batch {args.batch}, {args.n} training images a domain, "
          f"{summary['steps']} steps ({epochs} epochs) in {summary['seconds']:.0f} s on {torch.get_num_threads()} "
          f"CPU thread(s) (budget {args.budget:.0f} s); scored on the 1,000 + 1,000 test images; judge "
          f"{Path(judge.identity.split('@')[0]).name}, penultimate features\n")
    print("| direction | images | FID to the real target class | read as the target class | "
          "cycle error, mean abs. F(G(x)) - x | cycle PSNR dB |")
    print("|---|---|---|---|---|---|")
    for src, dst, way in (("sneakers", "boots", "A -> B"), ("boots", "sneakers", "B -> A")):
        label = index[dst]
        real = feats[("real", dst)]
        x01 = test[src].float() / 255
        err = (back[src] - x01).abs().mean().item()
        mse = ((back[src] - x01) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
        psnr = (10 * torch.log10(1 / mse)).mean().item()
        rows = [(f"test {src}, untranslated", ("real", src), "", ""),
                (f"test {src}, translated", ("made", src), f"{err:.4f}", f"{psnr:.2f}"),
                (f"train {dst} (real; the floor)", ("train", dst), "", "")]
        for what, key, e, p in rows:
            share = (reads[key] == label).float().mean().item()
            print(f"| {way} | {what} | {fid(real, feats[key]):.2f} | {100 * share:.1f}% | {e} | {p} |")
    if args.panel:
        from torchvision.utils import make_grid

        from gantool.files.images import png_bytes, to_uint8

        cells = []
        for src in domains:
            x01 = test[src][:8].float() / 255
            cells += [x01, made[src][:8], back[src][:8]]
        grid = torch.stack([torch.cat(cells[i:i + 3], 3) for i in (0, 3)]).flatten(0, 1)
        Path(args.panel).write_bytes(png_bytes(to_uint8(make_grid(grid, nrow=4, padding=2, pad_value=1.0))))


def digits(args) -> None:
    """Gray digits <-> colour digits: label preservation of F (colour -> gray) under a gray-only classifier."""
    from gantool.classify.classifiers import load_classifier
    from gantool.models import loader
    from gantool.translation.cycle_trainer import start

    sys.path.insert(0, str(ROOT / "bench"))
    from pix2pix import photos

    work = Path(tempfile.mkdtemp(prefix="cyclegan-digits-"))
    digits, labels = opencv_digits("all")
    cells, labels = digits.reshape(50, 100, 20, 20), labels.reshape(50, 100)  # 50 rows of 100, 5 rows a class
    gray, colour_src = cells[:, 0::2].reshape(-1, 20, 20), cells[:, 1::2].reshape(-1, 20, 20)
    gl, cl = labels[:, 0::2].reshape(-1), labels[:, 1::2].reshape(-1)
    classes = np.array([str(i) for i in range(10)])
    np.savez(work / "gray.npz", images=gray, labels=gl, classes=classes)
    np.savez(work / "colour-src.npz", images=colour_src, labels=cl, classes=classes)
    (work / "photos").mkdir()
    for name, im in photos().items():
        Image.fromarray(im).save(work / "photos" / f"{Path(name).stem}.png")
    gt = [sys.executable, "-m", "gantool", "--threads", str(args.threads or 1), "--seed", str(args.seed), "-q"]
    subprocess.run([*gt, "blend", "--data", str(work / "colour-src.npz"), "--photos", str(work / "photos"),
                    "-o", str(work / "colour.npz")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    colour = np.load(work / "colour.npz")
    c_images, c_labels = colour["images"], colour["labels"]
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(c_images))
    test, train = order[:1000], order[1000:]
    np.save(work / "colour-train.npy", c_images[train])  # the CycleGAN sees no label of either domain
    np.save(work / "gray-train.npy", gray)
    subprocess.run([*gt, "train-classifier", "--data", str(work / "gray.npz"), "--epochs", str(args.clf_epochs),
                    "-o", str(work / "gray-clf.safetensors")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    common = {"data_a": str(work / "gray-train.npy"), "data_b": str(work / "colour-train.npy"), "image_size": 20,
              "ngf": args.width, "ndf": args.width, "n_blocks": args.blocks, "batch_size": args.batch,
              "seed": args.seed}
    cal = start({**common, "epochs": 1, "decay_epochs": 0}, work / "cal", "cpu")
    cal.train_step()
    t0 = time.perf_counter()
    for _ in range(4):
        cal.train_step()
    per_step = (time.perf_counter() - t0) / 4
    epochs = max(2, round(args.budget / (per_step * cal.batches.per_epoch)))
    summary = start({**common, "epochs": epochs // 2, "decay_epochs": epochs - epochs // 2}, work / "run",
                    "cpu").run()
    F = loader.load(work / "run" / "model.safetensors", "cpu", kinds=("translator",))["generator_ba"]
    clf = load_classifier(str(work / "gray-clf.safetensors"), "cpu")
    x = torch.from_numpy(c_images[test]).float() / 255
    y = torch.from_numpy(c_labels[test])
    with torch.no_grad():
        made = ((F(x * 2 - 1) + 1) / 2).clamp(0, 1)
        plain = (clf(x).argmax(1) == y).float().mean().item()
        translated = (clf(made).argmax(1) == y).float().mean().item()
        gray_acc = (clf(torch.from_numpy(gray[:1000, None]).float() / 255).argmax(1)
                    == torch.from_numpy(gl[:1000])).float().mean().item()
    print(f"# digits (opencv-doc's digits.png, 20x20: even columns gray, odd columns blended over photo crops by "
          f"`gantool blend`) <-> colour digits; CycleGAN width {args.width}, {args.blocks} residual blocks, batch "
          f"{args.batch}, {summary['steps']} steps ({epochs} epochs) in {summary['seconds']:.0f} s "
          f"(budget {args.budget:.0f} s); classifier trained on the gray digits only ({args.clf_epochs} epochs); "
          f"scored on 1,000 colour digits the CycleGAN never saw\n")
    print("| classifier input | accuracy |")
    print("|---|---|")
    print(f"| colour digits, untranslated (the classifier reads them as luma) | {100 * plain:.1f}% |")
    print(f"| colour digits translated to gray by F (b2a) | {100 * translated:.1f}% |")
    print(f"| gray digits (its own domain, training images; the ceiling) | {100 * gray_acc:.1f}% |")


class TextbookPool:
    """The reference's ImagePool (util/image_pool.py), as written there."""

    def __init__(self, size):
        self.size, self.num, self.images = size, 0, []

    def query(self, images):
        out = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if self.num < self.size:
                self.num += 1
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                i = random.randint(0, self.size - 1)
                tmp = self.images[i].clone()
                self.images[i] = image
                out.append(tmp)
            else:
                out.append(image)
        return torch.cat(out, 0)


def throughput(args) -> None:
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    sys.path.insert(0, str(ROOT / "bench"))
    from pix2pix import photos

    from gantool.models.cyclegan import CycleGANConfig, build
    from gantool.translation.cycle_trainer import start

    work = Path(tempfile.mkdtemp(prefix="cyclegan-tp-"))
    (work / "trainA").mkdir()
    (work / "trainB").mkdir()
    load = round(args.size * 1.12)
    pool = list(photos().values())
    for i in range(args.batch * 8):  # 256x256 crops of the photos as files: A gray (as RGB), B colour
        im = pool[i % len(pool)]
        h, w = im.shape[:2]
        y, x = (i * 37) % max(1, h - 256), (i * 53) % max(1, w - 256)
        arr = np.ascontiguousarray(im[y:y + 256, x:x + 256])
        Image.fromarray(arr).convert("L").convert("RGB").save(work / "trainA" / f"{i}.png")
        Image.fromarray(np.ascontiguousarray(pool[(i + 3) % len(pool)][:256, :256])).save(work / "trainB" / f"{i}.png")
    ours = start({"data": str(work), "image_size": args.size, "load_size": load, "ngf": args.width, "ndf": args.width,
                  "n_blocks": args.blocks, "batch_size": args.batch, "epochs": 1000}, work / "run", "cpu")

    class Unaligned(Dataset):
        def __init__(self):
            self.a, self.b = sorted((work / "trainA").iterdir()), sorted((work / "trainB").iterdir())
            self.tf = transforms.Compose([transforms.Resize(load, Image.BICUBIC), transforms.RandomCrop(args.size),
                                          transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                          transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

        def __len__(self):
            return max(len(self.a), len(self.b))

        def __getitem__(self, i):
            a = Image.open(self.a[i % len(self.a)]).convert("RGB")
            b = Image.open(self.b[random.randint(0, len(self.b) - 1)]).convert("RGB")
            return self.tf(a), self.tf(b)

    cfg = CycleGANConfig(image_size=args.size, ngf=args.width, ndf=args.width, n_blocks=args.blocks,
                         d_layers=ours.cfg.d_layers)
    torch.manual_seed(0)
    nets = build(cfg)
    G_A, G_B, D_A, D_B = nets["generator_ab"], nets["generator_ba"], nets["discriminator_b"], nets["discriminator_a"]
    opt_g = torch.optim.Adam(list(G_A.parameters()) + list(G_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    mse, l1 = torch.nn.MSELoss(), torch.nn.L1Loss()
    loader = DataLoader(Unaligned(), batch_size=args.batch, shuffle=True, drop_last=True, num_workers=0)
    pool_a, pool_b = TextbookPool(50), TextbookPool(50)

    def gan(pred, real: bool):
        return mse(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

    def reference(steps: int) -> None:
        done = 0
        while done < steps:
            for real_A, real_B in loader:
                fake_B = G_A(real_A)
                rec_A = G_B(fake_B)
                fake_A = G_B(real_B)
                rec_B = G_A(fake_A)
                for p in chain_params(D_A, D_B):
                    p.requires_grad = False
                opt_g.zero_grad()
                idt_A, idt_B = G_A(real_B), G_B(real_A)
                loss_idt = l1(idt_A, real_B) * 10 * 0.5 + l1(idt_B, real_A) * 10 * 0.5
                loss_G = (gan(D_A(fake_B), True) + gan(D_B(fake_A), True) + l1(rec_A, real_A) * 10
                          + l1(rec_B, real_B) * 10 + loss_idt)
                loss_G.backward()
                opt_g.step()
                for p in chain_params(D_A, D_B):
                    p.requires_grad = True
                opt_d.zero_grad()
                fb = pool_b.query(fake_B)
                loss_D_A = (gan(D_A(real_B), True) + gan(D_A(fb.detach()), False)) * 0.5
                loss_D_A.backward()
                fa = pool_a.query(fake_A)
                loss_D_B = (gan(D_B(real_A), True) + gan(D_B(fa.detach()), False)) * 0.5
                loss_D_B.backward()
                opt_d.step()
                print(loss_G.item(), loss_D_A.item(), loss_D_B.item(), file=open("/dev/null", "w"))
                done += 1
                if done == steps:
                    return

    best = best_rounds(ours, reference, args.steps, args.rounds, args.batch)
    print(f"# CycleGAN training throughput: {args.size}x{args.size} crops of {load}, RGB <-> RGB, width {args.width}, "
          f"{args.blocks} residual blocks, batch {args.batch}, identity 0.5, pools of 50, "
          f"{torch.get_num_threads()} thread(s), best of {args.rounds} rounds of {args.steps} steps\n")
    print("| loop | image pairs/s |")
    print("|---|---|")
    for name, v in best.items():
        print(f"| {name} | {v:.2f} |")
    print(f"\ngantool / textbook: {best['gantool'] / best['textbook']:.2f}x (target >= 1.3x)")


def chain_params(*nets):
    return [p for net in nets for p in net.parameters()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    f = sub.add_parser("fashion")
    f.add_argument("--budget", type=float, default=300, help="training seconds (CPU), calibrated in this process")
    f.add_argument("--n", type=int, default=2000, help="training images a domain")
    f.add_argument("--width", type=int, default=16)
    f.add_argument("--blocks", type=int, default=6)
    f.add_argument("--batch", type=int, default=8)
    f.add_argument("--judge", help="a ten-class Fashion-MNIST classifier file (else one is trained)")
    f.add_argument("--panel", help="write a PNG: test images | translated | reconstructed, sneakers then boots")
    d = sub.add_parser("digits")
    d.add_argument("--budget", type=float, default=180, help="training seconds (CPU), calibrated in this process")
    d.add_argument("--width", type=int, default=16)
    d.add_argument("--blocks", type=int, default=6)
    d.add_argument("--batch", type=int, default=8)
    d.add_argument("--clf-epochs", type=int, default=5)
    t = sub.add_parser("throughput")
    t.add_argument("--size", type=int, default=64)
    t.add_argument("--width", type=int, default=32)
    t.add_argument("--blocks", type=int, default=6)
    t.add_argument("--batch", type=int, default=4)
    t.add_argument("--steps", type=int, default=6)
    t.add_argument("--rounds", type=int, default=3)
    for p in (f, d, t):
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    {"fashion": fashion, "digits": digits, "throughput": throughput}[args.what](args)


if __name__ == "__main__":
    main()
