"""The real data sets that install offline, as labelled .npz files gantool reads (`--data FILE.npz`,
or images to `restore`, `saliency`, ...): one place that reads them for the benches and for
docs/pictures.sh.

- fashion-train, fashion-test: Fashion-MNIST's IDX files from Debian's dataset-fashion-mnist
  (/usr/share/datasets/fashion-mnist): 60,000 and 10,000 28x28 images, 10 classes.
- digits-train, digits-test: OpenCV's digits.png from Debian's opencv-doc (5,000 real handwritten
  20x20 digits, a 2000x1000 sheet of 50 rows of 100, 5 rows per class): each row's first 80 digits
  train, its last 20 test (4,000 and 1,000, 400 and 100 a class), so the two never share a digit.
- digits-all: the whole sheet (5,000).

    python bench/real_data.py NAME OUT.npz [--first N] [--per-class K]

An .npz holds `images` uint8 (N, 1, H, W), `labels` int64 (N,) and `classes`.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

FASHION = Path("/usr/share/datasets/fashion-mnist")
OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def idx_images(path: Path) -> np.ndarray:
    """An IDX file of 28x28 images (gzip) -> uint8 (N, 1, H, W)."""
    with gzip.open(path) as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, h, w)


def idx_labels(path: Path) -> np.ndarray:
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)


def fashion(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's `train` or `test` split: (images uint8 (N, 1, 28, 28), labels)."""
    prefix = "train" if split == "train" else "t10k"
    images = FASHION / f"{prefix}-images-idx3-ubyte.gz"
    if not images.exists():
        raise SystemExit(f"no {images}: apt-get install dataset-fashion-mnist")
    return idx_images(images), idx_labels(FASHION / f"{prefix}-labels-idx1-ubyte.gz")


def opencv_digits(split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's digits.png: (images uint8 (N, 1, 20, 20), labels), `train`, `test` or `all`."""
    from PIL import Image

    sheet = OPENCV / "digits.png"
    if not sheet.exists():
        raise SystemExit(f"no {sheet}: apt-get install opencv-doc")
    page = np.array(Image.open(sheet).convert("L"))
    rows, cols = page.shape[0] // 20, page.shape[1] // 20
    grid = page[:rows * 20, :cols * 20].reshape(rows, 20, cols, 20).transpose(0, 2, 1, 3)  # (row, col, 20, 20)
    labels = np.repeat(np.arange(rows) // (rows // 10), cols).reshape(rows, cols)
    keep = {"all": slice(None), "train": slice(0, cols - cols // 5), "test": slice(cols - cols // 5, None)}[split]
    images = grid[:, keep].reshape(-1, 1, 20, 20)
    return np.ascontiguousarray(images), labels[:, keep].reshape(-1).astype(np.int64)


def write_npz(out: Path, images: np.ndarray, labels: np.ndarray, classes: list[str]) -> Path:
    np.savez(out, images=images, labels=labels, classes=np.array(classes))
    return out


SETS = {
    "fashion-train": lambda: (*fashion("train"), FASHION_CLASSES),
    "fashion-test": lambda: (*fashion("test"), FASHION_CLASSES),
    "digits-train": lambda: (*opencv_digits("train"), [str(i) for i in range(10)]),
    "digits-test": lambda: (*opencv_digits("test"), [str(i) for i in range(10)]),
    "digits-all": lambda: (*opencv_digits("all"), [str(i) for i in range(10)]),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", choices=sorted(SETS))
    p.add_argument("out", type=Path)
    p.add_argument("--first", type=int, default=0, help="keep only the first N images (0: all)")
    p.add_argument("--per-class", type=int, default=0, help="keep only the first K images of each class, class by "
                   "class (0: all)")
    args = p.parse_args()
    images, labels, classes = SETS[args.name]()
    if args.per_class:
        keep = np.concatenate([np.flatnonzero(labels == c)[:args.per_class] for c in range(len(classes))])
        images, labels = images[keep], labels[keep]
    if args.first:
        images, labels = images[:args.first], labels[:args.first]
    write_npz(args.out, images, labels, classes)
    print(f"wrote {args.out}: {len(images)} images of {images.shape[-1]}x{images.shape[-2]}")


if __name__ == "__main__":
    main()
