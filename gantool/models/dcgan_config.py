"""The DCGAN's settings, torch-free (the CLI reads its choices for --help): the config a model file
records, and the size rule (4x4 or 7x7 doubled at least twice: 16, 32, 64, ... and 28, 56, ...)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from gantool.errors import BadValue
from gantool.models.registry import config_from_dict

ACTIVATIONS = ("relu", "leaky-relu")
INITS = ("dcgan", "default")
MAX_IMAGE_SIZE = 4096
MAX_WIDTH = 1 << 16  # channels in any layer


@dataclass(frozen=True)
class DCGANConfig:
    image_size: int = 28
    channels: int = 1
    nz: int = 64
    ngf: int = 64
    ndf: int = 64
    num_classes: int = 0  # 0: unconditional
    g_batch_norm: bool = True
    d_batch_norm: bool = True
    g_activation: str = "relu"
    d_activation: str = "leaky-relu"
    spectral_norm: bool = False
    init: str = "dcgan"
    class_head: bool = False  # conditional D: an auxiliary classifier beside the projection (AC-GAN)

    @property
    def latent_dim(self) -> int:
        return self.nz + self.num_classes

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def to_dict(self) -> dict:
        return {"arch": "dcgan", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "DCGANConfig":
        return config_from_dict(cls, d)

    def validate(self) -> None:
        """BadValue (naming the field) for settings no network can be built from."""
        base_and_doublings(self.image_size)
        for name in ("nz", "ngf", "ndf"):
            if not 1 <= getattr(self, name) <= MAX_WIDTH:
                raise BadValue(name, getattr(self, name), f"must be from 1 to {MAX_WIDTH}")
        if self.num_classes < 0:
            raise BadValue("num_classes", self.num_classes, "must be 0 (unconditional) or more")
        if self.class_head and not self.num_classes:
            raise BadValue("class_head", self.class_head, "needs a conditional model (num_classes > 0)")
        if self.channels not in (1, 3):
            raise BadValue("channels", self.channels, "must be 1 or 3")
        for name in ("g_activation", "d_activation"):
            if getattr(self, name) not in ACTIVATIONS:
                raise BadValue(name, getattr(self, name), f"must be one of {', '.join(ACTIVATIONS)}")
        if self.init not in INITS:
            raise BadValue("init", self.init, f"must be one of {', '.join(INITS)}")
        _, n = base_and_doublings(self.image_size)
        if max(self.ngf, self.ndf) << (n - 1) > MAX_WIDTH:
            raise BadValue("image_size", self.image_size, f"with this width a layer would exceed {MAX_WIDTH} channels")


def base_and_doublings(size: int) -> tuple[int, int]:
    """(4 or 7, n) with size == base * 2**n and n >= 2, or BadValue naming the valid sizes."""
    for base in (4, 7):
        if not 0 < size <= MAX_IMAGE_SIZE:
            break
        n, s = 0, size
        while s > base and s % 2 == 0:
            s //= 2
            n += 1
        if s == base and n >= 2:
            return base, n
    raise BadValue("image_size", size, f"not a DCGAN size: use 16, 32, 64, 128, ... or 28, 56, 112, ... "
                                       f"up to {MAX_IMAGE_SIZE}")


def supported_size_at_least(size: int) -> int:
    """The smallest supported image size >= size."""
    s = max(size, 16)
    while True:
        try:
            base_and_doublings(s)
            return s
        except BadValue:
            s += 1


def size_for(native: int) -> int:
    """The training size for data of this size when none is asked for: its own when a DCGAN can
    have it, else the next one up, at least 28."""
    try:
        base_and_doublings(native)
        return native
    except BadValue:
        return supported_size_at_least(max(native, 28))
