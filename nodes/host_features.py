"""DIFT entity features from the host's own SD-1.5 MODEL, CLIP and VAE.

The feature map is the output of the UNet's last up block. The host's UNet runs its blocks itself (forward hooks
on them do not fire), so the capture goes through the host's patching API instead: a clone of the MODEL gets an
object patch that puts a recorder in place of the output head (`diffusion_model.out`) while it is loaded. The
recorder keeps the last up block's output and returns zeros of the head's shape (the head's work is skipped); the
clone is detached afterwards, which restores the head, so the user's MODEL is left as it was.
"""

from __future__ import annotations

import comfy.model_management
import comfy.supported_models
import torch
from comfy.ldm.modules.distributions.distributions import DiagonalGaussianDistribution

from ..draganything.errors import DragAnythingError
from ..draganything.features import dift_features, image_to_vae_input

# Ensemble members run per UNet call; bounds memory at large sizes without changing the random draws.
MEMBERS_PER_CALL = 2


class LastUpBlockRecorder(torch.nn.Module):
    """Stands in for the UNet's output head: records its input, returns zeros shaped like the head's output."""

    def __init__(self, out_channels: int):
        super().__init__()
        self.out_channels = out_channels
        self.features = None

    def forward(self, hidden_states):
        self.features = hidden_states
        return hidden_states.new_zeros(hidden_states.shape[0], self.out_channels, *hidden_states.shape[2:])


def check_sd15(model, clip, vae) -> None:
    config = getattr(model.model, "model_config", None)
    if not isinstance(config, comfy.supported_models.SD15):
        raise DragAnythingError(
            "model", f"the feature model is {type(config).__name__}, not an SD-1.5-architecture checkpoint",
            "Load an SD-1.5 checkpoint (officially ChilloutMix) with Load Checkpoint and connect its MODEL, CLIP "
            "and VAE")
    if clip is None or vae is None:
        raise DragAnythingError("clip", "CLIP and VAE of the SD-1.5 checkpoint are needed",
                                "Connect the CLIP and VAE outputs of the same Load Checkpoint node")


def empty_prompt_embedding(clip) -> torch.Tensor:
    return clip.encode_from_tokens(clip.tokenize(""))


def vae_posterior(vae, image_uint8) -> DiagonalGaussianDistribution:
    """The SD VAE's posterior of one image (mean and std), not the single latent vae.encode returns."""
    comfy.model_management.load_models_gpu([vae.patcher])
    pixels = image_to_vae_input(image_uint8).to(device=vae.device, dtype=vae.vae_dtype)
    engine = vae.first_stage_model
    with torch.inference_mode():
        moments = engine.encoder(pixels)
        if getattr(engine, "quant_conv", None) is not None:
            moments = engine.quant_conv(moments)
    return DiagonalGaussianDistribution(moments.float())


def host_dift_features(model, clip, vae, image_uint8, generator: torch.Generator, timestep: int,
                       ensemble_size: int) -> torch.Tensor:
    """[1, 320, h, w] ensemble-averaged features of the image (uint8 [H, W, 3] at the model size)."""
    check_sd15(model, clip, vae)
    text = empty_prompt_embedding(clip)
    posterior = vae_posterior(vae, image_uint8)

    diffusion_model = model.model.diffusion_model
    recorder = LastUpBlockRecorder(diffusion_model.out_channels)
    patched = model.clone()
    patched.add_object_patch("diffusion_model.out", recorder)
    comfy.model_management.load_models_gpu([patched])
    device = patched.load_device
    dtype = patched.model.manual_cast_dtype or patched.model.get_dtype()

    def unet_features(noisy_latents, timesteps, text_embeddings):
        patched.model.diffusion_model(noisy_latents.to(device=device, dtype=dtype), timesteps=timesteps.to(device),
                                      context=text_embeddings.to(device=device, dtype=dtype),
                                      transformer_options={})
        return recorder.features.float()

    try:
        with torch.inference_mode():
            features = dift_features(posterior, unet_features, text.to(posterior.mean.device),
                                     scaling_factor=model.model.latent_format.scale_factor, generator=generator,
                                     timestep=timestep, ensemble_size=ensemble_size,
                                     member_batch_size=MEMBERS_PER_CALL)
    finally:
        # The clone shares the user's network: put its head back now (object patches are otherwise only undone
        # when another clone is loaded) and hand the weights back to the offload device.
        patched.detach()
    return features.cpu()
