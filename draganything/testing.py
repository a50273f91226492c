"""Small random networks for tests: every network the pipeline uses, structurally identical to the released models.

They keep every layer and key name of the full-size models (four down blocks of two layers, hence the same 12
skip residuals; the condition embedder at its hard-coded official widths; the same state-dict keys as the
released ControlNet and SVD's UNet) and shrink only widths, so tests and
parity checks against the official code run on a CPU in seconds. Sizes must stay multiples of 64 pixels.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from .controlnet import OFFICIAL_CONFIG, DragAnythingControlNet

SMALL_CONTEXT_DIM = 32
# Taken from the released config as they are: the block types and depths fix the key names and the 12 skips.
_LAYOUT_KEYS = (
    "in_channels",
    "out_channels",
    "down_block_types",
    "up_block_types",
    "layers_per_block",
    "transformer_layers_per_block",
)


def small_unet_config() -> dict:
    """A UNetSpatioTemporalConditionModel config: SVD's block layout at widths 32/64/96/96.

    The widths grow where SVD's do (320 -> 640 -> 1280), so the same blocks get shortcut convolutions and the
    state dict has exactly SVD's key names.
    """
    return {
        **{key: OFFICIAL_CONFIG[key] for key in _LAYOUT_KEYS},
        "sample_size": 8,
        "block_out_channels": (32, 64, 96, 96),
        "addition_time_embed_dim": 8,
        "projection_class_embeddings_input_dim": 24,
        "cross_attention_dim": SMALL_CONTEXT_DIM,
        "num_attention_heads": (1, 2, 3, 3),
        "num_frames": 4,
    }


def small_controlnet_config() -> dict:
    """The DragAnything ControlNet config matching :func:`small_unet_config` (embedder at official widths)."""
    return {
        **small_unet_config(),
        "conditioning_channels": OFFICIAL_CONFIG["conditioning_channels"],
        "conditioning_embedding_out_channels": OFFICIAL_CONFIG["conditioning_embedding_out_channels"],
    }


def small_vae_config() -> dict:
    """An AutoencoderKLTemporalDecoder config with SVD's 8x downsampling and 4 latent channels."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "block_out_channels": (32, 32, 32, 32),
        "layers_per_block": 1,
        "latent_channels": 4,
        "sample_size": 64,
        "scaling_factor": 0.18215,
        "force_upcast": True,
    }


def small_clip_vision_config() -> CLIPVisionConfig:
    """A CLIPVisionModelWithProjection config at SVD's 224 px input, projecting to the small UNet's context."""
    return CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        projection_dim=SMALL_CONTEXT_DIM,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=224,
        patch_size=32,
        num_channels=3,
    )


def _randomise(module: torch.nn.Module, generator: torch.Generator, std: float) -> None:
    """Fill every parameter with noise, zero-initialised output convs included, so nothing is trivially zero."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)


def random_controlnet(seed: int = 0, *, randomise: bool = True) -> DragAnythingControlNet:
    """A small ControlNet; with ``randomise`` every weight, the zero convs included, is seeded noise."""
    torch.manual_seed(seed)
    controlnet = DragAnythingControlNet.from_config(small_controlnet_config())
    if randomise:
        _randomise(controlnet, torch.Generator().manual_seed(seed), std=0.05)
    return controlnet.eval()


def random_unet(seed: int = 0) -> UNetSpatioTemporalConditionModel:
    torch.manual_seed(seed)
    return UNetSpatioTemporalConditionModel.from_config(small_unet_config()).eval()


def random_vae(seed: int = 0) -> AutoencoderKLTemporalDecoder:
    torch.manual_seed(seed)
    return AutoencoderKLTemporalDecoder.from_config(small_vae_config()).eval()


def random_image_encoder(seed: int = 0) -> CLIPVisionModelWithProjection:
    torch.manual_seed(seed)
    return CLIPVisionModelWithProjection(small_clip_vision_config()).eval()


def random_conditions(
    num_frames: int = 3, height: int = 64, width: int = 64, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (gaussian [F,3,H,W] in 0..255, entity [F,160,H,W]) maps in the pipeline's input layout."""
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.rand(num_frames, 3, height, width, generator=generator) * 255
    entity = torch.randn(num_frames, 160, height, width, generator=generator)
    return gaussian, entity


def random_pipeline(seed: int = 0, *, randomise_controlnet: bool = True):
    """A DragAnythingPipeline of small random components; ``randomise_controlnet=False`` keeps its zero convs."""
    from .pipeline import DragAnythingPipeline, build_scheduler

    return DragAnythingPipeline(
        vae=random_vae(seed),
        image_encoder=random_image_encoder(seed),
        unet=random_unet(seed),
        scheduler=build_scheduler(),
        controlnet=random_controlnet(seed, randomise=randomise_controlnet),
    )
