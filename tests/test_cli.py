"""The command-line contract: fast --help without torch, --version, global options anywhere,
no tracebacks without --debug, and a quiet end when the reader of a pipe goes away."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from conftest import PYTHON, ROOT, subprocess_env
from gantool import __version__


def run_py(*args, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, *args], input=input, capture_output=True, cwd=ROOT, env=subprocess_env(),
                          timeout=timeout)


# ---- help and version -------------------------------------------------------------------------------------

def test_help_is_fast_and_does_not_import_torch():
    t0 = time.monotonic()
    r = run_py("-m", "gantool", "--help")
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    for word in ("Usage", "train", "sample", "info", "--device", "--seed"):
        assert word in out
    assert r.stderr == b""
    assert elapsed < 10  # importing torch alone takes seconds; this is a generous bound for slow machines


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["sample", "--help"], ["info", "--help"],
                                  ["train-classifier", "--help"], ["classify", "--help"], ["layers", "--help"],
                                  ["--version"]])
def test_help_imports_no_heavy_library(argv):
    code = ("import sys\n"
            "from gantool.cli import main\n"
            f"rc = main({argv!r})\n"
            "heavy = sorted(m for m in ('torch', 'torchvision', 'numpy', 'sklearn', 'matplotlib', 'safetensors')"
            " if m in sys.modules)\n"
            "print('HEAVY', rc, ','.join(heavy) or '-', file=sys.stderr)\n")
    r = run_py("-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().strip().splitlines()[-1] == "HEAVY 0 -"


def test_version(gantool):
    r = gantool("--version")
    assert r.code == 0 and r.text == f"gantool {__version__}\n"
    p = run_py("-m", "gantool", "--version")
    assert p.returncode == 0 and p.stdout.decode() == f"gantool {__version__}\n"


def test_no_command_prints_usage(gantool, capsys):
    r = gantool()
    assert r.code == 2
    assert "Usage" in capsys.readouterr().out + r.text


@pytest.mark.parametrize("argv,cmd", [(["frobnicate"], ""), (["sample", "--frobnicate"], "sample"),
                                      (["info"], "info"), (["--seed", "x", "info", "f"], "info")])
def test_usage_errors(gantool, argv, cmd):
    r = gantool(*argv)
    assert r.code == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gantool {cmd}".rstrip() + ": error: "), r.stderr


# ---- global options ------------------------------------------------------------------------------------

def test_global_options_before_or_after_command(gantool, tmp_path, tiny_gan):
    a = gantool("--seed", "3", "-q", "sample", "-m", tiny_gan, "-n", "3", "--latents", tmp_path / "a.npy")
    b = gantool("sample", "-m", tiny_gan, "-n", "3", "--latents", tmp_path / "b.npy", "--seed", "3", "-q")
    c = gantool("sample", "-m", tiny_gan, "-n", "3", "--latents", tmp_path / "c.npy", "--seed", "4", "-q")
    for r in (a, b, c):
        assert r.code == 0 and r.stderr == "", r.stderr  # -q works in both places too
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert not np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "c.npy"))


def test_option_after_command_wins(gantool, tmp_path, tiny_gan):
    gantool("--seed", "9", "sample", "-m", tiny_gan, "-n", "2", "--latents", tmp_path / "a.npy", "--seed", "3", "-q")
    gantool("sample", "-m", tiny_gan, "-n", "2", "--latents", tmp_path / "b.npy", "--seed", "3", "-q")
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


@pytest.mark.parametrize("where", ["before", "after"])
def test_json_before_or_after_command(gantool, tiny_gan, where):
    import json

    argv = ["--json", "info", tiny_gan] if where == "before" else ["info", tiny_gan, "--json"]
    assert json.loads(gantool(*argv).stdout)["kind"] == "gan"


def test_device_cpu_and_env(gantool, tmp_path, tiny_gan, monkeypatch):
    r = gantool("--device", "cpu", "sample", "-m", tiny_gan, "-n", "2", "--seed", "1")
    assert r.code == 0
    monkeypatch.setenv("GANTOOL_DEVICE", "cpu")
    assert gantool("sample", "-m", tiny_gan, "-n", "2", "--seed", "1").stdout == r.stdout
    monkeypatch.setenv("GANTOOL_DEVICE", "foo")
    assert gantool("sample", "-m", tiny_gan, "-n", "2").code == 2


# ---- errors and tracebacks ------------------------------------------------------------------------------

def test_no_traceback_unless_debug(gantool, tmp_path, monkeypatch):
    bad = tmp_path / "bad.safetensors"
    bad.write_text("not a model")
    plain = gantool("info", bad)
    assert plain.code == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [f"gantool info: error: {bad} is not a safetensors model file "
                                                 "(its header is missing or truncated)"]
    for argv in (["--debug", "info", bad], ["info", bad, "--debug"]):
        r = gantool(*argv)
        assert r.code == 1 and "Traceback" in r.stderr
        assert r.stderr.strip().splitlines()[-1] == plain.stderr.strip()  # the message still ends it
    monkeypatch.setenv("GANTOOL_DEBUG", "1")
    r = gantool("info", bad)
    assert r.code == 1 and "Traceback" in r.stderr


def test_subprocess_error_is_one_line(tmp_path):
    r = run_py("-m", "gantool", "info", str(tmp_path / "nope.safetensors"))
    assert r.returncode == 1 and r.stdout == b""
    err = r.stderr.decode()
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("gantool info: error: no such model file")


# ---- pipes ------------------------------------------------------------------------------------------------

def test_closed_pipe_head(tiny_gan):
    """A reader that goes away early (`| head`) ends the command quietly with SIGPIPE's status,
    141, as `yes | head` does, so `set -o pipefail` sees that the output was cut short."""
    script = (f"{PYTHON} -m gantool sample -m {tiny_gan} -n 64 --latents - | head -c 10 | wc -c;"
              f" {PYTHON} -m gantool sample -m {tiny_gan} -n 30000 --latents - | head -c 10 >/dev/null;"
              " echo status ${PIPESTATUS[0]}")
    r = subprocess.run(["bash", "-c", script], capture_output=True, cwd=ROOT, env=subprocess_env(), timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert r.stdout.decode().split() == ["10", "status", "141"]
    for word in ("Traceback", "BrokenPipe", "Exception ignored", "error"):
        assert word not in err


@pytest.mark.parametrize("args", [["sample", "-n", "64", "--latents", "-"], ["--json", "info"]])
def test_reader_gone_before_writing(tiny_gan, args):
    """stdout's reader has closed before the command writes: it ends quietly, exit 141 (SIGPIPE's)."""
    argv = [*args[:1], "-m", str(tiny_gan), *args[1:]] if args[0] == "sample" else [*args, str(tiny_gan)]
    p = subprocess.Popen([PYTHON, "-m", "gantool", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=ROOT, env=subprocess_env())
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141, err
    for word in ("Traceback", "BrokenPipe", "Exception ignored", "error"):
        assert word not in err
