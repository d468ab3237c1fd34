"""Domain adaptation in train-classifier (DANN): a few steps from digits to a tiny blended target,
the target's labels unused in training, alpha 0 as source-only, the alpha schedule, the refusals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import one_line_error
from gantool.files import modelfile

ONE = ["--threads", "1"]
TINY = ["--epochs", "1", "--width", "4", "-q"]  # 22 steps of batch 64 on the digits' 1437 training images


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """300 digits blended over scikit-learn's two sample photos (gantool blend), labels kept."""
    from sklearn.datasets import load_sample_images

    from conftest import run_gantool

    folder = tmp_path_factory.mktemp("target")
    (folder / "photos").mkdir()
    for i, image in enumerate(load_sample_images().images):
        Image.fromarray(image).save(folder / "photos" / f"photo{i}.png")
    r = run_gantool(*ONE, "-q", "blend", "--photos", folder / "photos", "-o", folder / "all.npz")
    assert r.code == 0, r.stderr
    with np.load(folder / "all.npz") as z:
        images, labels, classes = z["images"][:300], z["labels"][:300], z["classes"]
    np.savez(folder / "target.npz", images=images, labels=labels, classes=classes)
    return folder / "target.npz"


def train(gantool, out, *args, seed=0):
    r = gantool("--seed", seed, *ONE, "--json", "train-classifier", *TINY, "-o", out, *args)
    assert r.code == 0, r.stderr
    return json.loads(r.stdout)


def test_a_few_steps_of_adaptation_make_an_ordinary_classifier(gantool, target, tmp_path):
    out = tmp_path / "dann.safetensors"
    r = train(gantool, out, "--adapt", target, "--compare-source-only")
    a = r["adaptation"]
    assert a["target"] == str(target) and a["target_images"] == 300 and a["target_heldout_images"] == 60
    assert a["target_train_images"] == 240 and a["target_scored_images"] == 60
    for value in (a["target_accuracy"], a["domain_accuracy"], a["source_only"]["target_accuracy"]):
        assert 0 <= value <= 1
    header = modelfile.read_header(out)
    assert header.kind == "classifier" and header.config["arch"] == "cnn-classifier"
    assert header.config["channels"] == 3 and header.data["channels"] == 3  # the colour target's: gray repeated
    assert header.training["adaptation"]["gamma"] == 10 and header.training["adaptation"]["alpha"].startswith("2/")
    assert header.training["adaptation"]["domain_hidden"] == [1024, 1024]
    assert header.training["steps"] == 22 and header.training["lr_schedule"] == "one-cycle"
    assert all(k.startswith("classifier.") for k in header.tensors)  # the domain head is not saved
    np.save(tmp_path / "few.npy", np.load(target)["images"][:4])
    assert gantool(*ONE, "classify", "-m", out, tmp_path / "few.npy").code == 0
    table = gantool("--seed", "0", *ONE, "train-classifier", *TINY, "-o", tmp_path / "t.safetensors", "--adapt",
                    target, "--compare-source-only", "--domain-hidden", "8").text
    assert "DANN to" in table and "source only" in table and "domain head" in table
    assert modelfile.read_header(tmp_path / "t.safetensors").training["adaptation"]["domain_hidden"] == [8]


def test_the_targets_labels_are_not_used_for_training(gantool, target, tmp_path):
    z = np.load(target)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "shuffled.npz", images=z["images"], labels=rng.permutation(z["labels"]), classes=z["classes"])
    np.savez(tmp_path / "unlabelled.npz", images=z["images"])
    runs = {name: train(gantool, tmp_path / f"{name}.safetensors", "--adapt", path)
            for name, path in (("real", target), ("shuffled", tmp_path / "shuffled.npz"),
                               ("unlabelled", tmp_path / "unlabelled.npz"))}
    weights = {name: load_file(str(tmp_path / f"{name}.safetensors")) for name in runs}
    for name in ("shuffled", "unlabelled"):
        assert weights[name].keys() == weights["real"].keys()
        assert all(torch.equal(weights[name][k], weights["real"][k]) for k in weights["real"])
        assert runs[name]["heldout_accuracy"] == runs["real"]["heldout_accuracy"]
        assert runs[name]["adaptation"]["domain_accuracy"] == runs["real"]["adaptation"]["domain_accuracy"]
    assert runs["shuffled"]["adaptation"]["target_accuracy"] != runs["real"]["adaptation"]["target_accuracy"]
    assert runs["unlabelled"]["adaptation"]["target_accuracy"] is None


def test_alpha_zero_gives_the_source_only_weights(gantool, target, tmp_path):
    zero = train(gantool, tmp_path / "zero.safetensors", "--adapt", target, "--alpha", "0", "--compare-source-only",
                 "--target-statistics", "source")
    plain = train(gantool, tmp_path / "plain.safetensors", "--channels", "3")  # the same network, no target
    own = train(gantool, tmp_path / "own.safetensors", "--adapt", target, "--alpha", "0")  # target statistics
    train(gantool, tmp_path / "dann.safetensors", "--adapt", target)
    w = {n: load_file(str(tmp_path / f"{n}.safetensors")) for n in ("zero", "plain", "own", "dann")}
    assert all(torch.equal(w["zero"][k], w["plain"][k]) for k in w["plain"])  # parameters and batch-norm statistics
    statistics = {k for k in w["plain"] if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert statistics and all(torch.equal(w["own"][k], w["plain"][k]) for k in w["plain"] if k not in statistics)
    assert not any(torch.equal(w["own"][k], w["plain"][k]) for k in statistics if "running" in k)  # the target's
    assert not all(torch.equal(w["dann"][k], w["plain"][k]) for k in w["plain"] if k not in statistics)  # the reversal
    assert zero["heldout_accuracy"] == plain["heldout_accuracy"] == zero["adaptation"]["source_only"]["heldout_accuracy"]
    assert zero["adaptation"]["target_accuracy"] == zero["adaptation"]["source_only"]["target_accuracy"]
    assert zero["adaptation"]["alpha"] == "constant" and zero["adaptation"]["value"] == 0
    assert zero["adaptation"]["target_statistics"] == "source" and own["adaptation"]["target_statistics"] == "target"


def test_the_target_statistics_are_the_targets_own():
    """Batch norm's saved statistics after adaptation: the mean and variance of the target's images."""
    from torch import nn

    from gantool.classify.adapt import measure_statistics

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False), nn.BatchNorm2d(2))
    images = torch.randint(0, 256, (100, 3, 4, 4), dtype=torch.uint8)  # 100: chunks of 34, 33, 33
    mean, std = torch.full((1, 3, 1, 1), 0.5), torch.full((1, 3, 1, 1), 0.25)
    weight = model[0].weight.clone()
    measure_statistics(model, images, mean, std, chunk=40)
    conv = model[0]((images.float().div(255) - mean) / std).detach()
    bn = model[1]
    assert not model.training and torch.equal(model[0].weight, weight)
    assert torch.allclose(bn.running_mean, conv.mean((0, 2, 3)), atol=2e-3)  # chunks of 34 and 33 weigh alike
    assert torch.allclose(bn.running_var, conv.var((0, 2, 3)), rtol=0.05)  # within-chunk variances, averaged
    assert bn.momentum == 0.1


def test_the_alpha_schedule_and_the_reversal():
    from gantool.classify.adapt import AdaptSettings, alpha_schedule, reverse_gradient

    assert alpha_schedule(0.0) == 0.0
    assert alpha_schedule(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert alpha_schedule(1.0) == pytest.approx(0.99991, abs=1e-5)
    values = [alpha_schedule(p / 10) for p in range(11)]
    assert values == sorted(values) and values[1] == pytest.approx(0.4621, abs=1e-4)
    assert alpha_schedule(0.1, gamma=5) < alpha_schedule(0.1)  # a smaller gamma: full weight later
    assert AdaptSettings(adapt="x", alpha=0.3).alpha_at(0.9) == 0.3
    x = torch.ones(3, requires_grad=True)
    y = reverse_gradient(x * 2, 0.5)
    assert torch.equal(y, torch.full((3,), 2.0))  # identity forward
    y.sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -1.0))  # -0.5 times the gradient of 2x


def test_the_feature_picture(gantool, target, tmp_path):
    train(gantool, tmp_path / "c.safetensors", "--adapt", target, "--features-png", tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as im:
        assert im.format == "PNG" and im.size == (1200, 600)  # two panels: untrained and adapted


def test_refusals_are_one_line_before_any_work(gantool, target, tmp_path):
    out = tmp_path / "c.safetensors"

    def refused(*args, code=2):
        return one_line_error(gantool(*ONE, "train-classifier", "-o", out, *args), "train-classifier", code)

    np.savez(tmp_path / "empty.npz", images=np.zeros((0, 8, 8), np.uint8))
    assert "no images" in refused("--adapt", tmp_path / "empty.npz", code=1)
    (tmp_path / "nothing").mkdir()
    assert "no images" in refused("--adapt", tmp_path / "nothing", code=1)
    np.savez(tmp_path / "one.npz", images=np.zeros((1, 8, 8), np.uint8))
    assert "1 image" in refused("--adapt", tmp_path / "one.npz", code=1)
    np.save(tmp_path / "tiny.npy", np.zeros((10, 3, 3), np.uint8))
    line = refused("--adapt", tmp_path / "tiny.npy")
    assert "--adapt" in line and "3x3" in line and "8x8" in line
    assert "--adapt" in refused("--alpha", "0.5")  # adaptation options without a target
    assert "--adapt" in refused("--compare-source-only")
    assert "--adapt" in refused("--target-statistics", "source")
    assert "--adapt" in refused("--domain-hidden", "100")
    for bad in ("0", "1024,x", "", "1,2,3,4,5"):
        assert "--domain-hidden" in refused("--adapt", target, "--domain-hidden", bad)
    assert "--target-statistics" in refused("--adapt", target, "--target-statistics", "both")
    assert "--features-png" in refused("--features-png", tmp_path / "f.png")
    assert "--alpha" in refused("--adapt", target, "--alpha", "0.5", "--alpha-gamma", "5")
    assert "stdin" in refused("--adapt", "-")
    assert "--alpha" in refused("--adapt", target, "--alpha", "-1")
    assert "png" in refused("--adapt", target, "--features-png", tmp_path / "f.jpg")
    assert not out.exists()
