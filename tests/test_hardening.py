"""Issue 16's defects in what every command shares: outputs that are inputs or each other, names in
--out-dir, the parents and endings of -o, the seed's range, -q, labels far apart, a PNG given as
latents, an RGBA image's description, NaN weights, and library messages that name settings."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error


@pytest.fixture
def latents(tmp_path, tiny_gan, gantool):
    path = tmp_path / "z.npy"
    r = gantool("sample", "-m", tiny_gan, "-n", "3", "--latents", path, "-q")
    assert r.code == 0, r.stderr
    return path


def test_two_outputs_on_one_file_are_refused(tmp_path, tiny_gan, gantool):
    out = tmp_path / "x"
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "-o", out, "--latents", out)
    assert "are the same file" in one_line_error(r, "sample", 2)
    assert not out.exists()


def test_an_output_that_is_an_input_is_refused(tmp_path, tiny_gan, latents, gantool):
    before = latents.read_bytes()
    r = gantool("sample", "-m", tiny_gan, "--latents-in", latents, "--latents", latents, "-o", tmp_path / "g.png")
    assert "is also an input" in one_line_error(r, "sample", 2)
    assert latents.read_bytes() == before and not (tmp_path / "g.png").exists()


def test_a_hard_link_to_an_input_is_the_input(tmp_path, tiny_gan, latents, gantool):
    """Compared by inode, as cp does: another name for the same file is still the input."""
    other = tmp_path / "other.npy"
    os.link(latents, other)
    before = latents.read_bytes()
    r = gantool("sample", "-m", tiny_gan, "--latents-in", latents, "--latents", other)
    assert "is also an input" in one_line_error(r, "sample", 2)
    assert latents.read_bytes() == before


def test_the_model_is_an_input_too(tmp_path, tiny_gan, gantool):
    model = tmp_path / "m.safetensors"
    model.write_bytes(tiny_gan.read_bytes())
    r = gantool("sample", "-m", model, "-n", "2", "--latents", tmp_path / "m.safetensors", "-o", tmp_path / "g.png")
    one_line_error(r, "sample", 2)
    assert model.read_bytes() == tiny_gan.read_bytes()


def test_devices_may_be_named_twice(tiny_gan, gantool):
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "-o", os.devnull, "--latents", os.devnull)
    assert r.code == 0, r.stderr


def test_missing_parents_of_an_output_are_not_created(tmp_path, tiny_gan, gantool):
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "-o", tmp_path / "no" / "such" / "g.png")
    assert "does not exist" in one_line_error(r, "sample", 1)
    assert not (tmp_path / "no").exists()
    gone = tmp_path / "gone"
    (tmp_path / "link").symlink_to(gone)  # dangling
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "-o", tmp_path / "link" / "g.png")
    one_line_error(r, "sample", 1)
    assert not gone.exists()


def test_an_ending_that_contradicts_the_contents_is_refused(tmp_path, tiny_gan, gantool):
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "-o", tmp_path / "g.jpg")
    line = one_line_error(r, "sample", 2)
    assert "g.png" in line and not (tmp_path / "g.jpg").exists()
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "--latents", tmp_path / "z.png")
    assert "z.npy" in one_line_error(r, "sample", 2)
    r = gantool("sample", "-m", tiny_gan, "-n", "2", "-o", tmp_path / "G.PNG", "--latents", tmp_path / "plain")
    assert r.code == 0 and (tmp_path / "G.PNG").exists() and (tmp_path / "plain").exists()


@pytest.mark.parametrize("seed", ["-1", "4294967296", "99999999999999999999"])
def test_a_seed_out_of_range_is_refused_up_front(tmp_path, seed, gantool):
    r = gantool("--seed", seed, "train", "--out", tmp_path / "run", "--steps", "1")
    assert "--seed" in one_line_error(r, "train", 2)
    assert not (tmp_path / "run").exists()


def test_the_seed_defaults_to_zero(tiny_gan, gantool):
    """The one seed policy: 0 unless --seed, so the same command line gives the same result."""
    a, b = (gantool("sample", "-m", tiny_gan, "-n", "3", "--latents", "-") for _ in range(2))
    c = gantool("--seed", "0", "sample", "-m", tiny_gan, "-n", "3", "--latents", "-")
    assert a.code == 0 and a.stdout == b.stdout == c.stdout
    d = gantool("--seed", "1", "sample", "-m", tiny_gan, "-n", "3", "--latents", "-")
    assert d.stdout != a.stdout


def test_quiet_means_errors_only(tmp_path, gantool):
    """-q silences warnings as well as progress (here: fewer images than the batch size)."""
    np.save(tmp_path / "few.npy", np.zeros((8, 16, 16), np.uint8))
    args = ["train", "--data", tmp_path / "few.npy", "--steps", "1", "--nz", "4", "--ngf", "4", "--ndf", "4",
            "--image-size", "16"]
    loud = gantool(*args, "--out", tmp_path / "a")
    assert loud.code == 0 and "warning:" in loud.stderr
    quiet = gantool(*args, "--out", tmp_path / "b", "-q")
    assert quiet.code == 0 and quiet.stderr == ""


def test_labels_far_apart_allocate_nothing_per_integer(tmp_path):
    """One label 10**12 and no class names: two classes, named by their labels (it grew RAM at
    0.5 GB/s before)."""
    from gantool.data.sources import read_arrays

    path = tmp_path / "far.npz"
    np.savez(path, images=np.zeros((4, 8, 8), np.uint8), labels=np.array([3, 10**12, 3, 10**12]))
    data = read_arrays(path)
    assert data.classes == ["3", "1000000000000"]
    assert data.labels.tolist() == [0, 1, 0, 1]


def test_a_png_given_as_latents_is_called_a_png(tmp_path, tiny_gan, gantool):
    png = tmp_path / "x.png"
    Image.new("L", (8, 8)).save(png)
    r = gantool("sample", "-m", tiny_gan, "--latents-in", png, "-o", tmp_path / "g.png")
    line = one_line_error(r, "sample", 1)
    assert "PNG image" in line and "Python objects" not in line


def test_an_rgba_image_is_not_called_three_channels(tmp_path):
    from gantool.data.inputs import ImageChunks
    from gantool.errors import GantoolError

    png = tmp_path / "rgba.png"
    Image.new("RGBA", (8, 8), (10, 20, 30, 128)).save(png)
    with pytest.raises(GantoolError, match="transparency") as e:
        list(ImageChunks([str(png)]).read(1, 8, exact_channels="convert it"))
    assert "3 channels" not in str(e.value)


def test_two_inputs_with_one_name_are_refused_for_a_folder_output(tmp_path):
    from gantool.data.inputs import ImageChunks
    from gantool.errors import UsageError

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.new("L", (8, 8)).save(tmp_path / folder / "d0.png")
    chunks = ImageChunks([str(tmp_path / "a"), str(tmp_path / "b")])
    with pytest.raises(UsageError) as e:
        chunks.plan_files(tmp_path / "out", (".png",), "--out-dir")
    assert str(tmp_path / "a" / "d0.png") in str(e.value) and str(tmp_path / "b" / "d0.png") in str(e.value)
    one = ImageChunks([str(tmp_path / "a"), str(tmp_path / "b" / "d0.png")])
    with pytest.raises(UsageError):  # the same name from a folder and a file
        one.plan_files(tmp_path / "out", (".png",), "--out-dir")


def test_nan_weights_are_refused_when_the_model_is_opened(tmp_path, tiny_gan, gantool):
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    with safe_open(str(tiny_gan), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(tiny_gan))
    name = next(k for k in tensors if k.startswith("generator.") and tensors[k].is_floating_point())
    tensors[name][0] = float("nan")
    bad = tmp_path / "nan.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    r = gantool("sample", "-m", bad, "-n", "2", "-o", tmp_path / "g.png")
    assert "NaN" in one_line_error(r, "sample", 1) and not (tmp_path / "g.png").exists()


def test_library_messages_show_the_flag_the_user_typed():
    from gantool.errors import BadValue, GantoolError, flag

    e = GantoolError(f"no checkpoint; start without {flag('resume')}", f"or lower {flag('lr_g')}")
    assert str(e) == "no checkpoint; start without --resume (or lower --lr-g)"
    e.named({"resume": "--resume", "lr_g": "-g"}.get)
    assert str(e) == "no checkpoint; start without --resume (or lower -g)"
    b = BadValue("steps", 0, "must be at least 1 with {epochs}", f"or drop {flag('epochs')}")
    b.named(lambda f: f"--{f}!")
    assert str(b) == "--steps! 0: must be at least 1 with --epochs! (or drop --epochs!)"


@pytest.mark.parametrize("which", ["classifier", "gan"])
def test_gantools_networks_give_their_penultimate_features_without_hooks(which, digits_classifier, tiny_gan,
                                                                         monkeypatch):
    """gantool's own networks name their head and give its input themselves (one way, no hooks);
    the result is what a hook on the head's input takes."""
    import torch

    from gantool.classify.classifiers import Classifier, load_classifier

    clf = load_classifier(str(digits_classifier if which == "classifier" else tiny_gan))
    images = torch.rand(5, clf.channels, clf.input_size, clf.input_size)
    hooked, hooked_logits = clf.activations(images, ["head"], take="input")
    with torch.no_grad():
        probes = []
        monkeypatch.setattr(Classifier, "probe", lambda self, hook_for: probes.append(1))
        assert clf.head == "head" and not probes  # named, not searched by a pass with hooks
        features, logits = clf.penultimate(images)
    torch.testing.assert_close(features, hooked["head"])
    torch.testing.assert_close(logits, hooked_logits)
    torch.testing.assert_close(logits, clf(images))


def test_a_judge_without_weights_is_refused_by_the_one_facade(gantool, tiny_gan, tmp_path):
    r = gantool("evaluate", "-m", tiny_gan, "--data", "digits", "-f", "resnet18", "-n", "10")
    line = one_line_error(r, "evaluate", 2)
    assert line.startswith("gantool evaluate: error: --features resnet18:") and "--pretrained" in line


def test_training_budgets_are_bounded_up_front(tmp_path, gantool):
    for args in (["--steps", str(10**11)], ["--epochs", str(10**7)], ["--batch-size", str(10**6)],
                 ["--d-steps", "1000"]):
        r = gantool("train", "--out", tmp_path / "run", *args)
        assert "must be at most" in one_line_error(r, "train", 2)
        assert not (tmp_path / "run").exists()
    r = gantool("train-classifier", "-o", tmp_path / "c.safetensors", "--epochs", str(10**8))
    assert "--epochs" in one_line_error(r, "train-classifier", 2)


def test_stdin_where_a_file_must_be_read_twice_is_refused_in_one_line(tmp_path, tiny_gan, gantool):
    r = gantool("train", "--data", "-", "--out", tmp_path / "run", stdin=b"x")
    assert "--data -: training data cannot come from stdin" in one_line_error(r, "train", 2)
    r = gantool("evaluate", "--stats", "-", "-f", tiny_gan, "-m", tiny_gan)
    assert "--stats -" in one_line_error(r, "evaluate", 2)


def test_bytes_that_are_no_image_are_named_not_their_stream(tmp_path, tiny_gan, gantool):
    r = gantool("invert", "-", "-m", tiny_gan, "-o", tmp_path / "x.png", stdin=b"hello")
    line = one_line_error(r, "invert", 1)
    assert "<stdin>" in line and "BytesIO" not in line


def test_the_help_shows_brackets_and_messages_use_the_right_article(gantool, capsys, monkeypatch):
    """Rich markup ate `[a,b,c]` from arithmetic's help; "a encoder" was printed."""
    from gantool.words import article, plural

    monkeypatch.setenv("COLUMNS", "200")
    r = gantool("arithmetic", "--help")  # click prints help on the process's stdout
    assert r.code == 0 and "[0,1,2] the average" in capsys.readouterr().out
    assert (article("encoder"), article("classifier"), article("svm")) == ("an encoder", "a classifier", "an svm")
    assert (plural(1, "row"), plural(2, "row"), plural(2, "class"), plural(1234, "image"), plural(2, "epoch"),
            plural(2, "batch")) == ("1 row", "2 rows", "2 classes", "1,234 images", "2 epochs", "2 batches")
