"""`gantool translate`: a translation model (kind "translator": gantool.models.pix2pix, or
gantool.models.cyclegan with its generator for --direction a2b or b2a) applied to images of any
size, a few at a time, importable without the CLI.

- `TranslateSettings`: the options with a default (side-by-side input, direction, self-reference,
  test-time dropout), written once.
- `plan(...)`: every check before a weight is read. The model's header (task, trained direction,
  load size, a restorer's damage); each input's channels and size from its file header alone (a
  file) or its shape (a batch); the references matched to the inputs (by name in a folder, by
  order in a batch, or the one image for one input) and their sizes against the outputs'; the
  panel's size. Returns a Plan.
- `Translation(plan, G, seed).run(out_dir, stems, progress)`: the images in batches of
  consecutive images of one size (at most PIXELS_PER_BATCH pixels; one image at a time under
  dropout), never stacking two sizes. Each is translated through `Sides` (the one place pixels
  become the generator's input and its output an image), written as STEM.png, scored against its
  reference, and kept for the panel as uint8; `run` yields each batch's rows.

Sizes: the U-Net pads any input and crops back, so an output has its input's size (a restorer's
input under downsampling damage is K times smaller: its output is K times larger; a side-by-side
input's output is half as wide). A colorizer predicts a*b* on a copy whose shorter side is the
header's load size when the input is larger (the scale it was trained at), and the a*b* are joined
to the input's own full-resolution L.

Scores are measured on the 8-bit output as written (PSNR and SSIM by torchmetrics on [0, 1],
gantool.latent.invert.quality; colourfulness by gantool.translation.colour).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from gantool.errors import BadValue, GantoolError, UsageError, flag
from gantool.settings import check, setting
from gantool.translation.spec import DIRECTIONS
from gantool.words import plural

INPUT = "Input"
MAX_PIXELS = 2**26  # 64 megapixels (8192 x 8192) into the generator: beyond, refused with the limit
PIXELS_PER_BATCH = 2**20  # images of one size per generator call: 4096 at 16x16, 1 at 1024x1024
MAX_PANEL_PIXELS = 2**27  # the -o panel, cells padded to the largest image: about 400 MB as RGB
SSIM_MIN_SIDE = 6  # torchmetrics' 11-pixel Gaussian window reflects 5 pixels: smaller images get no SSIM
_ALPHA = {"grayscale with transparency (LA)": 2, "colour with transparency (RGBA)": 4}


@dataclass
class TranslateSettings:
    ab: bool = setting(False, "The inputs are side-by-side AB images (the public pix2pix sets: A on the left half, "
                              "B on the right): the half the model takes (A for a model trained a2b) is translated, "
                              "the other half is its reference.", INPUT)
    direction: Optional[str] = setting(None, "The way to translate: a CycleGAN model applies its A -> B generator "
                                             "(a2b) or its B -> A one (b2a); a pix2pix model translates one way only, "
                                             "the way it was trained, and another is refused.", INPUT,
                                       choices=DIRECTIONS, default_help="a2b for a CycleGAN, the trained one for "
                                                                        "pix2pix")
    self_reference: bool = setting(False, "Colorization of colour input: score the output against the input itself "
                                          "(the input is reduced to L first, so its colours are the ground truth).",
                                   INPUT)
    dropout: bool = setting(False, "Keep the decoder's dropout on (the paper's test-time noise): outputs vary with "
                                   "--seed, and the same seed gives the same output.", INPUT)

    def validate(self, reference: str | None) -> None:
        check(self)
        if reference is not None and self.self_reference:
            raise BadValue("self_reference", None, "contradicts {reference}: give one of them")
        if self.ab and (reference is not None or self.self_reference):
            raise BadValue("ab", None, "takes each image's reference from its other half",
                           f"drop {flag('reference')} and {flag('self_reference')}")
        if reference == "-":
            raise BadValue("reference", reference, "cannot come from stdin",
                           "give a folder, a .npy/.npz batch or an image file")

    def columns(self, reference: str | None) -> int:
        """Pictures per panel row: input | output (| reference)."""
        return 3 if reference is not None or self.self_reference or self.ab else 2


@dataclass(frozen=True)
class Shape:
    """One input as read: channels 1 or 3 (an alpha channel dropped), and its size."""
    channels: int
    height: int
    width: int


@dataclass
class Plan:
    """What `plan` checked, for Translation."""
    model: str
    sides: object  # gantool.translation.sides.Sides
    task: str
    direction: str
    load_size: int
    settings: TranslateSettings
    chunks: object  # gantool.data.inputs.ImageChunks
    shapes: list  # (count, Shape) for each item of chunks, in order
    references: object | None  # ImageChunks of the references in the inputs' order, or None
    scored: bool  # each image has a reference (--reference, --self-reference or --ab)
    panel: bool
    out_channels: int = 3
    cell: tuple[int, int] = (0, 0)  # the largest output (h, w): the panel's cell
    role: str = "generator"  # the network applied (a CycleGAN's generator_ab or generator_ba)

    def out_size(self, s: Shape) -> tuple[int, int]:
        k = self.sides.downsample if self.task == "restore" else 1
        return s.height * k, (s.width // 2 if self.settings.ab else s.width) * k


def _translator(model: str, settings: TranslateSettings):
    """The model's header, checked: (info, Sides, direction, load size)."""
    from gantool.models import loader
    from gantool.translation.sides import Sides

    info = loader.inspect(model, kinds=("translator",))
    cfg, data = info.config, info.header.data
    if cfg.task == "unpaired":
        return _cyclegan(model, info, settings)
    trained = data.get("direction") or "a2b"
    if settings.direction is not None and settings.direction != trained:
        raise BadValue("direction", settings.direction,
                       f"a {info.arch.name} model translates one way (it was trained {trained})",
                       "drop the option, or train a model the other way")
    if settings.self_reference and cfg.task != "colorize":
        raise BadValue("self_reference", None, f"is for colorization models, and {model} is a {cfg.task} model",
                       f"give the ground truth with {flag('reference')}")
    if settings.dropout and not (cfg.dropout > 0 and cfg.depth >= 3):
        raise BadValue("dropout", None, f"{model} has no dropout layer (trained with dropout {cfg.dropout:g})")
    if cfg.task != "colorize" and (cfg.in_channels not in (1, 3) or cfg.out_channels not in (1, 3)):
        raise GantoolError(f"not supported yet: {model} maps {cfg.in_channels}-channel images to "
                           f"{cfg.out_channels}-channel ones", "translate reads and writes grayscale and colour images")
    return info, Sides.of(cfg, data), trained, int(data.get("load_size") or cfg.image_size)


def _cyclegan(model: str, info, settings: TranslateSettings):
    """A CycleGAN's header, checked for the direction asked: (info, Sides, direction, load size)."""
    from gantool.translation.sides import Sides

    cfg, direction = info.config, settings.direction or "a2b"
    if settings.self_reference:
        raise BadValue("self_reference", None, f"is for colorization models, and {model} is a CycleGAN",
                       f"give the ground truth with {flag('reference')}")
    if settings.dropout:
        raise BadValue("dropout", None, f"{model} has no dropout layer (a CycleGAN's generators have none)")
    cin, cout = cfg.channels(direction)
    if cin not in (1, 3) or cout not in (1, 3):
        raise GantoolError(f"not supported yet: {model} maps {cin}-channel images to {cout}-channel ones "
                           f"({direction})", "translate reads and writes grayscale and colour images")
    return info, Sides.of(cfg, info.header.data, direction), direction, int(info.header.data.get("load_size")
                                                                          or cfg.image_size)


def _file_shape(what, name: str, colorize: bool) -> Shape:
    from gantool.files.images import channels_of, image_size_of

    stream = io.BytesIO(what) if isinstance(what, bytes) else what
    shown = "<stdin>" if isinstance(what, bytes) else str(what)
    words = channels_of(stream, shown)
    if colorize and words in _ALPHA:
        raise GantoolError(f"{shown} is {words}: a colorization model takes colour or grayscale images",
                           "drop the alpha channel first (convert it to RGB or L)")
    if isinstance(what, bytes):
        stream.seek(0)
    w, h = image_size_of(stream)
    return Shape(1 if words.startswith("grayscale") else 3, h, w)


def _shapes(chunks, colorize: bool) -> list:
    """(count, Shape) per item of an ImageChunks, from file headers and batch shapes only."""
    out = []
    for kind, what, name in chunks.items:
        if kind == "file":
            out.append((1, _file_shape(what, name, colorize)))
        else:
            out.append((what.num_images, Shape(what.channels, *what.images.shape[-2:])))
    return out


def _check_input(p: Plan, name: str, s: Shape) -> None:
    if p.settings.ab and (s.width % 2 or s.width < 2):
        raise GantoolError(f"{name} is {s.width} pixels wide: not a side-by-side AB image",
                           "AB images hold A on the left half and B on the right, of one width each")
    h, w = p.out_size(s)
    if h * w > MAX_PIXELS:
        raise GantoolError(f"{name} would be translated at {w}x{h}: more than the {MAX_PIXELS // 2**20} megapixels "
                           "translate takes", f"at most {MAX_PIXELS:,} pixels; shrink or tile it first")
    if p.settings.self_reference and s.channels != 3:
        raise GantoolError(f"{name} is grayscale: {flag('self_reference')} scores colorizations of colour images",
                           f"give the ground truth with {flag('reference')}")


def _names(chunks, shapes):
    """(where it comes from, Shape) for every image, in order: for messages."""
    it = iter(chunks.origins())
    for count, s in shapes:
        for _ in range(count):
            yield next(it)[1], s


def _reference_sources(reference: str, chunks) -> list[str]:
    """The reference files (or batch) in the inputs' order."""
    from gantool.files.images import is_image_file
    from gantool.files.reading import reading

    path = Path(reference)
    if path.is_dir():
        with reading(path, "folder"):
            files = sorted(f for f in path.rglob("*") if f.is_file() and is_image_file(f))
        by_name: dict[str, Path] = {}
        for f in files:
            key = str(f.relative_to(path).with_suffix(""))
            if key in by_name:
                raise GantoolError(f"{by_name[key]} and {f} are both references for {key}",
                                   "keep one image per name in the reference folder")
            by_name[key] = f
        out = []
        for name, origin in chunks.origins():
            if name not in by_name:
                raise GantoolError(f"no reference for {origin} in {path}",
                                   "the reference folder holds images with the inputs' names (any image ending)")
            out.append(str(by_name[name]))
        return out
    if not reference.endswith((".npy", ".npz")) and chunks.total != 1:
        raise BadValue("reference", reference, f"is one image for {plural(chunks.total, 'input')}",
                       "give a folder holding the inputs' names, or a .npy/.npz batch in their order")
    return [reference]


def plan(model: str, chunks, settings: TranslateSettings, reference: str | None, panel: bool) -> Plan:
    """Every check of `gantool translate` before the weights are read (see the module docstring)."""
    from gantool.data.inputs import ImageChunks
    from gantool.models.cyclegan import GENERATOR

    settings.validate(reference)
    info, sides, direction, load = _translator(model, settings)
    task = info.config.task
    p = Plan(model, sides, task, direction, load, settings, chunks, _shapes(chunks, task == "colorize"), None,
             scored=settings.columns(reference) == 3, panel=panel,
             out_channels=3 if task == "colorize" else sides.out_channels,
             role=GENERATOR[direction] if task == "unpaired" else "generator")
    for name, s in _names(chunks, p.shapes):
        _check_input(p, name, s)
        p.cell = tuple(max(a, b) for a, b in zip(p.cell, p.out_size(s)))
    if reference is not None:
        p.references = ImageChunks(_reference_sources(reference, chunks))
        ref_shapes = _names(p.references, _shapes(p.references, False))
        if p.references.total != chunks.total:
            raise GantoolError(f"{reference} holds {plural(p.references.total, 'image')} for "
                               f"{plural(chunks.total, 'input')}", "one reference per input, in the inputs' order")
        for (name, s), (ref_name, r) in zip(_names(chunks, p.shapes), ref_shapes):
            if (r.height, r.width) != (size := p.out_size(s)):
                raise GantoolError(f"the reference {ref_name} is {r.width}x{r.height}, but the translation of "
                                   f"{name} is {size[1]}x{size[0]}", "a reference has the size of its output")
    if panel:
        rows, columns = chunks.total, settings.columns(reference)
        if rows * columns * p.cell[0] * p.cell[1] > MAX_PANEL_PIXELS:
            raise UsageError(f"a panel of {plural(rows, 'image')} up to {p.cell[1]}x{p.cell[0]} is too large to "
                             f"look at (over {MAX_PANEL_PIXELS:,} pixels)",
                             f"write the translations with {flag('out_dir')}, or fewer or smaller images with "
                             f"{flag('output')}")
    return p


@dataclass
class Translation:
    """The job: `run` yields a list of rows per batch; `panel_png()` afterwards."""
    plan: Plan
    G: object  # the generator, in eval mode
    seed: int
    panel_rows: list = field(default_factory=list)

    def __post_init__(self):
        from torch import nn

        self.device = next(self.G.parameters()).device
        if self.plan.settings.dropout:
            for m in self.G.modules():
                if isinstance(m, nn.Dropout):
                    m.train()

    # ---- reading ----
    def _items(self):
        """(name, uint8 model-side image (C, H, W), uint8 reference or None), one at a time."""
        p = self.plan
        p.chunks.chunk = 1  # images of many sizes: never stacked
        refs = None
        if p.references is not None:
            p.references.chunk = 1
            refs = (pixels[0] for pixels, _ in p.references.read(p.out_channels, None))
        shapes = (s for count, s in p.shapes for _ in range(count))
        for (pixels, names), s in zip(p.chunks.read(3, None), shapes):
            image = pixels[0] if s.channels == 3 else pixels[0, :1]
            ref = next(refs) if refs is not None else None
            if p.settings.ab:
                w = image.shape[-1] // 2
                a, b = image[..., :w], image[..., w:]
                image, ref = (a, b) if p.direction == "a2b" else (b, a)
                ref = _to_channels(ref, p.out_channels)
            elif p.settings.self_reference:
                ref = image
            yield names[0], image, ref

    def _batches(self):
        """Consecutive images of one shape, at most PIXELS_PER_BATCH pixels (one under dropout)."""
        batch = []
        for item in self._items():
            if batch and (item[1].shape != batch[0][1].shape or self.plan.settings.dropout
                          or (len(batch) + 1) * item[1].numel() > PIXELS_PER_BATCH):
                yield batch
                batch = []
            batch.append(item)
        if batch:
            yield batch

    # ---- translating ----
    def translate(self, images01):
        """Images in [0, 1] (B, C, H, W) on the device -> (what the model saw, the output), both in [0, 1]
        with the output's channels, at the output's size."""
        import torch.nn.functional as F

        sides, p = self.plan.sides, self.plan
        if p.task == "colorize":
            h, w = images01.shape[-2:]
            small = images01
            if min(h, w) > p.load_size:
                s = p.load_size / min(h, w)
                small = F.interpolate(images01, size=(max(1, round(h * s)), max(1, round(w * s))), mode="bilinear",
                                      antialias=True, align_corners=False).clamp(0, 1)
            out = sides.decode(self._forward(sides.encode(small), images01), images01)
            return sides.shown_input(sides.encode(images01)), out
        x = sides.encode(images01)
        out = sides.decode(self._forward(x, images01))
        return sides.shown_input(x), out

    def _forward(self, x, images01):
        import torch

        if not self.plan.settings.dropout:
            return self.G(x)
        from gantool.latent.invert import image_seed

        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(image_seed(self.seed, images01[0]))
            return self.G(x)

    def run(self, out_dir=None, stems=None, progress=None):
        """Translate every image; yields each batch's rows. `progress`: a callable that makes a
        gantool.progress display, called only when there is more than one image."""
        import torch

        from gantool.files.images import png_bytes, to_uint8
        from gantool.files.writing import write_in
        from gantool.progress import over

        done = 0
        with torch.inference_mode():
            shown_progress = progress() if progress is not None and self.plan.chunks.total > 1 else None
            for batch in over(self._batches(), self.plan.chunks.total, shown_progress):
                x = torch.stack([image for _, image, _ in batch]).to(self.device).float().div_(255)
                shown, out = self.translate(x)
                shown, out = to_uint8(shown), to_uint8(out)
                refs = torch.stack([r for _, _, r in batch]) if self.plan.scored else None
                rows = self._score(batch, out, refs)
                for i, row in enumerate(rows):
                    if out_dir is not None:
                        write_in(out_dir, stems[done + i] + ".png", png_bytes(out[i]))
                        row["file"] = str(Path(out_dir) / (stems[done + i] + ".png"))
                    if self.plan.panel:
                        self.panel_rows.append([shown[i], out[i]] + ([refs[i]] if refs is not None else []))
                done += len(batch)
                yield rows

    def _score(self, batch, out, refs) -> list[dict]:
        from gantool.latent.invert import quality
        from gantool.translation.colour import colourfulness

        out01 = out.float() / 255
        colour = colourfulness(out01)
        rows = [{"image": name, "width": int(out.shape[-1]), "height": int(out.shape[-2]),
                 "colourfulness": round(float(colour[i]), 2)} for i, (name, _, _) in enumerate(batch)]
        if refs is None:
            return rows
        ref01 = refs.float() / 255
        psnr, ssim = quality(out01, ref01) if min(out.shape[-2:]) >= SSIM_MIN_SIDE else (quality_psnr(out01, ref01),
                                                                                        None)
        ref_colour = colourfulness(ref01)
        for i, row in enumerate(rows):
            row.update(psnr=round(float(psnr[i]), 2), ssim=round(float(ssim[i]), 4) if ssim is not None else None,
                       reference_colourfulness=round(float(ref_colour[i]), 2))
        return rows

    def panel_png(self) -> bytes:
        """input | output (| reference), a row per image, each padded (black, right and bottom) to the largest."""
        import torch
        import torch.nn.functional as F
        from torchvision.utils import make_grid

        from gantool.files.images import png_bytes

        h, w = self.plan.cell
        cells = [F.pad(_to_channels(im, self.plan.out_channels), (0, w - im.shape[-1], 0, h - im.shape[-2]))
                 for row in self.panel_rows for im in row]
        grid = make_grid(torch.stack(cells), nrow=len(self.panel_rows[0]), padding=2, pad_value=0)
        return png_bytes(grid[:1] if self.plan.out_channels == 1 else grid)


def quality_psnr(out01, ref01):
    from torchmetrics.functional.image import peak_signal_noise_ratio

    return peak_signal_noise_ratio(out01, ref01, data_range=1.0, reduction="none", dim=(1, 2, 3))


def _to_channels(image, channels: int):
    """uint8 (C, H, W) as `channels` (gray repeated, colour to luma as Pillow's L)."""
    if image.shape[0] == channels:
        return image
    if channels == 3:
        return image.expand(3, -1, -1)
    from torchvision.transforms.v2 import functional as TF

    return TF.rgb_to_grayscale(image)


def columns(rows: list[dict]) -> list[tuple[str, str, str]]:
    """The table's columns (gantool.cli.kit.table): with scores when the rows have them."""
    out = [("image", "image", ""), ("width", "width", ""), ("height", "height", "")]
    if rows and "psnr" in rows[0]:
        out += [("psnr", "PSNR dB", ".2f"), ("ssim", "SSIM", ".4f")]
    out += [("colourfulness", "colourfulness", ".2f")]
    if rows and "psnr" in rows[0]:
        out += [("reference_colourfulness", "reference's", ".2f")]
    return out


def summary(rows: list[dict], plan: Plan, seed: int) -> str:
    """The log line: how many, and the means (PSNR, SSIM, colourfulness and its ratio to the reference's)."""
    def mean(key):
        values = [r[key] for r in rows if r.get(key) is not None]
        return sum(values) / len(values) if values else None

    text = f"translated {plural(len(rows), 'image')} ({plan.task}" + (f", {plan.direction}" if plan.task == "unpaired"
                                                                        else "")
    text += f", dropout on, seed {seed})" if plan.settings.dropout else ")"
    c, rc = mean("colourfulness"), mean("reference_colourfulness")
    if plan.scored and rows:
        text += f": mean PSNR {mean('psnr'):.2f} dB"
        if mean("ssim") is not None:
            text += f", SSIM {mean('ssim'):.4f}"
        text += f", colourfulness {c:.2f} against the reference's {rc:.2f}"
        if rc:
            text += f" (ratio {c / rc:.2f})"
    elif rows:
        text += f": mean colourfulness {c:.2f}"
    return text
