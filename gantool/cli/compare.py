"""`gantool compare`: runs side by side: the options that differ, the numbers, the curves, the grids."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.compare.settings import CompareSettings
from gantool.context import Env

NUMBERS = ["step", "seconds", "images_per_s", "best_fid", "last_fid", "heldout_accuracy"]


@kit.command(settings={"settings": CompareSettings}, no_args_is_help=True)
def compare(
    env: Env,
    settings: dict,
    runs: Annotated[list[str], typer.Argument(
        metavar="RUNS...", show_default=False,
        help="Run folders (`gantool train --out`) or model files, two or more, of one kind and one data set.")],
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE",
        help="Write the panel here as a PNG: the curves overlaid, the grids side by side (- for stdout).")] = None,
    html: Annotated[Optional[str], typer.Option(
        "--html", show_default=False, metavar="FILE",
        help="Write one self-contained HTML page here: the table, the curves and the grids inline, no network.")]
        = None,
) -> None:
    """Compare runs side by side: the options that differ, the numbers, the loss curves and the sample grids.

    The options come from each run's own files (the checkpoint's settings, or the model's header):
    the table shows those that differ (the rest, which all runs share, is folded away in the HTML
    page), and per run its final step, training time, images/s, best and last FID where --eval-every
    measured them, or a classifier's held-out accuracy. The curves of every quantity in losses.csv
    are overlaid on one axis per quantity; the grids of the same fixed latents are set side by side,
    a row per epoch. The table goes to stdout (with --json one JSON object per run), the panel to
    -o, the page to --html. Runs of other data or of another kind are refused.
    """
    from gantool.compare import render, runs as R
    from gantool.files.writing import STDIO, write_output

    s = CompareSettings(**settings)
    s.validate()
    targets = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--html", html, "an HTML page")], default=None,
                                hint="") if output or html else {"-o": None, "--html": None}  # the table alone
    found = R.read_runs(runs)
    for run in found:
        if lacking := R.missing(run):
            env.warn(f"{run.path}: no {' and no '.join(lacking)}: shown without them")
    shown, shared = R.differing(found)
    epochs = R.grid_epochs(found, s.epochs)
    numbers = [k for k in NUMBERS if any(k in r.numbers for r in found)]
    if targets["-o"] is not None:
        write_output(env, targets["-o"], render.panel_png(found, shown, epochs, s.smooth, s.x), "a PNG image", "-o")
    if targets["--html"] is not None:
        write_output(env, targets["--html"], render.page_html(found, shown, shared, numbers, epochs, s.smooth, s.x)
                     .encode(), "an HTML page", "--html")
    if env.options.json:
        for run in found:
            kit.print_json(env, R.summary(run, shown))
    else:
        table = [{"run": r.label, **{k: render.text_of(r.options.get(k)) for k in shown},
                  **{k: render.text_of(r.numbers.get(k)) for k in numbers}} for r in found]
        kit.print_rows(env, table, [(k, k, "") for k in ["run", *shown, *numbers]], to_stderr=targets["-o"] == STDIO)
    env.log(f"compared {kit.plural(len(found), 'run')}: {kit.plural(len(shown), 'option')} differing, "
            f"{len(shared)} shared")


EXAMPLES = [
    ("Three widths trained in a shell loop (for n in 16 32 64; do gantool train --ngf $n --out runs/ngf$n; done), "
     "side by side as a PNG panel and an HTML page.",
     "gantool compare runs/ngf16 runs/ngf32 runs/ngf64 -o compare.png --html compare.html"),
    ("The grids of epochs 1, 5 and 10 as rows, the curves smoothed.",
     "gantool compare runs/ngf16 runs/ngf64 --epoch 1,5,10 --smooth 0.8 -o compare.png"),
    ("The numbers of every run, one JSON object each.", "gantool --json compare runs/* | jq .best_fid"),
]
FILES = [("RUN/losses.csv, RUN/samples/epoch-NNNN.png", "What the curves and grids are drawn from."),
         ("RUN/checkpoint.safetensors", "Where a run's options are read (else the model's header).")]
