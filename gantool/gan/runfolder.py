"""A training run's folder (`--out`) and its lifecycle.

    model.safetensors       generator (EMA weights when --ema) and discriminator, with full config
    model-best.safetensors  the same, as it was at its lowest FID (train --eval-every); the FID in its
                            gantool.training `selection`
    checkpoint.safetensors  raw weights, optimizer state, noise RNG state, step and spec, for --resume
    samples/epoch-NNNN.png  the same fixed latents rendered after every epoch
    losses.csv, losses.png  D and G loss, D(x) and D(G(z)) per logging step; the FID where measured

`prepare` checks everything about the folder before any data is loaded: that it is a folder, that
it can be written, that it holds no run unless --resume or --force. Under --force the old run is
left exactly as it was until the new run's first checkpoint is written; only then are its grids and
losses removed. Every file is written atomically (gantool.files.writing).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from gantool.errors import BadValue, GantoolError, Stopped, flag
from gantool.files import modelfile
from gantool.files.writing import atomic_write, check_folder_writable, cannot_write, write_in

MODEL_FILE, BEST_FILE, CHECKPOINT_FILE, LOSSES_CSV, LOSSES_PNG, SAMPLES_DIR = (
    "model.safetensors", "model-best.safetensors", "checkpoint.safetensors", "losses.csv", "losses.png", "samples")
CSV_FIELDS = ["step", "epoch", "images", "loss_d", "loss_g", "d_real", "d_fake"]
FID_FIELD = "fid"  # a last column once a run measures FID (train --eval-every), empty where it did not


class RunFolder:
    """`kind`: what model.safetensors holds (a GAN; a translator for gantool.translation's trainer);
    `fields`: losses.csv's columns; `plot`: rows -> losses.png (default: the GAN's loss plot)."""

    def __init__(self, path: str | os.PathLike, kind: str = modelfile.KIND_GAN, fields: list[str] | None = None,
                 plot=None):
        self.path = Path(path)
        self.kind, self.fields, self.plot = kind, fields or CSV_FIELDS, plot
        self._clear_old_run = False  # --force: remove the old run's leftovers at the first checkpoint
        self._created = False

    @property
    def model(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def best(self) -> Path:
        return self.path / BEST_FILE

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_FILE

    def existing_run(self) -> str | None:
        """The name of a run file already in the folder, if any."""
        return next((f for f in (MODEL_FILE, CHECKPOINT_FILE) if (self.path / f).exists()), None)

    def saved_spec(self) -> dict:
        """The spec saved in the checkpoint, for --resume."""
        header = self._checkpoint_header()
        try:
            spec = json.loads(header.extra["resume"])["spec"]
            if not isinstance(spec, dict):
                raise TypeError
            return spec
        except (KeyError, ValueError, TypeError):
            raise GantoolError(f"{self.checkpoint} holds no resume state") from None

    def _checkpoint_header(self) -> modelfile.Header:
        if self.path.exists() and not self.path.is_dir():
            raise BadValue("out", self.path, "is a file, not a run folder")
        if not self.checkpoint.exists():
            raise GantoolError(f"{flag('resume')}: no {CHECKPOINT_FILE} in {self.path}",
                               f"start the run without {flag('resume')}")
        header = modelfile.read_header(self.checkpoint)
        modelfile.expect_kind(header, modelfile.KIND_CHECKPOINT)
        return header

    def prepare(self, resume: bool, force: bool) -> None:
        """Check the folder and make sure it can be written; all before any data is loaded."""
        if self.path.exists() and not self.path.is_dir():
            raise BadValue("out", self.path, "is a file, not a run folder")
        existing = self.existing_run()
        if existing and not resume and not force:
            raise BadValue("out", self.path, f"already holds a run ({existing})",
                           f"continue it with {flag('resume')}, or start over with {flag('force')}")
        check_folder_writable(self.path)
        try:
            if not self.path.exists():
                self.path.mkdir(parents=True)
                self._created = True
            fd, probe = tempfile.mkstemp(dir=self.path, prefix=".gantool-probe.")
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise cannot_write(self.path, e) from None
        self._clear_old_run = force and not resume

    def abandon(self) -> None:
        """A run that failed before its first checkpoint: remove the folder if this run made it and it is empty."""
        if self._created:
            try:
                self.path.rmdir()
            except OSError:
                pass

    def save(self, model: tuple[dict, dict, dict, dict], checkpoint: tuple[dict, dict], rows: list[dict],
             loss_label: str, best: dict | None = None) -> None:
        """Write the checkpoint, the model and the losses. `model`: (tensors, config, data, training);
        `checkpoint`: (tensors, resume state); `best` (the FID and how it was measured): the model is
        the best so far, and is written as model-best.safetensors too."""
        tensors, config, data, training = model
        ckpt_tensors, resume = checkpoint
        try:
            self.path.mkdir(parents=True, exist_ok=True)  # a trainer used as a library may not have prepared it
        except OSError as e:
            raise cannot_write(self.path, e) from None
        modelfile.save(self.checkpoint, modelfile.KIND_CHECKPOINT, ckpt_tensors, config, data, training,
                       extra={"resume": json.dumps(resume)})
        modelfile.save(self.model, self.kind, tensors, config, data, training)
        if self._clear_old_run:  # the new run now has its first checkpoint: the old one's grids and losses go
            for f in (self.path / SAMPLES_DIR).glob("epoch-*.png"):
                f.unlink(missing_ok=True)
            self.best.unlink(missing_ok=True)
            self._clear_old_run = False
        if best is not None:
            modelfile.save(self.best, self.kind, tensors, config, data, {**training, "selection": best})
        self._created = False
        self.write_losses(rows, loss_label)

    def stopped(self, step: int, total: int, terminated: bool) -> Stopped:
        """A stop asked for by a signal, once the checkpoint of `step` is written."""
        why = "stopped by SIGTERM" if terminated else "interrupted"
        return Stopped(f"{why} at step {step}/{total}; saved {self.checkpoint}", f"continue with {flag('resume')}",
                       terminated=terminated)

    def stopped_at_once(self, step: int, last_good: int | None, terminated: bool) -> Stopped:
        """A second signal: stopped without saving; what the folder still holds."""
        kept = (f"{self.checkpoint} holds step {last_good}, consistent with the other files"
                if last_good is not None else f"nothing was written to {self.path}")
        return Stopped(f"stopped at once at step {step} without saving; {kept}",
                       f"continue with {flag('resume')}" if last_good is not None else None, terminated=terminated)

    def load_checkpoint(self, device) -> tuple[modelfile.Header, dict, dict]:
        """(header, resume state, tensors) of the checkpoint."""
        header = self._checkpoint_header()
        resume = json.loads(header.extra["resume"])
        return header, resume, modelfile.load_tensors(self.checkpoint, header, device)

    def write_grid(self, epoch: int, png: bytes) -> None:
        write_in(self.path / SAMPLES_DIR, f"epoch-{epoch:04d}.png", png)

    def write_losses(self, rows: list[dict], loss_label: str) -> None:
        buf = io.StringIO()
        fields = self.fields + [FID_FIELD] * any(r.get(FID_FIELD) is not None for r in rows)
        writer = csv.DictWriter(buf, fields, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.path / LOSSES_CSV, buf.getvalue().encode())
        if rows:
            from gantool.plots import loss_plot_png

            atomic_write(self.path / LOSSES_PNG, self.plot(rows) if self.plot else loss_plot_png(rows, loss_label))
        else:
            (self.path / LOSSES_PNG).unlink(missing_ok=True)

    def read_losses(self) -> list[dict]:
        path = self.path / LOSSES_CSV
        if not path.exists():
            return []
        try:
            with open(path, newline="") as f:
                return [{k: (int(v) if k in ("step", "images") else None if k == FID_FIELD and v == "" else float(v))
                         for k, v in r.items() if k in self.fields or k == FID_FIELD} for r in csv.DictReader(f)]
        except (ValueError, TypeError, OSError) as e:
            raise GantoolError(f"cannot read {path}: {e}", "the checkpoint is fine; move the file away to resume "
                                                           "without the old loss history") from None
