"""The values that travel on the pack's own sockets between nodes.

`ResolutionFreeConditions` holds trajectories and masks in source pixels and the pooled entity features; the
ControlNet's input maps are built from it only for a concrete (width, height, frames), which the ControlBase
takes from the latent being sampled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ..draganything.conditions import DragConditions, build_conditions
from ..draganything.entity import entity_embeddings
from ..draganything.errors import DragAnythingError
from ..draganything.trajectory import Trajectories


@dataclass(frozen=True)
class EntityEmbeddings:
    """Per-entity DIFT features mean-pooled inside each mask: [N, C] float32 on the CPU (C = 320 for SD-1.5)."""

    pooled: torch.Tensor
    info: str


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


@dataclass(frozen=True)
class ResolutionFreeConditions:
    """Everything the ControlNet's input maps are made of, before a frame size or count is chosen."""

    trajectories: Trajectories
    masks: np.ndarray  # bool [N, Hs, Ws] on the source frame
    pooled: torch.Tensor  # [N, C]
    entity_mode: str = "trained"
    resampling: str = "pchip"
    framing: str = "center_crop"
    gaussian_mode: str = "template"
    radius_overrides: tuple[float | None, ...] | None = None

    def at(self, width: int, height: int, num_frames: int) -> DragConditions:
        """The library's conditions for one frame size and count (Gaussian maps, entity index, embeddings)."""
        conditions = build_conditions(
            self.trajectories, self.masks, None, height=height, width=width, num_frames=num_frames,
            framing=self.framing, resample=self.resampling, entity_mode=self.entity_mode,
            gaussian_mode=self.gaussian_mode, radius_overrides=self.radius_overrides,
            source_size=(self.masks.shape[2], self.masks.shape[1]))
        return dataclasses.replace(conditions, embeddings=entity_embeddings(self.pooled.float(), self.entity_mode))

    def build(self, width: int, height: int, num_frames: int, device=None, dtype=torch.float32):
        """The ControlNet's inputs: Gaussian maps [F, 3, H, W] (0..255) and entity maps [F, C/2, H, W]."""
        conditions = self.at(width, height, num_frames)
        return (conditions.gaussian.to(device=device, dtype=dtype),
                conditions.entity_map(device=device, dtype=dtype))
