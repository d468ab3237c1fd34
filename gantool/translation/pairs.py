"""Training pairs for pix2pix, as uint8 tensors at the load size, and their batches.

Layouts (`load_pairs`):
- paired folders: `A/` and `B/` holding the same file names (an image each side);
- side-by-side AB images (the public pix2pix sets: A on the left half, B on the right);
- either one inside `train/`, with `val/` (or `test/`) beside it for the fixed held-out grid;
- derived pairs (`colorize`, `restore`): any image source `gantool train` takes; only the clean
  image is stored, and the pair is made per batch on the device (L and a*b*; the damage).

Every image is resized to a load x load square once (as the reference's resize-and-crop); a batch
is an index gather, a random crop and a flip per pair, drawn from the trainer's generator, the same
for both sides. Nothing is decoded per step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from gantool.errors import BadValue, GantoolError
from gantool.files.images import image_is_gray, image_size_of, is_image_file, load_image
from gantool.files.reading import reading

MAX_HELD_OUT = 8


@dataclass
class PairData:
    a: torch.Tensor  # uint8 (N, Ca, load, load): the generator's side
    b: torch.Tensor | None  # uint8 (N, Cb, load, load), the target; None for derived pairs
    held_a: torch.Tensor  # the fixed held-out pairs of the grids (at most MAX_HELD_OUT)
    held_b: torch.Tensor | None
    name: str
    held_out: bool  # False: too few pairs to hold any out; the grid shows training pairs

    @property
    def num_pairs(self) -> int:
        return int(self.a.shape[0])

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.a.cpu().numpy().tobytes())
        if self.b is not None:
            h.update(self.b.cpu().numpy().tobytes())
        return h.hexdigest()[:16]


def _files(folder: Path) -> list[Path]:
    with reading(folder, "folder"):
        return sorted(f for f in folder.iterdir() if f.is_file() and is_image_file(f))


def _channels(files: list[Path]) -> int:
    return 1 if all(image_is_gray(f) for f in files) else 3


def _ab_folders(folder: Path, load: int) -> tuple[torch.Tensor, torch.Tensor]:
    a_files, b_files = _files(folder / "A"), _files(folder / "B")
    names_a, names_b = {f.name for f in a_files}, {f.name for f in b_files}
    if names_a != names_b:
        side, name = ("B", min(names_a - names_b)) if names_a - names_b else ("A", min(names_b - names_a))
        raise GantoolError(f"{folder}: {'A' if side == 'B' else 'B'}/{name} has no partner in {side}/",
                           "paired folders hold the same file names")
    if not a_files:
        raise GantoolError(f"no images in {folder / 'A'}", "paired folders A/ and B/ hold the same file names")
    for fa, fb in zip(a_files, b_files):
        if image_size_of(fa) != image_size_of(fb):
            (wa, ha), (wb, hb) = image_size_of(fa), image_size_of(fb)
            raise GantoolError(f"{fa} is {wa}x{ha} but {fb} is {wb}x{hb}", "the two images of a pair share a size")
    ca, cb = _channels(a_files), _channels(b_files)
    return (torch.from_numpy(_stack([load_image(f, ca, None) for f in a_files], load)),
            torch.from_numpy(_stack([load_image(f, cb, None) for f in b_files], load)))


def _stack(images: list, load: int):
    """Images (C, H, W) uint8 of any sizes -> one (N, C, load, load) array (squashed, as the reference)."""
    import numpy as np
    from torchvision.transforms.v2 import functional as TF

    return np.stack([TF.resize(torch.from_numpy(im), [load, load], antialias=True).numpy() for im in images])


def _ab_images(folder: Path, load: int) -> tuple[torch.Tensor, torch.Tensor]:
    files = _files(folder)
    if not files:
        raise GantoolError(f"no images in {folder}", "give A/ and B/ folders, or side-by-side AB images")
    channels = _channels(files)
    a, b = [], []
    for f in files:
        im = load_image(f, channels, None)
        w = im.shape[-1]
        if w % 2 or w < 8:
            raise GantoolError(f"{f} is {w} pixels wide: not a side-by-side AB image",
                               "AB images hold A on the left half and B on the right, of one width each")
        a.append(im[..., : w // 2])
        b.append(im[..., w // 2:])
    return torch.from_numpy(_stack(a, load)), torch.from_numpy(_stack(b, load))


def _paired(folder: Path, load: int) -> tuple[torch.Tensor, torch.Tensor]:
    if (folder / "A").is_dir() and (folder / "B").is_dir():
        return _ab_folders(folder, load)
    return _ab_images(folder, load)


def first_side(source: str, task: str) -> int:
    """The shorter side of the data's first image (what the default crop follows); 0 when unknown."""
    path = Path(source)
    if task == "paired" and path.is_dir():
        root = path / "train" if (path / "train").is_dir() else path
        first = next(iter(_files(root / "A") if (root / "A").is_dir() else _files(root)), None)
        if first is None:
            return 0
        w, h = image_size_of(first)
        return min(h, w if (root / "A").is_dir() else w // 2)
    return 0


def _held_out(n: int, seed: int) -> torch.Tensor:
    k = min(MAX_HELD_OUT, n // 10)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + 7))[:k]


def load_pairs(source: str | None, task: str, direction: str, load: int, seed: int, *, root: str | None = None,
               download: bool = False, size_rule=None) -> PairData:
    """The training pairs at load x load. `size_rule(first side) -> load` for derived sources whose
    size is only known once read (the load size is then the rule's)."""
    if source is None:
        raise BadValue("data", None, "no training data given")
    if task == "paired":
        path = Path(source)
        if not path.is_dir():
            raise BadValue("data", source, "paired data is a folder (A/ and B/, or AB images)",
                           "for colorization or restoration of any image source give {task}")
        train = path / "train" if (path / "train").is_dir() else path
        a, b = _paired(train, load)
        held = next((path / s for s in ("val", "test") if train != path and (path / s).is_dir()), None)
        if held is not None:
            ha, hb = _paired(held, load)
            ha, hb = ha[:MAX_HELD_OUT], hb[:MAX_HELD_OUT]
        else:
            idx = _held_out(a.shape[0], seed)
            keep = torch.ones(a.shape[0], dtype=torch.bool)
            keep[idx] = False
            ha, hb, a, b = a[idx], b[idx], a[keep], b[keep]
        if direction == "b2a":
            a, b, ha, hb = b, a, hb, ha
        if not len(ha):
            ha, hb = a[:MAX_HELD_OUT], b[:MAX_HELD_OUT]
        return PairData(a.contiguous(), b.contiguous(), ha, hb, str(source), held is not None or len(a) >= 10)
    from gantool.data.sources import load_data

    data = load_data(source, root=root, download=download, image_size=None if size_rule else load,
                     size_rule=size_rule)
    if task == "colorize" and data.channels != 3:
        raise BadValue("data", source, "is grayscale: colorization learns from colour images")
    images = data.images
    if images.shape[-2:] != (load, load) and size_rule is None:
        raise GantoolError(f"{source} did not load at {load}x{load}")
    idx = _held_out(images.shape[0], seed)
    keep = torch.ones(images.shape[0], dtype=torch.bool)
    keep[idx] = False
    held, train = images[idx], images[keep]
    if not len(held):
        held = train[:MAX_HELD_OUT]
    return PairData(train.contiguous(), None, held, None, data.name, len(idx) > 0)


class PairBatches:
    """Batch b of the run: a slice of epoch b // per_epoch's permutation (seeded by (seed, epoch)),
    each pair cropped at a random place and flipped at random by `noise` (the trainer's generator)."""

    def __init__(self, pairs: PairData, batch_size: int, crop: int, seed: int, device, random_crop: bool, flip: bool):
        self.a = pairs.a.to(device)
        self.b = pairs.b.to(device) if pairs.b is not None else None
        self.n = pairs.num_pairs
        self.batch_size = min(batch_size, self.n)
        self.per_epoch = max(1, self.n // self.batch_size)
        self.crop, self.seed, self.device = crop, seed, device
        self.random_crop, self.flip = random_crop, flip
        self._epoch, self._perm = -1, None

    def get(self, b: int, noise: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(A, B) as floats in [0, 1], (batch, C, crop, crop); B None for derived pairs."""
        epoch, i = divmod(b, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            g = torch.Generator().manual_seed((self.seed * 0x9E3779B1 + 1000 + epoch) % 2**63)
            self._perm = torch.randperm(self.n, generator=g).to(self.device)
        idx = self._perm[i * self.batch_size: (i + 1) * self.batch_size]
        sides = [self.a[idx]] + ([self.b[idx]] if self.b is not None else [])
        n, load = idx.shape[0], self.a.shape[-1]
        span = load - self.crop + 1
        if self.random_crop and span > 1:
            oy, ox = (torch.randint(span, (2, n), generator=noise, device=noise.device).to(self.device))
        else:
            oy = ox = torch.full((n,), (load - self.crop) // 2, device=self.device)
        flips = (torch.rand(n, generator=noise, device=noise.device).to(self.device) < 0.5) if self.flip else None
        out = [_crop(x, oy, ox, self.crop, flips).float().div_(255) for x in sides]
        return out[0], (out[1] if len(out) > 1 else None)


def _crop(x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, size: int, flips: torch.Tensor | None) -> torch.Tensor:
    """Each image's own size x size window at (oy, ox), mirrored where `flips`, in one gather."""
    r = torch.arange(size, device=x.device)
    rows = (oy[:, None] + r)[:, None, :, None]
    cols = ox[:, None] + r
    if flips is not None:
        cols = torch.where(flips[:, None], cols.flip(1), cols)
    n, c = x.shape[:2]
    return x[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None],
             rows, cols[:, None, None, :]]
