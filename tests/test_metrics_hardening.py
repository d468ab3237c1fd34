"""Issue 16's defects in evaluate, train-classifier, info and train: counts too small for the scores
asked, -k's one meaning, no negative zero, mixed image sizes, the seed checked up front, --json one
line; and the evaluate library used without the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from conftest import held_out_digits, one_line_error

ONE = ["--threads", "1"]


def _npy(tmp_path, n: int, name: str = "g.npy", same: bool = False):
    images, _ = held_out_digits(max(n, 1))
    if same:
        images = np.repeat(images[:1], n, axis=0)
    path = tmp_path / name
    np.save(path, images[:n])
    return path


@pytest.fixture
def no_judge(monkeypatch):
    """Any attempt to load (and so run) a judge fails the test: the refusal must come first."""
    from gantool.metrics import judge

    def refuse(*a, **kw):
        raise AssertionError("a judge was loaded before the counts were checked")

    monkeypatch.setattr(judge.Judge, "load", refuse)


# ---- 1. counts too small for the scores asked ---------------------------------------------------------

def test_neighbours_at_least_the_generated_count_is_refused_before_any_model(gantool, digits_classifier, tmp_path,
                                                                             no_judge):
    images = _npy(tmp_path, 5)
    line = one_line_error(gantool(*ONE, "evaluate", images, "--data", "digits", "-f", digits_classifier,
                                  "--neighbours", "5"), "evaluate", 2)
    assert "--neighbours 5" in line and "5 generated" in line and "at least 6" in line


def test_the_default_neighbours_need_six_drawn_images(gantool, tiny_gan, digits_classifier, no_judge):
    line = one_line_error(gantool(*ONE, "evaluate", "-m", tiny_gan, "--data", "digits", "-f", digits_classifier,
                                  "-n", "3"), "evaluate", 2)
    assert "--neighbours 5" in line and "at least 6" in line and "--count" in line


def test_neighbours_at_least_the_real_count_is_refused(gantool, digits_classifier, tmp_path, no_judge):
    fake, real = _npy(tmp_path, 40), _npy(tmp_path, 4, "real.npy")
    line = one_line_error(gantool(*ONE, "evaluate", fake, "--data", real, "-f", digits_classifier),
                          "evaluate", 2)
    assert "--neighbours 5" in line and "4 real" in line and "at most 3" in line


def test_a_kid_subset_larger_than_the_images_is_refused(gantool, digits_classifier, tmp_path, no_judge):
    line = one_line_error(gantool(*ONE, "evaluate", _npy(tmp_path, 30), "--data", "digits", "-f", digits_classifier,
                                  "--kid-subset", "31"), "evaluate", 2)
    assert "--kid-subset 31" in line and "at most 30" in line


def test_a_single_generated_image_is_refused(gantool, digits_classifier, tmp_path, no_judge):
    line = one_line_error(gantool(*ONE, "evaluate", _npy(tmp_path, 1), "--data", "digits", "-f", digits_classifier),
                          "evaluate", 1)
    assert "1 generated image" in line and "at least 2" in line


def test_counts_are_checked_by_the_library_settings():
    from gantool.errors import BadValue
    from gantool.metrics.request import EvaluateSettings

    s = EvaluateSettings(neighbours=5)
    s.validate()
    s.check_counts(6, 100)
    assert s.kid_size(6, 100) == 6 and EvaluateSettings().kid_size(5000, 3000) == 1000
    with pytest.raises(BadValue, match="at least 6") as e:
        s.check_counts(100, 5)
    assert e.value.field == "neighbours"
    with pytest.raises(BadValue, match="at most 1000"):
        EvaluateSettings(neighbours=1001).validate()


def test_within_the_counts_evaluate_still_runs_at_the_edge(gantool, digits_classifier, tmp_path):
    r = gantool(*ONE, "--json", "evaluate", _npy(tmp_path, 6), "--data", "digits", "-f", digits_classifier,
                "--neighbours", "5", "--kid-subset", "6")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n_fake"] == 6 and out["k"] == 5 and out["kid_subset_size"] == 6


# ---- 2. -k means classify's --top ------------------------------------------------------------------------

def test_evaluate_has_no_k_short_form(gantool, digits_classifier, tmp_path):
    r = gantool(*ONE, "evaluate", _npy(tmp_path, 10), "--data", "digits", "-f", digits_classifier, "-k", "3")
    assert r.code == 2 and "-k" in r.stderr
    import typer

    from gantool.cli.app import app

    params = {p.name: p.opts for p in typer.main.get_command(app).commands["evaluate"].params}
    assert params["neighbours"] == ["--neighbours"] and not any("-k" in opts for opts in params.values())


# ---- 3. no negative zero ------------------------------------------------------------------------------------

def test_a_single_class_has_entropy_plus_zero():
    from gantool.metrics.classes import normalized_entropy

    assert math.copysign(1, normalized_entropy([7, 0, 0])) == 1.0


def test_the_table_prints_no_negative_zero(gantool, digits_classifier, tmp_path):
    r = gantool(*ONE, "evaluate", _npy(tmp_path, 10, same=True), "--data", "digits", "-f", digits_classifier,
                "--neighbours", "3")
    assert r.code == 0, r.stderr
    assert "class entropy" in r.text and "-0.0" not in r.text
    r = gantool(*ONE, "--json", "evaluate", tmp_path / "g.npy", "--data", "digits", "-f", digits_classifier,
                "--neighbours", "3")
    assert r.code == 0 and json.loads(r.stdout)["class_entropy"] == 0 and "-0.0" not in r.text
    from gantool.metrics.report import number, score_rows

    assert number(-0.0, ".3f") == "0.000" and number(-0.0001, ".3f") == "0.000" and number(-0.5, ".2f") == "-0.50"
    rows = score_rows({"n_fake": 2, "n_real": 2, "fid": -0.0, "kid_mean": -1e-9, "kid_std": 0.0,
                       "kid_subset_size": 2, "precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0,
                       "k": 1, "inception_score": 1.0, "inception_score_std": -0.0, "classes": ["a", "b"],
                       "class_histogram": [2, 0], "class_entropy": -0.0})
    assert not any(str(v).startswith("-0") or " -0" in str(v) for row in rows for v in row.values())


# ---- 4. mixed image sizes in train-classifier -------------------------------------------------------------

def _two_sizes(tmp_path):
    root = tmp_path / "mixed"
    for cls, size in (("a", 8), ("b", 10)):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((size, size), 20 * i + (100 if cls == "b" else 0), np.uint8)).save(
                root / cls / f"{i}.png")
    return root


def test_mixed_image_sizes_are_one_line_naming_two_files(gantool, tmp_path):
    root = _two_sizes(tmp_path)
    line = one_line_error(gantool(*ONE, "train-classifier", "--data", root, "-o", tmp_path / "c.safetensors"),
                          "train-classifier", 1)
    assert str(root / "a" / "0.png") in line and str(root / "b" / "0.png") in line
    assert not (tmp_path / "c.safetensors").exists()


def test_mixed_image_sizes_train_at_a_given_size(gantool, tmp_path):
    root = _two_sizes(tmp_path)
    r = gantool(*ONE, "--json", "-q", "train-classifier", "--data", root, "--image-size", "8", "--epochs", "1",
                "--width", "4", "--holdout", "0.5", "-o", tmp_path / "c.safetensors")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["heldout_images"] == 6


# ---- 5. the seed: checked up front, one policy ---------------------------------------------------------------

def test_a_seed_out_of_range_is_refused_at_once(gantool, tmp_path, monkeypatch):
    from gantool.data import sources

    monkeypatch.setattr(sources, "load_data", lambda *a, **kw: pytest.fail("data loaded before the seed was checked"))
    line = one_line_error(gantool("--seed", "99999999999", "train-classifier", "-o", tmp_path / "c.safetensors"),
                          "train-classifier", 2)
    assert "--seed 99999999999" in line and "--holdout" not in line
    assert not (tmp_path / "c.safetensors").exists()


def test_train_classifier_is_seeded_zero_without_seed(gantool, tmp_path):
    from safetensors.torch import load_file

    args = [*ONE, "--json", "train-classifier", "--epochs", "1", "--width", "4"]
    a = gantool(*args, "-o", tmp_path / "a.safetensors")
    b = gantool(*args, "-o", tmp_path / "b.safetensors")
    assert a.code == 0 and b.code == 0, a.stderr + b.stderr
    assert "seed 0" in a.stderr and json.loads(a.stdout)["seed"] == 0
    wa, wb = (load_file(str(tmp_path / f"{n}.safetensors")) for n in "ab")
    assert all((wa[k] == wb[k]).all() for k in wa)  # the same command line, the same classifier


# ---- 6. --json: one object, one line -------------------------------------------------------------------------

def test_json_is_one_compact_line_for_one_result(gantool, tiny_gan, digits_classifier, tmp_path):
    outputs = {
        "evaluate": gantool(*ONE, "--json", "evaluate", _npy(tmp_path, 20), "--data", "digits", "-f",
                            digits_classifier),
        "info": gantool("--json", "info", tiny_gan),
        "train-classifier": gantool(*ONE, "--json", "-q", "train-classifier", "--epochs", "1", "--width", "4",
                                    "-o", tmp_path / "c.safetensors"),
        "train": gantool(*ONE, "--json", "train", "--out", tmp_path / "run", "--steps", "1", "--nz", "8", "--ngf",
                         "8", "--ndf", "8", "--image-size", "16", "-q"),
    }
    for name, r in outputs.items():
        assert r.code == 0, (name, r.stderr)
        lines = r.text.splitlines()
        assert len(lines) == 1, (name, r.text)
        assert isinstance(json.loads(lines[0]), dict), name


# ---- the library without the command line ------------------------------------------------------------------

def test_evaluate_request_runs_without_the_cli(digits_classifier, tmp_path):
    from gantool.data.inputs import ImageChunks
    from gantool.metrics.request import EvaluateSettings, Generated, Real, evaluate_request
    from gantool.metrics.report import score_rows

    path = _npy(tmp_path, 50)
    stats = tmp_path / "stats.safetensors"
    result = evaluate_request(EvaluateSettings(neighbours=3), str(digits_classifier), Generated(images=ImageChunks(
        [str(path)], None)), Real(data="digits", save_stats=str(stats)), "cpu", seed=0)
    assert result["n_fake"] == 50 and result["n_real"] == 1797 and result["k"] == 3 and stats.exists()
    assert result["generated"] == "images" and result["real"] == "digits"
    assert [row["score"] for row in score_rows(result)][:3] == ["images", "FID", "KID"]
    again = evaluate_request(EvaluateSettings(neighbours=3), str(digits_classifier), Generated(images=ImageChunks(
        [str(path)], None)), Real(stats=str(stats)), "cpu", seed=0)
    assert again["fid"] == pytest.approx(result["fid"], rel=1e-9)
