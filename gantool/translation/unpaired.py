"""Unpaired training data for CycleGAN: two domains as uint8 tensors at one load size, and their batches.

Sources (`load_unpaired`):
- one folder in the public CycleGAN layout: `trainA/` and `trainB/` (any number of images each,
  no names in common needed), with `testA/` and `testB/` beside them for the fixed grid inputs;
- two sources, each anything `gantool train` takes (digits, fashion-mnist, a folder, a .npy/.npz).

The domains keep their own channels (gray digits <-> colour digits) and may differ in size: each
is resized to one load x load square once (the default crop follows the smaller domain). Without
test folders a few images of each domain are held out for the grids (gantool.translation.pairs'
rule). A domain with no images is refused.

Batches (`UnpairedBatches`): an epoch covers the larger domain once, in an order drawn from (seed,
epoch); the smaller domain's images are drawn at random (with replacement, as the reference) from
the same generator. Each image gets its own random crop and flip from the trainer's noise
generator, in one gather per domain (pairs._crop). Nothing is decoded per step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from gantool.errors import BadValue, GantoolError, flag
from gantool.translation.pairs import MAX_HELD_OUT, _crop, _held_out

DOMAINS = ("A", "B")


@dataclass
class UnpairedData:
    a: torch.Tensor  # uint8 (Na, Ca, load, load)
    b: torch.Tensor  # uint8 (Nb, Cb, load, load)
    held_a: torch.Tensor  # the fixed grid inputs of each domain (at most MAX_HELD_OUT)
    held_b: torch.Tensor
    name_a: str
    name_b: str
    held_out: bool  # False: too few images to hold any out; the grids show training images

    @property
    def name(self) -> str:
        return f"{self.name_a} <-> {self.name_b}"

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.a.cpu().numpy().tobytes())
        h.update(self.b.cpu().numpy().tobytes())
        return h.hexdigest()[:16]


def _sources(spec) -> tuple[str, str, str | None, str | None]:
    """(train A, train B, test A or None, test B or None) from the spec's data options."""
    if spec.data is None:
        return spec.data_a, spec.data_b, None, None
    root = Path(spec.data)
    if not root.is_dir():
        raise BadValue("data", spec.data, "is not a folder holding trainA/ and trainB/",
                       f"give the two domains with {flag('data_a')} and {flag('data_b')}")
    missing = [d for d in ("trainA", "trainB") if not (root / d).is_dir()]
    if missing:
        raise BadValue("data", spec.data, f"holds no {' and no '.join(m + '/' for m in missing)}",
                       "the CycleGAN layout is trainA/, trainB/ (and testA/, testB/) in one folder")
    test = [str(root / d) if (root / d).is_dir() else None for d in ("testA", "testB")]
    return str(root / "trainA"), str(root / "trainB"), test[0], test[1]


def _load(source: str, domain: str, root, download):
    """A domain's images at their own size: (ImageData, its shorter side)."""
    from gantool.data.sources import load_data

    side = {}

    def keep(s: int) -> int:
        side["s"] = s
        return s

    data = load_data(source, root=root, download=download, size_rule=keep)
    if data.num_images == 0:
        raise GantoolError(f"domain {domain} ({source}) holds no images", "each domain needs at least one image")
    return data, side.get("s", data.image_size)


def load_unpaired(spec, seed: int, *, root: str | None = None, download: bool = False):
    """(UnpairedData at the load size, crop side)."""
    from gantool.data.sources import fit

    train_a, train_b, test_a, test_b = _sources(spec)
    (da, sa), (db, sb) = _load(train_a, "A", root, download), _load(train_b, "B", root, download)
    crop, load = spec.sizes(min(sa, sb))
    held = []
    for data, test, domain in ((da, test_a, "A"), (db, test_b, "B")):
        images = fit(data, image_size=load).images
        if test is not None:
            t, _ = _load(test, domain, root, download)
            held.append((images, fit(t, channels=data.channels, image_size=load).images[:MAX_HELD_OUT], True))
            continue
        idx = _held_out(images.shape[0], seed + (domain == "B"))
        keep = torch.ones(images.shape[0], dtype=torch.bool)
        keep[idx] = False
        train = images[keep] if keep.any() else images
        held.append((train, images[idx] if len(idx) else train[:MAX_HELD_OUT], len(idx) > 0))
    (a, ha, oa), (b, hb, ob) = held
    return UnpairedData(a.contiguous(), b.contiguous(), ha, hb, da.name or train_a, db.name or train_b,
                        oa and ob), crop


class UnpairedBatches:
    """Batch k of the run: from epoch k // per_epoch, the larger domain's slice of a permutation and
    the smaller's random draw (both seeded by (seed, epoch)); crops and flips by `noise`."""

    def __init__(self, data: UnpairedData, batch_size: int, crop: int, seed: int, device, random_crop: bool,
                 flip: bool):
        self.a, self.b = data.a.to(device), data.b.to(device)
        self.n = max(self.a.shape[0], self.b.shape[0])
        self.batch_size = min(batch_size, self.n)
        self.per_epoch = max(1, self.n // self.batch_size)
        self.crop, self.seed, self.device = crop, seed, device
        self.random_crop, self.flip = random_crop, flip
        self._epoch, self._order = -1, None

    def _orders(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed((self.seed * 0x9E3779B1 + 2000 + epoch) % 2**63)
        out = []
        for x in (self.a, self.b):
            n = x.shape[0]
            out.append(torch.randperm(n, generator=g) if n == self.n else
                       torch.randint(n, (self.per_epoch * self.batch_size,), generator=g))
        return out[0].to(self.device), out[1].to(self.device)

    def get(self, k: int, noise: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(A, B) as floats in [0, 1], (batch, C, crop, crop) each."""
        epoch, i = divmod(k, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, self._orders(epoch)
        out = []
        for x, order in zip((self.a, self.b), self._order):
            idx = order[i * self.batch_size: (i + 1) * self.batch_size]
            out.append(self._window(x[idx], noise))
        return out[0], out[1]

    def _window(self, x: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
        n, load = x.shape[0], x.shape[-1]
        span = load - self.crop + 1
        if self.random_crop and span > 1:
            oy, ox = torch.randint(span, (2, n), generator=noise, device=noise.device).to(self.device)
        else:
            oy = ox = torch.full((n,), (load - self.crop) // 2, device=self.device)
        flips = (torch.rand(n, generator=noise, device=noise.device).to(self.device) < 0.5) if self.flip else None
        return _crop(x, oy, ox, self.crop, flips).float().div_(255)
