"""compare's options, written once (torch- and numpy-free: --help reads them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gantool.errors import BadValue
from gantool.settings import check, setting

PICTURES = "Pictures"
MAX_EPOCH_ROWS = 8


@dataclass
class CompareSettings:
    smooth: float = setting(0.0, "Smooth the loss curves by an exponential moving average of this weight (0: none, "
                            "0.9: strong); the raw curve stays faint behind.", PICTURES, ge=0, lt=1)
    x: str = setting("step", "The curves' shared axis.", PICTURES, choices=("step", "epoch"))
    epoch: Optional[str] = setting(None, "The sample grids of these epochs, comma-separated, a row each.", PICTURES,
                                   default_help="the last epoch every run has")

    @property
    def epochs(self) -> list[int] | None:
        return None if self.epoch is None else [int(e) for e in self.epoch.split(",")]

    def validate(self) -> None:
        check(self)
        if self.epoch is not None:
            try:
                epochs = self.epochs
            except ValueError:
                raise BadValue("epoch", self.epoch, "not a comma-separated list of epoch numbers") from None
            if not epochs or min(epochs) < 1 or len(epochs) > MAX_EPOCH_ROWS:
                raise BadValue("epoch", self.epoch, f"give 1 to {MAX_EPOCH_ROWS} epochs, each at least 1")
