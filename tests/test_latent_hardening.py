"""The defects a new user hit in the latent commands (issue 16): outputs that collide or overwrite
an input, unbounded counts, non-finite values, wrong exit statuses and messages."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error

NZ, SIZE = 8, 16  # conftest's TINY


def _digit(path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (SIZE, SIZE), value).save(path)


def _z(tmp_path, rows: int, width: int = NZ, name: str = "z.npy"):
    path = tmp_path / name
    np.save(path, np.random.default_rng(rows).normal(size=(rows, width)).astype(np.float32))
    return path


# ---- --out-dir: one file per image, never over an input ------------------------------------------

@pytest.mark.parametrize("command", ["invert", "restore"])
def test_two_images_with_one_name_are_refused_before_any_work(gantool, tmp_path, tiny_gan, command):
    _digit(tmp_path / "a" / "d0.png", 10)
    _digit(tmp_path / "b" / "d0.png", 200)
    damage = ["--noise", "0.1"] if command == "restore" else []
    r = gantool(command, tmp_path / "a", tmp_path / "b", "-m", tiny_gan, *damage, "--steps", "2",
                "--out-dir", tmp_path / "o", "--latents", tmp_path / "z.npy")
    line = one_line_error(r, command, code=2)
    assert str(tmp_path / "a" / "d0.png") in line and str(tmp_path / "b" / "d0.png") in line
    assert not (tmp_path / "o").exists() and not (tmp_path / "z.npy").exists()


def test_restore_out_dir_equal_to_the_input_folder_keeps_the_input(gantool, tmp_path, tiny_gan):
    _digit(tmp_path / "in" / "d0.png", 90)
    before = (tmp_path / "in" / "d0.png").read_bytes()
    r = gantool("restore", tmp_path / "in", "-m", tiny_gan, "--mask", "center", "--steps", "2",
                "--out-dir", tmp_path / "in", "--latents", tmp_path / "z.npy")
    assert "also an input" in one_line_error(r, "restore", code=2)
    assert (tmp_path / "in" / "d0.png").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["d0.png"]


def test_restore_variants_are_planned_too(gantool, tmp_path, tiny_gan):
    _digit(tmp_path / "in" / "d0.png", 90)
    _digit(tmp_path / "in" / "d0-2.png", 30)  # the second variant of d0 would be this image's own file
    r = gantool("restore", tmp_path / "in", "-m", tiny_gan, "--mask", "center", "--steps", "2", "--variants", "2",
                "--out-dir", tmp_path / "o", "--latents", tmp_path / "z.npy")
    assert "d0-2.png" in one_line_error(r, "restore", code=2)


def test_invert_out_dir_names_come_from_the_input_names(gantool, tmp_path, tiny_gan):
    _digit(tmp_path / "a" / "x" / "d0.png", 10)
    _digit(tmp_path / "a" / "y" / "d0.png", 200)
    r = gantool("invert", tmp_path / "a", "-m", tiny_gan, "--steps", "2", "--out-dir", tmp_path / "o",
                "--latents", tmp_path / "z.npy", "-q")
    assert r.code == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["x_d0.png", "y_d0.png"]


def test_two_outputs_of_interpolate_may_not_share_a_file(gantool, tmp_path, tiny_gan):
    z = _z(tmp_path, 2)
    r = gantool("interpolate", z, "-m", tiny_gan, "-o", tmp_path / "x", "--latents", tmp_path / "x")
    assert "same file" in one_line_error(r, "interpolate", code=2)
    assert not (tmp_path / "x").exists()
    r = gantool("interpolate", z, "-m", tiny_gan, "--latents", z)  # nor one be its own input
    assert "also an input" in one_line_error(r, "interpolate", code=2)


# ---- every count bounded before any work ------------------------------------------------------------

def test_interpolate_steps_are_bounded(gantool, tmp_path, tiny_gan):
    z = _z(tmp_path, 2)
    line = one_line_error(gantool("interpolate", z, "-m", tiny_gan, "--steps", str(10**9), "--latents",
                                  tmp_path / "w.npy"), "interpolate", code=2)
    assert line.startswith("gantool interpolate: error: --steps 1000000000") and "1024" in line
    assert not (tmp_path / "w.npy").exists()


def test_a_walk_too_long_to_look_at_is_refused(gantool, tmp_path, tiny_gan):
    z = _z(tmp_path, 200)  # 199 legs of 1024 frames: too many for latents; of 64 frames too many for a GIF
    line = one_line_error(gantool("interpolate", z, "-m", tiny_gan, "--mode", "path", "--steps", "1024",
                                  "--latents", tmp_path / "w.npy"), "interpolate", code=2)
    assert "100,000" in line and "--steps" in line
    line = one_line_error(gantool("interpolate", z, "-m", tiny_gan, "--mode", "path", "--steps", "64",
                                  "--animate", tmp_path / "w.gif"), "interpolate", code=2)
    assert "4,096" in line
    assert not (tmp_path / "w.npy").exists() and not (tmp_path / "w.gif").exists()


def test_arithmetic_expressions_are_bounded(gantool, tmp_path, tiny_gan):
    z = _z(tmp_path, 3)
    huge = " + ".join(["0"] * 30_000)
    line = one_line_error(gantool("arithmetic", huge, z, "-m", tiny_gan, "-o", tmp_path / "r.png"),
                          "arithmetic", code=2)
    assert line.startswith("gantool arithmetic: error: EXPR") and "64" in line
    wide = "[" + ",".join(["0"] * 2000) + "]"
    line = one_line_error(gantool("arithmetic", wide, z, "-m", tiny_gan, "-o", tmp_path / "r.png"),
                          "arithmetic", code=2)
    assert "1,024" in line
    tall = " + ".join(["[0,1,2]"] * 60) + " - [" + ",".join(["1"] * 100) + "]"  # 61 x 101 cells
    line = one_line_error(gantool("arithmetic", tall, z, "-m", tiny_gan, "-o", tmp_path / "r.png"),
                          "arithmetic", code=2)
    assert "grid" in line and "4,096" in line
    assert not (tmp_path / "r.png").exists()


@pytest.mark.parametrize("jitter", ["inf", "nan", "-1", "1e9"])
def test_arithmetic_jitter_is_finite_and_bounded(gantool, tmp_path, tiny_gan, jitter):
    z = _z(tmp_path, 3)
    r = gantool("arithmetic", "0 - 1 + 2", z, "-m", tiny_gan, "-n", "3", "--jitter", jitter,
                "--latents", tmp_path / "r.npy")
    assert "--jitter" in one_line_error(r, "arithmetic", code=2)
    assert not (tmp_path / "r.npy").exists()


def test_sample_count_is_bounded(gantool, tmp_path, tiny_gan):
    line = one_line_error(gantool("sample", "-m", tiny_gan, "-n", str(10**12), "--latents", tmp_path / "z.npy"),
                          "sample", code=2)
    assert "--count" in line and "100000000" in line
    assert not (tmp_path / "z.npy").exists()


def test_sample_out_dir_is_made_and_its_files_named_per_class(gantool, tmp_path, tiny_cgan):
    r = gantool("sample", "-m", tiny_cgan, "-n", "1", "--out-dir", tmp_path / "new" / "each", "-q")
    assert r.code == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "new" / "each").iterdir())[:2] == ["00000-0.png", "00001-1.png"]


# ---- exit statuses and messages -----------------------------------------------------------------------

def test_invert_init_of_the_wrong_width_is_bad_contents(gantool, tmp_path, tiny_gan):
    _digit(tmp_path / "in" / "d0.png", 90)
    init = _z(tmp_path, 1, width=NZ + 3, name="init.npy")
    r = gantool("invert", tmp_path / "in", "-m", tiny_gan, "--init", init, "--latents", tmp_path / "z.npy")
    line = one_line_error(r, "invert", code=1)
    assert "--init" in line and f"takes {NZ}" in line
    init = _z(tmp_path, 2, name="two.npy")  # the right width, but one row too many: options that disagree
    r = gantool("invert", tmp_path / "in", "-m", tiny_gan, "--init", init, "--latents", tmp_path / "z.npy")
    assert "2 rows for 1 image" in one_line_error(r, "invert", code=2)


def test_restore_bad_damage_value_gets_its_own_message(gantool, tmp_path, tiny_gan):
    _digit(tmp_path / "in" / "d0.png", 90)
    line = one_line_error(gantool("restore", tmp_path / "in", "-m", tiny_gan, "--blur", "-1", "-o", tmp_path / "p.png"),
                          "restore", code=2)
    assert "--blur -1" in line and "at least 0" in line and "name the damage" not in line


def test_train_encoder_writes_no_file_called_dash_and_no_torch_warning(gantool, tmp_path, tiny_gan, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = gantool("train-encoder", "-m", tiny_gan, "-o", "-", "--steps", "1")
    assert "written to a file" in one_line_error(r, "train-encoder", code=2)
    assert not (tmp_path / "-").exists()
    r = gantool("train-encoder", "-m", tiny_gan, "-o", tmp_path / "e.safetensors", "--steps", "50",
                "--batch-size", "8")
    assert r.code == 0, r.stderr
    assert "requires_grad" not in r.stderr and "warning" not in r.stderr
    assert "trained an encoder" in r.stderr


def test_invert_status_line_counts_restarts(gantool, tmp_path, tiny_gan):
    _digit(tmp_path / "in" / "d0.png", 90)
    r = gantool("invert", tmp_path / "in", "-m", tiny_gan, "--steps", "2", "--latents", tmp_path / "z.npy")
    assert r.code == 0, r.stderr
    assert "x 1 restart (seed 0)" in r.stderr and "restart(s)" not in r.stderr
