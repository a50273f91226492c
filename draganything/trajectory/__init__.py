"""Entities and their tracks: the one data model every other part of the pack reads.

Coordinates are pixels of the *source* frame (the image the user drew on), x to the right, y down, origin at the
top-left corner of the top-left pixel. A point is a continuous position: pixel (i, j) covers [i, i+1) x [j, j+1)
and its centre is (i + 0.5, j + 0.5); the integer points of the official files are read as they are. The frame
covers [0, W] x [0, H]; a point outside that rectangle is off-frame (see `apply_offframe`). Nothing here knows the
model's resolution: `framing` maps points there.

Modules, in dependency order: `validation` (field checks, JSON text), `easing` (time to progress along a path),
`resample` (resampling modes, easing, hidden frames, off-frame policy), `model` (Click, Entity, Trajectories),
`camera` (pan, zoom and orbit as paths for the held entities), `document` (the pack's own JSON), `formats` (every
other format, detection, loaders, TRACKS export). Every accepted input format, the pack's own JSON, the off-frame
policy, visibility, easing, camera moves and the resampling modes are specified in docs/trajectory-format.md.
"""

from .camera import CameraMove, apply_camera_move, rotate
from .document import FORMAT_NAME, FORMAT_VERSION, parse_pack_json, to_document, to_json
from .easing import EASING_PRESETS, ease, easing_value, sampled_easing
from .formats import (
    OFFICIAL_DEMO_IMAGE,
    OFFICIAL_DEMO_JSON,
    load_official_demo,
    load_trajectories,
    parse_kjnodes,
    parse_nested_lists,
    parse_official_demo,
    parse_tracks,
    parse_trajectories,
    parse_vipseg,
    to_tracks,
)
from .model import Click, Entity, Trajectories
from .resample import (
    OFFFRAME_POLICIES,
    RESAMPLE_CHOICES,
    RESAMPLE_MODES,
    EntityMotion,
    apply_offframe,
    resample_motion,
    resample_track,
    resolve_resample_mode,
)

__all__ = [
    "EASING_PRESETS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "OFFFRAME_POLICIES",
    "OFFICIAL_DEMO_IMAGE",
    "OFFICIAL_DEMO_JSON",
    "RESAMPLE_CHOICES",
    "RESAMPLE_MODES",
    "CameraMove",
    "Click",
    "Entity",
    "EntityMotion",
    "Trajectories",
    "apply_camera_move",
    "apply_offframe",
    "ease",
    "easing_value",
    "load_official_demo",
    "load_trajectories",
    "parse_kjnodes",
    "parse_nested_lists",
    "parse_official_demo",
    "parse_pack_json",
    "parse_tracks",
    "parse_trajectories",
    "parse_vipseg",
    "resample_motion",
    "rotate",
    "resample_track",
    "resolve_resample_mode",
    "sampled_easing",
    "to_document",
    "to_json",
    "to_tracks",
]
