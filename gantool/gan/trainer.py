"""GAN training: the loop and exact resume. The run folder's files are gantool.gan.runfolder's.

Everything random is a function of the seed and the step: the data order of epoch e comes from a
generator seeded with (seed, e), and the noise generator's state is saved in the checkpoint. So a
run stopped with Ctrl-C or SIGTERM and resumed ends bit-identical to one that never stopped (on CPU).

Under torchrun the trainer is one of several processes (`world`, gantool.gan.distributed, which
says what a distributed run is): each takes its slice of every global batch, and rank 0 writes.

`start()` is what `gantool train` calls: it merges the settings, checks the run folder, loads the
data at the size the DCGAN wants, and returns a trainer ready to `run()`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from gantool.data.sources import ImageData, load_data
from gantool.device import fast_bf16
from gantool.errors import BadValue, GantoolError, flag
from gantool.files.images import grid_png
from gantool.files.modelfile import split_prefix, with_prefix
from gantool.gan import losses
from gantool.gan.augment import Augment
from gantool.gan.distributed import World
from gantool.gan.runfolder import RunFolder
from gantool.gan.spec import R1_EVERY, Runtime, TrainSpec
from gantool.models.dcgan import NORMALIZATION, Discriminator, Generator
from gantool.models.dcgan_config import size_for
from gantool.progress import NullProgress, Progress
from gantool.signals import StopFlag, Terminated

MAX_GRIDS = 100  # per run


def start(explicit: dict, out, runtime: Runtime, *, resume: bool = False, force: bool = False,
          data_root: str | None = None, download: bool = False, progress: Progress | None = None,
          log: Callable[[str], None] = lambda m: None, warn: Callable[[str], None] = lambda m: None,
          stop: StopFlag | None = None, world: World | None = None, selection=None) -> "GANTrainer":
    """Check, then prepare: settings (merged with the saved run on resume), the run folder, the data.
    `selection` (gantool.metrics.selection.Selection, rank 0 only): FID every N epochs, model-best.safetensors.

    Under torchrun (`world`): what each process can check alone is checked before the processes
    meet; rank 0 then decides the spec and prepares the folder, and every process loads the data."""
    folder, world = RunFolder(out), world or World()
    try:
        if not resume:  # the same on every process, before any of them waits for another
            world.check_batch(TrainSpec.merged(explicit).batch_size)
        runtime.validate()
    except GantoolError as e:
        raise world.agreed(e) from None
    world.join(torch.device(runtime.device))

    def decide():
        saved = folder.saved_spec() if resume else None
        spec = TrainSpec.merged(explicit, saved)  # a new run without --seed: TrainSpec's seed, 0
        spec.validate()
        world.check_batch(spec.batch_size, resumed=saved is not None)
        folder.prepare(resume, force)
        return asdict(spec), {}

    spec = TrainSpec(**world.on_main(decide)[0])
    try:
        def build():
            data = load_data(spec.data, root=data_root, download=download, channels=spec.channels,
                             image_size=spec.image_size, size_rule=size_for)
            return GANTrainer(spec, data, folder, runtime, progress=progress, log=log, warn=warn, stop=stop,
                              world=world)

        trainer = world.all_ok(build)
        trainer.selection = selection
        if resume:
            trainer.restore()
        if selection is not None:
            selection.prepare(trainer.data, spec.seed)
    except BaseException:
        folder.abandon()
        raise
    return trainer


def lr_factor(decay: str, step: int, total: int) -> float:
    """The learning rate's multiplier at `step` (0-based) of `total` under --lr-decay: 1 throughout
    for none; linear and cosine fall from 1 at the first step toward 0 (linear: 1/total at the last)."""
    if decay == "none":
        return 1.0
    p = min(step, total - 1) / total
    return 1.0 - p if decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * p))


def _seeded(seed: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 0x9E3779B1 + stream * 0x85EBCA77 + 1) % (2**63))


class _Batches:
    """Batch b of the run: a slice of the permutation of epoch b // batches_per_epoch, in the model's range."""

    def __init__(self, data: ImageData, batch_size: int, seed: int, device, channels_last: bool,
                 world: World | None = None):
        self.images = data.images.to(device)
        self.labels = data.labels.to(device) if data.labels is not None else None
        self.n = data.num_images
        self.world = world or World()
        self.batch_size = min(batch_size, self.n)  # the global batch; this process takes its shard
        self.batch_size -= self.batch_size % self.world.size
        if not self.batch_size:
            raise GantoolError(f"{data.name} has {self.n} images, fewer than the {self.world.size} processes",
                               "start fewer processes")
        self.per_epoch = max(1, self.n // self.batch_size)
        self.seed, self.device, self.channels_last = seed, device, channels_last
        self._epoch, self._perm = -1, None
        # x / 255 -> the model's range, as one multiply-add with constants made once (not per step)
        mean, std = NORMALIZATION.stats(torch.empty(1, data.channels, 1, 1, device=device))
        self._scale, self._shift = 1 / (255 * std), -mean / std

    def get(self, b: int):
        epoch, i = divmod(b, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = torch.randperm(self.n, generator=_seeded(self.seed, 1000 + epoch)).to(self.device)
        (idx,) = self.world.shard(self._perm[i * self.batch_size : (i + 1) * self.batch_size])
        x = self.images[idx].float().mul_(self._scale).add_(self._shift)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, (self.labels[idx] if self.labels is not None else None)


class GANTrainer:
    def __init__(self, spec: TrainSpec, data: ImageData, out: RunFolder | str | Path, runtime: Runtime,
                 progress: Progress | None = None, log: Callable[[str], None] = lambda m: None,
                 warn: Callable[[str], None] = lambda m: None, stop: StopFlag | None = None,
                 world: World | None = None):
        spec.with_defaults().validate()
        self.spec, self.data, self.rt = spec, data, runtime
        self.world = world or World()
        self.folder = out if isinstance(out, RunFolder) else RunFolder(out)
        self.out = self.folder.path
        self.loss = losses.get(spec.loss)
        self.progress = progress or NullProgress()
        self.log, self.warn = log, warn
        self.stop = self.world.stop_flag(stop or StopFlag())
        self.device = torch.device(runtime.device)
        cuda = self.device.type == "cuda"
        self.amp = fast_bf16(self.device) if runtime.amp is None else runtime.amp
        # channels-last: on CUDA, and on the CPU with bf16 in one process (oneDNN's fast layout, 1.15x on
        # top of bf16; under DDP on the CPU its gradients' strides miss Gloo's buckets)
        cpu_bf16 = self.amp and self.device.type == "cpu" and self.world.size == 1
        self.channels_last = (cuda or cpu_bf16) if runtime.channels_last is None else runtime.channels_last
        if spec.conditional and data.num_classes < 2:
            raise BadValue("conditional", None, f"needs labelled data with 2 or more classes; {data.name} has none",
                           "use class subfolders, labels in the .npz, or a labelled built-in set")
        self.cfg = spec.model_config(data.image_size, data.channels, data.num_classes)
        self.cfg.validate()
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True

        torch.manual_seed(spec.seed)  # weight init
        self.G = Generator(self.cfg).to(self.device)
        self.D = Discriminator(self.cfg).to(self.device)
        if runtime.sync_batch_norm:
            self.G, self.D = (self.world.sync_batch_norm(m, self.device) for m in (self.G, self.D))
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = None
        if spec.ema > 0:
            from torch.optim.swa_utils import AveragedModel

            self.G_ema = AveragedModel(self.G, multi_avg_fn=self._ema_update, use_buffers=True)
        self.augment = Augment(spec.augment)
        adam = dict(betas=(spec.beta1, spec.beta2), fused=True if cuda else None)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=spec.lr_g, **adam)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=spec.lr_d, **adam)
        self.G_step, self.D_step = self.world.wrap(self.G), self.world.wrap(self.D)
        if runtime.compile:
            self.G_step, self.D_step = torch.compile(self.G_step), torch.compile(self.D_step)

        self.batches = _Batches(data, spec.batch_size, spec.seed, self.device, self.channels_last, self.world)
        self.steps_per_epoch = max(1, self.batches.per_epoch // spec.d_steps)
        self.noise = torch.Generator(device=self.device).manual_seed(spec.seed)
        self.fixed = self.grid_latents()
        self.step = 0
        self.seconds = 0.0
        self.rows: list[dict] = []
        self.last_good: int | None = None
        self.resumed_at: int | None = None
        self.selection = None  # gantool.metrics.selection.Selection, set by start()
        self._set_budget()
        if data.num_images < spec.batch_size:
            warn(f"{data.name} has {data.num_images} images, fewer than the batch size, {spec.batch_size}: every batch "
                 f"is the whole set and every step an epoch; sample grids every {self.grid_every} epochs")

    def _set_budget(self) -> None:
        s = self.spec
        self.total_steps = s.steps if s.steps is not None else self.steps_per_epoch * s.epochs
        epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        # unless told: grids no closer than --log-every steps, and at most MAX_GRIDS a run
        self.grid_every = self.rt.sample_every or max(1, math.ceil(self.rt.log_every / self.steps_per_epoch),
                                                      math.ceil(epochs / MAX_GRIDS))

    def grid_latents(self) -> torch.Tensor:
        """The fixed latents of the per-epoch grids: 64, or 8 or 10 per class in class rows."""
        g = _seeded(self.spec.seed, 7)
        classes = None
        if self.cfg.conditional:
            per = 10 if self.cfg.num_classes <= 10 else 8
            classes = [c for c in range(self.cfg.num_classes) for _ in range(per)]
        z, _ = self.G.latents(len(classes) if classes else 64, g, classes)
        return z.to(self.device)

    # ---- one step ---------------------------------------------------------------------------
    @torch.no_grad()
    def _ema_update(self, averaged: list, current: list, _n) -> None:
        """The EMA of G with a decay that ramps up, min(--ema, (1 + step) / (10 + step)): a fixed 0.999
        from step 0 would keep a third of the initial weights after 1,000 steps."""
        decay = min(self.spec.ema, (1 + self.step) / (10 + self.step))
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, 1 - decay)
        else:  # batch norm's counters
            for a, c in zip(averaged, current):
                a.copy_(c)

    def _decay_learning_rates(self) -> None:
        """--lr-decay: the learning rates of this step, a function of the step and the budget alone
        (nothing to save: a resumed run sets them the same way)."""
        factor = lr_factor(self.spec.lr_decay, self.step, self.total_steps)
        for opt, lr in ((self.opt_g, self.spec.lr_g), (self.opt_d, self.spec.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * factor

    def _seen(self, images: torch.Tensor) -> torch.Tensor:
        """Images as D sees them: through --augment's random transform (drawn for the global batch)."""
        if not self.augment:
            return images
        (choice,) = self.world.shard(self.augment.draw(self.batches.batch_size, images.shape[-1], self.noise))
        return self.augment.apply(images, choice)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def train_step(self) -> torch.Tensor:
        """One generator step after `d_steps` discriminator steps; advances `step` and returns
        (loss_d, loss_g, D(x), D(G(z))) on the device, unsynced."""
        s, loss = self.spec, self.loss
        self._decay_learning_rates()
        for k in range(s.d_steps):
            real, labels = self.batches.get(self.step * s.d_steps + k)
            # drawn for the global batch on every process (one noise state everywhere), then sliced
            z, fake_labels = self.world.shard(*self.G.latents(self.batches.batch_size, self.noise))
            last = k == s.d_steps - 1
            with self._autocast():
                with torch.set_grad_enabled(last):  # the last fake batch is reused for the G step
                    fake = self.G_step(z)
                seen_real = self._seen(real)
                d_real, classes_real = self.D_step(seen_real, labels, classes=True)
                d_real = d_real.float()
                d_fake = self.D_step(self._seen(fake.detach()), fake_labels).float()
                loss_d = loss.d_loss(d_real, d_fake, s.label_smoothing)
            if loss.gradient_penalty:
                (eps,) = self.world.shard(torch.rand(self.batches.batch_size, 1, 1, 1, device=self.device,
                                                     generator=self.noise))
                loss_d = loss_d + s.gp_weight * losses.gradient_penalty(self.D, real, fake.detach().float(), labels,
                                                                        eps=eps)
            logged_d = loss_d.detach()  # the GAN loss, as logged and drawn (the class loss and R1 apart)
            if s.r1 > 0 and (self.step * s.d_steps + k) % R1_EVERY == 0:  # lazy: R1_EVERY times the weight
                loss_d = loss_d + (s.r1 / 2 * R1_EVERY) * losses.r1_penalty(self.D, seen_real.float(), labels)
            if classes_real is not None:  # D's class head learns the real images' classes
                loss_d = loss_d + s.class_weight * F.cross_entropy(classes_real.float(), labels)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        self.D.requires_grad_(False)  # the G step needs gradients through D, not for D's weights
        with self._autocast():
            d_gen, classes_gen = self.D_step(self._seen(fake), fake_labels, classes=True)
            loss_g = loss.g_loss(d_gen.float())
            logged_g = loss_g.detach()
            if classes_gen is not None:  # G draws what the class head reads as the class asked for
                loss_g = loss_g + s.class_weight * F.cross_entropy(classes_gen.float(), fake_labels)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        if self.G_ema is not None:
            self.G_ema.update_parameters(self.G)
        self.step += 1
        return torch.stack([logged_d, logged_g, loss.d_output(d_real.detach()),
                            loss.d_output(d_fake.detach())])

    # ---- the loop -----------------------------------------------------------------------------
    def run(self) -> dict:
        self.progress.start(self.total_steps, self.step)
        acc, count = torch.zeros(4, device=self.device), 0
        t0 = time.monotonic() - self.seconds
        last_save = -math.inf  # the first epoch's end writes a checkpoint, then every save_every seconds
        try:
            while self.step < self.total_steps:
                if self.stop.requested:
                    self._flush(acc, count)
                    self.seconds = time.monotonic() - t0
                    self._save()
                    raise self.folder.stopped(self.step, self.total_steps, self.stop.terminated)
                self.G.train()
                self.D.train()
                acc += self.train_step()
                count += 1
                epoch_end = self.step % self.steps_per_epoch == 0 or self.step == self.total_steps
                measure = epoch_end and self.selection is not None and self.selection.due(
                    math.ceil(self.step / self.steps_per_epoch), self.step == self.total_steps)
                save = epoch_end and (measure or self.step == self.total_steps
                                      or time.monotonic() - last_save > self.rt.save_every)
                reading = count >= self.rt.log_every
                if reading or epoch_end:  # under torchrun: mean stats, one stop and one save decision for all
                    save = self.world.agree(self.stop, acc, save)
                if reading or save:  # a checkpoint is only written after a finite reading
                    self._flush(acc, count)
                    acc.zero_()
                    count = 0
                if epoch_end:
                    self.seconds = time.monotonic() - t0
                    if measure:  # its row was just logged (a measurement saves)
                        self.rows[-1]["fid"] = self.selection.measure(self.sampling_generator(), self.step)
                    if save:  # before the grid: under --force the old run stays whole until this first save
                        self._save()
                        last_save = time.monotonic()
                    epoch = math.ceil(self.step / self.steps_per_epoch)
                    if epoch % self.grid_every == 0 or self.step == self.total_steps:
                        self._write_grid(epoch)
        except (KeyboardInterrupt, Terminated) as e:  # a second signal: stop now (saves finish first)
            raise self.folder.stopped_at_once(self.step, self.last_good, isinstance(e, Terminated)) from None
        finally:
            self.progress.stop()
            if self.last_good is None:
                self.folder.abandon()
        return self.summary()

    def _flush(self, acc: torch.Tensor, count: int) -> None:
        """Read the accumulated stats (the one host sync), check them, and log a row."""
        if count == 0:
            return
        loss_d, loss_g, d_real, d_fake = (acc / count).tolist()
        if not all(math.isfinite(v) for v in (loss_d, loss_g, d_real, d_fake)):
            where = (f"the last good checkpoint, step {self.last_good}, is in {self.folder.checkpoint}"
                     if self.last_good is not None else "no checkpoint was written")
            raise GantoolError(f"losses became non-finite by step {self.step} ({self.spec.loss} loss, "
                               f"lr-g {self.spec.lr_g}, lr-d {self.spec.lr_d}); {where}",
                               f"lower the learning rates or try {flag('loss')} wgan-gp or {flag('spectral_norm')}")
        row = dict(step=self.step, epoch=round(self.step / self.steps_per_epoch, 4),
                   images=self.step * self.spec.d_steps * self.batches.batch_size,
                   loss_d=loss_d, loss_g=loss_g, d_real=d_real, d_fake=d_fake)
        self.rows.append(row)
        self.progress.update(self.step, {"loss_d": loss_d, "loss_g": loss_g, "D(x)": d_real, "D(G(z))": d_fake})

    def sampling_generator(self) -> torch.nn.Module:
        return self.G_ema.module if self.G_ema is not None else self.G

    @torch.no_grad()
    def _write_grid(self, epoch: int) -> None:
        G = self.sampling_generator()
        self.world.average_buffers(G)
        if not self.world.main:
            return
        G.eval()
        images = NORMALIZATION.from_model(G(self.fixed).float())
        nrow = images.shape[0] // self.cfg.num_classes if self.cfg.conditional else 8
        self.folder.write_grid(epoch, grid_png(images, nrow))

    # ---- files --------------------------------------------------------------------------------
    def data_info(self) -> dict:
        d = self.data
        return {"name": d.name, "image_size": d.image_size, "channels": d.channels, "num_images": d.num_images,
                "classes": d.classes if self.cfg.conditional else [], "normalization": NORMALIZATION.to_dict(),
                "fingerprint": d.fingerprint()}

    def summary(self) -> dict:
        last = self.rows[-1] if self.rows else {}
        return {
            "loss": self.spec.loss, "steps": self.step, "total_steps": self.total_steps,
            "epochs": round(self.step / self.steps_per_epoch, 3), "batch_size": self.batches.batch_size,
            "images_seen": self.step * self.spec.d_steps * self.batches.batch_size,
            "seconds": round(self.seconds, 2), "device": str(self.device), "bf16": self.amp,
            "processes": self.world.size,
            "seed": self.spec.seed,
            "lr_g": self.spec.lr_g, "lr_d": self.spec.lr_d, "lr_decay": self.spec.lr_decay,
            "betas": [self.spec.beta1, self.spec.beta2],
            "d_steps": self.spec.d_steps, "label_smoothing": self.spec.label_smoothing, "ema": self.spec.ema,
            "r1": self.spec.r1, "augment": self.spec.augment, "class_weight": self.spec.class_weight,
            "init": self.spec.init, "final": {k: last[k] for k in ("loss_d", "loss_g", "d_real", "d_fake")} if last else {},
        }

    def _save(self) -> None:
        self.world.average_buffers(self.G, self.D, self.G_ema)  # batch norm's running statistics
        if not bool(torch.stack([p.isfinite().all() for p in self.G.parameters()]).all()):
            raise GantoolError(f"generator weights became non-finite by step {self.step}", "lower the learning rates")
        if not self.world.main:  # rank 0 writes; the others wait for it (a stop ends no process before the save)
            self.last_good = self.step
            self.world.barrier()
            return
        config, data, training = self.cfg.to_dict(), self.data_info(), self.summary()
        model = {**with_prefix(self.sampling_generator().state_dict(), "generator"),
                 **with_prefix(self.D.state_dict(), "discriminator")}
        tensors = {**with_prefix(self.G.state_dict(), "generator"), **with_prefix(self.D.state_dict(), "discriminator"),
                   **_optimizer_tensors(self.opt_g, "optim_g"), **_optimizer_tensors(self.opt_d, "optim_d"),
                   "rng.noise": self.noise.get_state()}
        if self.G_ema is not None:
            tensors.update(with_prefix(self.G_ema.state_dict(), "generator_ema"))
        resume = {"spec": asdict(self.spec), "step": self.step, "seconds": self.seconds}
        best = None
        if self.selection is not None:
            resume["selection"], best = self.selection.state(), self.selection.best_at(self.step)
        with self.stop.critical():  # a second Ctrl-C waits for the files to be whole
            self.folder.save((model, config, data, training), (tensors, resume), self.rows, self.loss, best=best)
        self.last_good = self.step
        self.world.barrier()

    def restore(self) -> None:
        """Load the checkpoint of this run folder (its spec was already checked against ours); under
        torchrun rank 0 reads it and hands it to every process."""
        def read():
            header, resume, t = self.folder.load_checkpoint(self.device)
            if header.data.get("fingerprint") != self.data.fingerprint():
                raise BadValue("data", self.data.name, f"is not the data this run was trained on "
                               f"({header.data.get('name')}, {header.data.get('num_images')} images)")
            return resume, t

        resume, t = self.world.on_main(read)
        try:
            self.G.load_state_dict(split_prefix(t, "generator"))
            self.D.load_state_dict(split_prefix(t, "discriminator"))
            if self.G_ema is not None:
                self.G_ema.load_state_dict(split_prefix(t, "generator_ema"))
            _load_optimizer(self.opt_g, t, "optim_g")
            _load_optimizer(self.opt_d, t, "optim_d")
            self.noise.set_state(t["rng.noise"].cpu())
        except (RuntimeError, ValueError, KeyError) as e:
            raise self.world.agreed(GantoolError(f"{self.folder.checkpoint} does not match its own settings",
                                                 str(e).splitlines()[0])) from None
        self.step, self.seconds, self.last_good = resume["step"], resume["seconds"], resume["step"]
        self.resumed_at = self.step
        if self.selection is not None:
            self.selection.restore(resume.get("selection"), self.warn)
        self.rows = [r for r in self.folder.read_losses() if r["step"] <= self.step] if self.world.main else []


def _optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> dict:
    return {f"{prefix}.{i}.{k}": v for i, st in opt.state_dict()["state"].items()
            for k, v in st.items() if torch.is_tensor(v)}


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict, prefix: str) -> None:
    """Restore per-parameter state; hyperparameters come from the (identical) spec."""
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for name, v in split_prefix(tensors, prefix).items():
        i, key = name.split(".", 1)
        state.setdefault(int(i), {})[key] = v
    sd["state"] = state
    opt.load_state_dict(sd)
