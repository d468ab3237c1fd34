"""Restoration past the generator's range: after the latent search, fine-tune the generator for
each image (Deep Generative Prior, Pan et al. 2020, "Exploiting Deep Generative Prior for Versatile
Image Restoration and Manipulation").

The latent search can only reach what the generator draws. Here each image gets its own copy of
the generator's weights, trained from the searched latent to fit that image's known pixels:

- layers are unfrozen progressively, a block (a convolution and its normalization) a stage, with
  a small learning rate: by default from the input side (the layers nearest the latent first, as
  Deep Generative Prior's "progressive reconstruction" does), or from the output side
  (--finetune-order output; measured worse on deblurring, where the last layer alone draws detail
  the blur hides);
- the loss is the search's pixel loss through the same damage, beside a term on the
  discriminator's features (L1 between D's features of the damaged restoration and of the input,
  both with the same pixels masked), which keeps the image one D finds natural;
- a random part of the known pixels (seeded by --seed and the image's own pixels) is held out:
  the image kept is the one of the step that predicts them best (the search's own image, step 0,
  included), and an image stops when it has not improved for a while (early stopping);
- --finetune-average K fine-tunes the K best starts of the search and keeps their mean;
- every image has its own weights and its own Adam state (Adam works element by element) and its
  loss is its own: the weights are stacked, one copy per image, and the generator is called on
  them through `torch.func.functional_call` under `torch.vmap` (one batched call, in chunks), so
  an image's result does not depend on the others in its batch. The model file is never written:
  the copies live in memory and are dropped.

Settings (FinetuneSettings) are torch-free; `gantool restore` and `gantool invert` build their
options from them (--finetune STEPS, 0 = off, the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from gantool.errors import BadValue, GantoolError, flag
from gantool.settings import check, setting

if TYPE_CHECKING:
    import torch

FT = "Fine-tuning (Deep Generative Prior)"
MAX_FINETUNE = 10_000  # steps per image
MAX_AVERAGE = 16
CHUNK = 64  # images fine-tuned together at most (one stacked copy of the weights each)
CHUNK_BYTES = 1 << 30  # and at most this much for their copies, gradients and Adam's two moments


@dataclass
class FinetuneSettings:
    finetune: int = setting(0, "After the latent search, fine-tune a copy of the generator for each image for up to "
                               "N Adam steps (Deep Generative Prior): past what the generator alone can draw. Layers "
                               "are unfrozen a block a stage (see the order option); the step kept is the one that "
                               "best predicts held-out known pixels. 0: off. The model file is never changed.", FT, ge=0,
                            le=MAX_FINETUNE)
    finetune_lr: float = setting(5e-4, "The fine-tuning's learning rate (Adam), for the generator's weights.", FT,
                                 gt=0, le=1)
    finetune_features: float = setting(0.1, "Weight of the term on the discriminator's features beside the pixel "
                                            "loss (0: none, and no discriminator needed).", FT, ge=0, le=1000)
    finetune_order: str = setting("input", "Which end of the generator is unfrozen first: input (the layers "
                                           "nearest the latent first, as Deep Generative Prior does) or output.", FT,
                                  choices=("input", "output"))
    finetune_average: int = setting(1, "Fine-tune the K best restarts of each image and keep their mean (an estimate "
                                       "of the posterior mean: sharper detail is traded for a lower error). Needs "
                                       "--restarts K or more; not with --variants.", FT, ge=1, le=MAX_AVERAGE)
    finetune_holdout: float = setting(0.1, "Fraction of the known pixels held out (seeded per image) to choose the "
                                           "step kept.", FT, ge=0.01, le=0.5)

    def validate(self) -> None:
        check(self)

    @classmethod
    def checked(cls, given: dict) -> FinetuneSettings:
        out = cls(**given)
        out.validate()
        return out

    @property
    def on(self) -> bool:
        return self.finetune > 0

    def patience(self) -> int:
        """Steps an image may go without a better held-out fit before it stops."""
        return max(25, self.finetune // 4)

    def check_model(self, info) -> None:
        """Refuse, from the model file's header alone (gantool.models.loader.inspect), fine-tuning
        this model cannot do."""
        if not self.on:
            return
        if self.finetune_features > 0 and not any(name.startswith("discriminator.") for name in info.header.tensors):
            raise GantoolError(f"{flag('finetune')}: {info.path} has no discriminator for the feature term",
                               f"add {flag('finetune_features')} 0 to fine-tune on the pixels alone")

    def check_search(self, restarts: int, variants: int = 1) -> None:
        """Refuse an average the search does not give."""
        if not self.on or self.finetune_average == 1:
            return
        if variants > 1:
            raise BadValue("finetune_average", self.finetune_average, f"keeps one mean per image; "
                           f"{flag('variants')} keeps several restorations")
        if restarts < self.finetune_average:
            raise BadValue("finetune_average", self.finetune_average, f"needs {flag('restarts')} "
                           f"{self.finetune_average} or more (given {restarts})")

    def roles(self, discriminator: bool = False) -> tuple[str, ...] | None:
        """The networks to load (gantool.opening): the discriminator too for its features (or when
        the caller needs it anyway); None: the generator alone."""
        if discriminator or (self.on and self.finetune_features > 0):
            return ("generator", "discriminator")
        return None

    def summary(self) -> str:
        """`, fine-tuned per image up to 200 steps` for a status line ('' when off)."""
        return f", fine-tuned per image up to {self.finetune} steps" if self.on else ""


@dataclass
class Finetuned:
    images: torch.Tensor  # (M, C, H, W) in the model's range: each image's kept step
    step: torch.Tensor  # (M,) int64: the step kept (0: the search's own image)
    steps: int  # steps run (the last image's early stop)
    held_out: torch.Tensor  # (M,) the held-out pixels' error at the step kept


def blocks(G) -> list[list[str]]:
    """G's parameter names in blocks, from the output side: each convolution (or linear layer) with
    the normalization that follows it."""
    import torch

    out: list[list[str]] = []
    starts = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)
    for name, module in G.named_modules():
        own = [f"{name}.{p}" if name else p for p, _ in module.named_parameters(recurse=False)]
        if not own:
            continue
        if isinstance(module, starts) or not out:
            out.append(own)
        else:
            out[-1] += own
    return out[::-1]


def holdout(known: torch.Tensor | None, shape: tuple[int, int], seeds: list[int], fraction: float) -> torch.Tensor:
    """(M, 1, h, w) 1 where a known pixel is held out, per image from its seed."""
    import torch

    h, w = shape
    rows = []
    for s in seeds:
        gen = torch.Generator().manual_seed(s + 7919)
        rows.append((torch.rand(1, h, w, generator=gen) < fraction).float())
    held = torch.stack(rows)
    if known is not None:
        held = held * known.cpu()
    return held


def _weighted(err: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (err * w).flatten(1).sum(1) / (w.expand_as(err).flatten(1).sum(1)).clamp_min(1e-8)


def finetune(G, latents: torch.Tensor, targets: torch.Tensor, observe: Callable, settings: FinetuneSettings,
             seeds: list[int], loss: str = "mse", known: torch.Tensor | None = None, features: Callable | None = None,
             lift: Callable | None = None, progress=None, chunk: int = CHUNK) -> Finetuned:
    """Fine-tune a copy of G per image from its searched latent (M, D) to fit `targets` (M, c, h, w)
    in the observation's space ([0, 1]) on the `known` pixels (1, 1, h, w, or None: all), through
    `observe` (G's output -> what the targets are). `features` (D's features, images in the model's
    range) and `lift` (an observation in [0, 1] -> a full-size image in the model's range) give the
    discriminator term. `seeds` (M): each image's held-out pixels. Images `chunk` at a time (fewer
    for a large generator: their copies are held to CHUNK_BYTES)."""
    import torch

    settings.validate()
    if settings.finetune_features > 0 and (features is None or lift is None):
        raise BadValue("finetune_features", settings.finetune_features, "needs the model's discriminator")
    G.requires_grad_(False)
    device = targets.device
    held = holdout(known, tuple(targets.shape[-2:]), seeds, settings.finetune_holdout).to(device)
    base = known.to(device) if known is not None else torch.ones_like(held[:1])
    parts, steps = [], 0
    m = targets.shape[0]
    per_image = 16 * sum(p.numel() for p in G.parameters())  # float32 weights, gradient, two moments
    chunk = max(1, min(chunk, CHUNK_BYTES // per_image))
    if progress is not None:
        progress.start(settings.finetune * ((m + chunk - 1) // chunk))
    for a in range(0, m, chunk):
        part, ran = _finetune_chunk(G, latents[a:a + chunk].to(device), targets[a:a + chunk], observe, settings,
                                    loss, base * (1 - held[a:a + chunk]), base * held[a:a + chunk], features, lift,
                                    progress, (a // chunk) * settings.finetune)
        parts.append(part)
        steps = max(steps, ran)
    if progress is not None:
        progress.stop()
    return Finetuned(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]).cpu(), steps,
                     torch.cat([p[2] for p in parts]).cpu())


def _finetune_chunk(G, z, y, observe, settings, loss, train_w, val_w, features, lift, progress, done):
    import torch
    from torch.func import functional_call

    from gantool.latent.restore import HOLE

    n = z.shape[0]
    params = dict(G.named_parameters())
    fixed = {**params, **dict(G.named_buffers())}
    stacked: dict[str, torch.Tensor] = {}
    groups = blocks(G)
    if settings.finetune_order == "input":
        groups = groups[::-1]
    per_stage = [settings.finetune * (k + 1) // len(groups) for k in range(len(groups))]  # a stage's last step
    opt = None

    def unfreeze(names):
        nonlocal opt
        new = []
        for name in names:
            t = params[name].detach().unsqueeze(0).repeat(n, *([1] * params[name].dim())).requires_grad_(True)
            stacked[name] = t
            fixed.pop(name)
            new.append(t)
        if opt is None:
            opt = torch.optim.Adam(new, lr=settings.finetune_lr)
        else:
            opt.add_param_group({"params": new})

    def render():
        def one(p, zz):
            return functional_call(G, {**fixed, **p}, (zz[None],))[0]
        return torch.vmap(one)(stacked, z)

    def masked(x, w):
        return x * w + HOLE * (1 - w)

    target_features = None
    if settings.finetune_features > 0:
        with torch.no_grad():
            target_features = features(lift(masked(y, train_w)))

    def objective(img):
        seen = observe(img)
        d = seen - y
        err = (d.pow(2) if loss == "mse" else d.abs()).mean(1, keepdim=True)
        fit, val = _weighted(err, train_w), _weighted(err, val_w)
        total = fit
        if target_features is not None:
            f = features(lift(masked(seen, train_w)))
            total = total + settings.finetune_features * (f - target_features).abs().flatten(1).mean(1)
        return total, val.detach()

    best_img, best_val = None, None
    best_step = torch.zeros(n, dtype=torch.int64, device=z.device)
    since = torch.zeros(n, dtype=torch.int64, device=z.device)
    stopped = torch.zeros(n, dtype=torch.bool, device=z.device)  # for good: what a batch-mate does never moves it
    stage = 0
    unfreeze(groups[0])
    patience = settings.patience()
    for step in range(settings.finetune + 1):  # the images after `step` updates (step 0: the search's own)
        img = render()
        total, val = objective(img)
        with torch.no_grad():
            if best_img is None:
                best_img, best_val = img.detach(), val
            better = (val < best_val) & ~stopped
            best_val = torch.where(better, val, best_val)
            best_img = torch.where(better[:, None, None, None], img.detach(), best_img)
            best_step = torch.where(better, step, best_step)
            since = torch.where(better, 0, since + 1)
            stopped |= since >= patience
        if progress is not None and step and (step % 25 == 0 or step == settings.finetune):
            progress.update(done + step, {"held_out": float(best_val.mean())})
        if step == settings.finetune or bool(stopped.all()):
            break
        opt.zero_grad(set_to_none=True)
        total.sum().backward()  # a sum: each image's gradient is its own
        opt.step()
        while stage + 1 < len(groups) and step + 1 >= per_stage[stage]:  # the next block, in the order asked for
            stage += 1
            unfreeze(groups[stage])
    return (best_img, best_step, best_val), step


def finetune_images(loaded, latents: torch.Tensor, observed01: torch.Tensor, settings: FinetuneSettings,
                    seeds: list[int], loss: str = "mse", damage=None, known: torch.Tensor | None = None,
                    progress=None) -> tuple[torch.Tensor, Finetuned]:
    """A loaded model's generator fine-tuned per image (gantool.opening's networks: the
    discriminator's features when the settings weigh them): from searched `latents` (M, D) to the
    inputs `observed01` (M, c, h, w) in [0, 1], seen through `damage` (gantool.latent.restore.Damage;
    None: the images themselves, as invert fits them) on the `known` pixels. The kept images in
    [0, 1] on the CPU (M, C, H, W), and the Finetuned."""
    from gantool.latent.restore import Damage

    G, norm = loaded["generator"], loaded.normalization
    cfg = G.cfg
    device = next(G.parameters()).device
    D = loaded.nets.get("discriminator") if settings.finetune_features > 0 else None
    if D is not None:
        D.requires_grad_(False)
    damage = damage if damage is not None else Damage()  # no damage: both maps are the identity

    def observe(images):
        return damage.observe(norm.from_model(images))

    def lift(observed):
        return norm.to_model(damage.seen(observed, cfg.channels, cfg.image_size))
    result = finetune(G, latents.to(device), observed01.to(device), observe, settings, seeds, loss,
                      known=known.to(device) if known is not None else None,
                      features=D.features if D is not None else None, lift=lift, progress=progress)
    return norm.from_model(result.images.float()).cpu(), result


def finetune_search(loaded, result, observed01: torch.Tensor, settings: FinetuneSettings, seed: int,
                    loss: str = "mse", damage=None, known: torch.Tensor | None = None, progress=None,
                    latents: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fine-tune from a search (gantool.latent.invert.Inversion) of the N images `observed01`:
    from `latents` (N, V, D), the variants kept, or else from each image's FinetuneSettings.
    finetune_average best starts, averaged. Each image's held-out pixels are seeded by `seed` and
    its pixels. The images in [0, 1] (N, V, C, H, W) (V = 1 for an average) and the steps kept (N, V)."""
    import torch

    from gantool.latent.invert import image_seed

    if latents is None:
        k = settings.finetune_average
        pick = result.candidate_loss.argsort(1)[:, :k]
        latents = result.candidates[torch.arange(pick.shape[0])[:, None], pick]
    n, v = latents.shape[:2]
    seeds = [image_seed(seed, image) for image in observed01.cpu() for _ in range(v)]
    images01, tuned = finetune_images(loaded, latents.flatten(0, 1), observed01.repeat_interleave(v, 0), settings,
                                      seeds, loss, damage, known, progress)
    images01, steps = images01.view(n, v, *images01.shape[1:]), tuned.step.view(n, v)
    if settings.finetune_average > 1 and v == settings.finetune_average:
        return images01.mean(1, keepdim=True), steps
    return images01, steps
