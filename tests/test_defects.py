"""Regression tests for the defects a first user reported (numbered as in the report). Each test
failed on the code before the restructuring; the comment above it says what that code did."""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import stat
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import PYTHON, TINY, one_line_error, run_gantool, subprocess_env
from gantool.cli import main
from gantool.context import Env

PNG = b"\x89PNG\r\n\x1a\n"


def npy_shape(data: bytes) -> tuple:
    return np.load(io.BytesIO(data), allow_pickle=False).shape


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob(".*")]


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"{path} never appeared (exit {proc.returncode}): {err.decode()}")
        time.sleep(0.05)


# ---- 1. outputs must not replace special files ------------------------------------------------------

class FifoReader(threading.Thread):
    """Reads a FIFO to its end, as `cat FIFO` would."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path, self.data = path, None

    def run(self):
        with open(self.path, "rb") as f:
            self.data = f.read()


@pytest.mark.parametrize("option, check", [("--latents", lambda b: npy_shape(b) == (3, 8)),
                                           ("-o", lambda b: b.startswith(PNG))])
def test_fifo_output_is_written_through_not_replaced(gantool, tmp_path, tiny_gan, option, check):
    # old: the output went to a temporary file that os.replace()d the FIFO: the FIFO became a regular
    # file and its reader (blocked in open) waited forever
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    reader.start()
    r = gantool("sample", "-m", tiny_gan, "-n", "3", option, fifo, "--seed", "0", "-q")
    assert r.code == 0, r.stderr
    reader.join(timeout=10)
    assert not reader.is_alive(), "the FIFO's reader never got end of file"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert check(reader.data)
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("target_exists", [True, False])
def test_symlink_output_writes_its_target(gantool, tmp_path, tiny_gan, target_exists):
    # old: the temporary file replaced the link itself; the link became a PNG, its target untouched
    target, link = tmp_path / "real" / "grid.png", tmp_path / "link.png"
    target.parent.mkdir()
    if target_exists:
        target.write_bytes(b"old")
    link.symlink_to(target)
    r = gantool("sample", "-m", tiny_gan, "-n", "4", "-o", link, "-q")
    assert r.code == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes().startswith(PNG)
    assert no_temp_files(tmp_path)


@pytest.mark.slow
def test_process_substitution_is_written_through(tmp_path, tiny_gan):
    # old: os.replace onto /dev/fd/63 failed (or replaced the link); the reader got nothing
    count = tmp_path / "count"
    cmd = (f"{shlex.quote(PYTHON)} -m gantool sample -m {shlex.quote(str(tiny_gan))} -n 5 -q "
           f"--latents >(wc -c > {shlex.quote(str(count))}); wait $!")
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 5
    while not (count.exists() and count.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    buf = io.BytesIO()
    np.save(buf, np.zeros((5, 8), np.float32))
    assert int(count.read_text()) == len(buf.getvalue())


@pytest.mark.slow
def test_dev_stdout_is_written_through(tmp_path, tiny_gan):
    # old: /dev/stdout was replaced (or could not be) instead of written to
    r = subprocess.run([PYTHON, "-m", "gantool", "sample", "-m", str(tiny_gan), "-n", "4", "-q", "-o", "/dev/stdout"],
                       capture_output=True, env=subprocess_env(), timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.startswith(PNG)
    assert os.path.islink("/dev/stdout")  # still the link it was, not a PNG


# ---- 2. new files get the umask, replaced files keep their mode -------------------------------------

@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_new_outputs_follow_the_umask(gantool, tmp_path, tiny_gan, umask, mask, mode):
    # old: mkstemp's 0600 went through os.replace unchanged: every output was 0600 whatever the umask
    umask(mask)
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "-o", tmp_path / "g.png", "--latents", tmp_path / "z.npy", "-q")
    assert r.code == 0, r.stderr
    r = gantool("train", "--out", tmp_path / "run", "--steps", "1", "--seed", "0", *TINY)
    assert r.code == 0, r.stderr
    for p in (tmp_path / "g.png", tmp_path / "z.npy", tmp_path / "run" / "model.safetensors",
              tmp_path / "run" / "checkpoint.safetensors", tmp_path / "run" / "losses.csv"):
        assert stat.S_IMODE(p.stat().st_mode) == mode, (p, oct(p.stat().st_mode))


def test_replaced_output_keeps_its_mode(gantool, tmp_path, tiny_gan, umask):
    # old: a replaced file became 0600 (the temporary file's mode)
    umask(0o077)
    grid, latents = tmp_path / "g.png", tmp_path / "z.npy"
    for p, mode in ((grid, 0o664), (latents, 0o640)):
        p.write_bytes(b"old")
        os.chmod(p, mode)
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "-o", grid, "--latents", latents, "-q")
    assert r.code == 0, r.stderr
    assert grid.read_bytes().startswith(PNG) and npy_shape(latents.read_bytes()) == (2, 8)
    assert stat.S_IMODE(grid.stat().st_mode) == 0o664
    assert stat.S_IMODE(latents.stat().st_mode) == 0o640


# ---- 3. an explicit option beats its environment variable ------------------------------------------

def test_device_option_beats_gantool_device(gantool, tiny_gan, monkeypatch, tmp_path):
    # old: GANTOOL_DEVICE=cpu won over --device cuda, and the sample quietly ran on the CPU
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    monkeypatch.setenv("GANTOOL_DEVICE", "cpu")
    r = gantool("--device", "cuda", "sample", "-m", tiny_gan, "-n", "1", "-o", tmp_path / "g.png")
    line = one_line_error(r, "sample", 1)
    assert "CUDA is not available" in line
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_device_option_ignores_a_bad_gantool_device(gantool, tiny_gan, monkeypatch, tmp_path, where):
    # old: GANTOOL_DEVICE=banana was checked (and refused) even with --device cpu on the line
    monkeypatch.setenv("GANTOOL_DEVICE", "banana")
    cmd = ["sample", "-m", tiny_gan, "-n", "1", "-o", tmp_path / "g.png", "-q"]
    args = ["--device", "cpu", *cmd] if where == "before" else [*cmd, "--device", "cpu"]
    r = gantool(*args)
    assert r.code == 0, r.stderr
    assert (tmp_path / "g.png").read_bytes().startswith(PNG)


def test_bad_gantool_device_alone_is_a_usage_error(gantool, tiny_gan, monkeypatch, tmp_path):
    # old: a bad GANTOOL_DEVICE was reported as a bad --device (or as exit 1)
    monkeypatch.setenv("GANTOOL_DEVICE", "banana")
    line = one_line_error(gantool("sample", "-m", tiny_gan, "-n", "1", "-o", tmp_path / "g.png"), "sample", 2)
    assert "GANTOOL_DEVICE" in line and "banana" in line


@pytest.fixture
def restore_threads():
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_threads_option_beats_gantool_threads(gantool, tiny_gan, monkeypatch, tmp_path, restore_threads):
    # old: GANTOOL_THREADS=x failed even with --threads 1; --threads 0 reached torch; the count was not set
    import torch

    monkeypatch.setenv("GANTOOL_THREADS", "x")
    torch.set_num_threads(2)
    r = gantool("sample", "-m", tiny_gan, "-n", "1", "-o", tmp_path / "g.png", "--threads", "1", "-q")
    assert r.code == 0, r.stderr
    assert torch.get_num_threads() == 1
    line = one_line_error(gantool("sample", "-m", tiny_gan, "-n", "1", "-o", tmp_path / "h.png"), "sample", 2)
    assert "GANTOOL_THREADS" in line
    monkeypatch.delenv("GANTOOL_THREADS")
    line = one_line_error(gantool("--threads", "0", "sample", "-m", tiny_gan, "-n", "1", "-o", tmp_path / "h.png"),
                          "sample", 2)
    assert "--threads" in line
    assert not (tmp_path / "h.png").exists()


# ---- 4. signals ---------------------------------------------------------------------------------------

def _train_until_first_grid(out: Path) -> subprocess.Popen:
    # 7 steps an epoch (batch 256), a grid each epoch (--log-every 1: grids are no closer than log readings)
    args = [a if a != "32" else "256" for a in TINY]
    proc = subprocess.Popen([PYTHON, "-m", "gantool", "train", "--out", str(out), "--epochs", "100",
                             "--sample-every", "1", "--log-every", "1", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env())
    wait_for(out / "samples" / "epoch-0001.png", proc, timeout=60)
    return proc


def _stderr_line(err: bytes) -> str:
    text = err.decode()
    assert "Traceback" not in text, text
    lines = text.splitlines()  # -q: no status or progress lines
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.slow
def test_sigterm_during_training_saves_a_checkpoint_and_exits_143(tmp_path):
    # old: SIGTERM killed Python at once: no checkpoint, no message, exit -15
    out = tmp_path / "run"
    proc = _train_until_first_grid(out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    line = _stderr_line(err)
    assert line.startswith("gantool train: error: ") and "--resume" in line
    info = run_gantool("--json", "info", out / "checkpoint.safetensors")
    assert info.code == 0, info.stderr
    training = json.loads(info.stdout)["training"]
    assert 0 < training["steps"] < training["total_steps"]
    assert no_temp_files(out)


def _interrupt_large_sample(tmp_path, tiny_gan):
    """Ctrl-C a `sample -n 20000000 --latents FILE` once it has begun writing: (exit, stdout, stderr, folder).
    Latents alone are fast: 20 million rows (640 MB) take seconds, so the signal lands mid-work."""
    folder = tmp_path / "out"
    folder.mkdir()
    proc = subprocess.Popen([PYTHON, "-m", "gantool", "sample", "-m", str(tiny_gan), "-n", "20000000",
                             "--latents", str(folder / "z.npy")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env(),
                            # as from a terminal: a suite started in the background (`make test &`) ignores
                            # SIGINT, and a child would inherit that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not list(folder.glob(".z.npy.*")):  # the work has begun: the temporary file is there
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"sample never began writing: {proc.communicate()[1].decode()}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err.decode(), folder


@pytest.mark.slow
def test_ctrl_c_during_a_large_sample_leaves_nothing_behind(tmp_path, tiny_gan):
    # old: all 300000 latents were held in memory, Ctrl-C printed a KeyboardInterrupt traceback, and
    # the temporary file beside the output was left behind
    code, out, err, folder = _interrupt_large_sample(tmp_path, tiny_gan)
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert out == b""
    assert list(folder.iterdir()) == []  # no temporary file, no partial z.npy


@pytest.mark.slow
def test_ctrl_c_during_a_large_sample_says_so_in_one_line(tmp_path, tiny_gan):
    # old: a KeyboardInterrupt traceback instead of one line
    code, _, err, _ = _interrupt_large_sample(tmp_path, tiny_gan)
    assert code == 130, err
    lines = [line for line in err.splitlines() if not line.startswith("sample ")]  # minus progress lines
    assert len(lines) == 1 and lines[0].startswith("gantool sample: ") and "interrupt" in lines[0], err


@pytest.mark.slow
def test_second_ctrl_c_during_training_leaves_a_consistent_folder(tmp_path):
    # old: a second Ctrl-C interrupted the checkpoint save: a traceback and a half-written folder
    out = tmp_path / "run"
    proc = _train_until_first_grid(out)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    line = _stderr_line(err)
    assert line.startswith("gantool train: error: ")
    assert "consistent" in line or "saved" in line, line
    for name in ("checkpoint.safetensors", "model.safetensors"):
        r = run_gantool("--json", "info", out / name)
        assert r.code == 0, r.stderr
    assert no_temp_files(out)


# ---- 5. check, then work ----------------------------------------------------------------------------

def test_latents_to_a_terminal_refused_before_the_grid_is_written(gantool, tmp_path, tiny_gan):
    # old: the grid was written first, then the latents were refused: a half-done output
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "-o", tmp_path / "g.png", "--latents", "-", stdout_tty=True)
    line = one_line_error(r, "sample", 2)
    assert "terminal" in line
    assert not (tmp_path / "g.png").exists() and r.stdout == b""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["under-a-file", "under-proc"])
def test_unwritable_out_is_refused_before_the_data_is_loaded(gantool, tmp_path, where):
    # old: the data was loaded (and a bad --data reported) before --out was ever checked
    if where == "under-a-file":
        (tmp_path / "file").write_text("in the way")
        out = tmp_path / "file" / "run"
    else:
        out = Path("/proc/gantool-no-such/run")
    r = gantool("train", "--out", out, "--data", tmp_path / "no-such-data", "--steps", "1", *TINY)
    assert r.code in (1, 2), r.stderr
    line = one_line_error(r, "train", r.code)
    assert str(out) in line or str(out.parent) in line, line
    assert "no-such-data" not in line and "no such data" not in line


# ---- 6. bounds ----------------------------------------------------------------------------------------

def test_huge_grid_refused_with_a_hint(gantool, tmp_path, tiny_gan):
    # old: it tried to build a grid of 5000 images in memory
    line = one_line_error(gantool("sample", "-m", tiny_gan, "-n", "5000", "-o", tmp_path / "g.png"), "sample", 2)
    assert "4,096" in line or "4096" in line
    assert "--latents" in line or "--out-dir" in line
    assert not (tmp_path / "g.png").exists()


def test_many_latents_written_in_chunks_with_progress(gantool, tmp_path, tiny_gan):
    # old: every latent in one tensor, one call to the generator, no progress
    z = tmp_path / "z.npy"
    r = gantool("sample", "-m", tiny_gan, "-n", "2000", "--latents", z, "--seed", "1")
    assert r.code == 0, r.stderr
    array = np.load(z, allow_pickle=False)
    assert array.shape == (2000, 8) and array.dtype == np.float32
    progress = [line for line in r.stderr.splitlines() if line.startswith("sample ")]
    assert progress and "/2000" in progress[-1] and "\x1b" not in r.stderr
    assert np.isfinite(array).all() and len(np.unique(array[:, 0])) == 2000  # every row drawn, none left zero


class CountingStream(io.RawIOBase):
    """`size` bytes starting with `head`, counting what was read."""

    def __init__(self, head: bytes, size: int):
        self.head, self.size, self.pos = head, size, 0

    def readable(self):
        return True

    def read(self, n=-1):
        n = self.size - self.pos if n is None or n < 0 else min(n, self.size - self.pos)
        start = self.pos
        self.pos += n
        data = (self.head + bytes(max(0, start + n - len(self.head))))[start:start + n]
        return data

    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


def test_info_stdin_parses_the_header_before_reading_the_rest(tiny_gan):
    # old: `info -` read all of stdin into memory first, then found it was not a model
    stream = CountingStream(PNG + b"IHDR", 64 * 1024 * 1024)
    out, err = io.BytesIO(), io.StringIO()
    env = Env(stdin=stream, stdout=out, stderr=err, stdin_isatty=False, stdout_isatty=False, stderr_isatty=False)
    code = main(["info", "-"], env)
    assert code == 1
    assert "not a safetensors" in err.getvalue() and len(err.getvalue().splitlines()) == 1
    assert stream.pos <= 4096, stream.pos
    # a real model on stdin still works
    r = run_gantool("--json", "info", "-", stdin=tiny_gan.read_bytes())
    assert r.code == 0 and json.loads(r.stdout)["kind"] == "gan"


# ---- 7. no internals in errors --------------------------------------------------------------------------

def test_model_whose_config_is_a_json_list(gantool, tmp_path):
    # old: header.config.get(...) on a list: "AttributeError: 'list' object has no attribute 'get'"
    import torch
    from safetensors.torch import save_file

    p = tmp_path / "odd.safetensors"
    save_file({"generator.w": torch.zeros(2)}, str(p), metadata={
        "gantool.kind": "gan", "gantool.config": "[1, 2, 3]", "gantool.data": "{}", "gantool.training": "{}",
        "gantool.version": "0.1.0"})
    for r, cmd in ((gantool("info", p), "info"), (gantool("sample", "-m", p, "-n", "1", "-o", tmp_path / "g.png"),
                                                  "sample")):
        line = one_line_error(r, cmd, 1)
        assert str(p) in line and "gantool.config" in line
        assert "AttributeError" not in line and "list" not in line.split("error:", 1)[0]
    assert not (tmp_path / "g.png").exists()


@pytest.fixture
def dev_full():
    """/dev/full, put back as the device it is should a broken gantool replace it (as the old code did)."""
    def is_device():
        try:
            return stat.S_ISCHR(os.lstat("/dev/full").st_mode)
        except OSError:
            return False

    if not is_device():
        pytest.skip("no /dev/full device")
    yield "/dev/full"
    if not is_device():
        try:
            os.unlink("/dev/full")
            os.mknod("/dev/full", stat.S_IFCHR | 0o666, os.makedev(1, 7))
        except OSError as e:
            pytest.fail(f"gantool replaced /dev/full with a regular file and it could not be put back: {e}")
        pytest.fail("gantool replaced /dev/full with a regular file (put back)")


@pytest.mark.parametrize("option", ["-o", "--latents"])
def test_disk_full_is_one_line(gantool, tiny_gan, dev_full, option):
    # old: the temporary file replaced /dev/full itself (a regular file took its place, "success");
    # a write error there was "OSError: [Errno 28]" with no file named
    line = one_line_error(gantool("sample", "-m", tiny_gan, "-n", "2", option, dev_full), "sample", 1)
    assert "/dev/full" in line and "No space left" in line


def test_out_under_a_regular_file_is_one_line(gantool, tmp_path):
    # old: "error: NotADirectoryError: [Errno 20] Not a directory: '.../FILE/run' (rerun with --debug ...)"
    (tmp_path / "FILE").write_text("x")
    line = one_line_error(gantool("train", "--out", tmp_path / "FILE" / "run", "--steps", "1", *TINY), "train", 1)
    assert str(tmp_path / "FILE") in line
    assert "NotADirectoryError" not in line and "Errno" not in line and "--debug" not in line
    assert (tmp_path / "FILE").read_text() == "x"


def _write_huge_png(path: Path, side: int) -> None:
    """A valid 1-bit PNG of side x side pixels, all black: a few KB on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes((side + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row * 1000) for _ in range(side // 1000)) + z.compress(row * (side % 1000)) + z.flush()
    path.write_bytes(PNG + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [20000, 10000])  # over 2x Pillow's limit (error) and just over it (warning)
def test_decompression_bomb_in_a_folder_is_one_line(gantool, tmp_path, side):
    # old: Pillow's DecompressionBombWarning went raw to stderr (or DecompressionBombError as a traceback)
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("L", (16, 16), 100).save(folder / "a-small.png")
    _write_huge_png(folder / "b-huge.png", side)
    assert (folder / "b-huge.png").stat().st_size < 200_000
    r = gantool("train", "--data", folder, "--out", tmp_path / "run", "--steps", "1", *TINY)
    line = one_line_error(r, "train", 1)
    assert "b-huge.png" in line
    assert "DecompressionBomb" not in r.stderr
    assert not (tmp_path / "run").exists()


def test_noisy_torchvision_download_failure_is_one_line(gantool, tmp_path, monkeypatch, capfd):
    # old: torchvision's "Downloading ..." lines and its multi-line RuntimeError reached the terminal
    import sys

    import torchvision.datasets

    class NoisyMNIST:
        def __init__(self, *args, **kwargs):
            for i in range(3):
                print(f"Downloading https://example.invalid/mnist-{i}.gz")
                print(f"Failed to download (trying next): HTTP Error 503 ({i})", file=sys.stderr)
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried mirror one\nTried mirror two\n"
                               "network unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", NoisyMNIST)
    capfd.readouterr()
    r = gantool("train", "--data", "mnist", "--download", "--data-root", tmp_path / "root", "--out", tmp_path / "run",
                "--steps", "1", *TINY)
    line = one_line_error(r, "train", 1)
    assert "mnist" in line
    assert r.stdout == b""
    leaked = capfd.readouterr()
    assert leaked.out == "" and leaked.err == "", leaked


# ---- 8. wording -----------------------------------------------------------------------------------------

def test_one_image_and_one_step_are_singular(gantool, tmp_path, tiny_gan):
    # old: "drew 1 images", "for 1 steps"
    r = gantool("sample", "-m", tiny_gan, "-n", "1", "-o", tmp_path / "g.png")
    assert r.code == 0, r.stderr
    assert "drew 1 image " in r.stderr and "1 images" not in r.stderr
    r = gantool("train", "--out", tmp_path / "run", "--steps", "1", "--seed", "0", *TINY[:-1])
    assert r.code == 0, r.stderr
    assert "1 step " in r.stderr or "1 step\n" in r.stderr or "1 step," in r.stderr, r.stderr
    assert "1 steps" not in r.stderr


def test_resume_wording(gantool, tmp_path):
    # old: resuming a finished run said "wrote run/model.safetensors after 0 steps"; resuming a --steps run
    # with --epochs printed "None" for the step budget
    out = tmp_path / "run"
    assert gantool("train", "--out", out, "--steps", "2", "--seed", "0", *TINY).code == 0
    before = (out / "model.safetensors").read_bytes()
    r = gantool("train", "--out", out, "--resume", *TINY[:-1])
    assert r.code == 0, r.stderr
    assert "complete" in r.stderr and "nothing to do" in r.stderr
    assert "wrote" not in r.stderr
    assert (out / "model.safetensors").read_bytes() == before
    r = gantool("train", "--out", out, "--resume", "--epochs", "3", *TINY[:-1])
    line = one_line_error(r, "train", 2)  # the run counts steps: --epochs contradicts it
    assert "None" not in line
    assert "--epochs 3" in line and "steps" in line and "--steps 2" in line
    assert (out / "model.safetensors").read_bytes() == before


# ---- 9. small data --------------------------------------------------------------------------------------

def test_tiny_data_set_warns_and_draws_few_grids(gantool, tmp_path):
    # old: no warning, and every step was an epoch with its own grid: 20 PNGs for 20 steps
    data = tmp_path / "forty.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (40, 16, 16), dtype=np.uint8))
    tiny = [a for a in TINY if a != "-q"]
    tiny[tiny.index("--batch-size") + 1] = "64"
    r = gantool("train", "--data", data, "--out", tmp_path / "run", "--steps", "20", "--seed", "0", *tiny)
    assert r.code == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "40 images" in warnings[0], r.stderr
    assert warnings[0].startswith("gantool train: warning: ")
    grids = list((tmp_path / "run" / "samples").glob("*.png"))
    assert 1 <= len(grids) <= 2, grids


# ---- 10. completion ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def completion_script(tmp_path_factory) -> Path:
    from gantool import docgen

    folder = tmp_path_factory.mktemp("completions")
    docgen.completions(folder)
    return folder / "gantool.bash"


def bash_complete(script: Path, line: str, cwd: Path) -> list[str]:
    code = (f"source {shlex.quote(str(script))}\n"
            'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _gantool; printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "-c", code, "bash", *line.split(" ")], capture_output=True, text=True,
                         check=True, cwd=cwd)
    return out.stdout.split()


@pytest.fixture
def files_here(tmp_path) -> Path:
    for name in ("data.npy", "docs", "other.txt", "cuda-notes.txt"):
        (tmp_path / name).touch()
    return tmp_path


def test_completion_of_device_offers_devices_not_files(completion_script, files_here):
    # old: --device completed file names
    assert sorted(bash_complete(completion_script, "gantool train --device ", files_here)) == ["auto", "cpu", "cuda",
                                                                                                "mps"]
    assert bash_complete(completion_script, "gantool train --device c", files_here) == ["cpu", "cuda"]


def test_completion_of_class_offers_nothing(completion_script, files_here):
    # old: --class completed file names
    assert bash_complete(completion_script, "gantool sample --class ", files_here) == []


def test_completion_of_data_offers_digits_and_files(completion_script, files_here):
    # old: --data completed file names only, never the built-in data sets
    assert sorted(bash_complete(completion_script, "gantool train --data d", files_here)) == ["data.npy", "digits",
                                                                                              "docs"]
