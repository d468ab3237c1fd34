"""Plots drawn with matplotlib's Agg backend, returned as PNG bytes."""

from __future__ import annotations

import io


def loss_plot_png(rows: list[dict], loss) -> bytes:
    """Two panels over training steps: D and G loss; D(x) and D(G(z)). `loss`: a gantool.gan.losses.Loss."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    steps = [r["step"] for r in rows]
    fig = Figure(figsize=(8, 6), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(steps, [r["loss_d"] for r in rows], label="D loss")
    top.plot(steps, [r["loss_g"] for r in rows], label="G loss")
    top.set_ylabel(f"{loss.name} loss")
    top.legend()
    top.grid(alpha=0.3)
    bottom.plot(steps, [r["d_real"] for r in rows], label="D(x)")
    bottom.plot(steps, [r["d_fake"] for r in rows], label="D(G(z))")
    bottom.set_ylabel(loss.d_reads_as)
    bottom.set_xlabel("generator step")
    bottom.legend()
    bottom.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
