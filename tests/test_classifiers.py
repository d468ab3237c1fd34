"""Classifiers to inspect: train-classifier, classify, layers, the torchvision zoo (offline), and the
Classifier wrapper that later commands (saliency, extract-features, evaluate) build on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import one_line_error, run_gantool
from gantool.classify.classifiers import load_classifier
from gantool.files import modelfile

ONE = ["--threads", "1"]  # another torch process may share the 2 cores: two threads each would crawl


def digits(n: int = 40):
    from sklearn.datasets import load_digits

    d = load_digits()
    return np.round(d.images[:n] * 255 / 16).astype(np.uint8), d.target[:n]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The default recipe on digits (a few seconds): (path, the --json result)."""
    path = tmp_path_factory.mktemp("clf") / "digits.safetensors"
    r = run_gantool("--seed", "0", *ONE, "--json", "-q", "train-classifier", "-o", path)
    assert r.code == 0, r.stderr
    return path, json.loads(r.stdout)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> tuple[Path, np.ndarray]:
    images, labels = digits()
    path = tmp_path_factory.mktemp("batch") / "d.npy"
    np.save(path, images)
    return path, labels


@pytest.fixture(scope="module")
def resnet18_pth(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("zoo") / "resnet18-random.pth"
    from torchvision.models import resnet18

    torch.manual_seed(0)
    torch.save(resnet18().state_dict(), path)
    return path


# ---- train-classifier ---------------------------------------------------------------------------------

def test_default_recipe_reaches_97_percent_on_digits(trained):
    path, result = trained
    assert result["heldout_accuracy"] >= 0.97
    assert result["heldout_images"] == 360 and result["train_images"] == 1437  # 20% of each class held out
    assert set(result["per_class"]) == {str(i) for i in range(10)}
    assert min(result["per_class"].values()) >= 0.85


def test_the_file_records_classes_and_normalization(trained, gantool):
    path, result = trained
    header = modelfile.read_header(path)
    assert header.kind == "classifier" and header.config["arch"] == "cnn-classifier"
    assert header.data["classes"] == [str(i) for i in range(10)] and header.data["image_size"] == 8
    norm = header.data["normalization"]
    assert 0.2 < norm["mean"][0] < 0.4 and 0.3 < norm["std"][0] < 0.5  # digits are mostly dark background
    assert header.training["heldout_accuracy"] == result["heldout_accuracy"]
    assert set(header.tensors) == {k for k in header.tensors if k.startswith("classifier.")}
    r = gantool("info", path)
    assert r.code == 0 and "CNN classifier, 8x8x1 -> 10 classes" in r.text and "heldout_accuracy" in r.text


def test_training_table_and_seeded_split(gantool, tmp_path):
    args = ["--seed", "3", *ONE, "train-classifier", "--epochs", "1", "--width", "4", "-q"]
    a = gantool(*args, "-o", tmp_path / "a.safetensors")
    b = gantool(*args, "-o", tmp_path / "b.safetensors", "--augment")
    assert a.code == 0 and b.code == 0, a.stderr + b.stderr
    assert "held-out accuracy" in a.text and "all" in a.text and "360" in a.text
    ha, hb = (modelfile.read_header(tmp_path / f"{n}.safetensors") for n in "ab")
    assert ha.training["heldout_images"] == hb.training["heldout_images"] == 360
    assert hb.training["augment"] is True
    from safetensors.torch import load_file

    wa, wb = (load_file(str(tmp_path / f"{n}.safetensors")) for n in "ab")
    assert not torch.equal(wa["classifier.head.weight"], wb["classifier.head.weight"])  # same seed, other batches


def test_training_refuses_unlabelled_data_and_bad_outputs_before_work(gantool, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(flat / f"{i}.png")
    line = one_line_error(gantool(*ONE, "train-classifier", "--data", flat, "-o", tmp_path / "c.safetensors"),
                          "train-classifier", 2)
    assert "--data" in line and "labels" in line
    one_line_error(gantool(*ONE, "train-classifier", "-o", tmp_path), "train-classifier", 1)  # a folder
    line = one_line_error(gantool(*ONE, "train-classifier", "--holdout", "1.5", "-o", tmp_path / "c.safetensors"),
                          "train-classifier", 2)
    assert "--holdout" in line
    assert not (tmp_path / "c.safetensors").exists()


def test_ctrl_c_leaves_no_file(gantool, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_step = torch.optim.AdamW.step

    def step(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_step(self, *a, **kw)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    r = gantool(*ONE, "train-classifier", "--epochs", "1", "-q", "-o", tmp_path / "c.safetensors")
    assert r.code == 130 and r.stderr.strip() == "gantool train-classifier: interrupted"
    assert list(tmp_path.iterdir()) == []


# ---- classify -----------------------------------------------------------------------------------------

def test_classify_a_batch_table_and_json(trained, batch, gantool):
    path, labels = batch
    r = gantool(*ONE, "--json", "classify", path, "-m", trained[0], "-k", "3")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["image"] for row in rows] == [f"d[{i}]" for i in range(len(labels))]
    assert all(len(row["top"]) == 3 for row in rows)
    top1 = np.array([int(row["top"][0]["class"]) for row in rows])
    assert (top1 == labels).mean() >= 0.9
    for row in rows:
        p = [t["probability"] for t in row["top"]]
        assert p == sorted(p, reverse=True) and sum(p) <= 1.0001
    table = gantool(*ONE, "classify", path, "-m", trained[0], "-k", "2")
    assert table.code == 0 and "d[0]" in table.text and "#2" in table.text


def test_classify_image_files_and_stdin(trained, gantool, tmp_path):
    images, labels = digits(2)
    big = Image.fromarray(images[0]).resize((32, 32), Image.Resampling.NEAREST).convert("RGB")  # any size, RGB
    big.save(tmp_path / "zero.png")
    r = gantool(*ONE, "--json", "classify", tmp_path / "zero.png", "-m", trained[0], "-k", "1")
    assert r.code == 0, r.stderr
    assert json.loads(r.text)["top"][0]["class"] == str(labels[0])
    piped = gantool(*ONE, "--json", "classify", "-m", trained[0], "-k", "1", stdin=(tmp_path / "zero.png").read_bytes())
    assert piped.code == 0 and json.loads(piped.text)["image"] == "stdin"


def test_a_gan_discriminator_is_a_fake_real_classifier(tiny_gan, tiny_cgan, batch, gantool):
    r = gantool(*ONE, "--json", "classify", batch[0], "-m", tiny_gan, "-k", "2")
    assert r.code == 0, r.stderr
    row = json.loads(r.text.splitlines()[0])
    assert {t["class"] for t in row["top"]} == {"fake", "real"}
    assert abs(sum(t["probability"] for t in row["top"]) - 1) < 1e-4
    clf = load_classifier(str(tiny_gan))
    x = torch.rand(3, 1, 16, 16)
    logits = clf(x)
    d = clf.net(clf.normalization.to_model(x))
    assert torch.allclose(logits[:, 1], d) and torch.all(logits[:, 0] == 0)  # (0, D(x)): softmax = sigmoid(D)
    line = one_line_error(gantool(*ONE, "classify", batch[0], "-m", tiny_cgan), "classify", 1)
    assert "not supported yet" in line


# ---- the zoo, offline -----------------------------------------------------------------------------------

def test_weights_pth_gray_image_into_rgb_model(resnet18_pth, gantool, tmp_path):
    Image.fromarray(digits(1)[0][0]).save(tmp_path / "gray.png")  # 8x8, one channel
    r = gantool(*ONE, "--json", "classify", tmp_path / "gray.png", "-m", "resnet18", "--weights", resnet18_pth)
    assert r.code == 0, r.stderr
    row = json.loads(r.text)
    assert len(row["top"]) == 5 and all(0 <= t["index"] < 1000 for t in row["top"])
    from torchvision.models import ResNet18_Weights

    categories = ResNet18_Weights.DEFAULT.meta["categories"]
    assert all(t["class"] == categories[t["index"]] for t in row["top"])  # ImageNet's names


def test_weights_safetensors_and_a_new_head(gantool, tmp_path, batch):
    from safetensors.torch import save_file
    from torchvision.models import squeezenet1_1

    torch.manual_seed(0)
    save_file(squeezenet1_1(num_classes=3).state_dict(), str(tmp_path / "sq.safetensors"))
    r = gantool(*ONE, "--json", "classify", batch[0], "-m", "squeezenet1_1", "--weights", tmp_path / "sq.safetensors")
    assert r.code == 0, r.stderr
    row = json.loads(r.text.splitlines()[0])
    assert sorted(t["class"] for t in row["top"]) == ["0", "1", "2"]  # 3 outputs: 3 classes, named by index


def test_pretrained_reads_the_torch_cache_and_never_downloads(gantool, tmp_path, monkeypatch, resnet18_pth, batch):
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    line = one_line_error(gantool(*ONE, "classify", batch[0], "-m", "resnet18", "--pretrained"), "classify", 1)
    assert "resnet18-f37072fd.pth" in line and str(home / "hub" / "checkpoints") in line
    (home / "hub" / "checkpoints").mkdir(parents=True)
    (home / "hub" / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(resnet18_pth.read_bytes())
    r = gantool(*ONE, "classify", batch[0], "-m", "resnet18", "--pretrained", "-k", "1")
    assert r.code == 0, r.stderr


def test_weights_that_do_not_fit(gantool, tmp_path, resnet18_pth, batch):
    line = one_line_error(gantool(*ONE, "classify", batch[0], "-m", "squeezenet1_1", "--weights", resnet18_pth),
                          "classify", 1)
    assert "does not fit squeezenet1_1" in line
    torch.save([1, 2, 3], tmp_path / "list.pth")
    assert "not a state dict" in one_line_error(
        gantool(*ONE, "classify", batch[0], "-m", "resnet18", "--weights", tmp_path / "list.pth"), "classify", 1)
    torch.save({"x": Path("/")}, tmp_path / "pickled.pth")  # an object weights_only refuses to unpickle
    assert "cannot read weights" in one_line_error(
        gantool(*ONE, "classify", batch[0], "-m", "resnet18", "--weights", tmp_path / "pickled.pth"), "classify", 1)
    old = {k: v for k, v in torch.load(resnet18_pth, weights_only=True).items() if "num_batches_tracked" not in k}
    torch.save(old, tmp_path / "old.pth")  # as saved before PyTorch 0.4.1: batch norm fills the counters in
    assert gantool(*ONE, "classify", batch[0], "-m", "resnet18", "--weights", tmp_path / "old.pth").code == 0
    (tmp_path / "junk.safetensors").write_bytes(b"not at all")
    one_line_error(gantool(*ONE, "classify", batch[0], "-m", "resnet18", "--weights", tmp_path / "junk.safetensors"),
                   "classify", 1)


@pytest.mark.parametrize("argv, code, words", [
    (["-m", "resnet99"], 2, "unknown model resnet99"),
    (["-m", "nothere.safetensors"], 1, "nothere.safetensors"),
    (["-m", "resnet18"], 2, "its random weights classify nothing"),
    (["-m", "resnet18", "--pretrained", "--weights", "w.pth"], 2, "cannot be combined"),
    (["-m", "resnet18", "--weights", "missing.pth"], 1, "missing.pth"),
    ([], 2, "no model given"),
    (["-m", "resnet18", "--pretrained", "-k", "0"], 2, "--top"),
])
def test_bad_input_is_one_line(gantool, batch, argv, code, words):
    line = one_line_error(gantool(*ONE, "classify", batch[0], *argv), "classify", code)
    assert words in line


def test_options_for_zoo_models_only(gantool, trained, batch, tmp_path):
    line = one_line_error(gantool(*ONE, "classify", batch[0], "-m", trained[0], "--pretrained"), "classify", 2)
    assert "zoo models" in line
    one_line_error(gantool(*ONE, "classify", tmp_path / "none.png", "-m", trained[0]), "classify", 1)
    # the images are checked before the model is read: a missing image is named, not the missing weights
    line = one_line_error(gantool(*ONE, "classify", tmp_path / "none.png", "-m", "resnet18", "--weights",
                                  tmp_path / "absent.pth"), "classify", 1)
    assert "none.png" in line


# ---- layers ---------------------------------------------------------------------------------------------

def test_layers_of_zoo_models_files_and_gans(gantool, trained, tiny_gan):
    r = gantool(*ONE, "--json", "layers", "resnet18")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]  # JSON lines: one object per layer
    by_name = {layer["name"]: layer for layer in rows}
    assert [row["name"] for row in rows if row["head"]] == ["fc"]
    assert "input 3x224x224, 1,000 classes" in r.stderr
    assert by_name["layer4"]["shape"] == [512, 7, 7] and by_name["fc"]["type"] == "Linear"
    assert by_name["layer1.0.conv1"]["parameters"] == 64 * 64 * 9
    leaves = [json.loads(line)["name"] for line in gantool(*ONE, "--json", "layers", "resnet18", "--leaves").text.splitlines()]
    assert "layer4" not in leaves and "layer4.1.conv2" in leaves
    table = gantool(*ONE, "layers", trained[0])
    assert table.code == 0 and "block2" in table.text and "features" in table.text and "head: head" in table.text
    gan = gantool(*ONE, "--json", "layers", tiny_gan)
    assert [json.loads(line)["name"] for line in gan.text.splitlines() if json.loads(line)["head"]] == ["head"]
    assert "2 classes" in gan.stderr
    one_line_error(gantool(*ONE, "layers", "resnet99"), "layers", 2)


@pytest.mark.parametrize("name", ["vgg16", "alexnet", "mobilenet_v3_small", "squeezenet1_1"])
def test_zoo_architectures_build_and_list_layers(name):
    clf = load_classifier(name)
    layers = clf.layers()
    assert clf.num_classes == 1000 and clf.input_size == 224 and clf.resize_size == 256
    assert layers and all(layer.shape is not None for layer in layers if layer.parameters)


# ---- the Classifier wrapper -------------------------------------------------------------------------------

def test_wrapper_takes_any_size_and_channels(trained):
    clf = load_classifier(str(trained[0]))
    assert clf.classes == [str(i) for i in range(10)] and not clf.training
    x = torch.rand(2, 1, 8, 8)
    assert clf(x).shape == (2, 10)
    assert torch.equal(clf.preprocess(x), clf.normalization.to_model(x))  # at the input size: untouched
    assert clf(torch.rand(2, 3, 30, 20)).shape == (2, 10)  # RGB, another size: luma, resize, crop
    assert clf(torch.rand(1, 8, 8)).shape == (1, 10)


def test_taps_are_exact_and_gradients_flow(resnet18_pth):
    clf = load_classifier("resnet18", weights=str(resnet18_pth))
    assert not any(getattr(m, "inplace", False) for m in clf.net.modules())
    x = torch.rand(2, 3, 224, 224, requires_grad=True)
    taken, logits = clf.activations(x, ["layer1.0.bn2", "layer4", "fc"])
    block = clf.net.layer1[0]
    with torch.no_grad():  # bn2's own output, recomputed: ResNet's `out += identity` must not have changed it
        h = clf.net.maxpool(clf.net.relu(clf.net.bn1(clf.net.conv1(clf.preprocess(x)))))
        expected = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(h)))))
    assert torch.allclose(taken["layer1.0.bn2"], expected, atol=1e-5)
    assert taken["layer4"].shape == (2, 512, 7, 7) and torch.equal(taken["fc"], logits)
    feats, _ = clf.activations(x, [clf.head], take="input")
    assert feats[clf.head].shape == (2, 512)  # the penultimate representation
    logits[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_image_chunks_match_load_images(tmp_path):
    from gantool.data.inputs import ImageChunks
    from gantool.data.inputs import load_images

    images, _ = digits(70)
    (tmp_path / "f" / "sub").mkdir(parents=True)
    for i in range(5):
        Image.fromarray(images[i]).save(tmp_path / "f" / "sub" / f"{i}.png")
    np.save(tmp_path / "b.npy", images)
    Image.fromarray(images[0]).save(tmp_path / "one.png")
    sources = [str(tmp_path / "f"), str(tmp_path / "b.npy"), str(tmp_path / "one.png")]
    whole, names = load_images(sources, 3, 16)
    chunks = ImageChunks(sources, chunk=32)
    assert chunks.total == 76
    got = list(chunks.read(3, 16))
    assert all(len(ns) <= 32 and len(x) == len(ns) for x, ns in got) and len(got) >= 3
    assert [n for _, ns in got for n in ns] == names
    assert torch.equal(torch.cat([x for x, _ in got]), whole)


def test_a_gantool_file_can_hold_a_zoo_model(gantool, tmp_path, batch):
    from gantool.files.modelfile import with_prefix
    from gantool.models.zoo import TorchvisionConfig, build

    torch.manual_seed(0)
    cfg = TorchvisionConfig("squeezenet1_1", num_classes=2)
    net = build(cfg)["classifier"]
    data = {"image_size": 64, "resize_size": 72, "channels": 3, "classes": ["cat", "dog"],
            "normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}
    path = tmp_path / "pets.safetensors"
    modelfile.save(path, "classifier", with_prefix(net.state_dict(), "classifier"), cfg.to_dict(), data, {})
    for args in (["-m", path], ["-m", "squeezenet1_1", "--weights", path]):
        r = gantool(*ONE, "--json", "classify", batch[0], *args)
        assert r.code == 0, r.stderr
        assert {t["class"] for t in json.loads(r.text.splitlines()[0])["top"]} == {"cat", "dog"}
    clf = load_classifier(str(path))
    assert (clf.input_size, clf.resize_size, clf.normalization.std) == (64, 72, (0.25, 0.25, 0.25))
    line = one_line_error(gantool(*ONE, "classify", batch[0], "-m", "resnet18", "--weights", path), "classify", 2)
    assert "squeezenet1_1" in line
    assert "torchvision squeezenet1_1, 2 classes" in gantool("info", path).text


def test_classify_many_images_in_chunks(trained, gantool, tmp_path):
    images, labels = digits(150)
    np.save(tmp_path / "many.npy", images)
    r = gantool(*ONE, "--json", "classify", tmp_path / "many.npy", "-m", trained[0], "-k", "1")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["image"] for row in rows] == [f"many[{i}]" for i in range(150)]
    assert (np.array([int(row["top"][0]["class"]) for row in rows]) == labels).mean() >= 0.9
    assert "classify 150/150" in r.stderr  # progress lines on a non-terminal stderr
