"""gantool adversarial --method growing-spheres (Laugel et al. 2018): it finds counterfactuals of the
default digits classifier, its sparsity step never loses the target class on the 8-bit image, an
image's result depends on the seed and the image only, not on its batch, a search that finds nothing
says so per image, and options it cannot use are refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import held_out_digits, one_line_error

ONE = ["--threads", "1"]  # another torch process may share the 2 cores
FAST = ["--method", "growing-spheres", "--samples", "64"]


@pytest.fixture(scope="module")
def few(tmp_path_factory):
    path = tmp_path_factory.mktemp("few") / "d.npy"
    np.save(path, held_out_digits(10)[0])
    return path


@pytest.fixture(scope="module")
def clf(digits_classifier):
    from gantool.classify.classifiers import load_classifier

    torch.set_num_threads(1)
    return load_classifier(str(digits_classifier))


def rows_of(r) -> list[dict]:
    assert r.code == 0, r.stderr
    return [json.loads(line) for line in r.text.splitlines()]


def predict(clf, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return clf(images).argmax(1)


def test_finds_a_counterfactual_of_every_digit_and_the_png_is_read_as_the_target(clf, digits_classifier, few, gantool, tmp_path):
    r = gantool(*ONE, "--json", "adversarial", few, "-m", digits_classifier, *FAST, "--target", "next",
                "--out-dir", tmp_path)
    rows = rows_of(r)
    assert len(rows) == 10
    png = torch.stack([torch.from_numpy(np.array(Image.open(row["files"]["adversarial"]))) for row in rows])
    read = predict(clf, png.float().div(255)[:, None])
    original = torch.from_numpy(held_out_digits(10)[0]).float().div(255)[:, None]
    for row, cls, image, before in zip(rows, read.tolist(), png, original):
        assert row["method"] == "growing-spheres" and row["success"] and row["saved_success"]
        assert row["target_index"] == (row["original_index"] + 1) % 10 == cls == row["saved_final_index"]
        # the sparsity step undid part of the sample: fewer pixels changed, and L0 counts the PNG's
        changed = int((image != (before[0] * 255).round().byte()).sum())
        assert 0 < row["l0"] == changed < row["l0_before_sparsity"] <= 64
        assert row["shell_radius"] > 0 and 1 <= row["first_fooled_at"] == row["steps"] <= 100
        assert 0 < row["l2"] <= row["shell_radius"] + 1e-4  # the clipping and the sparsity only shorten it
    assert "growing-spheres (targeted, 64 samples in at most 100 shells)" in r.stderr
    assert "no counterfactual" not in r.stderr


def test_untargeted_reaches_another_class(clf, digits_classifier, few, gantool, tmp_path):
    rows = rows_of(gantool(*ONE, "--json", "adversarial", few, "-m", digits_classifier, *FAST, "--out-dir", tmp_path))
    assert all(row["saved_success"] and row["saved_final"] != row["original"] and row["target"] is None
               for row in rows)
    assert np.median([row["l0"] for row in rows]) < np.median([row["l0_before_sparsity"] for row in rows])


def _undo_one_more(x8: torch.Tensor, sparse: torch.Tensor, enemy: torch.Tensor) -> torch.Tensor:
    """`sparse` with its smallest remaining change from `x8` (ties: the first pixel) undone as well:
    the next prefix of the sparsity order."""
    change = (enemy - x8).abs().flatten(1)
    left = (sparse != x8).flatten(1)
    key = torch.where(left, change, torch.full_like(change, float("inf")))
    rank = torch.argsort(key, dim=1, stable=True)[:, 0]
    out = sparse.flatten(1).clone()
    rows = torch.arange(len(out))
    out[rows, rank] = x8.flatten(1)[rows, rank]
    return out.view_as(sparse)


@pytest.mark.parametrize("target", ["next", "least-likely", None])
def test_the_sparsity_step_never_loses_the_class_on_the_8_bit_image(clf, target):
    """What the sparsity step keeps holds the class as 8-bit pixels, and on 8x8 digits (every change
    left is tried alone) no single change left can be put back without losing it."""
    from gantool.explain.attacks import growing_spheres, quantize, resolve_attack_target, targets_for
    from gantool.explain.settings import AttackSettings

    x = torch.from_numpy(held_out_digits(8)[0]).float().div(255)[:, None]
    logits = clf(x).detach()
    original = logits.argmax(1)
    goal = targets_for(resolve_attack_target(clf, target), logits)
    found = growing_spheres(clf, x, goal, original, AttackSettings(method="growing-spheres", samples=64), seed=3)
    assert found.found.all()
    for image in (found.enemy, found.sparse):
        assert torch.equal(image, quantize(image))  # on the 1/255 lattice: the PNG is what was checked
    reached = predict(clf, found.sparse)
    assert (reached == goal).all() if goal is not None else (reached != original).all()
    assert ((found.sparse != quantize(x)).sum((1, 2, 3)) < (found.enemy != quantize(x)).sum((1, 2, 3))).all()
    # every pixel it changed, it changed as the enemy did (it only undoes)
    kept = found.sparse != quantize(x)
    assert torch.equal(found.sparse[kept], found.enemy[kept])
    # a local minimum: putting back any one of the changes left loses the class
    x8 = quantize(x)
    for i in range(len(x)):
        left = (found.sparse[i] != x8[i]).flatten().nonzero()[:, 0]
        alone = found.sparse[i].flatten().repeat(len(left), 1)
        alone[torch.arange(len(left)), left] = x8[i].flatten()[left]
        again = predict(clf, alone.view(-1, *x.shape[1:]))
        assert ((again != goal[i]) if goal is not None else (again == original[i])).all()


def test_the_sparsity_search_over_several_rounds_keeps_the_class():
    """16x16 images (256 pixels, four times the prefixes checked at once): the search narrows over
    several rounds and keeps only an image it checked; the smallest change left cannot be put back."""
    from gantool.explain.attacks import GS_CANDIDATES, _sparser, quantize

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
    with torch.no_grad():  # class 1 when a weighted sum of the pixels passes 40 (of 128 on average for a mid-gray)
        net[1].weight.copy_(torch.stack([torch.zeros(256), torch.rand(256)]))
        net[1].bias.copy_(torch.tensor([40.0, 0.0]))
    x = torch.rand(5, 1, 16, 16) * 0.2
    enemy = quantize(0.5 + torch.rand(5, 1, 16, 16) * 0.5)
    original, goal = predict(net, x), predict(net, enemy)
    ok = goal != original
    assert ok.all() and 256 > 2 * GS_CANDIDATES
    sparse = _sparser(net, x.flatten(1)[ok], enemy.flatten(1)[ok], goal[ok], True, (1, 16, 16))
    assert torch.equal(predict(net, sparse.view(-1, 1, 16, 16)), goal[ok])
    assert ((sparse != quantize(x).flatten(1)[ok]).sum(1) < (enemy.flatten(1)[ok] != quantize(x).flatten(1)[ok]).sum(1)).all()
    again = predict(net, _undo_one_more(quantize(x).flatten(1)[ok], sparse, enemy.flatten(1)[ok]).view(-1, 1, 16, 16))
    assert (again != goal[ok]).all()


def test_seeded_and_independent_of_the_batch(clf, digits_classifier, few, gantool, tmp_path):
    from gantool.explain.attacks import attack
    from gantool.explain.settings import AttackSettings

    x = torch.from_numpy(held_out_digits(10)[0]).float().div(255)[:, None]
    s = AttackSettings(method="growing-spheres", target="next", samples=32)
    whole = attack(clf, x, s, "next", seed=5)
    part = attack(clf, x[[7, 2, 4]], s, "next", seed=5)
    assert torch.equal(whole.saved[[7, 2, 4]], part.saved)
    assert torch.equal(whole.steps[[7, 2, 4]], part.steps)
    assert torch.equal(attack(clf, x, s, "next", seed=5).saved, whole.saved)
    assert not torch.equal(attack(clf, x, s, "next", seed=6).saved, whole.saved)
    # through the command: one image alone gives the PNG it gives among the others
    Image.fromarray(held_out_digits(10)[0][4]).save(tmp_path / "four.png")
    alone = rows_of(gantool(*ONE, "--seed", "5", "--json", "adversarial", tmp_path / "four.png", "-m", digits_classifier,
                            *FAST, "--target", "next", "--out-dir", tmp_path / "alone"))
    among = rows_of(gantool(*ONE, "--seed", "5", "--json", "adversarial", few, "-m", digits_classifier, *FAST, "--target",
                            "next", "--out-dir", tmp_path / "among"))
    assert np.array_equal(np.array(Image.open(alone[0]["files"]["adversarial"])),
                          np.array(Image.open(among[4]["files"]["adversarial"])))


def test_a_search_that_finds_nothing_says_so_per_image(clf, digits_classifier, few, gantool, tmp_path):
    r = gantool(*ONE, "--json", "adversarial", few, "-m", digits_classifier, *FAST, "--target", "0", "--shells", "2",
                "--shell-width", "0.01", "--out-dir", tmp_path)
    rows = [row for row in rows_of(r) if not row["already_target"]]
    assert rows and all(not row["success"] and not row["saved_success"] for row in rows)
    assert all(row["shell_radius"] is None and row["l0"] == 0 and row["steps"] == 2 for row in rows)
    assert all(row["first_fooled_at"] is None and row["saved_final"] == row["original"] for row in rows)
    assert f"no counterfactual found for {len(rows)}" in r.stderr


def test_a_ball_that_holds_the_class_is_halved(clf, digits_classifier, few, gantool, tmp_path):
    rows = rows_of(gantool(*ONE, "--json", "adversarial", few, "-m", digits_classifier, *FAST, "--shell-width", "6",
                           "--out-dir", tmp_path))
    assert all(row["saved_success"] for row in rows)
    # the first ball (6) held: it was halved and the half-ball tried (3 steps or more); where that held
    # too the sample kept is from it or a smaller one, else from the shell 3-6 grown back from it;
    # never from past the first ball
    assert all(row["steps"] >= 3 and row["shell_radius"] <= 6 for row in rows)
    assert sum(row["shell_radius"] <= 3 for row in rows) > len(rows) / 2


@pytest.mark.parametrize("argv, words", [
    (["--eps", "0.1"], "--eps: does not apply to --method growing-spheres (it takes --shells, --samples"),
    (["--lattice"], "--lattice: does not apply to --method growing-spheres (its samples are always on the 1/255"),
    (["--steps", "5"], "--steps: does not apply"),
    (["--step-size", "0.1"], "--step-size: does not apply"),
    (["--norm", "l2"], "--norm: does not apply"),
    (["--shells", "0"], "--shells 0: must be at least 1"),
    (["--shells", "10001"], "--shells 10001: must be at most 10000"),
    (["--samples", "0"], "--samples 0: must be at least 1"),
    (["--samples", "100001"], "--samples 100001: must be at most 100000"),
    (["--shell-width", "0"], "--shell-width 0.0: must be more than 0"),
    (["--shell-width", "nan"], "--shell-width nan: must be a finite number"),
    (["--method", "pgd", "--shells", "5"], "--shells: does not apply to --method pgd"),
    (["--method", "gradient-ascent", "--target", "1", "--samples", "5"], "--samples: does not apply"),
    (["--method", "fgsm", "--shell-width", "1"], "--shell-width: does not apply"),
])
def test_refusals_are_one_line_exit_2_and_write_nothing(digits_classifier, few, gantool, tmp_path, argv, words):
    method = [] if "--method" in argv else ["--method", "growing-spheres"]
    line = one_line_error(gantool(*ONE, "adversarial", few, "-m", digits_classifier, *method, *argv,
                                  "--out-dir", tmp_path / "out"), "adversarial", 2)
    assert words in line, line
    assert not (tmp_path / "out").exists()
