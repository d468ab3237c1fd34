"""`--finetune` of restore and invert (Deep Generative Prior): a copy of the generator per image,
past what the latent search reaches; images independent of their batch, the model file never
changed, and the refusals in one line."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from conftest import one_line_error
from gantool.latent.finetune import FinetuneSettings, blocks, finetune, finetune_images
from gantool.latent.invert import SearchSettings, image_seed
from gantool.latent.restore import Damage, restore
from gantool.models import loader


@pytest.fixture
def digits(tmp_path):
    from sklearn.datasets import load_digits

    images = np.round(load_digits().images[-6:] * (255 / 16)).astype(np.uint8)[:, None]
    np.save(tmp_path / "held.npy", images)
    return tmp_path / "held.npy"


def _held_images(path, size=16):
    from gantool.data.inputs import load_images

    return load_images([str(path)], 1, size)[0].float().div(255)


def _known_psnr(observed, damage, images01, known):
    """PSNR of each image's damage against the input, on the known pixels only."""
    err = (damage.observe(images01) - observed).pow(2) * known
    return 10 * torch.log10(1 / (err.flatten(1).sum(1) / known.expand_as(err).flatten(1).sum(1)))


def test_finetuning_fits_the_known_pixels_better_than_the_search(tiny_gan, digits):
    torch.manual_seed(0)
    m = loader.load(tiny_gan, "cpu", kinds=("gan",))
    G, norm = m["generator"], m.normalization
    clean = _held_images(digits)
    damage = Damage(mask="center", blur=0.8)
    known = damage.known(16, seed=0)
    observed = damage.simulate(clean, known, [image_seed(0, image) for image in clean])
    searched = restore(G, norm, observed, damage, known, SearchSettings(steps=20), seed=0)
    settings = FinetuneSettings(finetune=60, finetune_lr=2e-3)
    tuned01, result = finetune_images(m, searched.latents, observed, settings, [1, 2, 3, 4, 5, 6], damage=damage,
                                      known=known)
    before = _known_psnr(observed, damage, norm.from_model(searched.images), known)
    after = _known_psnr(observed, damage, tuned01, known)
    assert (after > before).all() and float((after - before).mean()) > 3, (before, after)
    assert (result.step > 0).all() and result.steps <= 60  # step 0 would be the search's own image
    assert tuned01.shape == (6, 1, 16, 16) and tuned01.min() >= 0 and tuned01.max() <= 1


def test_an_image_is_the_same_alone_or_in_a_batch(tiny_gan, digits):
    m = loader.load(tiny_gan, "cpu", kinds=("gan",))
    G, D, norm = m["generator"], m["discriminator"], m.normalization
    clean = _held_images(digits)
    damage = Damage(downsample=2, noise=0.05)
    observed = damage.simulate(clean, None, [image_seed(3, image) for image in clean])
    z = torch.randn(6, G.cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    # 80 steps, a patience of 25: images stop at their own steps, and one that has stopped must not
    # move on while a batch-mate still trains
    settings = FinetuneSettings(finetune=80, finetune_lr=2e-3, finetune_features=0.5)
    seeds = [image_seed(3, image) for image in observed]

    def run(idx, chunk):
        return finetune(G, z[idx], observed[idx], lambda x: damage.observe(norm.from_model(x)), settings,
                        [seeds[i] for i in idx], features=D.features,
                        lift=lambda o: norm.to_model(damage.seen(o, 1, 16)), chunk=chunk)

    batch = run(list(range(6)), chunk=4)  # two chunks, the second a different size
    for i in range(6):
        alone = run([i], chunk=1)
        torch.testing.assert_close(alone.images[0], batch.images[i], atol=1e-4, rtol=0)
        assert int(alone.step[0]) == int(batch.step[i])
    # the model's own weights are untouched: the copies are stacked beside them
    again = loader.load(tiny_gan, "cpu", kinds=("gan",))["generator"]
    for (name, a), b in zip(G.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name


def test_layers_come_in_blocks_from_the_output_side(tiny_gan):
    G = loader.load(tiny_gan, "cpu", kinds=("gan",), roles=("generator",))["generator"]
    groups = blocks(G)
    assert len(groups) == 3  # 4 -> 8 -> 16: three transposed convolutions
    assert groups[0] == ["main.6.weight", "main.6.bias"]  # the output layer first
    assert sorted(n for g in groups for n in g) == sorted(n for n, _ in G.named_parameters())


def test_restore_finetune_leaves_the_model_file_as_it_was(gantool, tiny_gan, digits, tmp_path):
    before = tiny_gan.read_bytes(), os.stat(tiny_gan).st_mtime_ns
    common = ["--simulate", "--mask", "center", digits, "-m", tiny_gan, "--steps", "10", "--seed", "0", "--json"]
    plain = gantool("restore", *common, "--latents", tmp_path / "plain.npy")
    r = gantool("restore", *common, "--finetune", "40", "--finetune-lr", "0.002", "--restarts", "2",
                "--finetune-average", "2", "--out-dir", tmp_path / "each", "--latents", tmp_path / "z.npy")
    assert plain.code == 0 and r.code == 0, r.stderr
    assert (tiny_gan.read_bytes(), os.stat(tiny_gan).st_mtime_ns) == before
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert len(rows) == 6 and all(0 <= row["finetune_step"] <= 40 for row in rows)
    assert np.load(tmp_path / "z.npy").shape == (6, 8)  # the search's latents
    assert len(list((tmp_path / "each").iterdir())) == 6
    assert "finetune_step" not in json.loads(plain.text.splitlines()[0])


def test_invert_finetune_passes_the_search(gantool, tiny_gan, digits, tmp_path):
    common = [digits, "-m", tiny_gan, "--steps", "20", "--seed", "0", "--json", "--latents", tmp_path / "z.npy"]
    searched = [json.loads(line)["psnr"] for line in gantool("invert", *common).text.splitlines()]
    r = gantool("invert", *common, "--finetune", "60", "--finetune-lr", "0.002")
    assert r.code == 0, r.stderr
    tuned = [json.loads(line)["psnr"] for line in r.text.splitlines()]
    assert np.mean(tuned) > np.mean(searched) + 3, (searched, tuned)


def test_finetune_refusals(gantool, tiny_gan, digits, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    out = tmp_path / "panel.png"
    with safe_open(tiny_gan, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys() if k.startswith("generator.")}
    lone = tmp_path / "generator-only.safetensors"
    save_file(tensors, lone, metadata=meta)

    def refused(*args, cmd="restore", model=tiny_gan, code=2):
        extra = ("--simulate", "--mask", "center") if cmd == "restore" else ()
        line = one_line_error(gantool(cmd, *extra, digits, "-m", model, "-o", out, *args), cmd, code=code)
        assert not out.exists()
        return line

    line = refused("--finetune", "10", model=lone, code=1)
    assert "no discriminator" in line and "--finetune-features 0" in line
    assert "no discriminator" in refused("--finetune", "10", cmd="invert", model=lone, code=1)
    assert "--finetune" in refused("--finetune", "-1")
    assert "--finetune" in refused("--finetune", "100000")
    assert "--finetune-lr" in refused("--finetune", "5", "--finetune-lr", "0")
    assert "--finetune-holdout" in refused("--finetune", "5", "--finetune-holdout", "0.9")
    assert "--finetune-order" in refused("--finetune", "5", "--finetune-order", "middle")
    assert "--restarts 4" in refused("--finetune", "5", "--finetune-average", "4", "--restarts", "2")
    assert "--restarts 3" in refused("--finetune", "5", "--finetune-average", "3", cmd="invert")
    assert "--variants" in refused("--finetune", "5", "--finetune-average", "2", "--variants", "2", "--restarts", "4")
    # on the pixels alone, a model without a discriminator is fine-tuned
    r = gantool("restore", "--simulate", "--mask", "center", digits, "-m", lone, "--steps", "5", "--finetune", "5",
                "--finetune-features", "0", "-o", out)
    assert r.code == 0, r.stderr
    assert out.exists()
