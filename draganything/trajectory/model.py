"""The data model: entities (a track, how the entity was selected, its radius and anchor flag) and a video's set.

Construction validates and converts every field; bad values raise DragAnythingError naming the entity.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import DragAnythingError
from .easing import easing_value
from .resample import EntityMotion, apply_offframe, resample_motion, resample_track
from .validation import (
    bool_array,
    box_tuple,
    check_num_frames,
    frame_size,
    frames_array,
    hidden_ranges,
    number_array,
    optional_arrays_equal,
    points_array,
    positive_number,
)


@dataclass
class Click:
    """A point the user clicked to select an entity (SAM prompt). positive=False marks background."""

    x: float
    y: float
    positive: bool = True


@dataclass
class Entity:
    """One thing that moves (or holds still): its path and how it was selected.

    points: [L, 2] float (x, y) in source pixels; L >= 1. A single point means the entity stays where it is.
    frames: optional [L] ints, the frame at which each point is reached (strictly increasing). Without them the
        points are spread over the video by the chosen resampling mode.
    radius: optional radius in source pixels for the Gaussian and the entity disc; None derives it from the mask.
    anchor: "hold still": the entity keeps its first point for every frame, whatever else `points` holds.
    clicks / box: how the entity was selected on the first frame (SAM prompts), kept so the mask can be rebuilt.
    mask_name: file name of a mask image (the official demo.json stores one per entity).
    visible: optional [L] bools, False where the point is known to be invalid (a tracker lost it, or it lies
        off-frame under the "invisible" policy). None means every point is visible.
    easing: None (linear), a preset name ("linear", "ease_in", "ease_out", "ease_in_out") or a custom curve
        [K, 2] of (t, progress) control points; how fast the entity travels along its path (`easing`).
    hidden: ((first, last), ...) inclusive video frame ranges in which the entity is not shown (last None: to the
        end); frame 0 always shows it. Empty: never hidden.
    scale / rotation: optional [L] per point: the entity's size (relative to the first point's) and its rotation
        in degrees clockwise on screen (relative to the first point's) about its track point. The dense tracks
        for Wan-Move move every mask point with them; camera zoom and orbit write them. None: 1 and 0.

    Construction validates and converts; bad values raise DragAnythingError naming the entity.
    """

    id: str
    points: np.ndarray
    frames: np.ndarray | None = None
    radius: float | None = None
    anchor: bool = False
    label: str = ""
    clicks: list[Click] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    mask_name: str | None = None
    visible: np.ndarray | None = None
    easing: str | np.ndarray | None = None
    hidden: tuple[tuple[int, int | None], ...] = ()
    scale: np.ndarray | None = None
    rotation: np.ndarray | None = None

    def __post_init__(self):
        name = f"entity {self.id!r}"
        self.id = str(self.id)
        self.points = points_array(name, self.points)
        count = len(self.points)
        if self.frames is not None:
            self.frames = frames_array(name, self.frames, count)
        if self.visible is not None:
            self.visible = bool_array(name, "visible", self.visible, count)
        if self.radius is not None:
            self.radius = positive_number(name, "radius", self.radius)
        if self.box is not None:
            self.box = box_tuple(name, self.box)
        self.anchor = bool(self.anchor)
        self.easing = easing_value(name, self.easing)
        self.hidden = hidden_ranges(name, self.hidden)
        if self.scale is not None:
            self.scale = number_array(name, "scale", self.scale, count, positive=True)
        if self.rotation is not None:
            self.rotation = number_array(name, "rotation", self.rotation, count, positive=False)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Entity):
            return NotImplemented
        return (
            self.id == other.id
            and np.array_equal(self.points, other.points)
            and optional_arrays_equal(self.frames, other.frames)
            and self.radius == other.radius
            and self.anchor == other.anchor
            and self.label == other.label
            and self.clicks == other.clicks
            and self.box == other.box
            and self.mask_name == other.mask_name
            and optional_arrays_equal(self.visible, other.visible)
            and _same_easing(self.easing, other.easing)
            and self.hidden == other.hidden
            and optional_arrays_equal(self.scale, other.scale)
            and optional_arrays_equal(self.rotation, other.rotation)
        )

    @property
    def visibility(self) -> np.ndarray:
        """[L] bool: `visible`, or all True when it is None."""
        if self.visible is None:
            return np.ones(len(self.points), dtype=bool)
        return self.visible


def _same_easing(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b


@dataclass
class Trajectories:
    """All entities of one video, in order (order matters: it is the official compositing order).

    width/height: the size of the source frame the points are expressed in, when known (demo.json and the
    VIPSeg files do not store it; the caller passes it).
    num_frames: the frame count the author intended, when the format says so.
    image: optional name of the first-frame image (the editor stores the input file name here).
    """

    entities: list[Entity]
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None
    image: str | None = None

    def __post_init__(self):
        self.entities = list(self.entities)
        self.width, self.height = frame_size(self.width, self.height)
        if self.num_frames is not None:
            self.num_frames = check_num_frames(self.num_frames)

    def __len__(self) -> int:
        return len(self.entities)

    def __iter__(self):
        return iter(self.entities)

    def resampled(self, num_frames: int, mode: str = "index") -> tuple[np.ndarray, np.ndarray]:
        """Every entity's track at `num_frames` frames: points [N, F, 2] float64 (source pixels), visible [N, F].

        See `resample_track` for the modes.
        """
        check_num_frames(num_frames)
        tracks = [resample_track(entity, num_frames, mode) for entity in self.entities]
        points = np.stack([p for p, _ in tracks]) if tracks else np.zeros((0, num_frames, 2))
        visible = np.stack([v for _, v in tracks]) if tracks else np.zeros((0, num_frames), dtype=bool)
        return points, visible

    def motion(self, num_frames: int, mode: str = "index") -> EntityMotion:
        """Every entity's motion at `num_frames` frames, stacked: points [N, F, 2], visible [N, F], scale [N, F],
        rotation [N, F] (see `resample_motion`)."""
        check_num_frames(num_frames)
        motions = [resample_motion(entity, num_frames, mode) for entity in self.entities]
        if not motions:
            return EntityMotion(np.zeros((0, num_frames, 2)), np.zeros((0, num_frames), dtype=bool),
                                np.ones((0, num_frames)), np.zeros((0, num_frames)))
        return EntityMotion(*(np.stack(column) for column in zip(*motions)))

    def scaled(self, width: int, height: int) -> Trajectories:
        """A copy for the same picture at width x height: points, clicks, boxes and radii scaled by the size ratio.

        Use it to apply trajectories drawn on (or tracked in) one frame to another of the same scene at another
        size. The radius scales by the geometric mean of the two axis ratios, as `Framing.radius` does.
        """
        if self.width is None or self.height is None:
            raise DragAnythingError(
                "trajectories", "they do not say which frame size their points refer to, so they cannot be scaled",
                "Give the trajectories a width and height (the size of the frame they were drawn on)")
        width, height = frame_size(width, height)
        sx, sy = width / self.width, height / self.height
        factor = np.array([sx, sy])
        entities = [
            replace(
                entity,
                points=entity.points * factor,
                radius=None if entity.radius is None else entity.radius * float(np.sqrt(sx * sy)),
                clicks=[Click(click.x * sx, click.y * sy, click.positive) for click in entity.clicks],
                box=None if entity.box is None else (entity.box[0] * sx, entity.box[1] * sy,
                                                     entity.box[2] * sx, entity.box[3] * sy),
            )
            for entity in self.entities
        ]
        return replace(self, entities=entities, width=width, height=height)

    def with_offframe(self, policy: str, width: int | None = None, height: int | None = None) -> Trajectories:
        """A copy with the off-frame policy applied to every entity in the source frame (`apply_offframe`).

        width/height default to the stored frame size; both must be known one way or the other.
        """
        width = self.width if width is None else width
        height = self.height if height is None else height
        if width is None or height is None:
            raise DragAnythingError(
                "frame size",
                f"the off-frame policy {policy!r} needs the source frame's width and height, and neither the "
                "trajectories nor the call give them",
                "Pass width= and height= (the size of the image the points were drawn on)",
            )
        entities = []
        for entity in self.entities:
            points, visible = apply_offframe(entity.points, entity.visibility, width, height, policy)
            entities.append(replace(entity, points=points, visible=visible))
        return replace(self, entities=entities)


def build_entity(input_name: str, where: str, **fields) -> Entity:
    """Entity(**fields) with any validation error re-addressed to the input and the entity's position in it."""
    try:
        return Entity(**fields)
    except DragAnythingError as error:
        raise DragAnythingError(input_name, f"{where}: {error.problem}", error.fix) from None
