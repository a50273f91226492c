"""Entities and their tracks: the one data model every other part of the pack reads.

Coordinates are pixels of the *source* frame (the image the user drew on), x to the right, y down, origin at the
top-left corner of the top-left pixel. A point is a continuous position: pixel (i, j) covers [i, i+1) x [j, j+1)
and its centre is (i + 0.5, j + 0.5); the integer points of the official files are read as they are. The frame
covers [0, W] x [0, H]; a point outside that rectangle is off-frame (see `apply_offframe`). Nothing here knows the
model's resolution: `framing` maps points there.

Every accepted input format, the pack's own JSON, the off-frame policy and the resampling modes are specified in
docs/trajectory-format.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import DragAnythingError

FORMAT_NAME = "draganything/trajectories"
FORMAT_VERSION = 1

RESAMPLE_MODES = ("index", "pchip", "arc_length", "time")
OFFFRAME_POLICIES = ("invisible", "clip")

OFFICIAL_DEMO_JSON = "demo.json"
OFFICIAL_DEMO_IMAGE = "demo.jpg"

_DOC = "docs/trajectory-format.md"


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
        self.points = _points_array(name, self.points)
        count = len(self.points)
        if self.frames is not None:
            self.frames = _frames_array(name, self.frames, count)
        if self.visible is not None:
            self.visible = _bool_array(name, "visible", self.visible, count)
        if self.radius is not None:
            self.radius = _positive_number(name, "radius", self.radius)
        if self.box is not None:
            self.box = _box_tuple(name, self.box)
        self.anchor = bool(self.anchor)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Entity):
            return NotImplemented
        return (
            self.id == other.id
            and np.array_equal(self.points, other.points)
            and _optional_arrays_equal(self.frames, other.frames)
            and self.radius == other.radius
            and self.anchor == other.anchor
            and self.label == other.label
            and self.clicks == other.clicks
            and self.box == other.box
            and self.mask_name == other.mask_name
            and _optional_arrays_equal(self.visible, other.visible)
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

    def __len__(self) -> int:
        return len(self.entities)

    def __iter__(self):
        return iter(self.entities)

    def resampled(self, num_frames: int, mode: str = "index") -> tuple[np.ndarray, np.ndarray]:
        """Every entity's track at `num_frames` frames: points [N, F, 2] float64 (source pixels), visible [N, F].

        See `resample_track` for the modes.
        """
        _check_num_frames(num_frames)
        tracks = [resample_track(entity, num_frames, mode) for entity in self.entities]
        points = np.stack([p for p, _ in tracks]) if tracks else np.zeros((0, num_frames, 2))
        visible = np.stack([v for _, v in tracks]) if tracks else np.zeros((0, num_frames), dtype=bool)
        return points, visible

    def with_offframe(self, policy: str, width: int | None = None, height: int | None = None) -> Trajectories:
        """A copy with the off-frame policy applied to every entity in the source frame (`apply_offframe`).

        width/height default to the stored frame size; one of the two must be known.
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


# --------------------------------------------------------------------------------------------------- resampling


def resample_track(entity: Entity, num_frames: int, mode: str = "index") -> tuple[np.ndarray, np.ndarray]:
    """One entity's track at `num_frames` frames: (points [F, 2] float64, visible [F] bool), source pixels.

    Modes:
    - "index": point k drives frame k (official demo.py). A shorter track holds its last point (the official code
      crashes instead); a longer one is truncated.
    - "pchip": the official gradio UI. x(t) and y(t) are PCHIP-interpolated separately over the uniform point index
      t = linspace(0, 1, L) and sampled at linspace(0, 1, F). A single point becomes [p, p + (1, 1)] first, as the
      official code does.
    - "arc_length": uniform speed along the polyline through the points, first point at frame 0, last at F-1.
    - "time": each point is reached at its frame in `entity.frames`; linear in between, held before the first
      and after the last stamp. A track of several points needs `frames` in this mode.
    An anchor holds its first point for every frame in every mode.

    Visibility: in "index" mode each frame takes its point's flag; in the other modes a frame takes the flag of
    the source point nearest to it in the mode's own parameter (point index, arc length or frame).
    """
    _check_num_frames(num_frames)
    if mode not in RESAMPLE_MODES:
        raise DragAnythingError(
            "resampling mode",
            f"{mode!r} is not a resampling mode",
            f"Use one of {', '.join(RESAMPLE_MODES)} (see {_DOC})",
        )
    points, visible = entity.points, entity.visibility
    count = len(points)
    if entity.anchor or count == 1 and mode != "pchip":
        return np.repeat(points[:1], num_frames, axis=0), np.repeat(visible[:1], num_frames)

    if mode == "index":
        index = np.minimum(np.arange(num_frames), count - 1)
        return points[index], visible[index]

    if mode == "pchip":
        from scipy.interpolate import PchipInterpolator

        if count == 1:
            points = np.concatenate([points, points + 1.0])
            visible = np.concatenate([visible, visible])
        param = np.linspace(0.0, 1.0, len(points))
        samples = np.linspace(0.0, 1.0, num_frames)
        return PchipInterpolator(param, points, axis=0)(samples), visible[_nearest(param, samples)]

    if mode == "arc_length":
        lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
        param = np.concatenate([[0.0], np.cumsum(lengths)])
        if param[-1] == 0.0:
            return np.repeat(points[:1], num_frames, axis=0), np.repeat(visible[:1], num_frames)
        samples = np.linspace(0.0, param[-1], num_frames)
        return _interp_points(samples, param, points), visible[_nearest(param, samples)]

    if entity.frames is None:
        raise DragAnythingError(
            f"entity {entity.id!r}",
            f"resampling mode 'time' needs a frame number for each of its {count} points, and it has none",
            "Give the entity `frames` (one strictly increasing frame index per point), or use the 'index', "
            "'pchip' or 'arc_length' mode",
        )
    param = entity.frames.astype(np.float64)
    samples = np.arange(num_frames, dtype=np.float64)
    return _interp_points(samples, param, points), visible[_nearest(param, samples)]


def _interp_points(samples: np.ndarray, param: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Piecewise-linear points at `samples` of a non-decreasing parameter; holds the ends."""
    return np.stack([np.interp(samples, param, points[:, 0]), np.interp(samples, param, points[:, 1])], axis=-1)


def _nearest(param: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Index of the entry of the sorted `param` nearest to each sample (ties go to the earlier entry)."""
    right = np.clip(np.searchsorted(param, samples), 1, len(param) - 1)
    left = right - 1
    return np.where(samples - param[left] <= param[right] - samples, left, right)


def _check_num_frames(num_frames) -> None:
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise DragAnythingError(
            "num_frames",
            f"{num_frames!r} is not a frame count",
            "Pass a positive integer number of frames",
        )


# -------------------------------------------------------------------------------------------- off-frame policy


def apply_offframe(
    points: np.ndarray, visible: np.ndarray | None, width: float, height: float, policy: str
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the off-frame policy to points [..., 2] in a frame of width x height; returns (points, visible).

    A point is in frame when 0 <= x <= width and 0 <= y <= height (the image's extent, see the module doc).
    "invisible" keeps every point where it is and marks the off-frame ones not visible (downstream maps skip
    them); "clip" moves off-frame points onto the nearest edge of the frame and leaves their visibility alone.
    """
    if policy not in OFFFRAME_POLICIES:
        raise DragAnythingError(
            "offframe",
            f"{policy!r} is not an off-frame policy",
            f"Use one of {', '.join(OFFFRAME_POLICIES)} (see {_DOC})",
        )
    points = np.asarray(points, dtype=np.float64)
    visible = np.ones(points.shape[:-1], dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
    if policy == "clip":
        return np.clip(points, 0.0, [float(width), float(height)]), visible.copy()
    x, y = points[..., 0], points[..., 1]
    inside = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
    return points.copy(), visible & inside


# ------------------------------------------------------------------------------------------------- validation


def _points_array(name: str, raw) -> np.ndarray:
    """[L, 2] float64 from anything array-like; DragAnythingError naming `name` when it is not a list of pairs."""
    fix = "Give the track as a list of [x, y] number pairs, e.g. [[120, 80], [130, 82]]"
    try:
        array = np.asarray(raw)
    except (ValueError, TypeError):
        raise DragAnythingError(name, "its points are not a rectangular list of [x, y] pairs", fix) from None
    if array.dtype.kind not in "iuf":
        bad = _first_non_number(raw)
        where = f" (point {bad[0]}: {bad[1]!r})" if bad else ""
        raise DragAnythingError(name, f"its points contain something that is not a number{where}", fix)
    if array.size == 0:
        raise DragAnythingError(name, "its track has no points", "Give at least one [x, y] point")
    if array.ndim != 2 or array.shape[1] != 2:
        raise DragAnythingError(
            name, f"its points have shape {list(array.shape)}, not [number of points, 2]", fix
        )
    array = array.astype(np.float64)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        index = int(np.argmin(finite))
        raise DragAnythingError(
            name,
            f"point {index} is {array[index].tolist()}, which is not a finite number pair",
            "Replace NaN and infinite coordinates with pixel positions",
        )
    return array


def _first_non_number(raw):
    """(index, value) of the first point with a coordinate that is not a real number, if it can be located."""
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        return None
    for index, point in enumerate(raw):
        values = point if isinstance(point, Sequence) and not isinstance(point, (str, bytes)) else [point]
        if any(isinstance(v, bool) or not isinstance(v, (int, float, np.number)) for v in values):
            return index, point
    return None


def _frames_array(name: str, raw, count: int) -> np.ndarray:
    fix = "Give one integer frame index per point, starting at 0 or later and strictly increasing"
    try:
        array = np.asarray(raw)
    except (ValueError, TypeError):
        raise DragAnythingError(name, "its frames are not a flat list of integers", fix) from None
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise DragAnythingError(name, f"its frames {_short(raw)} are not a flat list of integers", fix)
    if len(array) != count:
        raise DragAnythingError(name, f"it has {count} points but {len(array)} frame numbers", fix)
    array = array.astype(np.int64)
    if array[0] < 0:
        raise DragAnythingError(name, f"its first frame number is {int(array[0])}, below 0", fix)
    steps = np.diff(array)
    if (steps <= 0).any():
        index = int(np.argmax(steps <= 0)) + 1
        raise DragAnythingError(
            name,
            f"its frame numbers are not strictly increasing: frame[{index}] = {int(array[index])} follows "
            f"frame[{index - 1}] = {int(array[index - 1])}",
            fix,
        )
    return array


def _bool_array(name: str, what: str, raw, count: int) -> np.ndarray:
    array = np.asarray(raw)
    if array.ndim != 1 or len(array) != count or (array.size and array.dtype.kind not in "bui"):
        raise DragAnythingError(
            name,
            f"its {what} flags {_short(raw)} are not one true/false per point ({count} points)",
            f"Give {what} as a list of {count} booleans, or leave it out",
        )
    return array.astype(bool)


def _positive_number(name: str, what: str, raw) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, np.number)) or not math.isfinite(raw) or raw <= 0:
        raise DragAnythingError(
            name, f"its {what} is {raw!r}, not a positive number of pixels", f"Give a {what} > 0, or null to derive it"
        )
    return float(raw)


def _box_tuple(name: str, raw) -> tuple[float, float, float, float]:
    fix = "Give the box as [x0, y0, x1, y1] in source pixels with x0 < x1 and y0 < y1, or null"
    try:
        array = np.asarray(raw)
    except (ValueError, TypeError):
        array = np.asarray([None])
    if array.shape != (4,) or array.dtype.kind not in "iuf" or not np.isfinite(array).all():
        raise DragAnythingError(name, f"its box {_short(raw)} is not four finite numbers", fix)
    x0, y0, x1, y1 = (float(v) for v in array)
    if not (x0 < x1 and y0 < y1):
        raise DragAnythingError(name, f"its box {[x0, y0, x1, y1]} has no area", fix)
    return x0, y0, x1, y1


def _optional_arrays_equal(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _entity(input_name: str, where: str, **fields) -> Entity:
    """Entity(**fields) with any validation error re-addressed to the input and the entity's position in it."""
    try:
        return Entity(**fields)
    except DragAnythingError as error:
        raise DragAnythingError(input_name, f"{where}: {error.problem}", error.fix) from None


def _require_entities(input_name: str, entities: list) -> None:
    if not entities:
        raise DragAnythingError(
            input_name, "it holds no entity (no track at all)", "Add at least one entity with at least one point"
        )


# ---------------------------------------------------------------------------------------------- official demo


def parse_official_demo(value, *, input_name: str = OFFICIAL_DEMO_JSON) -> Trajectories:
    """The official demo.json: {"1": {"comment", "mask_name", "trajectory": [[x, y], ...]}, ...}.

    Keys are entity ids in compositing order; points are pixels of demo.jpg, one per frame. `comment` becomes the
    label and `mask_name` is kept (the entity module loads the mask). The frame size is not stored.
    """
    data = _decode(value, input_name)
    if not isinstance(data, Mapping):
        raise DragAnythingError(
            input_name,
            f"it is a {type(data).__name__}, not an object of entities keyed by id",
            'Give {"1": {"mask_name": ..., "trajectory": [[x, y], ...]}, ...} as the official demo.json does',
        )
    _require_entities(input_name, list(data))
    entities = []
    for index, (key, record) in enumerate(data.items()):
        where = f"entity {key!r} (number {index + 1})"
        if not isinstance(record, Mapping) or "trajectory" not in record:
            raise DragAnythingError(
                input_name,
                f"{where} has no 'trajectory' list",
                'Each entry needs "trajectory": [[x, y], ...] and normally "mask_name"',
            )
        mask_name = record.get("mask_name")
        if mask_name is not None and not isinstance(mask_name, str):
            raise DragAnythingError(input_name, f"{where} has a mask_name that is not a file name", "Use a string")
        comment = record.get("comment", "")
        entities.append(
            _entity(
                input_name,
                where,
                id=str(key),
                points=record["trajectory"],
                label=comment if isinstance(comment, str) else str(comment),
                mask_name=mask_name,
            )
        )
    return Trajectories(entities)


def load_official_demo(path: str | Path) -> tuple[Trajectories, Path]:
    """Read an official demo case: a `<name>_@` folder (its demo.json) or a demo*.json path inside one.

    Returns (trajectories, image_path). The trajectories carry the size of demo.jpg as width/height and its file
    name as `image`; each entity keeps its `mask_name` (masks are resolved against image_path.parent).
    """
    from PIL import Image

    path = Path(path)
    json_path = path / OFFICIAL_DEMO_JSON if path.is_dir() else path
    if not json_path.is_file():
        raise DragAnythingError(
            str(path),
            "no official demo trajectory file is there",
            f"Pass a demo folder containing {OFFICIAL_DEMO_JSON} and {OFFICIAL_DEMO_IMAGE}, or the path of the "
            "demo json itself",
        )
    image_path = json_path.parent / OFFICIAL_DEMO_IMAGE
    if not image_path.is_file():
        raise DragAnythingError(
            str(json_path),
            f"the first-frame image {OFFICIAL_DEMO_IMAGE} is missing beside it",
            "An official demo folder holds demo.jpg next to demo.json; put the image there",
        )
    trajectories = parse_official_demo(json_path.read_text(encoding="utf-8"), input_name=str(json_path))
    with Image.open(image_path) as image:
        width, height = image.size
    return replace(trajectories, width=width, height=height, image=image_path.name), image_path


# ---------------------------------------------------------------------------------------------- decoding JSON


def _decode(value, input_name: str):
    """Python objects from a JSON string (single-quoted pseudo-JSON accepted), or `value` as it is."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        raise DragAnythingError(input_name, "it is an empty string", "Give a trajectory in one of the formats of " + _DOC)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        first_error = error
    # KJNodes and the host's ATI node accept Python-style quoting: 'x' for "x".
    if "'" in text:
        try:
            return json.loads(text.replace("'", '"'))
        except json.JSONDecodeError:
            pass
    raise DragAnythingError(
        input_name,
        f"it is not valid JSON ({first_error.msg} at line {first_error.lineno} column {first_error.colno})",
        f"Check the brackets, commas and quotes; the accepted formats are listed in {_DOC}",
    )
