"""The pieces of the default recipe and its levers: differentiable augmentation (DiffAugment), the
ramped EMA of G, the conditional discriminator's class head (AC-GAN) and the R1 penalty; runs saved
before them resume unchanged."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from conftest import TINY
from gantool.data.sources import load_data
from gantool.device import fast_bf16
from gantool.gan import losses
from gantool.gan.augment import Augment, cutout, translate
from gantool.gan.spec import DEFAULT_R1, DEFAULT_STEPS, R1_EVERY, Runtime, TrainSpec
from gantool.gan.trainer import GANTrainer


def test_translation_moves_each_image_by_its_own_shift_and_fills_with_zero():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(2, 1, 1, 1)
    out = translate(x, torch.tensor([[1, 0], [0, -1]]), 1)
    assert torch.equal(out[0, 0], torch.tensor([[0, 0, 0, 0], [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11.0]]))
    assert torch.equal(out[1, 0], torch.tensor([[1, 2, 3, 0], [5, 6, 7, 0], [9, 10, 11, 0], [13, 14, 15, 0.0]]))
    assert torch.equal(translate(x, torch.zeros(2, 2, dtype=torch.int64), 1), x)


def test_cutout_zeroes_a_square_of_half_the_side_at_each_images_corner():
    x = torch.ones(2, 3, 8, 8)
    out = cutout(x, torch.tensor([[0, 0], [4, 2]]))
    assert (out == 0).sum().item() == 2 * 3 * 16
    assert (out[0, :, :4, :4] == 0).all() and (out[1, :, 4:, 2:6] == 0).all() and out[1, :, :4].eq(1).all()


def test_augmentation_is_differentiable_seeded_and_keeps_the_shape():
    aug = Augment("translation,cutout")
    g = torch.Generator().manual_seed(0)
    choice = aug.draw(5, 16, g)
    assert choice.shape == (5, 4) and choice[:, :2].abs().max() <= 2 and (0 <= choice[:, 2:]).all()
    assert torch.equal(choice, aug.draw(5, 16, torch.Generator().manual_seed(0)))
    x = torch.randn(5, 1, 16, 16, requires_grad=True)
    y = aug.apply(x, choice)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and 0 < x.grad.abs().sum() < x.numel()  # what was cut or shifted out gets none
    assert not Augment("none") and Augment("cutout")


def test_ema_decay_ramps_up_from_the_first_steps(tmp_path):
    """The first update copies G; update k (after step k) mixes in 1 - min(decay, (1 + k) / (10 + k))."""
    data = load_data("digits", image_size=16)
    t = GANTrainer(TrainSpec(nz=8, ngf=8, ndf=8, steps=3, image_size=16, ema=0.999), data, tmp_path, Runtime())
    weights, averaged = [], []
    for _ in range(3):
        t.train_step()
        weights.append(t.G.main[0].weight.detach().clone())
        averaged.append(t.G_ema.module.main[0].weight.detach().clone())
    assert torch.equal(averaged[0], weights[0])
    expected = averaged[0]
    for k in (1, 2):
        expected = torch.lerp(expected, weights[k], 1 - (1 + k) / (10 + k))
        assert torch.allclose(averaged[k], expected, atol=1e-7)


def test_class_head_reads_classes_and_g_is_pushed_to_the_class_asked_for(tmp_path):
    """With the class head, D's and G's losses gain the cross-entropy of the class head; the logged
    losses stay the GAN losses (the same as a run with --class-weight 0 at step 1)."""
    data = load_data("digits", image_size=16)
    spec = dict(nz=8, ngf=8, ndf=8, steps=1, image_size=16, conditional=True, seed=3)
    with_head = GANTrainer(TrainSpec(**spec), data, tmp_path, Runtime())
    without = GANTrainer(TrainSpec(**spec, class_weight=0.0), data, tmp_path, Runtime())
    assert with_head.D.classify is not None and without.D.classify is None
    real, labels = with_head.batches.get(0)
    scores, logits = with_head.D(real, labels, classes=True)
    assert scores.shape == (64,) and logits.shape == (64, 10)
    assert torch.equal(with_head.D(real, labels), scores)
    without.D.load_state_dict(with_head.D.state_dict(), strict=False)  # the same D but for the head
    a, b = with_head.train_step(), without.train_step()
    assert torch.allclose(a[0], b[0], atol=1e-6)  # the same G, D and batch at step 1: the same D loss logged
    assert not torch.equal(with_head.G.main[0].weight, without.G.main[0].weight)  # the class loss moved G


def test_r1_is_the_squared_gradient_norm_at_the_real_images():
    """For a linear critic D(x) = <w, x> the gradient is w at every image: the penalty is ||w||^2,
    and it is differentiable in the critic's weights (D's step descends it)."""
    w = torch.randn(1, 2, 3, 3, requires_grad=True)
    penalty = losses.r1_penalty(lambda x, labels: (x * w).flatten(1).sum(1), torch.randn(5, 2, 3, 3), None)
    assert torch.allclose(penalty, w.pow(2).sum())
    (grad,) = torch.autograd.grad(penalty, w)
    assert torch.allclose(grad, 2 * w)


def test_r1_is_lazy_and_leaves_the_logged_loss_alone(tmp_path, monkeypatch):
    """--r1 adds the penalty at every R1_EVERY-th D step only, with its weight times R1_EVERY; the D
    loss logged stays the GAN loss, and the penalty moves D."""
    data = load_data("digits", image_size=16)
    spec = dict(nz=8, ngf=8, ndf=8, steps=R1_EVERY + 1, image_size=16, seed=3)
    with_r1 = GANTrainer(TrainSpec(**spec, r1=10.0), data, tmp_path, Runtime())
    without = GANTrainer(TrainSpec(**spec, r1=0.0), data, tmp_path, Runtime())
    calls = []
    penalty = losses.r1_penalty
    monkeypatch.setattr(losses, "r1_penalty", lambda *a: calls.append(with_r1.step) or penalty(*a))
    a, b = with_r1.train_step(), without.train_step()
    assert torch.allclose(a[0], b[0], atol=1e-6)  # the same D, G and batch at step 1: the same D loss logged
    assert not torch.equal(with_r1.D.head.weight, without.D.head.weight)  # the penalty moved D
    for _ in range(R1_EVERY):
        with_r1.train_step()
    assert calls == [0, R1_EVERY]


def test_r1_beside_a_gradient_penalty_is_refused_in_one_line(tmp_path, gantool):
    from conftest import one_line_error

    r = gantool("train", "--out", tmp_path / "run", "--loss", "wgan-gp", "--r1", "1", "--steps", "1", *TINY)
    line = one_line_error(r, "train", 2)
    assert "--r1" in line and "wgan-gp" in line
    assert not (tmp_path / "run").exists()


def test_a_run_saved_before_these_settings_resumes_with_them_off():
    saved = {**TrainSpec(conditional=True, steps=10).__dict__}
    for key in ("augment", "class_weight", "r1"):
        del saved[key]
    spec = TrainSpec.merged({}, saved)
    assert spec.augment == "none" and spec.class_weight == 0.0 and spec.r1 == 0.0
    assert spec.model_config(28, 1, 10).class_head is False


@pytest.mark.parametrize("value", ["flip", "translation,flip"])
def test_an_unknown_augmentation_is_refused_in_one_line(tmp_path, gantool, value):
    from conftest import one_line_error

    r = gantool("train", "--out", tmp_path / "run", "--augment", value, "--steps", "1", *TINY)
    line = one_line_error(r, "train", 2)
    assert "--augment" in line and "translation,cutout" in line
    assert not (tmp_path / "run").exists()


def test_0_1_0_conditional_file_loads_without_a_class_head(gantool):
    from conftest import ROOT
    from gantool.models import loader

    path = ROOT / "tests" / "fixtures" / "cgan-0.1.0.safetensors"
    model = loader.load(path)
    assert model["discriminator"].classify is None and model["discriminator"].embed is not None
    info = json.loads(gantool("--json", "info", path).stdout)
    assert info["config"].get("class_head", False) is False


def test_the_defaults_that_hang_on_other_settings_and_a_run_saved_with_epochs_keeps_them():
    spec = TrainSpec.merged({})
    assert spec.steps == DEFAULT_STEPS and spec.epochs is None
    assert spec.r1 == DEFAULT_R1 > 0 and spec.lr_decay == "linear"
    assert TrainSpec.merged({"loss": "wgan-gp"}).r1 == 0.0  # its own gradient penalty, not both
    assert TrainSpec.merged({"r1": 0.5}).r1 == 0.5
    assert TrainSpec.merged({"epochs": 3}).steps is None
    old = TrainSpec.merged({}, saved={**asdict(TrainSpec(epochs=45)), "steps": None})  # as 45-epoch runs saved it
    assert old.epochs == 45 and old.steps is None


def test_bf16_and_channels_last_follow_the_cpu_unless_told(tmp_path):
    data = load_data("digits", image_size=16)
    spec = TrainSpec(nz=8, ngf=8, ndf=8, steps=2, image_size=16)
    auto = GANTrainer(spec, data, tmp_path / "auto", Runtime())
    assert auto.amp == fast_bf16(torch.device("cpu")) and auto.channels_last == auto.amp
    off = GANTrainer(spec, data, tmp_path / "off", Runtime(amp=False))
    assert not off.amp and not off.channels_last
    on = GANTrainer(spec, data, tmp_path / "on", Runtime(amp=True))
    assert on.channels_last and on.G.main[0].weight.is_contiguous(memory_format=torch.channels_last)
    stats = torch.stack([on.train_step() for _ in range(2)])
    assert stats.isfinite().all() and on.summary()["bf16"] is True and off.summary()["bf16"] is False
    assert all(p.dtype == torch.float32 for p in on.G.parameters())  # autocast: float32 weights, bf16 maths
    assert not fast_bf16(torch.device("meta"))
