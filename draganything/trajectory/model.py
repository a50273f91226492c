"""The data model: entities (a track, how the entity was selected, its radius and anchor flag) and a video's set.

Construction validates and converts every field; bad values raise DragAnythingError naming the entity.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import DragAnythingError
from .resample import apply_offframe, resample_track
from .validation import (
    bool_array,
    box_tuple,
    check_num_frames,
    frame_size,
    frames_array,
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
        )

    @property
    def visibility(self) -> np.ndarray:
        """[L] bool: `visible`, or all True when it is None."""
        if self.visible is None:
            return np.ones(len(self.points), dtype=bool)
        return self.visible


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
