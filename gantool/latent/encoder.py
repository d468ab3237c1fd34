"""An encoder trained from the generator alone: pairs (z, G(z)) drawn fresh every step, no real
data. It maps an image to a latent near the one that drew it, so inversion can start there
(`invert --init encoder`) instead of at random. Stored beside the model as
`NAME.encoder.safetensors` (gantool.models.encoder)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from gantool.settings import check, setting

OPT = "Training"


@dataclass
class EncoderSettings:
    steps: int = setting(1500, "Training steps, each on a fresh batch of generated images.", OPT, ge=1, le=10_000_000)
    batch_size: int = setting(128, "Generated images per step.", OPT, ge=1, le=4096)
    lr: float = setting(1e-3, "Adam learning rate (cosine decay to 0).", OPT, gt=0)
    ndf: int = setting(32, "Encoder width: channels of its first layer.", OPT, ge=1, le=4096)

    def validate(self) -> None:
        check(self)


def encoder_path(model) -> Path:
    """Where a model's encoder lives: run/model.safetensors -> run/model.encoder.safetensors."""
    p = Path(model)
    return p.with_name(p.name.removesuffix(".safetensors") + ".encoder.safetensors")


def train_encoder(G, settings: EncoderSettings, seed: int, device, progress=None):
    """Train an Encoder for generator G (eval mode, frozen). Returns (encoder, held-out latent MSE)."""
    import torch
    import torch.nn.functional as F

    from gantool.models.encoder import Encoder, EncoderConfig

    settings.validate()
    cfg = G.cfg
    G.requires_grad_(False)
    torch.manual_seed(seed)
    E = Encoder(EncoderConfig(cfg.image_size, cfg.channels, cfg.nz, cfg.num_classes, settings.ndf)).to(device)
    opt = torch.optim.Adam(E.parameters(), lr=settings.lr, betas=(0.5, 0.999))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / settings.steps)))
    gen = torch.Generator(device=device).manual_seed(seed)
    if progress is not None:
        progress.start(settings.steps)
    E.train()
    for step in range(settings.steps):
        latents, labels = G.latents(settings.batch_size, gen)
        with torch.no_grad():
            images = G(latents)
        z_hat, logits = E(images)
        loss = F.mse_loss(z_hat, latents[:, :cfg.nz])
        if logits is not None:
            loss = loss + F.cross_entropy(logits, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None and ((step + 1) % 50 == 0 or step + 1 == settings.steps):
            progress.update(step + 1, {"loss": loss.detach().item()})
    if progress is not None:
        progress.stop()
    E.eval()
    with torch.no_grad():  # held out: latents the encoder never saw
        latents, _ = G.latents(512, torch.Generator(device=device).manual_seed(seed + 1))
        z_hat, _ = E(G(latents))
        mse = float(F.mse_loss(z_hat, latents[:, :cfg.nz]))
    return E, mse


def save_encoder(path, E, info, model, settings: EncoderSettings, seed: int, mse: float) -> None:
    """The encoder as a gantool .safetensors (kind "encoder"), its generator's data and path in the header."""
    from gantool.files import modelfile

    modelfile.save(path, "encoder", modelfile.with_prefix(E.state_dict(), "encoder"), E.cfg.to_dict(),
                   {**info.header.data, "generator": str(model)},
                   {"steps": settings.steps, "batch_size": settings.batch_size, "lr": settings.lr, "seed": seed,
                    "heldout_latent_mse": mse})


def encode(E, images):
    """Latent rows for images in the generator's range: z, then the predicted one-hot class."""
    import torch

    with torch.no_grad():
        z, logits = E(images)
        if logits is None:
            return z
        return torch.cat([z, torch.nn.functional.one_hot(logits.argmax(1), logits.shape[1]).to(z.dtype)], 1)
