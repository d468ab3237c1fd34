"""GAN inversion: the latent whose image reproduces a given one, for a batch of images at once.

All images and all restarts are one batch of latents optimized together: the generator (and the
discriminator, for the perceptual term) run in eval mode and each image's loss is summed, never
averaged over the batch, so an image's latent does not depend on the others (Adam works element
by element). Each image's random starts are seeded from the seed and the image's own pixels: the
same image gives the same latent alone or inside any batch, and the same seed the same result.

Settings (InvertSettings) are written once; `gantool invert` builds its options from them (so this
module imports torch only inside its functions: --help reads the settings).
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


@dataclass
class SearchSettings:
    """How a latent is searched: shared by `invert` and `restore`."""

    steps: int = setting(300, "Adam steps.", OPT, ge=1, le=1_000_000)
    lr: float = setting(0.05, "Peak learning rate (linear warm-up over the first 5% of steps, then cosine decay).",
                        OPT, gt=0)
    loss: str = setting("mse", "Pixel loss: mse or l1.", OPT, choices=("mse", "l1"))
    prior: float = setting(0.0, "Weight of a penalty on |z|^2 / nz (keeps z where the generator was trained).", OPT,
                           ge=0)
    restarts: int = setting(1, "Random starts per image, optimized together; each image keeps its best.", OPT,
                            ge=1, le=64)
    perceptual = 0.0  # InvertSettings makes it a setting; restore compares degraded images, not D's features

    def validate(self) -> None:
        check(self)


@dataclass
class InvertSettings(SearchSettings):
    perceptual: float = setting(0.0, "Weight of a term on the discriminator's features (nothing to download).",
                                OPT, ge=0)


@dataclass
class Inversion:
    latents: torch.Tensor  # (N, D), the generator's whole input
    images: torch.Tensor  # (N, C, H, W) in the model's range, G(latents)
    loss: torch.Tensor  # (N,) final objective per image
    classes: torch.Tensor | None  # (N,) the class each image was inverted with (conditional models)
    candidates: torch.Tensor  # (N, K, D) every start's final latent (K = restarts x searched classes)
    candidate_loss: torch.Tensor  # (N, K) and its objective


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


def invert(G, targets: torch.Tensor, settings: SearchSettings, seed: int, D=None, classes: torch.Tensor | None = None,
           init: torch.Tensor | str = "random", progress=None, observe=None,
           weight: torch.Tensor | None = None) -> Inversion:
    """Invert `targets` (N, C, H, W, in the model's range, on G's device).

    `init`: "random", "best-of-K" (the closest of K random latents, by forward passes only), or a
    tensor (N, nz) or (N, D) of starting latents. `classes` (N,) fixes conditional models' classes;
    None searches them (every class is tried, each image keeps its best).

    `observe` maps G's output to what the targets are (a degradation: gantool.latent.restore); the
    targets are then observations, and `weight` (1, 1, h, w) marks which of their pixels count.
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

    def render(z):
        return G(torch.cat([z, onehot], 1) if onehot is not None else z)

    with torch.no_grad():
        if isinstance(init, torch.Tensor):
            z0 = init[:, :cfg.nz].to(device).float().repeat_interleave(per, 0)
        elif init == "random":
            z0 = start_latents(G, targets, seed, per).to(device)
        elif init.startswith("best-of-"):
            k = int(init.split("-")[-1])
            pool = start_latents(G, targets, seed, per * k).to(device).view(n, per, k, cfg.nz)
            flat = pool.reshape(-1, cfg.nz)
            tk = targets.repeat_interleave(per * k, 0)
            ok = onehot.repeat_interleave(k, 0) if onehot is not None else None
            scores = []
            for a in range(0, flat.shape[0], 512):
                zz = flat[a:a + 512]
                img = G(torch.cat([zz, ok[a:a + 512]], 1) if ok is not None else zz)
                scores.append(_per_image(seen(img), tk[a:a + 512], settings.loss, weight))
            best = torch.cat(scores).view(n, per, k).argmin(2)
            z0 = pool.gather(2, best[..., None, None].expand(n, per, 1, cfg.nz)).reshape(-1, cfg.nz)
        else:
            raise BadValue("init", init, "must be random, best-of-K or a .npy file")
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=settings.lr)
    warm = max(1, round(0.05 * settings.steps))

    def lr_at(step):
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, settings.steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    features = getattr(D, "features", None) if settings.perceptual > 0 else None
    target_features = features(t).detach() if features is not None else None

    def objective(z):
        img = render(z)
        loss = _per_image(seen(img), t, settings.loss, weight)
        if features is not None:
            loss = loss + settings.perceptual * (features(img) - target_features).pow(2).flatten(1).mean(1)
        if settings.prior > 0:
            loss = loss + settings.prior * z.pow(2).mean(1)
        return loss, img

    if progress is not None:
        progress.start(settings.steps)
    for step in range(settings.steps):
        loss, _ = objective(z)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # a sum: each image's gradient is its own
        opt.step()
        sched.step()
        if progress is not None and ((step + 1) % 25 == 0 or step + 1 == settings.steps):
            progress.update(step + 1, {"loss": float(loss.detach().view(n, per).min(1).values.mean())})
    if progress is not None:
        progress.stop()
    with torch.no_grad():
        loss, img = objective(z)
        best = loss.view(n, per).argmin(1)
        idx = torch.arange(n, device=device) * per + best
        chosen = cls[idx] if cls is not None else None
        every = torch.cat([z.detach(), onehot], 1) if onehot is not None else z.detach()
        loss = loss.view(n, per)
        return Inversion(every[idx].cpu(), img[idx].detach(), loss.gather(1, best[:, None])[:, 0].cpu(),
                         chosen.cpu() if chosen is not None else None,
                         every.view(n, per, -1).cpu(), loss.cpu())


def quality(recon01: torch.Tensor, target01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PSNR (dB) and SSIM of each reconstruction against its target, both in [0, 1] (torchmetrics)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    psnr = peak_signal_noise_ratio(recon01, target01, data_range=1.0, reduction="none", dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(recon01, target01, data_range=1.0, reduction="none")
    return psnr, ssim
