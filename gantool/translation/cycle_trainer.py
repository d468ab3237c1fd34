"""CycleGAN training: the step, the image pools, exact resume, grids; the loop and run folder are pix2pix's.

G maps A to B and F maps B to A (ResNet generators); D_A tells real A from F(B), D_B real B from
G(A) (PatchGANs). Per step, as the reference: G's step on both generators with the discriminators
frozen, then one Adam step on both discriminators.

- G's loss: the GAN terms loss.g(D_B(G(a))) + loss.g(D_A(F(b))) (gantool.gan.losses: LSGAN's is
  1/2 (D - 1)^2), cycle_weight x (L1(F(G(a)), a) + L1(G(F(b)), b)), and with identity share s > 0,
  s x cycle_weight x (L1(G(b), b) + L1(F(a), a)) (domains of equal channels only).
- Each D's loss: half the GAN loss of real images and of generated ones drawn through its history
  pool (`ImagePool`: the first `pool_size` generated images fill it; after that each new image is
  either shown as is, or, with probability 1/2, swapped for a random stored one, which is shown).
- Adam for both optimisers (the generators' together, the discriminators' together); the learning
  rate is constant for `epochs` epochs, then falls linearly to 0 (Pix2PixTrainer.lr_at).
- Under instance norm, calls of one network on two batches are one call on their concatenation
  (per-image statistics make it the same function); under batch norm they stay separate.

Everything random comes from the seed and the step: the domains' orders from (seed, epoch), crops,
flips and the pools' draws from the noise generator. The checkpoint holds the four networks, both
optimisers, the noise and torch generators' states, and both pools' images, so a run stopped by
Ctrl-C or SIGTERM and resumed ends bit-identical to one that never stopped (on CPU).

The loop (`run`: logging, checkpoints every SAVE_EVERY seconds and at the end, a grid per epoch, the
stop on a signal) is gantool.translation.trainer.Pix2PixTrainer's, inherited: `G` and `D` are here
ModuleDicts of both generators and both discriminators, so its train() calls reach all four.
"""

from __future__ import annotations

from dataclasses import asdict
from itertools import chain
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gantool.errors import BadValue, GantoolError, flag
from gantool.files.images import grid_png
from gantool.files.modelfile import split_prefix, with_prefix
from gantool.gan import losses
from gantool.gan.runfolder import RunFolder
from gantool.gan.trainer import _load_optimizer, _optimizer_tensors
from gantool.models.cyclegan import ROLES, CycleGANConfig, build, default_blocks
from gantool.progress import NullProgress, Progress
from gantool.signals import StopFlag
from gantool.translation.cycle_spec import CycleGANSpec
from gantool.translation.trainer import KIND, Pix2PixTrainer
from gantool.translation.unpaired import UnpairedBatches, UnpairedData, load_unpaired
from gantool.words import plural

GAN_STATS = ["loss_d_a", "loss_d_b", "g_gan_ab", "g_gan_ba", "cycle_a", "cycle_b"]
IDT_STATS = ["identity_a", "identity_b"]
D_STATS = ["d_real_a", "d_fake_a", "d_real_b", "d_fake_b"]


def start(explicit: dict, out, device, *, resume: bool = False, force: bool = False, data_root: str | None = None,
          download: bool = False, progress: Progress | None = None, log: Callable[[str], None] = lambda m: None,
          warn: Callable[[str], None] = lambda m: None, stop: StopFlag | None = None,
          log_every: int = 25) -> "CycleGANTrainer":
    """Check, then prepare: the settings (merged with the saved run on resume), the folder, the domains."""
    folder = RunFolder(out, kind=KIND)
    saved = None
    if resume:
        saved = folder.saved_spec()
        if "cycle_weight" not in saved:
            which = "a pix2pix run (train-pix2pix's)" if "task" in saved else "a GAN run (train's)"
            raise BadValue("out", folder.path, f"holds {which}, not a CycleGAN run",
                           f"give this run its own {flag('out')}")
    spec = CycleGANSpec.merged(explicit, saved)
    spec.validate()
    folder.prepare(resume, force)
    try:
        data, crop = load_unpaired(spec, spec.seed, root=data_root, download=download)
        trainer = CycleGANTrainer(spec, data, crop, folder, device, progress=progress, log=log, warn=warn, stop=stop,
                                  log_every=log_every)
        if resume:
            trainer.restore()
    except BaseException:
        folder.abandon()
        raise
    return trainer


class ImagePool:
    """The last `size` generated images a discriminator saw, for drawing its fakes from (see the module
    docstring). The draws come from the trainer's noise generator; no host sync."""

    def __init__(self, size: int):
        self.size, self.count, self.images = size, 0, None

    def query(self, x: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
        if self.size == 0:
            return x
        if self.images is None:
            self.images = x.new_zeros((self.size, *x.shape[1:]))
        n = x.shape[0]
        swap = (torch.rand(n, generator=noise, device=noise.device) < 0.5).to(x.device)
        at = torch.randint(self.size, (n,), generator=noise, device=noise.device).to(x.device)
        out = []
        for i in range(n):
            if self.count < self.size:
                self.images[self.count] = x[i]
                self.count += 1
                out.append(x[i])
                continue
            j = at[i: i + 1]
            old = self.images.index_select(0, j)[0]
            out.append(torch.where(swap[i], old, x[i]))
            self.images.index_copy_(0, j, torch.where(swap[i], x[i], old)[None])
        return torch.stack(out)

    def state(self) -> torch.Tensor | None:
        return self.images[: self.count].clone() if self.count else None

    def load(self, images: torch.Tensor | None, count: int, like: torch.Tensor) -> None:
        self.count = count
        self.images = None
        if count:
            if images is None or images.shape[0] != count or images.shape[1:] != like.shape[1:]:
                raise ValueError("the pool's images do not match its count or the crop")
            self.images = like.new_zeros((self.size, *like.shape[1:]))
            self.images[:count] = images.to(self.images.device)


class CycleGANTrainer(Pix2PixTrainer):
    def __init__(self, spec: CycleGANSpec, data: UnpairedData, crop: int, folder: RunFolder, device,
                 progress: Progress | None = None, log=lambda m: None, warn=lambda m: None,
                 stop: StopFlag | None = None, log_every: int = 25):
        self.spec, self.data, self.crop = spec, data, crop
        self.device = torch.device(device)
        self.progress, self.log, self.warn = progress or NullProgress(), log, warn
        self.stop, self.log_every = stop or StopFlag(), log_every
        ca, cb = int(data.a.shape[1]), int(data.b.shape[1])
        self.identity = spec.identity_share(ca == cb)
        if spec.identity is None and ca != cb:
            warn(f"no identity term: domain A has {plural(ca, 'channel')} and B {cb} (the term compares G(b) with b, "
                 "so it needs equal channels)")
        self.stat_names = GAN_STATS + IDT_STATS * (self.identity > 0) + D_STATS
        self.shown_stats = ["g_gan_ab", "g_gan_ba", "cycle_a", "cycle_b"]
        self.folder = folder
        folder.fields = ["step", "epoch", "images", *self.stat_names, "lr"]
        folder.plot = self._plot
        self.cfg = CycleGANConfig(image_size=crop, a_channels=ca, b_channels=cb, ngf=spec.ngf, ndf=spec.ndf,
                                  n_blocks=spec.n_blocks or default_blocks(crop), norm=spec.norm,
                                  d_layers=spec.patch_layers(crop))
        self.cfg.validate()
        torch.manual_seed(spec.seed)
        nets = {k: v.to(self.device) for k, v in build(self.cfg).items()}
        self.nets = nets
        self.G = nn.ModuleDict({"ab": nets["generator_ab"], "ba": nets["generator_ba"]})
        self.D = nn.ModuleDict({"a": nets["discriminator_a"], "b": nets["discriminator_b"]})
        adam = dict(lr=spec.lr, betas=(spec.beta1, spec.beta2))
        self.opt_g = torch.optim.Adam(chain(self.G["ab"].parameters(), self.G["ba"].parameters()), **adam)
        self.opt_d = torch.optim.Adam(chain(self.D["a"].parameters(), self.D["b"].parameters()), **adam)
        self.loss = losses.get(spec.loss)
        self.pools = {"a": ImagePool(spec.pool_size), "b": ImagePool(spec.pool_size)}
        self.batches = UnpairedBatches(data, spec.batch_size, crop, spec.seed, self.device, spec.random_crop,
                                       spec.flip)
        self._run_state(spec, log_every)
        self.fixed = [self._centre(x) for x in (data.held_a, data.held_b)]
        self.joint = spec.norm == "instance"
        if not data.held_out:
            warn(f"{data.name} has too few images to hold any out: the grids show training images")

    def trained(self) -> str:
        c, d = self.cfg, self.data
        a = f"{plural(d.a.shape[0], 'image')} of {plural(c.a_channels, 'channel')}"
        b = f"{plural(d.b.shape[0], 'image')} of {plural(c.b_channels, 'channel')}"
        return (f"CycleGAN (A: {d.name_a}, {a}; B: {d.name_b}, {b}; {c.image_size}x{c.image_size} crops of "
                f"{d.a.shape[-1]}, {plural(c.n_blocks, 'residual block')}, identity {self.identity:g}, pool "
                f"{self.spec.pool_size})")

    def _centre(self, held: torch.Tensor) -> torch.Tensor:
        o = (held.shape[-1] - self.crop) // 2
        return held[..., o:o + self.crop, o:o + self.crop].float().div(255).to(self.device)

    # ---- one step ---------------------------------------------------------------------------
    def _both(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """net(x), net(y): one call on both under instance norm."""
        if not self.joint:
            return net(x), net(y)
        out = net(torch.cat([x, y]))
        return out[: x.shape[0]], out[x.shape[0]:]

    def train_step(self) -> torch.Tensor:
        """One G step (both generators) and one D step (both discriminators); the stats on the device."""
        s, loss, G, Fn, Da, Db = self.spec, self.loss, self.G["ab"], self.G["ba"], self.D["a"], self.D["b"]
        lr = self.lr_at(self.step)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        a01, b01 = self.batches.get(self.step, self.noise)
        real_a, real_b = a01 * 2 - 1, b01 * 2 - 1
        if self.identity > 0:
            fake_b, idt_b = self._both(G, real_a, real_b)  # idt_b = G(b), which should stay b
            fake_a, idt_a = self._both(Fn, real_b, real_a)
        else:
            fake_b, fake_a = G(real_a), Fn(real_b)
        rec_a, rec_b = Fn(fake_b), G(fake_a)
        self.D.requires_grad_(False)
        g_gan_ab, g_gan_ba = loss.g_loss(Db(fake_b)), loss.g_loss(Da(fake_a))
        cycle_a, cycle_b = F.l1_loss(rec_a, real_a), F.l1_loss(rec_b, real_b)
        loss_g = g_gan_ab + g_gan_ba + s.cycle_weight * (cycle_a + cycle_b)
        stats = [g_gan_ab, g_gan_ba, cycle_a, cycle_b]
        if self.identity > 0:
            identity_a, identity_b = F.l1_loss(idt_a, real_a), F.l1_loss(idt_b, real_b)
            loss_g = loss_g + self.identity * s.cycle_weight * (identity_a + identity_b)
            stats += [identity_a, identity_b]
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        shown_a = self.pools["a"].query(fake_a.detach(), self.noise)
        shown_b = self.pools["b"].query(fake_b.detach(), self.noise)
        d_real_a, d_fake_a = self._both(Da, real_a, shown_a)
        d_real_b, d_fake_b = self._both(Db, real_b, shown_b)
        loss_d_a = 0.5 * loss.d_loss(d_real_a, d_fake_a)
        loss_d_b = 0.5 * loss.d_loss(d_real_b, d_fake_b)
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        self.opt_d.step()
        self.step += 1
        reads = [loss.d_output(x.detach()) for x in (d_real_a, d_fake_a, d_real_b, d_fake_b)]
        return torch.stack([loss_d_a.detach(), loss_d_b.detach(), *(x.detach() for x in stats), *reads])

    # ---- logging and pictures -------------------------------------------------------------------
    def _plot(self, rows: list[dict]) -> bytes:
        from gantool.plots import curves_png

        panels = [(f"{self.spec.loss} loss", [("loss_d_a", "D_A loss"), ("loss_d_b", "D_B loss"),
                                              ("g_gan_ab", "G's GAN term (A -> B)"),
                                              ("g_gan_ba", "F's GAN term (B -> A)")]),
                  ("L1 (model range)", [("cycle_a", "F(G(a)) to a"), ("cycle_b", "G(F(b)) to b")]
                   + ([("identity_a", "F(a) to a"), ("identity_b", "G(b) to b")] if self.identity > 0 else [])),
                  (self.loss.d_reads_as, [("d_real_a", "D_A(a)"), ("d_fake_a", "D_A(F(b))"),
                                          ("d_real_b", "D_B(b)"), ("d_fake_b", "D_B(G(a))")])]
        return curves_png(rows, panels)

    @torch.no_grad()
    def translate_grid(self) -> bytes:
        """Rows A | G(A) | F(G(A)) for the fixed A inputs, then B | F(B) | G(F(B)), in [0, 1]."""
        G, Fn = self.G["ab"], self.G["ba"]
        self.G.eval()
        rows = []
        for x, there, back in ((self.fixed[0], G, Fn), (self.fixed[1], Fn, G)):
            made = there(x * 2 - 1)
            rows.append([x, (made + 1) / 2, (back(made) + 1) / 2])
        self.G.train()
        c = max(cell.shape[1] for row in rows for cell in row)
        cells = [[cell.clamp(0, 1).expand(-1, c, -1, -1) if cell.shape[1] == 1 else cell.clamp(0, 1)
                  for cell in row] for row in rows]
        return grid_png(torch.cat([torch.stack(row, 1).flatten(0, 1) for row in cells]).cpu(), 3)

    # ---- files --------------------------------------------------------------------------------
    def data_info(self) -> dict:
        d = self.data
        return {"name": d.name, "name_a": d.name_a, "name_b": d.name_b, "task": "unpaired", "image_size": self.crop,
                "load_size": int(d.a.shape[-1]), "a_channels": self.cfg.a_channels, "b_channels": self.cfg.b_channels,
                "num_a": int(d.a.shape[0]), "num_b": int(d.b.shape[0]), "fingerprint": d.fingerprint(),
                "normalization": {"range": [-1, 1]}}

    def summary(self) -> dict:
        s, last = self.spec, (self.rows[-1] if self.rows else {})
        return {"loss": s.loss, "cycle_weight": s.cycle_weight, "identity": self.identity, "pool_size": s.pool_size,
                "lr": s.lr, "betas": [s.beta1, s.beta2], "epochs": s.epochs, "decay_epochs": s.decay_epochs,
                "steps": self.step, "total_steps": self.total_steps, "batch_size": self.batches.batch_size,
                "images_seen": self.step * self.batches.batch_size, "seconds": round(self.seconds, 2),
                "device": str(self.device), "seed": s.seed, "random_crop": s.random_crop, "flip": s.flip,
                "final": {k: v for k, v in last.items() if k not in ("step", "epoch", "images", "lr")}}

    def _save(self) -> None:
        for role in ("generator_ab", "generator_ba"):
            if not bool(torch.stack([p.isfinite().all() for p in self.nets[role].parameters()]).all()):
                raise GantoolError(f"{role} weights became non-finite by step {self.step}", f"lower {flag('lr')}")
        nets = {k: v for role in ROLES for k, v in with_prefix(self.nets[role].state_dict(), role).items()}
        pools = {f"pool.{k}": p.state() for k, p in self.pools.items() if p.count}
        tensors = {**nets, **_optimizer_tensors(self.opt_g, "optim_g"), **_optimizer_tensors(self.opt_d, "optim_d"),
                   **pools, "rng.noise": self.noise.get_state(), "rng.torch": torch.get_rng_state()}
        resume = {"spec": asdict(self.spec), "step": self.step, "seconds": self.seconds,
                  "pools": {k: p.count for k, p in self.pools.items()}}
        with self.stop.critical():
            self.folder.save((nets, self.cfg.to_dict(), self.data_info(), self.summary()), (tensors, resume),
                             self.rows, "")
        self.last_good = self.step

    def restore(self) -> None:
        header, resume, t = self.folder.load_checkpoint(self.device)
        if header.data.get("fingerprint") != self.data.fingerprint():
            raise BadValue("data", self.data.name, f"is not the data this run was trained on "
                           f"({header.data.get('name')}, {header.data.get('num_a')} and {header.data.get('num_b')} "
                           "images)")
        try:
            for role in ROLES:
                self.nets[role].load_state_dict(split_prefix(t, role))
            _load_optimizer(self.opt_g, t, "optim_g")
            _load_optimizer(self.opt_d, t, "optim_d")
            for k, pool in self.pools.items():
                like = self.fixed[0 if k == "a" else 1][:1]
                pool.load(t.get(f"pool.{k}"), int(resume.get("pools", {}).get(k, 0)), like)
            self.noise.set_state(t["rng.noise"].cpu())
            torch.set_rng_state(t["rng.torch"].cpu())
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise GantoolError(f"{self.folder.checkpoint} does not match its own settings",
                               str(e).splitlines()[0]) from None
        self.step, self.seconds, self.last_good = resume["step"], resume["seconds"], resume["step"]
        self.resumed_at = self.step
        self.rows = [r for r in self.folder.read_losses() if r["step"] <= self.step]
