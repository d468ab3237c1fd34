"""Runs side by side as pictures: a matplotlib panel (curves overlaid per quantity, the sample grids
in a row per epoch, a column per run) and one self-contained HTML page (the table, the curves and
the grids inline as data: URIs; no script, no network, no other file)."""

from __future__ import annotations

import base64
import html
import io
import json

from gantool.compare.runs import Run, smoothed

# how each quantity of a GAN's losses.csv is titled; other trainers' columns keep their names
TITLES = {"loss_d": "D loss", "loss_g": "G loss", "d_real": "D(x)", "d_fake": "D(G(z))", "fid": "FID (lower is better)"}


def _legend(run: Run, shown: list[str]) -> str:
    values = ", ".join(f"{k} {text_of(run.options.get(k))}" for k in shown[:3])
    return f"{run.label} ({values})" if values else run.label


def text_of(v) -> str:
    """An option's or a number's value as a table shows it."""
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def quantities(runs: list[Run]) -> list[str]:
    """Every quantity some run has a curve of, GAN terms first in their usual order."""
    names = {q for r in runs for q in r.curves}
    return [q for q in TITLES if q in names] + sorted(names - set(TITLES))


def _draw_curves(fig_or_spec, runs: list[Run], shown: list[str], smooth: float, x: str) -> None:
    names = quantities(runs)
    cols = min(2, len(names))
    axes = fig_or_spec.subplots((len(names) + cols - 1) // cols, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        for run in runs:
            points = run.curves.get(name)
            if points:
                xs = [p[0] if x == "step" else p[1] for p in points]
                ys = [p[2] for p in points]
                line = ax.plot(xs, smoothed(ys, smooth) if name != "fid" else ys, label=_legend(run, shown),
                               marker="o" if name == "fid" else None, markersize=3)[0]
                if smooth and name != "fid":
                    ax.plot(xs, ys, color=line.get_color(), alpha=0.2, linewidth=0.8)
        ax.set_title(TITLES.get(name, name))
        ax.set_xlabel("generator step" if x == "step" else "epoch")
        ax.grid(alpha=0.3)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    if names:
        axes[0].legend(fontsize=8)


def _draw_grids(fig_or_spec, runs: list[Run], epochs: list[int]) -> None:
    from PIL import Image

    with_grids = [r for r in runs if r.grids]
    axes = fig_or_spec.subplots(len(epochs), len(with_grids), squeeze=False)
    for i, epoch in enumerate(epochs):
        for j, run in enumerate(with_grids):
            ax = axes[i][j]
            with Image.open(run.grids[epoch]) as im:
                ax.imshow(im.convert("RGB"), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(run.label, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"epoch {epoch}")


def panel_png(runs: list[Run], shown: list[str], epochs: list[int], smooth: float = 0.0, x: str = "step") -> bytes:
    """The curves above the grids, sized for a README or a report."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names = quantities(runs)
    curve_rows = (len(names) + 1) // 2
    grid_cols = sum(1 for r in runs if r.grids)
    grid_height = 2.6 * len(epochs) * max(1.0, 4 / max(grid_cols, 1)) if epochs and grid_cols else 0
    fig = Figure(figsize=(10, 2.8 * curve_rows + grid_height + 0.4), dpi=100, layout="constrained")
    parts = [p for p in (("curves", 2.8 * curve_rows), ("grids", grid_height)) if p[1]]
    if not parts:
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "no curves or grids in these runs", ha="center")
    else:
        subfigs = fig.subfigures(len(parts), 1, height_ratios=[h for _, h in parts], squeeze=False).ravel()
        for sub, (what, _) in zip(subfigs, parts):
            if what == "curves":
                _draw_curves(sub, runs, shown, smooth, x)
            else:
                _draw_grids(sub, runs, epochs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _cell(v) -> str:
    return html.escape(text_of(v))


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}img{max-width:100%}
.grids img{width:300px;image-rendering:pixelated}
.grids{display:flex;flex-wrap:wrap;gap:12px}.grids figure{margin:0}figcaption{font-size:90%;text-align:center}
details{margin:1em 0}"""


def page_html(runs: list[Run], shown: list[str], shared: dict, numbers: list[str], epochs: list[int],
              smooth: float = 0.0, x: str = "step") -> str:
    """One self-contained page: the differing options and the numbers per run, the shared options
    folded away, the curves and the grids inline."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["run", *shown, *numbers])
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in [html.escape(r.label), *(_cell(r.options.get(k)) for k in shown),
                                                               *(_cell(r.numbers.get(k)) for k in numbers)]) + "</tr>"
                   for r in runs)
    shared_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_cell(v)}</td></tr>" for k, v in shared.items())
    parts = [f"<h1>{len(runs)} runs compared</h1>",
             f"<table><tr>{head}</tr>{rows}</table>",
             f"<details><summary>{len(shared)} options all runs share</summary><table>{shared_rows}</table></details>"]
    if quantities(runs):
        parts.append(f'<h2>Curves</h2><img alt="curves" src="{_data_uri(curves_png(runs, shown, smooth, x))}">')
    for epoch in epochs:
        figures = "".join(f'<figure><img alt="{html.escape(r.label)}, epoch {epoch}" src="{_data_uri(r.grids[epoch].read_bytes())}">'
                          f"<figcaption>{html.escape(r.label)}</figcaption></figure>" for r in runs if r.grids)
        parts.append(f'<h2>Samples, epoch {epoch}</h2><div class="grids">{figures}</div>')
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>gantool compare</title>'
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def curves_png(runs: list[Run], shown: list[str], smooth: float, x: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rows = (len(quantities(runs)) + 1) // 2
    fig = Figure(figsize=(10, 2.8 * rows + 0.4), dpi=100, layout="constrained")
    _draw_curves(fig, runs, shown, smooth, x)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
