"""GAN inversion: the latent whose image reproduces a given one, for a batch of images at once.

All images and all restarts are one batch of latents optimized together: the generator (and the
discriminator, for the perceptual term) run in eval mode and each image's loss is summed, never
averaged over the batch, so an image's latent does not depend on the others (Adam works element
by element). Each image's random starts are seeded from the seed and the image's own pixels: the
same image gives the same latent alone or inside any batch, and the same seed the same result.

The search is Adam steps (warm-up, cosine decay), optionally pruning each image's starts to its
better half every few steps, then L-BFGS iterations: each start keeps its own curvature pairs, its
own backtracking line search and its own stop, so the second-order finish is per image too (one
L-BFGS on the summed loss would share a line search and a history between images). A lone row is
padded to two before the generator runs (`_render`), so on the CPU an image's arithmetic is the
same, bit for bit, alone or inside any batch.

Settings (InvertSettings) are written once; `gantool invert` builds its options from them (so this
module imports torch only inside its functions: --help reads the settings). `restore` shares
SearchSettings, whose defaults are the plain Adam search; InvertSettings' defaults add the L-BFGS
finish (on 64 images the demo model drew: 53.8 dB mean PSNR where 300 Adam steps reach 30.3, in
1.2 times their time; bench/invert_speed.py --generated).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gantool.errors import BadValue
from gantool.settings import check, setting

if TYPE_CHECKING:
    import torch

OPT = "Optimisation"
STEPS_HELP = "Adam steps (linear warm-up over the first 5%, then cosine decay); the L-BFGS iterations follow."
REFINE_HELP = ("L-BFGS iterations after the Adam steps, each start with its own curvature history and line search; "
               "0: none.")



@dataclass
class SearchSettings:
    """How a latent is searched: shared by `invert` and `restore`."""

    steps: int = setting(300, STEPS_HELP, OPT, ge=1, le=1_000_000)
    lr: float = setting(0.05, "Peak learning rate of the Adam steps.", OPT, gt=0)
    loss: str = setting("mse", "Pixel loss: mse or l1.", OPT, choices=("mse", "l1"))
    prior: float = setting(0.0, "Weight of a penalty on |z|^2 / nz (keeps z where the generator was trained).", OPT,
                           ge=0)
    restarts: int = setting(1, "Random starts per image, optimized together; each image keeps its best.", OPT,
                            ge=1, le=64)
    prune: int = setting(0, "Every P Adam steps, each image drops the worse half of its starts (by its own loss), "
                            "until one is left; 0: never.", OPT, ge=0, le=1_000_000)
    refine: int = setting(0, REFINE_HELP, OPT, ge=0, le=100_000)
    perceptual = 0.0  # InvertSettings makes it a setting; restore compares degraded images, not D's features

    def validate(self) -> None:
        check(self)


@dataclass
class InvertSettings(SearchSettings):
    steps: int = setting(50, STEPS_HELP, OPT, ge=1, le=1_000_000)  # invert's defaults: Adam, then L-BFGS
    refine: int = setting(300, REFINE_HELP, OPT, ge=0, le=100_000)
    perceptual: float = setting(0.0, "Weight of a term on the discriminator's features (nothing to download).",
                                OPT, ge=0)


@dataclass
class Inversion:
    latents: torch.Tensor  # (N, D), the generator's whole input
    images: torch.Tensor  # (N, C, H, W) in the model's range, G(latents)
    loss: torch.Tensor  # (N,) final objective per image
    classes: torch.Tensor | None  # (N,) the class each image was inverted with (conditional models)
    candidates: torch.Tensor  # (N, K, D) every start's final latent (K = restarts x searched classes)
    candidate_loss: torch.Tensor  # (N, K) and its objective (a pruned start's: when it was dropped)


def image_seed(seed: int, image: torch.Tensor) -> int:
    digest = hashlib.sha256(image.detach().cpu().float().numpy().tobytes()).digest()
    return (seed * 1_000_003 + int.from_bytes(digest[:8], "little")) % (2**63)


def start_latents(G, targets: torch.Tensor, seed: int, per_image: int) -> torch.Tensor:
    """`per_image` random z for each target (N * per_image, nz), seeded by the seed and the image's pixels."""
    import torch

    rows = []
    for image in targets:
        gen = torch.Generator().manual_seed(image_seed(seed, image))
        rows.append(torch.randn(per_image, G.cfg.nz, generator=gen))
    return torch.cat(rows)


def _per_image(a: torch.Tensor, b: torch.Tensor, kind: str, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Each image's mean error; with `weight` (broadcast over the batch and channels), the mean
    over the weighted pixels only."""
    d = a - b
    err = d.pow(2) if kind == "mse" else d.abs()
    if weight is None:
        return err.flatten(1).mean(1)
    w = weight.expand_as(err)
    return (err * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1e-8)


def _render(G, x: torch.Tensor) -> torch.Tensor:
    """G(x) (or any network's), a lone row padded to two: the CPU kernels take another path for a batch of one, whose
    last bits differ, and the search must do the same arithmetic for an image alone or in a batch."""
    import torch

    return G(torch.cat([x, x.detach()]))[:1] if x.shape[0] == 1 else G(x)


@dataclass
class _Live:
    """The candidates still searched: their indices among all candidates, and what the objective
    needs of each (its target, its one-hot class, its target's features)."""

    rows: torch.Tensor
    targets: torch.Tensor
    onehot: torch.Tensor | None
    features: torch.Tensor | None

    def take(self, idx: torch.Tensor) -> _Live:
        return _Live(self.rows[idx], self.targets[idx], None if self.onehot is None else self.onehot[idx],
                     None if self.features is None else self.features[idx])


def _halve(loss: torch.Tensor, n: int) -> torch.Tensor:
    """The live candidates (n images x k each, image-major) that survive a pruning: each image's
    better half by its own loss (ties to the earlier start), in their order. Flat indices."""
    import torch

    k = loss.numel() // n
    best = loss.view(n, k).argsort(dim=1, stable=True)[:, :max(1, k // 2)].sort(1).values
    return (torch.arange(n, device=loss.device)[:, None] * k + best).flatten()


def invert(G, targets: torch.Tensor, settings: SearchSettings, seed: int, D=None, classes: torch.Tensor | None = None,
           init: torch.Tensor | str = "random", progress=None, observe=None,
           weight: torch.Tensor | None = None) -> Inversion:
    """Invert `targets` (N, C, H, W, in the model's range, on G's device).

    `init`: "random", "best-of-K" (the closest of K random latents, by forward passes only), or a
    tensor (N, nz) or (N, D) of starting latents. `classes` (N,) fixes conditional models' classes;
    None searches them (every class is tried, each image keeps its best).

    `observe` maps G's output to what the targets are (a degradation: gantool.latent.restore); the
    targets are then observations, and `weight` (1, 1, h, w) marks which of their pixels count.

    The search: `settings.steps` Adam steps on every start (each image's `settings.restarts`
    starts, times the classes searched), every `settings.prune` steps each image dropping the worse
    half of its own starts; then `settings.refine` L-BFGS iterations on the survivors, each with
    its own history and line search. Every decision is an image's own, so an image's result does
    not depend on its batch.
    """
    import torch

    settings.validate()
    if observe is not None and settings.perceptual > 0:
        raise BadValue("perceptual", settings.perceptual, "compares whole images; it cannot see through a degradation")
    seen = observe or (lambda img: img)
    G.requires_grad_(False)  # only z learns
    if D is not None:
        D.requires_grad_(False)
    if settings.perceptual > 0 and D is None:
        raise BadValue("perceptual", settings.perceptual, "needs the model's discriminator")
    device = targets.device
    cfg = G.cfg
    n, R = targets.shape[0], settings.restarts
    C = cfg.num_classes
    search = cfg.conditional and classes is None
    cands = torch.arange(C, device=device) if search else None
    per = R * (C if search else 1)  # candidates per image

    # the candidates' classes: image-major, then class, then restart
    if cfg.conditional:
        if search:
            cls = cands.repeat_interleave(R).repeat(n)
        else:
            cls = classes.to(device).repeat_interleave(R)
        onehot = torch.nn.functional.one_hot(cls, C).float()
    else:
        cls, onehot = None, None
    t = targets.repeat_interleave(per, 0)

    with torch.no_grad():
        z0 = _starts(G, targets, settings, seed, init, per, onehot, seen, weight)
    features = getattr(D, "features", None) if settings.perceptual > 0 else None
    with torch.no_grad():
        target_features = _render(features, t).detach() if features is not None else None
    live = _Live(torch.arange(n * per, device=device), t, onehot, target_features)

    def objective(z, live):
        img = _render(G, torch.cat([z, live.onehot], 1) if live.onehot is not None else z)
        loss = _per_image(seen(img), live.targets, settings.loss, weight)
        if features is not None:
            loss = loss + settings.perceptual * (_render(features, img) - live.features).pow(2).flatten(1).mean(1)
        if settings.prior > 0:
            loss = loss + settings.prior * z.pow(2).mean(1)
        return loss

    def report(step, loss):
        if progress is not None and (step % 25 == 0 or step == settings.steps + settings.refine):
            progress.update(step, {"loss": float(loss.detach().view(n, -1).min(1).values.mean())})

    final_z, final_loss = z0.clone(), torch.full((n * per,), float("inf"), device=device)
    if progress is not None:
        progress.start(settings.steps + settings.refine)
    z, live = _adam(objective, z0, live, settings, n, final_z, final_loss, report)
    if settings.refine:
        z = _lbfgs(objective, z, live, settings.refine, settings.lr, lambda i, loss: report(settings.steps + i, loss))
    if progress is not None:
        progress.stop()
    with torch.no_grad():
        final_z[live.rows] = z
        final_loss[live.rows] = objective(z, live)
        loss = final_loss.view(n, per)
        best = loss.argmin(1)
        idx = torch.arange(n, device=device) * per + best
        every = torch.cat([final_z, onehot], 1) if onehot is not None else final_z
        chosen = every[idx]
        return Inversion(chosen.cpu(), _render(G, chosen), loss.gather(1, best[:, None])[:, 0].cpu(),
                         cls[idx].cpu() if cls is not None else None, every.view(n, per, -1).cpu(), loss.cpu())


def _starts(G, targets, settings, seed, init, per, onehot, seen, weight):
    """Every candidate's starting z (N * per, nz): given, random, or the best of K random ones."""
    import torch

    n, cfg, device = targets.shape[0], G.cfg, targets.device
    if isinstance(init, torch.Tensor):
        return init[:, :cfg.nz].to(device).float().repeat_interleave(per, 0)
    if init == "random":
        return start_latents(G, targets, seed, per).to(device)
    if not init.startswith("best-of-"):
        raise BadValue("init", init, "must be random, best-of-K or a .npy file")
    k = int(init.split("-")[-1])
    pool = start_latents(G, targets, seed, per * k).to(device).view(n, per, k, cfg.nz)
    flat = pool.reshape(-1, cfg.nz)
    tk = targets.repeat_interleave(per * k, 0)
    ok = onehot.repeat_interleave(k, 0) if onehot is not None else None
    scores = []
    for a in range(0, flat.shape[0], 512):
        zz = flat[a:a + 512]
        img = _render(G, torch.cat([zz, ok[a:a + 512]], 1) if ok is not None else zz)
        scores.append(_per_image(seen(img), tk[a:a + 512], settings.loss, weight))
    best = torch.cat(scores).view(n, per, k).argmin(2)
    return pool.gather(2, best[..., None, None].expand(n, per, 1, cfg.nz)).reshape(-1, cfg.nz)


def _adam(objective, z0, live, settings, n, final_z, final_loss, report):
    """The Adam steps, warm-up then cosine decay, with pruning; a pruned candidate's z and loss go
    to `final_z`/`final_loss`. Returns the survivors' z and their _Live."""
    import torch

    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=settings.lr)
    warm = max(1, round(0.05 * settings.steps))

    def lr_at(step):
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, settings.steps - warm)))

    for step in range(settings.steps):
        for group in opt.param_groups:
            group["lr"] = settings.lr * lr_at(step)
        loss = objective(z, live)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # a sum: each image's gradient is its own
        if settings.prune and step and step % settings.prune == 0 and live.rows.numel() > n:
            keep = _halve(loss.detach(), n)
            with torch.no_grad():
                drop = torch.ones_like(live.rows, dtype=torch.bool)
                drop[keep] = False
                final_z[live.rows[drop]] = z.detach()[drop]
                final_loss[live.rows[drop]] = loss.detach()[drop]
            state = opt.state[z]
            z2 = z.detach()[keep].clone().requires_grad_(True)
            z2.grad = z.grad[keep]
            opt = torch.optim.Adam([z2], lr=opt.param_groups[0]["lr"])
            opt.state[z2] = {"step": state["step"].clone(), "exp_avg": state["exp_avg"][keep].clone(),
                             "exp_avg_sq": state["exp_avg_sq"][keep].clone()}
            z, live = z2, live.take(keep)
        opt.step()
        report(step + 1, loss)
    return z.detach(), live


def _lbfgs(objective, z, live, iters: int, lr: float, report, history: int = 8):
    """L-BFGS on each row of z (B, D) at once, but each on its own: its own curvature pairs, its own
    backtracking (Armijo) line search, its own stop (two stalled iterations in a row: it is where
    float32 can take it). Only the rows still searching are evaluated. Returns the new z."""
    import torch

    B, D = z.shape
    S, Y = z.new_zeros(B, history, D), z.new_zeros(B, history, D)
    rho, gamma = z.new_zeros(B, history), z.new_zeros(B)
    failed = torch.zeros(B, dtype=torch.int64, device=z.device)

    def value_and_grad(zz, rows):
        zz = zz.detach().requires_grad_(True)
        loss = objective(zz, live.take(rows))
        grad, = torch.autograd.grad(loss.sum(), zz)
        return loss.detach(), grad

    everyone = torch.arange(B, device=z.device)
    loss, grad = value_and_grad(z, everyone)
    for it in range(iters):
        active = everyone[failed < 2]
        if active.numel() == 0:  # every start has stalled: the rest would change nothing
            report(iters, loss)
            break
        newest = it % history
        order = [(newest - 1 - j) % history for j in range(history)]  # newest pair first
        q, alpha = grad[active], z.new_zeros(active.numel(), history)
        for j in order:
            alpha[:, j] = rho[active, j] * (S[active, j] * q).sum(1)
            q = q - alpha[:, j, None] * Y[active, j]
        scale = torch.where(gamma[active] > 0, gamma[active], lr / grad[active].norm(dim=1).clamp_min(1e-12))
        r = q * scale[:, None]
        for j in reversed(order):
            r = r + (alpha[:, j] - rho[active, j] * (Y[active, j] * r).sum(1))[:, None] * S[active, j]
        d = -r
        slope = (grad[active] * d).sum(1)
        uphill = slope >= 0  # a stale history: fall back to the scaled gradient
        d = torch.where(uphill[:, None], -grad[active] * scale[:, None], d)
        slope = (grad[active] * d).sum(1)
        step = torch.ones_like(slope)
        z_new, loss_new, grad_new = z[active].clone(), loss[active].clone(), grad[active].clone()
        done = torch.zeros_like(slope, dtype=torch.bool)
        for _ in range(6):
            todo = (~done).nonzero()[:, 0]
            trial = z[active[todo]] + step[todo, None] * d[todo]
            lt, gt = value_and_grad(trial, active[todo])
            ok = lt <= loss[active[todo]] + 1e-4 * step[todo] * slope[todo]
            hit = todo[ok]
            z_new[hit], loss_new[hit], grad_new[hit] = trial[ok], lt[ok], gt[ok]
            done[hit] = True
            if bool(done.all()):
                break
            step = torch.where(done, step, step * 0.25)
        s, y = z_new - z[active], grad_new - grad[active]
        sy = (s * y).sum(1)
        good = done & (sy > 1e-10 * s.norm(dim=1) * y.norm(dim=1))
        S[active, newest] = torch.where(good[:, None], s, 0.0)
        Y[active, newest] = torch.where(good[:, None], y, 0.0)
        rho[active, newest] = torch.where(good, 1 / sy.clamp_min(1e-30), 0.0)
        gamma[active] = torch.where(good, sy / (y * y).sum(1).clamp_min(1e-30), gamma[active])
        lost = active[~done]  # no decrease along this direction: forget the history, count the failure
        S[lost], Y[lost], rho[lost], gamma[lost] = 0.0, 0.0, 0.0, 0.0
        gain = loss[active] - loss_new  # a step that gains under 1e-6 of the loss is float32's noise: a stall
        stalled = ~done | (gain <= 1e-6 * loss[active].abs())
        failed[active] = torch.where(stalled, failed[active] + 1, 0)
        z[active], loss[active], grad[active] = z_new, loss_new, grad_new
        report(it + 1, loss)
    return z


def quality(recon01: torch.Tensor, target01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PSNR (dB) and SSIM of each reconstruction against its target, both in [0, 1] (torchmetrics)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    psnr = peak_signal_noise_ratio(recon01, target01, data_range=1.0, reduction="none", dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(recon01, target01, data_range=1.0, reduction="none")
    return psnr, ssim
