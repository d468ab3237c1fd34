"""gantool saliency: the four captum methods on a digits_classifier digit classifier and on a zoo model with
in-place ReLUs, the files they write, and the checks every map carries (deletion/insertion against
a random order, the model-randomization test, integrated gradients' completeness)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import held_out_digits, one_line_error
from gantool.classify.classifiers import load_classifier

ONE = ["--threads", "1"]  # another torch process may share the 2 cores
METHODS = ["gradient", "smoothgrad", "integrated-gradients", "grad-cam"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    images, labels = held_out_digits(12)
    path = tmp_path_factory.mktemp("batch") / "d.npy"
    np.save(path, images)
    return path, labels


@pytest.mark.parametrize("method", METHODS)
def test_each_method_writes_maps_pictures_grid_and_json(method, digits_classifier, batch, gantool, tmp_path):
    out = tmp_path / "maps"
    r = gantool(*ONE, "--json", "saliency", batch[0], "-m", digits_classifier, "--method", method, "--out-dir", out,
                "-o", tmp_path / "grid.png")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["image"] for row in rows] == [f"d[{i}]" for i in range(12)]
    assert sum(row["predicted"] == str(label) for row, label in zip(rows, batch[1])) >= 10  # held-out digits
    for row in rows:
        assert row["target"] == row["predicted"]  # the predicted class by default
        m = np.load(out / f"{row['image']}.npy", allow_pickle=False)
        assert m.shape == (8, 8) and m.dtype == np.float32 and np.isfinite(m).all() and m.std() > 0
        for kind in ("heatmap", "overlay"):
            with Image.open(out / f"{row['image']}-{kind}.png") as im:
                assert im.size == (8, 8) and im.mode == "RGB"
        assert row["files"]["map"] == str(out / f"{row['image']}.npy")
        for key in ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc"):
            assert 0 <= row[key] <= 1
        assert ("completeness_error" in row) == (method == "integrated-gradients")
    with Image.open(tmp_path / "grid.png") as grid:  # 12 rows of image | heatmap | overlay, 2 side by side
        assert grid.size == (2 + 6 * 10, 2 + 6 * 10) and grid.mode == "RGB"
    # the map beats a random order of the same pixels, on average over the images (grad-cam's 4x4 map, by less)
    mean = lambda key: np.mean([row[key] for row in rows])  # noqa: E731
    assert mean("deletion_auc") < mean("random_deletion_auc") - (0.0 if method == "grad-cam" else 0.1)
    assert mean("insertion_auc") > mean("random_insertion_auc")


def test_table_target_by_name_and_layer(digits_classifier, batch, gantool, tmp_path):
    r = gantool(*ONE, "saliency", batch[0], "-m", digits_classifier, "--method", "grad-cam", "--layer", "block1",
                "--target", "3", "--out-dir", tmp_path)
    assert r.code == 0, r.stderr
    assert "grad-cam on layer block1" in r.stderr
    lines = [line for line in r.text.splitlines() if "d[" in line]
    assert len(lines) == 12 and all(line.split("│")[3].strip() == "3" for line in lines)
    assert "deletion" in r.text and "insertion" in r.text and "mean" in r.text
    default = gantool(*ONE, "-q", "saliency", batch[0], "-m", digits_classifier, "--method", "grad-cam", "--out-dir", tmp_path)
    assert default.code == 0 and "block2.relu2" not in default.stderr  # -q: no status lines
    assert gantool(*ONE, "saliency", batch[0], "-m", digits_classifier, "--method", "grad-cam",
                   "--out-dir", tmp_path).stderr.startswith("grad-cam on layer block2.relu2")  # before the last pool


def test_removing_the_most_salient_tenth_hurts_more_than_a_random_tenth(digits_classifier):
    from gantool.explain.checks import removal_predictions
    from gantool.explain.saliency import attribute
    from gantool.explain.settings import SaliencySettings

    torch.set_num_threads(1)
    clf = load_classifier(str(digits_classifier))
    images, labels = held_out_digits(200)
    x = torch.from_numpy(images).float().div(255)[:, None]
    y = torch.from_numpy(labels)
    assert (clf(x).argmax(1) == y).float().mean() > 0.97
    for method in ("gradient", "integrated-gradients"):
        maps = attribute(clf, x, SaliencySettings(method=method)).maps
        salient = (removal_predictions(clf, x, maps, 0.1) == y).float().mean()
        random = (removal_predictions(clf, x, maps, 0.1, random=True) == y).float().mean()
        assert salient < random - 0.15, (method, float(salient), float(random))


def test_maps_of_the_trained_and_a_reinitialized_model_differ(digits_classifier, batch, gantool, tmp_path):
    r = gantool(*ONE, "--json", "saliency", batch[0], "-m", digits_classifier, "--method", "gradient", "--sanity",
                "--out-dir", tmp_path)
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    rho = np.array([row["sanity_rank_correlation"] for row in rows])
    assert rho.mean() < 0.3 and "warning" not in r.stderr
    cascade = rows[0]["sanity_cascade"]
    assert cascade[0]["down_to"] == "head" and cascade[-1]["down_to"] == "block1.conv1"  # from the top down
    # integrated gradients from black on digits mostly repeat the image (input x gradient): the check says so
    ig = gantool(*ONE, "--json", "saliency", batch[0], "-m", digits_classifier, "--method", "integrated-gradients", "--sanity",
                 "--out-dir", tmp_path)
    assert ig.code == 0 and "warning: the integrated-gradients maps barely change" in ig.stderr


def test_integrated_gradients_completeness(digits_classifier, batch, gantool, tmp_path):
    r = gantool(*ONE, "--json", "saliency", batch[0], "-m", digits_classifier, "--method", "integrated-gradients",
                "--ig-steps", "64", "--out-dir", tmp_path)
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    for row in rows:  # the attributions add up to score(x) - score(baseline)
        m = np.load(row["files"]["map"], allow_pickle=False)
        assert abs(m.sum() - row["score_gap"]) == pytest.approx(row["completeness_error"], abs=1e-3)
        assert row["completeness_relative"] < 0.05 and abs(row["score_gap"]) > 1
    few = gantool(*ONE, "--json", "saliency", batch[0], "-m", digits_classifier, "--method", "integrated-gradients",
                  "--ig-steps", "2", "--out-dir", tmp_path)
    worse = np.mean([json.loads(line)["completeness_error"] for line in few.text.splitlines()])
    assert worse > np.mean([row["completeness_error"] for row in rows])


@pytest.fixture(scope="module")
def squeezenet(tmp_path_factory):
    from torchvision.models import squeezenet1_1

    torch.manual_seed(0)
    net = squeezenet1_1()
    assert any(getattr(m, "inplace", False) for m in net.modules())  # torchvision's in-place ReLUs
    path = tmp_path_factory.mktemp("zoo") / "squeezenet.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.parametrize("method, layer", [("gradient", None), ("grad-cam", None), ("grad-cam", "features.9")])
def test_a_zoo_model_with_inplace_relus(squeezenet, gantool, tmp_path, method, layer):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    args = ["--layer", layer] if layer else []
    r = gantool(*ONE, "--json", "saliency", tmp_path / "photo.png", "-m", "squeezenet1_1", "--weights", squeezenet,
                "--method", method, *args, "--deletion-steps", "4", "--out-dir", tmp_path / "out")
    assert r.code == 0, r.stderr
    row = json.loads(r.text)
    assert 0 <= row["target_index"] < 1000
    m = np.load(tmp_path / "out" / "photo.npy", allow_pickle=False)
    assert m.shape == (224, 224) and np.isfinite(m).all() and m.max() > 0  # at the model's input size
    if method == "grad-cam":
        assert f"grad-cam on layer {layer or 'features'}" in r.stderr


@pytest.mark.parametrize("argv, code, words", [
    (["--method", "occlusion"], 2, "--method"),
    (["--method", "grad-cam", "--layer", "block9"], 2, "--layer block9: is not a layer"),
    (["--method", "grad-cam", "--layer", "head"], 2, "no spatial output"),
    (["--layer", "block1"], 2, "--layer is for --method grad-cam"),
    (["--target", "10"], 2, "--target 10: is out of range"),
    (["--target", "cat"], 2, "--target cat: is not a class"),
    (["--samples", "0"], 2, "--samples"),
    (["--colormap", "nope"], 2, "--colormap nope"),
])
def test_bad_options_are_one_line_and_write_nothing(digits_classifier, batch, gantool, tmp_path, argv, code, words):
    line = one_line_error(gantool(*ONE, "saliency", batch[0], "-m", digits_classifier, *argv, "--out-dir", tmp_path / "out"),
                          "saliency", code)
    assert words in line
    assert not (tmp_path / "out").exists()


def test_missing_image_and_missing_output(digits_classifier, gantool, tmp_path):
    line = one_line_error(gantool(*ONE, "saliency", tmp_path / "none.png", "-m", digits_classifier, "--out-dir", tmp_path / "o"),
                          "saliency", 1)
    assert "none.png" in line
    line = one_line_error(gantool(*ONE, "saliency", tmp_path / "none.png", "-m", digits_classifier, stdout_tty=True),
                          "saliency", 2)
    assert "no output named" in line and "--out-dir" in line
