"""`gantool restore`: damaged images repaired through the generator (inpainting, denoising,
deblurring, super-resolution, colorization), and the refusals of bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import one_line_error, run_gantool
from gantool.data.inputs import load_images
from gantool.latent.restore import Damage, paste_known, pick_variants

SIZE = 16
HELD_OUT = 32  # the last digits, never seen in training


@pytest.fixture(scope="session")
def digits_gan(tmp_path_factory):
    """A small 16x16 GAN trained long enough to draw digits, on all digits but the held-out ones;
    and those held-out digits as a .npy."""
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("digits-gan")
    images = np.round(load_digits().images * (255 / 16)).astype(np.uint8)[:, None]
    np.save(folder / "train.npy", images[:-HELD_OUT])
    np.save(folder / "held.npy", images[-HELD_OUT:])
    # one thread: the same model under `make test` (a worker per core) and a plain `pytest` (GAN training
    # follows the float sums' order, so another thread count trains another model)
    r = run_gantool("--threads", "1", "train", "--data", folder / "train.npy", "--out", folder / "run", "--steps", "500",
                    "--seed", "0", "--nz", "16", "--ngf", "16", "--ndf", "16", "--image-size", "16", "--batch-size", "64",
                    "-q")
    assert r.code == 0, r.stderr
    return folder / "run" / "model.safetensors", folder / "held.npy"


def test_centre_hole_on_held_out_digits_beats_the_damaged_input(gantool, tmp_path, digits_gan):
    model, held = digits_gan
    r = gantool("restore", "--simulate", "--mask", "center", held, "-m", model, "--steps", "150", "--restarts", "4",
                "--seed", "0", "--json", "-o", tmp_path / "panel.png", "--out-dir", tmp_path / "each")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert len(rows) == HELD_OUT
    damaged, restored = np.mean([row["damaged_psnr"] for row in rows]), np.mean([row["psnr"] for row in rows])
    assert restored > damaged + 1, (damaged, restored)
    assert np.mean([row["ssim"] for row in rows]) > np.mean([row["damaged_ssim"] for row in rows])
    # the panel: damaged | restored | reference, several images side by side
    w, h = Image.open(tmp_path / "panel.png").size
    assert (w - 2) % (3 * (SIZE + 2)) == 0 and len(list((tmp_path / "each").iterdir())) == HELD_OUT


def test_paste_known_keeps_the_pixels_that_survived(gantool, tmp_path, digits_gan):
    model, held = digits_gan
    r = gantool("restore", "--simulate", "--mask", "center", held, "-m", model, "--steps", "20", "--seed", "0",
                "--paste-known", "--out-dir", tmp_path / "each")
    assert r.code == 0, r.stderr
    clean = load_images([str(held)], 1, SIZE)[0][3, 0].numpy()  # as restore reads it: 8x8 drawn at 16x16
    out = np.asarray(Image.open(tmp_path / "each" / "held[3].png"))
    hole = np.zeros((SIZE, SIZE), bool)
    hole[4:12, 4:12] = True
    assert np.array_equal(out[~hole], clean[~hole])
    assert not np.array_equal(out[hole], np.full((8, 8), 128))  # the hole is filled, not the mid-gray


@pytest.mark.parametrize("damage", [["--noise", "0.3"], ["--blur", "1.5"], ["--mask", "random:0.7"],
                                    ["--downsample", "4", "--noise", "0.05"]])
def test_each_damage_restores(gantool, tmp_path, digits_gan, damage):
    model, held = digits_gan
    r = gantool("restore", "--simulate", *damage, held, "-m", model, "--steps", "60", "--seed", "0", "--json",
                "--latents", tmp_path / "z.npy")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert np.load(tmp_path / "z.npy").shape == (HELD_OUT, 16)
    if damage[0] != "--blur":  # blurring 8x8 digits drawn at 16x16 costs little; the rest much more
        assert np.mean([row["psnr"] for row in rows]) > np.mean([row["damaged_psnr"] for row in rows])


def test_a_small_input_is_upscaled_and_a_reference_scores_it(gantool, tmp_path, digits_gan):
    model, held = digits_gan
    clean = np.load(held)[:4]
    small = torch.nn.functional.avg_pool2d(torch.from_numpy(clean).float(), 4).round().to(torch.uint8).numpy()
    np.save(tmp_path / "small.npy", small)
    np.save(tmp_path / "clean.npy", clean)
    r = gantool("restore", tmp_path / "small.npy", "-m", model, "--downsample", "4", "--reference", tmp_path / "clean.npy",
                "--steps", "40", "--seed", "0", "-o", tmp_path / "panel.png")
    assert r.code == 0, r.stderr
    assert "damaged PSNR" in r.text and "restored PSNR" in r.text
    assert Image.open(tmp_path / "panel.png").size == (2 + 3 * (SIZE + 2), 2 + 4 * (SIZE + 2))  # a row per image


def test_variants_differ_and_are_written_best_first(gantool, tmp_path, digits_gan):
    model, held = digits_gan
    r = gantool("restore", "--simulate", "--mask", "random:0.9", held, "-m", model, "--steps", "40", "--seed", "0",
                "--variants", "3", "--json", "--latents", tmp_path / "z.npy", "--out-dir", tmp_path / "each")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    losses = [v["loss"] for v in rows[0]["variants"]]
    assert len(losses) == 3 and losses[0] == rows[0]["loss"] and losses == sorted(losses)
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (3 * HELD_OUT, 16) and not np.allclose(z[0], z[1])
    assert (tmp_path / "each" / "held[0]-3.png").exists()


def test_restore_is_the_same_alone_or_in_a_batch(gantool, tmp_path, digits_gan):
    model, held = digits_gan
    np.save(tmp_path / "one.npy", np.load(held)[5:6])
    common = ["-m", model, "--simulate", "--noise", "0.2", "--mask", "random:0.5", "--steps", "10", "--restarts", "2",
              "--seed", "4", "-q"]
    assert gantool("restore", held, *common, "--latents", tmp_path / "batch.npy").code == 0
    assert gantool("restore", tmp_path / "one.npy", *common, "--latents", tmp_path / "alone.npy").code == 0
    np.testing.assert_allclose(np.load(tmp_path / "alone.npy")[0], np.load(tmp_path / "batch.npy")[5], atol=1e-4)


def test_damage_is_simulated_as_a_camera_would():
    clean = torch.rand(3, 3, 16, 16)
    d = Damage(mask="center", noise=0.1, downsample=2, gray=True)
    d.validate(3, 16)
    known = d.known(16, seed=0)
    y = d.simulate(clean, known, seeds=[1, 2, 3])
    assert y.shape == (3, 1, 8, 8)
    assert (y * 255 - (y * 255).round()).abs().max() < 1e-4  # 8-bit
    assert (y[:, :, 2:6, 2:6] == 128 / 255).all()  # the hole holds mid-gray
    assert torch.equal(d.simulate(clean[1:2], known, seeds=[2]), y[1:2])  # each image's own noise
    assert d.seen(y, 3, 16).shape == (3, 3, 16, 16)
    # the operator is differentiable: restore searches through it
    x = clean.clone().requires_grad_(True)
    Damage(blur=1.5, downsample=4, gray=True).observe(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_variant_picking_skips_near_duplicates():
    images = torch.zeros(1, 4, 1, 4, 4)
    images[0, 1] = 0.001  # a near copy of the best
    images[0, 2] = 1.0
    images[0, 3] = 0.5
    pick = pick_variants(images, torch.tensor([[0.1, 0.2, 0.3, 0.4]]), 3)
    assert pick.tolist() == [[0, 2, 3]]
    assert pick_variants(images[:, :2], torch.tensor([[0.1, 0.2]]), 2).tolist() == [[0, 1]]  # too few differ
    known = torch.ones(1, 1, 4, 4)
    known[..., 1:3, 1:3] = 0
    pasted = paste_known(torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), Damage(mask="center"), known)
    assert pasted.sum() == 4  # the hole keeps the restoration, the rest is the input


@pytest.mark.parametrize("damage", [Damage(downsample=4), Damage(gray=True), Damage(gray=True, downsample=2),
                                    Damage(mask="center", downsample=2)])
def test_paste_known_projects_onto_the_images_consistent_with_the_input(damage):
    gen = torch.Generator().manual_seed(0)
    truth = torch.rand(6, 3, 16, 16, generator=gen) * 0.4 + 0.3
    guess = truth + 0.05 * torch.randn(truth.shape, generator=gen)  # near enough that nothing clips
    known = damage.known(16, seed=0)
    y = damage.observe(truth)
    kept = paste_known(guess, y, damage, known)
    w = known if known is not None else 1
    torch.testing.assert_close(damage.observe(kept) * w, y * w, atol=2e-3, rtol=0)  # it damages into the input
    assert (kept - truth).pow(2).mean() < (guess - truth).pow(2).mean()  # and is closer to the truth


def test_restore_refusals(gantool, tmp_path, digits_gan, tiny_gan):
    model, held = digits_gan
    out = tmp_path / "panel.png"

    def refused(*args, code=2):
        line = one_line_error(gantool("restore", *args, "-m", model, "-o", out), "restore", code=code)
        assert not out.exists()
        return line

    assert "name the damage" in refused(held)
    Image.new("L", (20, 20), 255).save(tmp_path / "mask20.png")
    assert "20x20" in refused(held, "--mask", tmp_path / "mask20.png", code=1)  # a mask of the wrong size
    Image.new("L", (16, 16), 255).save(tmp_path / "all.png")
    assert "no known pixel" in refused(held, "--mask", tmp_path / "all.png", code=1)
    assert "no such mask" in refused(held, "--mask", tmp_path / "missing.png", code=1)
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / "red.png")
    assert "colour" in refused(tmp_path / "red.png", "--noise", "0.1", code=1)  # wrong number of channels
    assert "--gray" in refused(held, "--gray")  # a grayscale model cannot be colorized
    assert "--mask" in refused(held, "--mask", "random:1.5")
    assert "--mask" in refused(held, "--mask", "middle")
    assert "--paste-known" in refused(held, "--blur", "1", "--mask", "center", "--paste-known")
    assert "--paste-known" in refused(held, "--noise", "0.1", "--paste-known")
    assert "--restarts" in refused(held, "--mask", "center", "--variants", "4", "--restarts", "2")
    assert "--reference" in refused(held, "--simulate", "--mask", "center", "--reference", held)
    np.save(tmp_path / "two.npy", np.load(held)[:2])
    assert "--reference" in refused(held, "--mask", "center", "--reference", tmp_path / "two.npy")
    assert "--downsample" in refused(held, "--downsample", "3")
    # invert refuses an image with the wrong number of channels too, rather than converting it silently
    r = gantool("invert", tmp_path / "red.png", "-m", tiny_gan, "--latents", tmp_path / "z.npy")
    assert "colour" in one_line_error(r, "invert")


def test_gray_input_is_colorized_by_a_colour_model(gantool, tmp_path):
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (48, 3, 1, 1)).astype(np.uint8)
    images = np.broadcast_to(colours, (48, 3, SIZE, SIZE)).copy()
    np.save(tmp_path / "rgb.npy", images)
    r = gantool("train", "--data", tmp_path / "rgb.npy", "--out", tmp_path / "run", "--steps", "3", "--nz", "8",
                "--ngf", "8", "--ndf", "8", "--image-size", str(SIZE), "--batch-size", "16", "-q")
    assert r.code == 0, r.stderr
    model = tmp_path / "run" / "model.safetensors"
    gray = (images.astype(np.float64) * np.array([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdims=True)
    np.save(tmp_path / "gray.npy", gray.round().astype(np.uint8)[:4])
    refused = gantool("restore", tmp_path / "gray.npy", "-m", model, "--noise", "0.1", "--latents", tmp_path / "z.npy")
    assert "--gray" in one_line_error(refused, "restore")
    np.save(tmp_path / "ref.npy", images[:4])
    r = gantool("restore", tmp_path / "gray.npy", "-m", model, "--gray", "--steps", "3", "--out-dir", tmp_path / "out",
                "--reference", tmp_path / "ref.npy", "--latents", tmp_path / "z.npy")
    assert r.code == 0, r.stderr
    assert Image.open(tmp_path / "out" / "gray[0].png").mode == "RGB" and "restored PSNR" in r.text
