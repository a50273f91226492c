"""Motion tools: camera moves for the held entities, motion taken from a video, and dense entity tracks for
Wan-Move."""

from __future__ import annotations

import comfy.model_management
import numpy as np
import torch
from comfy_api.latest import io, ui

from ..draganything.conditions import GRAPH_FRAMING as DEFAULT_FRAMING
from ..draganything.conditions import GRAPH_RESAMPLING as DEFAULT_RESAMPLING
from ..draganything.entity_tracks import DEFAULT_POINTS_PER_ENTITY, entity_point_tracks
from ..draganything.errors import DragAnythingError
from ..draganything.framing import FRAMING_MODES, Framing
from ..draganything.resolution_free import check_first_points
from ..draganything.tracking import track_entities
from ..draganything.trajectory import (
    EASING_PRESETS,
    RESAMPLE_MODES,
    CameraMove,
    apply_camera_move,
    to_json,
    to_tracks,
)
from .compat import ADVANCED, curve_socket, node_schema
from .conversions import curve_easing, first_frame_uint8, frames_uint8, masks_bool, to_mask
from .trajectory_nodes import read_trajectories, segment_on_host
from .types import DragSam, DragTrajectories


def host_tracks(arrays: dict) -> dict:
    """The library's TRACKS arrays as the host's tensors."""
    device = comfy.model_management.intermediate_device()
    return {key: torch.from_numpy(value).to(device) for key, value in arrays.items()}


class DragAnythingCameraMove(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingCameraMove",
            search_aliases=["camera zoom", "camera orbit", "camera pan", "dolly", "rotate camera"],
            display_name="DragAnything Camera Move",
            category="DragAnything",
            description="Pan, zoom and orbit: every held entity (the background anchor, things held still) "
                        "becomes the path it takes on screen under the camera move, with its size and rotation, so "
                        "Wan-Move's dense tracks move its whole mask. Entities that move on their own keep their "
                        "paths.",
            inputs=[
                DragTrajectories.Input("trajectories"),
                io.Float.Input("zoom", default=1.0, min=0.1, max=10.0, step=0.01,
                               tooltip="Size of the held things at the end: above 1 zooms in, below 1 zooms out."),
                io.Float.Input("orbit", default=0.0, min=-360.0, max=360.0, step=0.5,
                               tooltip="Degrees the held things turn about the centre by the end, clockwise on "
                                       "screen (an in-plane rotation)."),
                io.Float.Input("pan_x", default=0.0, min=-16384.0, max=16384.0, step=1.0,
                               tooltip="Pixels the held things travel to the right by the end (the camera moves "
                                       "left)."),
                io.Float.Input("pan_y", default=0.0, min=-16384.0, max=16384.0, step=1.0,
                               tooltip="Pixels the held things travel down by the end (the camera moves up)."),
                io.Float.Input("centre_x", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Centre of the zoom and orbit, as a fraction of the frame's width."),
                io.Float.Input("centre_y", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Centre of the zoom and orbit, as a fraction of the frame's height."),
                io.Int.Input("frames", default=14, min=1, max=4096,
                             tooltip="The video's frame count: one path point per frame (other counts resample "
                                     "the path)."),
                io.Combo.Input("easing", options=list(EASING_PRESETS), default="linear",
                               tooltip="The pace of the move."),
                *curve_socket("easing_curve",
                              tooltip="Optional: a Curve Editor's curve as the pace of the move (time across, "
                                      "progress up, from (0, 0) to (1, 1), never going down); replaces easing."),
            ],
            outputs=[DragTrajectories.Output(display_name="trajectories")],
        )

    @classmethod
    def execute(cls, trajectories, zoom, orbit, pan_x, pan_y, centre_x, centre_y, frames, easing,
                easing_curve=None) -> io.NodeOutput:
        centre = None if trajectories.width is None else (centre_x * trajectories.width,
                                                          centre_y * trajectories.height)
        move = CameraMove(zoom=zoom, orbit=orbit, pan=(pan_x, pan_y), centre=centre)
        pace = easing if easing_curve is None else curve_easing(easing_curve, "easing_curve")
        return io.NodeOutput(apply_camera_move(trajectories, move, frames, easing=pace))


class DragAnythingTrajectoriesFromVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingTrajectoriesFromVideo",
            search_aliases=["motion from video", "track video", "optical flow tracks", "motion transfer", "lucas kanade"],
            display_name="DragAnything Trajectories From Video",
            category="DragAnything",
            description="Takes the motion of each entity from a video: OpenCV Lucas-Kanade on points inside its "
                        "first-frame mask, robust to outliers (forward-backward check, appearance check, RANSAC "
                        "similarity), no weights. Masks come from the masks input, or from the clicks and boxes of "
                        "the entities JSON (SAM when connected, else GrabCut). With an image, the result is scaled "
                        "to that first frame, to drive another picture of the scene.",
            inputs=[
                io.Image.Input("video", tooltip="The video's frames, first frame first (a loaded video)."),
                io.String.Input("entities", multiline=True, default="",
                                tooltip="Optional: the entities as clicked on the video's first frame (the pack's "
                                        "JSON, e.g. from a Trajectories node's editor); each is tracked from its "
                                        "first point, and keeps its id, label and clicks."),
                io.Int.Input("frames", default=0, min=0, max=4096,
                             tooltip="How many frames to track from the start; 0 tracks them all."),
                io.Mask.Input("masks", optional=True,
                              tooltip="One mask per entity on the video's first frame (replaces SAM/GrabCut)."),
                DragSam.Input("sam", optional=True),
                io.Image.Input("image", optional=True,
                               tooltip="Another first frame to apply the motion to: trajectories, masks and "
                                       "TRACKS are scaled to its size."),
            ],
            outputs=[
                DragTrajectories.Output(display_name="trajectories"),
                io.Mask.Output(display_name="masks"),
                io.Tracks.Output(display_name="tracks"),
                io.String.Output(display_name="trajectories_json"),
                io.String.Output(display_name="info"),
            ],
        )

    @classmethod
    def execute(cls, video, entities, frames, masks=None, sam=None, image=None) -> io.NodeOutput:
        video_frames = frames_uint8(video)
        height, width = video_frames.shape[1:3]
        prompt = read_trajectories(entities, None, width, height) if entities.strip() else None
        if prompt is not None:
            check_first_points(prompt, width, height)
        if masks is not None:
            entity_masks, how = masks_bool(masks), "the masks input"
        elif prompt is not None:
            entity_masks, how = segment_on_host(video_frames[0], prompt, sam)
        else:
            raise DragAnythingError(
                "masks", "there is neither a MASK batch nor an entities JSON to take the entities from",
                "Connect one mask per entity on the video's first frame, or give the entities' clicks")
        tracked = track_entities(video_frames, entity_masks, num_frames=frames or None, prompt=prompt)
        if image is not None:
            target_height, target_width = first_frame_uint8(image).shape[:2]
            to_target = Framing(width, height, target_width, target_height, "stretch")
            tracked = tracked.scaled(target_width, target_height)
            entity_masks = np.stack([to_target.mask(mask) for mask in entity_masks])
        info = (f"{len(tracked)} entities tracked over {tracked.num_frames} frames of a {width}x{height} video "
                f"(masks: {how}); " + ", ".join(
                    f"{entity.id}: seen in {int(entity.visibility.sum())}/{tracked.num_frames}" for entity in tracked))
        arrays = to_tracks(tracked, tracked.num_frames)
        return io.NodeOutput(tracked, to_mask(entity_masks), host_tracks(arrays), to_json(tracked), info,
                             ui=ui.PreviewText(info))


class DragAnythingEntityTracks(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingEntityTracks",
            search_aliases=["wan move tracks", "dense tracks", "point tracks", "wanmove", "motion tracks"],
            display_name="DragAnything Entity Tracks",
            category="DragAnything",
            description="Entities (mask + path) as dense TRACKS for Wan-Move: points spread over each entity's mask "
                        "move with it (its path, plus the size and turn of a camera zoom or orbit), hidden where the "
                        "entity is, so the whole entity moves and held ones stay put. Feed WanMoveTrackToVideo with "
                        "the same width, height and length.",
            inputs=[
                DragTrajectories.Input("trajectories"),
                io.Mask.Input("masks", tooltip="One mask per entity on the first frame (a Trajectories node's masks)."),
                io.Int.Input("width", default=832, min=16, max=16384, step=16,
                             tooltip="The video's width, as given to WanMoveTrackToVideo."),
                io.Int.Input("height", default=480, min=16, max=16384, step=16,
                             tooltip="The video's height, as given to WanMoveTrackToVideo."),
                io.Int.Input("length", default=81, min=1, max=4096,
                             tooltip="The video's frame count, as given to WanMoveTrackToVideo."),
                io.Int.Input("points_per_entity", default=DEFAULT_POINTS_PER_ENTITY, min=1, max=1024, **ADVANCED,
                             tooltip="Tracks per entity, spread evenly over its mask."),
                io.Combo.Input("resampling", options=list(RESAMPLE_MODES), default=DEFAULT_RESAMPLING, **ADVANCED,
                               tooltip="How paths are spread over the frames."),
                io.Combo.Input("framing", options=list(FRAMING_MODES), default=DEFAULT_FRAMING, **ADVANCED,
                               tooltip="How the first frame becomes the video frame (WanMoveTrackToVideo "
                                       "centre-crops)."),
            ],
            outputs=[io.Tracks.Output(display_name="tracks")],
        )

    @classmethod
    def execute(cls, trajectories, masks, width, height, length, points_per_entity, resampling,
                framing) -> io.NodeOutput:
        arrays = entity_point_tracks(trajectories, masks_bool(masks), length, width=width, height=height,
                                     framing=framing, points_per_entity=points_per_entity, mode=resampling)
        return io.NodeOutput(host_tracks({key: arrays[key] for key in ("track_path", "track_visibility")}))
