"""gantool adversarial and visualize-class on the default digits classifier: the attacks succeed
(after 8-bit rounding where it matters), report their norms, and refuse bad input in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import held_out_digits, one_line_error

ONE = ["--threads", "1"]  # another torch process may share the 2 cores


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    path = tmp_path_factory.mktemp("held") / "held.npy"
    np.save(path, held_out_digits()[0])
    return path


@pytest.fixture(scope="module")
def few(tmp_path_factory):
    path = tmp_path_factory.mktemp("few") / "d.npy"
    np.save(path, held_out_digits(12)[0])
    return path


def rows_of(r) -> list[dict]:
    assert r.code == 0, r.stderr
    return [json.loads(line) for line in r.text.splitlines()]


def test_targeted_pgd_at_eps_03_fools_on_99_percent_of_held_out_digits_after_rounding(digits_classifier, held, gantool, tmp_path):
    r = gantool(*ONE, "--json", "adversarial", held, "-m", digits_classifier, "--method", "pgd", "--eps", "0.3",
                "--target", "runner-up", "--out-dir", tmp_path)
    rows = rows_of(r)
    assert len(rows) == 360
    saved = np.mean([row["saved_success"] for row in rows])
    assert saved >= 0.99, saved
    assert all(row["linf"] <= 0.3 + 0.5 / 255 + 1e-6 for row in rows)  # rounding moves a pixel by half a step at most
    assert "after 8-bit rounding" in r.stderr and "success" in r.stderr
    # the saved PNG is what was checked
    row = rows[0]
    with Image.open(row["files"]["adversarial"]) as im:
        assert im.size == (8, 8) and im.mode == "L"
        png = np.array(im)
    from gantool.classify.classifiers import load_classifier

    clf = load_classifier(str(digits_classifier))
    with torch.no_grad():
        predicted = clf(torch.from_numpy(png).float().div(255)[None, None]).argmax(1).item()
    assert clf.classes[predicted] == row["saved_final"]
    assert row["target"] == row["saved_final"] or not row["saved_success"]


def test_gradient_ascent_succeeds_on_all_and_reports_its_norms(digits_classifier, few, gantool, tmp_path):
    rows = rows_of(gantool(*ONE, "--json", "adversarial", few, "-m", digits_classifier, "--method", "gradient-ascent",
                           "--target", "next", "-o", tmp_path / "grid.png"))
    assert all(row["success"] for row in rows)
    for row in rows:
        assert row["target_index"] == (row["original_index"] + 1) % 10 == row["final_index"]
        assert 0 < row["l2"] < 4 and 0 < row["linf"] <= 1 and row["linf_255"] == round(row["linf"] * 255)
        assert 0 < row["steps"] == row["first_fooled_at"] < 1000  # stops per image as soon as it succeeds
    assert len({row["steps"] for row in rows}) > 1
    with Image.open(tmp_path / "grid.png") as grid:  # 12 rows of original | perturbation | adversarial, 2 a row
        assert grid.size == (2 + 6 * 10, 2 + 6 * 10) and grid.mode == "RGB"


def test_the_lattice_keeps_the_saved_png_fooling(digits_classifier, few, gantool, tmp_path):
    """Gradient ascent stops as soon as the float image crosses over: rounding undoes some; on the
    lattice, every saved file still fools the model."""
    plain = rows_of(gantool(*ONE, "--json", "adversarial", few, "-m", digits_classifier, "--method", "gradient-ascent",
                            "--target", "0", "--out-dir", tmp_path / "plain"))
    lattice = rows_of(gantool(*ONE, "--json", "adversarial", few, "-m", digits_classifier, "--method", "gradient-ascent",
                              "--target", "0", "--lattice", "--out-dir", tmp_path / "lattice"))
    assert all(row["success"] for row in plain)
    assert all(row["success"] and row["saved_success"] for row in lattice)
    from gantool.classify.classifiers import load_classifier

    clf = load_classifier(str(digits_classifier))
    png = np.stack([np.array(Image.open(row["files"]["adversarial"])) for row in lattice])
    with torch.no_grad():
        assert (clf(torch.from_numpy(png).float().div(255)[:, None]).argmax(1) == 0).all()
    # pgd on the lattice: its Linf is a whole number of steps within eps
    rows = rows_of(gantool(*ONE, "--json", "adversarial", few, "-m", digits_classifier, "--eps", "0.1", "--lattice",
                           "--out-dir", tmp_path / "pgd"))
    assert all(row["linf_255"] <= 25 for row in rows)


@pytest.mark.parametrize("argv", [["--method", "fgsm", "--eps", "0.3"], ["--norm", "l2", "--eps", "3", "--steps", "20"],
                                  ["--method", "pgd", "--eps", "0.3", "--no-random-start", "--steps", "10"]])
def test_untargeted_fgsm_and_pgd_l2_run(digits_classifier, few, gantool, tmp_path, argv):
    r = gantool(*ONE, "--json", "adversarial", few, "-m", digits_classifier, *argv, "--out-dir", tmp_path)
    rows = rows_of(r)
    assert len(rows) == 12 and all(row["target"] is None for row in rows)
    assert np.mean([row["saved_success"] for row in rows]) > 0.5  # most flip to another class
    for row in rows:
        assert row["success"] == (row["final"] != row["original"])
        with Image.open(row["files"]["perturbation"]) as im:
            assert im.size == (8, 8)
    if "l2" in argv:
        assert all(row["l2"] <= 3 + 0.1 for row in rows)


def test_table_and_summary(digits_classifier, few, gantool, tmp_path):
    r = gantool(*ONE, "adversarial", few, "-m", digits_classifier, "--method", "fgsm", "--eps", "0.2", "--out-dir", tmp_path)
    assert r.code == 0, r.stderr
    assert sum("d[" in line for line in r.text.splitlines()) == 12 and "Linf" in r.text
    assert r.stderr.startswith("fgsm (untargeted at Linf eps 0.2)")


def test_visualize_class_raises_the_target_probability(digits_classifier, gantool, tmp_path):
    r = gantool(*ONE, "--json", "visualize-class", "-m", digits_classifier, "--target", "3,7",
                "--steps", "60", "-o", tmp_path / "img.png", "--strip", tmp_path / "strip.png", "--frames", "4")
    rows = rows_of(r)
    assert [row["target"] for row in rows] == ["3", "7"]
    for row in rows:
        assert row["probability"] > max(0.9, row["start_probability"])
        assert row["predicted"] == row["target"]
    with Image.open(tmp_path / "img.png") as im:
        assert im.size == (2 + 2 * 10, 2 + 10)
    with Image.open(tmp_path / "strip.png") as im:
        assert im.size == (2 + 4 * 10, 2 + 2 * 10)
    Image.fromarray(held_out_digits(1)[0][0]).save(tmp_path / "start.png")
    one = rows_of(gantool(*ONE, "--json", "visualize-class", "-m", digits_classifier, "--target", "5", "--init-image",
                          tmp_path / "start.png", "--steps", "40", "-o", tmp_path / "five.png"))
    assert one[0]["probability"] > one[0]["start_probability"] and one[0]["start_probability"] < 0.5
    with Image.open(tmp_path / "five.png") as im:
        assert im.size == (8, 8)


@pytest.mark.parametrize("argv, words", [
    (["--method", "deepfool"], "--method"),
    (["--eps", "0"], "--eps 0.0: must be more than 0"),
    (["--eps", "1.5"], "--eps 1.5: must be at most 1"),
    (["--target", "10"], "--target 10: is out of range"),
    (["--target", "cat"], "--target cat: is not a class"),
    (["--method", "gradient-ascent"], "needs --target"),
    (["--method", "fgsm", "--steps", "5"], "--steps: does not apply to --method fgsm"),
    (["--method", "gradient-ascent", "--target", "3", "--eps", "0.1"], "--eps: does not apply"),
    (["--lattice", "--eps", "0.001"], "below one 8-bit step"),
])
def test_bad_options_are_one_line_exit_2_and_write_nothing(digits_classifier, few, gantool, tmp_path, argv, words):
    line = one_line_error(gantool(*ONE, "adversarial", few, "-m", digits_classifier, *argv, "--out-dir", tmp_path / "out"),
                          "adversarial", 2)
    assert words in line
    assert not (tmp_path / "out").exists()


def test_missing_image_and_bad_visualize_options(digits_classifier, gantool, tmp_path):
    line = one_line_error(gantool(*ONE, "adversarial", tmp_path / "none.png", "-m", digits_classifier, "--out-dir", tmp_path),
                          "adversarial", 1)
    assert "none.png" in line
    line = one_line_error(gantool(*ONE, "visualize-class", "-m", digits_classifier, "--target", "3", "--init-image",
                                  tmp_path / "none.png", "-o", tmp_path / "x.png"), "visualize-class", 1)
    assert "none.png" in line
    for argv, words in ((["--target", "12"], "--target 12: is out of range"), ([], "no class given"),
                        (["--target", "1", "--lr", "0"], "--lr")):
        line = one_line_error(gantool(*ONE, "visualize-class", "-m", digits_classifier, *argv, "-o", tmp_path / "x.png"),
                              "visualize-class", 2)
        assert words in line
    assert not (tmp_path / "x.png").exists()
