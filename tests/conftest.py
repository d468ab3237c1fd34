"""Shared fixtures: run gantool in-process against a fake Env (streams + isatty flags), with user
paths (data root, cache) pointed into a temp dir, and tiny trained models built once per session."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gantool.cli import main
from gantool.context import Env

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs a worker per core), each worker keeps to its own cores: the
    torch threads in it, and the gantool processes it starts, use those only, so workers never fight
    over the same cores (two 2-thread torch processes on 2 cores slow each other 5-10x)."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker and count > 1 and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        mine = set(cores[int(worker.removeprefix("gw")) % count::count])
        if mine:
            os.sched_setaffinity(0, mine)


@dataclass
class Result:
    code: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode()


def run_gantool(*args, stdin: bytes = b"", stdin_tty: bool = False, stdout_tty: bool = False,
                stderr_tty: bool = False) -> Result:
    out, err = io.BytesIO(), io.StringIO()
    env = Env(stdin=io.BytesIO(stdin), stdout=out, stderr=err, stdin_isatty=stdin_tty,
              stdout_isatty=stdout_tty, stderr_isatty=stderr_tty)
    code = main([str(a) for a in args], env)
    return Result(int(code), out.getvalue(), err.getvalue())


@pytest.fixture
def gantool():
    return run_gantool


@pytest.fixture(autouse=True)
def user_paths(tmp_path, monkeypatch):
    """Keep tests away from the user's data root, model and device settings."""
    monkeypatch.setenv("GANTOOL_DATA_ROOT", str(tmp_path / "data-root"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for var in ("GANTOOL_MODEL", "GANTOOL_DEVICE", "GANTOOL_DEBUG"):
        monkeypatch.delenv(var, raising=False)


def one_line_error(r, cmd: str, code: int = 1) -> str:
    """The result is a failure with exit `code` and exactly one `gantool CMD: error:` line on stderr."""
    assert r.code == code, (r.code, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"gantool {cmd}: error: "), lines[0]
    return lines[0]


TINY = ["--nz", "8", "--ngf", "8", "--ndf", "8", "--image-size", "16", "--batch-size", "32", "-q"]


@pytest.fixture(scope="session")
def tiny_gan(tmp_path_factory) -> Path:
    """An unconditional 16x16 GAN trained for a few steps on digits."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    r = run_gantool("train", "--out", out, "--steps", "6", "--seed", "0", *TINY)
    assert r.code == 0, r.stderr
    return out / "model.safetensors"


@pytest.fixture(scope="session")
def tiny_cgan(tmp_path_factory) -> Path:
    """A conditional 16x16 GAN (10 digit classes) trained for a few steps."""
    out = tmp_path_factory.mktemp("tinyc") / "run"
    r = run_gantool("train", "--out", out, "--steps", "6", "--seed", "0", "--conditional", *TINY)
    assert r.code == 0, r.stderr
    return out / "model.safetensors"


def subprocess_env() -> dict:
    """Environment for running the installed `gantool` as a subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


PYTHON = sys.executable


def held_out_digits(n: int | None = None):
    """The digits that `gantool --seed 0 train-classifier` holds out (the first n, in order):
    (uint8 (n, 8, 8), labels)."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    from gantool.classify.training import split

    d = load_digits()
    _, held = split(torch.tensor(d.target), 0.2, 0)
    held = np.sort(held)[:n]
    return np.round(d.images[held] * 255 / 16).astype(np.uint8), d.target[held]


@pytest.fixture(scope="session")
def digits_classifier(tmp_path_factory) -> Path:
    """The default digits classifier (seed 0, one thread: another torch process may share the cores)."""
    path = tmp_path_factory.mktemp("clf") / "digits.safetensors"
    r = run_gantool("--seed", "0", "--threads", "1", "-q", "train-classifier", "-o", path)
    assert r.code == 0, r.stderr
    return path
