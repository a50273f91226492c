"""Entity Embeddings and Drag Conditions: from the first frame, masks and paths to the ControlNet's conditions."""

from __future__ import annotations

import json

import numpy as np
import torch
from comfy_api.latest import io

from ..draganything.entity import EMBEDDING_MODES, pool_features
from ..draganything.errors import DragAnythingError
from ..draganything.features import DIFT_ENSEMBLE_SIZE, DIFT_TIMESTEP
from ..draganything.framing import FRAMING_MODES, Framing
from ..draganything.trajectory import RESAMPLE_MODES
from ..draganything.viz import entity_map_preview, gaussian_heatmap, side_by_side
from .compat import ADVANCED, node_schema
from .conversions import first_frame_uint8, masks_bool, to_image
from .host_features import host_dift_features
from .trajectory_nodes import DEFAULT_FRAMING, DEFAULT_RESAMPLING
from .types import DragConditions, DragEmbeddings, DragTrajectories
from .values import EntityEmbeddings, ResolutionFreeConditions, check_entities

OFFICIAL_WIDTH, OFFICIAL_HEIGHT, OFFICIAL_FRAMES = 576, 320, 14
MAX_SEED = 0xFFFFFFFFFFFFFFFF


def source_masks(masks, frame_size: tuple[int, int], input_name: str = "masks") -> np.ndarray:
    entity_masks = masks_bool(masks, input_name)
    width, height = frame_size
    if entity_masks.shape[1:] != (height, width):
        raise DragAnythingError(
            input_name, f"the masks are {entity_masks.shape[2]}x{entity_masks.shape[1]} but the first frame is "
            f"{width}x{height}",
            "Make the masks on the first frame itself (Load Image gives a 64x64 empty mask when the image has no "
            "alpha channel)")
    return entity_masks


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
        frame = first_frame_uint8(image)
        source_height, source_width = frame.shape[:2]
        entity_masks = source_masks(masks, (source_width, source_height))
        to_model = Framing(source_width, source_height, width, height, mode=framing)
        generator = torch.Generator("cpu").manual_seed(seed)
        features = host_dift_features(model, clip, vae, to_model.image(frame), generator, timestep, ensemble_size)
        grid_height, grid_width = features.shape[-2:]
        to_grid = Framing(source_width, source_height, grid_width, grid_height, mode=framing)
        names = [str(index) for index in range(len(entity_masks))]
        pooled = pool_features(features, [to_grid.mask(mask).astype(np.uint8) for mask in entity_masks], names)
        return io.NodeOutput(EntityEmbeddings(pooled.float(), f"{len(pooled)} entities, seed {seed}"))


def parse_radius_overrides(text: str, count: int) -> tuple[float | None, ...] | None:
    if not text.strip():
        return None
    fix = 'Give a JSON list with one radius in model pixels (or null for "from the mask") per entity, e.g. [40, null]'
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise DragAnythingError("radius_overrides", f"it is not JSON ({error.msg})", fix) from None
    if (not isinstance(values, list) or len(values) != count
            or not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0)
                       for v in values)):
        raise DragAnythingError("radius_overrides", f"{text.strip()!r} is not {count} non-negative radii", fix)
    return tuple(None if v is None else float(v) for v in values)


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
        entity_masks = source_masks(masks, (trajectories.width, trajectories.height))
        check_entities(trajectories, entity_masks)
        if embeddings.pooled.shape[0] != len(trajectories):
            raise DragAnythingError(
                "embeddings", f"they describe {embeddings.pooled.shape[0]} entities but there are "
                f"{len(trajectories)} trajectories",
                "Compute the embeddings from the same masks as the conditions")
        conditions = ResolutionFreeConditions(
            trajectories, entity_masks, embeddings.pooled, entity_mode=entity_mode, resampling=resampling,
            framing=framing, radius_overrides=parse_radius_overrides(radius_overrides, len(trajectories)))
        # Built once here at the preview size, so bad input is reported on this node, not during sampling.
        preview = conditions.at(preview_width, preview_height, preview_frames)
        gaussian = gaussian_heatmap(preview.gaussian[:, 0])
        if image is not None:
            to_model = Framing(trajectories.width, trajectories.height, preview_width, preview_height, mode=framing)
            frame = to_model.image(first_frame_uint8(image)).astype(np.float32)
            gaussian = (0.5 * frame + 0.5 * gaussian).astype(np.uint8)
        panels = side_by_side(gaussian, entity_map_preview(preview.entity_map()))
        return io.NodeOutput(conditions, to_image(panels))
