"""GAN losses on raw discriminator outputs (logits or critic scores).

Each loss gives the discriminator's loss, the generator's loss, and how to read D's output as a
number worth logging (a probability for the sigmoid losses, the raw score for the others).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("nonsaturating", "saturating", "lsgan", "hinge", "wgan-gp")


def d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Discriminator loss; `real_target` < 1 is one-sided label smoothing."""
    if loss in ("nonsaturating", "saturating"):
        return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_target))
                + F.softplus(fake).mean())  # softplus(x) = -log(1 - sigmoid(x))
    if loss == "lsgan":
        return 0.5 * ((real - real_target).pow(2).mean() + fake.pow(2).mean())
    if loss == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if loss == "wgan-gp":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown loss {loss!r}")


def g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    if loss == "nonsaturating":
        return F.softplus(-fake).mean()  # -log D(G(z))
    if loss == "saturating":
        return -F.softplus(fake).mean()  # log(1 - D(G(z))): the original minimax loss, which saturates
    if loss == "lsgan":
        return 0.5 * (fake - 1).pow(2).mean()
    if loss in ("hinge", "wgan-gp"):
        return -fake.mean()
    raise ValueError(f"unknown loss {loss!r}")


def d_output(loss: str, logits: torch.Tensor) -> torch.Tensor:
    """D(x) as logged: mean probability for the sigmoid losses, mean raw score otherwise."""
    return torch.sigmoid(logits).mean() if loss in ("nonsaturating", "saturating") else logits.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, labels, generator=None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||grad D(x_hat)|| - 1)^2 on random interpolates."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=generator, dtype=real.dtype)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(mixed, labels)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()
