"""A picture of domain adaptation: the penultimate features of held-out source and target images,
in two dimensions by scikit-learn's t-SNE, one panel per model (before and after adaptation),
coloured by domain and marked by class (the class name as the marker when it is short, as digits'
are; a plain dot for a target without labels). matplotlib's Agg backend, PNG bytes.
"""

from __future__ import annotations

import io

PER_DOMAIN = 300  # points drawn per domain and panel: t-SNE of 600 points takes seconds on a CPU
SHAPES = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p")
COLOURS = {"source": "tab:blue", "target": "tab:orange"}


def embed(features, seed: int):
    """(N, D) features -> (N, 2) by t-SNE (PCA initialization, seeded); PCA for a handful of points."""
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float64)
    if len(features) < 12:
        return PCA(n_components=2, random_state=seed).fit_transform(features)
    perplexity = max(2.0, min(30.0, (len(features) - 1) / 3))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(features)


def _penultimate(model, images, mean, std):
    import torch

    model.eval()
    with torch.inference_mode():
        return torch.cat([model.penultimate((x.float().div(255) - mean) / std) for x in images.split(512)]).cpu()


def _marker(classes: list[str], label: int) -> str:
    if label < 0:
        return "."
    name = classes[label]
    short = all(len(c) <= 2 and c.isalnum() for c in classes)
    return f"${name}$" if short else SHAPES[label % len(SHAPES)]


def features_png(models, source_x, source_y, target_x, target_y, mean, std, classes: list[str], seed: int,
                 per_domain: int = PER_DOMAIN) -> bytes:
    """`models`: (title, network with penultimate()) per panel. Images uint8 (N, C, S, S);
    labels int64 in `classes` (target_y None, or -1 for a class the source lacks: a dot)."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import torch
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rng = np.random.default_rng(seed)
    take_s = np.sort(rng.permutation(len(source_x))[:per_domain])
    take_t = np.sort(rng.permutation(len(target_x))[:per_domain])
    xs, xt = source_x[torch.as_tensor(take_s)], target_x[torch.as_tensor(take_t)]
    ys = source_y.cpu().numpy()[take_s]
    yt = target_y.cpu().numpy()[take_t] if target_y is not None else np.full(len(take_t), -1)
    fig = Figure(figsize=(6 * len(models), 6), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(models)))
    for ax, (title, model) in zip(axes, models):
        points = embed(torch.cat([_penultimate(model, xs, mean, std), _penultimate(model, xt, mean, std)]).numpy(),
                       seed)
        for domain, part, labels in (("source", points[:len(xs)], ys), ("target", points[len(xs):], yt)):
            for label in np.unique(labels):
                at = part[labels == label]
                ax.scatter(at[:, 0], at[:, 1], s=28, marker=_marker(classes, int(label)), color=COLOURS[domain],
                           alpha=0.7, linewidths=0.5)
        ax.set_title(f"{title}: {len(xs)} source, {len(xt)} target")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(handles=[Line2D([], [], marker="o", linestyle="none", color=c, label=d) for d, c in COLOURS.items()],
                   loc="best", title="domain (marker: class)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
