"""The pack's node list, as the host's V3 extension."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .apply_node import DragAnythingApply
from .conditioning_nodes import DragAnythingConditions, DragAnythingEntityEmbeddings
from .folders import register_model_folders
from .loader_nodes import DragAnythingControlNetLoader, DragAnythingSAMLoader
from .motion_nodes import (
    DragAnythingCameraMove,
    DragAnythingEntityTracks,
    DragAnythingTrajectoriesFromVideo,
)
from .sampler_node import DragAnythingSVDSampler
from .tiny_nodes import DragAnythingTinyEntityEmbeddings, DragAnythingTinyLoader
from .trajectory_nodes import (
    DragAnythingEntityMasks,
    DragAnythingTrajectories,
    DragAnythingVisualizeTrajectories,
)

NODES: list[type[io.ComfyNode]] = [
    DragAnythingControlNetLoader,
    DragAnythingSAMLoader,
    DragAnythingTinyLoader,
    DragAnythingTrajectories,
    DragAnythingEntityMasks,
    DragAnythingEntityEmbeddings,
    DragAnythingTinyEntityEmbeddings,
    DragAnythingConditions,
    DragAnythingApply,
    DragAnythingSVDSampler,
    DragAnythingVisualizeTrajectories,
    DragAnythingCameraMove,
    DragAnythingTrajectoriesFromVideo,
    DragAnythingEntityTracks,
]

__all__ = ["NODES", "DragAnythingExtension", "register_model_folders"]


class DragAnythingExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES
