"""The options of the latent commands (sample, interpolate, arithmetic, restore), written once:
default, range, help. Torch- and NumPy-free: --help and completion read them.

Every count a user gives is bounded here, before any work: a grid or an animation holds at most
gantool.files.images.MAX_GRID_IMAGES pictures, a walk at most MAX_WALK_FRAMES latents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gantool.errors import BadValue, flag
from gantool.latent import METHODS, MODES
from gantool.settings import check, setting

MAX_SAMPLE = 100_000_000  # images of one `sample` (per class for a conditional model): drawn in chunks
MAX_STEPS = 1024  # frames of one leg of a walk
MAX_WALK_FRAMES = 100_000  # latents of one walk (its images: at most MAX_GRID_IMAGES)
MAX_VARIANTS = 16
MAX_JITTER = 10.0  # z is N(0, 1): noise of 10 standard deviations is already far off the prior


@dataclass
class SampleSettings:
    count: int = setting(16, "How many images to draw; for a conditional model without --class, how many per "
                             "class.", ge=1, le=MAX_SAMPLE, names=("-n",))
    nrow: Optional[int] = setting(None, "Images per grid row.", ge=1,
                                  default_help="about square, or -n per class")

    def validate(self) -> None:
        check(self)


@dataclass
class WalkSettings:
    steps: int = setting(8, "Frames from one latent to the next, both ends included.", ge=2, le=MAX_STEPS,
                         names=("-s",))
    method: str = setting("slerp", "slerp (the path stays where Gaussian z lives) or lerp (a straight line).",
                          choices=METHODS)
    mode: str = setting("pairs", "pairs: rows 0->1, 2->3, ..., a grid row each; path: one walk 0->1->2->... "
                                 "through all rows.", choices=MODES)
    loop: bool = setting(False, "Close the path back to its first row (with --mode path).", flag="--loop")
    fps: float = setting(12.0, "Frames per second of --animate.", ge=0.1, le=100)

    def validate(self) -> None:
        check(self)
        if self.loop and self.mode != "path":
            raise BadValue("loop", None, "closes a path", f"add {flag('mode')} path")

    def check_frames(self, rows: int, images: bool) -> None:
        """Refuse, before the walk is made, one too long to hold: from `rows` latent rows, its
        latents, or (`images`) the pictures of a grid or an animation."""
        from gantool.files.images import MAX_GRID_IMAGES

        legs = rows // 2 if self.mode == "pairs" else rows - 1 + self.loop
        frames, limit = max(legs, 0) * self.steps, MAX_GRID_IMAGES if images else MAX_WALK_FRAMES
        if frames > limit:
            raise BadValue("steps", self.steps, f"makes a walk of {frames:,} frames from {rows:,} latent rows, "
                           f"more than {limit:,}" + (" to look at" if images else ""),
                           f"use fewer {flag('steps')} or fewer latent rows")


@dataclass
class ArithmeticSettings:
    count: int = setting(1, "How many results: the exact one, then variants with --jitter noise on z.", ge=1, le=256,
                         names=("-n",))
    jitter: float = setting(0.25, "Standard deviation of the noise added to z for the variants.", ge=0,
                            le=MAX_JITTER)

    def validate(self) -> None:
        check(self)


@dataclass
class RestoreSettings:
    variants: int = setting(1, "Keep V visibly different restorations per image from the restarts, best first "
                               "(--restarts defaults to 2V).", ge=1, le=MAX_VARIANTS)
    simulate: bool = setting(False, "The images are clean: apply the damage first (noise seeded by --seed), and "
                                    "measure against them.", flag="--simulate")
    paste_known: bool = setting(False, "Keep what the input shows: its known pixels (--mask), its block averages "
                                       "(--downsample), its luminance (--gray); only the rest comes from the "
                                       "generator. Not with --blur; with --noise it keeps the noise too.",
                                flag="--paste-known")

    def validate(self) -> None:
        check(self)


__all__ = ["ArithmeticSettings", "RestoreSettings", "SampleSettings", "WalkSettings"]
