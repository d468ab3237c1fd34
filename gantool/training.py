"""GAN training: the loop, its run folder, and exact resume.

A run folder holds
  model.safetensors       generator (EMA weights when --ema) and discriminator, with full config
  checkpoint.safetensors  raw weights, optimizer state, noise RNG state and step, for --resume
  samples/epoch-NNNN.png  the same fixed latents rendered after every epoch
  losses.csv, losses.png  D and G loss, D(x) and D(G(z)) per logging step

Everything random is a function of the seed and the step: the data order of epoch e comes from a
generator seeded with (seed, e), and the noise generator's state is saved in the checkpoint. So a
run interrupted with Ctrl-C and resumed ends bit-identical to one that never stopped (on CPU).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from gantool import losses, modelfile
from gantool.data import ImageData
from gantool.errors import GantoolError, Interrupted, UsageError
from gantool.fileio import atomic_write
from gantool.images import grid_png
from gantool.models.dcgan import DCGANConfig, Discriminator, Generator
from gantool.progress import NullProgress, Progress
from gantool.signals import StopFlag

MODEL_FILE, CHECKPOINT_FILE, LOSSES_CSV, LOSSES_PNG, SAMPLES_DIR = (
    "model.safetensors", "checkpoint.safetensors", "losses.csv", "losses.png", "samples")
CSV_FIELDS = ["step", "epoch", "images", "loss_d", "loss_g", "d_real", "d_fake"]


@dataclass
class TrainSpec:
    """Everything that defines a run; --resume refuses options that differ from the saved ones.

    The defaults are the recipe `gantool train` runs with no arguments: recognisable digits from
    the embedded `digits` set in about a minute on a 2-core CPU.
    """

    data: str = "digits"
    image_size: int | None = None  # None: the data's own size, rounded up to a supported one
    channels: int | None = None  # None: the data's own
    conditional: bool = False
    nz: int = 64
    ngf: int = 32
    ndf: int = 32
    batch_norm: bool = True
    g_activation: str = "relu"
    d_activation: str = "leaky-relu"
    init: str = "dcgan"
    spectral_norm: bool = False
    loss: str = "nonsaturating"
    lr_g: float = 4e-4  # G twice as fast as D (TTUR-style): sharper digits sooner
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    d_steps: int = 1
    label_smoothing: float = 1.0  # the target for real images: 0.9 is one-sided smoothing
    gp_weight: float = 10.0
    ema: float = 0.0  # generator EMA decay, 0 for none
    epochs: int | None = None
    steps: int | None = None
    batch_size: int = 64
    seed: int = 0

    DEFAULT_EPOCHS = 45  # with neither --epochs nor --steps

    @classmethod
    def merged(cls, explicit: dict, saved: dict | None = None) -> "TrainSpec":
        """Options given on the command line over the saved run's (on resume) or the defaults.

        On resume, an explicit option that differs from the saved run is an error.
        """
        known = {f.name for f in fields(cls)}
        explicit = {k: v for k, v in explicit.items() if k in known and v is not None}
        if saved is None:
            return cls(**explicit)
        base = {k: v for k, v in saved.items() if k in known}
        diff = [k for k, v in explicit.items() if k != "data" and base.get(k) != v]
        # --epochs N on a run saved with --steps (or the reverse) is a different run too
        if ("epochs" in explicit and base.get("steps") is not None) or ("steps" in explicit and base.get("epochs") is not None):
            diff.append("epochs" if "epochs" in explicit else "steps")
        if diff:
            k = diff[0]
            raise UsageError(
                f"--resume: this run was trained with --{k.replace('_', '-')} {base.get(k)}, not {explicit[k]}",
                "drop the option to continue it, or start a new run with another --out",
            )
        base.update(explicit)
        return cls(**base)

    def validate(self) -> None:
        from gantool.models.dcgan import base_and_doublings

        if self.image_size is not None and self.image_size > 0:
            try:
                base_and_doublings(self.image_size)
            except ValueError as e:
                raise UsageError(str(e)) from None
        if self.loss not in losses.LOSSES:
            raise UsageError(f"unknown loss {self.loss!r}", f"use one of {', '.join(losses.LOSSES)}")
        if self.epochs is not None and self.steps is not None:
            raise UsageError("give --epochs or --steps, not both")
        checks = [
            ("lr-g", self.lr_g > 0), ("lr-d", self.lr_d > 0),
            ("beta1", 0 <= self.beta1 < 1), ("beta2", 0 <= self.beta2 < 1),
            ("label-smoothing", 0 < self.label_smoothing <= 1), ("ema", 0 <= self.ema < 1),
            ("gp-weight", self.gp_weight >= 0),
        ]
        for name, ok in checks:
            if not ok:
                raise UsageError(f"--{name} {getattr(self, name.replace('-', '_'))} is out of range")
        for name in ("epochs", "steps", "batch_size", "d_steps", "nz", "ngf", "ndf", "image_size"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, not {v}")

    def model_config(self, data: ImageData) -> DCGANConfig:
        return DCGANConfig(
            image_size=data.image_size, channels=data.channels, nz=self.nz, ngf=self.ngf, ndf=self.ndf,
            num_classes=data.num_classes if self.conditional else 0,
            g_batch_norm=self.batch_norm,
            # WGAN-GP penalises each sample's gradient, which batch norm mixes across the batch
            d_batch_norm=self.batch_norm and self.loss != "wgan-gp",
            g_activation=self.g_activation, d_activation=self.d_activation,
            spectral_norm=self.spectral_norm, init=self.init,
        )


@dataclass
class Runtime:
    """How to run, not what to train: free to change between a run and its resume."""

    device: str = "cpu"
    compile: bool = False
    amp: bool | None = None  # None: bf16 autocast on CUDA, off elsewhere
    channels_last: bool | None = None  # None: on CUDA only
    log_every: int = 25
    sample_every: int = 1  # epochs between sample grids
    save_every: float = 30.0  # seconds between checkpoints (also written at the end and on Ctrl-C)


def _seeded(seed: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 0x9E3779B1 + stream * 0x85EBCA77 + 1) % (2**63))


class _Batches:
    """Batch b of the run: a slice of the permutation of epoch b // batches_per_epoch."""

    def __init__(self, data: ImageData, batch_size: int, seed: int, device, channels_last: bool):
        self.images = data.images.to(device)
        self.labels = data.labels.to(device) if data.labels is not None else None
        self.n = data.num_images
        self.batch_size = min(batch_size, self.n)
        self.per_epoch = max(1, self.n // self.batch_size)
        self.seed, self.device, self.channels_last = seed, device, channels_last
        self._epoch, self._perm = -1, None

    def get(self, b: int):
        epoch, i = divmod(b, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = torch.randperm(self.n, generator=_seeded(self.seed, 1000 + epoch)).to(self.device)
        idx = self._perm[i * self.batch_size : (i + 1) * self.batch_size]
        x = self.images[idx].float().div_(127.5).sub_(1.0)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, (self.labels[idx] if self.labels is not None else None)


def grid_latents(cfg: DCGANConfig, seed: int) -> torch.Tensor:
    """The fixed latents of the per-epoch grids: 64, or 8 per class in class rows."""
    from gantool.sampling import make_latents

    g = _seeded(seed, 7)
    if cfg.conditional:
        per = 10 if cfg.num_classes <= 10 else 8
        return make_latents(cfg, per * cfg.num_classes, g, [c for c in range(cfg.num_classes) for _ in range(per)])
    return make_latents(cfg, 64, g)


class GANTrainer:
    def __init__(self, spec: TrainSpec, data: ImageData, out: Path, runtime: Runtime,
                 progress: Progress | None = None, log=lambda msg: None, stop: StopFlag | None = None):
        spec.validate()
        self.spec, self.data, self.out, self.rt = spec, data, Path(out), runtime
        self.progress = progress or NullProgress()
        self.log = log
        self.stop = stop or StopFlag()
        self.device = torch.device(runtime.device)
        cuda = self.device.type == "cuda"
        self.amp = cuda if runtime.amp is None else runtime.amp
        self.channels_last = cuda if runtime.channels_last is None else runtime.channels_last
        if spec.conditional and data.num_classes < 2:
            raise GantoolError(f"--conditional needs labelled data with 2 or more classes; {data.name} has none",
                               "use class subfolders, labels in the .npz, or a labelled built-in set")
        try:
            self.cfg = spec.model_config(data)
            self.cfg.validate()
        except ValueError as e:
            raise UsageError(str(e)) from None
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True

        torch.manual_seed(spec.seed)  # weight init
        self.G = Generator(self.cfg).to(self.device)
        self.D = Discriminator(self.cfg).to(self.device)
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = None
        if spec.ema > 0:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.G_ema = AveragedModel(self.G, multi_avg_fn=get_ema_multi_avg_fn(spec.ema), use_buffers=True)
        adam = dict(betas=(spec.beta1, spec.beta2), fused=True if cuda else None)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=spec.lr_g, **adam)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=spec.lr_d, **adam)
        self.G_step, self.D_step = self.G, self.D
        if runtime.compile:
            self.G_step, self.D_step = torch.compile(self.G), torch.compile(self.D)

        self.batches = _Batches(data, spec.batch_size, spec.seed, self.device, self.channels_last)
        per_epoch = max(1, self.batches.per_epoch // spec.d_steps)
        self.steps_per_epoch = per_epoch
        self.total_steps = spec.steps if spec.steps is not None else per_epoch * (spec.epochs or TrainSpec.DEFAULT_EPOCHS)
        self.noise = torch.Generator(device=self.device).manual_seed(spec.seed)
        self.fixed = grid_latents(self.cfg, spec.seed).to(self.device)
        self.step = 0
        self.seconds = 0.0
        self.rows: list[dict] = []
        self.last_good: int | None = None

    # ---- one step ---------------------------------------------------------------------------
    def _latents(self, n: int):
        z = torch.randn(n, self.cfg.nz, device=self.device, generator=self.noise)
        if not self.cfg.conditional:
            return z, None
        y = torch.randint(0, self.cfg.num_classes, (n,), device=self.device, generator=self.noise)
        return torch.cat([z, torch.nn.functional.one_hot(y, self.cfg.num_classes).to(z.dtype)], 1), y

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def train_step(self) -> torch.Tensor:
        """One generator step after `d_steps` discriminator steps; advances `step` and returns
        (loss_d, loss_g, D(x), D(G(z))) on the device, unsynced."""
        s = self.spec
        for k in range(s.d_steps):
            real, labels = self.batches.get(self.step * s.d_steps + k)
            z, fake_labels = self._latents(real.shape[0])
            last = k == s.d_steps - 1
            with self._autocast():
                with torch.set_grad_enabled(last):  # the last fake batch is reused for the G step
                    fake = self.G_step(z)
                d_real = self.D_step(real, labels).float()
                d_fake = self.D_step(fake.detach(), fake_labels).float()
                loss_d = losses.d_loss(s.loss, d_real, d_fake, s.label_smoothing)
            if s.loss == "wgan-gp":
                loss_d = loss_d + s.gp_weight * losses.gradient_penalty(self.D, real, fake.detach().float(), labels, self.noise)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        self.D.requires_grad_(False)  # the G step needs gradients through D, not for D's weights
        with self._autocast():
            d_gen = self.D_step(fake, fake_labels).float()
            loss_g = losses.g_loss(s.loss, d_gen)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        if self.G_ema is not None:
            self.G_ema.update_parameters(self.G)
        self.step += 1
        return torch.stack([loss_d.detach(), loss_g.detach(),
                            losses.d_output(s.loss, d_real.detach()), losses.d_output(s.loss, d_fake.detach())])

    # ---- the loop -----------------------------------------------------------------------------
    def run(self) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
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
                    raise Interrupted(f"interrupted at step {self.step}/{self.total_steps}; saved {self.out / CHECKPOINT_FILE}",
                                      "continue with --resume")
                self.G.train()
                self.D.train()
                acc += self.train_step()
                count += 1
                epoch_end = self.step % self.steps_per_epoch == 0 or self.step == self.total_steps
                save = epoch_end and (self.step == self.total_steps or time.monotonic() - last_save > self.rt.save_every)
                if count >= self.rt.log_every or save:  # a checkpoint is only written after a finite reading
                    self._flush(acc, count)
                    acc.zero_()
                    count = 0
                if epoch_end:
                    self.seconds = time.monotonic() - t0
                    epoch = math.ceil(self.step / self.steps_per_epoch)
                    if epoch % self.rt.sample_every == 0 or self.step == self.total_steps:
                        self._write_grid(epoch)
                    if save:
                        self._save()
                        last_save = time.monotonic()
        finally:
            self.progress.stop()
        return self.summary()

    def _flush(self, acc: torch.Tensor, count: int) -> None:
        """Read the accumulated stats (the one host sync), check them, and log a row."""
        if count == 0:
            return
        loss_d, loss_g, d_real, d_fake = (acc / count).tolist()
        if not all(math.isfinite(v) for v in (loss_d, loss_g, d_real, d_fake)):
            where = (f"the last good checkpoint, step {self.last_good}, is in {self.out / CHECKPOINT_FILE}"
                     if self.last_good is not None else "no checkpoint was written")
            raise GantoolError(f"losses became non-finite by step {self.step} ({self.spec.loss} loss, "
                               f"lr-g {self.spec.lr_g}, lr-d {self.spec.lr_d}); {where}",
                               "lower the learning rates or try --loss wgan-gp or --spectral-norm")
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
        G.eval()
        images = G(self.fixed).float()
        nrow = images.shape[0] // self.cfg.num_classes if self.cfg.conditional else 8
        atomic_write(self.out / SAMPLES_DIR / f"epoch-{epoch:04d}.png", grid_png(images, nrow))

    # ---- files --------------------------------------------------------------------------------
    def data_info(self) -> dict:
        d = self.data
        return {"name": d.name, "image_size": d.image_size, "channels": d.channels, "num_images": d.num_images,
                "classes": d.classes if self.cfg.conditional else [], "normalization": modelfile.NORMALIZATION,
                "fingerprint": d.fingerprint()}

    def summary(self) -> dict:
        last = self.rows[-1] if self.rows else {}
        return {
            "loss": self.spec.loss, "steps": self.step, "total_steps": self.total_steps,
            "epochs": round(self.step / self.steps_per_epoch, 3), "batch_size": self.batches.batch_size,
            "images_seen": self.step * self.spec.d_steps * self.batches.batch_size,
            "seconds": round(self.seconds, 2), "device": str(self.device), "seed": self.spec.seed,
            "lr_g": self.spec.lr_g, "lr_d": self.spec.lr_d, "betas": [self.spec.beta1, self.spec.beta2],
            "d_steps": self.spec.d_steps, "label_smoothing": self.spec.label_smoothing, "ema": self.spec.ema,
            "final": {k: last[k] for k in ("loss_d", "loss_g", "d_real", "d_fake")} if last else {},
        }

    def _save(self) -> None:
        if not bool(torch.stack([p.isfinite().all() for p in self.G.parameters()]).all()):
            raise GantoolError(f"generator weights became non-finite by step {self.step}",
                               "lower the learning rates")
        config, data, training = self.cfg.to_dict(), self.data_info(), self.summary()
        modelfile.save(self.out / MODEL_FILE, modelfile.KIND_GAN,
                       {**modelfile.with_prefix(self.sampling_generator().state_dict(), "generator"),
                        **modelfile.with_prefix(self.D.state_dict(), "discriminator")},
                       config, data, training)
        tensors = {**modelfile.with_prefix(self.G.state_dict(), "generator"),
                   **modelfile.with_prefix(self.D.state_dict(), "discriminator"),
                   **_optimizer_tensors(self.opt_g, "optim_g"), **_optimizer_tensors(self.opt_d, "optim_d"),
                   "rng.noise": self.noise.get_state()}
        if self.G_ema is not None:
            tensors.update(modelfile.with_prefix(self.G_ema.state_dict(), "generator_ema"))
        resume = {"spec": asdict(self.spec), "step": self.step, "seconds": self.seconds}
        modelfile.save(self.out / CHECKPOINT_FILE, modelfile.KIND_CHECKPOINT, tensors, config, data, training,
                       extra={"resume": json.dumps(resume)})
        self.last_good = self.step
        self._write_losses()

    def _write_losses(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.out / LOSSES_CSV, buf.getvalue().encode())
        if self.rows:
            from gantool.plots import loss_plot_png

            atomic_write(self.out / LOSSES_PNG, loss_plot_png(self.rows, self.spec.loss))

    def restore(self) -> None:
        """Load the checkpoint of this run folder (its spec was already checked against ours)."""
        path = self.out / CHECKPOINT_FILE
        header = modelfile.read_header(path)
        modelfile.expect_kind(header, modelfile.KIND_CHECKPOINT)
        resume = json.loads(header.extra["resume"])
        if header.data.get("fingerprint") != self.data.fingerprint():
            raise GantoolError(f"--resume: {self.data.name} is not the data this run was trained on "
                               f"({header.data.get('name')}, {header.data.get('num_images')} images)")
        t = modelfile.load_tensors(path, header, self.device)
        self.G.load_state_dict(modelfile.split_prefix(t, "generator"))
        self.D.load_state_dict(modelfile.split_prefix(t, "discriminator"))
        if self.G_ema is not None:
            self.G_ema.load_state_dict(modelfile.split_prefix(t, "generator_ema"))
        _load_optimizer(self.opt_g, t, "optim_g")
        _load_optimizer(self.opt_d, t, "optim_d")
        self.noise.set_state(t["rng.noise"].cpu())
        self.step, self.seconds, self.last_good = resume["step"], resume["seconds"], resume["step"]
        self.rows = [r for r in read_losses(self.out / LOSSES_CSV) if r["step"] <= self.step]


def read_saved_spec(out: Path) -> dict:
    """The spec saved in a run folder's checkpoint, for --resume."""
    path = Path(out) / CHECKPOINT_FILE
    if not path.exists():
        raise GantoolError(f"--resume: no {CHECKPOINT_FILE} in {out}", "start the run without --resume")
    header = modelfile.read_header(path)
    modelfile.expect_kind(header, modelfile.KIND_CHECKPOINT)
    try:
        return json.loads(header.extra["resume"])["spec"]
    except (KeyError, ValueError):
        raise GantoolError(f"{path} holds no resume state") from None


def read_losses(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (int(v) if k in ("step", "images") else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]


def _optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> dict:
    return {f"{prefix}.{i}.{k}": v for i, st in opt.state_dict()["state"].items()
            for k, v in st.items() if torch.is_tensor(v)}


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict, prefix: str) -> None:
    """Restore per-parameter state; hyperparameters come from the (identical) spec."""
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for name, v in modelfile.split_prefix(tensors, prefix).items():
        i, key = name.split(".", 1)
        state.setdefault(int(i), {})[key] = v
    sd["state"] = state
    opt.load_state_dict(sd)


def check_out(out: Path, resume: bool, force: bool) -> None:
    """Refuse to mix a new run into an old one's folder unless asked to (--force)."""
    if out.exists() and not out.is_dir():
        raise GantoolError(f"--out {out} is a file", "give a folder for the run")
    existing = [f for f in (MODEL_FILE, CHECKPOINT_FILE) if (out / f).exists()]
    if existing and not resume and not force:
        raise GantoolError(f"{out} already holds a run ({existing[0]})", "continue it with --resume, or start over with --force")


def clear_old_run(out: Path) -> None:
    """--force: remove the old run's grids and losses (its model and checkpoint get overwritten)."""
    for f in (out / SAMPLES_DIR).glob("epoch-*.png"):
        f.unlink()
    for f in (LOSSES_CSV, LOSSES_PNG):
        (out / f).unlink(missing_ok=True)
