"""The command line: `app.py` (the Typer app and `main`), `kit.py` (what every command shares),
one module per command, and `search.py` (what invert and restore share). The man pages and
completions are generated from the app by gantool.docgen.

This file stays light: the console script can catch a Ctrl-C or SIGTERM that arrives while Python
is still importing the app, and print one line instead of a traceback.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None, env=None) -> int:
    """Run gantool with `argv` (default: sys.argv) against `env` (default: the real streams)."""
    from gantool.cli.app import main as app_main

    return app_main(argv, env)


def run() -> None:
    """Console-script entry point."""
    from gantool.errors import ExitStatus
    from gantool.signals import Terminated, install_sigterm

    install_sigterm()
    try:
        code = main()
    except KeyboardInterrupt:  # before the app could catch it (while importing)
        print("gantool: interrupted", file=sys.stderr)
        code = ExitStatus.INTERRUPTED
    except Terminated:
        print("gantool: terminated", file=sys.stderr)
        code = ExitStatus.TERMINATED
    sys.exit(code)
