"""gantool compare: runs side by side (the options that differ, the numbers, the curves, the grids)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error, run_gantool

BASE = ["--nz", "8", "--ndf", "8", "--image-size", "16", "--batch-size", "32", "--seed", "0", "-q"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs that differ in --ngf only (2 epochs each: two grids)."""
    folder = tmp_path_factory.mktemp("sweep")
    for n in (8, 12, 16):
        r = run_gantool("train", "--out", folder / f"ngf{n}", "--ngf", str(n), "--epochs", "2", *BASE)
        assert r.code == 0, r.stderr
    return [folder / f"ngf{n}" for n in (8, 12, 16)]


@pytest.mark.parametrize("count", [2, 3])
def test_the_table_shows_exactly_the_option_that_differs(runs, count, gantool):
    r = gantool("--json", "compare", *runs[:count])
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]  # one object per run
    assert [row["run"] for row in rows] == [f"ngf{n}" for n in (8, 12, 16)[:count]]
    assert [row["options"] for row in rows] == [{"ngf": n} for n in (8, 12, 16)[:count]]
    assert all(row["step"] > 0 and row["images_per_s"] > 0 for row in rows)
    table = gantool("compare", *runs[:count]).text
    assert "ngf" in table and "lr_g" not in table and "ngf12" in table


def test_the_panel_and_the_page(runs, gantool, tmp_path):
    r = gantool("compare", *runs, "-o", tmp_path / "c.png", "--html", tmp_path / "c.html", "--smooth", "0.5",
                "--epoch", "1,2")
    assert r.code == 0, r.stderr
    with Image.open(tmp_path / "c.png") as im:
        assert im.format == "PNG" and im.width >= 800 and im.height > im.width  # curves above two rows of grids
        assert np.asarray(im.convert("L")).std() > 10
    page = (tmp_path / "c.html").read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) == 1 + 2 * 3  # the curves, and a grid per run and epoch
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"https?://|<script|<link|@import", page)  # one file: nothing fetched, nothing run
    assert "options all runs share" in page and "<th>ngf</th>" in page


def test_runs_of_other_data_are_refused_in_one_line(runs, gantool, tmp_path):
    np.save(tmp_path / "other.npy", np.random.default_rng(0).integers(0, 255, (64, 16, 16), dtype=np.uint8))
    r = run_gantool("train", "--data", tmp_path / "other.npy", "--out", tmp_path / "other", "--steps", "2", "--ngf", "8",
                    *BASE)
    assert r.code == 0, r.stderr
    line = one_line_error(gantool("compare", runs[0], tmp_path / "other"), "compare", 2)
    assert "different data" in line and "ngf8" in line


def test_a_classifier_beside_a_gan_is_refused(runs, digits_classifier, gantool):
    line = one_line_error(gantool("compare", runs[0], digits_classifier), "compare", 1)
    assert "cannot be compared" in line and "classifier" in line


def test_a_run_without_losses_is_named_not_a_traceback(runs, gantool, tmp_path):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(runs[1], bare)
    (bare / "losses.csv").unlink()
    r = gantool("compare", runs[0], bare, "-o", tmp_path / "c.png")
    assert r.code == 0 and "Traceback" not in r.stderr
    assert f"{bare}: no {bare / 'losses.csv'}" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_line_error(gantool("compare", runs[0], empty), "compare", 1)
    assert str(empty / "model.safetensors") in line


def test_bad_options_are_refused_before_any_work(runs, gantool, tmp_path):
    assert "two runs" in one_line_error(gantool("compare", runs[0]), "compare", 2)
    line = one_line_error(gantool("compare", *runs, "--epoch", "7", "-o", tmp_path / "c.png"), "compare", 2)
    assert "--epoch 7" in line and "1, 2" in line and not (tmp_path / "c.png").exists()
    assert "--smooth" in one_line_error(gantool("compare", *runs, "--smooth", "1"), "compare", 2)
    line = one_line_error(gantool("compare", *runs, "--html", tmp_path / "c.png"), "compare", 2)
    assert "c.html" in line


def test_classifiers_compare_by_their_held_out_accuracy(digits_classifier, gantool, tmp_path):
    other = tmp_path / "short.safetensors"
    assert gantool("--seed", "0", "--threads", "1", "-q", "train-classifier", "-o", other, "--epochs", "1").code == 0
    r = gantool("--json", "compare", digits_classifier, other, "--html", tmp_path / "c.html")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["options"]["epochs"] for row in rows] == [10, 1]
    assert all(0 < row["heldout_accuracy"] <= 1 for row in rows)
    assert "heldout_accuracy" in (tmp_path / "c.html").read_text()
