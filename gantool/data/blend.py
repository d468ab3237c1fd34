"""MNIST-M-style targets built offline (`gantool blend`): each digit of a digit source blended with
a random crop of a random photo, by the recipe of Ganin & Lempitsky (2015): the digit binarized
(its pixels in [0, 1] above 0.5), a crop of the photo at the output size, and the output
|crop - digit| per channel: where the digit's strokes are on, the photo's colours invert.

The draws (which photo, where its crop lies) come from one numpy Generator seeded by the command's
seed, all drawn before any image is made, so the same seed gives the same images whatever the
chunk size. Output images are made and written a chunk at a time: PNGs into class subfolders (a
flat folder for an unlabelled source), or one .npz (`images` uint8 (N, 3, S, S), and `labels` and
`classes` when the source has them) streamed into its zip member. The labels are kept for scoring
only: gantool train-classifier's adaptation never trains on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from pathlib import Path

from gantool.errors import BadValue, GantoolError, flag
from gantool.settings import check, setting
from gantool.words import plural

if TYPE_CHECKING:
    import numpy as np

DATA = "Data"
THRESHOLD = 0.5  # the digit binarized at half its range, as MNIST-M
CHUNK = 1024  # images made and written at a time
MAX_PHOTOS = 1000  # photos are held in memory, decoded once
MAX_PHOTO_SIDE = 1024  # larger photos are scaled down to this side when read (bounded memory)


@dataclass
class BlendSettings:
    data: str = setting("digits", "The digits: any image source train-classifier takes (digits, mnist, a folder "
                                  "with class subfolders, a .npz with labels ...); colour is taken as gray.", DATA,
                        names=("-d",))
    photos: str | None = setting(None, "A folder of photos (any images, searched in its subfolders too) to crop the "
                                       "backgrounds from.", DATA, default_help="required")
    image_size: int | None = setting(None, "The output size (the digits are resized to it before binarizing).", DATA,
                                     ge=4, le=MAX_PHOTO_SIDE, default_help="the source's size")

    def validate(self) -> None:
        check(self)
        if self.photos is None:
            raise BadValue("photos", None, "is needed: the folder of photos to crop backgrounds from",
                           "give a folder of .jpg/.png photos")


def photo_files(folder) -> list[Path]:
    """The image files under `folder` (recursively, sorted), refused when none or too many."""
    from gantool.files.images import is_image_file
    from gantool.files.reading import reading

    folder = Path(folder)
    if not folder.is_dir():
        raise GantoolError(f"{flag('photos')} {folder}: not a folder", "give a folder of photos")
    with reading(folder, "folder"):
        files = sorted(f for f in folder.rglob("*") if f.is_file() and is_image_file(f))
    if not files:
        raise GantoolError(f"no images in {folder}", "expected .jpg/.png/... photos")
    if len(files) > MAX_PHOTOS:
        raise GantoolError(f"{folder} holds {plural(len(files), 'image')}: at most {MAX_PHOTOS} photos are used",
                           "give a folder with fewer photos")
    return files


def load_photos(files: list[Path], size: int) -> list[np.ndarray]:
    """Each photo as uint8 (H, W, 3), its shorter side at least `size` (scaled up when smaller),
    its longer side at most MAX_PHOTO_SIDE (scaled down when larger)."""
    import numpy as np
    from PIL import Image

    from gantool.files.images import _decoding

    photos = []
    for f in files:
        with _decoding(f), Image.open(f) as im:
            im = im.convert("RGB")
            if max(im.size) > MAX_PHOTO_SIDE:
                im.thumbnail((MAX_PHOTO_SIDE, MAX_PHOTO_SIDE), Image.Resampling.LANCZOS)
            if min(im.size) < size:
                scale = size / min(im.size)
                im = im.resize((max(size, round(im.width * scale)), max(size, round(im.height * scale))),
                               Image.Resampling.BICUBIC)
            photos.append(np.array(im, dtype=np.uint8))
    return photos


def blend_images(digits: np.ndarray, photos: list[np.ndarray], which: np.ndarray, where: np.ndarray) -> np.ndarray:
    """digits uint8 (n, 1, S, S) -> uint8 (n, 3, S, S): photo `which[i]` cropped at the fractions
    `where[i]` (row, column) of its free range, inverted where the binarized digit is on."""
    import numpy as np

    n, size = len(digits), digits.shape[-1]
    crops = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        photo = photos[which[i]]
        top = int(where[i, 0] * (photo.shape[0] - size + 1))
        left = int(where[i, 1] * (photo.shape[1] - size + 1))
        crops[i] = photo[top:top + size, left:left + size]
    on = (digits[:, 0] / 255.0 > THRESHOLD)[..., None]
    return np.where(on, 255 - crops, crops).transpose(0, 3, 1, 2)


@dataclass
class Blend:
    """A planned blend: the digits, the photos, and every draw, made a chunk at a time by `chunks()`."""

    digits: np.ndarray  # uint8 (N, 1, S, S)
    labels: np.ndarray | None
    classes: list[str]
    photos: list[np.ndarray]
    photo_names: list[str]
    which: np.ndarray  # (N,) photo index per digit
    where: np.ndarray  # (N, 2) crop position per digit, fractions in [0, 1)
    source: str

    @property
    def size(self) -> int:
        return int(self.digits.shape[-1])

    def __len__(self) -> int:
        return len(self.digits)

    def chunks(self, chunk: int = CHUNK):
        """(first index, uint8 (n, 3, S, S)) per chunk, in order."""
        for start in range(0, len(self), chunk):
            stop = min(len(self), start + chunk)
            yield start, blend_images(self.digits[start:stop], self.photos, self.which[start:stop],
                                      self.where[start:stop])

    def summary(self) -> dict:
        return {"source": self.source, "images": len(self), "image_size": self.size, "photos": len(self.photos),
                "labelled": self.labels is not None, "classes": self.classes if self.labels is not None else None}


def plan(s: BlendSettings, seed: int, root: str | None = None, download: bool = False) -> Blend:
    """Read the digits and photos, and draw every photo and crop position (seeded)."""
    import numpy as np

    from gantool.data.sources import load_data

    s.validate()
    files = photo_files(s.photos)
    data = load_data(s.data, root=root, download=download, channels=1, image_size=s.image_size)
    if data.images.shape[-2] != data.images.shape[-1]:
        raise BadValue("data", s.data, f"has {tuple(data.images.shape[-2:])} images: give {{image_size}}")
    if data.image_size < 4:
        raise BadValue("data", s.data, f"has {data.image_size}x{data.image_size} images",
                       f"give {flag('image_size')} 4 or more")
    photos = load_photos(files, data.image_size)
    rng = np.random.default_rng(seed)
    which = rng.integers(len(photos), size=data.num_images)
    where = rng.random((data.num_images, 2))
    labels = data.labels.numpy() if data.labels is not None else None
    return Blend(data.images.numpy(), labels, list(data.classes), photos, [str(f) for f in files], which, where,
                 data.name)


def folder_names(blend: Blend) -> list[str]:
    """Each image's file inside the output folder: `CLASS/NNNNN.png`, or `NNNNN.png` unlabelled."""
    from gantool.files.writing import safe_name

    width = len(str(max(0, len(blend) - 1)))
    if blend.labels is None:
        return [f"{i:0{width}d}.png" for i in range(len(blend))]
    subs = [safe_name(c, f"class{i}") for i, c in enumerate(blend.classes)]
    if len({s.lower() for s in subs}) < len(subs):
        raise GantoolError("two class names give the same folder name", "rename the classes, or write an .npz")
    return [f"{subs[label]}/{i:0{width}d}.png" for i, label in enumerate(blend.labels)]


def write_folder(blend: Blend, folder, progress=None) -> None:
    """PNGs into class subfolders of `folder` (made when missing), a chunk at a time."""
    from gantool.files.images import png_bytes
    from gantool.files.writing import write_in

    import torch

    names = folder_names(blend)
    _start(progress, len(blend))
    for start, images in blend.chunks():
        for i, image in enumerate(images, start):
            sub, _, name = names[i].rpartition("/")
            write_in(Path(folder) / sub if sub else Path(folder), name, png_bytes(torch.from_numpy(image)))
        _update(progress, start + len(images))
    _stop(progress)


def write_npz(blend: Blend, stream, progress=None) -> None:
    """One .npz onto a binary stream (a file or a pipe: zipfile needs no seeking): `images` written
    a chunk at a time into its zip member, then `labels` and `classes` when the source has them."""
    import numpy as np

    import zipfile

    _start(progress, len(blend))
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        with z.open("images.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False,
                                                          "shape": (len(blend), 3, blend.size, blend.size)})
            for start, images in blend.chunks():
                member.write(np.ascontiguousarray(images).tobytes())
                _update(progress, start + len(images))
        if blend.labels is not None:
            for name, array in (("labels", blend.labels.astype(np.int64)), ("classes", np.array(blend.classes))):
                with z.open(f"{name}.npy", "w") as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
    _stop(progress)


def _start(progress, total: int) -> None:
    if progress is not None:
        progress.start(total)


def _update(progress, done: int) -> None:
    if progress is not None:
        progress.update(done, {})


def _stop(progress) -> None:
    if progress is not None:
        progress.stop()


def check_folder_output(folder, who: str) -> None:
    """--out-dir: a folder that can be written, claimed (never one of the inputs)."""
    from gantool.files.claims import claim_output
    from gantool.files.writing import check_folder_writable

    if os.path.exists(folder) and not os.path.isdir(folder):
        raise GantoolError(f"cannot write in {folder}: it is a file, not a folder")
    check_folder_writable(folder)
    claim_output(folder, who)
