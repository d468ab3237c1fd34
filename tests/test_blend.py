"""`gantool blend`: MNIST-M-style digits over photo crops, seeded, streamed, labels kept."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error

ONE = ["--threads", "1"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """scikit-learn's two sample photos, as PNGs in a folder."""
    from sklearn.datasets import load_sample_images

    folder = tmp_path_factory.mktemp("photos")
    for i, image in enumerate(load_sample_images().images):
        Image.fromarray(image).save(folder / f"photo{i}.png")
    return folder


def test_blend_is_seeded_and_keeps_the_labels(gantool, photos, tmp_path):
    from sklearn.datasets import load_digits

    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        r = gantool("--seed", seed, *ONE, "-q", "blend", "--photos", photos, "-o", tmp_path / f"{name}.npz")
        assert r.code == 0, r.stderr
        with np.load(tmp_path / f"{name}.npz", allow_pickle=False) as z:
            runs[name] = {k: z[k] for k in z.files}
    a, b, c = runs["a"], runs["b"], runs["c"]
    assert a["images"].shape == (1797, 3, 8, 8) and a["images"].dtype == np.uint8
    assert np.array_equal(a["images"], b["images"])  # the same seed, the same images
    assert (a["images"] != c["images"]).mean() > 0.5  # another seed, other crops
    d = load_digits()
    assert np.array_equal(a["labels"], d.target) and np.array_equal(c["labels"], d.target)
    assert list(a["classes"]) == [str(i) for i in range(10)]


def test_the_recipe_inverts_the_photo_under_the_binarized_digit(gantool, tmp_path):
    from sklearn.datasets import load_digits

    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.full((12, 30, 3), (10, 200, 50), np.uint8)).save(flat / "solid.png")
    r = gantool(*ONE, "-q", "blend", "--photos", flat, "-o", tmp_path / "m.npz")
    assert r.code == 0, r.stderr
    images = np.load(tmp_path / "m.npz")["images"]
    on = np.round(load_digits().images * 255 / 16) / 255 > 0.5  # the digits binarized at half their range
    expected = np.where(on[:, None], np.array([245, 55, 205])[None, :, None, None],
                        np.array([10, 200, 50])[None, :, None, None])
    assert np.array_equal(images, expected)


def test_the_draws_do_not_depend_on_the_chunk_size(photos, monkeypatch):
    from gantool.data import blend

    plan = blend.plan(blend.BlendSettings(photos=str(photos)), seed=3)
    whole = np.concatenate([images for _, images in plan.chunks(chunk=4096)])
    pieces = np.concatenate([images for _, images in plan.chunks(chunk=100)])
    assert np.array_equal(whole, pieces) and len(whole) == 1797


def test_folder_output_has_a_subfolder_per_class_and_trains(gantool, photos, tmp_path):
    out = tmp_path / "m"
    r = gantool(*ONE, "--json", "-q", "blend", "--photos", photos, "--image-size", "12", "--out-dir", out)
    assert r.code == 0, r.stderr
    assert '"images": 1797' in r.text and '"image_size": 12' in r.text
    assert sorted(p.name for p in out.iterdir()) == [str(i) for i in range(10)]
    assert len(list((out / "3").glob("*.png"))) == 183  # the digits' class 3
    with Image.open(next((out / "0").glob("*.png"))) as im:
        assert im.mode == "RGB" and im.size == (12, 12)


def test_npz_on_a_pipe(gantool, photos):
    r = gantool(*ONE, "-q", "blend", "--photos", photos)  # stdout is a pipe: the .npz goes there
    assert r.code == 0, r.stderr
    with np.load(io.BytesIO(r.stdout), allow_pickle=False) as z:
        assert z["images"].shape == (1797, 3, 8, 8) and z["labels"].shape == (1797,)


def test_refusals_are_one_line(gantool, photos, tmp_path):
    line = one_line_error(gantool("blend", "-o", tmp_path / "m.npz"), "blend", 2)
    assert "--photos" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no images" in one_line_error(gantool("blend", "--photos", empty, "-o", tmp_path / "m.npz"), "blend", 1)
    one_line_error(gantool("blend", "--photos", photos, "-o", tmp_path / "m.npz", "--out-dir", tmp_path / "d"),
                   "blend", 2)
    assert "npz" in one_line_error(gantool("blend", "--photos", photos, "-o", tmp_path / "m.png"), "blend", 2)
    assert "terminal" in one_line_error(gantool("blend", "--photos", photos, stdout_tty=True), "blend", 2)
    assert "also an input" in one_line_error(gantool("blend", "--photos", photos, "--out-dir", photos), "blend", 2)
    assert "--image-size" in one_line_error(gantool("blend", "--photos", photos, "--image-size", "2",
                                                    "-o", tmp_path / "m.npz"), "blend", 2)
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "d").exists()
