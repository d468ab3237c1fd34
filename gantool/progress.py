"""Progress on stderr: a Rich bar when stderr is a terminal, periodic plain lines otherwise.

Library code reports through this small interface and never prints; `make_progress` picks one.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator, Protocol, TypeVar

from gantool.context import Env


class Progress(Protocol):
    def start(self, total: int, completed: int = 0) -> None: ...
    def update(self, completed: int, stats: dict[str, float]) -> None: ...
    def stop(self) -> None: ...


def _fmt(stats: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in stats.items())


class NullProgress:
    def start(self, total: int, completed: int = 0) -> None: ...
    def update(self, completed: int, stats: dict[str, float]) -> None: ...
    def stop(self) -> None: ...


class PlainProgress:
    """A line every `every` steps (about 20 lines a run), for logs and pipes."""

    def __init__(self, env: Env, label: str):
        self.env, self.label = env, label
        self.total = self.every = 1
        self.t0 = time.monotonic()

    def start(self, total: int, completed: int = 0) -> None:
        self.total, self.every = total, max(1, total // 20)
        self.t0 = time.monotonic()
        self.next = completed + self.every

    def update(self, completed: int, stats: dict[str, float]) -> None:
        if completed >= self.next or completed == self.total:
            self.next = completed + self.every
            elapsed = time.monotonic() - self.t0
            self.env.log(f"{self.label} {completed}/{self.total} {_fmt(stats)} [{elapsed:.0f}s]")

    def stop(self) -> None: ...


class RichProgress:
    def __init__(self, env: Env, label: str):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as _Progress

        self.bar = _Progress(
            TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
            console=Console(file=env.stderr), transient=False,
        )
        self.task = None

    def start(self, total: int, completed: int = 0) -> None:
        self.bar.start()
        self.task = self.bar.add_task("", total=total, completed=completed, stats="")

    def update(self, completed: int, stats: dict[str, float]) -> None:
        self.bar.update(self.task, completed=completed, stats=_fmt(stats))

    def stop(self) -> None:
        self.bar.stop()


T = TypeVar("T")


def over(chunks: Iterable[T], total: int, progress: Progress | None, size: Callable[[T], int] = len) -> Iterator[T]:
    """The chunks of a job `total` items long, as they come, with `progress` (None: none) updated
    after each (`size(chunk)` items) and stopped however the loop ends: the one loop over chunks
    with progress (sampling, evaluation, saliency and adversarial batches)."""
    if progress is None:
        yield from chunks
        return
    progress.start(total)
    done = 0
    try:
        for chunk in chunks:
            yield chunk
            done += size(chunk)
            progress.update(done, {})
    finally:
        progress.stop()


def make_progress(env: Env, label: str) -> Progress:
    if env.options.quiet:
        return NullProgress()
    return RichProgress(env, label) if env.stderr_isatty else PlainProgress(env, label)
