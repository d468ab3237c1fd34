"""Every bad input gets one clear line on stderr (`gantool CMD: error: ...`, no traceback), exit 1
(exit 2 for usage problems), and leaves the files already there as they were."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import TINY, one_line_error

STEPS = ["--steps", "2", "--seed", "0"]
SENTINEL = b"sentinel: must survive a failed command\n"




@pytest.fixture
def sentinels(tmp_path):
    """Output files that exist before a failing command: grid, latents, and a run folder's extras."""
    files = {
        "grid": tmp_path / "out" / "grid.png",
        "latents": tmp_path / "out" / "z.npy",
        "losses": tmp_path / "run" / "losses.csv",
        "epoch": tmp_path / "run" / "samples" / "epoch-0001.png",
    }
    for p in files.values():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(SENTINEL)
    return files


def assert_intact(files: dict, folder: Path | None = None, before: set | None = None) -> None:
    for p in files.values():
        assert p.read_bytes() == SENTINEL, p
    if folder is not None:
        assert {p.name for p in folder.rglob("*")} == before  # no model, checkpoint or temp file appeared


def tree(folder: Path) -> set:
    return {p.name for p in folder.rglob("*")}


# ---- bad model files --------------------------------------------------------------------------------

def _truncated(tmp_path, tiny_gan):
    data = tiny_gan.read_bytes()
    p = tmp_path / "half.safetensors"
    p.write_bytes(data[: len(data) // 2])
    return p, "truncated"


def _text(tmp_path, tiny_gan):
    p = tmp_path / "notes.safetensors"
    p.write_text("these are my notes, not a model\n" * 20)
    return p, "not a safetensors"


def _empty(tmp_path, tiny_gan):
    p = tmp_path / "empty.safetensors"
    p.write_bytes(b"")
    return p, "not a safetensors"


def _foreign(tmp_path, tiny_gan):
    import torch
    from safetensors.torch import save_file

    p = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(4, 4)}, str(p), metadata={"format": "pt"})
    return p, "no gantool metadata"


def _checkpoint(tmp_path, tiny_gan):
    return tiny_gan.parent / "checkpoint.safetensors", "checkpoint"


def _missing(tmp_path, tiny_gan):
    return tmp_path / "nope.safetensors", "no such"


def _folder(tmp_path, tiny_gan):
    return tiny_gan.parent, "folder"


BAD_MODELS = {"truncated": _truncated, "text": _text, "empty": _empty, "foreign": _foreign,
              "checkpoint": _checkpoint, "missing": _missing, "folder": _folder}


@pytest.mark.parametrize("bad", sorted(BAD_MODELS))
def test_sample_bad_model(gantool, tmp_path, tiny_gan, sentinels, bad):
    model, words = BAD_MODELS[bad](tmp_path, tiny_gan)
    r = gantool("sample", "-m", model, "-n", "2", "-o", sentinels["grid"], "--latents", sentinels["latents"],
                "--out-dir", tmp_path / "each")
    line = one_line_error(r, "sample")
    assert words in line and str(model) in line
    assert r.stdout == b""
    assert_intact(sentinels)
    assert not (tmp_path / "each").exists()
    assert sorted(p.name for p in sentinels["grid"].parent.iterdir()) == ["grid.png", "z.npy"]  # no temp files


@pytest.mark.parametrize("bad", sorted(set(BAD_MODELS) - {"checkpoint"}))
def test_info_bad_model(gantool, tmp_path, tiny_gan, bad):
    model, words = BAD_MODELS[bad](tmp_path, tiny_gan)
    line = one_line_error(gantool("info", model), "info")
    assert words in line
    if bad not in ("missing", "folder"):  # the same message for the same bytes on stdin
        r = gantool("info", "-", stdin=model.read_bytes())
        assert words in one_line_error(r, "info")


def test_sample_refuses_checkpoint_naming_kinds(gantool, tiny_gan):
    line = one_line_error(gantool("sample", "-m", tiny_gan.parent / "checkpoint.safetensors", "-n", "1"), "sample")
    assert "checkpoint" in line and "gan" in line


# ---- bad training data ------------------------------------------------------------------------------

def _no_such_path(tmp_path):
    return tmp_path / "no-such-folder", "no such"


def _empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty", "no images"


def _folder_without_images(tmp_path):
    d = tmp_path / "docs"
    (d / "sub").mkdir(parents=True)
    (d / "readme.txt").write_text("hello")
    (d / "sub" / "data.csv").write_text("1,2,3")
    return d, "no images"


def _garbage_png(tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    (d / "broken.png").write_bytes(b"\x89PNG not really" + bytes(range(256)))
    return d, "broken.png"


def _garbage_png_among_good(tmp_path):
    from PIL import Image

    d = tmp_path / "classes"
    for name in ("a", "b"):
        (d / name).mkdir(parents=True)
        Image.new("L", (16, 16), 128).save(d / name / "good.png")
    (d / "b" / "zz-broken.png").write_bytes(b"garbage" * 50)
    return d, "zz-broken.png"


def _garbage_npy(tmp_path):
    p = tmp_path / "x.npy"
    p.write_bytes(b"not numpy at all" * 10)
    return p, "x.npy"


def _other_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("1,2,3\n")
    return p, "x.csv"


def _unknown_name(tmp_path):
    return "imagenet-22k", "imagenet-22k"


BAD_DATA = {"no-such-path": _no_such_path, "empty-folder": _empty_folder, "no-images": _folder_without_images,
            "garbage-png": _garbage_png, "garbage-among-good": _garbage_png_among_good, "garbage-npy": _garbage_npy,
            "csv": _other_file, "unknown-name": _unknown_name}


@pytest.mark.parametrize("bad", sorted(BAD_DATA))
def test_train_bad_data(gantool, tmp_path, sentinels, bad):
    data, words = BAD_DATA[bad](tmp_path)
    run = tmp_path / "run"
    before = tree(run)
    line = one_line_error(gantool("train", "--data", data, "--out", run, *STEPS, *TINY), "train")
    assert words in line
    assert_intact(sentinels, run, before)


# ---- bad options ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--epochs", "0"], ["--epochs", "-2"], ["--batch-size", "0"], ["--batch-size", "-1"],
    ["--nz", "0"], ["--nz", "-5"], ["--ngf", "0"], ["--ndf", "0"], ["--image-size", "0"], ["--image-size", "-16"],
    ["--steps", "0"], ["--channels", "2"], ["--loss", "magic"], ["--epochs", "many"],
], ids=lambda a: " ".join(a))
def test_train_bad_numbers_are_usage_errors(gantool, tmp_path, sentinels, args):
    run = tmp_path / "run"
    before = tree(run)
    line = one_line_error(gantool("train", "--out", run, "-q", *args), "train", code=2)
    assert args[0] in line
    assert_intact(sentinels, run, before)


def test_unsupported_image_size(gantool, tmp_path, sentinels):
    run = tmp_path / "run"
    before = tree(run)
    line = one_line_error(gantool("train", "--image-size", "20", "--out", run, *STEPS, "-q"), "train", code=2)
    assert "20" in line and "16, 32" in line and "28" in line
    assert_intact(sentinels, run, before)


def test_epochs_and_steps_together(gantool, tmp_path, sentinels):
    run = tmp_path / "run"
    before = tree(run)
    line = one_line_error(gantool("train", "--epochs", "1", "--steps", "2", "--out", run, "-q"), "train", code=2)
    assert "--epochs" in line and "--steps" in line
    assert_intact(sentinels, run, before)


def test_resume_without_checkpoint(gantool, tmp_path, sentinels):
    run = tmp_path / "run"
    before = tree(run)
    line = one_line_error(gantool("train", "--resume", "--out", run, "-q"), "train")
    assert "checkpoint" in line and "--resume" in line
    assert_intact(sentinels, run, before)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("cmd", ["train", "sample"])
def test_device_cuda_without_cuda(gantool, tmp_path, tiny_gan, sentinels, cmd):
    args = (["train", "--out", tmp_path / "run", *STEPS, *TINY] if cmd == "train"
            else ["sample", "-m", tiny_gan, "-n", "2", "-o", sentinels["grid"]])
    for device in ("cuda", "cuda:1"):
        line = one_line_error(gantool(*args, "--device", device), cmd)
        assert "CUDA" in line and "--device cpu" in line
    assert_intact(sentinels)


def test_device_cuda_from_environment(gantool, tmp_path, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("GANTOOL_DEVICE", "cuda")
    assert "CUDA" in one_line_error(gantool("train", "--out", tmp_path / "run", *STEPS, *TINY), "train")


@pytest.mark.parametrize("cmd", ["train", "sample"])
@pytest.mark.parametrize("where", ["before", "after"])
def test_unknown_device_is_usage_error(gantool, tmp_path, tiny_gan, sentinels, cmd, where):
    args = (["train", "--out", tmp_path / "run", *STEPS, *TINY] if cmd == "train"
            else ["sample", "-m", tiny_gan, "-n", "2", "-o", sentinels["grid"]])
    args = ["--device", "foo", *args] if where == "before" else [*args, "--device", "foo"]
    line = one_line_error(gantool(*args), cmd, code=2)
    assert "foo" in line and "cpu" in line
    assert_intact(sentinels)


def test_unknown_device_beats_missing_model(gantool, tmp_path):
    one_line_error(gantool("sample", "-m", tmp_path / "nope.safetensors", "--device", "foo", "-o", tmp_path / "g.png"),
                   "sample", code=2)


# ---- terminals ----------------------------------------------------------------------------------------

def test_sample_refuses_binary_to_terminal(gantool, tiny_gan):
    r = gantool("sample", "-m", tiny_gan, "-n", "2", stdout_tty=True)
    line = one_line_error(r, "sample", code=2)
    assert "terminal" in line and "-o" in line
    assert r.stdout == b""


@pytest.mark.parametrize("args", [["-o", "-"], ["--latents", "-"]])
def test_sample_dash_to_terminal(gantool, tiny_gan, args):
    r = gantool("sample", "-m", tiny_gan, "-n", "2", *args, stdout_tty=True)
    assert "terminal" in one_line_error(r, "sample", code=2)
    assert r.stdout == b""


def test_info_needs_piped_stdin(gantool):
    r = gantool("info", "-", stdin_tty=True)
    assert "standard input" in one_line_error(r, "info", code=2)
    assert r.stdout == b""


def test_sample_two_outputs_on_stdout(gantool, tiny_gan):
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "-o", "-", "--latents", "-")
    one_line_error(r, "sample", code=2)
    assert r.stdout == b""


def test_sample_without_model(gantool, tmp_path):
    line = one_line_error(gantool("sample", "-n", "2", "-o", tmp_path / "g.png"), "sample", code=2)
    assert "GANTOOL_MODEL" in line
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("option,target", [
    ("--latents", "blocker/z.npy"), ("--out-dir", "blocker"), ("-o", "folder"), ("--latents", "folder"),
])
def test_sample_unwritable_output(gantool, tmp_path, tiny_gan, option, target):
    (tmp_path / "blocker").write_text("a file, not a folder")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "keep.txt").write_text("keep")
    r = gantool("sample", "-m", tiny_gan, "-n", "2", option, tmp_path / target)
    assert "cannot write" in one_line_error(r, "sample")
    assert (tmp_path / "blocker").read_text() == "a file, not a folder"
    assert [p.name for p in (tmp_path / "folder").iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "folder"]  # no temp file left


# ---- an existing run ----------------------------------------------------------------------------------

@pytest.fixture
def old_run(tmp_path, tiny_gan) -> Path:
    run = tmp_path / "old"
    shutil.copytree(tiny_gan.parent, run)
    return run


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_train_refuses_existing_run(gantool, old_run):
    before = snapshot(old_run)
    line = one_line_error(gantool("train", "--out", old_run, *STEPS, *TINY), "train", code=2)
    assert "already holds a run" in line and "--force" in line and "--resume" in line
    assert snapshot(old_run) == before


def test_train_force_starts_over(gantool, old_run):
    before = snapshot(old_run)
    r = gantool("train", "--out", old_run, "--force", "--steps", "2", "--seed", "1", *TINY)
    assert r.code == 0, r.stderr
    after = snapshot(old_run)
    assert after[Path("model.safetensors")] != before[Path("model.safetensors")]
    info = gantool("info", "--json", old_run / "model.safetensors")
    assert b'"steps": 2' in info.stdout


def test_failed_force_leaves_old_run_intact(gantool, old_run, tmp_path):
    before = snapshot(old_run)
    r = gantool("train", "--out", old_run, "--force", "--data", tmp_path / "nope", *STEPS, *TINY)
    one_line_error(r, "train")
    assert snapshot(old_run) == before
