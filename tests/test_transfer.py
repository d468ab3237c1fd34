"""extract-features and svm: features files, layers by name, SVMs stored without pickle."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error, run_gantool

ONE = ("--threads", "1")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "digits.safetensors"
    r = run_gantool("--seed", "0", *ONE, "-q", "train-classifier", "-o", path)
    assert r.code == 0, r.stderr
    return path


@pytest.fixture(scope="module")
def feats(classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp("feats") / "f.npz"
    r = run_gantool(*ONE, "extract-features", "--data", "digits", "-m", classifier, "-o", path)
    assert r.code == 0, r.stderr
    return path


def test_features_file_follows_the_conventions(feats):
    with np.load(feats, allow_pickle=False) as d:
        assert d["features"].dtype == np.float32 and d["features"].shape == (1797, 128)
        assert d["labels"].dtype == np.int64 and sorted(set(d["labels"].tolist())) == list(range(10))
        assert d["classes"].dtype.kind == "U" and list(d["classes"]) == [str(i) for i in range(10)]
        assert d["paths"].dtype.kind == "U" and d["paths"][3] == "digits[3]"
        assert str(d["layer"]) == "penultimate"


def test_extract_then_svm_train_reaches_95_percent_and_predict_reproduces_it(feats, tmp_path):
    model = tmp_path / "s.safetensors"
    r = run_gantool(*ONE, "svm", "train", feats, "--C", "0.1,1,10", "-o", model)
    assert r.code == 0, r.stderr
    assert "cross-validation" in r.text and "± " in r.text
    held = float(r.text.split("held-out accuracy: ")[1].split("%")[0])
    assert held >= 95
    assert Image.open(tmp_path / "s-confusion.png").format == "PNG"
    r = run_gantool(*ONE, "--json", "svm", "train", feats, "--C", "0.1,1,10", "-o", model)
    result = json.loads(r.stdout)
    assert [c["C"] for c in result["cv"]] == [0.1, 1, 10] and result["accuracy"] >= 0.95
    # predict the held-out rows with the saved model: exactly the same accuracy
    r = run_gantool(*ONE, "--json", "svm", "predict", feats, "-m", model, "--held-out")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    with np.load(feats, allow_pickle=False) as d:
        labels = dict(zip(d["paths"].tolist(), d["labels"].tolist()))
    assert len(rows) == 360
    accuracy = np.mean([row["index"] == labels[row["path"]] for row in rows])
    assert accuracy == result["accuracy"]
    r = run_gantool(*ONE, "--json", "svm", "evaluate", feats, "-m", model, "--held-out")
    assert json.loads(r.stdout)["accuracy"] == result["accuracy"]


def test_info_describes_an_svm_file(feats, tmp_path):
    model = tmp_path / "s.safetensors"
    assert run_gantool(*ONE, "-q", "svm", "train", feats, "--C", "1", "--pca", "16", "-o", model).code == 0
    r = run_gantool("info", model)
    assert r.code == 0, r.stderr
    assert "LinearSVC" in r.text and "config.steps" in r.text
    assert "not buildable" not in r.text and "n_samples_seen_" not in r.text  # the fitted state stays in --json
    info = json.loads(run_gantool("--json", "info", model).stdout)
    assert info["architecture"] == ("scikit-learn pipeline StandardScaler -> PCA (n_components 16) -> LinearSVC (C 1), "
                                    "128 features in, 10 classes")
    assert info["kind"] == "svm" and info["config"]["steps"][1]["params"]["n_components"] == 16


def test_torchvision_set_by_name_with_its_labels(classifier, tmp_path):
    from test_data import fake_mnist

    images, labels = fake_mnist(tmp_path / "root")
    r = run_gantool(*ONE, "extract-features", "--data", "mnist", "--data-root", tmp_path / "root", "-m", classifier,
                    "-o", tmp_path / "m.npz")
    assert r.code == 0, r.stderr
    with np.load(tmp_path / "m.npz", allow_pickle=False) as d:
        assert d["features"].shape == (40, 128) and d["labels"].tolist() == labels.tolist()
        assert len(d["classes"]) == 10 and d["classes"][0] == "0 - zero" and d["paths"][0] == "mnist[0]"  # torchvision's names


def test_unknown_layer_lists_the_valid_names(classifier, tmp_path):
    r = run_gantool(*ONE, "extract-features", "--data", "digits", "-m", classifier, "--layer", "block9",
                    "-o", tmp_path / "x.npz")
    line = one_line_error(r, "extract-features", 2)
    assert "--layer block9" in line and "block1.conv1" in line and "penultimate" in line
    assert not (tmp_path / "x.npz").exists()


def test_several_layers_in_one_pass_and_conv_maps_not_clipped_by_relu(classifier, tmp_path):
    r = run_gantool(*ONE, "extract-features", "--data", "digits", "-m", classifier, "--layer",
                    "block1.bn1,block1.relu1", "--pool", "flatten", "-o", tmp_path / "f-{layer}.npz")
    assert r.code == 0, r.stderr
    bn = np.load(tmp_path / "f-block1.bn1.npz", allow_pickle=False)["features"]
    relu = np.load(tmp_path / "f-block1.relu1.npz", allow_pickle=False)["features"]
    assert bn.shape == relu.shape and bn.shape[0] == 1797
    assert bn.min() < 0  # the ReLU after it did not overwrite what was taken
    np.testing.assert_allclose(np.maximum(bn, 0), relu, atol=1e-6)


def test_estimate_writes_nothing(classifier, tmp_path):
    r = run_gantool(*ONE, "--json", "extract-features", "--data", "digits", "-m", classifier, "--layer",
                    "block1", "--pool", "flatten", "--estimate", "-o", tmp_path / "big.npz")
    assert r.code == 0, r.stderr
    plan = json.loads(r.stdout)["layers"][0]
    assert plan["shape"][0] == 1797 and plan["bytes"] >= 1797 * plan["shape"][1] * 4
    assert not (tmp_path / "big.npz").exists()


def test_folder_with_class_subfolders_through_workers_and_a_zoo_rgb_model(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    r = run_gantool(*ONE, "extract-features", "--data", tmp_path / "imgs", "-m", "squeezenet1_1", "--workers", "1",
                    "-b", "4", "-o", tmp_path / "z.npz")
    assert r.code == 0, r.stderr
    assert "random weights" in r.stderr
    d = np.load(tmp_path / "z.npz", allow_pickle=False)
    assert d["features"].shape == (6, 512)  # gray repeated to RGB, resized to 224
    assert d["labels"].tolist() == [0, 0, 0, 1, 1, 1] and list(d["classes"]) == ["cat", "dog"]
    assert d["paths"][0] == "cat/0.png"


def test_gan_discriminator_features_and_unlabelled_images(tiny_gan, tmp_path):
    images = (np.random.default_rng(1).random((5, 16, 16)) * 255).astype(np.uint8)
    np.save(tmp_path / "x.npy", images)
    r = run_gantool(*ONE, "extract-features", tmp_path / "x.npy", "-m", tiny_gan, "-o", tmp_path / "d.npz")
    assert r.code == 0, r.stderr
    d = np.load(tmp_path / "d.npz", allow_pickle=False)
    assert d["features"].shape[0] == 5 and d["features"].shape[1] > 1 and (d["labels"] == -1).all()
    r = run_gantool(*ONE, "svm", "train", tmp_path / "d.npz", "-o", tmp_path / "s.safetensors")
    assert "unlabelled" in one_line_error(r, "svm", 1)


def test_features_to_stdout_pipe(classifier):
    r = run_gantool(*ONE, "-q", "extract-features", "--data", "digits", "-m", classifier)
    assert r.code == 0, r.stderr
    assert np.load(io.BytesIO(r.stdout), allow_pickle=False)["features"].shape == (1797, 128)
    r = run_gantool(*ONE, "extract-features", "--data", "digits", "-m", classifier, stdout_tty=True)
    one_line_error(r, "extract-features", 2)


def test_svm_options_that_contradict_the_action(feats, tmp_path):
    one_line_error(run_gantool("svm", "predict", feats, "-m", "x.safetensors", "--pca", "3"), "svm", 2)
    one_line_error(run_gantool("svm", "train", feats, "-m", "x.safetensors", "-o", tmp_path / "s"), "svm", 2)
    one_line_error(run_gantool("svm", "train", feats, "--C", "1,x", "-o", tmp_path / "s"), "svm", 2)
    one_line_error(run_gantool("svm", "train", feats, "--C", "0,1", "-o", tmp_path / "s"), "svm", 2)
    line = one_line_error(run_gantool("svm", "train", feats, "--pca", "100000", "-o", tmp_path / "s"), "svm", 2)
    assert "--pca" in line


def test_svm_several_files_one_table_and_wrong_dims(feats, classifier, tmp_path):
    other = tmp_path / "b1.npz"
    assert run_gantool(*ONE, "-q", "extract-features", "--data", "digits", "-m", classifier, "--layer", "block1",
                       "-o", other).code == 0
    r = run_gantool(*ONE, "svm", "train", feats, other, "--C", "1", "--pca", "16", "--out-dir", tmp_path / "models")
    assert r.code == 0, r.stderr
    assert "best C" in r.text and "penultimate" in r.text and "block1" in r.text
    assert (tmp_path / "models" / "b1.safetensors").exists()
    r = run_gantool(*ONE, "svm", "evaluate", other, "-m", tmp_path / "models" / "f.safetensors")
    assert "dimensions" in one_line_error(r, "svm", 1)


def test_wide_features_take_libsvm_and_its_model_reproduces_the_held_out_accuracy(tmp_path):
    """More dimensions than training rows: auto picks the SVC with a linear kernel (libsvm), which
    --solver overrides; the saved model predicts what the fitted one did."""
    from gantool.transfer import svm

    rng = np.random.default_rng(0)
    labels = np.arange(120) % 3
    x = (rng.normal(size=(120, 400)) + 0.5 * np.eye(3)[labels].repeat(400 // 3 + 1, axis=1)[:, :400]).astype(np.float32)
    np.savez(tmp_path / "wide.npz", features=x, labels=labels.astype(np.int64), classes=np.array(["a", "b", "c"]),
             paths=np.array([f"r{i}" for i in range(120)]))
    r = run_gantool(*ONE, "--json", "svm", "train", tmp_path / "wide.npz", "--C", "0.1,1", "-o", tmp_path / "w.safetensors")
    assert r.code == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["solver"] == "libsvm" and result["accuracy"] > 0.9
    r = run_gantool(*ONE, "--json", "svm", "evaluate", tmp_path / "wide.npz", "-m", tmp_path / "w.safetensors", "--held-out")
    assert json.loads(r.stdout)["accuracy"] == result["accuracy"]
    info = json.loads(run_gantool("--json", "info", tmp_path / "w.safetensors").stdout)
    assert f"SVC (C {result['best_C']:g}, kernel linear), 400 features in, 3 classes" in info["architecture"]
    r = run_gantool(*ONE, "--json", "svm", "train", tmp_path / "wide.npz", "--C", "1", "--solver", "liblinear",
                    "-o", tmp_path / "l.safetensors")
    assert json.loads(r.stdout)["solver"] == "liblinear"
    r = run_gantool(*ONE, "--json", "svm", "train", tmp_path / "wide.npz", "--C", "1", "--pca", "20",
                    "-o", tmp_path / "p.safetensors")
    assert json.loads(r.stdout)["solver"] == "liblinear"  # 20 components for 96 rows
    r = run_gantool(*ONE, "svm", "train", tmp_path / "wide.npz", "--kernel", "rbf", "--solver", "liblinear",
                    "-o", tmp_path / "x.safetensors")
    assert "liblinear fits linear SVMs only" in one_line_error(r, "svm", 2)
    r = run_gantool(*ONE, "svm", "evaluate", tmp_path / "wide.npz", "-m", tmp_path / "w.safetensors", "--solver", "libsvm")
    assert "--solver applies to svm train" in one_line_error(r, "svm", 2)
    assert svm.solver_for(svm.Recipe(), rows=100, dims=101) == "libsvm"
    assert svm.solver_for(svm.Recipe(), rows=100, dims=100) == "liblinear"
    assert svm.solver_for(svm.Recipe(kernel="rbf"), rows=100, dims=5) == "libsvm"


def test_svm_file_round_trip_is_bit_identical_for_rbf_and_pca(tmp_path):
    from sklearn.datasets import load_digits

    from gantool.transfer import svm

    d = load_digits()
    x, y = d.data.astype(np.float32), d.target
    for recipe in (svm.Recipe(C="1", kernel="rbf", pca=20, scale="l2", folds=2),
                   svm.Recipe(C="1", scale="none", pca=30, folds=2)):
        result = svm.train(x, y, 10, recipe)
        svm.save(tmp_path / "m.safetensors", result.model, {}, {}, {})
        loaded = svm.load(tmp_path / "m.safetensors").model
        assert np.array_equal(loaded.decision_function(x), result.model.decision_function(x))
        assert np.array_equal(loaded.predict(x[result.test_index]), result.predictions)


def test_npz_writer_streams_rows_and_checks_their_count(tmp_path):
    from gantool.transfer.features import NpzWriter

    rows = np.arange(30, dtype=np.float32).reshape(10, 3)
    with open(tmp_path / "w.npz", "wb") as f:
        w = NpzWriter(f, 10, 3)
        for start in range(0, 10, 4):
            w.write(rows[start:start + 4])
        w.close(np.zeros(10, np.int64), ["a"], [f"r{i}" for i in range(10)], layer="x")
    d = np.load(tmp_path / "w.npz", allow_pickle=False)
    assert np.array_equal(d["features"], rows) and str(d["layer"]) == "x"
    w = NpzWriter(io.BytesIO(), 2, 3)
    with pytest.raises(ValueError):
        w.write(np.zeros((3, 3), np.float32))
