"""DragAnything-Tiny in the host: its loader, and the entity embeddings it was trained with.

The tiny model has no SD-1.5 network for entity features: its own SVD base provides them (the output of the
UNet's last up block on the noised first frame, pooled inside each mask), computed by the library exactly as in
training. The loader hands that base to **DragAnything Tiny Entity Embeddings** as an `entity_encoder`, so a
tiny graph is wired as one piece: loader -> embeddings -> conditions -> the stock SVD graph.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import comfy.model_management
import numpy as np
import torch
from comfy_api.latest import io

from ..draganything.conditions import GRAPH_FRAMING as DEFAULT_FRAMING
from ..draganything.features import DIFT_ENSEMBLE_SIZE, DIFT_TIMESTEP
from ..draganything.framing import FRAMING_MODES
from ..draganything.resolution_free import EntityEmbeddings, embed_entities
from .compat import ADVANCED, node_schema
from .conditioning_nodes import MAX_SEED
from .control import wrap_controlnet
from .conversions import first_frame_uint8, masks_bool
from .tiny_model import load_host_clip_vision, load_host_svd, load_host_vae
from .types import DragControlNet, DragEmbeddings

TINY_SIZE = 128
DragEntityEncoder = io.Custom("DRAGANYTHING_ENTITY_ENCODER")


def tiny_directory() -> Path:
    from ..draganything.tiny import (
        TINY_DIR,  # imports diffusers: only when the model is loaded
    )

    return TINY_DIR


@dataclass(frozen=True)
class TinyEntityEncoder:
    """The tiny model's folder; its diffusers base (the feature network of training) is loaded on first use."""

    directory: Path

    def features(self, frame: np.ndarray, generator: torch.Generator, timestep: int, ensemble_size: int
                 ) -> torch.Tensor:
        """Features [C, h, w] of one uint8 frame [H, W, 3] (H, W multiples of 8), as in training."""
        from ..draganything.base_features import frame_features
        from ..draganything.tiny import TRAINED_TIME_IDS

        return frame_features(_diffusers_base(self.directory), frame, TRAINED_TIME_IDS, generator=generator,
                              timestep=timestep, ensemble_size=ensemble_size)


@functools.lru_cache(maxsize=1)
def _diffusers_base(directory: Path):
    from ..draganything.components import load_components

    return load_components(directory, require=("unet", "vae", "image_encoder"))


class DragAnythingTinyLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingTinyLoader",
            search_aliases=["tiny model", "cpu demo", "small svd"],
            display_name="Load DragAnything-Tiny",
            category="DragAnything/loaders",
            description="The small DragAnything shipped with the pack (15.5 MB, trained on synthetic sprite videos "
                        "at 128x128, 8 frames): an SVD-architecture MODEL, CLIP_VISION and VAE for the stock SVD "
                        "nodes, its ControlNet, and the entity encoder for DragAnything Tiny Entity Embeddings. "
                        "Runs on a CPU with nothing to download; it animates scenes like its training data, not "
                        "natural images.",
            inputs=[],
            outputs=[io.Model.Output(display_name="model"), io.ClipVision.Output(display_name="clip_vision"),
                     io.Vae.Output(display_name="vae"), DragControlNet.Output(display_name="controlnet"),
                     DragEntityEncoder.Output(display_name="entity_encoder")],
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        from ..draganything.weights import load_controlnet  # imports diffusers

        directory = tiny_directory()
        model = load_host_svd(directory)
        weight_dtype = model.model.get_dtype()
        controlnet = wrap_controlnet(load_controlnet(directory / "controlnet", dtype=weight_dtype), weight_dtype,
                                     "DragAnything-Tiny")
        return io.NodeOutput(model, load_host_clip_vision(directory), load_host_vae(directory), controlnet,
                             TinyEntityEncoder(directory))


class DragAnythingTinyEntityEmbeddings(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingTinyEntityEmbeddings",
            search_aliases=["tiny embeddings", "tiny entity features"],
            display_name="DragAnything Tiny Entity Embeddings",
            category="DragAnything",
            description="Entity embeddings for DragAnything-Tiny: the tiny base's own features of the first frame "
                        "(its last up block on the frame noised to t=261, ensemble of 8), mean-pooled inside each "
                        "entity's mask, as the model was trained. The full-size model takes DragAnything Entity "
                        "Embeddings (SD-1.5 features) instead.",
            inputs=[
                DragEntityEncoder.Input("entity_encoder", tooltip="From Load DragAnything-Tiny."),
                io.Image.Input("image", tooltip="The first frame."),
                io.Mask.Input("masks", tooltip="One mask per entity, on the first frame."),
                io.Int.Input("seed", default=0, min=0, max=MAX_SEED, control_after_generate=True,
                             tooltip="Seeds the VAE posterior samples and the noise of the ensemble."),
                io.Int.Input("width", default=TINY_SIZE, min=64, max=1024, step=64,
                             tooltip="Size the first frame is framed to for the features (the video's size)."),
                io.Int.Input("height", default=TINY_SIZE, min=64, max=1024, step=64),
                io.Combo.Input("framing", options=list(FRAMING_MODES), default=DEFAULT_FRAMING, **ADVANCED,
                               tooltip="center_crop matches SVD_img2vid_Conditioning."),
                io.Int.Input("timestep", default=DIFT_TIMESTEP, min=0, max=999, **ADVANCED),
                io.Int.Input("ensemble_size", default=DIFT_ENSEMBLE_SIZE, min=1, max=64, **ADVANCED),
            ],
            outputs=[DragEmbeddings.Output(display_name="embeddings")],
        )

    @classmethod
    def execute(cls, entity_encoder, image, masks, seed, width, height, framing, timestep,
                ensemble_size) -> io.NodeOutput:
        generator = torch.Generator("cpu").manual_seed(seed)
        pooled = embed_entities(first_frame_uint8(image), masks_bool(masks), width, height, framing,
                                lambda framed: entity_encoder.features(framed, generator, timestep, ensemble_size))
        comfy.model_management.soft_empty_cache()
        return io.NodeOutput(EntityEmbeddings(pooled))
