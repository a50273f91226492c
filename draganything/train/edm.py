"""The SVD training objective: EDM preconditioning with v-prediction, matching the sampler's Euler step.

SVD's scheduler (continuous timesteps, v-prediction) reads the network as ``x0 = c_skip * x + c_out * v`` with
``c_skip = 1 / (sigma^2 + 1)``, ``c_out = -sigma / sqrt(sigma^2 + 1)``, input ``x / sqrt(sigma^2 + 1)`` and timestep
``0.25 ln sigma``. Training noises clean latents to ``x = x0 + sigma * eps`` and minimises the EDM-weighted x0
error ``(1 + sigma^2) / sigma^2 * |x0_hat - x0|^2`` (the recipe of the public SVD ControlNet training code the
official project was forked from; the weight makes it exactly the v-prediction error). Noise levels are drawn
log-normally, ``ln sigma ~ N(p_mean, p_std^2)``, clipped to the sampler's range.
"""

from __future__ import annotations

import torch

# The SVD sampler's noise range (scheduler config sigma_min / sigma_max).
SIGMA_MIN = 0.002
SIGMA_MAX = 700.0


def sample_sigmas(batch_size: int, p_mean: float, p_std: float, *, generator: torch.Generator | None = None,
                  device=None) -> torch.Tensor:
    """Log-normal noise levels [B] (float32), clipped to [SIGMA_MIN, SIGMA_MAX]."""
    normal = torch.randn(batch_size, generator=generator, device=device)
    return (normal * p_std + p_mean).exp().clamp(SIGMA_MIN, SIGMA_MAX)


def input_scale(sigmas: torch.Tensor) -> torch.Tensor:
    return 1.0 / (sigmas**2 + 1).sqrt()


def denoised_from_v(v: torch.Tensor, noisy: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """x0 estimate from the v-prediction (the formula of diffusers' EulerDiscreteScheduler for v_prediction)."""
    sigma = sigmas.reshape(-1, *([1] * (noisy.ndim - 1)))
    return v * (-sigma / (sigma**2 + 1).sqrt()) + noisy / (sigma**2 + 1)


def edm_loss(v: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Mean of ``(1 + sigma^2) / sigma^2 * (x0_hat - x0)^2`` over every element, computed in float32."""
    denoised = denoised_from_v(v.float(), noisy.float(), sigmas)
    weight = ((1 + sigmas**2) / sigmas**2).reshape(-1, *([1] * (noisy.ndim - 1)))
    return (weight * (denoised - clean.float()) ** 2).mean()
