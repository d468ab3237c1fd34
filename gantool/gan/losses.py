"""GAN losses on raw discriminator outputs (logits or critic scores), one small object each.

A Loss knows the discriminator's loss, the generator's loss, how D's output reads as a number worth
logging (a probability for the sigmoid losses, the raw score otherwise), whether D may use batch
norm, and the weight of its gradient penalty (WGAN-GP). The trainer, the model config, the plot
and the CLI's choices all read these objects; nothing else tests a loss by its name. Importing
this module does not import torch (the CLI reads the names for --help and completion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch


def _F():
    import torch.nn.functional as F

    return F


def _bce_d(real, fake, real_target):
    # softplus(x) = -log(1 - sigmoid(x)); real_target < 1 is one-sided label smoothing
    F = _F()
    return F.binary_cross_entropy_with_logits(real, real.new_full(real.shape, real_target)) + F.softplus(fake).mean()


@dataclass(frozen=True)
class Loss:
    name: str
    help: str
    d: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # (D(x), D(G(z)), real target) -> D's loss
    g: Callable[[torch.Tensor], torch.Tensor]  # D(G(z)) -> G's loss
    probability: bool = False  # D's output is a logit: log it as a probability
    d_batch_norm: bool = True  # False: batch norm would mix the per-sample gradient penalty
    gradient_penalty: bool = False

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
        return self.d(real, fake, real_target)

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return self.g(fake)

    def d_output(self, scores: torch.Tensor) -> torch.Tensor:
        """D(x) as logged: the mean probability for the sigmoid losses, the mean raw score otherwise."""
        return scores.sigmoid().mean() if self.probability else scores.mean()

    @property
    def d_reads_as(self) -> str:
        return "mean probability" if self.probability else "mean score"


LOSSES = {loss.name: loss for loss in (
    Loss("nonsaturating", "-log D(G(z)) for G (Goodfellow et al. 2014)", _bce_d,
         lambda fake: _F().softplus(-fake).mean(), probability=True),
    Loss("saturating", "the minimax log(1 - D(G(z))) for G, to see its vanishing gradient", _bce_d,
         lambda fake: -_F().softplus(fake).mean(), probability=True),
    Loss("lsgan", "least squares (Mao et al. 2017)",
         lambda real, fake, t: 0.5 * ((real - t).pow(2).mean() + fake.pow(2).mean()),
         lambda fake: 0.5 * (fake - 1).pow(2).mean()),
    Loss("hinge", "hinge loss for D, -D(G(z)) for G (Miyato et al. 2018)",
         lambda real, fake, t: (1 - real).relu().mean() + (1 + fake).relu().mean(),
         lambda fake: -fake.mean()),
    Loss("wgan-gp", "Wasserstein critic with gradient penalty (Gulrajani et al. 2017); D has no batch norm",
         lambda real, fake, t: fake.mean() - real.mean(),
         lambda fake: -fake.mean(), d_batch_norm=False, gradient_penalty=True),
)}


def get(name: str) -> Loss:
    return LOSSES[name]


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, labels, generator=None,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||grad D(x_hat)|| - 1)^2 on random interpolates, mixed by
    `eps` (N, 1, 1, 1) or weights drawn from `generator`."""
    import torch

    if eps is None:
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=generator, dtype=real.dtype)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(mixed, labels)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(critic, real: torch.Tensor, labels) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): the squared norm of D's gradient at the real images, averaged over
    the batch (the weight gamma/2 is the caller's)."""
    import torch

    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x, labels).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()
