"""examples/ run as a user would run them (with their small-budget switch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import ROOT, subprocess_env


def run_example(name: str, folder, timeout: int = 300, **extra) -> subprocess.CompletedProcess:
    """examples/NAME in its small-budget mode (QUICK=1), with the venv's gantool and python3 first
    on PATH: it must exit 0."""
    env = subprocess_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["QUICK"] = "1"
    env.update(extra)
    r = subprocess.run(["bash", str(ROOT / "examples" / name), str(folder)], env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r


def test_quickstart_runs_end_to_end(tmp_path):
    r = run_example("quickstart.sh", tmp_path)
    assert "latents: (2, 16)" in r.stdout
    assert "DCGAN" in r.stdout  # the info table
    assert Image.open(tmp_path / "grid.png").size == (8 * 18 + 2, 8 * 18 + 2)
    assert Image.open(tmp_path / "again.png").size == (3 * 18 + 2, 3 * 18 + 2)  # 8 latents: 3 per row
    assert Image.open(tmp_path / "per-class.png").size == (8 * 18 + 2, 10 * 18 + 2)
    sevens = np.load(tmp_path / "sevens.npy")
    assert sevens.shape == (16, 26) and (sevens[:, 16 + 7] == 1).all()


def test_latent_walks_runs_end_to_end(tmp_path):
    r = run_example("latent_walks.sh", tmp_path)
    assert "arithmetic: (6, 16)" in r.stdout
    for name in ("slerp.png", "lerp.png", "loop-frames.png"):
        assert Image.open(tmp_path / name).format == "PNG", name
    with Image.open(tmp_path / "loop.gif") as gif:
        assert gif.n_frames > 1
    assert Image.open(tmp_path / "arithmetic.png").size == (6 * 18 + 2, 4 * 18 + 2)
    assert "PSNR" in r.stdout and Image.open(tmp_path / "inverted.png").size == (8 * 18 + 2, 18 + 2)


def test_interpretability_runs_end_to_end(tmp_path):
    import json

    r = run_example("interpretability.sh", tmp_path, GANTOOL_THREADS="1")
    assert "pgd (targeted at Linf eps 0.3)" in r.stderr and "after 8-bit rounding" in r.stderr
    assert Image.open(tmp_path / "saliency.png").size == (2 + 6 * 10, 2 + 4 * 10)  # 8 digits x 3 panels
    assert Image.open(tmp_path / "pgd.png").size == (2 + 6 * 10, 2 + 4 * 10)
    rows = [json.loads(line) for line in (tmp_path / "ascent.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(row["saved_success"] for row in rows)
    assert Image.open(tmp_path / "classes.png").size == (2 + 10 * 10, 2 + 10)
    assert Image.open(tmp_path / "progress.png").size == (2 + 8 * 10, 2 + 10 * 10)


def test_transfer_runs_end_to_end(tmp_path):
    r = run_example("transfer.sh", tmp_path, timeout=600)
    assert "best C" in r.stdout and "pixels" in r.stdout and "discriminator" in r.stdout  # the comparison table
    held = float(r.stdout.split("held-out accuracy: ")[1].split("%")[0])
    assert f"accuracy: {held:.2f}% (360 rows)" in r.stdout  # the saved model, on the rows it held out
    for name in ("pixels", "classifier", "discriminator"):
        assert (tmp_path / "svms" / f"{name}.safetensors").exists()
    assert Image.open(tmp_path / "svm-confusion.png").format == "PNG"


def test_sweep_runs_end_to_end(tmp_path):
    r = run_example("sweep.sh", tmp_path)
    assert "ngf" in r.stdout and "ngf12" in r.stdout  # the table: the option that differs, a row per run
    assert Image.open(tmp_path / "compare.png").format == "PNG"
    assert (tmp_path / "compare.html").read_text().count("data:image/png;base64,") == 4  # curves + 3 grids
    rows = [line for line in (tmp_path / "compare.jsonl").read_text().splitlines() if line]
    assert len(rows) == 3


def test_pix2pix_runs_end_to_end(tmp_path):
    run_example("pix2pix.sh", tmp_path)
    assert Image.open(tmp_path / "pix2pix-out" / "crop.png").size == (257, 200)
    assert Image.open(tmp_path / "compare.png").size[0] > 0
    assert (tmp_path / "inpaint" / "model.safetensors").exists()


def test_domain_adaptation_runs_end_to_end(tmp_path):
    r = run_example("domain_adaptation.sh", tmp_path, GANTOOL_THREADS="1")
    assert "DANN to" in r.stdout and "source only" in r.stdout and "domain head" in r.stdout
    assert Image.open(tmp_path / "features.png").size == (1200, 600)
    assert "classified 8 images" in r.stderr


def test_cyclegan_runs_end_to_end(tmp_path):
    run_example("cyclegan.sh", tmp_path)
    made = Image.open(tmp_path / "a2b" / "digit-21x13.png")
    assert made.size == (21, 13) and made.mode == "RGB"
    assert Image.open(tmp_path / "b2a" / "digit-21x13.png").mode == "L"
