"""`gantool translate`: a translation model applied to images of any size (tiny models written here,
images made with numpy and Pillow, and crops of scikit-learn's two sample photos)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import one_line_error
from gantool.files import modelfile
from gantool.files.modelfile import with_prefix
from gantool.models.pix2pix import Pix2PixConfig, build

T = ["--threads", "1", "-q"]


def save_translator(path, task="paired", cin=3, cout=3, size=16, load=16, direction="a2b", damage=None,
                    dropout=0.5, strong=True):
    """A translator file as train-pix2pix writes it. `strong`: weights N(0, 0.3) instead of the reference's
    N(0, 0.02), so that the output depends visibly on the input."""
    torch.manual_seed(0)
    cfg = Pix2PixConfig(image_size=size, in_channels=cin, out_channels=cout, ngf=4, ndf=4, task=task,
                        dropout=dropout, d_layers=2)
    nets = build(cfg)
    if strong:
        for m in nets["generator"].modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                torch.nn.init.normal_(m.weight, 0, 0.3)
    data = {"name": "test", "task": task, "direction": direction, "image_size": size, "load_size": load,
            "in_channels": cin, "out_channels": cout, "num_pairs": 10, "fingerprint": "0",
            "normalization": {"range": [-1, 1]}}
    if damage is not None:
        data["damage"] = {"mask": None, "blur": 0.0, "noise": 0.0, "downsample": 1, "gray": False, **damage}
    modelfile.save(path, "translator", {**with_prefix(nets["generator"].state_dict(), "generator"),
                                        **with_prefix(nets["discriminator"].state_dict(), "discriminator")},
                   cfg.to_dict(), data, {})
    return path


def noise_image(path, h, w, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    shape = (h, w) if mode == "L" else (h, w, len(mode))
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def photo(path, h, w, which=1, y=100, x=200):
    """A crop of one of scikit-learn's sample photos (0 china, 1 flower)."""
    from sklearn.datasets import load_sample_images

    Image.fromarray(load_sample_images().images[which][y:y + h, x:x + w]).save(path)
    return path


def pixels(path) -> torch.Tensor:
    """A PNG as floats in [0, 1], (1, C, H, W)."""
    a = np.array(Image.open(path))
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(a)[None].float() / 255


def lightness(images01):
    from kornia.color import rgb_to_lab

    return rgb_to_lab(images01.expand(-1, 3, -1, -1))[:, 0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("translators")
    return {"rgb": save_translator(d / "rgb.safetensors"),
            "gray": save_translator(d / "gray.safetensors", cin=1, cout=1),
            "b2a": save_translator(d / "b2a.safetensors", direction="b2a"),
            "colorize": save_translator(d / "colorize.safetensors", "colorize", 1, 2, strong=False),
            "vivid": save_translator(d / "vivid.safetensors", "colorize", 1, 2),
            "restore4": save_translator(d / "restore4.safetensors", "restore", damage={"downsample": 4}),
            "nodrop": save_translator(d / "nodrop.safetensors", dropout=0.0)}


def test_an_odd_size_comes_back_at_its_size(gantool, models, tmp_path):
    """100x77 RGB through an RGB model, 33x21 gray through a gray one: same sizes and modes out. An RGB
    image given to the gray model is reduced to luma (its output is gray), gray given to the RGB model
    repeated into three channels (its output is RGB)."""
    rgb, gray = noise_image(tmp_path / "rgb.png", 77, 100), noise_image(tmp_path / "gray.png", 21, 33, "L")
    for model, mode in (("rgb", "RGB"), ("gray", "L")):
        out = tmp_path / model
        r = gantool(*T, "translate", "-m", models[model], rgb, gray, "--out-dir", out)
        assert r.code == 0, r.stderr
        assert Image.open(out / "rgb.png").size == (100, 77) and Image.open(out / "rgb.png").mode == mode
        assert Image.open(out / "gray.png").size == (33, 21) and Image.open(out / "gray.png").mode == mode
        assert "rgb" in r.text and "100" in r.text and "77" in r.text  # the table on stdout
    # the conversions: gray into the RGB model is the gray image repeated (the same output as its RGB copy);
    # RGB into the gray model is its luma (about the output of Pillow's L version: the rounding differs)
    Image.open(gray).convert("RGB").save(tmp_path / "gray3.png")
    Image.open(rgb).convert("L").save(tmp_path / "luma.png")
    for model, src in (("rgb", "gray3"), ("gray", "luma")):
        r = gantool(*T, "translate", "-m", models[model], tmp_path / f"{src}.png", "--out-dir", tmp_path / model)
        assert r.code == 0, r.stderr
    assert torch.equal(pixels(tmp_path / "rgb" / "gray3.png"), pixels(tmp_path / "rgb" / "gray.png"))
    assert (pixels(tmp_path / "gray" / "luma.png") - pixels(tmp_path / "gray" / "rgb.png")).abs().mean() < 2 / 255
    # the input matters: another image gives another output
    other = noise_image(tmp_path / "other.png", 77, 100, seed=1)
    r = gantool(*T, "translate", "-m", models["rgb"], other, "--out-dir", tmp_path / "o2")
    assert r.code == 0, r.stderr
    assert (pixels(tmp_path / "o2" / "other.png") - pixels(tmp_path / "rgb" / "rgb.png")).abs().mean() > 0.01


def test_colorization_keeps_the_input_lightness(gantool, models, tmp_path):
    """A colour photo (45x37: larger than the 16-pixel load size, so a*b* are predicted on a 19x16 copy and
    upsampled) and a gray one come back RGB at their size with their own L (kornia's L*a*b*, within 1 L unit
    after 8-bit rounding; measured max 0.24 on a trained model, see test_trained_colorizer...)."""
    colour = photo(tmp_path / "colour.png", 37, 45)
    from gantool.translation.colour import from_lab, to_lab

    l_scaled, ab = to_lab(pixels(colour))  # the photo's own L*, as a gray image (Pillow's luma is another gray)
    gray_path = tmp_path / "gray.png"
    gray = from_lab(l_scaled, torch.zeros_like(ab))[0, 0].mul(255).round().byte().numpy()
    Image.fromarray(gray).save(gray_path)
    for model in ("colorize", "vivid"):  # vivid: N(0, 0.3) weights, colours outside sRGB, L still kept
        r = gantool(*T, "translate", "-m", models[model], colour, gray_path, "--out-dir", tmp_path / model)
        assert r.code == 0, r.stderr
        for name, src in (("colour", colour), ("gray", gray_path)):
            out = pixels(tmp_path / model / f"{name}.png")
            assert out.shape == (1, 3, 37, 45)
            assert (lightness(out) - lightness(pixels(src))).abs().max() < 1.0, model
    # the gray input and its colour original give the same colorization (the colour one is reduced to L)
    out = tmp_path / "colorize"
    assert (pixels(out / "colour.png") - pixels(out / "gray.png")).abs().max() <= 2 / 255


def test_self_reference_scores_each_image(gantool, models, tmp_path):
    """--self-reference: PSNR, SSIM and colourfulness against the colour input, as computed from the files
    written; --json prints one object per image."""
    a, b = photo(tmp_path / "a.png", 40, 50), photo(tmp_path / "b.png", 31, 29, which=0, y=50, x=300)
    r = gantool(*T, "translate", "-m", models["vivid"], a, b, "--self-reference", "--out-dir", tmp_path / "o")
    assert r.code == 0, r.stderr
    assert "PSNR" in r.text and "mean" in r.text
    r = gantool(*T, "--json", "translate", "-m", models["vivid"], a, b, "--self-reference", "-o", tmp_path / "p.png")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["image"] for row in rows] == ["a", "b"]
    from gantool.latent.invert import quality
    from gantool.translation.colour import colourfulness

    for row, src in zip(rows, (a, b)):
        out, ref = pixels(tmp_path / "o" / f"{row['image']}.png"), pixels(src)
        psnr, ssim = quality(out, ref)
        assert row["psnr"] == pytest.approx(float(psnr), abs=0.01)
        assert row["ssim"] == pytest.approx(float(ssim), abs=1e-4)
        assert row["colourfulness"] == pytest.approx(float(colourfulness(out)), abs=0.01)
        assert row["reference_colourfulness"] == pytest.approx(float(colourfulness(ref)), abs=0.01)
        assert row["reference_colourfulness"] > 5 and (row["width"], row["height"]) == out.shape[:1:-1]
    # the panel: two rows of L | output | reference, cells of the larger image (50x40) plus 2-pixel borders
    assert Image.open(tmp_path / "p.png").size == (3 * 52 + 2, 2 * 42 + 2)


def test_ab_images_translate_one_half_and_score_against_the_other(gantool, models, tmp_path):
    rng = np.random.default_rng(0)
    a1, a2, b = (rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(3))
    Image.fromarray(np.concatenate([a1, b], 1)).save(tmp_path / "ab1.png")
    Image.fromarray(np.concatenate([a2, b], 1)).save(tmp_path / "ab2.png")
    Image.fromarray(a1).save(tmp_path / "a1.png")
    r = gantool(*T, "--json", "translate", "-m", models["rgb"], "--ab", tmp_path / "ab1.png", tmp_path / "ab2.png",
                "--out-dir", tmp_path / "o")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert (rows[0]["width"], rows[0]["height"]) == (24, 20)
    out1 = pixels(tmp_path / "o" / "ab1.png")
    from gantool.latent.invert import quality

    assert rows[0]["psnr"] == pytest.approx(float(quality(out1, torch.from_numpy(b).permute(2, 0, 1)[None] / 255)[0]),
                                            abs=0.01)
    # a2b translates A: the same as translating A alone; the two images' outputs differ (their A's do)
    r = gantool(*T, "translate", "-m", models["rgb"], tmp_path / "a1.png", "--out-dir", tmp_path / "alone")
    assert torch.equal(pixels(tmp_path / "alone" / "a1.png"), out1)
    assert not torch.equal(out1, pixels(tmp_path / "o" / "ab2.png"))
    # a b2a model translates B: one output for both (they share B)
    r = gantool(*T, "translate", "-m", models["b2a"], "--ab", tmp_path / "ab1.png", tmp_path / "ab2.png",
                "--out-dir", tmp_path / "b")
    assert r.code == 0, r.stderr
    assert torch.equal(pixels(tmp_path / "b" / "ab1.png"), pixels(tmp_path / "b" / "ab2.png"))


def test_a_batch_and_a_reference_folder(gantool, models, tmp_path):
    """A .npy batch gives the same outputs as the same images as files, one at a time; a reference folder
    is matched by name (any image ending)."""
    rng = np.random.default_rng(3)
    batch = rng.integers(0, 256, (3, 18, 22), dtype=np.uint8)
    np.save(tmp_path / "x.npy", batch)
    (tmp_path / "files").mkdir()
    (tmp_path / "ref").mkdir()
    for i, im in enumerate(batch):
        Image.fromarray(im).save(tmp_path / "files" / f"x{i}.png")
        Image.fromarray(255 - im).save(tmp_path / "ref" / f"x{i}.png")
    r = gantool(*T, "translate", "-m", models["gray"], tmp_path / "x.npy", "--out-dir", tmp_path / "o")
    assert r.code == 0, r.stderr
    r = gantool(*T, "--json", "translate", "-m", models["gray"], tmp_path / "files", "--reference", tmp_path / "ref",
                "--out-dir", tmp_path / "of")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["image"] for row in rows] == ["x0", "x1", "x2"] and all(row["psnr"] is not None for row in rows)
    for i in range(3):
        assert torch.equal(pixels(tmp_path / "o" / f"x[{i}].png"), pixels(tmp_path / "of" / f"x{i}.png"))


def test_a_restorer_takes_the_small_damaged_image(gantool, models, tmp_path):
    """Under --downsample 4 damage, a 10x7 input comes back 40x28; its reference is at that size."""
    small = noise_image(tmp_path / "s.png", 7, 10)
    noise_image(tmp_path / "clean.png", 28, 40)
    r = gantool(*T, "--json", "translate", "-m", models["restore4"], small, "--reference", tmp_path / "clean.png",
                "--out-dir", tmp_path / "o")
    assert r.code == 0, r.stderr
    assert Image.open(tmp_path / "o" / "s.png").size == (40, 28)
    assert json.loads(r.text)["psnr"] is not None


def test_dropout_is_seeded(gantool, models, tmp_path):
    img = noise_image(tmp_path / "i.png", 24, 20)

    def run(tag, *extra):
        r = gantool(*T, "translate", *extra, "-m", models["rgb"], img, "--out-dir", tmp_path / tag)
        assert r.code == 0, r.stderr
        return pixels(tmp_path / tag / "i.png")

    plain, d1, d1_again, d2 = run("plain"), run("d1", "--seed", "1", "--dropout"), run("d1b", "--seed", "1",
                                                                                       "--dropout"), \
        run("d2", "--seed", "2", "--dropout")
    assert torch.equal(d1, d1_again)
    assert not torch.equal(d1, plain) and not torch.equal(d1, d2)
    assert torch.equal(plain, run("plain2", "--seed", "5"))  # eval mode: the seed changes nothing


def gan_file(path):
    """An untrained 16x16 DCGAN file, as `gantool train` writes one (kind gan)."""
    from gantool.models.dcgan import build as build_gan
    from gantool.models.dcgan_config import DCGANConfig

    cfg = DCGANConfig(image_size=16, nz=8, ngf=8, ndf=8)
    nets = build_gan(cfg)
    modelfile.save(path, "gan", {k: v for role, net in nets.items() for k, v in with_prefix(net.state_dict(), role).items()},
                   cfg.to_dict(), {"image_size": 16, "channels": 1, "normalization": {"range": [-1, 1]}}, {})
    return path


def test_refusals(gantool, models, tmp_path):
    tiny_gan = gan_file(tmp_path / "gan.safetensors")
    img = noise_image(tmp_path / "i.png", 20, 20)
    rgba = noise_image(tmp_path / "rgba.png", 20, 20, "RGBA")
    gray = noise_image(tmp_path / "g.png", 20, 20, "L")
    small_ref = noise_image(tmp_path / "ref.png", 10, 10)
    huge = tmp_path / "huge.png"
    Image.new("L", (8200, 8200)).save(huge)
    out = ["--out-dir", tmp_path / "o"]
    cases = [
        (1, ["-m", tiny_gan, img, *out], "holds a gan model, this command needs a translator"),
        (2, ["-m", models["rgb"], img], "no output named"),
        (1, ["-m", models["colorize"], rgba, *out], "colour with transparency (RGBA): a colorization model takes"),
        (2, ["-m", models["rgb"], img, "--self-reference", *out], "--self-reference: is for colorization models"),
        (1, ["-m", models["colorize"], gray, "--self-reference", *out], "is grayscale: --self-reference scores"),
        (2, ["-m", models["colorize"], img, "--self-reference", "--reference", img, *out],
         "--self-reference: contradicts --reference"),
        (2, ["-m", models["rgb"], img, "--ab", "--reference", img, *out], "--ab: takes each image's reference"),
        (1, ["-m", models["rgb"], huge, *out], "more than the 64 megapixels"),
        (1, ["-m", models["rgb"], img, "--reference", small_ref, *out], "is 10x10, but the translation of"),
        (1, ["-m", models["rgb"], img, "--reference", tmp_path / "nothing-here", *out], "no such image"),
        (1, ["-m", models["rgb"], img, "--reference", tmp_path / "o", *out], None),
        (2, ["-m", models["rgb"], img, "--direction", "b2a", *out],
         "--direction b2a: a pix2pix model translates one way (it was trained a2b)"),
        (2, ["-m", models["nodrop"], img, "--dropout", *out], "--dropout: "),
        (1, ["-m", models["rgb"], "--ab", noise_image(tmp_path / "odd.png", 8, 9), *out], "not a side-by-side AB"),
    ]
    (tmp_path / "o").mkdir()
    noise_image(tmp_path / "o" / "other.png", 20, 20)  # a reference folder without i.*
    for code, args, words in cases:
        r = gantool(*T, "translate", *args)
        line = one_line_error(r, "translate", code)
        assert words is None or words in line, line
    assert gantool(*T, "translate", "-m", models["rgb"], img, "--direction", "a2b", *out).code == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["i.png", "other.png"]  # refusals wrote nothing


def test_trained_colorizer_on_photo_crops(gantool, tmp_path):
    """The issue's test: a few steps of colorization on crops of the two scikit-learn photos, then an odd-sized
    photo comes back RGB at its size with its own L."""
    from sklearn.datasets import load_sample_images

    crops = tmp_path / "crops"
    crops.mkdir()
    for i, im in enumerate(load_sample_images().images):
        for y in range(0, 400, 60):
            for x in range(0, 600, 60):
                Image.fromarray(im[y:y + 20, x:x + 20]).save(crops / f"{i}-{y}-{x}.png")
    r = gantool(*T, "train-pix2pix", "--task", "colorize", "--data", crops, "--image-size", "16", "--epochs", "1",
                "--decay-epochs", "0", "--ngf", "8", "--ndf", "8", "--batch-size", "16", "--out", tmp_path / "run")
    assert r.code == 0, r.stderr
    src = photo(tmp_path / "photo.png", 77, 101)
    r = gantool(*T, "translate", "-m", tmp_path / "run" / "model.safetensors", src, "--self-reference",
                "--out-dir", tmp_path / "o")
    assert r.code == 0, r.stderr
    out = pixels(tmp_path / "o" / "photo.png")
    assert out.shape == (1, 3, 77, 101)
    assert (lightness(out) - lightness(pixels(src))).abs().max() < 1.0


def test_stdin_in_and_the_panel_on_stdout(gantool, models, tmp_path):
    """An image on stdin is named `stdin`; with the panel on stdout (-o -) the table goes to stderr."""
    data = noise_image(tmp_path / "x.png", 13, 17).read_bytes()
    r = gantool("--threads", "1", "translate", "-m", models["rgb"], "-", "-o", "-", stdin=data)
    assert r.code == 0, r.stderr
    assert r.stdout.startswith(b"\x89PNG") and "stdin" in r.stderr and "colourfulness" in r.stderr
    import io

    assert Image.open(io.BytesIO(r.stdout)).size == (2 * 19 + 2, 15 + 2)  # input | output, 2-pixel borders


def save_cyclegan(path, a_channels=1, b_channels=3):
    """A CycleGAN file as train-cyclegan writes it (weights N(0, 0.3): outputs depend on the input)."""
    from gantool.models.cyclegan import CycleGANConfig, build as build_cyclegan

    torch.manual_seed(0)
    cfg = CycleGANConfig(image_size=16, a_channels=a_channels, b_channels=b_channels, ngf=4, ndf=4, n_blocks=1,
                         d_layers=2)
    nets = build_cyclegan(cfg)
    for m in nets["generator_ab"].modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(m.weight, 0, 0.3)
    tensors = {k: v for role, net in nets.items() for k, v in with_prefix(net.state_dict(), role).items()}
    modelfile.save(path, "translator", tensors, cfg.to_dict(),
                   {"name": "a <-> b", "task": "unpaired", "image_size": 16, "load_size": 18, "a_channels": a_channels,
                    "b_channels": b_channels, "normalization": {"range": [-1, 1]}}, {})
    return path


@pytest.mark.parametrize("h, w", [(77, 100), (3, 5), (1, 1)])
def test_a_cyclegan_file_translates_either_way_at_any_size(gantool, tmp_path, h, w):
    model = save_cyclegan(tmp_path / "cg.safetensors")
    gray, colour = noise_image(tmp_path / "g.png", h, w, "L"), photo(tmp_path / "c.png", h, w)
    for direction, image, mode in (("a2b", gray, "RGB"), ("b2a", colour, "L")):
        r = gantool(*T, "translate", "-m", model, image, "--direction", direction, "--out-dir", tmp_path / direction)
        assert r.code == 0, r.stderr
        made = Image.open(tmp_path / direction / image.name)
        assert made.size == (w, h) and made.mode == mode
    if h > 8:  # the output follows the input (the A -> B generator's weights are strong)
        other = noise_image(tmp_path / "o.png", h, w, "L", seed=1)
        assert gantool(*T, "translate", "-m", model, other, "--out-dir", tmp_path / "o").code == 0
        assert not np.array_equal(np.asarray(Image.open(tmp_path / "o" / "o.png")),
                                  np.asarray(Image.open(tmp_path / "a2b" / "g.png")))


def test_a_cyclegan_refuses_what_it_has_not(gantool, tmp_path):
    model = save_cyclegan(tmp_path / "cg.safetensors")
    img = photo(tmp_path / "c.png", 16, 16)
    r = gantool(*T, "translate", "-m", model, img, "--self-reference", "-o", tmp_path / "p.png")
    assert "is a CycleGAN" in one_line_error(r, "translate", 2)
    r = gantool(*T, "translate", "-m", model, img, "--dropout", "-o", tmp_path / "p.png")
    assert "no dropout layer" in one_line_error(r, "translate", 2)
    assert not (tmp_path / "p.png").exists()
