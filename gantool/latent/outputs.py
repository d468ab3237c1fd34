"""Where a latent command's results go: a PNG grid, one PNG per image in a folder, the latents as
.npy, an animation. The command line checks and claims every path before any work
(gantool.cli.kit.check_outputs, ImageChunks.plan_files) and hands them over here; the jobs write
through this, so every command writes its outputs the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gantool.errors import flag
from gantool.files.writing import STDIO


@dataclass
class Outputs:
    env: Any  # gantool.context.Env: the streams (`-` is stdout)
    grid: str | None = None  # a PNG grid (or panel)
    out_dir: Path | None = None  # one PNG per image
    latents: str | None = None  # .npy latents
    stems: list[str] | None = None  # the out_dir file stem of each image (ImageChunks.plan_files)
    animation: Path | None = None  # an animated .gif or .webp

    @property
    def images(self) -> bool:
        """Whether any output needs images (else the generator need not run)."""
        return self.grid is not None or self.out_dir is not None or self.animation is not None

    @property
    def table_to_stderr(self) -> bool:
        """A table goes to stderr when the latents take stdout."""
        return self.latents == STDIO

    def write_latents(self, latents) -> None:
        from gantool.files.writing import write_latents

        if self.latents is not None:
            write_latents(self.env, self.latents, latents, flag("latents"))

    def write_grid(self, images01, nrow: int) -> None:
        from gantool.files.images import grid_png
        from gantool.files.writing import write_output

        if self.grid is not None:
            write_output(self.env, self.grid, grid_png(images01, nrow), "a PNG image", flag("output"))

    def write_each(self, images01, stems: list[str] | None = None) -> None:
        """One PNG per image into out_dir: (N, C, H, W) named by `stems` (default: the planned ones),
        or (N, V, C, H, W) variants, the first as STEM.png and the others STEM-2.png, ..."""
        from gantool.files.images import png_bytes, to_uint8
        from gantool.files.writing import write_in

        if self.out_dir is None:
            return
        for stem, images in zip(stems or self.stems, images01):
            if images.dim() == 3:
                write_in(self.out_dir, f"{stem}.png", png_bytes(to_uint8(images)))
                continue
            for v, image in enumerate(to_uint8(images)):
                write_in(self.out_dir, f"{stem}{'' if v == 0 else f'-{v + 1}'}.png", png_bytes(image))

    def write_animation(self, images01, fps: float) -> None:
        from gantool.files.images import ANIMATION_FORMATS, animation_bytes
        from gantool.files.writing import atomic_write

        if self.animation is not None:
            fmt = ANIMATION_FORMATS[Path(self.animation).suffix.lower()]
            atomic_write(self.animation, animation_bytes(images01, fmt, fps))

    def written(self) -> str:
        """`: a.png, z.npy` for a status line: the files written (stdout is not named)."""
        paths = [str(p) for p in (self.grid, self.out_dir, self.animation, self.latents)
                 if p is not None and p != STDIO]
        return f": {', '.join(paths)}" if paths else ""


def variant_suffixes(variants: int) -> tuple[str, ...]:
    """The files one image writes into out_dir with `variants` kept: STEM.png, STEM-2.png, ..."""
    return (".png", *(f"-{v}.png" for v in range(2, variants + 1)))
