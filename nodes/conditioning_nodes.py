"""Entity Embeddings and Drag Conditions: from the first frame, masks and paths to the ControlNet's conditions."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..draganything.conditions import GRAPH_FRAMING as DEFAULT_FRAMING
from ..draganything.conditions import GRAPH_RESAMPLING as DEFAULT_RESAMPLING
from ..draganything.entity import EMBEDDING_MODES
from ..draganything.features import DIFT_ENSEMBLE_SIZE, DIFT_TIMESTEP
from ..draganything.framing import FRAMING_MODES
from ..draganything.framing import MODEL_FRAMES as OFFICIAL_FRAMES
from ..draganything.framing import MODEL_HEIGHT as OFFICIAL_HEIGHT
from ..draganything.framing import MODEL_WIDTH as OFFICIAL_WIDTH
from ..draganything.resolution_free import (
    EntityEmbeddings,
    ResolutionFreeConditions,
    check_masks_fit,
    embed_entities,
    parse_radius_overrides,
)
from ..draganything.trajectory import RESAMPLE_MODES
from ..draganything.viz import conditions_preview
from .compat import ADVANCED, node_schema
from .conversions import first_frame_uint8, masks_bool, to_image
from .host_features import host_dift_features
from .types import DragConditions, DragEmbeddings, DragTrajectories

MAX_SEED = 0xFFFFFFFFFFFFFFFF


class DragAnythingEntityEmbeddings(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingEntityEmbeddings",
            search_aliases=["dift", "entity features", "diffusion features", "entity representation"],
            display_name="DragAnything Entity Embeddings",
            category="DragAnything",
            description="What each entity looks like to the ControlNet: DIFT features of the first frame from an "
                        "SD-1.5-architecture checkpoint (officially ChilloutMix; empty prompt, t=261, last up "
                        "block, ensemble of 8), mean-pooled inside each entity's mask.",
            inputs=[
                io.Model.Input("model", tooltip="MODEL of an SD-1.5 checkpoint (Load Checkpoint)."),
                io.Clip.Input("clip", tooltip="CLIP of the same checkpoint; encodes the empty prompt."),
                io.Vae.Input("vae", tooltip="VAE of the same checkpoint."),
                io.Image.Input("image", tooltip="The first frame."),
                io.Mask.Input("masks", tooltip="One mask per entity, on the first frame."),
                io.Int.Input("seed", default=0, min=0, max=MAX_SEED, control_after_generate=True,
                             tooltip="Seeds the VAE posterior samples and the noise of the ensemble."),
                io.Int.Input("width", default=OFFICIAL_WIDTH, min=64, max=4096, step=64,
                             tooltip="Size the first frame is framed to for the features (the video's size)."),
                io.Int.Input("height", default=OFFICIAL_HEIGHT, min=64, max=4096, step=64),
                io.Combo.Input("framing", options=list(FRAMING_MODES), default=DEFAULT_FRAMING, **ADVANCED,
                               tooltip="center_crop matches SVD_img2vid_Conditioning; stretch is the official "
                                       "demo."),
                io.Int.Input("timestep", default=DIFT_TIMESTEP, min=0, max=999, **ADVANCED),
                io.Int.Input("ensemble_size", default=DIFT_ENSEMBLE_SIZE, min=1, max=64, **ADVANCED),
            ],
            outputs=[DragEmbeddings.Output(display_name="embeddings")],
        )

    @classmethod
    def execute(cls, model, clip, vae, image, masks, seed, width, height, framing, timestep,
                ensemble_size) -> io.NodeOutput:
        generator = torch.Generator("cpu").manual_seed(seed)
        pooled = embed_entities(first_frame_uint8(image), masks_bool(masks), width, height, framing,
                                lambda framed: host_dift_features(model, clip, vae, framed, generator, timestep,
                                                                  ensemble_size))
        return io.NodeOutput(EntityEmbeddings(pooled))


class DragAnythingConditions(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingConditions",
            search_aliases=["gaussian map", "entity map", "drag conditioning",
                            "motion conditioning", "trajectory conditioning"],
            display_name="DragAnything Drag Conditions",
            category="DragAnything",
            description="Combines trajectories, masks and entity embeddings into the ControlNet's conditions. They "
                        "stay resolution-free: the Gaussian and entity maps are built at sampling time for the "
                        "latent's size and frame count. The preview shows them over the first frame at the chosen "
                        "size.",
            inputs=[
                DragTrajectories.Input("trajectories"),
                io.Mask.Input("masks", tooltip="One mask per entity on the first frame (Trajectories' masks)."),
                DragEmbeddings.Input("embeddings"),
                io.Combo.Input("entity_mode", options=list(EMBEDDING_MODES), default="trained",
                               tooltip="trained: the full entity vectors, as in training. official_demo: the "
                                       "released demo's scalar painting, for parity with its outputs."),
                io.Combo.Input("resampling", options=list(RESAMPLE_MODES), default=DEFAULT_RESAMPLING, **ADVANCED,
                               tooltip="pchip: the official drawing UI. index: point k drives frame k (official "
                                       "demo.json). arc_length: constant speed. time: per-point frame stamps."),
                io.Combo.Input("framing", options=list(FRAMING_MODES), default=DEFAULT_FRAMING, **ADVANCED,
                               tooltip="Must match how the first frame reaches the model: center_crop for "
                                       "SVD_img2vid_Conditioning and the DragAnything sampler; stretch for the "
                                       "official demo."),
                io.String.Input("radius_overrides", default="", **ADVANCED,
                                tooltip="Optional JSON list, one radius per entity in model pixels (null = from "
                                        "the mask)."),
                io.Image.Input("image", optional=True, tooltip="First frame, as background of the preview."),
                io.Int.Input("preview_width", default=OFFICIAL_WIDTH, min=64, max=4096, step=8),
                io.Int.Input("preview_height", default=OFFICIAL_HEIGHT, min=64, max=4096, step=8),
                io.Int.Input("preview_frames", default=OFFICIAL_FRAMES, min=1, max=1024),
            ],
            outputs=[DragConditions.Output(display_name="conditions"), io.Image.Output(display_name="preview")],
        )

    @classmethod
    def execute(cls, trajectories, masks, embeddings, entity_mode, resampling, framing, radius_overrides,
                preview_width, preview_height, preview_frames, image=None) -> io.NodeOutput:
        entity_masks = masks_bool(masks)
        check_masks_fit(entity_masks, trajectories.width, trajectories.height)
        conditions = ResolutionFreeConditions(
            trajectories, entity_masks, embeddings.pooled, entity_mode=entity_mode, resampling=resampling,
            framing=framing, radius_overrides=parse_radius_overrides(radius_overrides, len(trajectories)))
        # Built once here at the preview size, so bad input is reported on this node, not during sampling.
        preview = conditions_preview(conditions.at(preview_width, preview_height, preview_frames),
                                     None if image is None else first_frame_uint8(image), framing)
        return io.NodeOutput(conditions, to_image(preview))
