"""Camera moves: pan, zoom and orbit, as paths for the entities that hold still (the background and held things).

A held entity (an anchor) stays where it is on screen. Under a moving camera, the things that are still in the
world move on screen together. `apply_camera_move` turns every anchor into the path its first point takes under
one camera move, made of three parts, each growing with the move's progress u from 0 (first frame) to 1 (last):

- zoom: held things grow by `zoom` ** u about the centre (zoom > 1: the camera zooms in, things spread out);
- orbit: they turn by `orbit` * u degrees, clockwise on screen, about the centre (an in-plane rotation: a true
  orbit around a 3D scene would also need its depth);
- pan: they travel by `pan` * u pixels on screen (the camera moves the other way).

A point p0 moves to c + zoom**u * R(orbit * u) (p0 - c) + pan * u. The entity also gets its per-point `scale`
and `rotation`, so the dense tracks for Wan-Move move every point of its mask with the camera, not only its track
point. The path has one point per frame at evenly spaced progress, stamped 0..F-1; the entity's `easing` sets
the pace (the resampler warps the clock, see `easing`). Entities that move on their own are left as drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import DragAnythingError
from .easing import easing_value
from .model import Trajectories
from .validation import check_num_frames, points_array


@dataclass(frozen=True)
class CameraMove:
    """One camera move over a video. zoom: scale at the end (> 0); orbit: degrees clockwise at the end; pan:
    (dx, dy) source pixels the held things travel on screen; centre: (x, y) source pixels, None for the frame's
    centre."""

    zoom: float = 1.0
    orbit: float = 0.0
    pan: tuple[float, float] = (0.0, 0.0)
    centre: tuple[float, float] | None = None

    def __post_init__(self):
        for name in ("zoom", "orbit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
                raise DragAnythingError(f"camera {name}", f"it is {value!r}, not a finite number",
                                        "Give a number (zoom 1 and orbit 0 leave the camera still)")
        if self.zoom <= 0:
            raise DragAnythingError("camera zoom", f"it is {self.zoom!r}; a zoom factor is above 0",
                                    "Use 1 for no zoom, above 1 to zoom in, between 0 and 1 to zoom out")
        object.__setattr__(self, "pan", tuple(points_array("camera pan", [self.pan])[0]))
        if self.centre is not None:
            object.__setattr__(self, "centre", tuple(points_array("camera centre", [self.centre])[0]))

    @property
    def still(self) -> bool:
        return self.zoom == 1 and self.orbit == 0 and self.pan == (0.0, 0.0)

    def transforms(self, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scale [F], rotation [F] degrees, pan [F, 2]) at evenly spaced progress over the frames."""
        progress = np.linspace(0.0, 1.0, check_num_frames(num_frames))
        return self.zoom**progress, self.orbit * progress, progress[:, None] * np.asarray(self.pan)

    def path(self, point, num_frames: int, centre) -> np.ndarray:
        """Where `point` (x, y) is in each of num_frames frames: [F, 2]."""
        scale, rotation, pan = self.transforms(num_frames)
        centre = np.asarray(centre, dtype=np.float64)
        offset = np.asarray(point, dtype=np.float64) - centre
        return centre + scale[:, None] * rotate(offset[None], rotation) + pan


def rotate(vectors: np.ndarray, degrees) -> np.ndarray:
    """Vectors [..., 2] turned clockwise on screen (y down) by `degrees` (broadcast over the leading axes)."""
    radians = np.deg2rad(degrees)
    cos, sin = np.cos(radians), np.sin(radians)
    x, y = vectors[..., 0], vectors[..., 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y], axis=-1)


def apply_camera_move(trajectories: Trajectories, move: CameraMove, num_frames: int, easing=None) -> Trajectories:
    """The trajectories with every anchor replaced by its path under `move` (module docstring).

    num_frames: the video's frame count (one path point per frame; other counts resample the path). easing: a
    preset or curve for the move's pace, set on every moved entity; None keeps each entity's own. A move needs at
    least one held entity, and a frame size when it has no centre of its own.
    """
    check_num_frames(num_frames)
    held = [entity for entity in trajectories if entity.anchor]
    if not held:
        raise DragAnythingError(
            "camera move", "no entity holds still, so there is nothing for the camera to move",
            "Add a background anchor (an entity with anchor: true on the background), or hold an entity still")
    centre = move.centre
    if centre is None:
        if trajectories.width is None or trajectories.height is None:
            raise DragAnythingError(
                "camera centre", "the trajectories do not say their frame size, so the frame's centre is unknown",
                "Give the centre of the move, or trajectories with a width and height")
        centre = (trajectories.width / 2, trajectories.height / 2)
    if easing is not None:
        easing = easing_value("camera easing", easing)
    scale, rotation, _ = move.transforms(num_frames)
    entities = []
    for entity in trajectories:
        if not entity.anchor:
            entities.append(entity)
            continue
        entities.append(replace(
            entity,
            points=move.path(entity.points[0], num_frames, centre),
            frames=np.arange(num_frames),
            anchor=False,
            visible=None if entity.visible is None else np.repeat(entity.visible[:1], num_frames),
            scale=scale.copy(),
            rotation=rotation.copy(),
            easing=entity.easing if easing is None else easing,
        ))
    return replace(trajectories, entities=entities)
