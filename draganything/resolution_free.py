"""Conditions before a frame size or count is chosen, as the ComfyUI graph carries them between nodes.

`ResolutionFreeConditions` holds trajectories and masks in source pixels and the pooled entity features; the
ControlNet's input maps are built from it only for a concrete (width, height, frames) with
:func:`draganything.conditions.build_conditions`, which the host's ControlBase does for the latent being sampled.
The checks here report bad input at the node that can fix it (the Trajectories node, the Drag Conditions node),
before any map is built.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .conditions import GRAPH_FRAMING, GRAPH_RESAMPLING, ConditionMaps, build_conditions, pool_entity_features
from .errors import DragAnythingError
from .framing import Framing
from .trajectory import Trajectories


@dataclass(frozen=True)
class EntityEmbeddings:
    """Per-entity features mean-pooled inside each mask: [N, C] float32 on the CPU (C = 320 for SD-1.5 DIFT)."""

    pooled: torch.Tensor


def embed_entities(frame: np.ndarray, masks: np.ndarray, width: int, height: int, framing: str,
                   features_of: Callable[[np.ndarray], torch.Tensor]) -> torch.Tensor:
    """Pooled features [N, C] (float32) of each entity of a first frame.

    frame: uint8 [H, W, 3] at the source size; masks: bool [N, H, W] on it. The frame is framed to width x height
    as the video's first frame is, ``features_of`` turns it into a feature map ([C, h, w] or [1, C, h, w]), and
    each mask, framed the same way onto the feature grid, pools it (:func:`pool_entity_features`).
    """
    source_height, source_width = frame.shape[:2]
    check_masks_fit(masks, source_width, source_height)
    to_model = Framing(source_width, source_height, width, height, mode=framing)
    features = features_of(to_model.image(frame))
    return pool_entity_features(features, masks, framing).float()


def check_masks_fit(masks: np.ndarray, width: int, height: int, input_name: str = "masks") -> None:
    """The masks [N, h, w] lie on the width x height first frame."""
    if masks.shape[1:] != (height, width):
        raise DragAnythingError(
            input_name, f"the masks are {masks.shape[2]}x{masks.shape[1]} but the first frame is {width}x{height}",
            "Make the masks on the first frame itself (Load Image gives a 64x64 empty mask when the image has no "
            "alpha channel)")


def check_first_points(trajectories: Trajectories, width: int, height: int) -> None:
    """Every entity starts on the first frame (only later points may leave it)."""
    for index, entity in enumerate(trajectories):
        x, y = entity.points[0]
        if not (0 <= x <= width and 0 <= y <= height):
            raise DragAnythingError(
                "trajectories", f"entity {index} ({entity.id!r}) starts at ({x:g}, {y:g}), off the {width}x{height} "
                "first frame",
                "Start every trajectory on the entity it moves; only later points may leave the frame")


def check_entities(trajectories: Trajectories, masks: np.ndarray, input_name: str = "masks") -> None:
    """Trajectory count == mask count, every entity starting on the frame, and no empty mask."""
    count = len(trajectories)
    if masks.shape[0] != count:
        raise DragAnythingError(
            input_name, f"there are {masks.shape[0]} masks for {count} trajectories",
            "Give exactly one mask per entity, in the order of the trajectories (the editor's entity list)")
    check_first_points(trajectories, masks.shape[2], masks.shape[1])
    for index, (entity, mask) in enumerate(zip(trajectories, masks)):
        if not mask.any():
            raise DragAnythingError(
                input_name, f"the mask of entity {index} ({entity.id!r}) is empty",
                "Select the entity again (click on it) or connect a mask that covers it")


def parse_radius_overrides(text: str, count: int) -> tuple[float | None, ...] | None:
    """The Drag Conditions node's `radius_overrides` text: empty, or a JSON list of radii (model pixels) or nulls."""
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


@dataclass(frozen=True)
class ResolutionFreeConditions:
    """Everything the ControlNet's input maps are made of, before a frame size or count is chosen."""

    trajectories: Trajectories
    masks: np.ndarray  # bool [N, Hs, Ws] on the source frame
    pooled: torch.Tensor  # [N, C]
    entity_mode: str = "trained"
    resampling: str = GRAPH_RESAMPLING
    framing: str = GRAPH_FRAMING
    gaussian_mode: str = "template"
    radius_overrides: tuple[float | None, ...] | None = None

    def __post_init__(self):
        check_entities(self.trajectories, self.masks)
        if self.pooled.shape[0] != len(self.trajectories):
            raise DragAnythingError(
                "embeddings", f"they describe {self.pooled.shape[0]} entities but there are "
                f"{len(self.trajectories)} trajectories",
                "Compute the embeddings from the same masks as the conditions")

    def at(self, width: int, height: int, num_frames: int) -> ConditionMaps:
        """The library's conditions for one frame size and count (Gaussian maps, entity index, embeddings)."""
        return build_conditions(
            self.trajectories, self.masks, entity_vectors=self.pooled.float(), height=height, width=width,
            num_frames=num_frames, framing=self.framing, resample=self.resampling, entity_mode=self.entity_mode,
            gaussian_mode=self.gaussian_mode, radius_overrides=self.radius_overrides,
            source_size=(self.masks.shape[2], self.masks.shape[1]))

    def build(self, width: int, height: int, num_frames: int, device=None, dtype=torch.float32):
        """The ControlNet's inputs: Gaussian maps [F, 3, H, W] (0..255) and entity maps [F, C/2, H, W]."""
        conditions = self.at(width, height, num_frames)
        return (conditions.gaussian.to(device=device, dtype=dtype),
                conditions.entity_map(device=device, dtype=dtype))
