"""Plots drawn with matplotlib's Agg backend, returned as PNG bytes."""

from __future__ import annotations

import io


def loss_plot_png(rows: list[dict], loss) -> bytes:
    """Two panels over training steps: D and G loss; D(x) and D(G(z)); and a third, the FID (lower
    is better, the best one marked), when rows hold `fid` values. `loss`: a gantool.gan.losses.Loss."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    steps = [r["step"] for r in rows]
    measured = [(r["step"], r["fid"]) for r in rows if r.get("fid") is not None]
    fig = Figure(figsize=(8, 8.5 if measured else 6), dpi=100, layout="constrained")
    top, bottom, *fid = fig.subplots(3 if measured else 2, 1, sharex=True)
    top.plot(steps, [r["loss_d"] for r in rows], label="D loss")
    top.plot(steps, [r["loss_g"] for r in rows], label="G loss")
    top.set_ylabel(f"{loss.name} loss")
    top.legend()
    top.grid(alpha=0.3)
    bottom.plot(steps, [r["d_real"] for r in rows], label="D(x)")
    bottom.plot(steps, [r["d_fake"] for r in rows], label="D(G(z))")
    bottom.set_ylabel(loss.d_reads_as)
    bottom.legend()
    bottom.grid(alpha=0.3)
    if measured:
        ax = fid[0]
        at, values = zip(*measured)
        ax.plot(at, values, marker="o", markersize=3, label="FID")
        best = min(measured, key=lambda m: m[1])
        ax.plot(*best, marker="*", markersize=12, linestyle="none", label=f"best {best[1]:.3g} (model-best)")
        if max(values) > 5 * min(values) > 0:  # the first, untrained measurements dwarf the rest
            from matplotlib.ticker import FormatStrFormatter, LogLocator

            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_locator(LogLocator(subs=(2, 3, 5)))
            ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.set_ylabel("FID (lower is better)")
        ax.legend()
        ax.grid(alpha=0.3)
    (fid[0] if measured else bottom).set_xlabel("generator step")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def confusion_png(matrix, classes: list[str], title: str = "") -> bytes:
    """A confusion matrix (rows: true class, columns: predicted), counts in the cells, row-normalized colour."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib.figure import Figure

    m = np.asarray(matrix)
    k = len(classes)
    side = min(12.0, 2.5 + 0.45 * k)
    fig = Figure(figsize=(side + 1, side), dpi=100, layout="constrained")
    ax = fig.subplots()
    rates = m / np.maximum(m.sum(1, keepdims=True), 1)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label="fraction of the true class", shrink=0.8)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if m[i, j]:
                    ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=8,
                            color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), classes, rotation=90 if max((len(c) for c in classes), default=0) > 3 else 0)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def curves_png(rows: list[dict], panels: list[tuple[str, list[tuple[str, str]]]]) -> bytes:
    """Panels of curves over training steps, one above the other: (y label, [(column, legend), ...])."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    steps = [r["step"] for r in rows]
    fig = Figure(figsize=(8, 3 * len(panels)), dpi=100, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (label, curves) in zip(axes, panels):
        for column, legend in curves:
            ax.plot(steps, [r[column] for r in rows], label=legend)
        ax.set_ylabel(label)
        ax.legend()
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("generator step")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
