"""gantool train: the run folder, every loss and model option, exact resume, Ctrl-C, non-finite stops."""

from __future__ import annotations

import csv
import json
import math
import signal
import subprocess
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import PYTHON, TINY, run_gantool, subprocess_env
from gantool.data.sources import load_data
from gantool.errors import GantoolError, Stopped
from gantool.gan.spec import Runtime, TrainSpec
from gantool.gan.trainer import GANTrainer


def test_run_folder_holds_model_checkpoint_grids_and_losses(tmp_path, gantool):
    out = tmp_path / "run"
    r = gantool("train", "--out", out, "--epochs", "2", "--seed", "1", "--batch-size", "256",
                "--nz", "8", "--ngf", "8", "--ndf", "8", "--log-every", "2")
    assert r.code == 0, r.stderr
    assert r.text.strip() == str(out / "model.safetensors")
    for name in ("model.safetensors", "checkpoint.safetensors", "losses.csv", "losses.png",
                 "samples/epoch-0001.png", "samples/epoch-0002.png"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert list(rows[0]) == ["step", "epoch", "images", "loss_d", "loss_g", "d_real", "d_fake"]
    assert int(rows[-1]["step"]) == 2 * (1797 // 256)
    assert (out / "losses.png").read_bytes().startswith(b"\x89PNG")
    # progress lines on stderr (not a terminal: plain lines), nothing but the path on stdout
    assert "train " in r.stderr and "loss_d=" in r.stderr
    info = json.loads(gantool("--json", "info", out / "model.safetensors").stdout)
    assert info["kind"] == "gan" and info["config"]["image_size"] == 28 and info["training"]["steps"] == 14


@pytest.mark.parametrize("extra", [
    ["--loss", "saturating"], ["--loss", "lsgan"], ["--loss", "hinge"], ["--loss", "wgan-gp", "--d-steps", "2"],
    ["--spectral-norm", "--no-batch-norm"], ["--g-activation", "leaky-relu", "--d-activation", "relu"],
    ["--init", "default", "--label-smoothing", "0.9"], ["--ema", "0.9"], ["--conditional", "--loss", "hinge"],
    ["--conditional", "--loss", "wgan-gp"], ["--conditional", "--class-weight", "0"],
    ["--augment", "translation,cutout"], ["--augment", "cutout", "--d-steps", "2"], ["--lr-decay", "none", "--r1", "0"],
    ["--r1", "1", "--conditional"], ["--image-size", "32", "--channels", "3"],
    ["--lr-g", "1e-3", "--lr-d", "5e-4", "--beta1", "0.1", "--beta2", "0.9", "--batch-size", "16"],
])
def test_options_train_and_are_recorded(tmp_path, gantool, extra):
    """Every option named trains, lands in the model file, and changes the network it should."""
    from gantool.models import loader

    out = tmp_path / "run"
    args = [*TINY, *extra] if "--image-size" not in extra else [a for a in TINY if a not in ("--image-size", "16")] + extra
    # (an option given twice: the last one counts, so extra's --batch-size beats TINY's)
    r = gantool("train", "--out", out, "--steps", "3", "--seed", "0", "--json", *args)
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["steps"] == 3 and all(v == v for v in summary["final"].values())
    info = json.loads(gantool("--json", "info", out / "model.safetensors").stdout)
    config, training = info["config"], info["training"]
    recorded = {**config, **training}
    given = dict(zip(extra, extra[1:]))
    for flag, value in given.items():  # every "--name value" pair is recorded under its name
        if not flag.startswith("--") or value.startswith("--"):
            continue
        key = flag[2:].replace("-", "_")
        if key in ("beta1", "beta2"):
            assert training["betas"][0 if key == "beta1" else 1] == float(value), flag
        elif key in ("g_activation", "d_activation", "loss", "init", "augment", "lr_decay"):
            assert recorded[key] == value, flag
        else:
            assert float(recorded[key]) == float(value), flag
    model = loader.load(out / "model.safetensors")
    G, D = model["generator"], model["discriminator"]
    if "--conditional" in extra:
        assert config["num_classes"] == 10 and info["data"]["classes"] == [str(i) for i in range(10)]
        assert D.embed is not None and G.latent_dim == 8 + 10
        head = "--class-weight" not in extra  # the AC-GAN class head, unless its weight is 0
        assert config["class_head"] is head and (D.classify is not None) is head
        assert training["class_weight"] == (1.0 if head else 0.0)
    if "wgan-gp" in extra or "--no-batch-norm" in extra:  # batch norm would mix the per-sample penalty
        assert config["d_batch_norm"] is False and not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    if "--no-batch-norm" in extra:
        assert config["g_batch_norm"] is False and not any(isinstance(m, torch.nn.BatchNorm2d) for m in G.modules())
    if "--spectral-norm" in extra:
        assert config["spectral_norm"] is True and any("parametrizations" in k for k in load_file(out / "model.safetensors"))
    if "leaky-relu" in extra:
        assert any(isinstance(m, torch.nn.LeakyReLU) for m in G.modules())
        assert not any(isinstance(m, torch.nn.LeakyReLU) for m in D.modules())
    if "--ema" in extra:  # the saved generator is the average, not the last weights
        ckpt = load_file(out / "checkpoint.safetensors")
        w = "main.0.weight"
        assert not torch.equal(ckpt[f"generator.{w}"], load_file(out / "model.safetensors")[f"generator.{w}"])
        assert torch.equal(ckpt[f"generator_ema.module.{w}"], load_file(out / "model.safetensors")[f"generator.{w}"])
    if "--channels" in extra:
        assert config["channels"] == 3 and config["image_size"] == 32
        assert G(torch.randn(2, 8)).shape == (2, 3, 32, 32)
    if "--batch-size" in extra:
        assert training["batch_size"] == 16 and training["images_seen"] == 3 * 16


def test_learning_rates_decay_over_the_budget(tmp_path):
    """--lr-decay: linear falls from the full rate to 1/total at the last step, cosine by half a
    cosine; none stays; the rates the optimisers ran with are those."""
    from gantool.gan.trainer import lr_factor

    assert [lr_factor("linear", k, 4) for k in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.25]
    assert lr_factor("cosine", 0, 10) == 1.0 and lr_factor("cosine", 5, 10) == pytest.approx(0.5)
    assert lr_factor("cosine", 9, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.9)))
    assert all(lr_factor("none", k, 3) == 1.0 for k in range(3))
    data = load_data("digits", image_size=16)
    t = GANTrainer(TrainSpec(nz=8, ngf=8, ndf=8, steps=4, image_size=16, seed=0, lr_decay="linear"), data,
                   tmp_path, Runtime())
    for k in range(4):
        t.train_step()
        assert t.opt_g.param_groups[0]["lr"] == pytest.approx(t.spec.lr_g * (1 - k / 4))
        assert t.opt_d.param_groups[0]["lr"] == pytest.approx(t.spec.lr_d * (1 - k / 4))


def test_discriminator_learns_to_tell_real_from_fake(tmp_path):
    """Against a generator that barely moves (lr-g 1e-6), D's loss falls and it scores real above fake."""
    data = load_data("digits", image_size=16)
    t = GANTrainer(TrainSpec(nz=8, ngf=8, ndf=8, steps=30, image_size=16, seed=0, lr_g=1e-6), data, tmp_path,
                   Runtime(log_every=5))
    t.run()
    first, last = t.rows[0], t.rows[-1]
    assert last["d_real"] > last["d_fake"]
    assert last["loss_d"] < first["loss_d"]


def test_data_lives_on_device_as_uint8(tmp_path):
    t = GANTrainer(TrainSpec(nz=8, ngf=8, ndf=8, steps=1, image_size=16), load_data("digits", image_size=16), tmp_path, Runtime())
    assert t.batches.images.dtype == torch.uint8 and t.batches.images.shape == (1797, 1, 16, 16)
    x, y = t.batches.get(0)
    assert x.dtype == torch.float32 and -1 <= x.min() and x.max() <= 1 and y.dtype == torch.int64


class _StopAt:
    """A progress sink that asks the trainer to stop once it reaches `step` (as Ctrl-C does)."""

    def __init__(self, step):
        self.at, self.trainer = step, None

    def start(self, total, completed=0): ...
    def stop(self): ...

    def update(self, completed, stats):
        if completed >= self.at:
            self.trainer.stop.set()


def _tensors(path):
    return load_file(path)


@pytest.mark.parametrize("extra", [[], ["--conditional", "--ema", "0.9", "--loss", "wgan-gp",
                                         "--augment", "translation,cutout", "--lr-decay", "cosine"]])
def test_interrupt_then_resume_equals_uninterrupted_run(tmp_path, gantool, extra):
    common = ["--steps", "12", "--seed", "5", "--log-every", "1", *TINY, *extra]
    assert gantool("train", "--out", tmp_path / "full", *common).code == 0

    # the interrupted run, stopped after step 5 through the same flag SIGINT sets
    spec = TrainSpec.merged({"steps": 12, "seed": 5, "nz": 8, "ngf": 8, "ndf": 8, "image_size": 16, "batch_size": 32,
                             "conditional": "--conditional" in extra, "ema": 0.9 if extra else 0.0,
                             "loss": "wgan-gp" if extra else "nonsaturating", "channels": 1,
                             **({"augment": "translation,cutout", "lr_decay": "cosine"} if extra else {})})
    stopper = _StopAt(5)
    t = GANTrainer(spec, load_data("digits", image_size=16), tmp_path / "cut", Runtime(log_every=1), progress=stopper)
    stopper.trainer = t
    with pytest.raises(Stopped):
        t.run()
    assert json.loads(gantool("--json", "info", tmp_path / "cut" / "checkpoint.safetensors").stdout)["training"]["steps"] == 5

    r = gantool("train", "--out", tmp_path / "cut", "--resume", "--log-every", "1", "-q")
    assert r.code == 0, r.stderr
    full, cut = _tensors(tmp_path / "full" / "model.safetensors"), _tensors(tmp_path / "cut" / "model.safetensors")
    assert full.keys() == cut.keys()
    for k in full:
        assert torch.equal(full[k], cut[k]), k
    rows = list(csv.DictReader(open(tmp_path / "cut" / "losses.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))


def test_resume_refuses_other_configuration_and_other_data(tmp_path, gantool):
    out = tmp_path / "run"
    assert gantool("train", "--out", out, "--steps", "2", *TINY).code == 0
    before = (out / "checkpoint.safetensors").read_bytes()
    r = gantool("train", "--out", out, "--resume", "--lr-g", "0.1")
    assert r.code == 2 and "--lr-g" in r.stderr and "resume" in r.stderr
    r = gantool("train", "--out", out, "--resume", "--steps", "2", "--nz", "8")  # same values: fine
    assert r.code == 0, r.stderr
    import numpy as np

    np.save(tmp_path / "other.npy", np.zeros((40, 16, 16), np.uint8))
    r = gantool("train", "--out", out, "--resume", "--data", tmp_path / "other.npy")
    assert r.code == 2 and "not the data this run was trained on" in r.stderr  # a mismatch with the run: usage
    assert (out / "checkpoint.safetensors").read_bytes() == before


def test_non_finite_losses_stop_with_a_clear_message(tmp_path, gantool):
    out = tmp_path / "run"
    r = gantool("train", "--out", out, "--steps", "40", "--loss", "lsgan", "--lr-d", "1e30", "--lr-g", "1e30",
                "--no-batch-norm", "--log-every", "1", *TINY)
    assert r.code == 1
    assert "non-finite" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    if (out / "model.safetensors").exists():  # whatever was saved is finite
        assert all(torch.isfinite(v.float()).all() for v in _tensors(out / "model.safetensors").values())


def test_saturating_loss_gradient_vanishes_where_nonsaturating_does_not():
    from gantool.gan import losses

    logits = torch.full((8,), -6.0, requires_grad=True)  # D confidently rejects the fakes
    grads = {}
    for name in ("saturating", "nonsaturating"):
        (g,) = torch.autograd.grad(losses.get(name).g_loss(logits), logits)
        grads[name] = g.abs().sum().item()
    assert grads["saturating"] < 0.01 < 0.9 < grads["nonsaturating"]


def test_compile_trains(tmp_path):
    """--compile really compiles G and D, and trains them to the weights eager mode reaches (in
    float32: under bf16 the compiled kernels round otherwise)."""
    pytest.importorskip("torch._inductor")
    data = load_data("digits", image_size=16)
    spec = dict(nz=8, ngf=8, ndf=8, steps=2, image_size=16, batch_size=32, seed=0)
    eager = GANTrainer(TrainSpec(**spec), data, tmp_path / "eager", Runtime(log_every=1, amp=False))
    compiled = GANTrainer(TrainSpec(**spec), data, tmp_path / "compiled", Runtime(log_every=1, compile=True, amp=False))
    assert isinstance(compiled.G_step, torch._dynamo.eval_frame.OptimizedModule)
    assert isinstance(compiled.D_step, torch._dynamo.eval_frame.OptimizedModule)
    for t in (eager, compiled):
        t.folder.prepare(resume=False, force=False)
        t.run()
    assert compiled.step == 2 and compiled.rows
    start = GANTrainer(TrainSpec(**spec), data, tmp_path / "start", Runtime()).G.state_dict()
    for k, v in eager.G.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(compiled.G.state_dict()[k], v, atol=1e-4, rtol=1e-3), k
    moved = [k for k, v in start.items() if v.is_floating_point() and not torch.equal(v, eager.G.state_dict()[k])]
    assert moved  # training changed the weights, the same way in both modes


@pytest.mark.slow
def test_ctrl_c_saves_checkpoint_and_exits_130(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([PYTHON, "-m", "gantool", "train", "--out", str(out), "--epochs", "1000",
                             "--sample-every", "1", *TINY[:-1]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env())
    deadline = time.monotonic() + 120
    while not (out / "samples" / "epoch-0001.png").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"--resume" in err and b"Traceback" not in err
    info = run_gantool("--json", "info", out / "checkpoint.safetensors")
    steps = json.loads(info.stdout)["training"]["steps"]
    assert 0 < steps < json.loads(info.stdout)["training"]["total_steps"]


def test_progress_is_a_rich_bar_on_a_terminal_and_silent_with_quiet(tmp_path):
    tty = run_gantool("train", "--out", tmp_path / "a", "--steps", "3", *TINY[:-1], stderr_tty=True)
    assert tty.code == 0 and "━" in tty.stderr and "loss_d=" in tty.stderr
    quiet = run_gantool("train", "--out", tmp_path / "b", "--steps", "3", *TINY)
    assert quiet.code == 0 and quiet.stderr == ""


def test_non_finite_stop_keeps_the_last_good_checkpoint(tmp_path):
    class Exploding(GANTrainer):
        def train_step(self):
            stats = super().train_step()
            return stats * float("nan") if self.step > self.steps_per_epoch + 2 else stats

    spec = TrainSpec(nz=8, ngf=8, ndf=8, image_size=16, batch_size=256, epochs=3, seed=0)
    t = Exploding(spec, load_data("digits", image_size=16), tmp_path, Runtime(log_every=1))
    with pytest.raises(GantoolError, match="non-finite.*last good checkpoint, step 7"):
        t.run()
    info = json.loads(run_gantool("--json", "info", tmp_path / "checkpoint.safetensors").stdout)
    assert info["training"]["steps"] == t.steps_per_epoch == 7
    assert all(torch.isfinite(v.float()).all() for v in _tensors(tmp_path / "checkpoint.safetensors").values())
