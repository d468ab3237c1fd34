"""How a model wants its pixels, as data any model kind can apply and a model file can record.

Images between gantool's parts are floats in [0, 1]. A model sees (x - mean) / std per channel; a
range [low, high] is the same thing with mean = -low / (high - low) and std = 1 / (high - low).
In a file's gantool.data: {"range": [-1, 1]} or {"mean": [...], "std": [...]}; gantool 0.1.0
wrote the string "[-1, 1]: x / 127.5 - 1".
"""

from __future__ import annotations

from dataclasses import dataclass

from gantool.errors import GantoolError


@dataclass(frozen=True)
class Normalization:
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    @classmethod
    def range(cls, low: float, high: float) -> "Normalization":
        """Pixels mapped linearly from [0, 1] onto [low, high]."""
        return cls((-low / (high - low),), (1.0 / (high - low),))

    @property
    def bounds(self) -> tuple[float, float] | None:
        """[low, high] when every channel maps [0, 1] onto the same range, else None."""
        if len(self.mean) != 1:
            return None
        return -self.mean[0] / self.std[0], (1 - self.mean[0]) / self.std[0]

    def stats(self, x):
        """(mean, std) as tensors shaped to broadcast over `x` (B, C, H, W) or (C, H, W), on its device."""
        import torch

        shape = (1, -1, 1, 1) if x.dim() == 4 else (-1, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return mean, std

    def to_model(self, images):
        """Images in [0, 1], (B, C, H, W) or (C, H, W) -> what the model takes."""
        mean, std = self.stats(images)
        return (images - mean) / std

    def from_model(self, values):
        """What the model makes -> images in [0, 1] (clamped)."""
        mean, std = self.stats(values)
        return (values * std + mean).clamp(0, 1)

    def to_dict(self) -> dict:
        b = self.bounds
        if b is not None:
            return {"range": [round(b[0], 12), round(b[1], 12)]}
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d, name: str = "model file") -> "Normalization":
        if isinstance(d, str) and d.startswith("[-1, 1]"):  # gantool 0.1.0
            return cls.range(-1.0, 1.0)
        try:
            if isinstance(d, dict) and "range" in d:
                low, high = (float(v) for v in d["range"])
                if not high > low:
                    raise ValueError
                return cls.range(low, high)
            if isinstance(d, dict) and "mean" in d:
                mean, std = tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"])
                if len(mean) != len(std) or not mean or not all(s > 0 for s in std):
                    raise ValueError
                return cls(mean, std)
        except (TypeError, ValueError, KeyError):
            pass
        raise GantoolError(f"{name} has an unreadable normalization: {d!r}",
                           'expected {"range": [low, high]} or {"mean": [...], "std": [...]}')
