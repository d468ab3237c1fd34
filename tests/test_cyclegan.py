"""gantool train-cyclegan: two unpaired domains (of different channels and sizes), translate both ways,
exact resume with the image pools, SIGTERM and the refusals, on tiny data."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import one_line_error
from gantool.errors import Stopped
from gantool.translation.cycle_trainer import ImagePool, start
from test_pix2pix import sigterm_after_first_checkpoint
from test_train import _StopAt

NETS = ["--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--batch-size", "2"]
TINY = [*NETS, "-q"]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("GANTOOL_THREADS", "1")  # the machine's cores are shared


def _domain(folder, n, size, mode, seed=0):
    """n noise images of one mode; domain B's are brighter, so the two domains differ."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    shape = (size, size) if mode == "L" else (size, size, 3)
    for i in range(n):
        Image.fromarray(rng.integers(0, 128 if mode == "L" else 256, shape, dtype=np.uint8), mode).save(
            folder / f"{i}.png")
    return folder


def _gray_and_colour(tmp_path):
    return _domain(tmp_path / "gray", 12, 20, "L"), _domain(tmp_path / "colour", 7, 16, "RGB", seed=1)


def _grid_cells(path, side):
    """(rows, columns) of a grid of side x side cells with torchvision's 2-pixel padding."""
    w, h = Image.open(path).size
    return (h - 2) // (side + 2), (w - 2) // (side + 2)


def test_two_sources_of_different_channels_and_sizes_train_a_cyclegan(gantool, tmp_path):
    a, b = _gray_and_colour(tmp_path)
    out = tmp_path / "run"
    r = gantool("--json", "train-cyclegan", "--data-a", a, "--data-b", b, "--image-size", "12", "--epochs", "2",
                "--decay-epochs", "1", "--out", out, *NETS)
    assert r.code == 0, r.stderr
    assert "no identity term" in r.stderr  # 1 and 3 channels: off by default, and said so
    summary = json.loads(r.stdout)
    assert summary["steps"] == 3 * (11 // 2)  # an epoch covers the larger domain (12, one held out)
    assert summary["identity"] == 0 and summary["pool_size"] == 50 and summary["loss"] == "lsgan"
    info = json.loads(gantool("--json", "info", out / "model.safetensors").stdout)
    assert info["kind"] == "translator" and info["config"]["arch"] == "cyclegan"
    assert (info["config"]["a_channels"], info["config"]["b_channels"]) == (1, 3)
    assert set(info["tensors"]["parameters"]) == {"generator_ab", "generator_ba", "discriminator_a", "discriminator_b"}
    assert info["data"]["load_size"] == 13 and info["data"]["num_a"] == 11  # both domains at one load size
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert set(rows[0]) >= {"loss_d_a", "loss_d_b", "g_gan_ab", "g_gan_ba", "cycle_a", "cycle_b", "d_real_a",
                            "d_fake_b", "lr"} and "identity_a" not in rows[0]
    assert float(rows[-1]["lr"]) < float(rows[0]["lr"])  # the linear decay
    grid = sorted((out / "samples").glob("epoch-*.png"))[-1]
    assert Image.open(grid).mode == "RGB"
    assert _grid_cells(grid, 12) == (1 + 7, 3)  # A | G(A) | F(G(A)) per held-out A, B | F(B) | G(F(B)) per B


def test_the_public_layout_with_test_folders_and_the_identity_term(gantool, tmp_path):
    root = tmp_path / "set"
    for name, n, seed in (("trainA", 6, 0), ("trainB", 9, 1), ("testA", 2, 2), ("testB", 3, 3)):
        _domain(root / name, n, 16, "RGB", seed)
    out = tmp_path / "run"
    r = gantool("--json", "train-cyclegan", "--data", root, "--image-size", "16", "--no-random-crop", "--epochs",
                "1", "--decay-epochs", "0", "--out", out, *TINY)
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["identity"] == 0.5 and summary["steps"] == 9 // 2  # every train image trains; B is larger
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert {"identity_a", "identity_b"} <= set(rows[0])
    assert _grid_cells(sorted((out / "samples").glob("epoch-*.png"))[-1], 16) == (2 + 3, 3)  # testA, testB rows


def test_translate_applies_either_direction_at_any_size(gantool, tmp_path):
    a, b = _gray_and_colour(tmp_path)
    out = tmp_path / "run"
    assert gantool("train-cyclegan", "--data-a", a, "--data-b", b, "--image-size", "12", "--epochs", "1",
                   "--decay-epochs", "0", "--out", out, *TINY).code == 0
    model = out / "model.safetensors"
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (13, 21), dtype=np.uint8), "L").save(tmp_path / "gray.png")
    Image.fromarray(rng.integers(0, 256, (13, 21, 3), dtype=np.uint8)).save(tmp_path / "colour.png")
    made = {}
    for direction, image in (("a2b", "gray.png"), ("b2a", "colour.png"), (None, "gray.png")):
        flags = ["--direction", direction] if direction else []
        r = gantool("--json", "translate", "-m", model, tmp_path / image, *flags, "--out-dir",
                    tmp_path / str(direction), "-q")
        assert r.code == 0, r.stderr
        made[direction] = Image.open(tmp_path / str(direction) / image)
        assert json.loads(r.stdout)["width"] == 21
    assert made["a2b"].size == made["b2a"].size == (21, 13)
    assert made["a2b"].mode == "RGB" and made["b2a"].mode == "L"  # each generator makes its own domain
    assert np.array_equal(np.asarray(made[None]), np.asarray(made["a2b"]))  # a2b is the default
    r = gantool("translate", "-m", model, tmp_path / "gray.png", "--dropout", "-o", tmp_path / "p.png")
    assert "no dropout layer" in one_line_error(r, "translate", 2)


def test_interrupt_then_resume_equals_uninterrupted_run_pools_included(gantool, tmp_path):
    a, b = _domain(tmp_path / "a", 10, 12, "RGB"), _domain(tmp_path / "b", 6, 14, "RGB", seed=1)
    settings = {"data_a": str(a), "data_b": str(b), "epochs": 2, "decay_epochs": 2, "seed": 3, "ngf": 4, "ndf": 4,
                "n_blocks": 1, "batch_size": 2, "pool_size": 3, "image_size": 8}
    flags = [x for k, v in settings.items() if k != "seed" for x in ("--" + k.replace("_", "-"), str(v))]
    assert gantool("--seed", "3", "train-cyclegan", "--out", tmp_path / "full", *flags, "-q").code == 0
    stopper = _StopAt(6)  # after the pools (3 each, 2 images a step) are full and swapping
    t = start(settings, tmp_path / "cut", "cpu", progress=stopper, log_every=1)
    stopper.trainer = t
    with pytest.raises(Stopped):
        t.run()
    saved = load_file(tmp_path / "cut" / "checkpoint.safetensors")
    assert saved["pool.a"].shape == (3, 3, 8, 8) and saved["pool.b"].shape == (3, 3, 8, 8)
    assert 0 < t.step < t.total_steps
    r = gantool("train-cyclegan", "--out", tmp_path / "cut", "--resume", "-q")
    assert r.code == 0, r.stderr
    full, cut = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert full.keys() == cut.keys() and len(full) > 0
    for k in full:
        assert torch.equal(full[k], cut[k]), k
    assert (json.loads(gantool("--json", "info", tmp_path / "cut" / "model.safetensors").stdout)["training"]["steps"]
            == t.total_steps)


def test_the_pool_fills_then_swaps_half_of_the_time():
    pool, noise = ImagePool(4), torch.Generator().manual_seed(0)
    first = torch.arange(4.0).reshape(4, 1, 1, 1)
    assert torch.equal(pool.query(first, noise), first) and pool.count == 4  # filling: shown as they come
    shown = torch.cat([pool.query(torch.full((1, 1, 1, 1), 10.0 + i), noise) for i in range(200)])
    given = 10.0 + torch.arange(200.0)
    stored = shown.flatten() != given
    assert 60 < int(stored.sum()) < 140  # about half are stored images, swapped out for the new one
    assert bool((shown.flatten()[stored] < given[stored]).all())  # what comes back was stored earlier
    assert min(pool.images.flatten().tolist()) >= 10  # the pool now holds recent images only
    assert torch.equal(ImagePool(0).query(first, noise), first)  # pool size 0: off


def test_resume_refuses_other_settings_and_another_kind_of_run(gantool, tmp_path):
    a, b = _gray_and_colour(tmp_path)
    out = tmp_path / "run"
    assert gantool("train-cyclegan", "--data-a", a, "--data-b", b, "--image-size", "12", "--epochs", "1",
                   "--decay-epochs", "0", "--out", out, *TINY).code == 0
    r = gantool("train-cyclegan", "--out", out, "--resume", "--cycle-weight", "5")
    assert "--cycle-weight" in one_line_error(r, "train-cyclegan", 2) and "resume" in r.stderr
    r = gantool("train-cyclegan", "--out", out, "--resume", "--data-b", a)
    assert "not the data this run was trained on" in one_line_error(r, "train-cyclegan", 2)
    from test_pix2pix import _pairs

    p2p = tmp_path / "p2p"
    assert gantool("train-pix2pix", "--data", _pairs(tmp_path / "pairs"), "--epochs", "1", "--decay-epochs", "0",
                   "--out", p2p, "--ngf", "4", "--ndf", "4", "--batch-size", "4", "-q").code == 0
    r = gantool("train-cyclegan", "--out", p2p, "--resume")
    assert "holds a pix2pix run" in one_line_error(r, "train-cyclegan", 2)  # a pix2pix file where a CycleGAN is needed
    r = gantool("translate", "-m", p2p / "model.safetensors", tmp_path / "gray" / "0.png", "--direction", "b2a",
                "-o", tmp_path / "x.png")
    assert "translates one way" in one_line_error(r, "translate", 2)  # --direction on a pix2pix model


def test_refusals_are_one_line_with_the_documented_status(gantool, tmp_path):
    a, b = _gray_and_colour(tmp_path)
    (tmp_path / "empty").mkdir()
    r = gantool("train-cyclegan", "--data-a", a, "--data-b", tmp_path / "empty", "--out", tmp_path / "r1", *TINY)
    assert "no images" in one_line_error(r, "train-cyclegan", 1) and not (tmp_path / "r1").exists()
    np.save(tmp_path / "none.npy", np.zeros((0, 8, 8), np.uint8))
    r = gantool("train-cyclegan", "--data-a", tmp_path / "none.npy", "--data-b", b, "--out", tmp_path / "r2", *TINY)
    assert "holds no images" in one_line_error(r, "train-cyclegan", 1) and not (tmp_path / "r2").exists()
    r = gantool("train-cyclegan", "--data-a", a, "--out", tmp_path / "r5", *TINY)
    assert "--data-b" in one_line_error(r, "train-cyclegan", 2)
    r = gantool("train-cyclegan", "--data", tmp_path, "--data-a", a, "--out", tmp_path / "r6", *TINY)
    assert "--data-a" in one_line_error(r, "train-cyclegan", 2)
    r = gantool("train-cyclegan", "--data", tmp_path, "--out", tmp_path / "r7", *TINY)
    assert "trainA" in one_line_error(r, "train-cyclegan", 2)
    r = gantool("train-cyclegan", "--data-a", a, "--data-b", b, "--identity", "0.5", "--out", tmp_path / "r3", *TINY)
    assert "equal channels" in one_line_error(r, "train-cyclegan", 2) and not (tmp_path / "r3").exists()
    r = gantool("train-cyclegan", "--data-a", a, "--data-b", b, "--image-size", "12", "--d-layers", "3", "--out",
                tmp_path / "r8", *TINY)
    assert "no patch" in one_line_error(r, "train-cyclegan", 2)
    r = gantool("train-cyclegan", "--data-a", a, "--data-b", b, "--out", tmp_path / "r4", *TINY, "--n-blocks", "0")
    assert "--n-blocks" in one_line_error(r, "train-cyclegan", 2)
    assert not any((tmp_path / f"r{i}").exists() for i in range(4, 9))  # nothing left behind


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    a, b = _domain(tmp_path / "a", 40, 16, "RGB"), _domain(tmp_path / "b", 40, 16, "RGB", seed=1)
    resume = sigterm_after_first_checkpoint(["train-cyclegan", "--data-a", a, "--data-b", b, "--epochs", "10000",
                                             *TINY], tmp_path / "run")
    assert resume["step"] > 0 and set(resume["pools"]) == {"a", "b"}
