"""Entity features: DIFT (diffusion features) of the first frame from an SD-1.5-architecture UNet.

The recipe the released weights were trained and demoed with: encode the first frame (at model resolution, in
[-1, 1]) with the SD VAE and *sample* the posterior, scale by the VAE's scaling factor (0.18215 for SD-1.x), add
DDPM noise at t = 261 (scaled-linear betas 0.00085 -> 0.012 over 1000 steps, so alpha-bar = 0.65567), run the
UNet once with the empty-prompt text embedding, and take the output of its last up block (320 channels at
latent resolution, before ``conv_norm_out``). That is repeated for an ensemble of 8 independent posterior and
noise draws and averaged: [1, 320, H/8, W/8].

The UNet is any callable ``unet_features(noisy_latents [B, 4, h, w], timesteps [B] long, text_embeddings
[B, 77, D]) -> [B, C, h, w]``, so a ComfyUI MODEL and a diffusers ``UNet2DConditionModel``
(:class:`DiffusersFeatureExtractor`) both fit. All randomness comes from the ``generator`` argument, drawn in
the official order (all posterior samples, then all noise); the same seed on the same device gives the same
features.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from diffusers import DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor

from .errors import DragAnythingError, check_positive_int

DIFT_TIMESTEP = 261
DIFT_ENSEMBLE_SIZE = 8
# The SD-1.x training noise schedule (ChilloutMix, the official feature model, ships the standard one).
SD1_NOISE_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
}

UNetFeatures = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class LatentDistribution(Protocol):
    """The VAE posterior of one image: diffusers' ``DiagonalGaussianDistribution`` or anything with these."""

    mean: torch.Tensor  # [1, 4, h, w]
    std: torch.Tensor  # [1, 4, h, w]


def sd1_noise_scheduler() -> DDPMScheduler:
    """The DDPM schedule the DIFT noise is added with (only ``add_noise`` is used)."""
    return DDPMScheduler(**SD1_NOISE_SCHEDULE)


def image_to_vae_input(image) -> torch.Tensor:
    """An RGB image (uint8 [H, W, 3] array or PIL image) -> float32 [1, 3, H, W] in [-1, 1], as the official code."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise DragAnythingError("image", f"expected a uint8 RGB image [H, W, 3], got {array.dtype} {array.shape}",
                                "Pass the first frame as an 8-bit RGB image at model resolution.")
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].to(torch.float32)
    return (tensor / 255.0 - 0.5) * 2


def dift_features(
    latent_dist: LatentDistribution,
    unet_features: UNetFeatures,
    text_embeddings: torch.Tensor,
    *,
    scaling_factor: float,
    generator: torch.Generator | None = None,
    timestep: int = DIFT_TIMESTEP,
    ensemble_size: int = DIFT_ENSEMBLE_SIZE,
    member_batch_size: int | None = None,
    scheduler: DDPMScheduler | None = None,
) -> torch.Tensor:
    """Ensemble-averaged UNet features of one image: [1, C, h, w].

    ``latent_dist``: the VAE posterior of the image ([1, 4, h, w] mean and std). ``text_embeddings``: the empty
    prompt's encoding, [1, 77, D]. ``scaling_factor``: the VAE's (``vae.config.scaling_factor``).
    ``member_batch_size``: run the ensemble in chunks of this many members (all random draws still happen up
    front, so the result only changes by float rounding); None runs all members in one batch.
    """
    check_positive_int("ensemble_size", ensemble_size, "a number of ensemble members")
    if member_batch_size is not None:
        check_positive_int("member_batch_size", member_batch_size, "a number of ensemble members")
    mean, std = latent_dist.mean, latent_dist.std
    if mean.ndim != 4 or mean.shape[0] != 1:
        raise DragAnythingError("latent_dist", f"expected a posterior of one image [1, 4, h, w], got "
                                f"{tuple(mean.shape)}", "Encode a single image.")
    if text_embeddings.ndim != 3 or text_embeddings.shape[0] != 1:
        raise DragAnythingError("text_embeddings", f"expected [1, tokens, dim], got {tuple(text_embeddings.shape)}",
                                "Encode the empty prompt once.")
    scheduler = scheduler or sd1_noise_scheduler()
    steps = scheduler.config.num_train_timesteps
    if not 0 <= timestep < steps:
        raise DragAnythingError("timestep", f"got {timestep}", f"Use a training timestep in [0, {steps}).")
    members = (ensemble_size,) + tuple(mean.shape[1:])
    # Draw order as in the official featurizer: the whole ensemble's posterior sample, then its noise.
    posterior_noise = randn_tensor(members, generator=generator, device=mean.device, dtype=mean.dtype)
    latents = (mean + std * posterior_noise) * scaling_factor
    noise = randn_tensor(members, generator=generator, device=mean.device, dtype=mean.dtype)
    timesteps = torch.full((ensemble_size,), timestep, dtype=torch.long, device=mean.device)
    noisy_latents = scheduler.add_noise(latents, noise, timesteps)

    chunk = member_batch_size or ensemble_size
    total = None
    for start in range(0, ensemble_size, chunk):
        stop = min(start + chunk, ensemble_size)
        features = unet_features(noisy_latents[start:stop], timesteps[start:stop],
                                 text_embeddings.expand(stop - start, -1, -1))
        partial = features.sum(dim=0, keepdim=True)
        total = partial if total is None else total + partial
    return total / ensemble_size


class DiffusersFeatureExtractor:
    """DIFT with diffusers components: ``UNet2DConditionModel``, ``AutoencoderKL``, CLIP text encoder + tokenizer.

    The feature map is read with a forward hook on ``unet.up_blocks[-1]``; the model is not modified. The UNet
    still runs its output norm and 3x3 ``conv_out`` after that block (under 1% of its work), which keeps the
    stock forward. The empty-prompt embedding is computed once, on first use.
    """

    def __init__(self, unet, vae, text_encoder, tokenizer, scheduler: DDPMScheduler | None = None):
        self.unet = unet
        self.vae = vae
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.scheduler = scheduler or sd1_noise_scheduler()
        self._empty_prompt: torch.Tensor | None = None

    @torch.no_grad()
    def empty_prompt_embedding(self) -> torch.Tensor:
        """CLIP last hidden state of the empty prompt padded to the tokenizer's length: [1, 77, D]."""
        if self._empty_prompt is None:
            tokens = self.tokenizer([""], padding="max_length", max_length=self.tokenizer.model_max_length,
                                    truncation=True, return_tensors="pt")
            device = self.text_encoder.device
            use_mask = getattr(self.text_encoder.config, "use_attention_mask", False)
            mask = tokens.attention_mask.to(device) if use_mask else None
            self._empty_prompt = self.text_encoder(tokens.input_ids.to(device), attention_mask=mask)[0]
        return self._empty_prompt

    @torch.no_grad()
    def unet_features(self, noisy_latents: torch.Tensor, timesteps: torch.Tensor, text_embeddings: torch.Tensor
                      ) -> torch.Tensor:
        captured = []
        handle = self.unet.up_blocks[-1].register_forward_hook(lambda module, args, output: captured.append(output))
        try:
            self.unet(noisy_latents.to(self.unet.dtype), timesteps,
                      encoder_hidden_states=text_embeddings.to(self.unet.dtype))
        finally:
            handle.remove()
        return captured[0]

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, generator: torch.Generator | None = None, *,
                 timestep: int = DIFT_TIMESTEP, ensemble_size: int = DIFT_ENSEMBLE_SIZE,
                 member_batch_size: int | None = None) -> torch.Tensor:
        """Features of ``image`` ([1, 3, H, W] in [-1, 1], see :func:`image_to_vae_input`): [1, C, H/8, W/8]."""
        if image.ndim != 4 or image.shape[:2] != (1, 3):
            raise DragAnythingError("image", f"expected [1, 3, H, W] in [-1, 1], got {tuple(image.shape)}",
                                    "Convert the first frame with image_to_vae_input().")
        image = image.to(device=self.vae.device, dtype=self.vae.dtype)
        latent_dist = self.vae.encode(image).latent_dist
        return dift_features(
            latent_dist, self.unet_features, self.empty_prompt_embedding().to(self.unet.device),
            scaling_factor=self.vae.config.scaling_factor, generator=generator, timestep=timestep,
            ensemble_size=ensemble_size, member_batch_size=member_batch_size, scheduler=self.scheduler)
