"""`gantool invert` converges: images the generator drew come back at 40 dB mean PSNR (35 dB the
worst) at the default settings (Adam, then a per-image L-BFGS finish), each image's result the same
alone or inside a batch, pruned or not, and the same seed the same result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import one_line_error, run_gantool


@pytest.fixture(scope="module")
def converging(tmp_path_factory):
    """A 16x16 GAN trained long enough to be far from linear in z (where 300 Adam steps fall short),
    and 8 images it drew, as 8-bit PNGs, with their latents."""
    folder = tmp_path_factory.mktemp("converging")
    r = run_gantool("--threads", "1", "train", "--out", folder / "run", "--steps", "200", "--seed", "0", "--nz", "16",
                    "--ngf", "16", "--ndf", "8", "--image-size", "16", "--batch-size", "32", "-q")
    assert r.code == 0, r.stderr
    model = folder / "run" / "model.safetensors"
    r = run_gantool("sample", "-m", model, "-n", "8", "--seed", "5", "--out-dir", folder / "png", "-q")
    assert r.code == 0, r.stderr
    return model, folder / "png"


def _psnr(r) -> list[float]:
    assert r.code == 0, r.stderr
    return [json.loads(line)["psnr"] for line in r.text.splitlines()]


def test_generated_images_come_back_at_40_db_at_the_defaults(gantool, tmp_path, converging):
    model, png = converging
    psnr = _psnr(gantool("--threads", "1", "invert", png, "-m", model, "--json", "--latents", tmp_path / "z.npy"))
    assert len(psnr) == 8
    assert np.mean(psnr) >= 40 and min(psnr) >= 35, psnr
    # the previous defaults (Adam alone, 300 steps) stop far from it on the same images
    adam = _psnr(gantool("--threads", "1", "invert", png, "-m", model, "--steps", "300", "--refine", "0", "--json",
                         "--latents", tmp_path / "adam.npy"))
    assert np.mean(adam) < 40 and min(adam) < 35, adam
    assert min(psnr) > max(adam) - 5


def test_refine_lowers_every_images_loss(converging):
    import torch

    from gantool.latent.invert import InvertSettings, invert
    from gantool.models import loader

    model, png = converging
    m = loader.load(model, "cpu")
    G = m["generator"]
    z = torch.randn(6, G.cfg.nz, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        targets = G(z)
    adam = invert(G, targets, InvertSettings(steps=30, refine=0), seed=0)
    refined = invert(G, targets, InvertSettings(steps=30, refine=60), seed=0)
    assert bool((refined.loss < adam.loss).all()), (adam.loss, refined.loss)
    assert bool((refined.loss < 0.01 * adam.loss).all())  # second order: orders of magnitude, not a few percent


def test_an_image_is_the_same_alone_or_in_a_batch_with_pruning_and_refine(gantool, tmp_path, converging):
    model, png = converging
    common = ["-m", model, "--steps", "20", "--restarts", "4", "--prune", "5", "--refine", "40", "--seed", "3", "-q"]
    batch = gantool("invert", png, *common, "--latents", tmp_path / "batch.npy")
    alone = gantool("invert", png / "00005.png", *common, "--latents", tmp_path / "alone.npy")
    assert batch.code == 0 and alone.code == 0, batch.stderr + alone.stderr
    np.testing.assert_allclose(np.load(tmp_path / "alone.npy")[0], np.load(tmp_path / "batch.npy")[5], atol=1e-6)
    again = gantool("invert", png / "00005.png", *common, "--latents", tmp_path / "again.npy")
    assert again.code == 0, again.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), np.load(tmp_path / "alone.npy"))  # same seed
    other = gantool("invert", png / "00005.png", *common[:-3], "--seed", "4", "-q", "--latents", tmp_path / "o.npy")
    assert other.code == 0, other.stderr
    assert not np.array_equal(np.load(tmp_path / "o.npy"), np.load(tmp_path / "alone.npy"))


def test_a_conditional_search_prunes_classes_per_image(tiny_cgan):
    """Searching every class with pruning: each image's result alone equals its result in a batch
    (pruning decided by its own losses), and a pruned start keeps the loss it was dropped with."""
    import torch

    from gantool.latent.invert import InvertSettings, invert
    from gantool.models import loader

    G = loader.load(tiny_cgan, "cpu")["generator"]
    latents, labels = G.latents(5, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        targets = G(latents)
    settings = InvertSettings(steps=16, restarts=2, prune=4, refine=10)
    batch = invert(G, targets, settings, seed=1)
    for i in (0, 3):
        alone = invert(G, targets[i:i + 1], settings, seed=1)
        torch.testing.assert_close(alone.latents[0], batch.latents[i], atol=1e-6, rtol=0)
        assert int(alone.classes[0]) == int(batch.classes[i])
    k = settings.restarts * G.cfg.num_classes
    assert batch.candidates.shape == (5, k, G.cfg.nz + G.cfg.num_classes)
    assert bool(torch.isfinite(batch.candidate_loss).all())
    assert torch.equal(batch.loss, batch.candidate_loss.min(1).values)


def test_search_refusals(gantool, tmp_path, converging):
    model, png = converging
    out = tmp_path / "z.npy"
    assert "--refine" in one_line_error(gantool("invert", png, "-m", model, "--refine", "-1", "--latents", out),
                                        "invert", code=2)
    assert "--prune" in one_line_error(gantool("invert", png, "-m", model, "--prune", "-3", "--latents", out),
                                       "invert", code=2)
    assert not out.exists()
