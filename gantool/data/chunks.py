"""Images to work on, a chunk at a time, in bounded memory: the same sources and names as
gantool.data.sources.load_images (files, folders, .npy/.npz batches, `-`), for commands whose
work grows with the number of images (classify; later extract-features, evaluate).

Every path is listed and checked when the ImageChunks is made (check, then work), so `total` is
known before the first image is decoded; a file is decoded, and a batch converted and resized,
only when its chunk comes. An .npy/.npz batch is held at its own size (it was given whole).
"""

from __future__ import annotations

import io
from pathlib import Path

from gantool.data.sources import ImageData, _arrays, fit
from gantool.errors import GantoolError
from gantool.files.images import image_is_gray, is_image_file, load_image
from gantool.files.reading import reading


class ImageChunks:
    """`read(channels, size)` yields (uint8 (n, C, size, size), names) with n <= chunk; `total`
    images in all. Made before the model is loaded, it checks the sources first."""

    def __init__(self, sources: list[str], stdin: bytes | None = None, chunk: int = 256):
        self.chunk = chunk
        self.items: list[tuple] = []  # ("file", path or stream, name) or ("batch", ImageData, stem)
        for source in sources:
            if source == "-":
                blob = stdin or b""
                if blob.startswith((b"\x93NUMPY", b"PK")):
                    self.items.append(("batch", _arrays(io.BytesIO(blob), "<stdin>"), "stdin"))
                else:
                    self.items.append(("file", blob, "stdin"))
                continue
            path = Path(source)
            if path.is_dir():
                with reading(path, "folder"):
                    files = sorted(f for f in path.rglob("*") if f.is_file() and is_image_file(f))
                if not files:
                    raise GantoolError(f"no images in {path}", "expected .png/.jpg/... files")
                self.items += [("file", f, str(f.relative_to(path).with_suffix(""))) for f in files]
            elif source.endswith((".npy", ".npz")):
                with reading(path, "array file"):
                    path.stat()
                self.items.append(("batch", _arrays(path), path.stem))
            else:
                with reading(path, "image"):
                    path.stat()
                self.items.append(("file", path, path.stem))
        self.total = sum(item[1].num_images if item[0] == "batch" else 1 for item in self.items)

    def read(self, channels: int, size: int, exact_channels: str | None = None):
        """The chunks, converted to `channels`; with `exact_channels` (a hint), an image with
        another number of channels is refused instead (checked as its chunk comes)."""
        import torch

        def refuse(name: str, has: int) -> None:
            words = {1: "grayscale (1 channel)", 3: "colour (3 channels)"}
            raise GantoolError(f"{name} is {words.get(has, f'{has} channels')}, but the model draws "
                               f"{words.get(channels, f'{channels} channels')} images", exact_channels)

        pending, names, count = [], [], 0
        for kind, what, name in self.items:
            if kind == "file":
                stream = io.BytesIO(what) if isinstance(what, bytes) else what
                shown = "<stdin>" if isinstance(what, bytes) else None
                if exact_channels and (has := 1 if image_is_gray(stream, shown) else 3) != channels:
                    refuse(shown or str(what), has)
                if isinstance(what, bytes):
                    stream.seek(0)
                image = load_image(stream, channels, size, name=shown)
                pending.append(torch.from_numpy(image)[None])
                names.append(name)
                count += 1
            else:
                data: ImageData = what
                if exact_channels and data.channels != channels:
                    refuse(data.name, data.channels)
                for start in range(0, data.num_images, self.chunk):
                    part = ImageData(data.images[start:start + self.chunk], None, [], data.name)
                    rows = fit(part, channels=channels, image_size=size).images
                    pending.append(rows)
                    names += [f"{name}[{i}]" for i in range(start, start + len(rows))]
                    count += len(rows)
                    if count >= self.chunk:
                        yield from self._flush(pending, names)
                        pending, names, count = [], [], 0
            if count >= self.chunk:
                yield from self._flush(pending, names)
                pending, names, count = [], [], 0
        if pending:
            yield from self._flush(pending, names)

    def _flush(self, pending, names):
        import torch

        images = torch.cat(pending)
        for start in range(0, len(names), self.chunk):
            yield images[start:start + self.chunk], names[start:start + self.chunk]
