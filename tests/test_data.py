"""Training data sources (gantool/data.py): the embedded digits, .npy/.npz arrays, folders of images
and torchvision's MNIST files, at library level and through `gantool train`."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, one_line_error
from gantool.data.sources import load_data
from gantool.models.dcgan_config import size_for
from gantool.errors import GantoolError

STEPS = ["--steps", "2", "--seed", "0"]




def info_json(gantool, model: Path) -> dict:
    r = gantool("info", "--json", model)
    assert r.code == 0, r.stderr
    return json.loads(r.stdout)


def train_ok(gantool, tmp_path: Path, *args) -> dict:
    """Train a tiny model for 2 steps; return its `info --json`."""
    out = tmp_path / "run"
    r = gantool("train", "--out", out, *STEPS, *TINY, *args)
    assert r.code == 0, r.stderr
    assert r.text.strip() == str(out / "model.safetensors")
    return info_json(gantool, out / "model.safetensors")


def save_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


# ---- digits ---------------------------------------------------------------------------------------

def test_digits_library():
    d = load_data("digits", image_size=8)  # its own 8x8
    assert tuple(d.images.shape) == (1797, 1, 8, 8)
    assert str(d.images.dtype) == "torch.uint8"
    assert d.num_classes == 10 and d.classes == [str(i) for i in range(10)]
    assert tuple(d.labels.shape) == (1797,) and set(d.labels.tolist()) == set(range(10))
    assert int(d.images.max()) == 255 and int(d.images.min()) == 0  # 0..16 scaled to the full range


def test_digits_default_size_and_resize():
    assert tuple(load_data("digits").images.shape) == (1797, 1, 8, 8)  # the data's own size: sizes are the model's
    # the DCGAN's size rule: 8 is too small, the next size up, >= 28
    assert tuple(load_data("digits", size_rule=size_for).images.shape) == (1797, 1, 28, 28)
    d = load_data("digits", image_size=16, channels=3)
    assert tuple(d.images.shape) == (1797, 3, 16, 16)
    assert str(d.images.dtype) == "torch.uint8"
    assert (d.images[:, 0] == d.images[:, 1]).all() and (d.images[:, 1] == d.images[:, 2]).all()


# ---- .npy and .npz --------------------------------------------------------------------------------

def _nchw(n: int = 6, c: int = 3, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, c, size, size), dtype=np.uint8)


LAYOUTS = {
    "NHW": (lambda a: a[:, 0], 1),
    "NHW1": (lambda a: a[:, 0, :, :, None], 1),
    "NHWC": (lambda a: a.transpose(0, 2, 3, 1), 3),
    "NCHW": (lambda a: a, 3),
    "N1HW": (lambda a: a[:, :1], 1),
}


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_npy_layouts(tmp_path, layout, dtype):
    convert, channels = LAYOUTS[layout]
    ref = _nchw()[:, :channels]
    array = convert(_nchw())
    if dtype == "float32":
        array = array.astype(np.float32) / 255.0
    path = tmp_path / "images.npy"
    np.save(path, array)
    d = load_data(str(path), image_size=16)
    assert tuple(d.images.shape) == (6, channels, 16, 16)
    assert str(d.images.dtype) == "torch.uint8"
    np.testing.assert_array_equal(d.images.numpy(), ref)
    assert d.labels is None and d.num_classes == 0


def test_npy_resized_and_centre_cropped(tmp_path):
    # 8 high, 24 wide: a white 8x8 centre between black sides; a square crop keeps only the centre
    a = np.zeros((4, 8, 24), dtype=np.uint8)
    a[:, :, 8:16] = 255
    np.save(tmp_path / "wide.npy", a)
    d = load_data(str(tmp_path / "wide.npy"), image_size=16)
    assert tuple(d.images.shape) == (4, 1, 16, 16)
    assert float(d.images.float().mean()) > 0.8 * 255  # squashing instead of cropping would give ~85


def test_npy_trains(gantool, tmp_path):
    np.save(tmp_path / "x.npy", _nchw(n=40, c=3).transpose(0, 2, 3, 1))  # NHWC uint8
    info = train_ok(gantool, tmp_path, "--data", tmp_path / "x.npy")
    assert info["config"]["channels"] == 3 and info["config"]["image_size"] == 16
    assert info["data"]["num_images"] == 40


def test_npy_float_out_of_range(gantool, tmp_path):
    np.save(tmp_path / "x.npy", np.full((4, 16, 16), 2.0, dtype=np.float32))
    with pytest.raises(GantoolError, match=r"\[0, 1\]"):
        load_data(str(tmp_path / "x.npy"))
    line = one_line_error(gantool("train", "--data", tmp_path / "x.npy", "--out", tmp_path / "run", *STEPS, *TINY), "train")
    assert "[0, 1]" in line


def test_npy_bad_shape(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 5, 16, 16), dtype=np.uint8))
    with pytest.raises(GantoolError, match="shape"):
        load_data(str(tmp_path / "x.npy"))


def test_npy_of_python_objects_is_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "x.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(GantoolError):
        load_data(str(tmp_path / "x.npy"))


def test_npz_labels_and_classes_train_conditional(gantool, tmp_path):
    images = _nchw(n=30, c=1)[:, 0]
    labels = np.arange(30) % 3
    np.savez(tmp_path / "set.npz", images=images, labels=labels, classes=np.array(["cat", "dog", "eel"]))
    d = load_data(str(tmp_path / "set.npz"), image_size=16)
    assert tuple(d.images.shape) == (30, 1, 16, 16)
    assert d.classes == ["cat", "dog", "eel"] and d.labels.tolist() == labels.tolist()

    info = train_ok(gantool, tmp_path, "--data", tmp_path / "set.npz", "--conditional")
    assert info["config"]["num_classes"] == 3
    assert info["data"]["classes"] == ["cat", "dog", "eel"]
    # the class names travel with the model: sample picks a class by name
    r = gantool("sample", "-m", tmp_path / "run" / "model.safetensors", "-n", "2", "--class", "dog",
                "--latents", tmp_path / "z.npy", "-q")
    assert r.code == 0, r.stderr
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (2, 8 + 3)
    np.testing.assert_array_equal(z[:, 8:], [[0, 1, 0], [0, 1, 0]])


def test_npz_without_classes_names_them_by_index(tmp_path):
    np.savez(tmp_path / "set.npz", images=_nchw(n=4, c=1), labels=np.array([0, 1, 1, 0]))
    d = load_data(str(tmp_path / "set.npz"), image_size=16)
    assert d.classes == ["0", "1"] and d.num_classes == 2


def test_npz_without_images(gantool, tmp_path):
    np.savez(tmp_path / "set.npz", pictures=_nchw(n=4))
    line = one_line_error(gantool("train", "--data", tmp_path / "set.npz", "--out", tmp_path / "run", *STEPS, *TINY), "train")
    assert "images" in line and "pictures" in line


def test_npz_bad_labels(tmp_path):
    np.savez(tmp_path / "set.npz", images=_nchw(n=4), labels=np.array([0, 1]))
    with pytest.raises(GantoolError, match="labels"):
        load_data(str(tmp_path / "set.npz"))


# ---- folders of images ----------------------------------------------------------------------------

def _class_folder(root: Path, rgb: bool, per_class: int = 4, size=(12, 12)) -> Path:
    rng = np.random.default_rng(1)
    for name in ("ants", "bees"):
        for i in range(per_class):
            shape = (size[1], size[0], 3) if rgb else (size[1], size[0])
            save_png(root / name / f"{i}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    return root


@pytest.mark.parametrize("rgb", [False, True], ids=["gray", "rgb"])
def test_class_folders_give_labels(tmp_path, rgb):
    root = _class_folder(tmp_path / "set", rgb)
    (root / "notes.txt").write_text("not an image")
    d = load_data(str(root), image_size=16)
    assert d.classes == ["ants", "bees"]
    assert d.labels.tolist() == [0] * 4 + [1] * 4
    assert tuple(d.images.shape) == (8, 3 if rgb else 1, 16, 16)
    assert str(d.images.dtype) == "torch.uint8"


def test_class_folders_train_conditional(gantool, tmp_path):
    root = _class_folder(tmp_path / "set", rgb=True, per_class=6)
    info = train_ok(gantool, tmp_path, "--data", root, "--conditional")
    assert info["config"]["num_classes"] == 2 and info["config"]["channels"] == 3
    assert info["data"]["classes"] == ["ants", "bees"]
    assert info["data"]["num_images"] == 12


def test_mixed_gray_and_rgb_become_rgb(tmp_path):
    save_png(tmp_path / "set" / "a.png", np.zeros((16, 16), dtype=np.uint8))
    save_png(tmp_path / "set" / "b.png", np.zeros((16, 16, 3), dtype=np.uint8))
    assert load_data(str(tmp_path / "set")).channels == 3


def test_non_square_images_are_centre_cropped(tmp_path):
    a = np.zeros((10, 30), dtype=np.uint8)  # 30 wide, 10 high: only the middle 10 columns are white
    a[:, 10:20] = 255
    save_png(tmp_path / "set" / "wide.png", a)
    b = np.zeros((30, 10, 3), dtype=np.uint8)  # 10 wide, 30 high, RGB
    b[10:20] = 255
    save_png(tmp_path / "set" / "tall.png", b)
    d = load_data(str(tmp_path / "set"), image_size=16, channels=1)
    assert tuple(d.images.shape) == (2, 1, 16, 16)
    assert float(d.images.float().mean()) > 0.8 * 255
    assert int(d.images[:, :, 4:12, 4:12].min()) == 255


def test_folder_channels_conversion(tmp_path):
    rng = np.random.default_rng(0)
    save_png(tmp_path / "gray" / "a.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
    save_png(tmp_path / "rgb" / "a.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    g3 = load_data(str(tmp_path / "gray"), channels=3, image_size=16).images
    assert tuple(g3.shape) == (1, 3, 16, 16) and (g3[:, 0] == g3[:, 2]).all()
    assert tuple(load_data(str(tmp_path / "rgb"), channels=1, image_size=16).images.shape) == (1, 1, 16, 16)
    assert tuple(load_data(str(tmp_path / "rgb"), image_size=32).images.shape) == (1, 3, 32, 32)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    ramp = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)  # 0..65535
    save_png(tmp_path / "set" / "deep.png", ramp)
    d = load_data(str(tmp_path / "set"), image_size=16)
    assert d.channels == 1
    np.testing.assert_array_equal(d.images[0, 0].numpy(), np.arange(256, dtype=np.uint8).reshape(16, 16))


def test_folder_default_size_is_supported(tmp_path):
    save_png(tmp_path / "set" / "a.png", np.zeros((20, 20), dtype=np.uint8))
    assert load_data(str(tmp_path / "set")).image_size == 20  # the data's own
    assert load_data(str(tmp_path / "set"), size_rule=size_for).image_size == 28  # 20 is no DCGAN size: the next one up


def test_flat_folder_is_unlabelled_and_cannot_train_conditional(gantool, tmp_path):
    rng = np.random.default_rng(2)
    for i in range(5):
        save_png(tmp_path / "flat" / f"{i}.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
    d = load_data(str(tmp_path / "flat"))
    assert d.labels is None and d.num_classes == 0 and d.num_images == 5

    r = gantool("train", "--data", tmp_path / "flat", "--conditional", "--out", tmp_path / "run", *STEPS, *TINY)
    line = one_line_error(r, "train", code=2)  # --conditional contradicts the data: a usage error
    assert "--conditional" in line and "class" in line
    assert not (tmp_path / "run").exists()  # the run folder it made is gone again
    info = train_ok(gantool, tmp_path, "--data", tmp_path / "flat")  # unconditional is fine
    assert info["config"]["num_classes"] == 0


# ---- torchvision's MNIST files --------------------------------------------------------------------

def write_idx(raw: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """MNIST's idx format: big-endian magic 0x803 (ubyte, 3 dims) / 0x801 (ubyte, 1 dim), sizes, bytes."""
    raw.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, h, w) + images.tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())


def fake_mnist(root: Path, n: int = 40, test_files: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    write_idx(root / "MNIST" / "raw", "train", images, labels)
    if test_files:  # torchvision checks that the test set is there too
        write_idx(root / "MNIST" / "raw", "t10k", images[:5], labels[:5])
    return images, labels


def test_mnist_files_library(tmp_path):
    images, labels = fake_mnist(tmp_path / "root")
    d = load_data("mnist", root=str(tmp_path / "root"))
    assert tuple(d.images.shape) == (40, 1, 28, 28)
    assert str(d.images.dtype) == "torch.uint8"
    np.testing.assert_array_equal(d.images[:, 0].numpy(), images)
    assert d.labels.tolist() == labels.tolist()
    assert d.num_classes == 10


def test_flat_gz_idx_layout_is_read(gantool, tmp_path, monkeypatch):
    """Debian's dataset-fashion-mnist layout: the .gz IDX files flat in one folder."""
    import gzip

    flat = tmp_path / "flat"
    write_idx(flat, "train", *(a for a in fake_mnist(tmp_path / "tv")))
    for f in flat.iterdir():
        f.with_name(f.name + ".gz").write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    d = load_data("fashion-mnist", root=str(flat))
    assert tuple(d.images.shape) == (40, 1, 28, 28) and d.classes[0] == "T-shirt/top"
    info = train_ok(gantool, tmp_path, "--data", "fashion-mnist", "--data-root", flat)
    assert info["data"]["num_images"] == 40
    (flat / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + bytes(20)))
    r = gantool("train", "--data", "fashion-mnist", "--data-root", flat, "--out", tmp_path / "run2", *STEPS, *TINY)
    assert "train-images-idx3-ubyte.gz" in one_line_error(r, "train")


def test_mnist_trains_from_data_root(gantool, tmp_path):
    fake_mnist(tmp_path / "root")
    info = train_ok(gantool, tmp_path, "--data", "mnist", "--data-root", tmp_path / "root")
    assert info["data"]["name"] == "mnist" and info["data"]["num_images"] == 40


def test_mnist_default_root_is_gantool_data_root(gantool, tmp_path, monkeypatch):
    monkeypatch.setenv("GANTOOL_DATA_ROOT", str(tmp_path / "env-root"))
    fake_mnist(tmp_path / "env-root")
    assert load_data("mnist").num_images == 40


@pytest.mark.parametrize("name,expected", [
    ("mnist", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "MNIST/raw"]),
    ("fashion-mnist", ["train-images-idx3-ubyte", "FashionMNIST/raw"]),
    ("cifar10", ["cifar-10-batches-py", "data_batch_1", "test_batch"]),
])
def test_missing_builtin_says_which_files_where(gantool, tmp_path, name, expected):
    root = tmp_path / "empty-root"
    r = gantool("train", "--data", name, "--data-root", root, "--out", tmp_path / "run", *STEPS, *TINY)
    line = one_line_error(r, "train")
    assert str(root) in line
    for word in expected:
        assert word in line
    assert "--download" in line
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_mnist_without_test_files_names_them(gantool, tmp_path):
    fake_mnist(tmp_path / "root", test_files=False)
    r = gantool("train", "--data", "mnist", "--data-root", tmp_path / "root", "--out", tmp_path / "run", *STEPS, *TINY)
    assert "t10k-images-idx3-ubyte" in one_line_error(r, "train")


@pytest.mark.parametrize("damage", ["truncated", "bad-magic"])
def test_damaged_mnist_is_not_reported_missing(gantool, tmp_path, damage):
    fake_mnist(tmp_path / "root")
    f = tmp_path / "root" / "MNIST" / "raw" / "train-images-idx3-ubyte"
    data = f.read_bytes()
    f.write_bytes(data[:1000] if damage == "truncated" else struct.pack(">I", 0x999) + data[4:])
    r = gantool("train", "--data", "mnist", "--data-root", tmp_path / "root", "--out", tmp_path / "run", *STEPS, *TINY)
    line = one_line_error(r, "train")
    assert "damaged" in line and str(tmp_path / "root" / "MNIST" / "raw") in line
    assert "not found" not in line
