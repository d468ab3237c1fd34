"""What the two sides of a translation model hold, and how images in [0, 1] become them and back.

A translator's file records its task in gantool.config (`task`) and, in gantool.data, what it was
trained on (`load_size`, `damage` for a restorer, `direction`). `Sides` turns that into the three
conversions training and `gantool translate` share, so they can never disagree:

- `encode(images01)`: the generator's input. paired (and unpaired: a CycleGAN's, either way): the
  image in [-1, 1], its channels made the model's; colorize: L / 50 - 1 of an RGB or gray image;
  restore: the damaged image brought back to full size (nearest-neighbour under downsampling, gray
  repeated into colour) in [-1, 1].
- `target(images01)`: what the generator should make of a clean image (training): the image in
  [-1, 1], or for colorize its a*b* / 110.
- `decode(output, images01)`: the generator's output as an image in [0, 1]; for colorize, the
  predicted a*b* (upsampled to the input's size when predicted smaller) joined to the input's own
  full-resolution L.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gantool.errors import BadValue


@dataclass(frozen=True)
class Sides:
    task: str
    in_channels: int
    out_channels: int
    downsample: int = 1  # a restorer's input is this many times smaller on a side

    @classmethod
    def of(cls, config, data: dict, direction: str | None = None) -> "Sides":
        """From a translator's config (Pix2PixConfig, or CycleGANConfig with the `direction` applied:
        a2b by default) and its header's gantool.data."""
        if config.task == "unpaired":  # CycleGAN: pixels in [-1, 1] both ways, each domain its own channels
            return cls(config.task, *config.channels(direction or "a2b"))
        damage = data.get("damage") or {}
        return cls(config.task, config.in_channels, config.out_channels, int(damage.get("downsample", 1) or 1))

    def _channels(self, images01: torch.Tensor, want: int) -> torch.Tensor:
        c = images01.shape[1]
        if c == want:
            return images01
        if want == 3 and c == 1:
            return images01.expand(-1, 3, -1, -1)
        if want == 1 and c == 3:
            from torchvision.transforms.v2 import functional as TF

            return TF.rgb_to_grayscale(images01)
        raise BadValue("channels", c, f"cannot be brought to the model's {want}")

    def encode(self, images01: torch.Tensor) -> torch.Tensor:
        if self.task == "colorize":
            from gantool.translation.colour import lightness

            return lightness(images01)
        x = images01
        if self.task == "restore" and self.downsample > 1:
            x = F.interpolate(x, scale_factor=self.downsample, mode="nearest")
        return self._channels(x, self.in_channels) * 2 - 1

    def target(self, images01: torch.Tensor) -> torch.Tensor:
        if self.task == "colorize":
            from gantool.translation.colour import to_lab

            return to_lab(images01)[1]
        return self._channels(images01, self.out_channels) * 2 - 1

    def decode(self, output: torch.Tensor, images01: torch.Tensor | None = None) -> torch.Tensor:
        if self.task == "colorize":
            from gantool.translation.colour import from_lab, lightness

            if images01 is None:
                raise ValueError("colorization joins the input's L")
            l_full = lightness(images01)
            if output.shape[-2:] != l_full.shape[-2:]:
                output = F.interpolate(output.float(), size=l_full.shape[-2:], mode="bilinear", align_corners=False)
            return from_lab(l_full, output)
        return ((output.float() + 1) / 2).clamp(0, 1)

    def shown_input(self, model_input: torch.Tensor) -> torch.Tensor:
        """The generator's input as an image in [0, 1] with the output's channels (for grids)."""
        x = ((model_input.float() + 1) / 2).clamp(0, 1)
        want = 3 if self.task == "colorize" else self.out_channels
        return x.expand(-1, want, -1, -1) if x.shape[1] == 1 and want == 3 else self._channels(x, want)
