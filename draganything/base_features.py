"""Entity features from an SVD base itself, through the library's DIFT code (DragAnything-Tiny's entity features).

The released model pools DIFT features of a separate SD-1.5 UNet. A model trained by this project's code has no
such network, so its own base UNet provides them, in training and at inference alike: :class:`SVDBaseFeatures` is a ``unet_features`` callable for
:func:`draganything.features.dift_features` that runs the SVD UNet on the first frame as a one-frame video and
returns the output of its last up block, the counterpart of DIFT's ``up_ft_index=3``. With one frame the
temporal layers only see that frame, so the features are spatial, as DIFT's are.

The DDPM noising in ``dift_features`` (t = 261) is exactly the SVD UNet's scaled input at the EDM noise level
``sigma = sqrt((1 - abar) / abar)`` (0.725), so the UNet is called at that sigma's timestep ``0.25 ln sigma``. The
first frame's own latent is the image conditioning, and its CLIP embedding is passed where DIFT passes the
empty-prompt text embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .components import Components, image_embedding
from .features import DIFT_ENSEMBLE_SIZE, DIFT_TIMESTEP, dift_features, sd1_noise_scheduler


def timesteps_for(sigmas: torch.Tensor) -> torch.Tensor:
    """The continuous timestep SVD's UNet is conditioned on: 0.25 ln sigma."""
    return 0.25 * sigmas.log()


def sigma_for_ddpm_timestep(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """The EDM noise level whose scaled input equals DDPM's ``x_t``: sigma = sqrt((1 - abar) / abar).

    DDPM noising gives ``sqrt(abar) x0 + sqrt(1 - abar) eps``, which is ``(x0 + sigma eps) / sqrt(sigma^2 + 1)``
    for this sigma, so a DDPM-noised latent is already the SVD UNet's scaled input at that noise level.
    """
    alpha_bar = alphas_cumprod.to(timesteps.device)[timesteps.long()].float()
    return ((1 - alpha_bar) / alpha_bar).sqrt()


class SVDBaseFeatures:
    """``unet_features(noisy_latents [B,4,h,w], timesteps [B], image_embeddings [B,1,D]) -> [B, C0, h, w]``.

    ``conditioning_latents`` [1, 4, h, w]: the frame's unscaled VAE mean (SVD's image conditioning).
    """

    def __init__(self, components: Components, conditioning_latents: torch.Tensor, time_ids: Sequence[float]):
        self.unet = components.unet
        self.conditioning_latents = conditioning_latents
        self.time_ids = torch.tensor([list(time_ids)], dtype=torch.float32, device=conditioning_latents.device)
        self.alphas_cumprod = sd1_noise_scheduler().alphas_cumprod

    @torch.no_grad()
    def __call__(self, noisy_latents: torch.Tensor, timesteps: torch.Tensor, image_embeddings: torch.Tensor
                 ) -> torch.Tensor:
        batch = noisy_latents.shape[0]
        sigmas = sigma_for_ddpm_timestep(self.alphas_cumprod, timesteps)
        sample = torch.cat([noisy_latents, self.conditioning_latents.expand(batch, -1, -1, -1)], dim=1)[:, None]
        captured = []
        handle = self.unet.up_blocks[-1].register_forward_hook(lambda module, args, output: captured.append(output))
        try:
            self.unet(sample.to(self.unet.dtype), timesteps_for(sigmas).to(noisy_latents.device),
                      image_embeddings.to(self.unet.dtype), self.time_ids.expand(batch, -1).to(self.unet.dtype))
        finally:
            handle.remove()
        return captured[0]


@torch.no_grad()
def first_frame_features(components: Components, image: torch.Tensor, time_ids: Sequence[float], *,
                         generator: torch.Generator | None = None, timestep: int = DIFT_TIMESTEP,
                         ensemble_size: int = DIFT_ENSEMBLE_SIZE) -> torch.Tensor:
    """DIFT-style features [1, C0, h, w] of one frame ``image`` [1, 3, H, W] in [-1, 1] from the base UNet."""
    vae = components.vae
    image = image.to(device=vae.device, dtype=vae.dtype)
    latent_dist = vae.encode(image).latent_dist
    embedding = image_embedding(components.image_encoder, (image + 1) / 2)
    callable_ = SVDBaseFeatures(components, latent_dist.mode(), time_ids)
    return dift_features(latent_dist, callable_, embedding, scaling_factor=vae.config.scaling_factor,
                         generator=generator, timestep=timestep, ensemble_size=ensemble_size)


def frame_features(components: Components, frame: np.ndarray, time_ids: Sequence[float], *,
                   generator: torch.Generator | None = None, timestep: int = DIFT_TIMESTEP,
                   ensemble_size: int = DIFT_ENSEMBLE_SIZE) -> torch.Tensor:
    """Features [C0, h, w] (float32) of one uint8 frame [H, W, 3] (H, W multiples of 8) from the base UNet."""
    device = components.unet.device
    image = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float().to(device) / 127.5 - 1
    features = first_frame_features(components, image, time_ids, generator=generator, timestep=timestep,
                                    ensemble_size=ensemble_size)
    return features[0].float()
