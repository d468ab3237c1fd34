"""The one input lister: the images a command works on (not trains on), given as files, folders
(every image in them, sorted, recursively), .npy/.npz batches or `-` (stdin: a .npy/.npz or an
image file's bytes), each with one name, the same in every command: a file's stem (`d0`), a
folder's files by their path inside it (`sub/d0`), a batch's rows by index (`batch[3]`), stdin's
image `stdin`.

`ImageChunks` lists and checks every path when it is made (check, then work), so `total` and the
names are known before the first image is decoded; a file is decoded, and a batch converted and
resized, only when its chunk comes (bounded memory). An .npy/.npz batch is held at its own size
(it was given whole). `load_images` is all of it at once. `ImageChunks.plan_files` names the
files of a folder output, one or more per image, refusing two images that would share one and an
input that would be overwritten.
"""

from __future__ import annotations

import io
from pathlib import Path

from gantool.data.sources import ImageData, fit, read_arrays
from gantool.errors import GantoolError, UsageError
from gantool.files.claims import claim_input, claim_output
from gantool.files.images import channels_of, image_is_gray, is_image_file, load_image
from gantool.files.reading import reading
from gantool.files.writing import safe_name


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
                    self.items.append(("batch", read_arrays(io.BytesIO(blob), "<stdin>"), "stdin"))
                else:
                    self.items.append(("file", blob, "stdin"))
                continue
            path = Path(source)
            if path.is_dir():
                with reading(path, "folder"):
                    files = sorted(f for f in path.rglob("*") if f.is_file() and is_image_file(f))
                if not files:
                    raise GantoolError(f"no images in {path}", "expected .png/.jpg/... files")
                for f in files:
                    claim_input(f, "image")
                self.items += [("file", f, str(f.relative_to(path).with_suffix(""))) for f in files]
            elif source.endswith((".npy", ".npz")):
                with reading(path, "array file"):
                    path.stat()
                claim_input(path, "images")
                self.items.append(("batch", read_arrays(path), path.stem))
            else:
                with reading(path, "image"):
                    path.stat()
                claim_input(path, "image")
                self.items.append(("file", path, path.stem))
        self.total = sum(item[1].num_images if item[0] == "batch" else 1 for item in self.items)

    def origins(self):
        """(name, where it comes from) for every image, in order, without decoding any."""
        for kind, what, name in self.items:
            if kind == "file":
                yield name, "<stdin>" if isinstance(what, bytes) else str(what)
            else:
                yield from ((f"{name}[{i}]", f"{what.name}[{i}]") for i in range(what.num_images))

    def plan_files(self, folder, suffixes: tuple[str, ...], who: str) -> list[str]:
        """The file names a folder output gives each image: its name made safe for a file name
        (gantool.files.writing.safe_name) plus each of `suffixes` (".png", "-heatmap.png"). Refused
        before any work: two images whose files would be the same (`a/d0.png` and `b/d0.png` from
        two folders), and a file that is one of this command's inputs. Returns a stem per image."""
        folder = Path(folder)
        stems, taken = [], {}
        for name, origin in self.origins():
            stem = safe_name(name)
            for suffix in suffixes:
                key = (stem + suffix).lower()  # one file on a case-insensitive file system
                if key in taken:
                    raise UsageError(f"{taken[key]} and {origin} would both be written to {folder / (stem + suffix)}",
                                     "give the images different names, or run once per folder")
                taken[key] = origin
                claim_output(folder / (stem + suffix), who)
            stems.append(stem)
        return stems

    def read(self, channels: int, size: int, exact_channels: str | None = None):
        """The chunks, converted to `channels`; with `exact_channels` (a hint), an image with
        another number of channels is refused instead (checked as its chunk comes)."""
        import torch

        words = {1: "grayscale (1 channel)", 3: "colour (3 channels)"}

        def refuse(name: str, has: str) -> None:
            raise GantoolError(f"{name} is {has}, but the model draws {words.get(channels, f'{channels} channels')} "
                               "images", exact_channels)

        pending, names, count = [], [], 0
        for kind, what, name in self.items:
            if kind == "file":
                stream = io.BytesIO(what) if isinstance(what, bytes) else what
                shown = "<stdin>" if isinstance(what, bytes) else None
                if exact_channels and (1 if image_is_gray(stream, shown) else 3) != channels:
                    if isinstance(what, bytes):
                        stream.seek(0)
                    refuse(shown or str(what), channels_of(stream, shown))
                if isinstance(what, bytes):
                    stream.seek(0)
                image = load_image(stream, channels, size, name=shown)
                pending.append(torch.from_numpy(image)[None])
                names.append(name)
                count += 1
            else:
                data: ImageData = what
                if exact_channels and data.channels != channels:
                    refuse(data.name, words.get(data.channels, f"{data.channels} channels"))
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


def load_images(sources: list[str], channels: int, size: int, stdin: bytes | None = None,
                exact_channels: str | None = None) -> tuple:
    """All the images of `sources` at once, as uint8 (N, C, size, size), and their names (see
    ImageChunks). With `exact_channels` (a hint), an image with another number of channels than
    `channels` is refused instead of converted: a model fitted to a grayscale version of a colour
    photo is rarely what was meant."""
    import torch

    parts = list(ImageChunks(sources, stdin, chunk=4096).read(channels, size, exact_channels))
    return torch.cat([images for images, _ in parts]), [name for _, names in parts for name in names]
