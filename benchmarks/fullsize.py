"""Full-size Stable Video Diffusion + DragAnything models with random weights, built directly on the device.

Every network has the released architecture (SVD img2vid's UNet, temporal VAE and OpenCLIP ViT-H/14 image
encoder; the DragAnything ControlNet's official config), so speed and memory are those of the real models. The
weights are random: modules are created on the ``meta`` device (no CPU initialisation of 2.3 billion
parameters), materialised on the target device and filled there from a seeded generator (:func:`fill_random_`).

Shared by the GPU benchmark (``benchmarks/bench_gpu.py``) and the full-size GPU tests (``tests/gpu``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

PROJECT_DIR = Path(__file__).resolve().parents[1]
for folder in (PROJECT_DIR, PROJECT_DIR / "benchmarks"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from random_weights import materialise

from draganything.controlnet import OFFICIAL_CONFIG

# stabilityai/stable-video-diffusion-img2vid unet/config.json (the ControlNet's config minus its embedder).
SVD_UNET_CONFIG: dict = {
    key: value
    for key, value in OFFICIAL_CONFIG.items()
    if key not in ("conditioning_channels", "conditioning_embedding_out_channels")
}
# vae/config.json: AutoencoderKLTemporalDecoder.
SVD_VAE_CONFIG: dict = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 768,
    "scaling_factor": 0.18215,
    "force_upcast": True,
}
# image_encoder/config.json: CLIPVisionModelWithProjection, OpenCLIP ViT-H/14.
SVD_IMAGE_ENCODER_CONFIG: dict = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "projection_dim": 1024,
    "num_hidden_layers": 32,
    "num_attention_heads": 16,
    "image_size": 224,
    "patch_size": 14,
    "num_channels": 3,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}
# The host's SGM checkpoint prefixes (what ImageOnlyCheckpointLoader reads from svd.safetensors).
HOST_UNET_PREFIX = "model.diffusion_model."
HOST_VAE_PREFIX = "first_stage_model."
HOST_CLIP_VISION_PREFIX = "conditioner.embedders.0.open_clip.model.visual."

# Entity-map channels the ControlNet reads (DIFT's 320 pair-averaged).
ENTITY_CHANNELS = 160


def svd_unet(device, dtype=torch.float32, seed: int = 0):
    from diffusers import UNetSpatioTemporalConditionModel

    return materialise(lambda: UNetSpatioTemporalConditionModel.from_config(SVD_UNET_CONFIG), device, dtype, seed)


def controlnet(device, dtype=torch.float32, seed: int = 1):
    from draganything.controlnet import DragAnythingControlNet

    return materialise(lambda: DragAnythingControlNet.from_config(OFFICIAL_CONFIG), device, dtype, seed)


def svd_vae(device, dtype=torch.float32, seed: int = 2):
    from diffusers import AutoencoderKLTemporalDecoder

    return materialise(lambda: AutoencoderKLTemporalDecoder.from_config(SVD_VAE_CONFIG), device, dtype, seed)


def svd_image_encoder(device, dtype=torch.float32, seed: int = 3):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(**SVD_IMAGE_ENCODER_CONFIG)
    return materialise(lambda: CLIPVisionModelWithProjection(config), device, dtype, seed)


def library_pipeline(device, dtype=torch.float32):
    """The library's DragAnythingPipeline on full-size random components."""
    from draganything.pipeline import DragAnythingPipeline, build_scheduler

    return DragAnythingPipeline(
        vae=svd_vae(device, dtype),
        image_encoder=svd_image_encoder(device, dtype),
        unet=svd_unet(device, dtype),
        scheduler=build_scheduler(),
        controlnet=controlnet(device, dtype),
    )


# ----------------------------------------------------------------------------------------------- conditions


def scene_masks(height: int, width: int):
    """First-frame masks [2, H, W] (bool) of the benchmark scene: a moving object and an anchored background patch."""
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([
        (xx - 0.6 * width) ** 2 + (yy - 0.55 * height) ** 2 <= (0.2 * height) ** 2,
        (xx - 0.9 * width) ** 2 + (yy - 0.15 * height) ** 2 <= (0.1 * height) ** 2,
    ])


def scene_entities(height: int, width: int, num_frames: int | None = None):
    """The scene's entities: the object moves left and down, the background patch holds still.

    With ``num_frames`` every track has one point per frame (the official index mode), else two points.
    """
    import numpy as np

    from draganything.trajectory import Entity

    count = num_frames or 2
    moving = np.stack([np.linspace(0.6 * width, 0.3 * width, count),
                       np.linspace(0.55 * height, 0.7 * height, count)], axis=1)
    anchor = np.array([[0.9 * width, 0.15 * height]] * count)
    return [Entity(id="object", points=moving), Entity(id="background", points=anchor, anchor=True)]


def scene(height: int, width: int, num_frames: int, seed: int = 0):
    """The scene as the library's :class:`draganything.conditions.ConditionMaps` (random pooled DIFT vectors;
    feature extraction is not part of sampling)."""
    from draganything.conditions import build_conditions
    from draganything.trajectory import Trajectories

    vectors = torch.randn(2, 2 * ENTITY_CHANNELS, generator=torch.Generator().manual_seed(seed))
    trajectories = Trajectories(scene_entities(height, width, num_frames), width=width, height=height)
    masks = scene_masks(height, width).astype("uint8") * 255
    return build_conditions(trajectories, masks, entity_vectors=vectors, height=height, width=width,
                            num_frames=num_frames)


# ----------------------------------------------------------------------------------------------------- FLOPs


def flops_per_step(unet, network, height: int, width: int, num_frames: int, batch: int = 2) -> dict[str, float]:
    """Model FLOPs of one denoising step: SVD UNet, ControlNet encoder, condition embedder (per CFG batch).

    Counted by ``torch.utils.flop_counter`` (matrix products, convolutions, attention; 2 FLOPs per
    multiply-add) over one real forward of the given models on their device, ``batch`` videos of
    ``num_frames`` frames (2 under classifier-free guidance). The embedder's count is for ``batch`` videos,
    as the official code embeds both halves at every step.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from draganything.controlnet import time_ids

    parameter = next(unet.parameters())
    device, dtype = parameter.device, parameter.dtype
    latent = torch.randn(batch, num_frames, 8, height // 8, width // 8, device=device, dtype=dtype)
    context = torch.randn(batch, 1, unet.config.cross_attention_dim, device=device, dtype=dtype)
    ids = time_ids(6, 128, 0.02, batch, device=device, dtype=dtype)
    timestep = torch.tensor(1.0, device=device)
    gaussian = torch.rand(num_frames, 3, height, width, device=device, dtype=dtype) * 255
    entity = torch.randn(num_frames, network.config.entity_embedding_channels[0], height, width, device=device,
                         dtype=dtype)
    counts = {}
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            embedding = network.embed_conditions(gaussian, entity)
        counts["embedder"] = counter.get_total_flops() * batch
        with FlopCounterMode(display=False) as counter:
            network(latent, timestep, context, ids, embedding, return_dict=False)
        counts["controlnet"] = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            unet(latent, timestep, context, ids, return_dict=False)
        counts["unet"] = counter.get_total_flops()
    return counts
