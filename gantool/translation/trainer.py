"""pix2pix training: the loop, exact resume, the run folder (gantool.gan.runfolder's, kind translator).

G (a U-Net) maps A to B; D (a PatchGAN) scores (A, B) pairs, real or made. D's loss is half the GAN
loss of real and made pairs (as the reference); G's is gan_weight x the GAN loss + l1_weight x
L1(G(A), B). With gan_weight 0 there is no D step: the plain L1 regression baseline. Adam for
both; the learning rate is constant for `epochs` epochs, then falls linearly to 0 over
`decay_epochs` (a function of the step, so a resumed run follows the same schedule).

Everything random is a function of the seed and the step: the data order of epoch e from (seed, e),
crops, flips and a restorer's damage noise from the noise generator, dropout from torch's global
generator; both generators' states are in the checkpoint, so a run stopped by Ctrl-C or SIGTERM and
resumed ends bit-identical to one that never stopped (on CPU).

`start()` is what `gantool train-pix2pix` calls: settings merged with the saved run, the folder
checked, the pairs loaded, a trainer ready to `run()`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Callable

import torch
import torch.nn.functional as F

from gantool.errors import BadValue, GantoolError, flag
from gantool.files.images import grid_png
from gantool.files.modelfile import split_prefix, with_prefix
from gantool.gan import losses
from gantool.gan.runfolder import RunFolder
from gantool.gan.trainer import MAX_GRIDS, _load_optimizer, _optimizer_tensors
from gantool.latent.restore import Damage
from gantool.models.pix2pix import Pix2PixConfig, build
from gantool.progress import NullProgress, Progress
from gantool.signals import StopFlag, Terminated
from gantool.translation.pairs import PairBatches, PairData, first_side, load_pairs
from gantool.translation.sides import Sides
from gantool.translation.spec import Pix2PixSpec

KIND = "translator"
GAN_FIELDS = ["step", "epoch", "images", "loss_d", "g_gan", "g_l1", "d_real", "d_fake", "lr"]
L1_FIELDS = ["step", "epoch", "images", "g_l1", "lr"]
SAVE_EVERY = 30.0  # seconds between checkpoints (also at the end and on a stop)


def start(explicit: dict, damage: dict, out, device, *, resume: bool = False, force: bool = False,
          data_root: str | None = None, download: bool = False, progress: Progress | None = None,
          log: Callable[[str], None] = lambda m: None, warn: Callable[[str], None] = lambda m: None,
          stop: StopFlag | None = None, log_every: int = 25) -> "Pix2PixTrainer":
    """Check, then prepare: the settings (merged with the saved run on resume), the folder, the pairs."""
    folder = RunFolder(out, kind=KIND)
    saved = None
    if resume:
        saved = folder.saved_spec()
        if "task" not in saved or "cycle_weight" in saved:
            which = "a CycleGAN run (train-cyclegan's)" if "cycle_weight" in saved else "a GAN run (gantool train's)"
            raise BadValue("out", folder.path, f"holds {which}, not a pix2pix run",
                           f"give this run its own {flag('out')}")
    spec = Pix2PixSpec.merged(explicit, saved)
    spec.validate()
    saved_damage = (saved or {}).get("damage", {})
    for k, v in damage.items():
        if saved is not None and saved_damage.get(k) != v:
            raise BadValue(k, v, f"this run was trained with {saved_damage.get(k)}; {{resume}} continues the same run")
    dmg = Damage(**{**saved_damage, **damage})
    dmg.check()
    if spec.task != "restore" and dmg.any():
        raise BadValue("task", spec.task, "takes no damage options: they make the pairs of restore")
    if spec.task == "restore" and not dmg.any():
        raise BadValue("task", spec.task, "needs damage to learn to undo", "give {mask}, {blur}, {noise}, "
                                                                           "{downsample} or {gray}")
    folder.prepare(resume, force)
    try:
        sizes = {}

        def rule(side: int) -> int:
            sizes["crop"], load = spec.sizes(side)
            return load

        if spec.task == "paired":
            crop, load = spec.sizes(first_side(spec.data, spec.task) or 256)
            pairs = load_pairs(spec.data, spec.task, spec.direction, load, spec.seed)
        else:
            pairs = load_pairs(spec.data, spec.task, spec.direction, 0, spec.seed, root=data_root,
                               download=download, size_rule=rule)
            crop = sizes["crop"]
        trainer = Pix2PixTrainer(spec, dmg, pairs, crop, folder, device, progress=progress, log=log, warn=warn,
                                 stop=stop, log_every=log_every)
        if resume:
            trainer.restore()
    except BaseException:
        folder.abandon()
        raise
    return trainer


class Pix2PixTrainer:
    def __init__(self, spec: Pix2PixSpec, damage: Damage, pairs: PairData, crop: int, folder: RunFolder, device,
                 progress: Progress | None = None, log=lambda m: None, warn=lambda m: None,
                 stop: StopFlag | None = None, log_every: int = 25):
        self.spec, self.damage, self.pairs, self.crop = spec, damage, pairs, crop
        self.device = torch.device(device)
        self.progress, self.log, self.warn = progress or NullProgress(), log, warn
        self.stop, self.log_every = stop or StopFlag(), log_every
        self.gan = spec.gan_weight > 0
        self.stat_names = ["loss_d", "g_gan", "g_l1", "d_real", "d_fake"] if self.gan else ["g_l1"]
        self.shown_stats = [k for k in self.stat_names if k != "loss_d"]  # on the progress line
        self.folder = folder
        folder.fields = GAN_FIELDS if self.gan else L1_FIELDS
        folder.plot = self._plot
        a_channels = pairs.a.shape[1]
        if spec.task == "colorize":
            cin, cout = 1, 2
        elif spec.task == "restore":
            damage.validate(a_channels, crop)
            cin, cout = (1 if damage.gray else a_channels), a_channels
        else:
            cin, cout = a_channels, pairs.b.shape[1]
        self.cfg = Pix2PixConfig(image_size=crop, in_channels=cin, out_channels=cout, ngf=spec.ngf, ndf=spec.ndf,
                                 norm=spec.norm, dropout=spec.dropout, d_layers=spec.patch_layers(crop),
                                 task=spec.task)
        self.cfg.validate()
        self.sides = Sides(spec.task, cin, cout, damage.downsample if spec.task == "restore" else 1)
        self.known = damage.known(crop, spec.seed, _read_mask) if spec.task == "restore" else None
        torch.manual_seed(spec.seed)  # weight init, then dropout
        nets = build(self.cfg)
        self.G, self.D = nets["generator"].to(self.device), nets["discriminator"].to(self.device)
        adam = dict(lr=spec.lr, betas=(spec.beta1, spec.beta2))
        self.opt_g = torch.optim.Adam(self.G.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.D.parameters(), **adam)
        self.loss = losses.get(spec.loss)
        self.batches = PairBatches(pairs, spec.batch_size, crop, spec.seed, self.device, spec.random_crop, spec.flip)
        self._run_state(spec, log_every)
        self.fixed = self._grid_inputs()
        if not pairs.held_out:
            warn(f"{pairs.name} has too few pairs to hold any out: the grids show training pairs")

    def _run_state(self, spec, log_every: int) -> None:
        """The noise generator, the step counters and the budget (after self.batches is set)."""
        self.noise = torch.Generator(device=self.device).manual_seed(spec.seed)
        self.step, self.seconds, self.rows = 0, 0.0, []
        self.last_good: int | None = None
        self.resumed_at: int | None = None
        epochs = spec.epochs + spec.decay_epochs
        self.total_steps = self.batches.per_epoch * epochs
        self.grid_every = max(1, math.ceil(log_every / self.batches.per_epoch), math.ceil(epochs / MAX_GRIDS))

    def starting(self, out) -> str:
        """The status line before the first step: what is trained, or where a resumed run stands."""
        if self.resumed_at is not None and self.step >= self.total_steps:
            return (f"{out} is complete at step {self.step}/{self.total_steps}; nothing to do (give a larger "
                    f"{flag('epochs')} or {flag('decay_epochs')} to train it longer)")
        if self.resumed_at is not None:
            return f"resuming {out} at step {self.step}/{self.total_steps}"
        return f"training {self.trained()} for {self.total_steps} steps on {self.device}, seed {self.spec.seed}"

    def trained(self) -> str:
        """What a new run trains, on what, for the status line."""
        c = self.cfg
        return (f"{'pix2pix' if self.gan else 'L1 regression'} ({c.task}, {c.in_channels} -> {c.out_channels} "
                f"channels, {c.image_size}x{c.image_size} crops of {self.pairs.a.shape[-1]}) on {self.pairs.name} "
                f"({self.pairs.num_pairs} pairs)")

    # ---- pairs ------------------------------------------------------------------------------
    def model_pair(self, a01: torch.Tensor, b01: torch.Tensor | None, fixed: bool = False) -> tuple[torch.Tensor,
                                                                                                   torch.Tensor]:
        """(G's input, its target) in the model's range from images in [0, 1]. A restorer's damage
        noise comes from the noise generator, or with `fixed` (the grids' held-out inputs) from
        seeds of their own, the same every epoch."""
        if self.spec.task == "paired":
            return self.sides.encode(a01), self.sides.target(b01)
        if self.spec.task == "restore":
            seeds = [self.spec.seed + i for i in range(a01.shape[0])] if fixed else None
            observed = self.damage.simulate(a01, self.known, seeds, None if fixed else self.noise)
            return self.sides.encode(observed), self.sides.target(a01)
        return self.sides.encode(a01), self.sides.target(a01)

    def _grid_inputs(self):
        p = self.pairs
        o = (p.held_a.shape[-1] - self.crop) // 2
        a = p.held_a[..., o:o + self.crop, o:o + self.crop].float().div(255).to(self.device)
        b = p.held_b[..., o:o + self.crop, o:o + self.crop].float().div(255).to(self.device) \
            if p.held_b is not None else None
        return a, b

    # ---- one step ---------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        start = self.batches.per_epoch * self.spec.epochs
        decay = self.total_steps - start
        return self.spec.lr * (1.0 if step < start else max(0.0, 1 - (step - start) / max(1, decay)))

    def train_step(self) -> torch.Tensor:
        """One D step (unless gan_weight is 0) and one G step; returns the logged stats on the device."""
        s, loss = self.spec, self.loss
        lr = self.lr_at(self.step)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        a01, b01 = self.batches.get(self.step, self.noise)
        real_a, real_b = self.model_pair(a01, b01)
        fake_b = self.G(real_a)
        if self.gan:
            d_fake = self.D(torch.cat([real_a, fake_b.detach()], 1))
            d_real = self.D(torch.cat([real_a, real_b], 1))
            loss_d = 0.5 * loss.d_loss(d_real, d_fake, s.label_smoothing)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            self.D.requires_grad_(False)
            g_gan = loss.g_loss(self.D(torch.cat([real_a, fake_b], 1)))
        g_l1 = F.l1_loss(fake_b, real_b)
        loss_g = s.l1_weight * g_l1 + (s.gan_weight * g_gan if self.gan else 0)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.step += 1
        if not self.gan:
            return g_l1.detach()[None]
        self.D.requires_grad_(True)
        return torch.stack([loss_d.detach(), g_gan.detach(), g_l1.detach(), loss.d_output(d_real.detach()),
                            loss.d_output(d_fake.detach())])

    # ---- the loop -----------------------------------------------------------------------------
    def run(self) -> dict:
        self.progress.start(self.total_steps, self.step)
        acc, count = None, 0
        t0 = time.monotonic() - self.seconds
        last_save = -math.inf
        per_epoch = self.batches.per_epoch
        try:
            while self.step < self.total_steps:
                if self.stop.requested:
                    self._flush(acc, count)
                    self.seconds = time.monotonic() - t0
                    self._save()
                    raise self.folder.stopped(self.step, self.total_steps, self.stop.terminated)
                self.G.train()
                self.D.train()
                stats = self.train_step()
                acc, count = (stats if acc is None else acc + stats), count + 1
                epoch_end = self.step % per_epoch == 0 or self.step == self.total_steps
                if count >= self.log_every or epoch_end:
                    self._flush(acc, count)
                    acc, count = None, 0
                if epoch_end:
                    self.seconds = time.monotonic() - t0
                    if self.step == self.total_steps or time.monotonic() - last_save > SAVE_EVERY:
                        self._save()
                        last_save = time.monotonic()
                    epoch = math.ceil(self.step / per_epoch)
                    if epoch % self.grid_every == 0 or self.step == self.total_steps:
                        self._write_grid(epoch)
        except (KeyboardInterrupt, Terminated) as e:  # a second signal: stop now (saves finish first)
            raise self.folder.stopped_at_once(self.step, self.last_good, isinstance(e, Terminated)) from None
        finally:
            self.progress.stop()
            if self.last_good is None:
                self.folder.abandon()
        return self.summary()

    def _flush(self, acc, count: int) -> None:
        """Read the accumulated stats (the one host sync), check them, and log a row."""
        if not count:
            return
        values = (acc / count).tolist()
        if not all(math.isfinite(v) for v in values):
            where = (f"the last good checkpoint, step {self.last_good}, is in {self.folder.checkpoint}"
                     if self.last_good is not None else "no checkpoint was written")
            raise GantoolError(f"losses became non-finite by step {self.step}; {where}", f"lower {flag('lr')}")
        row = dict(step=self.step, epoch=round(self.step / self.batches.per_epoch, 4),
                   images=self.step * self.batches.batch_size, **dict(zip(self.stat_names, values)),
                   lr=self.lr_at(self.step - 1))
        self.rows.append(row)
        self.progress.update(self.step, {k: row[k] for k in self.shown_stats})

    def _plot(self, rows: list[dict]) -> bytes:
        from gantool.plots import curves_png

        panels = [("L1 (model range)", [("g_l1", "G's L1 to the target")])]
        if self.gan:
            panels = [(f"{self.spec.loss} loss", [("loss_d", "D loss"), ("g_gan", "G's GAN term")]), *panels,
                      (self.loss.d_reads_as, [("d_real", "D(A, B)"), ("d_fake", "D(A, G(A))")])]
        return curves_png(rows, panels)

    @torch.no_grad()
    def translate_grid(self) -> bytes:
        """The fixed held-out inputs: a row each, input | output | target, in [0, 1]."""
        a01, b01 = self.fixed
        real_a, real_b = self.model_pair(a01, b01, fixed=True)
        self.G.eval()
        fake = self.G(real_a)
        self.G.train()
        shown = b01 if self.spec.task == "paired" else a01
        image = self.sides.decode(fake, shown if self.spec.task == "colorize" else None)
        target = self.sides.decode(real_b, shown if self.spec.task == "colorize" else None)
        seen = self._gray(shown) if self.spec.task == "colorize" else self.sides.shown_input(real_a)
        c = max(seen.shape[1], image.shape[1])
        cells = [x.expand(-1, c, -1, -1) if x.shape[1] == 1 else x for x in (seen, image, target)]
        return grid_png(torch.stack(cells, 1).flatten(0, 1).cpu(), 3)

    @staticmethod
    def _gray(images01: torch.Tensor) -> torch.Tensor:
        from gantool.translation.colour import from_lab, lightness

        l_ = lightness(images01)
        return from_lab(l_, torch.zeros_like(l_).expand(-1, 2, -1, -1))

    def _write_grid(self, epoch: int) -> None:
        self.folder.write_grid(epoch, self.translate_grid())

    # ---- files --------------------------------------------------------------------------------
    def data_info(self) -> dict:
        p = self.pairs
        info = {"name": p.name, "task": self.spec.task, "direction": self.spec.direction, "image_size": self.crop,
                "load_size": int(p.a.shape[-1]), "in_channels": self.cfg.in_channels,
                "out_channels": self.cfg.out_channels, "num_pairs": p.num_pairs, "fingerprint": p.fingerprint(),
                "normalization": {"range": [-1, 1]}}
        if self.spec.task == "restore":
            info["damage"] = asdict(self.damage)
        return info

    def summary(self) -> dict:
        s, last = self.spec, (self.rows[-1] if self.rows else {})
        return {"loss": s.loss if self.gan else "l1", "gan_weight": s.gan_weight, "l1_weight": s.l1_weight,
                "label_smoothing": s.label_smoothing, "lr": s.lr, "betas": [s.beta1, s.beta2], "epochs": s.epochs,
                "decay_epochs": s.decay_epochs, "steps": self.step, "total_steps": self.total_steps,
                "batch_size": self.batches.batch_size, "images_seen": self.step * self.batches.batch_size,
                "seconds": round(self.seconds, 2), "device": str(self.device), "seed": s.seed,
                "random_crop": s.random_crop, "flip": s.flip,
                "final": {k: v for k, v in last.items() if k not in ("step", "epoch", "images", "lr")}}

    def _save(self) -> None:
        if not bool(torch.stack([p.isfinite().all() for p in self.G.parameters()]).all()):
            raise GantoolError(f"generator weights became non-finite by step {self.step}", f"lower {flag('lr')}")
        nets = {**with_prefix(self.G.state_dict(), "generator"), **with_prefix(self.D.state_dict(), "discriminator")}
        tensors = {**nets, **_optimizer_tensors(self.opt_g, "optim_g"), **_optimizer_tensors(self.opt_d, "optim_d"),
                   "rng.noise": self.noise.get_state(), "rng.torch": torch.get_rng_state()}
        resume = {"spec": {**asdict(self.spec), "damage": asdict(self.damage)}, "step": self.step,
                  "seconds": self.seconds}
        config, data, training = self.cfg.to_dict(), self.data_info(), self.summary()
        with self.stop.critical():
            self.folder.save((nets, config, data, training), (tensors, resume), self.rows, "")
        self.last_good = self.step

    def restore(self) -> None:
        header, resume, t = self.folder.load_checkpoint(self.device)
        if header.data.get("fingerprint") != self.pairs.fingerprint():
            raise BadValue("data", self.pairs.name, f"is not the data this run was trained on "
                           f"({header.data.get('name')}, {header.data.get('num_pairs')} pairs)")
        try:
            self.G.load_state_dict(split_prefix(t, "generator"))
            self.D.load_state_dict(split_prefix(t, "discriminator"))
            _load_optimizer(self.opt_g, t, "optim_g")
            _load_optimizer(self.opt_d, t, "optim_d")
            self.noise.set_state(t["rng.noise"].cpu())
            torch.set_rng_state(t["rng.torch"].cpu())
        except (RuntimeError, ValueError, KeyError) as e:
            raise GantoolError(f"{self.folder.checkpoint} does not match its own settings",
                               str(e).splitlines()[0]) from None
        self.step, self.seconds, self.last_good = resume["step"], resume["seconds"], resume["step"]
        self.resumed_at = self.step
        self.rows = [r for r in self.folder.read_losses() if r["step"] <= self.step]


def _read_mask(path: str, side: int):
    from gantool.files.images import load_image

    return load_image(path, 1, side)[0]
