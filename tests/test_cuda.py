"""gantool on a CUDA device: the resolver, train (AMP/bf16, --compile) and sample, a classifier
(train-classifier, classify, saliency) and evaluate, each checked against what the CPU gives.

Marked `cuda` and skipped, with the reason, where torch finds no CUDA device; bench/gpu_check.sh
runs them on a GPU machine (`pytest -m cuda` selects them anywhere).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY, held_out_digits, run_gantool


def _no_cuda_reason() -> str:
    if torch.version.cuda is None:
        return f"no CUDA device: torch {torch.__version__} is a CPU-only build"
    return (f"no CUDA device: torch {torch.__version__} (built for CUDA {torch.version.cuda}) finds none "
            "(torch.cuda.is_available() is False)")


pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason=_no_cuda_reason())]

DEV = "cuda"
ONE = ["--threads", "1"]  # the CPU side of a comparison: steady, and the GPU does the work anyway


@pytest.fixture(scope="module")
def cuda_gan(tmp_path_factory):
    """A tiny GAN trained on the GPU (its file is the same wherever it was trained)."""
    out = tmp_path_factory.mktemp("cuda-gan") / "run"
    r = run_gantool("--device", DEV, "--seed", "0", "--json", "train", "--out", out, "--steps", "8", *TINY)
    assert r.code == 0, r.stderr
    return out / "model.safetensors", json.loads(r.stdout)


@pytest.fixture(scope="module")
def cuda_classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("cuda-clf") / "digits.safetensors"
    r = run_gantool("--device", DEV, "--seed", "0", "--json", "-q", "train-classifier", "--epochs", "3", "-o", path)
    assert r.code == 0, r.stderr
    return path, json.loads(r.stdout)


@pytest.fixture(scope="module")
def digits_batch(tmp_path_factory):
    images, labels = held_out_digits(40)
    path = tmp_path_factory.mktemp("batch") / "d.npy"
    np.save(path, images)
    return path, labels


def _pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im, dtype=np.int16)


# ---- the device --------------------------------------------------------------------------------------

def test_auto_resolves_to_cuda(gantool, tmp_path):
    from gantool.device import prepare, resolve_device

    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device(None) == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    assert prepare("auto", 1) == torch.device("cuda")
    r = gantool("--json", "train", "--out", tmp_path / "run", "--steps", "1", *TINY)  # no --device: auto
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["device"].startswith("cuda")


# ---- train and sample ------------------------------------------------------------------------------

def test_train_and_sample_on_cuda(cuda_gan, gantool, tmp_path):
    model, summary = cuda_gan
    assert summary["device"].startswith("cuda") and summary["steps"] == 8
    assert all(np.isfinite(v) for v in summary["final"].values()), summary["final"]
    info = json.loads(gantool("--json", "info", model).stdout)
    assert info["training"]["device"].startswith("cuda")
    runs = {}
    for device in (DEV, "cpu"):  # the same seed draws the same latents on any device
        r = gantool(*ONE, "--device", device, "--seed", "5", "sample", "-m", model, "-n", "16",
                    "-o", tmp_path / f"{device}.png", "--latents", tmp_path / f"{device}.npy")
        assert r.code == 0, r.stderr
        runs[device] = _pixels(tmp_path / f"{device}.png"), np.load(tmp_path / f"{device}.npy")
    assert np.array_equal(runs[DEV][1], runs["cpu"][1])
    # the same network on both: images within rounding (TF32 convolutions on the GPU), far from another draw's
    diff = np.abs(runs[DEV][0] - runs["cpu"][0])
    assert diff.mean() < 1.0 and diff.max() <= 16, (diff.mean(), diff.max())


def test_trainer_on_cuda_runs_bf16_autocast_channels_last_and_fused_adam(tmp_path):
    from gantool.data.sources import load_data
    from gantool.gan.spec import Runtime, TrainSpec
    from gantool.gan.trainer import GANTrainer

    data = load_data("digits", image_size=16)
    spec = dict(nz=8, ngf=8, ndf=8, steps=2, image_size=16, seed=0)
    t = GANTrainer(TrainSpec(**spec), data, tmp_path / "on", Runtime(device=DEV))
    assert t.amp and t.channels_last  # the CUDA defaults
    assert t.opt_g.defaults["fused"] and t.opt_d.defaults["fused"]
    assert t.batches.images.device.type == "cuda" and t.batches.images.dtype == torch.uint8
    z = torch.randn(4, 8, device=DEV)
    with t._autocast():
        assert t.G(z).dtype == torch.bfloat16
    stats = t.train_step()
    assert stats.device.type == "cuda" and torch.isfinite(stats).all()
    off = GANTrainer(TrainSpec(**spec), data, tmp_path / "off", Runtime(device=DEV, amp=False))
    with off._autocast():
        assert off.G(z).dtype == torch.float32
    assert torch.isfinite(off.train_step()).all()


@pytest.mark.parametrize("extra", [["--amp"], ["--no-amp"], ["--compile"]], ids=["amp", "no-amp", "compile"])
def test_train_options_on_cuda(gantool, tmp_path, extra):
    """AMP on and off, and torch.compile (inductor: Triton kernels; with AMP, the CUDA default), train and
    give finite losses. (--compile with --no-amp: bench/gpu_check.sh's throughput rows.)"""
    out = tmp_path / "run"
    r = gantool("--device", DEV, "--seed", "0", "--json", "train", "--out", out, "--steps", "4", *TINY, *extra)
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["steps"] == 4 and summary["device"].startswith("cuda")
    assert all(np.isfinite(v) for v in summary["final"].values()), summary["final"]
    assert gantool("--device", DEV, "sample", "-m", out / "model.safetensors", "-n", "4",
                   "-o", tmp_path / "s.png").code == 0


# ---- a classifier ----------------------------------------------------------------------------------

def test_classifier_trains_classifies_and_explains_on_cuda(cuda_classifier, digits_batch, gantool, tmp_path):
    path, result = cuda_classifier
    assert result["heldout_accuracy"] >= 0.9, result
    assert json.loads(gantool("--json", "info", path).stdout)["training"]["device"].startswith("cuda")
    images, labels = digits_batch
    top1 = {}
    for device in (DEV, "cpu"):
        r = gantool(*ONE, "--device", device, "--json", "classify", images, "-m", path, "-k", "1")
        assert r.code == 0, r.stderr
        top1[device] = np.array([int(json.loads(line)["top"][0]["class"]) for line in r.text.splitlines()])
    assert (top1[DEV] == labels).mean() >= 0.9
    assert (top1[DEV] == top1["cpu"]).mean() >= 0.95  # the same network; a near-tie may flip
    for method in ("gradient", "grad-cam"):  # captum on the GPU
        out = tmp_path / method
        r = gantool("--device", DEV, "--json", "saliency", images, "-m", path, "--method", method, "--out-dir", out)
        assert r.code == 0, r.stderr
        rows = [json.loads(line) for line in r.text.splitlines()]
        assert len(rows) == len(labels)
        for row in rows[:5]:
            m = np.load(out / f"{row['image']}.npy", allow_pickle=False)
            assert m.shape == (8, 8) and np.isfinite(m).all()
            assert 0 <= row["deletion_auc"] <= 1 and 0 <= row["insertion_auc"] <= 1


# ---- evaluate ----------------------------------------------------------------------------------------

def test_evaluate_on_cuda_agrees_with_the_cpu(cuda_gan, cuda_classifier, gantool):
    args = ["--seed", "0", "--json", "evaluate", "-m", cuda_gan[0], "--data", "digits", "-f", cuda_classifier[0],
            "-n", "300"]
    scores = {}
    for device in (DEV, "cpu"):
        r = gantool(*ONE, "--device", device, *args)
        assert r.code == 0, r.stderr
        scores[device] = json.loads(r.stdout)
    gpu, cpu = scores[DEV], scores["cpu"]
    assert gpu["n_fake"] == 300 and gpu["n_real"] == 1797 and gpu["fid"] > 0
    # the same images (seeded latents) through the same judge: the scores differ by the GPU's rounding only
    assert gpu["fid"] == pytest.approx(cpu["fid"], rel=0.05, abs=0.5)
    assert gpu["precision"] == pytest.approx(cpu["precision"], abs=0.05)
    assert gpu["recall"] == pytest.approx(cpu["recall"], abs=0.05)
