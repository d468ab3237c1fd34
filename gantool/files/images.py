"""Image conversions and PNG encoding: the one image loader and the one PNG writer.

Images between gantool's parts are floats in [0, 1] (models apply their own normalization,
gantool.data.normalization); files hold 8-bit PNG, L or RGB.
"""

from __future__ import annotations

import io
import os
import warnings
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gantool.errors import GantoolError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def is_image_file(path: str | os.PathLike) -> bool:
    return os.path.splitext(str(path))[1].lower() in IMAGE_EXTENSIONS


@contextmanager
def _decoding(path):
    """Pillow's failures, and its decompression-bomb warning, as one-line errors naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise GantoolError(f"cannot read image {path}: it has more than {Image.MAX_IMAGE_PIXELS:,} pixels",
                           "shrink it first; gantool refuses images that large (a decompression bomb?)") from None
    except UnidentifiedImageError:  # Pillow's message names the stream object, not the file
        raise GantoolError(f"cannot read image {path}: not an image Pillow knows",
                           "give PNG, JPEG, WebP, ... files, or a .npy/.npz batch") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise GantoolError(f"cannot read image {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def image_is_gray(path, name: str | None = None) -> bool:
    """Whether an image file (or a binary stream called `name`) is grayscale, reading only its header."""
    with _decoding(name or path), Image.open(path) as im:
        return im.mode in GRAY_MODES


def channels_of(path, name: str | None = None) -> str:
    """How an image file (or a binary stream called `name`) stores its pixels, in words, from its
    header: "grayscale (1 channel)", "colour (3 channels)", "colour with transparency (RGBA)", ..."""
    with _decoding(name or path), Image.open(path) as im:
        mode, transparent = im.mode, "transparency" in im.info
    if mode in ("LA", "La") or (mode == "L" and transparent):
        return "grayscale with transparency (LA)"
    if mode in GRAY_MODES:
        return "grayscale (1 channel)"
    if mode in ("RGBA", "RGBa", "PA") or (mode in ("P", "RGB") and transparent):
        return "colour with transparency (RGBA)"
    return "colour (3 channels)"


def image_size_of(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file, reading only its header."""
    with _decoding(path), Image.open(path) as im:
        return im.size


def load_image(path, channels: int, size: int | None = None, name: str | None = None) -> np.ndarray:
    """Read an image (a path, or a binary stream called `name`) as uint8 (C, H, W); with `size`,
    centre-crop to a square and resize to it."""
    with _decoding(name or path), Image.open(path) as im:
        if im.mode.startswith("I;16") or im.mode == "I":
            # 16-bit grayscale: Pillow's convert("L") clips at 255 instead of scaling
            im = Image.fromarray((np.asarray(im, dtype=np.float64) / 257).round().clip(0, 255).astype(np.uint8))
        im = im.convert("L" if channels == 1 else "RGB")
        if size is not None:
            im = ImageOps.fit(im, (size, size), Image.Resampling.BICUBIC)
        array = np.array(im, dtype=np.uint8)  # a writable copy: torch.from_numpy warns on read-only arrays
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def to_uint8(images):
    """Images in [0, 1] (a torch tensor) to uint8 in [0, 255], rounded."""
    return images.detach().float().mul(255).round().clamp(0, 255).to("cpu").byte()


def png_bytes(image) -> bytes:
    """One uint8 (C, H, W) torch tensor as PNG bytes (L for one channel, RGB for three)."""
    array = image.numpy()
    array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG")
    return buf.getvalue()


MAX_GRID_IMAGES = 4096  # 64 x 64: more than that is no longer a picture anyone can look at


def grid_png(images, nrow: int, padding: int = 2) -> bytes:
    """A batch in [0, 1] as one PNG grid with `nrow` images per row."""
    from torchvision.utils import make_grid

    grid = make_grid(to_uint8(images), nrow=max(1, nrow), padding=padding, pad_value=0)
    if images.shape[1] == 1:
        grid = grid[:1]  # make_grid repeats one channel into three; keep grayscale PNGs grayscale
    return png_bytes(grid)


ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP"}


def animation_bytes(images, fmt: str, fps: float) -> bytes:
    """A batch in [0, 1] (N, C, H, W) as an endlessly looping animated GIF or WebP, one image a frame."""
    frames = []
    for image in to_uint8(images):
        array = image.numpy()
        frame = Image.fromarray(array[0] if array.shape[0] == 1 else np.ascontiguousarray(array.transpose(1, 2, 0)))
        frames.append(frame.convert("RGB") if fmt == "WEBP" else frame)
    buf = io.BytesIO()
    options = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0,
                   **options)
    return buf.getvalue()
