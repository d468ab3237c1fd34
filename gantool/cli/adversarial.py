"""`gantool adversarial`: images a classifier misreads, a small perturbation away, checked as 8-bit PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit, search
from gantool.context import Env
from gantool.explain.settings import AttackSettings

PIXELS_PER_CHUNK = 2**18  # images per attack batch: 256 digits (8x8), 5 at 224x224x3


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
    adversarial images come out at that size. Three methods: gradient-ascent (step along the
    L2-normalized gradient of the target's logit until the model predicts the target; each image
    stops on its own), fgsm (captum's FGSM: one signed step of --eps) and pgd (captum's PGD:
    --steps signed steps projected into the Linf or L2 ball of radius --eps, from a random start).
    Without --target, fgsm and pgd are untargeted (any class but the predicted one); --target
    takes a class (name or index), runner-up, next or least-likely.

    A saved PNG holds 8-bit pixels, and rounding to 1/255 undoes many attacks, so each image is
    checked twice: the attack's own iterate, and the image rounded (not truncated) to 8 bits; the
    reported L2 and Linf norms are those of the 8-bit image, in [0, 1] units (Linf also in /255).
    --lattice keeps every iterate on the 1/255 lattice, so the saved file fools the model as the
    iterate did. A table on stdout (stderr when the grid takes stdout), or with --json one JSON
    object per image; the success rates, before and after the rounding, on stderr. --seed (default
    0) seeds pgd's random start.
    """
    import json

    from gantool.explain.attacks import attack, check_settings, resolve_attack_target
    from gantool.files.writing import STDIO
    from gantool.progress import make_progress

    # ---- check ----
    s = AttackSettings(**settings)
    check_settings(s, set(settings))
    chunks, output = kit.image_chunks(env, images, out_dir, output, 3, "images")  # before the model is read
    dev, clf = kit.load_classifier(env, model, pretrained, weights)
    target = resolve_attack_target(clf, s.target)
    seed = env.options.seed if env.options.seed is not None else 0

    # ---- work ----
    size = clf.input_size
    chunks.chunk = max(1, min(256, PIXELS_PER_CHUNK // (clf.channels * size * size)))
    progress = make_progress(env, "adversarial") if chunks.total > chunks.chunk else None
    if progress is not None:
        progress.start(chunks.total)
    rows, grid, done = [], [], 0
    for pixels, names in chunks.read(clf.channels, size):
        x = pixels.to(dev).float().div(255)
        result = attack(clf, x, s, target, seed=seed + done)
        pictures = _write(names, pixels, result, out_dir, keep=output is not None)
        if pictures is not None:
            grid.append(pictures)
        chunk_rows = [_row(clf, s, i, name, result, out_dir) for i, name in enumerate(names)]
        if env.options.json:
            env.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in chunk_rows))
        rows += chunk_rows
        done += len(names)
        if progress is not None:
            progress.update(done, {})
    if progress is not None:
        progress.stop()
    if output is not None:
        _write_grid(env, output, grid)
    if not env.options.json:
        columns = [("image", "image", ""), ("original", "original", ""), ("original_probability", "p", ".3f"),
                   ("target", "target", ""), ("final", "final", ""), ("final_probability", "p", ".3f"),
                   ("success", "fooled", ""), ("saved_final", "8-bit", ""), ("saved_success", "fooled", ""),
                   ("steps", "steps", ""), ("l2", "L2", ".3f"), ("linf", "Linf", ".3f"), ("linf_255", "/255", "")]
        shown = [dict(r, success="yes" if r["success"] else "no", saved_success="yes" if r["saved_success"] else "no",
                      target=r["target"] if r["target"] is not None else "(any)") for r in rows]
        text = search.table(shown, columns)
        if output == STDIO:
            if not env.options.quiet:
                env.stderr.write(text)
        else:
            env.write_text(text)
    env.log(summary(s, rows, clf.name) + (f"; images in {out_dir}" if out_dir else ""))


def summary(s: AttackSettings, rows: list[dict], name: str) -> str:
    """The summary line: the success rates of the iterates and of their 8-bit roundings."""
    n = len(rows)
    ok = sum(r["success"] for r in rows)
    saved = sum(r["saved_success"] for r in rows)
    kind = "targeted" if s.target is not None else "untargeted"
    budget = "" if s.method == "gradient-ascent" else f" at {s.norm.replace('l', 'L')} eps {s.eps:g}"
    return (f"{s.method} ({kind}{budget}) on {name}: success {ok / n:.1%} ({ok}/{n}), after 8-bit rounding "
            f"{saved / n:.1%} ({saved}/{n})" + (" on the 1/255 lattice" if s.lattice else ""))


def _row(clf, s: AttackSettings, i: int, name: str, r, out_dir) -> dict:
    from gantool.files.writing import safe_name

    c = clf.classes
    target = None if r.target is None else int(r.target[i])
    row = {"image": name, "method": s.method, "original": c[int(r.original[i])], "original_index": int(r.original[i]),
           "original_probability": round(float(r.original_probability[i]), 6),
           "target": None if target is None else c[target], "target_index": target,
           "target_probability": None if r.target_probability is None else round(float(r.target_probability[i]), 6),
           "final": c[int(r.final[i])], "final_index": int(r.final[i]),
           "final_probability": round(float(r.final_probability[i]), 6), "success": bool(r.success[i]),
           "saved_final": c[int(r.saved_class[i])], "saved_final_index": int(r.saved_class[i]),
           "saved_probability": round(float(r.saved_probability[i]), 6), "saved_success": bool(r.saved_success[i]),
           "steps": int(r.steps[i]), "first_fooled_at": None if int(r.first_fooled[i]) < 0 else int(r.first_fooled[i]),
           "l2": round(float(r.l2[i]), 6), "linf": round(float(r.linf[i]), 6),
           "linf_255": int(round(float(r.linf[i]) * 255))}
    if out_dir is not None:
        stem = str(Path(out_dir) / safe_name(name))
        row["files"] = {"adversarial": stem + ".png", "perturbation": stem + "-perturbation.png"}
    return row


def _write(names, pixels, r, out_dir, keep: bool):
    """Write each image's files; return uint8 (N, 3, 3, H, W) original | perturbation | adversarial when `keep`."""
    import torch

    from gantool.explain.attacks import amplified
    from gantool.explain.render import to_rgb
    from gantool.files.images import png_bytes, to_uint8
    from gantool.files.writing import atomic_write, safe_name

    shown = to_uint8(amplified(r.perturbation)[0])
    if out_dir is not None:
        folder = Path(out_dir)
        for i, name in enumerate(names):
            stem = safe_name(name)
            atomic_write(folder / f"{stem}.png", png_bytes(r.saved[i]))
            atomic_write(folder / f"{stem}-perturbation.png", png_bytes(shown[i]))
    if not keep:
        return None
    return torch.stack([to_rgb(pixels.cpu()), to_rgb(shown), to_rgb(r.saved)], 1)


def _write_grid(env, output: str, grid: list) -> None:
    import torch

    from gantool.explain.render import panels_png
    from gantool.files.writing import write_output

    write_output(env, output, panels_png(torch.cat(grid).float().div(255)), "a PNG image", "-o")


# For the man page (gantool.cli.docgen): (what it does, command line).
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
    ("L2 PGD of radius 2.",
     "gantool adversarial x.png -m digits.safetensors --method pgd --norm l2 --eps 2 --steps 100 --out-dir adv/"),
]
FILES = [("NAME.png", "The adversarial image, 8-bit, at the classifier's input size, one per image in --out-dir."),
         ("NAME-perturbation.png", "The 8-bit perturbation amplified to fill the range, 0.5 + 0.5 x delta / "
                                   "max|delta| (mid-gray: no change).")]
ENVIRONMENT = kit.TORCH_HOME
