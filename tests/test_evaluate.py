"""gantool evaluate and gantool.metrics: FID/KID (torchmetrics) in a digits classifier's features,
precision/recall/density/coverage, IS and class checks, cached real statistics, and FID-based model
selection during training (train --eval-every, model-best.safetensors)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from conftest import TINY, one_line_error

KID = dict(kid_subsets=10)  # fewer KID subsets than the default 100: the tests look at FID


@pytest.fixture(scope="module")
def judge(digits_classifier):
    from gantool.metrics import Judge

    torch.set_num_threads(1)
    return Judge.load(str(digits_classifier), "cpu")


@pytest.fixture(scope="module")
def halves(judge):
    """Two disjoint random halves of the digits (uint8), and the RealStats of the first."""
    from gantool.data.sources import load_data
    from gantool.metrics import RealStats

    images = load_data("digits").images
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    a, b = images[perm[:900]], images[perm[900:]]
    return a, b, RealStats.from_images(judge, a, name="digits-a")


# ---- part 3: the correctness tests ------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Matrix is singular")  # dead ReLU units: a singular covariance, as usual
def test_a_real_subset_against_another_is_small_and_matches_scipy(judge, halves):
    """FID of real against real is small, and equals an independent NumPy/SciPy computation on the
    same features; torchmetrics given the judge itself (images in) agrees."""
    import scipy.linalg
    from torchmetrics.image.fid import FrechetInceptionDistance

    from gantool.metrics import fid_only

    a, b, real = halves
    fid = fid_only(judge, b, real)
    fa, _ = judge.extract(a, logits=False)
    fb, _ = judge.extract(b, logits=False)
    x, y = fa.double().numpy(), fb.double().numpy()
    mu1, mu2, s1, s2 = x.mean(0), y.mean(0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    assert fid == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert fid < 5
    direct = FrechetInceptionDistance(feature=judge)  # the judge is a torchmetrics feature module
    direct.update(a, real=True)
    direct.update(b, real=False)
    assert float(direct.compute()) == pytest.approx(fid, rel=1e-6)


@pytest.mark.parametrize("damage", ["blur", "noise"])
def test_fid_rises_monotonically_with_damage(judge, halves, damage):
    from torchvision.transforms.v2 import functional as TF

    from gantool.metrics import fid_only

    _, b, real = halves
    x = b.float() / 255
    g = torch.Generator().manual_seed(1)
    if damage == "blur":
        damaged = [TF.gaussian_blur(x, [5, 5], [s, s]) for s in (0.4, 0.7, 1.0, 1.5)]
    else:
        damaged = [(x + s * torch.randn(x.shape, generator=g)).clamp(0, 1) for s in (0.05, 0.1, 0.2, 0.4)]
    fids = [fid_only(judge, b, real)] + [fid_only(judge, d, real) for d in damaged]
    assert all(lo < hi for lo, hi in zip(fids, fids[1:])), fids
    assert fids[-1] > 10 * fids[0]


def test_a_generator_of_one_class_gets_low_class_entropy(judge, halves):
    from gantool.data.sources import load_data
    from gantool.metrics import evaluate

    _, b, real = halves
    digits = load_data("digits")
    threes = digits.images[digits.labels == 3]
    collapsed = evaluate(judge, threes, real, requested_labels=torch.full((len(threes),), 3), **KID)
    varied = evaluate(judge, b, real, **KID)
    assert collapsed["class_entropy"] < 0.1 < 0.95 < varied["class_entropy"]
    assert collapsed["class_histogram"][3] >= 0.97 * len(threes) and sum(collapsed["class_histogram"]) == len(threes)
    assert collapsed["requested_accuracy"] > 0.97
    assert collapsed["inception_score"] < 1.5 < 8 < varied["inception_score"]
    assert collapsed["fid"] > 10 * varied["fid"] and collapsed["recall"] < varied["recall"]


# ---- the other scores, the statistics file ----------------------------------------------------------

def test_precision_recall_density_coverage_sanity():
    from gantool.metrics.manifold import prdc

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 16, generator=g)
    same = prdc(x, x.clone(), k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert same["density"] == pytest.approx(6 / 5)  # its own ball and, on average, k others: (k + 1) / k
    far = prdc(x, torch.randn(200, 16, generator=g) + 100, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    half = prdc(x, torch.cat([x[:150], torch.randn(150, 16, generator=g) + 100]), k=5)
    assert half["precision"] == 0.5 and 0.5 < half["density"] < 0.7  # the far half counts for nothing


def test_evaluate_reports_every_score(judge, halves):
    from gantool.metrics import evaluate

    _, b, real = halves
    r = evaluate(judge, b.float() / 255, real, **KID)
    for key in ("n_fake", "n_real", "fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage",
                "inception_score", "class_histogram", "class_entropy"):
        assert key in r, key
    assert (r["n_fake"], r["n_real"]) == (len(b), 900)
    assert r["precision"] > 0.9 and r["recall"] > 0.9 and r["coverage"] > 0.9
    # KID is not scale-free (a cubic kernel on the judge's raw features): real against real is small
    # next to the same images blurred, whatever the judge's feature scale
    from torchvision.transforms.v2 import functional as TF

    blurred = evaluate(judge, TF.gaussian_blur(b.float() / 255, [5, 5], [1.0, 1.0]), real, **KID)
    assert abs(r["kid_mean"]) < 0.05 * blurred["kid_mean"], (r["kid_mean"], blurred["kid_mean"])
    assert blurred["precision"] < r["precision"]
    assert "requested_accuracy" not in r
    chunks = evaluate(judge, iter(b.split(100)), real, **KID)  # chunks as they come give the same numbers
    assert chunks["fid"] == pytest.approx(r["fid"], rel=1e-6) and chunks["n_fake"] == len(b)


def test_stats_round_trip_and_refuse_another_judge(tmp_path, judge, halves, digits_classifier):
    from gantool.errors import GantoolError, UsageError
    from gantool.metrics import Judge, RealStats, fid_only

    _, b, real = halves
    path = tmp_path / "stats.safetensors"
    real.save(path)
    again = RealStats.load(path, judge)
    assert torch.equal(again.features, real.features) and again.identity == judge.identity
    assert again.info["name"] == "digits-a" and again.info["num_images"] == 900
    assert fid_only(judge, b, again) == fid_only(judge, b, real)
    other = Judge.load(str(digits_classifier), "cpu", layer="block2")
    with pytest.raises(UsageError, match="another judge"):
        RealStats.load(path, other)
    with pytest.raises(UsageError, match="another judge"):
        fid_only(other, b, real)
    with pytest.raises(GantoolError, match="not real statistics"):
        RealStats.load(digits_classifier, judge)


def test_inception_v3_is_a_judge_only_with_its_weights(tmp_path, monkeypatch):
    from torchvision.models import get_model

    from gantool.errors import GantoolError
    from gantool.metrics import Judge

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(GantoolError, match=r"expected inception_v3_google-0cc3c7bd.pth in .*hub/checkpoints"):
        Judge.load("inception_v3", "cpu", pretrained=True)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    net = get_model("inception_v3", weights=None, aux_logits=True, init_weights=False)
    torch.save(net.state_dict(), tmp_path / "hub" / "checkpoints" / "inception_v3_google-0cc3c7bd.pth")
    j = Judge.load("inception_v3", "cpu", pretrained=True)
    features, logits = j.extract(torch.rand(2, 1, 28, 28))
    assert j.num_features == 2048 and features.shape == (2, 2048) and logits.shape == (2, 1000)
    assert j.identity.startswith("inception_v3@sha256:") and j.identity.endswith("#penultimate")


# ---- the command ----------------------------------------------------------------------------------------

def test_evaluate_a_model_as_json_and_a_table(gantool, tiny_gan, digits_classifier):
    args = ["evaluate", "-m", tiny_gan, "--data", "digits", "-f", digits_classifier, "-n", "300"]
    r = gantool("--threads", "1", "--json", *args)
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("n_fake", "n_real", "fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage",
                "inception_score", "class_histogram", "class_entropy", "judge", "seed"):
        assert key in out, key
    assert out["n_fake"] == 300 and out["n_real"] == 1797 and out["fid"] > 0 and out["seed"] == 0
    assert sum(out["class_histogram"]) == 300 and "requested_accuracy" not in out
    again = json.loads(gantool("--threads", "1", "--json", *args).stdout)
    assert again["fid"] == out["fid"]  # the same seed draws the same images
    table = gantool("--threads", "1", *args)
    assert table.code == 0 and "FID" in table.text and "300 generated, 1,797 real" in table.text


def test_evaluate_a_conditional_model_reports_requested_class_accuracy(gantool, tiny_cgan, digits_classifier,
                                                                     tmp_path):
    stats = tmp_path / "digits.safetensors"
    r = gantool("--threads", "1", "--json", "evaluate", "-m", tiny_cgan, "--data", "digits", "-f", digits_classifier,
                "-n", "200", "--save-stats", stats)
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    assert 0 <= out["requested_accuracy"] <= 1 and out["n_fake"] == 200
    info = json.loads(gantool("--json", "info", stats).stdout)  # what the file is, not "not buildable"
    assert info["kind"] == "stats" and info["architecture"].startswith("real-image statistics: 1797 images of digits")
    # the statistics saved at the model's size give the same FID
    cached = json.loads(gantool("--threads", "1", "--json", "evaluate", "-m", tiny_cgan, "--stats", stats, "-f",
                                digits_classifier, "-n", "200").stdout)
    assert cached["fid"] == pytest.approx(out["fid"], rel=1e-9)


def test_evaluate_images_from_an_array(gantool, digits_classifier, tmp_path):
    from conftest import held_out_digits

    images, _ = held_out_digits(300)
    np.save(tmp_path / "real.npy", images)
    r = gantool("--threads", "1", "--json", "evaluate", tmp_path / "real.npy", "--data", "digits",
                "-f", digits_classifier)
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n_fake"] == 300 and out["fid"] < 10 and out["precision"] > 0.9


@pytest.mark.parametrize("args, code, words", [
    (["-m", "G", "x.png", "--data", "digits", "-f", "C"], 2, "IMAGES and -m cannot be combined"),
    (["x.png", "-n", "10", "--data", "digits", "-f", "C"], 2, "-n is for -m"),
    (["-m", "G", "--data", "digits"], 2, "no judge given"),
    (["-m", "G", "-f", "C"], 2, "no real data"),
    (["-m", "G", "-f", "C", "--data", "digits", "--stats", "s"], 2, "cannot be combined"),
    (["-m", "G", "-f", "C", "--stats", "s", "--save-stats", "t"], 2, "--save-stats needs --data"),
    (["-m", "G", "-f", "resnet18", "--data", "digits"], 2, "--features resnet18: its random weights classify nothing"),
    (["-m", "G", "-f", "C", "--data", "digits", "--layer", "nope"], 2, "--layer nope: not a layer"),
    (["-m", "G", "-f", "C", "--stats", "G"], 1, "not real statistics"),
    (["-m", "missing.safetensors", "-f", "C", "--data", "digits"], 1, "missing.safetensors"),
])
def test_bad_input_is_one_line(gantool, tiny_gan, digits_classifier, args, code, words):
    args = [str(tiny_gan) if a == "G" else str(digits_classifier) if a == "C" else a for a in args]
    line = one_line_error(gantool("evaluate", *args), "evaluate", code)
    assert words in line


def test_stats_of_another_judge_are_refused_on_the_command_line(gantool, tiny_gan, digits_classifier, tmp_path):
    stats = tmp_path / "s.safetensors"
    assert gantool("--threads", "1", "evaluate", "-m", tiny_gan, "--data", "digits", "-f", digits_classifier,
                   "-n", "50", "--save-stats", stats).code == 0
    line = one_line_error(gantool("evaluate", "-m", tiny_gan, "--stats", stats, "-f", digits_classifier,
                                  "--layer", "block1"), "evaluate", 2)
    assert "another judge" in line


# ---- selection during training ------------------------------------------------------------------------------

def test_train_eval_every_logs_fid_and_keeps_the_best_model_across_resume(gantool, digits_classifier, tmp_path):
    from gantool.files import modelfile

    out = tmp_path / "run"
    base = ["--threads", "1", "train", "--out", out, "--seed", "0", *[a for a in TINY if a != "-q"], "-q",
            "--eval-every", "1", "--eval-features", digits_classifier, "--eval-samples", "200"]
    r = gantool(*base, "--steps", "112")  # 56 steps an epoch at batch 32: two measurements
    assert r.code == 0, r.stderr
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert list(rows[0])[-1] == "fid"
    measured = [(int(row["step"]), float(row["fid"])) for row in rows if row["fid"]]
    assert [s for s, _ in measured] == [56, 112] and all(row["fid"] == "" for row in rows if int(row["step"]) % 56)
    best = modelfile.read_header(out / "model-best.safetensors")
    assert best.kind == "gan" and best.training["selection"]["fid"] == min(f for _, f in measured)
    assert best.training["selection"]["step"] == min(measured, key=lambda m: m[1])[0]
    resume = json.loads(modelfile.read_header(out / "checkpoint.safetensors").extra["resume"])
    assert resume["selection"]["best_fid"] == min(f for _, f in measured)
    # resumed further: the earlier FIDs stay in losses.csv, the best so far is kept
    r = gantool(*base, "--steps", "168", "--resume")
    assert r.code == 0, r.stderr
    rows = list(csv.DictReader(open(out / "losses.csv")))
    after = [(int(row["step"]), float(row["fid"])) for row in rows if row["fid"]]
    assert after[:2] == measured and [s for s, _ in after] == [56, 112, 168]
    best = modelfile.read_header(out / "model-best.safetensors")
    assert best.training["selection"]["fid"] == min(f for _, f in after)


@pytest.mark.parametrize("args, words", [
    (["--eval-every", "2"], "--eval-every needs --eval-features"),
    (["--eval-features", "C"], "--eval-features needs --eval-every"),
    (["--eval-every", "1", "--eval-features", "resnet18"], "give a classifier file"),
])
def test_train_eval_options_go_together(gantool, digits_classifier, tmp_path, args, words):
    args = [str(digits_classifier) if a == "C" else a for a in args]
    line = one_line_error(gantool("train", "--out", tmp_path / "run", "--steps", "1", *args), "train", 2)
    assert words in line
    assert not (tmp_path / "run").exists()
