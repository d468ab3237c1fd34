"""Training throughput: gantool's trainer against a textbook PyTorch DCGAN loop, in images/second.

Two configurations, each measured both ways in this process, on the same data and device:
  a  the 64x64 DCGAN (nz 100, ngf = ndf = 64, batch 64) on the digits resized to 64x64, 1 channel
  b  gantool's default recipe, `TrainSpec()`: digits at 28x28, its nz/ngf/ndf, batch 64
with the nonsaturating loss and Adam(2e-4, betas (0.5, 0.999)) on both sides.

gantool: `GANTrainer.train_step()` in a loop (the data is one uint8 tensor on the device, batches
are index gathers, the stats stay on the device), synchronised once per timed block, as run()
does every log_every steps; images = steps * d_steps * batch_size. run()'s per-epoch files
(sample grid, model, checkpoint, losses) are not part of the figure.

reference: the loop of PyTorch's examples/dcgan/main.py. A torchvision-style Dataset holds the
original 8x8 digits as PIL images and applies Resize, ToTensor, Normalize per sample; a DataLoader
(batch 64, shuffle, num_workers 0, drop_last) feeds separate D and G steps with BCE-with-logits,
`.item()` on the losses and a print every step (to os.devnull unless --ref-log says otherwise).
Same Generator/Discriminator classes and config, same optimizer, batch size and device: only the
loop differs. Backend flags gantool sets on CUDA (TF32, cudnn.benchmark) are process-wide, so the
reference gets them too; AMP, channels_last and fused Adam stay gantool's own.

After warm-up steps on both sides, --rounds blocks of --steps steps alternate between gantool and
the reference (so both see the same background load) and each side's best block is reported.

--ddp: gantool's trainer in 1 process against 2 CPU processes over Gloo (DistributedDataParallel, as
under `torchrun --nproc_per_node 2`, started here by torch.multiprocessing), with the same global
batch, on the CPU; the 1 process takes every core (or --threads), each of the 2 half of them. Images
per second count the global batch; the rounds alternate, and the ratio is 2 processes over 1.

Run:  .venv/bin/python bench/train_throughput.py [--device cpu] [--only a|b] [--steps N] [--json]
                                                [--compile] [--amp auto|on|off]
      .venv/bin/python bench/train_throughput.py --ddp [--only a|b] [--steps N]
      (or `make bench`). On a 2-core CPU the defaults take about a minute. On a shared, busy
      machine 2 OpenMP threads fight the other load and the figures swing 3x: --threads 1 steadies them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from gantool.data.sources import load_data
from gantool.device import available_cores, resolve_device
from gantool.gan.distributed import World
from gantool.gan.spec import Runtime, TrainSpec
from gantool.gan.trainer import GANTrainer
from gantool.models.dcgan import DCGANConfig, Discriminator, Generator
from gantool.models.dcgan_config import size_for

# name -> (what it is, the TrainSpec, default timed steps per block and warm-up steps on CPU)
CONFIGS = {
    "a": ("DCGAN 64x64, nz 100, ngf=ndf 64", TrainSpec(image_size=64, nz=100, ngf=64, ndf=64), 5, 1),
    "b": ("gantool default (TrainSpec())", TrainSpec(), 80, 5),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class GantoolLoop:
    """GANTrainer.train_step(), accumulating the stats on the device as run() does."""

    def __init__(self, spec: TrainSpec, data, runtime: Runtime, out: str, world: World | None = None):
        self.trainer = GANTrainer(spec, data, out, runtime, world=world)
        self.device, self.cfg = self.trainer.device, self.trainer.cfg
        self.images_per_step = spec.d_steps * self.trainer.batches.batch_size
        self.acc = torch.zeros(4, device=self.device)

    def step(self) -> None:
        self.acc += self.trainer.train_step()

    def finish(self) -> None:
        self.acc.tolist()  # the host sync run() does every log_every steps
        sync(self.device)
        self.trainer.world.barrier()  # under DDP: a block ends when every process is done


class DigitsPIL(Dataset):
    """The textbook Dataset: PIL images and a per-sample transform, like torchvision.datasets.MNIST."""

    def __init__(self, images_uint8: torch.Tensor, labels: torch.Tensor, transform):
        from PIL import Image

        self.images = [Image.fromarray(im[0].numpy()) for im in images_uint8]
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


class ReferenceLoop:
    """The loop of examples/dcgan/main.py over the same architecture, one iteration per step()."""

    def __init__(self, cfg: DCGANConfig, spec: TrainSpec, device: torch.device, log):
        raw = load_data(spec.data, image_size=8)  # the original 8x8 digits, resized per sample below
        dataset = DigitsPIL(raw.images, raw.labels, transforms.Compose([
            transforms.Resize(cfg.image_size), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]))
        self.loader = DataLoader(dataset, batch_size=spec.batch_size, shuffle=True, num_workers=0, drop_last=True)
        torch.manual_seed(spec.seed)
        self.netG, self.netD = Generator(cfg).to(device), Discriminator(cfg).to(device)
        betas = (spec.beta1, spec.beta2)
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=spec.lr_d, betas=betas)
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=spec.lr_g, betas=betas)
        self.criterion = torch.nn.BCEWithLogitsLoss()
        self.cfg, self.device, self.log = cfg, device, log
        self.images_per_step = spec.batch_size
        self.batches = self._batches()

    def _batches(self):
        epoch = 0
        while True:
            for i, (real, _) in enumerate(self.loader):
                yield epoch, i, real
            epoch += 1

    def step(self) -> None:
        netD, netG, criterion, device = self.netD, self.netG, self.criterion, self.device
        epoch, i, real_cpu = next(self.batches)
        # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        real = real_cpu.to(device)
        b = real.size(0)
        label = torch.full((b,), 1.0, device=device)
        output = netD(real)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = torch.sigmoid(output).mean().item()
        noise = torch.randn(b, self.cfg.nz, device=device)
        fake = netG(noise)
        label.fill_(0.0)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = torch.sigmoid(output).mean().item()
        errD = errD_real + errD_fake
        self.optD.step()
        # (2) update G: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(1.0)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = torch.sigmoid(output).mean().item()
        self.optG.step()
        if self.log is not None:
            print(f"[{epoch}][{i}/{len(self.loader)}] Loss_D: {errD.item():.4f} Loss_G: {errG.item():.4f} "
                  f"D(x): {D_x:.4f} D(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}", file=self.log)

    def finish(self) -> None:
        sync(self.device)


def images_per_second(loop, steps: int) -> float:
    """Time one block of steps, synchronising the device before and after."""
    loop.finish()
    t0 = time.perf_counter()
    for _ in range(steps):
        loop.step()
    loop.finish()
    return steps * loop.images_per_step / (time.perf_counter() - t0)


def ddp_worker(rank: int, size: int, port: int, name: str, steps: int, warmup: int, rounds: int, threads,
               turns, results) -> None:
    """One of `size` processes (torch.multiprocessing): the environment torchrun would give it, then
    `warmup` untimed steps and `rounds` timed blocks of `steps`, each when `turns[rank]` says go."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(size), RANK=str(rank),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(size))
    world = World.from_environ()
    torch.set_num_threads(world.threads(threads))
    _, spec, _, _ = CONFIGS[name]
    data = load_data(spec.data, image_size=spec.image_size, size_rule=size_for)
    with world.session(), tempfile.TemporaryDirectory() as out:
        world.join(torch.device("cpu"))
        loop = GantoolLoop(spec, data, Runtime(device="cpu"), out, world)
        images_per_second(loop, warmup)
        results.put(None)  # ready
        for _ in range(rounds):
            turns[rank].get()
            rate = images_per_second(loop, steps)
            if rank == 0:
                results.put(rate)


def ddp_figures(args) -> None:
    """Images/second in 1 process and in 2 processes over Gloo, alternating rounds (best of each)."""
    import torch.multiprocessing as mp

    name = args.only or "b"
    title, spec, steps, warmup = CONFIGS[name]
    steps, warmup = args.steps or steps, args.warmup if args.warmup is not None else warmup
    threads = args.threads or available_cores()
    print(f"--ddp: {name} ({title}), global batch {spec.batch_size}, {args.rounds} x {steps} steps each; 1 process "
          f"with {threads} thread(s), 2 with {World(size=2, local_size=2).threads(args.threads)} each", file=sys.stderr)
    torch.set_num_threads(threads)
    data = load_data(spec.data, image_size=spec.image_size, size_rule=size_for)
    ctx = mp.get_context("spawn")
    turns, results = [ctx.SimpleQueue() for _ in range(2)], ctx.SimpleQueue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as out:
        one = GantoolLoop(spec, data, Runtime(device="cpu"), out)
        images_per_second(one, warmup)
        workers = mp.start_processes(ddp_worker, args=(2, port, name, steps, warmup, args.rounds, args.threads, turns,
                                                       results), nprocs=2, join=False, start_method="spawn")
        for _ in range(2):
            results.get()
        rates = {1: [], 2: []}
        for _ in range(args.rounds):  # the 2 processes wait while the 1 runs, and the other way round
            rates[1].append(images_per_second(one, steps))
            for turn in turns:
                turn.put(True)
            rates[2].append(results.get())
        workers.join()
    best = {n: max(r) for n, r in rates.items()}
    print(f"{'processes':<10} {'img/s':>8}  rounds")
    for n, r in rates.items():
        print(f"{n:<10} {best[n]:>8.1f}  {', '.join(f'{x:.1f}' for x in r)}")
    print(f"ratio 2/1  {best[2] / best[1]:.2f}")
    if args.json:
        print(json.dumps({"config": name, "batch_size": spec.batch_size, "steps": steps, "rounds": args.rounds,
                          "img_s": {str(n): round(b, 1) for n, b in best.items()},
                          "ratio": round(best[2] / best[1], 3), "torch": torch.__version__}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N|mps (default auto)")
    p.add_argument("--steps", type=int, help="timed steps per block (default on CPU: a 5, b 80; x25 elsewhere)")
    p.add_argument("--rounds", type=int, default=3, help="alternating gantool/reference blocks; the best counts")
    p.add_argument("--warmup", type=int, help="untimed steps before timing (default: a 1, b 5; x10 elsewhere)")
    p.add_argument("--only", choices=sorted(CONFIGS), help="run one configuration")
    p.add_argument("--compile", action="store_true", help="torch.compile gantool's models (Runtime(compile=True))")
    p.add_argument("--amp", choices=("auto", "on", "off"), default="auto",
                   help="gantool's bf16 autocast (Runtime(amp=...)): auto is gantool's default, on with CUDA only")
    p.add_argument("--threads", type=int, help="torch.set_num_threads")
    p.add_argument("--ref-log", choices=("null", "stderr", "off"), default="null",
                   help="where the reference prints its per-step line: os.devnull (default), stderr, or no print")
    p.add_argument("--json", action="store_true", help="also print one JSON line with the figures")
    p.add_argument("--ddp", action="store_true", help="1 CPU process against 2 over Gloo (DDP), same global batch")
    args = p.parse_args()
    if args.ddp:
        return ddp_figures(args)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    runtime = Runtime(device=str(device), compile=args.compile, amp={"auto": None, "on": True, "off": False}[args.amp])
    log = {"null": open(os.devnull, "w"), "stderr": sys.stderr, "off": None}[args.ref_log]
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads"
          f"{', compile' if args.compile else ''}, amp {args.amp}", file=sys.stderr)

    results = []
    for name, (title, spec, steps, warmup) in CONFIGS.items():
        if args.only and name != args.only:
            continue
        steps = args.steps or steps * (1 if device.type == "cpu" else 25)
        warmup = args.warmup if args.warmup is not None else warmup * (1 if device.type == "cpu" else 10)
        data = load_data(spec.data, image_size=spec.image_size, size_rule=size_for)  # None: the DCGAN's size
        with tempfile.TemporaryDirectory() as out:
            ours = GantoolLoop(spec, data, runtime, out)
            cfg = ours.cfg
            assert cfg == DCGANConfig(image_size=data.image_size, channels=1, nz=spec.nz, ngf=spec.ngf, ndf=spec.ndf)
            ref = ReferenceLoop(cfg, spec, device, log)
            print(f"{name}: {title}, {cfg.image_size}x{cfg.image_size}, {args.rounds} x {steps} steps each ...",
                  file=sys.stderr)
            for loop in (ours, ref):
                images_per_second(loop, warmup)
            rates = {"gantool": [], "reference": []}
            for _ in range(args.rounds):  # alternate, so both sides see the same background load
                rates["gantool"].append(images_per_second(ours, steps))
                rates["reference"].append(images_per_second(ref, steps))
        best = {k: max(v) for k, v in rates.items()}
        results.append(dict(config=name, title=title, image_size=cfg.image_size, nz=cfg.nz, ngf=cfg.ngf,
                            ndf=cfg.ndf, batch_size=spec.batch_size, steps=steps, rounds=args.rounds,
                            gantool_img_s=round(best["gantool"], 1), reference_img_s=round(best["reference"], 1),
                            ratio=round(best["gantool"] / best["reference"], 3),
                            all_img_s={k: [round(r, 1) for r in v] for k, v in rates.items()}))

    print(f"{'config':<40} {'gantool img/s':>14} {'reference img/s':>16} {'ratio':>7}")
    for r in results:
        label = f"{r['config']}  {r['title']}"
        print(f"{label:<40} {r['gantool_img_s']:>14.1f} {r['reference_img_s']:>16.1f} {r['ratio']:>7.2f}")
    if args.json:
        print(json.dumps({"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "compile": args.compile, "amp": args.amp, "results": results}))


if __name__ == "__main__":
    main()
