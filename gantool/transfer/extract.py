"""`extract-features` without the command line: its settings, the outputs it plans (one per
layer), what they will weigh, and the extraction loop that streams each layer into its `.npz`
(gantool.transfer.features has the pieces: inputs, layers, the extractor, the writer).
"""

from __future__ import annotations

import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from gantool.errors import BadValue, GantoolError
from gantool.settings import check, setting
from gantool.transfer import PENULTIMATE, POOLS

if TYPE_CHECKING:  # numpy and torch come with it: imported where the work is, not for --help
    from gantool.transfer import features as F

MAX_BATCH = 65536


def default_workers() -> int:
    """A worker per 4 cores, at most 4: decoding a PNG or JPEG costs little next to a CNN's forward
    pass, and a worker takes a core from the forward pass's threads (on 2 cores, vgg16 and resnet18
    ran 10-20% slower with one worker than with none)."""
    from gantool.device import available_cores

    return min(4, available_cores() // 4)


@dataclass
class ExtractSettings:
    layer: Optional[str] = setting(None, "Layers to take, by the names `gantool layers` lists, comma-separated (one "
                                   "output each), or penultimate: the head's input.", names=("-l",),
                                   default_help=PENULTIMATE)
    pool: str = setting("avg", "Conv maps (N, C, H, W) to vectors: the mean or the max over H and W (C dimensions), "
                        "or flatten (C*H*W).", choices=POOLS)
    batch_size: int = setting(64, "Images per forward pass.", names=("-b",), ge=1, le=MAX_BATCH)
    workers: Optional[int] = setting(None, "DataLoader processes that decode image files (0: in this one).", ge=0,
                                     le=64, default_help="one per 4 cores, at most 4")
    estimate: bool = setting(False, "Print each output's shape and size, and stop before extracting.",
                             flag="--estimate")

    def validate(self) -> None:
        check(self)


@dataclass
class Job:
    """A model's layers ready to extract: the taps, the extractor and each layer's width."""

    clf: object
    device: object
    taps: list
    extractor: F.Extractor
    dims: dict = field(default_factory=dict)

    @classmethod
    def make(cls, clf, device, settings: ExtractSettings) -> "Job":
        from gantool.transfer import features as F

        taps = F.resolve_layers(clf, settings.layer)
        extractor = F.Extractor(clf, taps, settings.pool)
        try:
            dims = extractor.dims(device)
        except RuntimeError as e:
            raise GantoolError(f"{clf.name}: one forward pass at {clf.input_size}x{clf.input_size} failed: "
                               f"{str(e).splitlines()[0]}") from None
        return cls(clf, device, taps, extractor, dims)


def plan_outputs(taps: list, output: str | None) -> dict:
    """{layer: file} (`-`: stdout): with several layers, `{layer}` in `output` is each name, or
    the stem gets -LAYER. Two layers may not share a file."""
    from gantool.files.writing import STDIO, safe_name

    if output is None:
        return {}
    if len(taps) > 1 and output == STDIO:
        raise BadValue("output", output, "several layers cannot share stdout",
                       "name a file; {layer} in it is replaced by each layer's name")
    targets = {}
    for tap in taps:
        if len(taps) == 1:
            targets[tap.layer] = output
        elif "{layer}" in output:
            targets[tap.layer] = output.replace("{layer}", safe_name(tap.layer))
        else:
            p = Path(output)
            targets[tap.layer] = str(p.with_name(f"{p.stem}-{safe_name(tap.layer)}{p.suffix or '.npz'}"))
    if len(set(targets.values())) != len(targets):
        raise BadValue("output", output, "several layers would write the same file", "put {layer} in it")
    return targets


def plan(inputs: F.Inputs, job: Job, targets: dict) -> list[dict]:
    """Each output's layer, shape, size in bytes and file (what --estimate prints)."""
    from gantool.transfer import features as F

    width = max((len(n) for n in inputs.names), default=1)
    return [{"layer": t.layer, "shape": [inputs.total, job.dims[t.layer]],
             "bytes": F.estimate_bytes(inputs.total, job.dims[t.layer], width),
             **({"output": targets[t.layer]} if targets else {})} for t in job.taps]


def describe(p: dict) -> str:
    from gantool.transfer import features as F

    return (f"{p['layer']}: {p['shape'][0]:,} x {p['shape'][1]:,} float32 = {F.human_bytes(p['bytes'])}"
            + (f" -> {p['output']}" if "output" in p else ""))


def check_space(outputs: list[dict]) -> None:
    """Refuse, before the first batch, files that the disks they go to cannot hold."""
    from gantool.transfer import features as F

    by_folder: dict = {}
    for p in outputs:
        if p.get("output", "-") != "-":
            folder = str(Path(p["output"]).resolve().parent)
            by_folder[folder] = by_folder.get(folder, 0) + p["bytes"]
    for folder, need in by_folder.items():
        free = shutil.disk_usage(folder).free
        if need > free:
            raise GantoolError(f"the features need {F.human_bytes(need)} but {folder} has {F.human_bytes(free)} "
                               "free", "pool them (avg or max), take fewer layers, or write elsewhere")


def extract(inputs: F.Inputs, job: Job, targets: dict, open_stream: Callable, settings: ExtractSettings,
            progress=None) -> float:
    """Every batch through the network once, each layer's rows streamed into its file
    (`open_stream(target)`: a binary stream context); returns the seconds it took. A failed stream
    (a full disk) leaves no half file and no writer that writes again."""
    from gantool.transfer import features as F

    import torch

    workers = default_workers() if settings.workers is None else settings.workers
    t0 = time.perf_counter()
    with ExitStack() as stack:
        writers = {}
        for tap in job.taps:
            stream = stack.enter_context(open_stream(targets[tap.layer]))
            writers[tap.layer] = stack.enter_context(F.NpzWriter(stream, inputs.total, job.dims[tap.layer]))
        if progress is not None:
            progress.start(inputs.total)
            stack.callback(progress.stop)
        done = 0
        with torch.inference_mode():
            for batch in F.batches(inputs, job.clf.channels, job.clf.resize_size, settings.batch_size, workers):
                x = batch.to(job.device, non_blocking=True).float().div_(255)
                for name, rows in job.extractor(x).items():
                    writers[name].write(rows.cpu().numpy())
                done += len(batch)
                if progress is not None:
                    progress.update(done, {})
        for tap in job.taps:
            writers[tap.layer].close(inputs.labels, inputs.classes, inputs.names, layer=tap.layer, model=job.clf.name)
    return time.perf_counter() - t0
