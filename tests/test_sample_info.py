"""`gantool sample` (PNG grids, one PNG per image, latents, pipes, seeds, classes) and `gantool info`."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

NZ = 8  # TINY's --nz
SIZE = 16  # TINY's --image-size


def sample(gantool, *args, **kw):
    r = gantool("sample", *args, **kw)
    assert r.code == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r


def grid_size(nrow: int, rows: int, size: int = SIZE, pad: int = 2) -> tuple[int, int]:
    """make_grid's (width, height): images with `pad` pixels around and between them."""
    return nrow * (size + pad) + pad, rows * (size + pad) + pad


# ---- sample: files ------------------------------------------------------------------------------------

def test_grid_png(gantool, tmp_path, tiny_gan):
    r = sample(gantool, "-m", tiny_gan, "-n", "6", "-o", tmp_path / "grid.png", "--seed", "1")
    assert r.stdout == b""
    assert "drew 6 images" in r.stderr
    with Image.open(tmp_path / "grid.png") as im:
        assert im.format == "PNG" and im.mode == "L"
        assert im.size == grid_size(nrow=3, rows=2)  # about square: 3 per row
        pixels = np.asarray(im)
    assert pixels.std() > 0  # an image, not a blank


def test_grid_nrow(gantool, tmp_path, tiny_gan):
    sample(gantool, "-m", tiny_gan, "-n", "6", "--nrow", "6", "-o", tmp_path / "grid.png", "-q")
    with Image.open(tmp_path / "grid.png") as im:
        assert im.size == grid_size(nrow=6, rows=1)


def test_out_dir_one_png_per_image(gantool, tmp_path, tiny_gan):
    sample(gantool, "-m", tiny_gan, "-n", "3", "--out-dir", tmp_path / "each", "-q")
    files = sorted(p.name for p in (tmp_path / "each").iterdir())
    assert files == ["00000.png", "00001.png", "00002.png"]
    for name in files:
        with Image.open(tmp_path / "each" / name) as im:
            assert im.mode == "L" and im.size == (SIZE, SIZE)


def test_latents_file(gantool, tmp_path, tiny_gan):
    r = sample(gantool, "-m", tiny_gan, "-n", "5", "--latents", tmp_path / "z.npy", "-q")
    assert r.stdout == b"" and r.stderr == ""
    z = np.load(tmp_path / "z.npy", allow_pickle=False)
    assert z.shape == (5, NZ) and z.dtype == np.float32
    assert np.isfinite(z).all() and 0.2 < z.std() < 3


def test_all_outputs_agree(gantool, tmp_path, tiny_gan):
    """The grid, the single images and the latents come from one draw."""
    sample(gantool, "-m", tiny_gan, "-n", "4", "--seed", "5", "-o", tmp_path / "a.png",
           "--out-dir", tmp_path / "each", "--latents", tmp_path / "a.npy", "-q")
    sample(gantool, "-m", tiny_gan, "-n", "4", "--seed", "5", "-o", tmp_path / "b.png", "--latents", tmp_path / "b.npy", "-q")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    grid = np.asarray(Image.open(tmp_path / "a.png"))
    first = np.asarray(Image.open(tmp_path / "each" / "00000.png"))
    np.testing.assert_array_equal(grid[2:2 + SIZE, 2:2 + SIZE], first)  # top-left cell of the grid


# ---- sample: pipes --------------------------------------------------------------------------------------

def test_pipe_gets_latents_by_default(gantool, tiny_gan):
    r = sample(gantool, "-m", tiny_gan, "-n", "2", stdout_tty=False)
    z = np.load(io.BytesIO(r.stdout), allow_pickle=False)
    assert z.shape == (2, NZ) and z.dtype == np.float32
    assert "drew 2 images" in r.stderr  # status on stderr, never mixed into the data


def test_grid_to_pipe(gantool, tiny_gan):
    r = sample(gantool, "-m", tiny_gan, "-n", "4", "-o", "-")
    assert r.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(r.stdout)) as im:
        assert im.mode == "L" and im.size == grid_size(nrow=2, rows=2)


def test_latents_to_pipe_with_grid_file(gantool, tmp_path, tiny_gan):
    r = sample(gantool, "-m", tiny_gan, "-n", "3", "--latents", "-", "-o", tmp_path / "g.png")
    assert np.load(io.BytesIO(r.stdout)).shape == (3, NZ)
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")


# ---- sample: seeds --------------------------------------------------------------------------------------

def test_same_seed_same_result(gantool, tmp_path, tiny_gan):
    def draw(seed, name):
        sample(gantool, "-m", tiny_gan, "-n", "4", "--seed", seed, "-o", tmp_path / f"{name}.png",
               "--latents", tmp_path / f"{name}.npy", "-q")
        return np.load(tmp_path / f"{name}.npy"), (tmp_path / f"{name}.png").read_bytes()

    z1, g1 = draw("7", "a")
    z2, g2 = draw("7", "b")
    z3, g3 = draw("8", "c")
    np.testing.assert_array_equal(z1, z2)
    assert g1 == g2
    assert not np.array_equal(z1, z3)
    assert g1 != g3


def test_no_seed_is_seed_0_and_is_reported(gantool, tiny_gan):
    a = sample(gantool, "-m", tiny_gan, "-n", "2")
    b = sample(gantool, "-m", tiny_gan, "-n", "2")
    assert a.stdout == b.stdout  # the one seed policy: seeded 0 unless --seed
    seed = int(a.stderr.split("seed ")[1].split(")")[0])  # the seed it used is printed, to repeat the draw
    assert seed == 0
    again = sample(gantool, "-m", tiny_gan, "-n", "2", "--seed", seed)
    assert again.stdout == a.stdout
    assert sample(gantool, "-m", tiny_gan, "-n", "2", "--seed", "1").stdout != a.stdout


# ---- sample: conditional models ------------------------------------------------------------------------

def test_conditional_default_one_row_per_class(gantool, tmp_path, tiny_cgan):
    r = sample(gantool, "-m", tiny_cgan, "-n", "3", "--latents", tmp_path / "z.npy", "-o", tmp_path / "g.png",
               "--out-dir", tmp_path / "each", "-q")
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (30, NZ + 10)
    expected = np.repeat(np.eye(10, dtype=np.float32), 3, axis=0)  # rows 0-2 class 0, 3-5 class 1, ...
    np.testing.assert_array_equal(z[:, NZ:], expected)
    with Image.open(tmp_path / "g.png") as im:
        assert im.size == grid_size(nrow=3, rows=10)
    names = sorted(p.name for p in (tmp_path / "each").iterdir())
    assert len(names) == 30 and names[0] == "00000-0.png" and names[-1] == "00029-9.png"
    assert r.stdout == b""


@pytest.mark.parametrize("cls", ["3", "7"])
def test_conditional_one_class(gantool, tmp_path, tiny_cgan, cls):
    sample(gantool, "-m", tiny_cgan, "-n", "4", "--class", cls, "--latents", tmp_path / "z.npy", "-q")
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (4, NZ + 10)
    onehot = np.zeros((4, 10), dtype=np.float32)
    onehot[:, int(cls)] = 1
    np.testing.assert_array_equal(z[:, NZ:], onehot)


def test_conditional_json_lists_classes(gantool, tmp_path, tiny_cgan):
    r = sample(gantool, "-m", tiny_cgan, "-n", "1", "--json", "-o", tmp_path / "g.png")
    out = json.loads(r.stdout)
    assert out["count"] == 10 and out["latent_dim"] == NZ + 10
    assert out["classes"] == [str(i) for i in range(10)]


@pytest.mark.parametrize("cls", ["10", "-1", "dog"])
def test_conditional_unknown_class(gantool, tmp_path, tiny_cgan, cls):
    r = gantool("sample", "-m", tiny_cgan, "-n", "2", "--class", cls, "-o", tmp_path / "g.png")
    assert r.code == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("gantool sample: error: ") and len(r.stderr.strip().splitlines()) == 1
    assert "0, 1, 2" in r.stderr  # names the classes there are
    assert not (tmp_path / "g.png").exists()


def test_class_on_unconditional_model(gantool, tmp_path, tiny_gan):
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "--class", "3", "-o", tmp_path / "g.png")
    assert r.code == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gantool sample: error: ") and "conditional" in lines[0]
    assert not (tmp_path / "g.png").exists()


# ---- sample: environment and JSON -----------------------------------------------------------------------

def test_gantool_model_env(gantool, tmp_path, tiny_gan, monkeypatch):
    monkeypatch.setenv("GANTOOL_MODEL", str(tiny_gan))
    r = sample(gantool, "-n", "2", "--seed", "3")
    assert np.load(io.BytesIO(r.stdout)).shape == (2, NZ)
    assert r.stdout == sample(gantool, "-m", tiny_gan, "-n", "2", "--seed", "3").stdout


def test_model_option_beats_env(gantool, tiny_gan, tiny_cgan, monkeypatch):
    monkeypatch.setenv("GANTOOL_MODEL", str(tiny_gan))
    r = sample(gantool, "-m", tiny_cgan, "-n", "1", "--class", "0")
    assert np.load(io.BytesIO(r.stdout)).shape == (1, NZ + 10)


def test_sample_json(gantool, tmp_path, tiny_gan):
    r = sample(gantool, "--json", "-m", tiny_gan, "-n", "3", "--seed", "4", "-o", tmp_path / "g.png",
               "--latents", tmp_path / "z.npy")
    out = json.loads(r.stdout)
    assert out["count"] == 3 and out["latent_dim"] == NZ and out["seed"] == 4
    assert out["grid"] == str(tmp_path / "g.png") and out["latents"] == str(tmp_path / "z.npy")
    assert out["classes"] is None
    assert (tmp_path / "g.png").exists() and (tmp_path / "z.npy").exists()


# ---- info -----------------------------------------------------------------------------------------------

def test_info_table(gantool, tiny_gan):
    r = gantool("info", tiny_gan)
    assert r.code == 0 and r.stderr == ""
    text = r.text
    for words in ("kind", "gan (gantool", "architecture", "DCGAN, unconditional, 16x16x1", "latent 8",
                  "config.nz", "data.name", "digits", "training.steps", "tensors.generator", "tensors.discriminator"):
        assert words in text, words
    assert "\x1b[" not in text  # no colour codes in a pipe


def test_info_table_conditional(gantool, tiny_cgan):
    text = gantool("info", tiny_cgan).text
    assert "conditional, 10 classes" in text and "latent 18 (nz 8)" in text


def test_info_json(gantool, tiny_gan, tiny_cgan):
    r = gantool("info", "--json", tiny_gan)
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["kind"] == "gan" and out["file"] == str(tiny_gan)
    assert out["config"]["image_size"] == SIZE and out["config"]["nz"] == NZ and out["config"]["channels"] == 1
    assert out["data"]["classes"] == [] and out["data"]["name"] == "digits" and out["data"]["num_images"] == 1797
    assert out["training"]["steps"] == 6 and out["training"]["seed"] == 0
    assert out["tensors"]["count"] > 0 and out["tensors"]["bytes"] > 0
    assert out["tensors"]["parameters"]["generator"] > 0 and out["tensors"]["parameters"]["discriminator"] > 0

    c = json.loads(gantool("--json", "info", tiny_cgan).stdout)
    assert c["config"]["num_classes"] == 10 and c["data"]["classes"] == [str(i) for i in range(10)]


def test_info_from_stdin(gantool, tiny_gan):
    r = gantool("info", "--json", "-", stdin=tiny_gan.read_bytes())
    assert r.code == 0, r.stderr
    from_stdin = json.loads(r.stdout)
    from_file = json.loads(gantool("info", "--json", tiny_gan).stdout)
    assert from_stdin.pop("file") == "<stdin>"
    from_file.pop("file")
    assert from_stdin == from_file
    assert "DCGAN" in gantool("info", "-", stdin=tiny_gan.read_bytes()).text


def test_info_checkpoint(gantool, tiny_gan):
    ckpt = tiny_gan.parent / "checkpoint.safetensors"
    assert "checkpoint (gantool" in gantool("info", ckpt).text
    out = json.loads(gantool("info", "--json", ckpt).stdout)
    assert out["kind"] == "checkpoint"
    assert out["tensors"]["count"] > json.loads(gantool("info", "--json", tiny_gan).stdout)["tensors"]["count"]
