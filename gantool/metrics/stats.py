"""The real side of every score, computed once: a judge's features of the real images.

Kept whole, not only mean and covariance: KID and precision/recall/density/coverage need the
samples. A stats file is a gantool .safetensors (kind `stats`): the tensor `stats.features`
(N, D) float32; gantool.config names the judge (`identity`: its weights' sha256 and the layer,
`judge_name`, `layer`, `num_features`); gantool.data the real images (`name`, `num_images`,
`image_size`, `channels`). Loading it with another judge is refused: its features live in
another space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from gantool.words import article
from gantool.errors import BadValue, GantoolError, UsageError, flag
from gantool.files import modelfile

KIND_STATS = "stats"


def describe_header(header) -> tuple[str, dict]:
    """For `gantool info`: one line (what the statistics are of, in which judge's features), and the config."""
    c, d = header.config, header.data
    line = (f"real-image statistics: {d.get('num_images', '?')} images of {d.get('name', '?')}, "
            f"{c.get('num_features', '?')} features of {c.get('judge_name', '?')} at layer {c.get('layer', '?')}")
    return line, c


@dataclass
class RealStats:
    features: torch.Tensor  # float32 (N, D), CPU
    identity: str  # the judge's (Judge.identity)
    info: dict = field(default_factory=dict)  # name, num_images, image_size, channels of the real images

    @property
    def n(self) -> int:
        return int(self.features.shape[0])

    @classmethod
    def from_images(cls, judge, images: torch.Tensor, batch_size: int | None = None, name: str = "") -> "RealStats":
        """The judge's features of real images: float in [0, 1] or uint8, (N, C, H, W)."""
        if images.dim() != 4 or len(images) < 2:
            raise GantoolError(f"real statistics need 2 or more images (N, C, H, W), not {tuple(images.shape)}")
        features, _ = judge.extract(images, logits=False, batch_size=batch_size)
        info = {"name": name, "num_images": len(images), "image_size": int(images.shape[-1]),
                "channels": int(images.shape[1]), "judge_name": judge.name, "layer": judge.tap.layer}
        return cls(features, judge.identity, info)

    def check(self, judge, source: str = "these statistics") -> None:
        if self.identity != judge.identity:
            raise UsageError(f"{source} were computed by another judge ({self.identity}), not {judge.identity}",
                             "judge with the network and layer they were computed by, or compute them again")
        if self.features.shape[1] != judge.num_features:
            raise GantoolError(f"{source} hold {self.features.shape[1]} features a row; the judge gives "
                               f"{judge.num_features}")

    def save(self, path) -> None:
        """Write a stats .safetensors atomically."""
        config = {"identity": self.identity, "num_features": int(self.features.shape[1]),
                  **{k: v for k, v in self.info.items() if k in ("judge_name", "layer")}}
        data = {k: v for k, v in self.info.items() if k not in ("judge_name", "layer")}
        modelfile.save(path, KIND_STATS, {"stats.features": self.features.float().contiguous()}, config,
                       data, {})

    @staticmethod
    def _header(path):
        if str(path) == "-":
            raise BadValue("stats", "-", "statistics are read from a file, not stdin",
                           f"give the file {flag('save_stats')} wrote")
        header = modelfile.read_header(path)
        if header.kind != KIND_STATS:
            raise GantoolError(f"{path} holds {article(header.kind)} model, not real statistics",
                               "a stats file is written by gantool evaluate")
        return header

    @classmethod
    def count(cls, path) -> int:
        """How many real images a stats file holds the features of, from its header alone."""
        shape = cls._header(path).tensors.get("stats.features", {}).get("shape")
        if not shape or len(shape) != 2:
            raise GantoolError(f"{path} holds no (N, D) feature rows", "compute the statistics again")
        return int(shape[0])

    @classmethod
    def load(cls, path, judge) -> "RealStats":
        """A stats file, refused (one line) when it is not one or another judge wrote it."""
        header = cls._header(path)
        features = modelfile.load_tensors(path, header).get("stats.features")
        if features is None or features.dim() != 2 or not features.is_floating_point() or len(features) < 2:
            raise GantoolError(f"{path} holds no (N, D) feature rows", "compute the statistics again")
        stats = cls(features.float(), str(header.config.get("identity", "")),
                    {**header.data, **{k: header.config[k] for k in ("judge_name", "layer") if k in header.config}})
        stats.check(judge, str(path))
        return stats
