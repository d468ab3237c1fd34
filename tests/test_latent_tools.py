"""`gantool interpolate` (walks between latents) and `gantool arithmetic` (sums of latent rows)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error
from gantool.latent.arithmetic import evaluate, parse
from gantool.latent.walk import frames, lerp, slerp, walk

NZ, SIZE = 8, 16  # TINY's


def npy(r) -> np.ndarray:
    return np.load(io.BytesIO(r.stdout), allow_pickle=False)


def cells(png_path, nrow: int, count: int) -> list[np.ndarray]:
    """The images of a make_grid PNG (padding 2), in order."""
    grid = np.asarray(Image.open(png_path))
    step = SIZE + 2
    return [grid[2 + (i // nrow) * step: 2 + (i // nrow) * step + SIZE, 2 + (i % nrow) * step: 2 + (i % nrow) * step + SIZE]
            for i in range(count)]


# ---- the math ------------------------------------------------------------------------------------------

def test_slerp_keeps_to_the_sphere_where_lerp_cuts_through():
    a, b = np.array([3.0, 0, 0, 0]), np.array([0, 3.0, 0, 0])
    t = np.linspace(0, 1, 5)
    s, l_ = slerp(a, b, t), lerp(a, b, t)
    np.testing.assert_allclose(s[0], a) and np.testing.assert_allclose(s[-1], b)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 3.0)  # Gaussian z lives near a shell; slerp stays on it
    assert np.linalg.norm(l_[2]) < 2.2  # the straight line's middle is much shorter
    np.testing.assert_allclose(slerp(a, 2 * a, t), lerp(a, 2 * a, t))  # parallel: falls back to lerp


def test_walk_shapes_and_class_parts():
    z = np.eye(4, 6, dtype=np.float32)  # 4 rows: nz 3, 3 classes... as [z | class]
    z[:, 3:] = np.eye(3)[[0, 1, 2, 0]]
    w = walk(z, 5, nz=3, num_classes=3, mode="pairs")
    assert w.rows == 2 and w.latents.shape == (10, 6)
    np.testing.assert_allclose(w.latents[2, 3:], [0.5, 0.5, 0])  # the class morphs linearly
    pinned = walk(z, 5, nz=3, num_classes=3, pinned_class=2)
    assert (pinned.latents[:, 3:] == [0, 0, 1]).all()
    loop = walk(z, 4, nz=3, num_classes=3, mode="path", loop=True)
    assert loop.rows == 4
    order = frames(loop, "path", True)
    assert len(order) == 1 + 4 * 3 and np.array_equal(loop.latents[order[0]], loop.latents[order[-1]])


@pytest.mark.parametrize("expr, terms", [("0 - 1 + 2", [(1, (0,)), (-1, (1,)), (1, (2,))]),
                                         ("[0,1,2] - [3, 4 5] + 6", [(1, (0, 1, 2)), (-1, (3, 4, 5)), (1, (6,))]),
                                         ("-1", [(-1, (1,))])])
def test_expressions_parse(expr, terms):
    assert [(t.sign, t.rows) for t in parse(expr)] == terms


@pytest.mark.parametrize("expr", ["", "0 +", "0 1", "0 + - 1", "[a] + 1", "0 * 2", "[]"])
def test_bad_expressions_are_refused(expr):
    with pytest.raises(Exception) as e:
        parse(expr)
    assert e.value.field == "expr"


def test_arithmetic_of_averages():
    z = np.arange(12, dtype=np.float32).reshape(6, 2)
    result, means = evaluate(parse("[0,1] - [2,3] + 5"), z)
    np.testing.assert_allclose(means[0], z[:2].mean(0))
    np.testing.assert_allclose(result, z[:2].mean(0) - z[2:4].mean(0) + z[5])


# ---- interpolate ------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["env", "-m"])
def test_sample_pipe_interpolate(gantool, tmp_path, tiny_gan, monkeypatch, how):
    model = ["-m", tiny_gan] if how == "-m" else []
    if how == "env":
        monkeypatch.setenv("GANTOOL_MODEL", str(tiny_gan))
    two = gantool("sample", *model, "-n", "2", "--seed", "1", "--latents", "-", "-o", tmp_path / "ends.png")
    assert two.code == 0, two.stderr
    r = gantool("interpolate", *model, "--steps", "8", "-o", tmp_path / "walk.png", stdin=two.stdout)
    assert r.code == 0, r.stderr
    assert Image.open(tmp_path / "walk.png").size == (8 * (SIZE + 2) + 2, SIZE + 4)
    walk_cells, end_cells = cells(tmp_path / "walk.png", 8, 8), cells(tmp_path / "ends.png", 2, 2)
    assert np.array_equal(walk_cells[0], end_cells[0]) and np.array_equal(walk_cells[-1], end_cells[1])
    assert not np.array_equal(walk_cells[3], walk_cells[0])  # the middle is somewhere else


def test_the_walk_composes_with_sample(gantool, tmp_path, tiny_gan):
    two = gantool("sample", "-m", tiny_gan, "-n", "2", "--seed", "2")
    r = gantool("interpolate", "-m", tiny_gan, "--steps", "6", stdin=two.stdout)  # a pipe: latents by default
    assert r.code == 0, r.stderr
    z = npy(r)
    assert z.shape == (6, NZ) and z.dtype == np.float32
    np.testing.assert_allclose(z[[0, -1]], npy(two), atol=1e-6)
    back = gantool("sample", "-m", tiny_gan, "--latents-in", "-", "-o", tmp_path / "grid.png", stdin=r.stdout)
    assert back.code == 0 and "drew 6 images" in back.stderr


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_loop_animation_ends_where_it_began(gantool, tmp_path, tiny_gan, suffix):
    three = gantool("sample", "-m", tiny_gan, "-n", "3", "--seed", "3")
    anim = tmp_path / f"loop{suffix}"
    r = gantool("interpolate", "-m", tiny_gan, "--mode", "path", "--loop", "--steps", "4", "--animate", anim,
                "--fps", "10", "-q", stdin=three.stdout)
    assert r.code == 0, r.stderr
    with Image.open(anim) as im:
        assert im.size == (SIZE, SIZE)
        first, total = np.asarray(im.convert("L")), 0
        for k in range(im.n_frames):  # (encoders merge identical neighbours into one longer frame)
            im.seek(k)
            total += im.info.get("duration", 0)
        if suffix == ".gif":
            assert total == (1 + 3 * 3) * 100  # 1 + 3 legs of 3 new frames, 100 ms each
        else:
            assert 1 < im.n_frames <= 1 + 3 * 3
        assert np.array_equal(np.asarray(im.convert("L")), first)  # the last frame is the first


def test_conditional_class_morphs_or_stays(gantool, tiny_cgan):
    z = np.zeros((2, NZ + 10), np.float32)
    z[:, :NZ] = np.random.default_rng(0).normal(size=(2, NZ))
    z[0, NZ + 3] = z[1, NZ + 7] = 1
    buf = io.BytesIO()
    np.save(buf, z)
    morph = npy(gantool("interpolate", "-m", tiny_cgan, "--steps", "3", stdin=buf.getvalue()))
    np.testing.assert_allclose(morph[1, NZ:][[3, 7]], [0.5, 0.5])
    held = npy(gantool("interpolate", "-m", tiny_cgan, "--steps", "3", "--class", "5", stdin=buf.getvalue()))
    assert (held[:, NZ + 5] == 1).all() and held[:, NZ:].sum() == 3


def _npy(tmp_path, rows: int, width: int = NZ):
    path = tmp_path / f"z{rows}x{width}.npy"
    np.save(path, np.random.default_rng(rows).normal(size=(rows, width)).astype(np.float32))
    return path


def test_interpolate_refusals(gantool, tmp_path, tiny_gan):
    out = tmp_path / "walk.png"
    assert "the model takes 8" in one_line_error(
        gantool("interpolate", _npy(tmp_path, 2, 5), "-m", tiny_gan, "-o", out), "interpolate")  # wrong width: 1
    assert "1 latent row" in one_line_error(
        gantool("interpolate", _npy(tmp_path, 1), "-m", tiny_gan, "-o", out), "interpolate")  # two needed: 1
    assert "even" in one_line_error(gantool("interpolate", _npy(tmp_path, 3), "-m", tiny_gan, "-o", out), "interpolate")
    assert "--mode path" in one_line_error(
        gantool("interpolate", _npy(tmp_path, 2), "-m", tiny_gan, "--loop", "-o", out), "interpolate", code=2)
    assert "--animate" in one_line_error(
        gantool("interpolate", _npy(tmp_path, 2), "-m", tiny_gan, "--animate", tmp_path / "a.mp4"), "interpolate", code=2)
    assert "--class" in one_line_error(
        gantool("interpolate", _npy(tmp_path, 2), "-m", tiny_gan, "--class", "1", "-o", out), "interpolate", code=2)
    one_line_error(gantool("interpolate", "-m", tiny_gan, "-o", out, stdin_tty=True), "interpolate", code=2)
    assert not out.exists() and not (tmp_path / "a.mp4").exists()


# ---- arithmetic -----------------------------------------------------------------------------------

def test_arithmetic_command(gantool, tmp_path, tiny_gan):
    z = _npy(tmp_path, 9)
    r = gantool("arithmetic", "[0,1,2] - [3,4,5] + [6,7,8]", z, "-m", tiny_gan, "-n", "4", "--seed", "1",
                "-o", tmp_path / "result.png", "--latents", tmp_path / "r.npy")
    assert r.code == 0, r.stderr
    given, out = np.load(z), np.load(tmp_path / "r.npy")
    exact = given[0:3].mean(0) - given[3:6].mean(0) + given[6:9].mean(0)
    assert out.shape == (4, NZ)
    np.testing.assert_allclose(out[0], exact, atol=1e-5)
    assert not np.allclose(out[1], exact)  # a variant, with --jitter noise
    # a row per term (3 exemplars + their average), then the 4 results: 4 columns, 4 rows
    assert Image.open(tmp_path / "result.png").size == (4 * (SIZE + 2) + 2, 4 * (SIZE + 2) + 2)
    again = gantool("arithmetic", "[0,1,2] - [3,4,5] + [6,7,8]", z, "-m", tiny_gan, "-n", "4", "--seed", "1",
                    "--latents", "-", "-q")
    np.testing.assert_array_equal(npy(again), out)  # same seed, same variants


def test_arithmetic_refusals(gantool, tmp_path, tiny_gan):
    z = _npy(tmp_path, 3)
    line = one_line_error(gantool("arithmetic", "0 - 1 + 7", z, "-m", tiny_gan, "-o", tmp_path / "r.png"),
                          "arithmetic", code=2)
    assert line.startswith("gantool arithmetic: error: EXPR") and "row 7" in line and "0..2" in line
    one_line_error(gantool("arithmetic", "0 +", z, "-m", tiny_gan, "-o", tmp_path / "r.png"), "arithmetic", code=2)
    assert not (tmp_path / "r.png").exists()


# ---- invert ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory, tiny_gan):
    """8 images drawn by the tiny GAN (their latents known), as PNG files."""
    from conftest import run_gantool

    folder = tmp_path_factory.mktemp("generated")
    r = run_gantool("sample", "-m", tiny_gan, "-n", "8", "--seed", "5", "--out-dir", folder / "png",
                    "--latents", folder / "z.npy", "-q")
    assert r.code == 0, r.stderr
    return folder


def test_invert_generated_images_to_high_psnr(gantool, tmp_path, tiny_gan, generated):
    r = gantool("invert", generated / "png", "-m", tiny_gan, "--steps", "150", "--restarts", "2", "--init", "best-of-16",
                "--seed", "1", "--json", "--latents", tmp_path / "z.npy", "-o", tmp_path / "pairs.png",
                "--out-dir", tmp_path / "each")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["image"] for row in rows] == [f"{i:05d}" for i in range(8)]
    assert min(row["psnr"] for row in rows) > 30 and min(row["ssim"] for row in rows) > 0.9
    assert np.load(tmp_path / "z.npy").shape == (8, NZ)
    assert Image.open(tmp_path / "pairs.png").size == (16 * (SIZE + 2) + 2, SIZE + 4)  # target | reconstruction x 8
    assert len(list((tmp_path / "each").iterdir())) == 8


def test_an_image_gets_the_same_latent_alone_or_in_a_batch(gantool, tmp_path, tiny_gan, generated):
    common = ["-m", tiny_gan, "--steps", "40", "--restarts", "2", "--seed", "3", "-q"]
    batch = gantool("invert", generated / "png", *common, "--latents", tmp_path / "batch.npy")
    alone = gantool("invert", generated / "png" / "00005.png", *common, "--latents", tmp_path / "alone.npy")
    assert batch.code == 0 and alone.code == 0, batch.stderr + alone.stderr
    np.testing.assert_allclose(np.load(tmp_path / "alone.npy")[0], np.load(tmp_path / "batch.npy")[5], atol=1e-4)
    again = gantool("invert", generated / "png" / "00005.png", *common, "--latents", tmp_path / "again.npy")
    assert again.code == 0, again.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), np.load(tmp_path / "alone.npy"))  # same seed


def test_invert_reads_a_batch_on_stdin_and_uses_the_discriminator(gantool, tmp_path, tiny_gan):
    images = (np.random.default_rng(0).random((3, SIZE, SIZE)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    np.save(buf, images)
    r = gantool("invert", "-m", tiny_gan, "--steps", "5", "--perceptual", "0.5", "--prior", "0.01",
                "--latents", "-", stdin=buf.getvalue())
    assert r.code == 0, r.stderr
    assert npy(r).shape == (3, NZ) and "PSNR" in r.stderr  # the table moves to stderr when stdout carries latents


def test_invert_conditional_searches_or_takes_the_class(gantool, tmp_path, tiny_cgan):
    r = gantool("sample", "-m", tiny_cgan, "-n", "2", "--class", "4", "--out-dir", tmp_path / "fours", "-q")
    assert r.code == 0, r.stderr
    searched = gantool("invert", tmp_path / "fours", "-m", tiny_cgan, "--steps", "5", "--json", "--latents",
                       tmp_path / "s.npy")
    assert searched.code == 0, searched.stderr
    assert all(json.loads(line)["class"] in [str(i) for i in range(10)] for line in searched.text.splitlines())
    held = gantool("invert", tmp_path / "fours", "-m", tiny_cgan, "--steps", "5", "--class", "4", "--json",
                   "--latents", tmp_path / "h.npy")
    assert {json.loads(line)["class"] for line in held.text.splitlines()} == {"4"}
    assert (np.load(tmp_path / "h.npy")[:, NZ + 4] == 1).all()


def test_invert_refusals(gantool, tmp_path, tiny_gan, generated):
    out = tmp_path / "z.npy"
    one_line_error(gantool("invert", tmp_path / "nope.png", "-m", tiny_gan, "--latents", out), "invert")
    np.save(tmp_path / "init.npy", np.zeros((3, NZ), np.float32))
    assert "--init" in one_line_error(gantool("invert", generated / "png", "-m", tiny_gan, "--init",
                                              tmp_path / "init.npy", "--latents", out), "invert", code=2)
    assert "--init" in one_line_error(gantool("invert", generated / "png", "-m", tiny_gan, "--init", "best-of-x",
                                              "--latents", out), "invert", code=2)
    assert "--steps" in one_line_error(gantool("invert", generated / "png", "-m", tiny_gan, "--steps", "0",
                                               "--latents", out), "invert", code=2)
    one_line_error(gantool("invert", "-m", tiny_gan, "--latents", out, stdin_tty=True), "invert", code=2)
    assert not out.exists()


# ---- the encoder --------------------------------------------------------------------------------

def test_encoder_trains_beside_the_model_and_starts_inversion(gantool, tmp_path, tiny_gan, generated):
    import shutil

    model = tmp_path / "model.safetensors"
    shutil.copy(tiny_gan, model)
    line = one_line_error(gantool("invert", generated / "png", "-m", model, "--init", "encoder", "--latents",
                                  tmp_path / "z.npy"), "invert")
    assert "train-encoder" in line and not (tmp_path / "z.npy").exists()
    r = gantool("train-encoder", "-m", model, "--steps", "30", "--batch-size", "32", "--seed", "0")
    assert r.code == 0, r.stderr
    encoder = tmp_path / "model.encoder.safetensors"
    assert r.text.strip() == str(encoder) and "held-out latent MSE" in r.stderr
    info = json.loads(gantool("--json", "info", encoder).stdout)
    assert info["kind"] == "encoder" and info["architecture"].startswith("encoder for a DCGAN")
    assert info["config"]["arch"] == "dcgan-encoder" and info["config"]["nz"] == NZ
    r = gantool("invert", generated / "png", "-m", model, "--init", "encoder", "--steps", "1", "--json",
                "--latents", tmp_path / "z.npy")
    assert r.code == 0, r.stderr
    assert np.load(tmp_path / "z.npy").shape == (8, NZ) and len(r.text.splitlines()) == 8
