"""Adversarial examples for a Classifier (gantool.classify.classifiers): images in [0, 1] that it
misreads, a small perturbation away from images it reads right.

- gradient-ascent: the simple iterative targeted method: step the image along the L2-normalized
  gradient of the target's logit, `step_size` at a time, clipped to [0, 1], until the model predicts
  the target; each image stops on its own (a mask of the images still running). The gradient's
  components that push a pixel past 0 or 1 are dropped before normalizing, so a step is never
  spent against the clipping.
- fgsm: captum's FGSM, one step of `eps` along the sign of the cross-entropy's gradient (away from
  the predicted class, or towards the target).
- pgd: captum's PGD, `steps` signed steps of `step_size`, each projected back into the Linf or L2
  ball of radius `eps` around the image, from a random point of the ball (`random_start`).
- growing-spheres (Laugel et al. 2018, "Inverse classification for comparison-based interpretability
  in machine learning"; no gradient): `samples` random points per image in a ball of L2 radius
  `shell_width` around the image (uniform in the ball, clipped to [0, 1], rounded to 8 bits), the
  radius halved while the ball already holds the target class (any other class, untargeted), then
  uniform in the shells between k and k + 1 widths, k = 1, 2, ..., until one holds it: the closest
  such sample (L2) is the counterfactual. Then the sparsity step: its pixels (channel values) go back
  to the original's, smallest change first, as long as the 8-bit image keeps the target class; the
  prefixes of that order are checked GS_CANDIDATES at a time (a batched search for the first one
  that loses the class). Then, a few rounds, the smallest changes left are tried alone, and those
  that kept the class alone are undone together the same way. Only an image that was checked to
  hold the class is kept: the 8-bit image, which is the one written. At most `shells` shells
  per image (the halvings included): an image with none is reported as a failure, left as it was.
  Every image draws from its own generator, seeded from the seed and its pixels
  (gantool.latent.invert.image_seed), so its result does not depend on its batch.

Every attack sees images in [0, 1] and clips to [0, 1]; the Classifier normalizes inside. The
model is in eval mode (the Classifier always is). What a user keeps is an 8-bit PNG, and rounding
to 1/255 undoes many attacks, so every result is checked twice: the iterate as it came out of the
attack, and the image rounded (not truncated) to 8 bits, whose norms are the ones reported.
`lattice` keeps every iterate on the 1/255 lattice instead: fgsm and pgd with eps rounded down and
the step rounded to whole 1/255 steps (captum's `bound` rounds after every step), gradient-ascent
with a straight-through rounding (the model sees the rounded image; the step goes to the unrounded
one, so steps smaller than 1/255 still add up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gantool.errors import BadValue, UsageError, flag
from gantool.explain.settings import ATTACKS, TARGET_RULES, AttackSettings

GRADIENT_ASCENT_STEP = 0.02
GS_WIDTH = 0.05  # growing-spheres' default first radius: this x sqrt(pixels), a per-pixel RMS change of 0.05
GS_HALVINGS = 8  # the first ball's radius is halved at most this many times
GS_CANDIDATES = 64  # prefixes of the sparsity order checked at once per image (one round for 8x8 digits),
#                     and changes tried alone per image in each later round
GS_SPARSITY_ROUNDS = 16  # later rounds of the sparsity step: changes tried alone, then undone together
GS_BATCH = 2**22  # values (samples x pixels) in one forward of growing-spheres, and in one tensor of samples


def resolve_attack_target(clf, target: str | None) -> int | str | None:
    """A target as an attack takes it: a class index, a rule (`next`, `least-likely`) or None (untargeted)."""
    from gantool.explain.saliency import resolve_target

    if target in TARGET_RULES and target not in clf.classes:
        return target
    return resolve_target(clf, target)


def targets_for(rule: int | str | None, logits: torch.Tensor) -> torch.Tensor | None:
    """(N,) the class each image is pushed to, or None for an untargeted attack."""
    if rule is None:
        return None
    if rule == "runner-up":
        return logits.topk(2, 1).indices[:, 1]
    if rule == "next":
        return (logits.argmax(1) + 1) % logits.shape[1]
    if rule == "least-likely":
        return logits.argmin(1)
    return torch.full((len(logits),), int(rule), dtype=torch.int64, device=logits.device)


def check_settings(s: AttackSettings, given: set[str]) -> None:
    """Refuse settings that the method does not take (given explicitly) or that contradict it."""
    s.validate()
    if s.method not in ATTACKS:
        raise BadValue("method", s.method, f"must be one of {', '.join(ATTACKS)}")
    spheres = ("shells", "samples", "shell_width")
    unused = {"fgsm": ("steps", "step_size", "norm", "random_start") + spheres,
              "gradient-ascent": ("eps", "norm", "random_start") + spheres, "pgd": spheres,
              "growing-spheres": ("eps", "norm", "random_start", "steps", "step_size", "lattice")}[s.method]
    for name in unused:
        if name in given:
            hint = ("its samples are always on the 1/255 lattice" if name == "lattice" else
                    f"it takes {flag('shells')}, {flag('samples')} and {flag('shell_width')}") \
                if s.method == "growing-spheres" else None
            raise BadValue(name, None, f"does not apply to {{method}} {s.method}", hint)
    if s.method == "gradient-ascent" and s.target is None:
        raise UsageError(f"gradient-ascent is a targeted method: it needs {flag('target')}",
                         "a class name or index, next or least-likely")
    if s.lattice and s.method != "gradient-ascent" and s.norm == "linf" and s.eps < 1 / 255:
        raise BadValue("eps", s.eps, "is below one 8-bit step (1/255 = 0.0039): nothing is left of it on the lattice "
                                     "of {lattice}")


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Rounded (not truncated) to the nearest 8-bit value, in [0, 1]."""
    return x.clamp(0, 1).mul(255).round().div(255)


def step_size(s: AttackSettings, pixels: int) -> float:
    """The step size an attack uses: the step_size setting, or the method's default (see AttackSettings)."""
    if s.method == "gradient-ascent":
        return s.step_size or GRADIENT_ASCENT_STEP
    if s.method == "fgsm":
        size = s.eps
    else:
        size = s.step_size or 2.5 * s.eps / s.resolved_steps() / (math.sqrt(pixels) if s.norm == "l2" else 1)
    if s.lattice:  # whole 1/255 steps, at least one
        size = max(1, round(size * 255)) / 255
    return size


def radius(s: AttackSettings) -> float:
    """The radius eps, rounded down to whole 1/255 steps on the lattice under Linf (so rounding stays in the ball)."""
    if s.lattice and s.norm == "linf":
        return math.floor(s.eps * 255 + 1e-9) / 255
    return s.eps


@dataclass
class Attacked:
    """An attack's outcome for N images (every tensor on the CPU, (N,) unless said)."""
    adversarial: torch.Tensor  # float (N, C, H, W): the attack's last iterate
    saved: torch.Tensor  # uint8 (N, C, H, W): the iterate rounded to 8 bits (what is written)
    perturbation: torch.Tensor  # float (N, C, H, W): saved/255 - original, in [-1, 1]
    target: torch.Tensor | None  # int64: the class each image was pushed to, None if untargeted
    original: torch.Tensor  # int64: the original prediction
    original_probability: torch.Tensor
    final: torch.Tensor  # int64: the prediction of the iterate
    final_probability: torch.Tensor
    saved_class: torch.Tensor  # int64: the prediction of the 8-bit image
    saved_probability: torch.Tensor
    target_probability: torch.Tensor | None  # of the 8-bit image
    success: torch.Tensor  # bool: the iterate fools the model (predicts the target, or another class)
    saved_success: torch.Tensor  # bool: the 8-bit image does
    steps: torch.Tensor  # int64: steps taken (gradient-ascent stops per image; pgd runs all)
    first_fooled: torch.Tensor  # int64: the step after which the iterate first fooled the model, -1 if never
    l2: torch.Tensor  # of the 8-bit perturbation, in [0, 1] units
    linf: torch.Tensor
    already: torch.Tensor  # bool: the model already predicted the target: left as it was, not a success
    l0: torch.Tensor | None = None  # int64: pixels (positions, any channel) the 8-bit image changes
    l0_before_sparsity: torch.Tensor | None = None  # int64, growing-spheres: l0 of the sample it found
    shell_radius: torch.Tensor | None = None  # growing-spheres: the outer L2 radius of that sample's shell, nan if none


class _Watched(torch.nn.Module):
    """The classifier, recording after how many steps each image first fooled it: captum calls the
    forward once per step, on the iterate after that many steps."""

    def __init__(self, clf, goal: torch.Tensor, targeted: bool):
        super().__init__()
        self.clf, self.goal, self.targeted, self.calls = clf, goal, targeted, 0
        self.first = torch.full_like(goal, -1)

    def forward(self, x):
        logits = self.clf(x)
        self.note(logits.detach())
        return logits

    def note(self, logits: torch.Tensor) -> None:
        predicted = logits.argmax(1)
        fooled = predicted == self.goal if self.targeted else predicted != self.goal
        self.first[fooled & (self.first < 0)] = self.calls
        self.calls += 1


def _loss(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), classes, reduction="none")


def attack(clf, images: torch.Tensor, s: AttackSettings, target: int | str | None = None, seed: int = 0) -> Attacked:
    """Adversarial examples of `images` (float (N, C, H, W) in [0, 1] on the classifier's device;
    8-bit images divided by 255) by `s.method`. `target`: from `resolve_attack_target`."""
    import warnings

    x = images.detach().float()
    with torch.no_grad():
        logits = clf(x).float()
    original = logits.argmax(1)
    goal = targets_for(target, logits)
    targeted = goal is not None
    pixels = x[0].numel()
    size, r = step_size(s, pixels), radius(s)
    bound = quantize if s.lattice else (lambda t: t.clamp(0, 1))
    spheres = None
    if s.method == "gradient-ascent":
        adversarial, steps, first = gradient_ascent(clf, x, goal, size, s.resolved_steps(), s.lattice)
    elif s.method == "growing-spheres":
        spheres = growing_spheres(clf, x, goal, original, s, seed)
        adversarial, steps, first = spheres.sparse, spheres.shells, spheres.first
    else:
        watched = _Watched(clf, goal if targeted else original, targeted)
        labels = goal if targeted else original
        with warnings.catch_warnings():  # captum asks for gradients of every iterate, and says so
            warnings.filterwarnings("ignore", message=".*did not already require gradients.*")
            adversarial = _captum(s, x, watched, labels, targeted, bound, r, size, seed)
        adversarial = adversarial.detach()
        with torch.no_grad():
            watched.note(clf(adversarial).float())  # the last iterate, after all the steps
        steps = torch.full_like(original, s.resolved_steps())
        first = watched.first
    return outcome(clf, x, adversarial, original, logits, goal, steps, first, spheres)


def _captum(s: AttackSettings, x, forward, labels, targeted: bool, bound, r: float, size: float, seed: int):
    """captum's FGSM or PGD on the cross-entropy of the logits, `bound` applied after every step."""
    from captum.robust import FGSM, PGD

    if s.method == "fgsm":
        fgsm = FGSM(forward, loss_func=_loss, lower_bound=0.0, upper_bound=1.0)
        fgsm.bound = bound
        return fgsm.perturb(x, epsilon=r, target=labels, targeted=targeted)
    pgd = PGD(forward, loss_func=_loss, lower_bound=0.0, upper_bound=1.0)
    pgd.bound = bound
    pgd._random_point = _random_point  # captum 0.9's L2 start does not broadcast its radii over a batch
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(seed)
        return pgd.perturb(x, radius=r, step_size=size, step_num=s.resolved_steps(), target=labels,
                           targeted=targeted, random_start=s.random_start, norm="Linf" if s.norm == "linf" else "L2")


def _random_point(center: torch.Tensor, r: float, norm: str, mask) -> torch.Tensor:
    """A uniform random point of the Linf or L2 ball of radius r around each image."""
    if norm == "L2":
        direction = torch.randn_like(center)
        direction = direction / direction.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None, None]
        length = torch.rand(len(center), device=center.device) ** (1 / center[0].numel()) * r
        return center + length[:, None, None, None] * direction * mask
    return center + (torch.rand_like(center) * 2 - 1) * r * mask


def gradient_ascent(clf, x: torch.Tensor, goal: torch.Tensor, size: float, steps: int, lattice: bool):
    """Step each image along its normalized gradient of the target's logit until the model predicts
    the target (checked before every step), at most `steps` steps: (images, steps taken, first fooled)."""
    current = x.clone()
    taken = torch.zeros(len(x), dtype=torch.int64, device=x.device)
    first = torch.full_like(taken, -1)
    running = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for step in range(steps + 1):
        index = running.nonzero()[:, 0]
        if len(index) == 0:
            break
        xi = current[index].clone().requires_grad_(True)
        seen = xi + (quantize(xi) - xi).detach() if lattice else xi  # straight through the rounding
        logits = clf(seen).float()
        done = logits.argmax(1) == goal[index]
        first[index[done]] = step
        running[index[done]] = False
        if step == steps or done.all():
            continue
        score = logits.gather(1, goal[index][:, None]).sum()
        (grad,) = torch.autograd.grad(score, xi)
        # the part of the gradient that the clipping to [0, 1] would cancel does not count in its norm
        grad = grad.masked_fill(((xi <= 0) & (grad < 0)) | ((xi >= 1) & (grad > 0)), 0)
        norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
        moved = (xi + size * grad / norm[:, None, None, None]).clamp(0, 1).detach()
        keep = ~done
        current[index[keep]] = moved[keep]
        taken[index[keep]] += 1
    return (quantize(current) if lattice else current), taken, first


@dataclass
class Spheres:
    """What growing_spheres found for N images (on the images' device, (N,) unless said)."""
    found: torch.Tensor  # bool: a sample of the target class (another class, untargeted) was found
    enemy: torch.Tensor  # (N, C, H, W) on the 1/255 lattice: the closest such sample (the rounded image if none)
    sparse: torch.Tensor  # (N, C, H, W) on the lattice: the enemy after the sparsity step
    shells: torch.Tensor  # int64: shells sampled
    first: torch.Tensor  # int64: the shell (counted from 1) of the first sample that held the class, -1 if none
    radius: torch.Tensor  # float: the outer L2 radius of the enemy's shell, nan if none


def _holds(predicted: torch.Tensor, goal: torch.Tensor, targeted: bool) -> torch.Tensor:
    """The prediction is the target (targeted; goal broadcast over the last dimension) or not the original."""
    return predicted == goal if targeted else predicted != goal


def _classes(clf, flat: torch.Tensor, shape) -> torch.Tensor:
    """The predicted class of each row of `flat` (M, pixels), as images of `shape`, GS_BATCH values at a time."""
    rows = max(1, GS_BATCH // flat.shape[1])
    with torch.no_grad():
        return torch.cat([clf(flat[i:i + rows].reshape(-1, *shape)).argmax(1) for i in range(0, len(flat), rows)])


def _groups(index: torch.Tensor, per: int, values: int):
    """`index` in groups whose `per` rows of `values` each hold at most GS_BATCH values (one image at least)."""
    size = max(1, GS_BATCH // max(1, per * values))
    return [index[i:i + size] for i in range(0, len(index), size)]


def _shell(gen: torch.Generator, center: torch.Tensor, inner: float, outer: float, n: int) -> torch.Tensor:
    """n points uniform in the L2 shell inner <= |d| <= outer around `center` (flat, pixels), clipped to
    [0, 1] and rounded to 8 bits: a Gaussian direction and a radius whose d-th power is uniform."""
    d = center.numel()
    direction = torch.randn(n, d, generator=gen, device=center.device)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    u = torch.rand(n, generator=gen, device=center.device, dtype=torch.float64)
    floor = math.exp(d * math.log(inner / outer)) if inner > 0 else 0.0  # (inner/outer)^d, without overflow
    r = (outer * (floor + u * (1 - floor)) ** (1 / d)).to(center.dtype)
    return quantize(center + r[:, None] * direction)


def growing_spheres(clf, x: torch.Tensor, goal: torch.Tensor | None, original: torch.Tensor, s: AttackSettings,
                    seed: int) -> Spheres:
    """The counterfactuals of `x` (N, C, H, W in [0, 1]) by growing spheres, then the sparsity step
    (see the module docstring). `goal`: each image's target class, None for untargeted (any class but
    `original`). The samples of the images still searching are drawn per image and classified together."""
    from gantool.latent.invert import image_seed

    n, shape, d, dev = len(x), x.shape[1:], x[0].numel(), x.device
    targeted = goal is not None
    goal = goal if targeted else original
    flat = x.reshape(n, d).float()
    gens = [torch.Generator(device=dev).manual_seed(image_seed(seed, image)) for image in x]
    width = torch.full((n,), s.shell_width or GS_WIDTH * math.sqrt(d), dtype=torch.float64)
    inner = torch.zeros(n, dtype=torch.float64)  # the shell's inner radius (0: the ball)
    halving = torch.ones(n, dtype=torch.bool)
    halvings = torch.zeros(n, dtype=torch.int64)
    running = (goal != original).cpu() if targeted else torch.ones(n, dtype=torch.bool)  # not already the target
    shells, first = torch.zeros(n, dtype=torch.int64), torch.full((n,), -1, dtype=torch.int64)
    best, best_distance = quantize(flat), torch.full((n,), math.inf, dtype=torch.float64)
    radius = torch.full((n,), math.nan, dtype=torch.float64)
    for _ in range(s.shells):
        index = running.nonzero()[:, 0]
        if len(index) == 0:
            break
        hit_any = torch.zeros(len(index), dtype=torch.bool)
        at = 0
        for group in _groups(index, s.samples, d):
            outer = inner[group] + width[group]
            samples = torch.stack([_shell(gens[i], flat[i], float(inner[i]), float(outer[k]), s.samples)
                                   for k, i in enumerate(group.tolist())])  # (g, samples, pixels)
            hit = _holds(_classes(clf, samples.reshape(-1, d), shape).view(len(group), s.samples),
                         goal[group.to(dev)][:, None], targeted).cpu()
            distance = (samples - flat[group.to(dev)][:, None]).norm(dim=2).double().cpu().masked_fill(~hit, math.inf)
            closest, j = distance.min(1)
            better = closest < best_distance[group]
            if better.any():
                rows = group[better]
                best[rows.to(dev)] = samples[better.to(dev), j[better].to(dev)]
                best_distance[rows], radius[rows] = closest[better], outer[better]
            hit_any[at:at + len(group)] = hit.any(1)
            at += len(group)
        shells[index] += 1
        first[index[hit_any & (first[index] < 0)]] = shells[index[hit_any & (first[index] < 0)]]
        was_halving = halving[index]
        # the ball held the class: halve it (at most GS_HALVINGS times); it did not: grow shells from its radius
        shrink = index[was_halving & hit_any]
        width[shrink] /= 2
        halvings[shrink] += 1
        running[shrink[halvings[shrink] > GS_HALVINGS]] = False
        grow = index[was_halving & ~hit_any]
        halving[grow], inner[grow] = False, width[grow]
        grown = index[~was_halving]
        running[grown[hit_any[~was_halving]]] = False
        inner[grown[~hit_any[~was_halving]]] += width[grown[~hit_any[~was_halving]]]
    found = (best_distance < math.inf).to(dev)
    sparse = torch.where(found[:, None], _sparser(clf, flat, best, goal, targeted, shape), flat)  # none: as it was
    return Spheres(found, best.view_as(x), sparse.view_as(x), shells, first, radius)


def _sparser(clf, flat: torch.Tensor, enemy: torch.Tensor, goal: torch.Tensor, targeted: bool, shape) -> torch.Tensor:
    """The sparsity step: each row of `enemy` (N, pixels, on the lattice) with as many of its changes
    from `flat` undone as keep the class on the 8-bit image. First the longest prefix of the order by
    |change| (ties by position) whose undoing holds; then, up to GS_SPARSITY_ROUNDS times, the next
    GS_CANDIDATES changes left are each tried alone, and the longest prefix of those that held alone
    is undone together. Only images checked to hold are kept. A row that is the original stays."""
    rounded = quantize(flat)
    change = (enemy - rounded).abs()
    inf = torch.full_like(change, math.inf)
    key = torch.where(change > 0, change, inf)
    current = _undo_prefix(clf, rounded, enemy, key, goal, targeted, shape, known_to_fail=True)
    for _ in range(GS_SPARSITY_ROUNDS):
        left = torch.where(current != rounded, change, inf)
        nearest = left.topk(min(GS_CANDIDATES, left.shape[1]), dim=1, largest=False)  # (N, K) the smallest left
        tried = nearest.values < math.inf
        index = tried.any(1).nonzero()[:, 0]
        if len(index) == 0:
            break
        holds = torch.zeros_like(tried)
        for group in _groups(index, tried.shape[1], current.shape[1]):
            alone = current[group][:, None].repeat(1, tried.shape[1], 1)  # (g, K, pixels): one change undone in each
            pixel = nearest.indices[group][:, :, None]
            alone.scatter_(2, pixel, rounded[group][:, None].expand_as(alone).gather(2, pixel))
            predicted = _classes(clf, alone.reshape(-1, alone.shape[2]), shape).view(len(group), -1)
            holds[group] = _holds(predicted, goal[group][:, None], targeted) & tried[group]
        if not holds.any():
            break
        eligible = inf.scatter(1, nearest.indices, nearest.values.masked_fill(~holds, math.inf))
        current = _undo_prefix(clf, rounded, current, eligible, goal, targeted, shape, known_to_fail=False)
    return current


def _undo_prefix(clf, rounded, current, key, goal, targeted: bool, shape, known_to_fail: bool) -> torch.Tensor:
    """`current` (N, pixels) with the longest prefix of its pixels ordered by `key` (finite: may be
    undone, ties by position) set back to `rounded`, among the prefixes whose image holds the class.
    Each image keeps `lo` (checked to hold; 0 is `current`) and `hi` (checked to fail, or past the
    end, or with `known_to_fail`, all undone); each round checks GS_CANDIDATES prefixes between them
    and narrows to the first that fails, until they meet."""
    rank = torch.argsort(torch.argsort(key, dim=1, stable=True), dim=1)  # each pixel's place in the order
    count = torch.isfinite(key).sum(1)
    lo = torch.zeros_like(count)
    hi = count if known_to_fail else count + 1
    j = torch.arange(GS_CANDIDATES, device=current.device)[None]
    while True:
        index = (hi - lo > 1).nonzero()[:, 0]
        if len(index) == 0:
            break
        span = (hi[index] - lo[index] - 1)[:, None]
        candidates = lo[index][:, None] + 1 + torch.div(j * span, GS_CANDIDATES, rounding_mode="floor")  # ascending
        holds = torch.empty_like(candidates, dtype=torch.bool)
        at = 0
        for group in _groups(index, GS_CANDIDATES, current.shape[1]):
            c = candidates[at:at + len(group)]
            undone = rank[group][:, None, :] < c[:, :, None]  # (g, candidates, pixels)
            images = torch.where(undone, rounded[group][:, None], current[group][:, None])
            holds[at:at + len(group)] = _holds(_classes(clf, images.reshape(-1, images.shape[2]), shape)
                                               .view(len(group), -1), goal[group][:, None], targeted)
            at += len(group)
        fails = ~holds
        first_fail = torch.where(fails.any(1), fails.float().argmax(1), torch.full_like(index, GS_CANDIDATES))
        last_hold = first_fail - 1  # every candidate before the first failure holds
        at_fail = candidates.gather(1, first_fail.clamp_max(GS_CANDIDATES - 1)[:, None])[:, 0]
        at_hold = candidates.gather(1, last_hold.clamp_min(0)[:, None])[:, 0]
        lo[index] = torch.where(last_hold >= 0, at_hold, lo[index])
        hi[index] = torch.where(first_fail < GS_CANDIDATES, at_fail, hi[index])
    return torch.where(rank < lo[:, None], rounded, current)


def outcome(clf, x, adversarial, original, logits, goal, steps, first, spheres: Spheres | None = None) -> Attacked:
    """Check the iterate and its 8-bit rounding, and measure the 8-bit perturbation. An image the
    model already reads as its target is no adversarial example: it is kept as it was (no step, no
    perturbation) and counts as no success."""
    from gantool.files.images import to_uint8

    already = torch.zeros_like(original, dtype=torch.bool) if goal is None else goal == original
    if already.any():
        adversarial = torch.where(already[:, None, None, None], x, adversarial)
        steps, first = steps.masked_fill(already, 0), first.masked_fill(already, -1)
    saved = to_uint8(adversarial)
    rounded = saved.to(x.device).float().div(255)
    with torch.no_grad():
        p_final = clf(adversarial).float().softmax(1)
        p_saved = clf(rounded).float().softmax(1)
    final, saved_class = p_final.argmax(1), p_saved.argmax(1)
    if goal is not None:
        success, saved_success = (final == goal) & ~already, (saved_class == goal) & ~already
        target_probability = p_saved.gather(1, goal[:, None])[:, 0].cpu()
    else:
        success, saved_success = final != original, saved_class != original
        target_probability = None
    delta = (rounded - x).cpu()
    flat = delta.flatten(1)
    cpu = lambda t: t.cpu()  # noqa: E731
    l0 = (saved != to_uint8(x)).any(1).flatten(1).sum(1)
    l0_before = radius = None
    if spheres is not None:
        l0_before = (to_uint8(spheres.enemy) != to_uint8(x)).any(1).flatten(1).sum(1).masked_fill(~spheres.found.cpu(), 0)
        radius = spheres.radius.float().cpu()
    return Attacked(adversarial.cpu(), saved, delta, None if goal is None else goal.cpu(), original.cpu(),
                    logits.softmax(1).gather(1, original[:, None])[:, 0].cpu(), cpu(final),
                    p_final.gather(1, final[:, None])[:, 0].cpu(), cpu(saved_class),
                    p_saved.gather(1, saved_class[:, None])[:, 0].cpu(), target_probability, cpu(success),
                    cpu(saved_success), cpu(steps), cpu(first), flat.norm(dim=1), flat.abs().amax(1), cpu(already), l0, l0_before, radius)


def amplified(perturbation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The perturbations (N, C, H, W) made visible: 0.5 + 0.5 x delta / max|delta| per image (mid-gray
    is no change), and each image's amplification factor."""
    scale = perturbation.flatten(1).abs().amax(1).clamp_min(1 / 255)
    factor = 0.5 / scale
    return (0.5 + perturbation * factor[:, None, None, None]).clamp(0, 1), factor
