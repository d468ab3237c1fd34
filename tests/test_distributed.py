"""gantool train under torchrun: two CPU processes over Gloo (DistributedDataParallel), against one.

Each launch starts three Python processes on a machine that may have two busy cores: the runs are
a few steps of a tiny model, and the module makes three launches.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import PYTHON, ROOT, one_line_error, run_gantool, subprocess_env
from gantool.data.sources import load_data
from gantool.gan.spec import Runtime, TrainSpec
from gantool.gan.trainer import GANTrainer

SMALL = ["--nz", "8", "--ngf", "8", "--ndf", "8", "--image-size", "16", "--batch-size", "32", "--log-every", "1"]
TORCHRUN = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]

pytestmark = pytest.mark.slow


def torchrun(*args, probe_dir=None, timeout=180) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node 2` of gantool (through tests/distributed_probe.py with probe_dir)."""
    env = subprocess_env()
    target = ["-m", "gantool"]
    if probe_dir is not None:
        env["GANTOOL_PROBE_DIR"] = str(probe_dir)
        target = [str(ROOT / "tests" / "distributed_probe.py")]
    return subprocess.run([*TORCHRUN, *target, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout)


def gantool_lines(stderr: str) -> list[str]:
    """stderr without torchrun's own lines (its banner, warnings and failure report)."""
    return [line for line in stderr.splitlines()
            if re.match(r"gantool train: |training a |train \d|wrote |resuming ", line)]


def assert_close(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if a[k].is_floating_point():
            assert torch.allclose(a[k], b[k], atol=atol, rtol=0), (k, (a[k] - b[k]).abs().max().item())


def test_two_processes_train_one_run_as_one_process_would(tmp_path):
    """The ranks hold identical weights; rank 0 alone writes and prints; with SyncBatchNorm a
    2-process run is the 1-process run with the same global batch and seed (up to float order: in
    float32, --no-amp, since bf16 rounds a half batch's sums otherwise than the whole's), the default
    R1 penalty of step 0 included (its double backward through the global batch norm's sums)."""
    out, probes = tmp_path / "two", tmp_path / "probes"
    probes.mkdir()
    r = torchrun("train", "--out", out, "--steps", "6", "--seed", "3", "--sync-batch-norm", "--no-amp", *SMALL,
                 probe_dir=probes)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{out / 'model.safetensors'}\n"  # the result once, from rank 0
    lines = gantool_lines(r.stderr)
    assert [line for line in lines if line.startswith("training")] == [
        "training a DCGAN (16x16x1) on digits (1,797 images) for 6 steps on 2 processes (cpu, Gloo), seed 3"]
    assert [int(line.split()[1].split("/")[0]) for line in lines if line.startswith("train ")] == [1, 2, 3, 4, 5, 6]
    assert sum(line.startswith("wrote") for line in lines) == 1 and "error" not in r.stderr

    ranks = [load_file(probes / f"rank-{i}.safetensors") for i in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    for k in ranks[0]:  # parameters by DDP, batch norm's running statistics by their average
        assert torch.equal(ranks[0][k], ranks[1][k]), k
    saved = load_file(out / "model.safetensors")
    for k, v in saved.items():
        assert torch.equal(v, ranks[0][k]), k
    assert sorted(p.name for p in out.rglob("*")) == ["checkpoint.safetensors", "epoch-0001.png", "losses.csv",
                                                     "losses.png", "model.safetensors", "samples"]
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert [(int(r["step"]), int(r["images"])) for r in rows] == [(s, 32 * s) for s in range(1, 7)]
    info = json.loads(run_gantool("--json", "info", out / "model.safetensors").stdout)["training"]
    assert info["processes"] == 2 and info["batch_size"] == 32 and info["images_seen"] == 192

    one = run_gantool("--threads", "1", "train", "--out", tmp_path / "one", "--steps", "6", "--seed", "3", "-q",
                      "--no-amp", *SMALL)
    assert one.code == 0, one.stderr
    single = load_file(tmp_path / "one" / "model.safetensors")
    assert_close(single, saved, atol=1e-5)
    spec = TrainSpec(nz=8, ngf=8, ndf=8, image_size=16, batch_size=32, steps=6, seed=3)
    initial = GANTrainer(spec, load_data("digits", image_size=16), tmp_path / "init", Runtime()).G.state_dict()
    moved = max((single[f"generator.{k}"] - v).abs().max().item() for k, v in initial.items() if k.endswith("weight"))
    assert moved > 100 * 1e-5  # six steps moved the weights far more than the two runs differ


def test_resume_with_another_number_of_processes_continues_the_same_run(tmp_path):
    """4 steps in one process, 4 more in two (WGAN-GP's double backward, conditional, EMA, 2 D steps)
    end where 8 steps in one process end; the noise generator is the same in both processes (in
    float32: bf16 rounds a half batch otherwise than the whole; at constant rates: a linear decay's
    first 4 steps follow the 4-step budget's curve)."""
    extra = ["--seed", "5", "--conditional", "--loss", "wgan-gp", "--d-steps", "2", "--ema", "0.9", "--no-amp",
             "--lr-decay", "none", *SMALL]
    full = run_gantool("--threads", "1", "train", "--out", tmp_path / "full", "--steps", "8", "-q", *extra)
    assert full.code == 0, full.stderr
    cut = run_gantool("--threads", "1", "train", "--out", tmp_path / "cut", "--steps", "4", "-q", *extra)
    assert cut.code == 0, cut.stderr
    probes = tmp_path / "probes"
    probes.mkdir()
    r = torchrun("-q", "train", "--out", tmp_path / "cut", "--resume", "--steps", "8", "--sync-batch-norm",
                 "--no-amp", probe_dir=probes)
    assert r.returncode == 0, r.stderr
    assert gantool_lines(r.stderr) == []  # -q: no line from any process
    ranks = [load_file(probes / f"rank-{i}.safetensors") for i in (0, 1)]
    for k in ranks[0]:
        assert torch.equal(ranks[0][k], ranks[1][k]), k
    resumed, straight = load_file(tmp_path / "cut" / "model.safetensors"), load_file(tmp_path / "full" / "model.safetensors")
    assert_close(resumed, straight, atol=1e-5)
    info = json.loads(run_gantool("--json", "info", tmp_path / "cut" / "checkpoint.safetensors").stdout)["training"]
    assert info["steps"] == 8 and info["processes"] == 2


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_sigterm_to_one_process_stops_every_process_with_one_checkpoint(tmp_path):
    """SIGTERM to torchrun (a scheduler, `timeout`; Ctrl-C alike) reaches every process; sent to one
    process only, the stop is agreed at the next reading: all stop after the same step, rank 0
    saves once and says so, and the processes exit 143."""
    if not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"):
        pytest.skip("needs /proc/PID/task/PID/children")
    out = tmp_path / "run"
    args = [a if a != "32" else "256" for a in SMALL]  # 7 steps an epoch: a checkpoint soon
    proc = subprocess.Popen([*TORCHRUN, "-m", "gantool", "-q", "train", "--out", str(out), "--epochs", "10000",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.safetensors").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
            time.sleep(0.1)
        workers = sorted(_children(proc.pid))
        assert len(workers) == 2
        os.kill(workers[-1], signal.SIGTERM)  # rank 1 (started last), which prints nothing
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0  # torchrun reports the stop as a failure
    lines = gantool_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("gantool train: error: stopped by SIGTERM at step ") and "--resume" in lines[0]
    step = int(lines[0].split(" at step ")[1].split("/")[0])
    # torchrun's report: the first process out exits 143; torchrun then sends SIGTERM to the others,
    # which may catch one already past its own exit (-15)
    codes = re.findall(r"exitcode *: (-?\d+)", err)
    assert codes[0] == "143" and set(codes) <= {"143", "-15"}, err
    info = json.loads(run_gantool("--json", "info", out / "checkpoint.safetensors").stdout)["training"]
    assert info["steps"] == step and 0 < step < info["total_steps"]
    assert not [p for p in out.rglob(".*")]  # no temporary file left behind


def test_batch_size_that_the_processes_cannot_share_is_refused_in_one_line(tmp_path, monkeypatch):
    """Checked by every process before they meet (none waits for another): rank 0 says it, the others exit quietly."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        r = run_gantool("--threads", "1", "train", "--out", tmp_path / "run", "--batch-size", "33", "--steps", "2")
        if rank == 0:
            line = one_line_error(r, "train", 2)
            assert "--batch-size 33" in line and "multiple of 2" in line and "--batch-size 32" in line
        else:
            assert r.code == 2 and r.stderr == "" and r.stdout == b""
    assert not (tmp_path / "run").exists()
