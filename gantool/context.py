"""The environment a command runs in: its streams, whether each is a terminal, and the global options.

Commands never touch sys.stdin/stdout directly; tests build an Env with byte buffers and
chosen isatty flags to cover the terminal and pipe cases.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import BinaryIO, Mapping, TextIO


@dataclass
class Options:
    """The global options every command takes, after the command line and the environment are
    merged (gantool.cli.kit): an option given anywhere on the line beats its environment variable."""

    device: str = "auto"
    seed: int | None = None
    threads: int | None = None  # None: torch's default (every core this process may use)
    quiet: bool = False
    json: bool = False
    debug: bool = False
    explicit: set = field(default_factory=set)  # the valued options given on the command line


@dataclass
class Env:
    stdin: BinaryIO
    stdout: BinaryIO
    stderr: TextIO
    stdin_isatty: bool
    stdout_isatty: bool
    stderr_isatty: bool
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    options: Options = field(default_factory=Options)
    command: str = ""

    @classmethod
    def from_sys(cls) -> "Env":
        return cls(
            stdin=sys.stdin.buffer,
            stdout=sys.stdout.buffer,
            stderr=sys.stderr,
            stdin_isatty=sys.stdin.isatty(),
            stdout_isatty=sys.stdout.isatty(),
            stderr_isatty=sys.stderr.isatty(),
        )

    def log(self, message: str) -> None:
        """A progress or status line on stderr, unless --quiet."""
        if not self.options.quiet:
            print(message, file=self.stderr, flush=True)

    def warn(self, message: str) -> None:
        """A warning line on stderr, unless --quiet (errors only)."""
        if not self.options.quiet:
            print(f"gantool {self.command}: warning: {message}", file=self.stderr, flush=True)

    def write_text(self, text: str) -> None:
        """A result on stdout."""
        self.stdout.write(text.encode())
        self.stdout.flush()
