"""Features of any classifier gantool can load, for classical models (SVMs) on top.

- `Inputs`: what to extract from, listed and checked before the model is read: a data set by name
  (`digits`, torchvision's sets under the data root), a `.npy`/`.npz` array file, a folder (class
  subfolders give labels; a flat folder is unlabelled), or IMAGES (files, folders, arrays, stdin),
  unlabelled, listed and named by the one input lister (gantool.data.inputs). Images in memory are batched by slicing; image files are decoded in
  DataLoader workers, at the size the model loads them (`Classifier.resize_size`).
- `resolve_layers`: `--layer` names checked against the model (an unknown one is refused with the
  valid names), `penultimate` (the default) being the input of the head.
- `Extractor`: one forward pass per batch under `inference_mode` with a hook per layer; each hook
  pools its tensor (`avg`/`max` over H and W, or `flatten`) into a fresh float32 tensor, so no later
  in-place operation can change it; when every layer is taken the pass stops (an early layer does
  not pay for the rest of the network).
- `NpzWriter`: a features file (docs/file-formats.md) (features, labels, classes, paths) streamed: the
  `features.npy` member of the zip is written chunk by chunk (its header first, N is known), so a
  huge layer never sits in memory. `estimate_bytes` says how big the result will be, up front.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from gantool.errors import BadValue, GantoolError
from gantool.transfer import PENULTIMATE, POOLS

MAX_CLASSES = 100_000  # unnamed labels 0..N-1 get the names "0".."N-1"


# ---- inputs ---------------------------------------------------------------------------------------

@dataclass
class Inputs:
    """Images to extract from: `parts` are ("tensor", uint8 (N, C, H, W), names) or ("files", paths, names);
    `labels` (N,) int64 (-1 where unlabelled) and `classes` for all of them, in order."""

    parts: list
    labels: np.ndarray
    classes: list[str]
    name: str

    @property
    def total(self) -> int:
        return len(self.labels)

    @property
    def names(self) -> list[str]:
        return [n for part in self.parts for n in part[2]]


def data_inputs(source: str, root: str | None = None, download: bool = False) -> Inputs:
    """`--data`: a data set by name, an array file, or a folder (class subfolders give labels)."""
    from gantool.data.sources import load_data
    from gantool.files.claims import claim_input

    if os.path.isdir(source):
        return _folder_inputs(Path(source))
    if os.path.isfile(source):
        claim_input(source, "data")  # no output may write over it
    data = load_data(source, root=root, download=download)
    n = data.num_images
    labels = data.labels.numpy().astype(np.int64) if data.labels is not None else np.full(n, -1, np.int64)
    stem = Path(source).stem if os.path.isfile(source) else source
    return Inputs([("tensor", data.images, [f"{stem}[{i}]" for i in range(n)])], labels, list(data.classes),
                  data.name or source)


def _folder_inputs(root: Path) -> Inputs:
    from gantool.files.claims import claim_input
    from gantool.files.images import is_image_file
    from gantool.files.reading import reading

    with reading(root, "folder"):
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        labelled = [(d.name, sorted(f for f in d.rglob("*") if f.is_file() and is_image_file(f))) for d in subdirs]
        labelled = [(name, files) for name, files in labelled if files]
        if labelled:
            classes = [name for name, _ in labelled]
            files = [f for _, fs in labelled for f in fs]
            labels = np.array([i for i, (_, fs) in enumerate(labelled) for _ in fs], np.int64)
        else:
            classes = []
            files = sorted(f for f in root.iterdir() if f.is_file() and is_image_file(f))
            labels = np.full(len(files), -1, np.int64)
    if not files:
        raise GantoolError(f"no images in {root}", "expected .png/.jpg/... files, or class subfolders holding them")
    for f in files:
        claim_input(f, "image")
    return Inputs([("files", files, [str(f.relative_to(root)) for f in files])], labels, classes, str(root))


def image_inputs(sources: list[str], stdin: bytes | None = None) -> Inputs:
    """IMAGES arguments, unlabelled, listed by the one input lister (gantool.data.inputs): image
    files, folders of images, .npy/.npz batches and `-` (stdin's `stdin` bytes), each named as in
    every other command. Files stay files: DataLoader workers decode them."""
    from gantool.data.inputs import ImageChunks

    parts: list = []
    for kind, what, name in ImageChunks(sources, stdin).items:
        if kind == "file":
            if not parts or parts[-1][0] != "files":
                parts.append(("files", [], []))
            parts[-1][1].append(what)
            parts[-1][2].append(name)
        else:
            parts.append(("tensor", what.images, [f"{name}[{i}]" for i in range(what.num_images)]))
    total = sum(len(p[2]) for p in parts)
    return Inputs(parts, np.full(total, -1, np.int64), [], "images")


class _Files:
    """Image files decoded in a DataLoader worker: uint8 (C, size, size)."""

    def __init__(self, files: list, channels: int, size: int):
        self.files, self.channels, self.size = files, channels, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        import torch

        from gantool.files.images import load_image

        what = self.files[i]
        if isinstance(what, bytes):  # stdin's image
            return torch.from_numpy(load_image(io.BytesIO(what), self.channels, self.size, name="<stdin>"))
        return torch.from_numpy(load_image(what, self.channels, self.size))


def batches(inputs: Inputs, channels: int, size: int, batch_size: int, workers: int) -> Iterator:
    """uint8 image batches (n, C, H, W) in the order of `inputs`: tensors are sliced, files are
    decoded by `workers` DataLoader processes (0: in this one) at `size` x `size`."""
    from torch.utils.data import DataLoader

    for kind, what, _ in inputs.parts:
        if kind == "tensor":
            for start in range(0, len(what), batch_size):
                yield what[start:start + batch_size]
        else:
            loader = DataLoader(_Files(what, channels, size), batch_size=batch_size, shuffle=False,
                                num_workers=min(workers, max(0, len(what) // batch_size)),
                                persistent_workers=False)
            yield from loader


# ---- layers ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tap:
    """What to take: `layer` as the user named it, `module` the network's module name, `take` its
    output or (for the penultimate representation) the head's input."""

    layer: str
    module: str
    take: str


def layer_names(clf) -> list[str]:
    return [name for name, _ in clf.net.named_modules() if name]


def resolve_layers(clf, value: str | None) -> list[Tap]:
    """`--layer a,b,c` (default: penultimate) -> taps; an unknown name is refused with the valid ones."""
    wanted = [v.strip() for v in (value or PENULTIMATE).split(",")]
    if any(not w for w in wanted):
        raise BadValue("layer", value, "an empty layer name", "give names separated by commas")
    if len(set(wanted)) != len(wanted):
        raise BadValue("layer", value, "a layer named twice")
    names = layer_names(clf)
    taps = []
    for w in wanted:
        if w == PENULTIMATE:
            taps.append(Tap(w, clf.head, "input"))
        elif w in names:
            taps.append(Tap(w, w, "output"))
        else:
            raise BadValue("layer", w, f"not a layer of {clf.name}",
                           f"valid: {PENULTIMATE} (the head's input), {', '.join(names)}")
    return taps


def pool(x, how: str):
    """(N, ...) -> a fresh float32 (N, D): conv maps (N, C, H, W) averaged or maxed over H and W, or
    flattened; anything else flattened. Always a copy, never a view of the network's tensor."""
    if x.dim() == 4 and how == "avg":
        return x.float().mean((2, 3))
    if x.dim() == 4 and how == "max":
        return x.float().amax((2, 3))
    return x.reshape(len(x), -1).float().clone()


class _Enough(Exception):
    """Raised by the last hook that runs: every layer is taken, the rest of the network is not needed."""


class Extractor:
    """`extractor(images in [0, 1])` -> {layer: float32 (N, D)} in one forward pass."""

    def __init__(self, clf, taps: list[Tap], pool_how: str = "avg"):
        import torch

        if pool_how not in POOLS:
            raise BadValue("pool", pool_how, f"not one of {', '.join(POOLS)}")
        # channels-last weights make every convolution run in oneDNN's preferred layout (vgg16 on this
        # 2-core CPU: 1.66x the images/second); the values, and the features taken, are the same
        clf.to(memory_format=torch.channels_last)
        self.clf, self.taps, self.pool_how = clf, taps, pool_how

    def __call__(self, images) -> dict:
        import torch

        taken, handles = {}, []
        wanted = len(self.taps)

        def keep(tap, tensor):
            if not isinstance(tensor, torch.Tensor):
                raise GantoolError(f"layer {tap.layer} of {self.clf.name} gives a {type(tensor).__name__}, "
                                   "not a tensor", "choose another layer (`gantool layers` shows them)")
            taken[tap.layer] = pool(tensor, self.pool_how)
            if len(taken) == wanted:
                raise _Enough

        def on_output(tap):
            return lambda mod, args, out: keep(tap, out)

        def on_input(tap):
            return lambda mod, args: keep(tap, args[0])

        try:
            for tap in self.taps:
                m = self.clf.module(tap.module)
                handles.append(m.register_forward_hook(on_output(tap)) if tap.take == "output"
                               else m.register_forward_pre_hook(on_input(tap)))
            try:
                self.clf(images)
            except _Enough:
                pass
        finally:
            for h in handles:
                h.remove()
        missing = [t.layer for t in self.taps if t.layer not in taken]
        if missing:
            raise GantoolError(f"layer {missing[0]} of {self.clf.name} did not run in the forward pass",
                               "choose a layer that `gantool layers` shows with an output shape")
        return taken

    def dims(self, device) -> dict:
        """{layer: D} from one forward pass of a blank image at the model's input size."""
        import torch

        c, s = self.clf.channels, self.clf.input_size
        with torch.inference_mode():
            out = self(torch.zeros(1, c, s, s, device=device))
        return {k: int(v.shape[1]) for k, v in out.items()}


def estimate_bytes(n: int, dim: int, name_width: int = 0, classes: int = 0) -> int:
    """The size of a features file: float32 features, int64 labels, UCS-4 paths and class names."""
    return n * dim * 4 + n * 8 + n * name_width * 4 + 512


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


# ---- the file -------------------------------------------------------------------------------------

class NpzWriter:
    """A features `.npz` (docs/file-formats.md) written into `stream` as the rows come: `write(rows)` appends
    float32 rows to the `features.npy` member; `close()` adds labels, classes, paths and the extras
    (0-d unicode arrays such as `layer` and `model`) and finishes the zip."""

    def __init__(self, stream: BinaryIO, rows: int, width: int):
        self.rows, self.width, self.written = rows, width, 0
        self.zip = zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        try:
            self.member = self.zip.open("features.npy", "w", force_zip64=True)
            np.lib.format.write_array_header_1_0(
                self.member, {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
                              "shape": (rows, width)})
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> "NpzWriter":
        return self

    def __exit__(self, kind, error, tb) -> None:
        if kind is not None:
            self.abort()

    def abort(self) -> None:
        """Give up (the stream failed: a full disk, a closed pipe): drop the zip without writing
        more, so that no later close or garbage collection writes to the failed stream again."""
        import io as _io

        member = getattr(self, "member", None)
        if member is not None and not member.closed:
            _io.BufferedIOBase.close(member)  # marks it closed; its own close() would write the header
        self.zip._writing = False
        self.zip.fp = None  # ZipFile.close (and __del__) then have nothing to write

    def write(self, chunk: np.ndarray) -> None:
        chunk = np.ascontiguousarray(chunk, dtype="<f4")
        if chunk.ndim != 2 or chunk.shape[1] != self.width or self.written + len(chunk) > self.rows:
            raise ValueError(f"rows of shape {chunk.shape} do not fit a ({self.rows}, {self.width}) array "
                             f"with {self.written} rows written")
        self.member.write(chunk.tobytes())
        self.written += len(chunk)

    def close(self, labels: np.ndarray, classes: list[str], paths: list[str], **extras: str) -> None:
        if self.written != self.rows:
            raise ValueError(f"{self.written} of {self.rows} rows written")
        self.member.close()
        arrays = {"labels": np.asarray(labels, dtype=np.int64), "classes": np.array(classes, dtype=str),
                  "paths": np.array(paths, dtype=str), **{k: np.array(v, dtype=str) for k, v in extras.items()}}
        if len(classes) == 0:
            arrays["classes"] = np.zeros(0, dtype="<U1")
        for name, array in arrays.items():
            with self.zip.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, array, allow_pickle=False)
        self.zip.close()


@dataclass
class Features:
    features: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64, -1 where unlabelled
    classes: list[str]
    paths: list[str]
    layer: str = ""
    model: str = ""
    name: str = ""

    @property
    def labelled(self) -> bool:
        return len(self.labels) > 0 and bool((self.labels >= 0).all())


def read_features(path: str, data: bytes | None = None) -> Features:
    """A features `.npz` (docs/file-formats.md), checked; never unpickled. `path` `-` is stdin, whose
    bytes are `data` (a pipe is not seekable)."""
    import io

    from gantool.files.reading import reading

    stdin = str(path) == "-"
    name = "<stdin>" if stdin else str(path)
    if not stdin:
        with reading(Path(path), "features file"):
            os.stat(path)
    try:
        loaded = np.load(io.BytesIO(data or b"") if stdin else path, allow_pickle=False)
    except Exception as e:
        raise GantoolError(f"cannot read {name}: {' '.join(str(e).split())}", "give a .npz from extract-features") \
            from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise GantoolError(f"{name} is a single array, not a features .npz",
                           "it needs features, labels, classes and paths (gantool extract-features writes them)")
    with loaded:
        missing = [k for k in ("features", "labels") if k not in loaded.files]
        if missing:
            raise GantoolError(f"{name} has no '{missing[0]}' array", f"it holds {', '.join(loaded.files) or 'nothing'}")
        try:
            x, y = loaded["features"], loaded["labels"]
            classes = [str(c) for c in loaded["classes"]] if "classes" in loaded.files else []
            paths = [str(p) for p in loaded["paths"]] if "paths" in loaded.files else []
            extra = {k: str(loaded[k]) for k in ("layer", "model") if k in loaded.files}
        except ValueError:
            raise GantoolError(f"{name} holds Python objects", "save plain numeric and unicode arrays") from None
    if x.ndim != 2 or x.dtype.kind != "f" or len(x) == 0:
        raise GantoolError(f"{name}: 'features' must be a non-empty (N, D) float array, not {x.dtype} {x.shape}")
    if not np.isfinite(x).all():
        raise GantoolError(f"{name}: 'features' holds NaN or infinite values")
    if y.shape != (len(x),) or y.dtype.kind not in "iu":
        raise GantoolError(f"{name}: 'labels' must be {len(x)} integers, not {y.dtype} {y.shape}")
    y = y.astype(np.int64)
    if (y >= 0).any() and classes and y.max() >= len(classes):
        raise GantoolError(f"{name}: labels go up to {y.max()} but only {len(classes)} classes are named")
    if not classes and (y >= 0).any():
        if y.max() >= MAX_CLASSES:  # a name per integer up to the largest: bounded before it is built
            raise GantoolError(f"{name}: labels go up to {y.max()} and no 'classes' are named",
                               f"number the classes from 0 (at most {MAX_CLASSES:,}) or save their names as 'classes'")
        classes = [str(i) for i in range(int(y.max()) + 1)]
    if paths and len(paths) != len(x):
        raise GantoolError(f"{name}: {len(paths)} paths for {len(x)} rows")
    return Features(np.ascontiguousarray(x, dtype=np.float32), y, classes,
                    paths or [f"{'stdin' if stdin else Path(path).stem}[{i}]" for i in range(len(x))],
                    extra.get("layer", ""), extra.get("model", ""), name)
