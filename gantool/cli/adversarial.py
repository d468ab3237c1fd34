"""`gantool adversarial`: images a classifier misreads, a small perturbation away, checked as 8-bit PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.explain.settings import AttackSettings

COLUMNS = [("image", "image", ""), ("original", "original", ""), ("original_probability", "p", ".3f"),
           ("target", "target", ""), ("final", "final", ""), ("final_probability", "p", ".3f"),
           ("success", "fooled", ""), ("saved_final", "8-bit", ""), ("saved_success", "fooled", ""),
           ("steps", "steps", ""), ("l0", "L0", ""), ("l2", "L2", ".3f"), ("linf", "Linf", ".3f"), ("linf_255", "/255", "")]


@kit.command(settings={"settings": AttackSettings})
def adversarial(
    env: Env,
    settings: dict,
    images: kit.Images = None,
    model: kit.ClassifierModel = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out-dir", show_default=False, metavar="DIR",
        help="Write NAME.png (the adversarial image, 8-bit) and NAME-perturbation.png (the perturbation, "
             "amplified: mid-gray is no change) per image here.")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE",
        help="Write a PNG grid here, original | perturbation amplified | adversarial per image (- for stdout).")] = None,
) -> None:
    """Adversarial examples: images a classifier misreads, a small perturbation away from the originals.

    Images are read at the classifier's input size (224 for zoo models, centre-cropped) and the
    adversarial images come out at that size. Four methods: gradient-ascent (step along the
    L2-normalized gradient of the target's logit until the model predicts the target; each image
    stops on its own), fgsm (captum's FGSM: one signed step of --eps), pgd (captum's PGD: --steps
    signed steps projected into the Linf or L2 ball of radius --eps, from a random start) and
    growing-spheres (no gradient: 8-bit random samples in L2 shells of growing radius until one is
    read as the target, the closest kept, then its pixels put back to the original's, smallest
    change first, while the class holds; at most --shells shells of --samples samples, and an image
    with no counterfactual within them is a failure). Without --target, all but gradient-ascent are
    untargeted (any class but the predicted one); --target takes a class (name or index),
    runner-up, next or least-likely. An image the model already reads as the target is left as it
    is and reported as such (already_target), not as a success.

    A saved PNG holds 8-bit pixels, and rounding to 1/255 undoes many attacks, so each image is
    checked twice: the attack's own iterate, and the image rounded (not truncated) to 8 bits; the
    reported L0 (pixels changed), L2 and Linf are those of the 8-bit image (L2, Linf in [0, 1]
    units, Linf also in /255). --lattice keeps every iterate on the 1/255 lattice, so the saved file
    fools the model as the iterate did. An output is needed: --out-dir, -o, or both. A table on
    stdout (stderr when the grid takes stdout), or with --json one JSON object per image; the
    success rates, before and after the rounding, on stderr. --seed (default 0) seeds pgd's random
    start and growing-spheres' samples (per image, with its pixels: the same in any batch).
    """
    from gantool.explain import jobs
    from gantool.explain.attacks import check_settings
    from gantool.files.writing import STDIO, write_output
    from gantool.progress import make_progress

    s = AttackSettings(**settings)
    check_settings(s, set(settings))
    chunks, output, stems = kit.image_chunks(env, images, out_dir, output, 3, "images",
                                             suffixes=tuple(jobs.ATTACK_FILES.values()))  # before the model
    dev, clf = kit.load_classifier(env, model, pretrained, weights)
    job = jobs.AttackJob.start(clf, dev, s, env.options.seed, out_dir=out_dir, stems=stems, grid=output is not None)
    rows = kit.stream_rows(env, jobs.run(chunks, job, lambda: make_progress(env, "adversarial")))
    if output is not None:
        write_output(env, output, job.grid_png(), "a PNG image", "-o")
    if not env.options.json:
        yes = lambda r, key: "already" if r["already_target"] else "yes" if r[key] else "no"  # noqa: E731
        shown = [dict(r, success=yes(r, "success"), saved_success=yes(r, "saved_success"),
                      target=r["target"] if r["target"] is not None else "(any)") for r in rows]
        kit.print_rows(env, shown, COLUMNS, to_stderr=output == STDIO)
    env.log(jobs.attack_summary(s, rows, clf.name) + (f"; images in {out_dir}" if out_dir else ""))


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("Targeted PGD (Linf eps 0.3) of held-out digits towards each one's second most probable class: the "
     "adversarial PNGs and their perturbations in adv/, a grid, a table, the success rates on stderr.",
     "gantool adversarial digits.npy -m digits.safetensors --method pgd --eps 0.3 --target runner-up "
     "--out-dir adv/ -o grid.png"),
    ("Gradient ascent until the model reads every image as a 3, on the 1/255 lattice so the PNGs still fool it, "
     "as JSON lines.",
     "gantool --json adversarial digits/ -m digits.safetensors --method gradient-ascent --target 3 --lattice "
     "--out-dir adv/"),
    ("Untargeted FGSM at 8/255 on a photo, for a pretrained resnet18.",
     "gantool adversarial cat.jpg -m resnet18 --pretrained --method fgsm --eps 0.0314 -o cat-fgsm.png"),
    ("Growing-spheres counterfactuals towards each digit's next class, no gradient needed: 512 samples a shell, "
     "at most 200 shells; the JSON rows add L0 before and after the sparsity step.",
     "gantool --json adversarial digits.npy -m digits.safetensors --method growing-spheres --target next "
     "--samples 512 --shells 200 --out-dir cf/"),
    ("L2 PGD of radius 2.",
     "gantool adversarial x.png -m digits.safetensors --method pgd --norm l2 --eps 2 --steps 100 --out-dir adv/"),
]
FILES = [("NAME.png", "The adversarial image, 8-bit, at the classifier's input size, one per image in --out-dir; "
                      "NAME is the image's name, and two images that would share a file, or a file that is an "
                      "input, are refused before any work."),
         ("NAME-perturbation.png", "The 8-bit perturbation amplified to fill the range, 0.5 + 0.5 x delta / "
                                   "max|delta| (mid-gray: no change).")]
ENVIRONMENT = kit.TORCH_HOME
