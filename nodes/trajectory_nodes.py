"""Trajectories, entity masks and the trajectory overlay."""

from __future__ import annotations

import comfy.model_management
import numpy as np
import torch
from comfy_api.latest import io, ui

from ..draganything.conditions import GRAPH_FRAMING as DEFAULT_FRAMING
from ..draganything.conditions import GRAPH_RESAMPLING as DEFAULT_RESAMPLING
from ..draganything.errors import DragAnythingError
from ..draganything.framing import FRAMING_MODES, Framing
from ..draganything.resolution_free import check_entities, check_first_points, check_masks_fit
from ..draganything.segmentation import SamModel, segment_entities
from ..draganything.trajectory import RESAMPLE_MODES, Trajectories, parse_trajectories, to_tracks
from ..draganything.viz import draw_tracks, gaussian_heatmap, side_by_side
from .compat import ADVANCED, node_schema
from .conversions import first_frame_uint8, frames_uint8, masks_bool, to_image, to_mask
from .types import DragConditions, DragSam, DragTrajectories


def segment_on_host(frame: np.ndarray, trajectories: Trajectories, sam: SamModel | None) -> tuple[np.ndarray, str]:
    """The library's segmentation on the host's device; SAM goes back to the offload device afterwards."""
    masks, info = segment_entities(frame, trajectories, sam, comfy.model_management.get_torch_device())
    if sam is not None:
        sam.model.to(comfy.model_management.unet_offload_device())
    return masks, info


def read_trajectories(text: str, tracks, width: int | None, height: int | None) -> Trajectories:
    if tracks is not None:
        return parse_trajectories(tracks, width=width, height=height, input_name="tracks")
    if not text.strip():
        raise DragAnythingError(
            "trajectories", "it is empty",
            "Draw the entities' paths in the editor, or paste trajectories (the pack's JSON, an official demo.json, "
            "KJNodes coordinates or nested [x, y] lists)")
    return parse_trajectories(text, width=width, height=height)


class DragAnythingTrajectories(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingTrajectories",
            search_aliases=["trajectory editor", "motion path", "drag path", "motion brush", "draw path", "tracks"],
            display_name="DragAnything Trajectories",
            category="DragAnything",
            description="The entities to move and their paths on the first frame. Reads the pack's JSON (what the "
                        "editor writes), the official demo.json, KJNodes coordinate strings, nested [x, y] lists "
                        "or a TRACKS input. Outputs one mask per entity (SAM on the stored clicks, a GrabCut "
                        "fallback, or the MASK input) and the tracks in the host's TRACKS layout.",
            inputs=[
                io.String.Input("trajectories", multiline=True, default="",
                                tooltip="Trajectory JSON in source-image pixels. Ignored when TRACKS are "
                                        "connected."),
                io.Image.Input("image", optional=True, tooltip="The first frame the paths were drawn on."),
                DragSam.Input("sam", optional=True),
                io.Tracks.Input("tracks", optional=True, tooltip="Use these tracks instead of the JSON."),
                io.Mask.Input("masks", optional=True,
                              tooltip="One mask per entity, in trajectory order; replaces SAM/GrabCut."),
                io.Int.Input("tracks_frames", default=14, min=1, max=4096, **ADVANCED,
                             tooltip="Frame count of the TRACKS output (resampled with PCHIP)."),
            ],
            outputs=[
                DragTrajectories.Output(display_name="trajectories"),
                io.Mask.Output(display_name="masks"),
                io.Tracks.Output(display_name="tracks"),
                io.String.Output(display_name="info"),
            ],
        )

    @classmethod
    def execute(cls, trajectories, tracks_frames, image=None, sam=None, tracks=None, masks=None) -> io.NodeOutput:
        frame = None if image is None else first_frame_uint8(image)
        height, width = (None, None) if frame is None else frame.shape[:2]
        parsed = read_trajectories(trajectories, tracks, width, height)
        if parsed.width is None or parsed.height is None:
            raise DragAnythingError(
                "image", "the trajectories do not say which image size their pixels refer to",
                "Connect the first frame to the image input")
        if frame is not None and (parsed.width, parsed.height) != (width, height):
            raise DragAnythingError(
                "image", f"the trajectories were drawn on a {parsed.width}x{parsed.height} image but the image "
                f"input is {width}x{height}",
                "Connect the image the paths were drawn on, or redraw them on this one")
        check_first_points(parsed, parsed.width, parsed.height)
        if masks is not None:
            entity_masks = masks_bool(masks)
            check_masks_fit(entity_masks, parsed.width, parsed.height)
            info = f"{len(entity_masks)} entity masks from the masks input."
        elif frame is not None:
            entity_masks, info = segment_on_host(frame, parsed, sam)
        else:
            raise DragAnythingError("image", "there is neither a first frame nor a MASK batch to take masks from",
                                    "Connect the first frame (masks from SAM or GrabCut) or one mask per entity")
        check_entities(parsed, entity_masks)
        track_arrays = to_tracks(parsed, tracks_frames, mode=DEFAULT_RESAMPLING)
        device = comfy.model_management.intermediate_device()
        host_tracks = {key: torch.from_numpy(value).to(device) for key, value in track_arrays.items()}
        ui_output = {"draganything_frame": [{"width": parsed.width, "height": parsed.height,
                                             "entities": len(parsed)}]}
        if image is not None:
            ui_output.update(ui.PreviewImage(image[:1], cls=cls).as_dict())
        return io.NodeOutput(parsed, to_mask(entity_masks), host_tracks, info, ui=ui_output)


class DragAnythingEntityMasks(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingEntityMasks",
            search_aliases=["sam masks", "segment from click", "grabcut", "click to mask", "object mask"],
            display_name="DragAnything Entity Masks",
            category="DragAnything",
            description="One mask per entity from the clicks and boxes stored with the trajectories (or each "
                        "entity's first point): segment-anything when a SAM model is connected, OpenCV GrabCut "
                        "otherwise.",
            inputs=[
                io.Image.Input("image"),
                io.String.Input("entities", multiline=True, default="",
                                tooltip="Trajectory JSON whose entities carry clicks ({x, y, positive}) or boxes."),
                DragSam.Input("sam", optional=True),
            ],
            outputs=[io.Mask.Output(display_name="masks"), io.String.Output(display_name="info")],
        )

    @classmethod
    def execute(cls, image, entities, sam=None) -> io.NodeOutput:
        frame = first_frame_uint8(image)
        height, width = frame.shape[:2]
        parsed = read_trajectories(entities, None, width, height)
        check_first_points(parsed, width, height)
        masks, info = segment_on_host(frame, parsed, sam)
        check_entities(parsed, masks)
        return io.NodeOutput(to_mask(masks), info, ui=ui.PreviewText(info))


class DragAnythingVisualizeTrajectories(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingVisualizeTrajectories",
            search_aliases=["draw tracks", "overlay paths", "trajectory preview", "motion overlay"],
            display_name="DragAnything Visualize Trajectories",
            category="DragAnything",
            description="Draws each entity's path and outline over video frames; optionally puts the Gaussian "
                        "conditioning beside them like the official demo.",
            inputs=[
                io.Image.Input("images", tooltip="The video frames (at model resolution, e.g. decoded latents)."),
                DragTrajectories.Input("trajectories"),
                io.Mask.Input("masks", optional=True, tooltip="Entity masks on the first (source) frame."),
                DragConditions.Input("conditions", optional=True,
                                     tooltip="When connected: its framing and resampling are used and the Gaussian "
                                             "conditioning is shown beside the frames."),
                io.Combo.Input("framing", options=list(FRAMING_MODES), default=DEFAULT_FRAMING, **ADVANCED,
                               tooltip="How the source frame was mapped to the video (ignored with conditions)."),
                io.Combo.Input("resampling", options=list(RESAMPLE_MODES), default=DEFAULT_RESAMPLING, **ADVANCED,
                               tooltip="How paths are spread over the frames (ignored with conditions)."),
            ],
            outputs=[io.Image.Output(display_name="images")],
        )

    @classmethod
    def execute(cls, images, trajectories, framing, resampling, masks=None, conditions=None) -> io.NodeOutput:
        frames = frames_uint8(images)
        num_frames, height, width = frames.shape[:3]
        if conditions is not None:
            framing, resampling = conditions.framing, conditions.resampling
            if masks is None:
                masks = torch.from_numpy(conditions.masks)
        source_width, source_height = trajectories.width, trajectories.height
        mapping = Framing(source_width, source_height, width, height, mode=framing)
        points, visible = trajectories.resampled(num_frames, resampling)
        points, visible = mapping.tracks(points, visible, offframe="invisible")
        model_masks = None
        if masks is not None:
            source_masks = masks_bool(masks)
            if source_masks.shape[0] != len(trajectories):
                raise DragAnythingError("masks", f"there are {source_masks.shape[0]} masks for {len(trajectories)} "
                                        "trajectories", "Give one mask per entity")
            model_masks = np.stack([mapping.mask(mask) for mask in source_masks])
        anchors = np.array([entity.anchor for entity in trajectories], dtype=bool)
        drawn = draw_tracks(frames, points, masks=model_masks, anchors=anchors, visible=visible)
        if conditions is not None:
            drawn = side_by_side(gaussian_heatmap(conditions.at(width, height, num_frames).gaussian[:, 0]), drawn)
        return io.NodeOutput(to_image(drawn))

