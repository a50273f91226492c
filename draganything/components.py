"""The model components of a DragAnything model: diffusers' SVD classes plus the library's ControlNet.

A model folder uses diffusers' layout, so each part loads with its class's ``from_pretrained``::

    <folder>/unet/            UNetSpatioTemporalConditionModel   config.json + diffusion_pytorch_model.safetensors
    <folder>/vae/             AutoencoderKLTemporalDecoder        config.json + diffusion_pytorch_model.safetensors
    <folder>/image_encoder/   CLIPVisionModelWithProjection       config.json + model.safetensors
    <folder>/controlnet/      DragAnythingControlNet              config.json + diffusion_pytorch_model.safetensors

Fresh components are built from the JSON configs in a configs folder (``draganything/tiny/configs`` for the
shipped model): ``unet.json``, ``vae.json``, ``image_encoder.json`` and ``controlnet.json`` (the condition
embedder's widths; the rest of the ControlNet is copied from the UNet by ``from_unet``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import (
    _resize_with_antialiasing,
)
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from .controlnet import DragAnythingControlNet
from .errors import DragAnythingError

COMPONENTS = ("unet", "vae", "image_encoder", "controlnet")


def read_config(configs_dir: str | Path, name: str) -> dict:
    path = Path(configs_dir) / f"{name}.json"
    if not path.is_file():
        raise DragAnythingError(f"{name} config", f"{path} does not exist",
                                f"Put {name}.json in the configs folder (see draganything/tiny/configs).")
    config = json.loads(path.read_text())
    return {key: value for key, value in config.items() if not key.startswith("_")}


@dataclass
class Components:
    """The parts of an SVD image-to-video model with its DragAnything ControlNet (None before that stage)."""

    unet: UNetSpatioTemporalConditionModel
    vae: AutoencoderKLTemporalDecoder
    image_encoder: CLIPVisionModelWithProjection
    controlnet: DragAnythingControlNet | None = None

    def to(self, device=None, dtype=None) -> Components:
        for name in COMPONENTS:
            module = getattr(self, name)
            if module is not None:
                module.to(device=device, dtype=dtype)
        return self

    def save(self, folder: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write every present component in diffusers' layout (safetensors), optionally cast to ``dtype``."""
        folder = Path(folder)
        for name in COMPONENTS:
            module = getattr(self, name)
            if module is None:
                continue
            # A cast copy: casting the module itself and back would round its weights to ``dtype``.
            (copy.deepcopy(module).to(dtype) if dtype is not None else module).save_pretrained(
                folder / name, safe_serialization=True)
        return folder


def build_components(configs_dir: str | Path, *, with_controlnet: bool = False) -> Components:
    """Fresh, randomly initialised components from the configs folder."""
    unet = UNetSpatioTemporalConditionModel(**read_config(configs_dir, "unet"))
    vae = AutoencoderKLTemporalDecoder(**read_config(configs_dir, "vae"))
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**read_config(configs_dir, "image_encoder")))
    components = Components(unet, vae, image_encoder)
    if with_controlnet:
        components.controlnet = new_controlnet(unet, configs_dir)
    return components


def new_controlnet(unet: UNetSpatioTemporalConditionModel, configs_dir: str | Path) -> DragAnythingControlNet:
    """A ControlNet copied from the UNet's encoder (zero output convs), with the configured condition embedder."""
    embedder = read_config(configs_dir, "controlnet")
    return DragAnythingControlNet.from_unet(unet, copy_add_embedding=True, **embedder)


def load_components(folder: str | Path, *, dtype: torch.dtype = torch.float32, device=None,
                    require: tuple[str, ...] = ("unet", "vae", "image_encoder")) -> Components:
    """Load a model folder (module docstring). ``require`` names the parts that must be present."""
    folder = Path(folder)
    missing = [name for name in require if not (folder / name / "config.json").is_file()]
    if missing:
        raise DragAnythingError("model folder", f"{folder} lacks {', '.join(missing)} (no config.json found)",
                                "Point at a folder with unet/, vae/ and image_encoder/ subfolders in diffusers' "
                                "layout, e.g. the output of a training stage.")
    classes = {"unet": UNetSpatioTemporalConditionModel, "vae": AutoencoderKLTemporalDecoder,
               "image_encoder": CLIPVisionModelWithProjection, "controlnet": DragAnythingControlNet}
    loaded = {}
    for name, cls in classes.items():
        if (folder / name / "config.json").is_file():
            loaded[name] = cls.from_pretrained(folder / name, torch_dtype=dtype).to(device).eval()
        else:
            loaded[name] = None
    return Components(**loaded)


# --------------------------------------------------------------------------------------- conditioning inputs


def clip_input(images: torch.Tensor, image_size: int, normalize: bool = True) -> torch.Tensor:
    """[B, 3, H, W] in [0, 1] -> the CLIP encoder's input: SVD's antialiased resize to ``image_size`` and, with
    ``normalize`` (SVD's intent; the official pipeline skips it), CLIP's mean/std normalisation."""
    resized = _resize_with_antialiasing(images, (image_size, image_size))
    if not normalize:
        return resized
    mean = torch.tensor(OPENAI_CLIP_MEAN, device=images.device, dtype=images.dtype).reshape(1, 3, 1, 1)
    std = torch.tensor(OPENAI_CLIP_STD, device=images.device, dtype=images.dtype).reshape(1, 3, 1, 1)
    return (resized - mean) / std


def image_embedding(image_encoder: CLIPVisionModelWithProjection, images: torch.Tensor,
                    normalize: bool = True) -> torch.Tensor:
    """CLIP image embeddings [B, 1, D] of [B, 3, H, W] images in [0, 1]."""
    pixels = clip_input(images.float(), image_encoder.config.image_size, normalize).to(image_encoder.dtype)
    return image_encoder(pixel_values=pixels).image_embeds[:, None]


def image_latents(vae: AutoencoderKLTemporalDecoder, images: torch.Tensor, noise_aug_strength: float,
                  noise: torch.Tensor) -> torch.Tensor:
    """SVD's conditioning latents [B, 4, h, w]: VAE mean of (image in [-1, 1] + noise_aug * noise), unscaled.

    ``noise``: standard normal, shaped like ``images``.
    """
    return vae.encode((images + noise_aug_strength * noise).to(vae.dtype)).latent_dist.mode()
