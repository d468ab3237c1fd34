"""The saliency options, written once (gantool.settings): the library checks them, `gantool saliency`
turns them into options. Torch-free: --help reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gantool.settings import check, setting

METHODS = ("gradient", "smoothgrad", "integrated-gradients", "grad-cam")
IG_BASELINES = ("black", "white", "gray", "blur")
FILLS = ("rise", "black", "blur")
METHOD, CHECKS = "Method", "Checks"


@dataclass
class SaliencySettings:
    method: str = setting("gradient", "gradient: max |d score / d pixel| over channels (Simonyan et al. 2014); "
                          "smoothgrad: the same, averaged over noisy copies; integrated-gradients: attributions "
                          "along a path from a baseline (signed, summed over channels); grad-cam: the class "
                          "activation map of a layer, upsampled to the image.", METHOD, choices=METHODS)
    target: Optional[str] = setting(None, "The class to explain, by index or name.", METHOD,
                                    default_help="each image's predicted class")
    layer: Optional[str] = setting(None, "grad-cam: the layer, by name (`gantool layers MODEL` lists them).", METHOD,
                                   default_help="the last spatial layer before pooling")
    samples: int = setting(25, "smoothgrad: noisy copies per image.", METHOD, ge=1, le=1000)
    noise: float = setting(0.15, "smoothgrad: the noise's standard deviation as a fraction of the input range "
                           "(images are in [0, 1]).", METHOD, gt=0, le=1)
    ig_steps: int = setting(32, "integrated-gradients: steps of the path integral (Gauss-Legendre).", METHOD,
                            ge=2, le=4096)
    baseline: str = setting("black", "integrated-gradients: the baseline image: black, white, gray, or a blurred "
                            "copy of the image.", METHOD, choices=IG_BASELINES)
    deletion_steps: int = setting(16, "Deletion and insertion curves: how many steps from no pixel to every pixel.",
                                  CHECKS, ge=2, le=1024)
    fill: str = setting("rise", "What deleted pixels become and what insertion starts from: rise (deletion to "
                        "black, insertion from a blurred copy, as RISE), black, or blur (both).", CHECKS,
                        choices=FILLS)

    def validate(self) -> None:
        check(self)
