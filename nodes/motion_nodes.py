"""Motion tools: camera moves for the held entities, motion taken from a video, and dense entity tracks for
Wan-Move."""

from __future__ import annotations

from comfy_api.latest import io

from ..draganything.trajectory import EASING_PRESETS, CameraMove, apply_camera_move
from .types import DragTrajectories


class DragAnythingCameraMove(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DragAnythingCameraMove",
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
            ],
            outputs=[DragTrajectories.Output(display_name="trajectories")],
        )

    @classmethod
    def execute(cls, trajectories, zoom, orbit, pan_x, pan_y, centre_x, centre_y, frames, easing) -> io.NodeOutput:
        centre = None if trajectories.width is None else (centre_x * trajectories.width,
                                                          centre_y * trajectories.height)
        move = CameraMove(zoom=zoom, orbit=orbit, pan=(pan_x, pan_y), centre=centre)
        return io.NodeOutput(apply_camera_move(trajectories, move, frames, easing=easing))
