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
    unused = {"fgsm": ("steps", "step_size", "norm", "random_start"),
              "gradient-ascent": ("eps", "norm", "random_start"), "pgd": ()}[s.method]
    for name in unused:
        if name in given:
            raise BadValue(name, None, f"does not apply to {{method}} {s.method}")
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
    if s.method == "gradient-ascent":
        adversarial, steps, first = gradient_ascent(clf, x, goal, size, s.resolved_steps(), s.lattice)
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
    return outcome(clf, x, adversarial, original, logits, goal, steps, first)


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


def outcome(clf, x, adversarial, original, logits, goal, steps, first) -> Attacked:
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
    return Attacked(adversarial.cpu(), saved, delta, None if goal is None else goal.cpu(), original.cpu(),
                    logits.softmax(1).gather(1, original[:, None])[:, 0].cpu(), cpu(final),
                    p_final.gather(1, final[:, None])[:, 0].cpu(), cpu(saved_class),
                    p_saved.gather(1, saved_class[:, None])[:, 0].cpu(), target_probability, cpu(success),
                    cpu(saved_success), cpu(steps), cpu(first), flat.norm(dim=1), flat.abs().amax(1), cpu(already))


def amplified(perturbation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The perturbations (N, C, H, W) made visible: 0.5 + 0.5 x delta / max|delta| per image (mid-gray
    is no change), and each image's amplification factor."""
    scale = perturbation.flatten(1).abs().amax(1).clamp_min(1 / 255)
    factor = 0.5 / scale
    return (0.5 + perturbation * factor[:, None, None, None]).clamp(0, 1), factor
