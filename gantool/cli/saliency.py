"""`gantool saliency`: which pixels a classifier's decision rests on, each map with its own checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit, search
from gantool.context import Env
from gantool.explain.settings import SaliencySettings

PIXELS_PER_CHUNK = 2**18  # images per chunk: 64 digits (8x8), 1 at 512x512; the checks run (K+1) x 2 x that


@kit.command(settings={"settings": SaliencySettings})
def saliency(
    env: Env,
    settings: dict,
    images: kit.Images = None,
    model: kit.ClassifierModel = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
    sanity: Annotated[bool, typer.Option(
        "--sanity", help="Also run the model-randomization test (Adebayo et al. 2018): the maps again with the "
                         "layers re-initialized from the top, and each map's rank correlation with its "
                         "randomized counterpart; a warning when they stay alike.")] = False,
    colormap: Annotated[Optional[str], typer.Option(
        "--colormap", show_default=False, metavar="NAME",
        help="A matplotlib colormap for the heatmaps (default: inferno; RdBu_r for the signed maps of "
             "integrated-gradients).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out-dir", show_default=False, metavar="DIR",
        help="Write NAME.npy (the float32 H x W map), NAME-heatmap.png and NAME-overlay.png per image here.")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE",
        help="Write a PNG grid here, image | heatmap | overlay per image (- for stdout).")] = None,
) -> None:
    """Saliency maps of images for a classifier, each with its deletion and insertion scores.

    Images are read at the classifier's input size (a gantool classifier's own size; 224 for zoo
    models, centre-cropped), so a map's pixels are the image's. The class explained is each
    image's predicted class, or --target. The maps come from captum: gradient (Saliency),
    smoothgrad (NoiseTunnel over Saliency), integrated-gradients (IntegratedGradients; its
    completeness error is reported) and grad-cam (LayerGradCam on --layer, by default the last
    spatial layer before pooling, upsampled to the image).

    Every map is checked: its deletion and insertion AUC (RISE: the target's probability as the
    most salient pixels are deleted, or inserted, in --deletion-steps steps; lower deletion and
    higher insertion are better) beside the same for a random order of the pixels. --sanity adds
    the cascading model-randomization test. A table on stdout (stderr when the grid takes stdout),
    or with --json one JSON object per image as each chunk is done. --seed (default 0) seeds the
    random orders, smoothgrad's noise and the re-initialized weights.
    """
    import json

    from gantool.errors import BadValue, UsageError
    from gantool.explain import checks
    from gantool.explain.render import colormap_names
    from gantool.explain.saliency import attribute, cam_layer, resolve_target
    from gantool.files.writing import STDIO
    from gantool.progress import make_progress

    # ---- check ----
    s = SaliencySettings(**settings)
    s.validate()
    if s.layer is not None and s.method != "grad-cam":
        raise UsageError(f"--layer is for --method grad-cam, not {s.method}")
    if colormap is not None and colormap not in colormap_names():
        raise BadValue("colormap", colormap, "is not a matplotlib colormap", "e.g. inferno, viridis, jet, RdBu_r")
    chunks, output = kit.image_chunks(env, images, out_dir, output, 3, "maps")  # before the model is read
    dev, clf = kit.load_classifier(env, model, pretrained, weights)
    target = resolve_target(clf, s.target)
    layer = cam_layer(clf, s.layer) if s.method == "grad-cam" else None
    seed = env.options.seed if env.options.seed is not None else 0

    # ---- work ----
    size = clf.input_size
    chunks.chunk = max(1, min(256, PIXELS_PER_CHUNK // (clf.channels * size * size)))
    if layer is not None:
        env.log(f"grad-cam on layer {layer}")
    progress = make_progress(env, "saliency") if chunks.total > chunks.chunk else None
    if progress is not None:
        progress.start(chunks.total)
    rows, grid, correlations, done = [], [], [], 0
    for pixels, names in chunks.read(clf.channels, size):
        x = pixels.to(dev).float().div(255)
        found = attribute(clf, x, s, target, layer, seed=seed)
        scores = checks.deletion_insertion(clf, x, found.maps.to(dev), found.target.to(dev), s.deletion_steps, s.fill,
                                           seed=seed + done)
        sane = None
        if sanity:
            sane = checks.randomization(clf, x, found.maps, lambda c, im: attribute(c, im, s, found.target, layer,
                                                                                    seed=seed).maps, seed=seed)
            correlations.append(sane.final)
        pictures = _write(env, names, x.cpu(), found, colormap, out_dir, keep=output is not None)
        if pictures is not None:
            grid.append(pictures)
        chunk_rows = [_row(clf, i, name, found, scores, sane, out_dir) for i, name in enumerate(names)]
        if env.options.json:
            env.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in chunk_rows))
        else:
            rows += chunk_rows
        done += len(names)
        if progress is not None:
            progress.update(done, {})
    if progress is not None:
        progress.stop()
    if output is not None:
        _write_grid(env, output, grid)
    if not env.options.json:
        columns = [("image", "image", ""), ("predicted", "predicted", ""), ("target", "target", ""),
                   ("probability", "prob", ".3f"), ("deletion_auc", "deletion", ".3f"),
                   ("random_deletion_auc", "random", ".3f"), ("insertion_auc", "insertion", ".3f"),
                   ("random_insertion_auc", "random", ".3f")]
        if s.method == "integrated-gradients":
            columns.append(("completeness_relative", "completeness err", ".2%"))
        if sanity:
            columns.append(("sanity_rank_correlation", "sanity rho", ".3f"))
        text = search.table(rows, columns)
        if output == STDIO:
            if not env.options.quiet:
                env.stderr.write(text)
        else:
            env.write_text(text)
    if correlations:
        import torch

        mean = float(torch.cat(correlations).mean())
        if mean > checks.SANITY_WARNING:
            env.warn(f"the {s.method} maps barely change when {clf.name}'s weights are re-initialized (mean rank "
                     f"correlation {mean:.2f} > {checks.SANITY_WARNING}): they show the image more than the model")
    env.log(f"{kit.plural(done, 'map')} by {s.method} for {clf.name}" + (f" into {out_dir}" if out_dir else ""))


def _row(clf, i: int, name: str, found, scores, sane, out_dir) -> dict:
    from gantool.files.writing import safe_name

    row = {"image": name, "predicted": clf.classes[int(found.predicted[i])],
           "predicted_index": int(found.predicted[i]), "target": clf.classes[int(found.target[i])],
           "target_index": int(found.target[i]), "probability": round(float(found.probability[i]), 6),
           "deletion_auc": round(float(scores.deletion[i]), 6), "insertion_auc": round(float(scores.insertion[i]), 6),
           "random_deletion_auc": round(float(scores.random_deletion[i]), 6),
           "random_insertion_auc": round(float(scores.random_insertion[i]), 6)}
    if found.completeness_error is not None:
        gap = float(found.score_gap[i])
        row["completeness_error"] = round(float(found.completeness_error[i]), 6)
        row["completeness_relative"] = round(float(found.completeness_error[i]) / max(abs(gap), 1e-12), 6)
        row["score_gap"] = round(gap, 6)
    if sane is not None:
        row["sanity_rank_correlation"] = round(float(sane.final[i]), 6)
        row["sanity_cascade"] = [{"down_to": stage, "rank_correlation": round(float(c[i]), 6)}
                                 for stage, c in zip(sane.stages, sane.correlation)]
    if out_dir is not None:
        stem = str(Path(out_dir) / safe_name(name))
        row["files"] = {"map": stem + ".npy", "heatmap": stem + "-heatmap.png", "overlay": stem + "-overlay.png"}
    return row


def _write(env, names, x, found, colormap, out_dir, keep: bool):
    """Write each map's files; return (N, 3, 3, H, W) image | heatmap | overlay when `keep` (for the grid)."""
    import io

    import numpy as np
    import torch

    from gantool.explain.render import heatmaps, overlays, to_rgb
    from gantool.files.images import png_bytes, to_uint8
    from gantool.files.writing import atomic_write, safe_name

    heat = heatmaps(found.maps, found.signed, colormap)
    over = overlays(x, heat)
    if out_dir is not None:
        folder = Path(out_dir)
        for i, name in enumerate(names):
            stem = safe_name(name)
            buf = io.BytesIO()
            np.save(buf, found.maps[i].numpy().astype(np.float32), allow_pickle=False)
            atomic_write(folder / f"{stem}.npy", buf.getvalue())
            atomic_write(folder / f"{stem}-heatmap.png", png_bytes(to_uint8(heat[i])))
            atomic_write(folder / f"{stem}-overlay.png", png_bytes(to_uint8(over[i])))
    if not keep:
        return None
    return to_uint8(torch.stack([to_rgb(x), heat, over], 1))


def _write_grid(env, output: str, grid: list) -> None:
    import torch

    from gantool.explain.render import panels_png
    from gantool.files.writing import write_output

    panel = torch.cat(grid).float().div(255)  # (N, 3, 3, H, W)
    write_output(env, output, panels_png(panel), "a PNG image", "-o")


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("Gradient maps of a digit classifier's held-out digits: the maps, heatmaps and overlays in maps/, a grid, "
     "and the deletion and insertion scores against a random order.",
     "gantool saliency digits.npy -m digits.safetensors --out-dir maps/ -o grid.png"),
    ("Grad-CAM of a photo for ImageNet's class 'tabby', on a chosen layer of resnet18, as JSON.",
     "gantool --json saliency cat.jpg -m resnet18 --pretrained --method grad-cam --layer layer3 --target tabby "
     "--out-dir cam/"),
    ("Integrated gradients from a blurred baseline, with the model-randomization sanity check.",
     "gantool saliency x.png -m digits.safetensors --method integrated-gradients --baseline blur --sanity -o ig.png"),
]
FILES = [("NAME.npy", "A map: float32 (H, W), at the classifier's input size, one per image in --out-dir."),
         ("NAME-heatmap.png, NAME-overlay.png", "The map through the colormap, and blended on the image.")]
ENVIRONMENT = kit.TORCH_HOME
