"""Training data: every source becomes one uint8 (N, C, H, W) tensor plus optional labels.

Sources: `digits` (scikit-learn's embedded 8x8 digits, the default), torchvision's `mnist`,
`fashion-mnist`, `cifar10`, `svhn` under `--data-root`, folders of images (class subfolders give
labels, a flat folder is unlabelled) and `.npy`/`.npz` arrays. Images are converted and resized
once, at load time; training batches are index gathers on the device. Which size a model wants is
the model's business: callers pass `image_size`, or `size_rule` (the data's own size -> the size to use).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from gantool.data.builtin import BUILTIN, EXPECTED_FILES
from gantool.errors import BadValue, GantoolError, flag
from gantool.files.images import image_is_gray, is_image_file, load_image
from gantool.files.reading import reading

@dataclass
class ImageData:
    images: "object"  # torch.Tensor, uint8 (N, C, H, W)
    labels: "object | None"  # torch.Tensor, int64 (N,), or None
    classes: list[str] = field(default_factory=list)
    name: str = ""

    @property
    def num_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.labels is not None else 0

    def fingerprint(self) -> str:
        """A short hash of the pixels and labels, so --resume can tell it is the same data."""
        h = hashlib.sha256(self.images.cpu().numpy().tobytes())
        if self.labels is not None:
            h.update(self.labels.cpu().numpy().tobytes())
        return h.hexdigest()[:16]


# unnamed labels 0..K-1 name their classes "0".."K-1" up to this K; sparser ones are remapped to
# the labels found (a class per distinct label, named by it), so nothing is allocated per integer
MAX_UNNAMED_CLASSES = 10_000


def default_data_root() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("GANTOOL_DATA_ROOT") or os.path.join(cache, "gantool", "data")


def load_data(source: str, *, root: str | None = None, download: bool = False, channels: int | None = None,
              image_size: int | None = None, size_rule: Callable[[int], int] | None = None) -> ImageData:
    """Load a data set by name or path, converted to `channels` and to `image_size` (or to
    `size_rule(its own size)`) when given."""
    if channels is not None and channels not in (1, 3):
        raise BadValue("channels", channels, "must be 1 or 3")
    source = source.strip()
    if source == "-":  # a data set is read more than once (channels, sizes) and kept whole: a file, not a pipe
        raise BadValue("data", source, "training data cannot come from stdin", "save it as a .npy/.npz file or a folder")
    if source == "digits":
        data = _digits()
    elif source in BUILTIN:
        data = _flat_idx(source, root) or _torchvision(source, root or default_data_root(), download)
    elif os.path.isdir(source):
        data = _folder(Path(source), channels, image_size, size_rule)
    elif os.path.isfile(source):
        if source.endswith((".npy", ".npz")):
            data = read_arrays(Path(source))
        else:
            raise GantoolError(f"cannot train on {source}", "give a folder of images or a .npy/.npz array file")
    else:
        raise GantoolError(
            f"no such data set or path: {source}",
            f"give one of {', '.join(BUILTIN)}, a folder of images or a .npy/.npz file",
        )
    if image_size is None and size_rule is not None:
        image_size = size_rule(data.image_size)
    return fit(data, channels=channels, image_size=image_size)


def fit(data: ImageData, channels: int | None = None, image_size: int | None = None) -> ImageData:
    """Convert channels and centre-crop/resize to a square `image_size`, in chunks, once."""
    import torch
    from torchvision.transforms.v2 import functional as TF

    images = data.images
    if channels is not None and channels != images.shape[1]:
        images = TF.grayscale_to_rgb(images) if channels == 3 else TF.rgb_to_grayscale(images)
    h, w = images.shape[-2:]
    if image_size is not None and (h != image_size or w != image_size):
        out = []
        for chunk in images.split(4096):
            if h != w:
                chunk = TF.center_crop(chunk, [min(h, w)] * 2)
            out.append(TF.resize(chunk, [image_size, image_size], antialias=True))
        images = torch.cat(out)
    return ImageData(images.contiguous(), data.labels, data.classes, data.name)


def _digits() -> ImageData:
    import torch
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # values are 0..16
    return ImageData(
        torch.from_numpy(pixels[:, None]),
        torch.from_numpy(bunch.target.astype(np.int64)),
        [str(c) for c in bunch.target_names],
        "digits",
    )


SYSTEM_ROOT = "/usr/share/datasets"  # Debian's dataset-* packages: /usr/share/datasets/<name>/*.gz
_IDX_CLASSES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
}


def _flat_idx(name: str, root: str | None) -> ImageData | None:
    """MNIST-style IDX files lying flat in a folder (.gz or not), as Debian's dataset-fashion-mnist
    installs them: in --data-root itself, or, with no --data-root, in /usr/share/datasets/<name>
    when the default root has no torchvision copy. None where there are none (torchvision's
    layout is tried next)."""
    if name not in _IDX_CLASSES:
        return None
    if root:
        dirs = [Path(root)]
    else:
        default = Path(default_data_root())
        sub, files, _ = EXPECTED_FILES[name]
        torchvision_copy = (default / sub / files[0]).is_file() or (default / sub / f"{files[0]}.gz").is_file()
        dirs = [default] + ([] if torchvision_copy else [Path(SYSTEM_ROOT) / name])
    for d in dirs:
        found = [_idx_file(d, stem) for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")]
        if all(found):
            images, labels = (_read_idx(f) for f in found)
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise GantoolError(f"cannot read the {name} files in {d} (images {images.shape}, labels {labels.shape})",
                                   "they look damaged: replace them")
            import torch

            return ImageData(torch.from_numpy(images[:, None].copy()), torch.from_numpy(labels.astype(np.int64)),
                             list(_IDX_CLASSES[name]), name)
    return None


def _idx_file(folder: Path, stem: str) -> Path | None:
    for f in (folder / stem, folder / f"{stem}.gz"):
        if f.is_file():
            return f
    return None


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (LeCun's MNIST format): magic 0x0000080D, D big-endian sizes, the data."""
    import gzip

    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read()
        magic = int.from_bytes(raw[:4], "big")
        dims = magic & 0xFF
        if magic >> 8 != 0x08 or not 1 <= dims <= 3:
            raise ValueError(f"bad magic number {magic:#x}")
        shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
        data = np.frombuffer(raw, np.uint8, offset=4 + 4 * dims)
        if data.size != int(np.prod(shape)):
            raise ValueError(f"{data.size} bytes of data for shape {shape}")
        return data.reshape(shape)
    except (OSError, EOFError, ValueError) as e:
        raise GantoolError(f"cannot read {path} ({_one_line(e, first=True)})", "it looks damaged: replace it") from None


def _torchvision(name: str, root: str, download: bool) -> ImageData:
    import torch
    from torchvision import datasets

    make = {
        "mnist": lambda: datasets.MNIST(root, train=True, download=download),
        "fashion-mnist": lambda: datasets.FashionMNIST(root, train=True, download=download),
        "cifar10": lambda: datasets.CIFAR10(root, train=True, download=download),
        "svhn": lambda: datasets.SVHN(root, split="train", download=download),
    }[name]
    quiet = io.StringIO()  # torchvision prints each download attempt; the user gets one line
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            ds = make()
    except Exception as e:
        sub, files, note = EXPECTED_FILES[name]
        where = os.path.normpath(os.path.join(root, sub))
        # torchvision says "Dataset not found ... download=True" for missing files; anything else
        # (a bad magic number, a short file) means the files are there but damaged
        missing = isinstance(e, RuntimeError) and ("not found" in str(e) or "download=True" in str(e))
        if not missing and not (download and isinstance(e, (RuntimeError, OSError, ValueError))):
            detail = f"{type(e).__name__}: {_one_line(e, first=True)}" if str(e).strip() else type(e).__name__
            raise GantoolError(f"cannot read the {name} files in {where} ({detail})",
                               f"they look damaged: replace them, or delete them and use {flag('download')}") from None
        tried = f" (download failed: {_one_line(e, first=False)})" if download else ""
        raise GantoolError(
            f"{name} files not found under {root}{tried}",
            f"put {', '.join(files)} {note} in {where}, set {flag('data_root')}, or try {flag('download')}".replace("  ", " "),
        ) from None
    if name in ("mnist", "fashion-mnist"):
        images, labels = ds.data.unsqueeze(1), ds.targets
    elif name == "cifar10":
        images, labels = torch.from_numpy(ds.data).permute(0, 3, 1, 2), torch.tensor(ds.targets)
    else:
        images, labels = torch.from_numpy(ds.data), torch.from_numpy(ds.labels.astype(np.int64))
    classes = list(getattr(ds, "classes", [])) or [str(i) for i in range(10)]
    return ImageData(images.contiguous(), labels.long(), classes, name)


def _one_line(e: Exception, first: bool) -> str:
    """One line of a many-line message: the first, or the last (where torchvision puts the cause)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [type(e).__name__]
    return lines[0] if first else lines[-1]


def _folder(root: Path, channels: int | None, image_size: int | None,
            size_rule: Callable[[int], int] | None) -> ImageData:
    import torch

    with reading(root, "folder"):
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        labelled = [(d.name, sorted(f for f in d.rglob("*") if f.is_file() and is_image_file(f))) for d in subdirs]
        labelled = [(name, files) for name, files in labelled if files]
        if labelled:
            classes = [name for name, _ in labelled]
            files = [f for _, fs in labelled for f in fs]
            labels = [i for i, (_, fs) in enumerate(labelled) for _ in fs]
        else:
            classes, labels = [], None
            files = sorted(f for f in root.iterdir() if f.is_file() and is_image_file(f))
    if not files:
        raise GantoolError(f"no images in {root}", "expected .png/.jpg/... files, or class subfolders holding them")
    if channels is None:
        channels = 1 if all(image_is_gray(f) for f in files) else 3
    if image_size is None and size_rule is not None:
        from gantool.files.images import image_size_of

        image_size = size_rule(min(image_size_of(files[0])))
    images = [load_image(f, channels, image_size) for f in files]
    if image_size is None and (odd := next((i for i, im in enumerate(images) if im.shape != images[0].shape), None)):
        (h, w), (h2, w2) = images[0].shape[1:], images[odd].shape[1:]
        raise GantoolError(f"{files[0]} is {w}x{h} but {files[odd]} is {w2}x{h2}: the images of one data set "
                           "share a size", "resize them to one size, or give the size to train at")
    images = np.stack(images)
    return ImageData(
        torch.from_numpy(images),
        torch.tensor(labels, dtype=torch.int64) if labels is not None else None,
        classes,
        str(root),
    )


def read_arrays(path, name: str | None = None) -> ImageData:
    """`.npy` of images, or `.npz` with `images` and optional `labels` and `classes` (a path, or a
    binary stream called `name`)."""
    import torch

    source, path = path, name or path
    try:
        loaded = np.load(source, allow_pickle=False)
    except Exception as e:
        raise GantoolError(f"cannot read {path}: {e}") from None
    labels = classes = None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if "images" not in loaded.files:
                raise GantoolError(f"{path} has no 'images' array", f"it holds {', '.join(loaded.files) or 'nothing'}")
            try:
                images = loaded["images"]
                labels = loaded["labels"] if "labels" in loaded.files else None
                classes = [str(c) for c in loaded["classes"]] if "classes" in loaded.files else None
            except ValueError:
                raise GantoolError(f"{path} holds Python objects", "save plain numeric arrays") from None
    else:
        images = loaded
    images = _as_nchw(images, path)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise GantoolError(f"{path}: 'labels' must be {images.shape[0]} non-negative integers")
        n = int(labels.max()) + 1
        if classes is None and n > MAX_UNNAMED_CLASSES:  # labels 3 and 10**12: two classes, not 10**12
            found, labels = np.unique(labels, return_inverse=True)
            classes, n = [str(int(v)) for v in found], len(found)
        elif classes is None:
            classes = [str(i) for i in range(n)]
        elif len(classes) < n:
            raise GantoolError(f"{path}: labels go up to {n - 1} but only {len(classes)} classes are named")
        labels = torch.from_numpy(labels.astype(np.int64))
    return ImageData(torch.from_numpy(images), labels, classes or [], str(path))


def _as_nchw(images: np.ndarray, path: Path) -> np.ndarray:
    if images.dtype.kind not in "uif" or images.dtype == np.bool_:
        raise GantoolError(f"{path}: images have dtype {images.dtype}", "use uint8 0..255 or floats in [0, 1]")
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    elif not (images.ndim == 4 and images.shape[1] in (1, 3)):
        raise GantoolError(f"{path}: images have shape {images.shape}", "expected (N, H, W), (N, H, W, C) or (N, C, H, W) with C 1 or 3")
    if images.shape[0] == 0:
        raise GantoolError(f"{path} holds no images")
    if images.dtype.kind == "f":
        if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise GantoolError(f"{path}: float images must lie in [0, 1]", "or give uint8 0..255")
        images = np.round(images * 255)
    elif images.min() < 0 or images.max() > 255:
        raise GantoolError(f"{path}: integer images must lie in 0..255")
    return np.ascontiguousarray(images.astype(np.uint8))
