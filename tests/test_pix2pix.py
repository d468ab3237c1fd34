"""gantool train-pix2pix: the data layouts, exact resume, SIGTERM and the refusals, on tiny data."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from gantool.errors import Stopped
from gantool.translation.trainer import start
from test_train import _StopAt

TINY = ["--ngf", "4", "--ndf", "4", "--batch-size", "4", "-q"]


def _pairs(folder, n=12, size=16, names=None, b_size=None):
    """A/ and B/ with the same names: B is A's negative (a mapping a U-Net learns in a few steps)."""
    rng = np.random.default_rng(0)
    (folder / "A").mkdir(parents=True)
    (folder / "B").mkdir()
    for i in range(n):
        a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(a).save(folder / "A" / f"p{i}.png")
        b = Image.fromarray(255 - a).convert("L")
        if b_size and i == 0:  # one pair of two sizes
            b = b.resize((b_size, b_size))
        b.save(folder / "B" / (names or {}).get(i, f"p{i}.png"))
    return folder


def _photos(folder):
    from sklearn.datasets import load_sample_images

    folder.mkdir(parents=True)
    for i, im in enumerate(load_sample_images().images):
        Image.fromarray(im[::4, ::4]).save(folder / f"photo{i}.png")  # 107x160
    return folder


def test_paired_folders_train_a_translator_with_its_files(gantool, tmp_path):
    data = _pairs(tmp_path / "pairs")
    out = tmp_path / "run"
    r = gantool("--json", "train-pix2pix", "--data", data, "--epochs", "2", "--decay-epochs", "1", "--out", out, *TINY)
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["model"] == str(out / "model.safetensors") and summary["steps"] == 3 * 2  # 10 pairs (2 held out)
    info = json.loads(gantool("--json", "info", out / "model.safetensors").stdout)
    assert info["kind"] == "translator" and info["config"]["arch"] == "pix2pix"
    assert (info["config"]["in_channels"], info["config"]["out_channels"]) == (3, 1)  # B is gray
    assert info["data"]["task"] == "paired" and info["data"]["direction"] == "a2b"
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert set(rows[0]) >= {"loss_d", "g_gan", "g_l1", "d_real", "d_fake", "lr"}
    assert float(rows[-1]["lr"]) < float(rows[0]["lr"])  # the linear decay
    grid = Image.open(sorted((out / "samples").glob("epoch-*.png"))[-1])
    assert grid.size[0] > grid.size[1]  # three columns: input | output | target, two held-out rows


def test_direction_b2a_swaps_the_sides(gantool, tmp_path):
    data = _pairs(tmp_path / "pairs")
    r = gantool("train-pix2pix", "--data", data, "--direction", "b2a", "--epochs", "1", "--decay-epochs", "0",
                "--out", tmp_path / "run", *TINY)
    assert r.code == 0, r.stderr
    cfg = json.loads(gantool("--json", "info", tmp_path / "run" / "model.safetensors").stdout)["config"]
    assert (cfg["in_channels"], cfg["out_channels"]) == (1, 3)


def test_side_by_side_ab_images_with_train_and_val(gantool, tmp_path):
    rng = np.random.default_rng(1)
    for split, n in (("train", 8), ("val", 3)):
        (tmp_path / "ab" / split).mkdir(parents=True)
        for i in range(n):
            a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(np.concatenate([a, 255 - a], 1)).save(tmp_path / "ab" / split / f"{i}.jpg", quality=95)
    out = tmp_path / "run"
    r = gantool("--json", "train-pix2pix", "--data", tmp_path / "ab", "--epochs", "1", "--decay-epochs", "1",
                "--out", out, *TINY)
    assert r.code == 0, r.stderr
    info = json.loads(gantool("--json", "info", out / "model.safetensors").stdout)
    assert info["data"]["num_pairs"] == 8  # every train/ pair trains; val/ feeds the grid
    grid = Image.open(sorted((out / "samples").glob("epoch-*.png"))[-1])
    assert grid.size[1] > 2 * grid.size[0] / 3  # three val rows


def test_restore_task_learns_from_pairs_made_by_the_damage(gantool, tmp_path):
    from sklearn.datasets import load_digits

    np.save(tmp_path / "d.npy", (load_digits().images[:120] * 16).astype(np.uint8))
    out = tmp_path / "run"
    r = gantool("--json", "train-pix2pix", "--task", "restore", "--mask", "center", "--downsample", "2",
                "--data", tmp_path / "d.npy", "--image-size", "8", "--no-random-crop", "--epochs", "3",
                "--decay-epochs", "0", "--out", out, *TINY)
    assert r.code == 0, r.stderr
    info = json.loads(gantool("--json", "info", out / "model.safetensors").stdout)
    assert info["data"]["task"] == "restore" and info["data"]["damage"]["downsample"] == 2
    assert info["data"]["damage"]["mask"] == "center"
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert float(rows[-1]["g_l1"]) < float(rows[0]["g_l1"])  # it learns


def test_l1_only_baseline_trains_no_discriminator(gantool, tmp_path):
    out = tmp_path / "run"
    r = gantool("train-pix2pix", "--task", "colorize", "--data", _photos(tmp_path / "photos"), "--image-size", "16",
                "--load-size", "32", "--gan-weight", "0", "--epochs", "2", "--decay-epochs", "0", "--out", out, *TINY)
    assert r.code == 0, r.stderr
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert list(rows[0]) == ["step", "epoch", "images", "g_l1", "lr"]
    info = json.loads(gantool("--json", "info", out / "model.safetensors").stdout)
    assert info["training"]["loss"] == "l1" and info["config"]["task"] == "colorize"


@pytest.mark.parametrize("task", ["paired", "restore"])
def test_interrupt_then_resume_equals_uninterrupted_run(gantool, tmp_path, task):
    if task == "paired":
        data, extra = _pairs(tmp_path / "pairs"), {}
        damage, flags = {}, []
    else:
        from sklearn.datasets import load_digits

        np.save(tmp_path / "d.npy", (load_digits().images[:60] * 16).astype(np.uint8))
        data, extra = tmp_path / "d.npy", {"task": "restore", "image_size": 8, "load_size": 10}
        damage, flags = {"noise": 0.1, "mask": "random:0.3"}, ["--task", "restore", "--image-size", "8",
                                                               "--load-size", "10", "--noise", "0.1", "--mask",
                                                               "random:0.3"]
    common = ["--data", data, "--epochs", "2", "--decay-epochs", "2", "--seed", "3", "--ngf", "4", "--ndf", "4",
              "--batch-size", "4", *flags]
    assert gantool("train-pix2pix", "--out", tmp_path / "full", *common, "-q").code == 0
    stopper = _StopAt(3)
    t = start({"data": str(data), "epochs": 2, "decay_epochs": 2, "seed": 3, "ngf": 4, "ndf": 4, "batch_size": 4,
               **extra}, damage, tmp_path / "cut", "cpu", progress=stopper, log_every=1)
    stopper.trainer = t
    with pytest.raises(Stopped):
        t.run()
    assert 0 < json.loads(gantool("--json", "info", tmp_path / "cut" / "checkpoint.safetensors").stdout)[
        "training"]["steps"] < t.total_steps
    r = gantool("train-pix2pix", "--out", tmp_path / "cut", "--resume", "-q")
    assert r.code == 0, r.stderr
    full, cut = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert full.keys() == cut.keys()
    for k in full:
        assert torch.equal(full[k], cut[k]), k


def test_resume_refuses_other_settings_and_extends_the_budget(gantool, tmp_path):
    data, out = _pairs(tmp_path / "pairs"), tmp_path / "run"
    assert gantool("train-pix2pix", "--data", data, "--epochs", "1", "--decay-epochs", "0", "--out", out,
                   *TINY).code == 0
    before = (out / "checkpoint.safetensors").read_bytes()
    steps = json.loads(gantool("--json", "info", out / "model.safetensors").stdout)["training"]["steps"]
    r = gantool("train-pix2pix", "--out", out, "--resume", "--lr", "0.1")
    assert r.code == 2 and "--lr" in r.stderr and "resume" in r.stderr
    r = gantool("train-pix2pix", "--out", out, "--resume", "--blur", "1")
    assert r.code == 2 and "--blur" in r.stderr
    assert (out / "checkpoint.safetensors").read_bytes() == before
    r = gantool("--json", "train-pix2pix", "--out", out, "--resume", "--epochs", "2", "-q")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["steps"] == 2 * steps
    r = gantool("train-pix2pix", "--data", data, "--out", out, *TINY)
    assert r.code == 2 and "already holds a run" in r.stderr and "--force" in r.stderr
    gan = tmp_path / "gan"
    assert gantool("train", "--steps", "1", "--nz", "4", "--ngf", "4", "--ndf", "4", "--image-size", "16",
                   "--out", gan, "-q").code == 0
    r = gantool("train-pix2pix", "--out", gan, "--resume")
    assert r.code == 2 and "a GAN run" in r.stderr


def _one_line(r):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_refusals_are_one_line_with_the_documented_status(gantool, tmp_path):
    names = _pairs(tmp_path / "names", names={3: "other.png"})
    r = gantool("train-pix2pix", "--data", names, "--out", tmp_path / "r1", *TINY)
    assert r.code == 1 and "no partner" in _one_line(r) and not (tmp_path / "r1").exists()
    sizes = _pairs(tmp_path / "sizes", b_size=12)
    r = gantool("train-pix2pix", "--data", sizes, "--out", tmp_path / "r2", *TINY)
    assert r.code == 1 and "share a size" in _one_line(r)
    r = gantool("train-pix2pix", "--task", "colorize", "--data", "digits", "--out", tmp_path / "r3", *TINY)
    assert r.code == 2 and "grayscale" in _one_line(r)  # colorization needs colour
    r = gantool("train-pix2pix", "--task", "colorize", "--direction", "b2a", "--data", "digits", *TINY)
    assert r.code == 2 and "--direction" in _one_line(r)  # a direction the data cannot serve
    r = gantool("train-pix2pix", "--task", "restore", "--data", "digits", *TINY)
    assert r.code == 2 and "needs damage" in _one_line(r)
    r = gantool("train-pix2pix", "--data", names, "--mask", "center", *TINY)
    assert r.code == 2 and "damage" in _one_line(r)
    r = gantool("train-pix2pix", *TINY)
    assert r.code == 2 and "--data" in _one_line(r)
    r = gantool("train-pix2pix", "--data", tmp_path / "names" / "A" / "p0.png", *TINY)
    assert r.code == 2 and "folder" in _one_line(r)
    r = gantool("train-pix2pix", "--data", names, "--image-size", "16", "--d-layers", "3", *TINY)
    assert r.code == 2 and "--d-layers" in _one_line(r) and "no patch" in r.stderr


def sigterm_after_first_checkpoint(command: list, out) -> dict:
    """Start `gantool --threads 1 COMMAND...` (a training into `out`), SIGTERM it once its first
    checkpoint is there: it must exit 143 with one line naming --resume. The checkpoint's resume state."""
    from conftest import subprocess_env
    from gantool.files.modelfile import read_header

    proc = subprocess.Popen([sys.executable, "-m", "gantool", "--threads", "1", *map(str, command), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env())
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.safetensors").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(proc.communicate()[1].decode())
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gantool {command[0]}: error: ") and "--resume" in lines[0]
    return json.loads(read_header(out / "checkpoint.safetensors").extra["resume"])


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    data = _pairs(tmp_path / "pairs", n=40)
    resume = sigterm_after_first_checkpoint(["train-pix2pix", "--data", data, "--epochs", "10000", "--ngf", "4",
                                             "--ndf", "4", "--batch-size", "4", "-q"], tmp_path / "run")
    assert resume["step"] > 0

def test_a_colorizer_trained_on_photo_crops_colours_an_odd_sized_photo_keeping_its_l(gantool, tmp_path):
    from kornia.color import rgb_to_lab

    out = tmp_path / "run"
    r = gantool("train-pix2pix", "--task", "colorize", "--data", _photos(tmp_path / "photos"), "--image-size", "16",
                "--load-size", "48", "--epochs", "3", "--decay-epochs", "1", "--out", out, *TINY)
    assert r.code == 0, r.stderr
    from sklearn.datasets import load_sample_images

    photo = load_sample_images().images[1][100:177, 200:300]  # 100x77, colour
    Image.fromarray(photo).save(tmp_path / "odd.png")
    r = gantool("translate", "-m", out / "model.safetensors", tmp_path / "odd.png", "--out-dir", tmp_path / "col", "-q")
    assert r.code == 0, r.stderr
    made = Image.open(tmp_path / "col" / "odd.png")
    assert made.mode == "RGB" and made.size == (100, 77)

    def lab(a):
        return rgb_to_lab(torch.from_numpy(np.asarray(a, dtype=np.float32) / 255).permute(2, 0, 1)[None])[0]

    assert float((lab(made)[0] - lab(photo)[0]).abs().mean()) < 1.0  # its own L, up to 8-bit rounding


def test_compare_takes_translator_runs(gantool, tmp_path):
    data = _pairs(tmp_path / "pairs")
    for name, extra in (("gan", []), ("l1", ["--gan-weight", "0"])):
        assert gantool("train-pix2pix", "--data", data, "--epochs", "1", "--decay-epochs", "0", "--out",
                       tmp_path / name, *TINY, *extra).code == 0
    r = gantool("--json", "compare", tmp_path / "gan", tmp_path / "l1", "-o", tmp_path / "c.png")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["options"]["gan_weight"] for row in rows] == [1.0, 0.0]
