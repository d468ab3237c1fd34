"""The per-image work of `gantool saliency` and `gantool adversarial`, importable without the CLI:
images a chunk at a time (gantool.data.inputs.ImageChunks, bounded memory) through the maps or the
attack, each image's files written into a folder output under the stem the input lister planned for it
(so two inputs never share a file, and no file is an input), the grid's panels kept, and one result
row (a dict, JSON-ready) per image.

A job is called on each chunk, `job(pixels, names, done)` -> rows; `run(chunks, job, progress)`
drives it and yields each chunk's rows as it is done.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch

from gantool.explain.settings import AttackSettings, SaliencySettings

PIXELS_PER_CHUNK = 2**18  # images per chunk: 64 digits (8x8), 1 at 512x512 for saliency (its checks run
#                          (K+1) x 2 x that); 256 digits, 5 at 224x224x3 for an attack
SALIENCY_FILES = {"map": ".npy", "heatmap": "-heatmap.png", "overlay": "-overlay.png"}
ATTACK_FILES = {"adversarial": ".png", "perturbation": "-perturbation.png"}


def run(chunks, job, progress=None) -> Iterator[list[dict]]:
    """Every chunk of `chunks` through `job` at the classifier's input size (or the job's `read_size`),
    chunk sizes set from PIXELS_PER_CHUNK (or the job's `chunk`); yields each chunk's rows. `progress`: a callable that makes a
    gantool.progress display, called only when there is more than one chunk."""
    clf = job.clf
    size = getattr(job, "read_size", None) or clf.input_size  # a job may read at another size, in its own chunks
    chunks.chunk = getattr(job, "chunk", None) or max(1, min(256, PIXELS_PER_CHUNK // (clf.channels * size ** 2)))
    from gantool.progress import over

    progress = progress() if progress is not None and chunks.total > chunks.chunk else None
    done = 0
    for pixels, names in over(chunks.read(clf.channels, size), chunks.total, progress, lambda chunk: len(chunk[1])):
        yield job(pixels, names, done)
        done += len(names)


def _files(out_dir, stem: str, files: dict) -> dict:
    return {key: str(Path(out_dir) / (stem + suffix)) for key, suffix in files.items()}


def _write_files(out_dir, stem: str, files: dict, data: dict) -> None:
    from gantool.files.writing import write_in

    for key, suffix in files.items():
        write_in(out_dir, stem + suffix, data[key])


def _r(x) -> float:
    return round(float(x), 6)


# ---- saliency ----------------------------------------------------------------------------------------

@dataclass
class SaliencyJob:
    """Maps of `settings.method` with their deletion/insertion checks (and, with `settings.sanity`,
    the randomization test); files per image into `out_dir` named by `stems`; the grid's panels
    kept when `grid`. `target`, `layer`: resolved from the classifier by `start`."""

    clf: object
    device: object
    settings: SaliencySettings
    seed: int
    target: int | None = None
    layer: str | None = None
    out_dir: object = None
    stems: list[str] | None = None
    grid: bool = False
    panels: list = field(default_factory=list)
    correlations: list = field(default_factory=list)

    @classmethod
    def start(cls, clf, device, s: SaliencySettings, seed: int, **outputs) -> "SaliencyJob":
        from gantool.explain.saliency import cam_layer, resolve_target

        layer = cam_layer(clf, s.layer) if s.method == "grad-cam" else None
        return cls(clf, device, s, seed, resolve_target(clf, s.target), layer, **outputs)

    def __call__(self, pixels, names: list[str], done: int) -> list[dict]:
        from gantool.explain import checks
        from gantool.explain.saliency import attribute

        s, clf, seed = self.settings, self.clf, self.seed
        x = pixels.to(self.device).float().div(255)
        found = attribute(clf, x, s, self.target, self.layer, seed=seed)
        scores = checks.deletion_insertion(clf, x, found.maps.to(self.device), found.target.to(self.device),
                                           s.deletion_steps, s.fill, seed=seed + done)
        sane = None
        if s.sanity:
            again = lambda c, im: attribute(c, im, s, found.target, self.layer, seed=seed).maps  # noqa: E731
            sane = checks.randomization(clf, x, found.maps, again, seed=seed)
            self.correlations.append(sane.final)
        stems = self.stems[done:done + len(names)] if self.stems is not None else None
        self._pictures(x.cpu(), found, stems)
        return [self._row(i, name, found, scores, sane, stems) for i, name in enumerate(names)]

    def _pictures(self, x, found, stems) -> None:
        import numpy as np

        from gantool.explain.render import heatmaps, overlays, to_rgb
        from gantool.files.images import png_bytes, to_uint8

        heat = heatmaps(found.maps, found.signed, self.settings.colormap)
        over = overlays(x, heat)
        for i, stem in enumerate(stems or []):
            buf = io.BytesIO()
            np.save(buf, found.maps[i].numpy().astype(np.float32), allow_pickle=False)
            _write_files(self.out_dir, stem, SALIENCY_FILES, {"map": buf.getvalue(), "heatmap": png_bytes(
                to_uint8(heat[i])), "overlay": png_bytes(to_uint8(over[i]))})
        if self.grid:
            self.panels.append(to_uint8(torch.stack([to_rgb(x), heat, over], 1)))

    def _row(self, i: int, name: str, found, scores, sane, stems) -> dict:
        c = self.clf.classes
        row = {"image": name, "predicted": c[int(found.predicted[i])], "predicted_index": int(found.predicted[i]),
               "target": c[int(found.target[i])], "target_index": int(found.target[i]),
               "probability": _r(found.probability[i]), "deletion_auc": _r(scores.deletion[i]),
               "insertion_auc": _r(scores.insertion[i]), "random_deletion_auc": _r(scores.random_deletion[i]),
               "random_insertion_auc": _r(scores.random_insertion[i])}
        if found.completeness_error is not None:
            gap = float(found.score_gap[i])
            row["completeness_error"] = _r(found.completeness_error[i])
            row["completeness_relative"] = _r(float(found.completeness_error[i]) / max(abs(gap), 1e-12))
            row["score_gap"] = round(gap, 6)
        if sane is not None:
            row["sanity_rank_correlation"] = _r(sane.final[i])
            row["sanity_cascade"] = [{"down_to": stage, "rank_correlation": _r(c[i])}
                                     for stage, c in zip(sane.stages, sane.correlation)]
        if stems is not None:
            row["files"] = _files(self.out_dir, stems[i], SALIENCY_FILES)
        return row

    def grid_png(self) -> bytes:
        """The kept panels, image | heatmap | overlay per image, as one PNG grid."""
        from gantool.explain.render import panels_png

        return panels_png(torch.cat(self.panels).float().div(255))

    def sanity_warning(self) -> str | None:
        """What to warn when the maps barely change as the weights are re-initialized, or None."""
        from gantool.explain.checks import SANITY_WARNING

        if not self.correlations:
            return None
        mean = float(torch.cat(self.correlations).mean())
        if mean <= SANITY_WARNING:
            return None
        return (f"the {self.settings.method} maps barely change when {self.clf.name}'s weights are re-initialized "
                f"(mean rank correlation {mean:.2f} > {SANITY_WARNING}): they show the image more than the model")


# ---- adversarial examples ----------------------------------------------------------------------------

@dataclass
class AttackJob:
    """Adversarial examples by `settings.method` (gantool.explain.attacks), each checked on its 8-bit
    rounding; files per image into `out_dir` named by `stems`; the grid's panels kept when `grid`."""

    clf: object
    device: object
    settings: AttackSettings
    seed: int
    target: int | str | None = None
    out_dir: object = None
    stems: list[str] | None = None
    grid: bool = False
    panels: list = field(default_factory=list)

    @classmethod
    def start(cls, clf, device, s: AttackSettings, seed: int, **outputs) -> "AttackJob":
        from gantool.explain.attacks import resolve_attack_target

        return cls(clf, device, s, seed, resolve_attack_target(clf, s.target), **outputs)

    def __call__(self, pixels, names: list[str], done: int) -> list[dict]:
        from gantool.explain.attacks import amplified, attack
        from gantool.explain.render import to_rgb
        from gantool.files.images import png_bytes, to_uint8

        spheres = self.settings.method == "growing-spheres"  # seeds per image (its pixels): the same in any chunk
        r = attack(self.clf, pixels.to(self.device).float().div(255), self.settings, self.target,
                   seed=self.seed if spheres else self.seed + done)
        shown = to_uint8(amplified(r.perturbation)[0])
        stems = self.stems[done:done + len(names)] if self.stems is not None else None
        for i, stem in enumerate(stems or []):
            _write_files(self.out_dir, stem, ATTACK_FILES, {"adversarial": png_bytes(r.saved[i]),
                                                            "perturbation": png_bytes(shown[i])})
        if self.grid:
            self.panels.append(torch.stack([to_rgb(pixels.cpu()), to_rgb(shown), to_rgb(r.saved)], 1))
        return [self._row(i, name, r, stems) for i, name in enumerate(names)]

    def _row(self, i: int, name: str, r, stems) -> dict:
        c = self.clf.classes
        target = None if r.target is None else int(r.target[i])
        row = {"image": name, "method": self.settings.method, "original": c[int(r.original[i])],
               "original_index": int(r.original[i]), "original_probability": _r(r.original_probability[i]),
               "target": None if target is None else c[target], "target_index": target,
               "target_probability": None if r.target_probability is None else _r(r.target_probability[i]),
               "already_target": bool(r.already[i]),
               "final": c[int(r.final[i])], "final_index": int(r.final[i]),
               "final_probability": _r(r.final_probability[i]), "success": bool(r.success[i]),
               "saved_final": c[int(r.saved_class[i])], "saved_final_index": int(r.saved_class[i]),
               "saved_probability": _r(r.saved_probability[i]), "saved_success": bool(r.saved_success[i]),
               "steps": int(r.steps[i]),
               "first_fooled_at": None if int(r.first_fooled[i]) < 0 else int(r.first_fooled[i]),
               "l0": int(r.l0[i]), "l2": _r(r.l2[i]), "linf": _r(r.linf[i]),
               "linf_255": int(round(float(r.linf[i]) * 255))}
        if r.shell_radius is not None:  # growing-spheres: where its sample was found, and what sparsity undid
            radius = float(r.shell_radius[i])
            row["shell_radius"] = None if radius != radius else _r(radius)
            row["l0_before_sparsity"] = None if radius != radius else int(r.l0_before_sparsity[i])
        if stems is not None:
            row["files"] = _files(self.out_dir, stems[i], ATTACK_FILES)
        return row

    def grid_png(self) -> bytes:
        """The kept panels, original | perturbation amplified | adversarial per image, as one PNG grid."""
        from gantool.explain.render import panels_png

        return panels_png(torch.cat(self.panels).float().div(255))


def attack_summary(s: AttackSettings, rows: list[dict], name: str) -> str:
    """The summary line: the success rates of the iterates and of their 8-bit roundings, over the
    images the model did not already read as their target (those are named apart)."""
    attacked = [r for r in rows if not r["already_target"]]
    n, already = len(attacked), len(rows) - len(attacked)
    ok = sum(r["success"] for r in attacked)
    saved = sum(r["saved_success"] for r in attacked)
    rate = lambda k: f"{k / n:.1%} ({k}/{n})" if n else "- (0/0)"  # noqa: E731
    kind = "targeted" if s.target is not None else "untargeted"
    budget = "" if s.method == "gradient-ascent" else f" at {s.norm.replace('l', 'L')} eps {s.eps:g}"
    none = ""
    if s.method == "growing-spheres":
        budget = f", {s.samples} samples in at most {s.shells} shells"
        lost = sum(r.get("shell_radius") is None for r in attacked)
        none = f"; no counterfactual found for {lost} (more shells or a wider first ball may find one)" if lost else ""
    return (f"{s.method} ({kind}{budget}) on {name}: success {rate(ok)}, after 8-bit rounding {rate(saved)}"
            + (" on the 1/255 lattice" if s.lattice else "") + none
            + (f"; {already} already the target, not attacked" if already else ""))
