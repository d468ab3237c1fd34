"""`gantool saliency`: which pixels a classifier's decision rests on, each map with its own checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.explain.settings import SaliencySettings

COLUMNS = [("image", "image", ""), ("predicted", "predicted", ""), ("target", "target", ""),
           ("probability", "prob", ".3f"), ("deletion_auc", "deletion", ".3f"),
           ("random_deletion_auc", "random", ".3f"), ("insertion_auc", "insertion", ".3f"),
           ("random_insertion_auc", "random", ".3f")]


@kit.command(settings={"settings": SaliencySettings})
def saliency(
    env: Env,
    settings: dict,
    images: kit.Images = None,
    model: kit.ClassifierModel = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
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
    the cascading model-randomization test. An output is needed: --out-dir, -o, or both. A table
    on stdout (stderr when the grid takes stdout), or with --json one JSON object per image as
    each chunk is done. --seed (default 0) seeds the random orders, smoothgrad's noise and the
    re-initialized weights.
    """
    from gantool.explain import jobs
    from gantool.files.writing import STDIO, write_output
    from gantool.progress import make_progress

    s = SaliencySettings(**settings)
    s.validate()
    chunks, output, stems = kit.image_chunks(env, images, out_dir, output, 3, "maps",
                                             suffixes=tuple(jobs.SALIENCY_FILES.values()))  # before the model
    dev, clf = kit.load_classifier(env, model, pretrained, weights)
    job = jobs.SaliencyJob.start(clf, dev, s, env.options.seed, out_dir=out_dir, stems=stems, grid=output is not None)
    if job.layer is not None:
        env.log(f"grad-cam on layer {job.layer}")
    rows = kit.stream_rows(env, jobs.run(chunks, job, lambda: make_progress(env, "saliency")))
    if output is not None:
        write_output(env, output, job.grid_png(), "a PNG image", "-o")
    if not env.options.json:
        columns = COLUMNS + ([("completeness_relative", "completeness err", ".2%")]
                             if s.method == "integrated-gradients" else [])
        kit.print_rows(env, rows, columns + ([("sanity_rank_correlation", "sanity rho", ".3f")] if s.sanity else []),
                       to_stderr=output == STDIO)
    if (warning := job.sanity_warning()) is not None:
        env.warn(warning)
    env.log(f"{kit.plural(len(rows), 'map')} by {s.method} for {clf.name}" + (f" into {out_dir}" if out_dir else ""))


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("Gradient maps of a digit classifier's held-out digits: the maps, heatmaps and overlays in maps/, a grid, "
     "and the deletion and insertion scores against a random order.",
     "gantool saliency digits.npy -m digits.safetensors --out-dir maps/ -o grid.png"),
    ("Grad-CAM of a photo for ImageNet's class 'tabby', on a chosen layer of resnet18, as JSON.",
     "gantool --json saliency cat.jpg -m resnet18 --pretrained --method grad-cam -l layer3 --target tabby "
     "--out-dir cam/"),
    ("Integrated gradients from a blurred baseline, with the model-randomization sanity check.",
     "gantool saliency x.png -m digits.safetensors --method integrated-gradients --baseline blur --sanity -o ig.png"),
]
FILES = [("NAME.npy", "A map: float32 (H, W), at the classifier's input size, one per image in --out-dir; NAME is "
                      "the image's name (a folder's files by their path inside it, a batch's rows as NAME[i]), and "
                      "two images that would share a file are refused before any work."),
         ("NAME-heatmap.png, NAME-overlay.png", "The map through the colormap, and blended on the image.")]
ENVIRONMENT = kit.TORCH_HOME
