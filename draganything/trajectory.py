"""Entities and their tracks: the one data model every other part of the pack reads.

Coordinates are pixels of the *source* frame (the image the user drew on), x to the right, y down, origin at the
top-left corner of the top-left pixel. Nothing here knows the model's resolution: `framing` maps points there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FORMAT_NAME = "draganything/trajectories"
FORMAT_VERSION = 1


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
        self.points = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)
        if self.frames is not None:
            self.frames = np.asarray(self.frames, dtype=np.int64).reshape(-1)
        if self.visible is not None:
            self.visible = np.asarray(self.visible, dtype=bool).reshape(-1)


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

    def __len__(self) -> int:
        return len(self.entities)

    def __iter__(self):
        return iter(self.entities)
