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

    def __post_init__(self):
        self.entities = list(self.entities)
        self.width, self.height = _frame_size(self.width, self.height)
        if self.num_frames is not None:
            _check_num_frames(self.num_frames)
            self.num_frames = int(self.num_frames)

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
    if entity.anchor or (count == 1 and mode != "pchip"):
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
        raise DragAnythingError(name, f"its points have shape {list(array.shape)}, not [number of points, 2]", fix)
    # numpy reads JSON true/false as numbers; a coordinate must be a real number, not a flag.
    bad = _first_non_number(raw)
    if bad:
        raise DragAnythingError(
            name, f"its points contain something that is not a number (point {bad[0]}: {bad[1]!r})", fix
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
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise DragAnythingError(input_name, "its bytes are not UTF-8 text", "Pass JSON text") from None
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        raise DragAnythingError(
            input_name, "it is an empty string", "Give a trajectory in one of the formats of " + _DOC
        )
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


# ------------------------------------------------------------------------------------------- normalised input


def _looks_normalized(entities: list[Entity]) -> bool:
    """Detection rule: every coordinate lies in [0, 1] and at least one is not a whole number."""
    coordinates = np.concatenate([entity.points.reshape(-1) for entity in entities])
    return bool(((coordinates >= 0) & (coordinates <= 1)).all() and (coordinates != np.round(coordinates)).any())


def _to_pixels(
    input_name: str, entities: list[Entity], normalized: bool | None, width: int | None, height: int | None
) -> list[Entity]:
    """Entities in source pixels: scale 0..1 coordinates by (width, height) when they are normalised.

    `normalized` True/False is obeyed; None applies the detection rule of `_looks_normalized`.
    """
    if normalized is None:
        normalized = _looks_normalized(entities)
    if not normalized:
        return entities
    if width is None or height is None:
        raise DragAnythingError(
            input_name,
            "its coordinates are normalised to 0..1 and the frame size to turn them into pixels is unknown",
            "Pass width= and height= (the size of the image the track was drawn on), or normalized=False if "
            "the values are pixels",
        )
    size = np.array([width, height], dtype=np.float64)
    return [replace(entity, points=entity.points * size) for entity in entities]


def _frame_size(width, height, input_name: str | None = None) -> tuple[int | None, int | None]:
    """Validated optional frame size; errors name `input_name` when the size came from inside that input."""
    for name, value in (("width", width), ("height", height)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            if input_name is None:
                raise DragAnythingError(name, f"{value!r} is not a frame size in pixels", "Pass a positive integer")
            raise DragAnythingError(
                input_name, f"its {name} is {value!r}, not a frame size in pixels", "Give a positive integer or null"
            )
    return (None if width is None else int(width)), (None if height is None else int(height))


def _finish(
    input_name: str,
    entities: list[Entity],
    *,
    width,
    height,
    normalized: bool | None = False,
    offframe: str | None = None,
) -> Trajectories:
    _require_entities(input_name, entities)
    width, height = _frame_size(width, height)
    trajectories = Trajectories(_to_pixels(input_name, entities, normalized, width, height), width, height)
    return trajectories if offframe is None else trajectories.with_offframe(offframe)


# ----------------------------------------------------------------------------------------- id-keyed (VIPSeg)


def parse_vipseg(
    value,
    *,
    width: int | None,
    height: int | None,
    offframe: str | None = "invisible",
    normalized: bool | None = False,
    input_name: str = "VIPSeg trajectories",
) -> Trajectories:
    """Id-keyed tracks, as the official VIPSeg test files store them: {"<panoptic id>": [[x, y], ...], ...}.

    One point per frame in pixels of the original video, whose size the files do not store: pass width and
    height. With a frame size the off-frame policy is applied (default "invisible": about a fifth of the test
    points are tracker positions that left the frame, some tens of thousands of pixels away); offframe=None
    keeps the points untouched.
    """
    data = _decode(value, input_name)
    if not isinstance(data, Mapping):
        raise DragAnythingError(
            input_name,
            f"it is a {type(data).__name__}, not an object mapping ids to tracks",
            'Give {"<id>": [[x, y], ...], ...}',
        )
    entities = [
        _entity(input_name, f"entity {key!r} (number {index + 1})", id=str(key), points=track)
        for index, (key, track) in enumerate(data.items())
    ]
    if offframe is not None and (width is None or height is None):
        raise DragAnythingError(
            input_name,
            "these files do not store the frame size, and the off-frame policy needs it",
            "Pass width= and height= of the original video (or offframe=None to keep every point as stored)",
        )
    return _finish(input_name, entities, width=width, height=height, normalized=normalized, offframe=offframe)


# -------------------------------------------------------------------------------------------------- KJNodes


def parse_kjnodes(
    value,
    *,
    width: int | None = None,
    height: int | None = None,
    normalized: bool | None = None,
    input_name: str = "coordinates",
) -> Trajectories:
    """KJNodes coordinate strings (also read by the host's ATI and WanMove nodes), pixels by default:

    - a flat list of {"x", "y"} (one track);
    - a list of such lists (one track each);
    - a list of JSON strings, each holding one track (or a list of tracks);
    - any of these as a JSON string, single-quoted pseudo-JSON included.
    Extra keys in a point object are ignored. Entities get ids "1", "2", ... in order.
    """
    data = _decode(value, input_name)
    if isinstance(data, list) and data and all(isinstance(item, (str, bytes)) for item in data):
        tracks = []
        for index, text in enumerate(data):
            decoded = _decode(text, f"{input_name} string {index}")
            tracks.extend(_kj_tracks(f"{input_name} string {index}", decoded))
    else:
        tracks = _kj_tracks(input_name, data)
    entities = [
        _entity(input_name, f"track {index}", id=str(index + 1), points=_kj_points(input_name, index, track))
        for index, track in enumerate(tracks)
    ]
    return _finish(input_name, entities, width=width, height=height, normalized=normalized)


def _kj_tracks(input_name: str, data) -> list[list]:
    fix = 'Give [{"x": 10, "y": 20}, ...] for one track or [[{"x": 10, "y": 20}, ...], ...] for several'
    if not isinstance(data, list) or not data:
        kind = "an empty list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise DragAnythingError(input_name, f"it is {kind}, not a list of points", fix)
    if isinstance(data[0], Mapping):
        return [data]
    if isinstance(data[0], list):
        return data
    raise DragAnythingError(input_name, f"its first item {_short(data[0])} is neither a point nor a track", fix)


def _kj_points(input_name: str, index: int, track) -> list:
    if not isinstance(track, list):
        raise DragAnythingError(
            input_name, f"track {index} is {_short(track)}, not a list of points", 'Give [{"x": .., "y": ..}, ...]'
        )
    for position, point in enumerate(track):
        if not isinstance(point, Mapping) or "x" not in point or "y" not in point:
            raise DragAnythingError(
                input_name,
                f"track {index}, point {position} is {_short(point)}, not an object with x and y",
                'Write each point as {"x": <pixels>, "y": <pixels>}',
            )
    return [[point["x"], point["y"]] for point in track]


# --------------------------------------------------------------------------------------------- nested lists


def parse_nested_lists(
    value,
    *,
    width: int | None = None,
    height: int | None = None,
    normalized: bool | None = None,
    input_name: str = "trajectory",
) -> Trajectories:
    """[[x, y], ...] (one track) or [[[x, y], ...], ...] (several), as lists, a JSON string or an array
    ([L, 2] or [N, L, 2]; torch tensors too). Pixels by default; ids "1", "2", ... in order."""
    data = _decode(value, input_name)
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()
    fix = "Give [[x, y], ...] for one track or [[[x, y], ...], ...] for several"
    if isinstance(data, np.ndarray):
        if data.ndim == 2:
            tracks = [data]
        elif data.ndim == 3:
            tracks = list(data)
        else:
            raise DragAnythingError(input_name, f"it is an array of shape {list(data.shape)}", fix)
    elif isinstance(data, (list, tuple)) and data:
        tracks = list(data) if _depth(data) >= 3 else [data]
    else:
        kind = "an empty list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise DragAnythingError(input_name, f"it is {kind}, not a list of tracks", fix)
    entities = [
        _entity(input_name, f"track {index}", id=str(index + 1), points=track) for index, track in enumerate(tracks)
    ]
    return _finish(input_name, entities, width=width, height=height, normalized=normalized)


def _depth(data) -> int:
    """Nesting depth along the first items: 1 for [x, y], 2 for [[x, y]], 3 for [[[x, y]]]."""
    depth = 0
    while isinstance(data, (list, tuple)) and data:
        depth += 1
        data = data[0]
    return depth


# ------------------------------------------------------------------------------------------------ host TRACKS


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def parse_tracks(tracks, *, width: int | None = None, height: int | None = None, input_name: str = "tracks"):
    """The host's TRACKS value -> Trajectories.

    {"track_path": [T, N, 2] float pixels, "track_visibility": [T, N] bool} (torch tensors or arrays). Track n
    becomes entity str(n + 1) with T points, one per frame, and its visibility column. A visibility of shape
    [T, 1] (what the host's WanMove nodes produce from a MASK) applies to every track; a missing one means all
    visible.
    """
    if not isinstance(tracks, Mapping) or "track_path" not in tracks:
        raise DragAnythingError(
            input_name,
            "it is not a TRACKS value (a dict with 'track_path' [frames, tracks, 2])",
            "Connect a TRACKS output, or pass one of the formats listed in " + _DOC,
        )
    path = _numpy(tracks["track_path"])
    if path.ndim != 3 or path.shape[-1] != 2 or path.shape[0] == 0:
        raise DragAnythingError(
            input_name,
            f"its track_path has shape {list(path.shape)}, not [frames, tracks, 2]",
            "Build it as the host's WanMove nodes do: float [T, N, 2] pixel positions",
        )
    _require_entities(input_name, list(range(path.shape[1])))
    visibility = tracks.get("track_visibility")
    if visibility is None:
        visibility = np.ones(path.shape[:2], dtype=bool)
    visibility = _numpy(visibility)
    if visibility.ndim == 2 and visibility.shape[0] == path.shape[0] and visibility.shape[1] in (1, path.shape[1]):
        visibility = np.broadcast_to(visibility, path.shape[:2])
    else:
        raise DragAnythingError(
            input_name,
            f"its track_visibility has shape {list(visibility.shape)}, not [{path.shape[0]}, {path.shape[1]}]",
            "Give one true/false per frame and track (or leave it out)",
        )
    entities = [
        _entity(
            input_name,
            f"track {index}",
            id=str(index + 1),
            points=path[:, index].astype(np.float64),
            visible=visibility[:, index].astype(bool),
        )
        for index in range(path.shape[1])
    ]
    return _finish(input_name, entities, width=width, height=height)


def to_tracks(
    trajectories: Trajectories,
    num_frames: int,
    *,
    mode: str = "index",
    framing=None,
    offframe: str = "invisible",
) -> dict[str, np.ndarray]:
    """Trajectories -> the host's TRACKS layout as numpy arrays (the node converts them to torch tensors).

    {"track_path": float32 [num_frames, N, 2], "track_visibility": bool [num_frames, N]}, resampled with `mode`.
    With a `framing.Framing`, positions are in model pixels and the off-frame policy is applied in the model
    frame; without one they stay in source pixels.
    """
    points, visible = trajectories.resampled(num_frames, mode)
    if framing is not None:
        points, visible = framing.tracks(points, visible, offframe=offframe)
    return {
        "track_path": np.ascontiguousarray(points.transpose(1, 0, 2), dtype=np.float32),
        "track_visibility": np.ascontiguousarray(visible.T, dtype=bool),
    }


# ------------------------------------------------------------------------------------------ the pack's format

_TOP_KEYS = ("format", "version", "width", "height", "num_frames", "image", "entities")
_ENTITY_KEYS = ("id", "label", "points", "frames", "radius", "anchor", "clicks", "box", "mask_name", "visible")


def to_json(trajectories: Trajectories, indent: int | None = None) -> str:
    """The pack's own JSON (docs/trajectory-format.md). parse_trajectories(to_json(t)) == t, exactly."""
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "width": trajectories.width,
        "height": trajectories.height,
        "num_frames": trajectories.num_frames,
        "image": trajectories.image,
        "entities": [
            {
                "id": entity.id,
                "label": entity.label,
                "points": [[_number(x), _number(y)] for x, y in entity.points.tolist()],
                "frames": None if entity.frames is None else entity.frames.tolist(),
                "radius": None if entity.radius is None else _number(entity.radius),
                "anchor": entity.anchor,
                "clicks": [
                    {"x": _number(click.x), "y": _number(click.y), "positive": bool(click.positive)}
                    for click in entity.clicks
                ],
                "box": None if entity.box is None else [_number(v) for v in entity.box],
                "mask_name": entity.mask_name,
                "visible": None if entity.visible is None else entity.visible.tolist(),
            }
            for entity in trajectories.entities
        ],
    }
    return json.dumps(document, indent=indent, allow_nan=False)


def _number(value: float) -> int | float:
    """Whole numbers as JSON integers (readable, and read back as the same float64)."""
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def parse_pack_json(value, *, input_name: str = "trajectories") -> Trajectories:
    """The pack's own JSON, as written by `to_json`, the editor and the nodes (docs/trajectory-format.md)."""
    data = _decode(value, input_name)
    if not isinstance(data, Mapping) or data.get("format") != FORMAT_NAME:
        raise DragAnythingError(
            input_name,
            f'it is not a "{FORMAT_NAME}" document (its "format" field is missing or different)',
            f'Start the object with "format": "{FORMAT_NAME}", "version": {FORMAT_VERSION}',
        )
    _unknown_keys(input_name, "the document", data, _TOP_KEYS)
    version = data.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise DragAnythingError(
            input_name,
            f"its version is {version!r}; this release reads version {FORMAT_VERSION}",
            "Write the file with this release, or update the pack",
        )
    width, height = _frame_size(data.get("width"), data.get("height"), input_name)
    num_frames = data.get("num_frames")
    if num_frames is not None:
        try:
            _check_num_frames(num_frames)
        except DragAnythingError as error:
            raise DragAnythingError(input_name, f"num_frames: {error.problem}", error.fix) from None
    image = data.get("image")
    if image is not None and not isinstance(image, str):
        raise DragAnythingError(input_name, f"its image is {_short(image)}, not a file name", "Use a string or null")
    records = data.get("entities")
    if not isinstance(records, list):
        raise DragAnythingError(input_name, '"entities" is missing or not a list', 'Give "entities": [{...}, ...]')
    _require_entities(input_name, records)
    entities, seen = [], set()
    for index, record in enumerate(records):
        where = f"entity {index}"
        if not isinstance(record, Mapping):
            raise DragAnythingError(input_name, f"{where} is {_short(record)}, not an object", "See " + _DOC)
        _unknown_keys(input_name, where, record, _ENTITY_KEYS)
        entity_id = record.get("id")
        if not isinstance(entity_id, str) or not entity_id:
            raise DragAnythingError(input_name, f"{where} has no string id", 'Give each entity "id": "<text>"')
        if entity_id in seen:
            raise DragAnythingError(input_name, f"{where} repeats the id {entity_id!r}", "Give every entity its own id")
        seen.add(entity_id)
        where = f"entity {index} ({entity_id!r})"
        if "points" not in record:
            raise DragAnythingError(input_name, f"{where} has no points", 'Give "points": [[x, y], ...]')
        for key, kind in (("label", str), ("mask_name", str), ("anchor", bool)):
            if key in record and record[key] is not None and not isinstance(record[key], kind):
                raise DragAnythingError(
                    input_name, f"{where}: its {key} is {_short(record[key])}", f"Give {key} as a {kind.__name__}"
                )
        entities.append(
            _entity(
                input_name,
                where,
                id=entity_id,
                points=record["points"],
                frames=record.get("frames"),
                radius=record.get("radius"),
                anchor=record.get("anchor") or False,
                label=record.get("label") or "",
                clicks=_clicks(input_name, where, record.get("clicks") or []),
                box=record.get("box"),
                mask_name=record.get("mask_name"),
                visible=record.get("visible"),
            )
        )
    return Trajectories(entities, width, height, num_frames, image)


def _unknown_keys(input_name: str, where: str, record: Mapping, known: tuple[str, ...]) -> None:
    unknown = sorted(set(record) - set(known))
    if unknown:
        raise DragAnythingError(
            input_name,
            f"{where} has unknown field(s) {', '.join(map(repr, unknown))}",
            f"The fields are {', '.join(known)} (see {_DOC}); check the spelling",
        )


def _clicks(input_name: str, where: str, raw) -> list[Click]:
    fix = 'Give clicks as [{"x": <px>, "y": <px>, "positive": true}, ...]'
    if not isinstance(raw, list):
        raise DragAnythingError(input_name, f"{where}: its clicks are {_short(raw)}, not a list", fix)
    clicks = []
    for position, click in enumerate(raw):
        ok = isinstance(click, Mapping) and set(click) <= {"x", "y", "positive"} and {"x", "y"} <= set(click)
        coordinates = [click.get("x"), click.get("y")] if ok else []
        ok = ok and all(
            not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in coordinates
        )
        ok = ok and isinstance(click.get("positive", True), bool)
        if not ok:
            raise DragAnythingError(input_name, f"{where}: click {position} is {_short(click)}", fix)
        clicks.append(Click(float(click["x"]), float(click["y"]), click.get("positive", True)))
    return clicks


# ------------------------------------------------------------------------------------------------ entry point


def parse_trajectories(
    value,
    *,
    width: int | None = None,
    height: int | None = None,
    normalized: bool | None = None,
    offframe: str | None = None,
    input_name: str = "trajectories",
) -> Trajectories:
    """Any supported trajectory value -> Trajectories, the format detected from its shape.

    value: a JSON string (single-quoted pseudo-JSON accepted) or decoded Python objects, a numpy array or
    torch tensor of points, the host's TRACKS dict, or a Trajectories (returned as it is, after the optional
    steps below). Detection, in order:
      dict with "format"            -> the pack's JSON (`parse_pack_json`)
      dict with "track_path"        -> the host's TRACKS (`parse_tracks`)
      dict of {"trajectory": ...}   -> the official demo.json (`parse_official_demo`)
      dict of lists                 -> id-keyed tracks as in the VIPSeg files (`parse_vipseg`)
      list of {"x","y"} / of lists of them / of JSON strings -> KJNodes (`parse_kjnodes`)
      list of [x, y] / of lists of them, arrays               -> nested lists (`parse_nested_lists`)
    width/height: the source frame size when the format does not store it (stored values win when present).
    normalized: True scales 0..1 coordinates by width/height; False reads pixels; None (default) detects
        normalised values (every coordinate within 0..1 and one not whole) in the formats without their own
        units (KJNodes, nested lists). The official, VIPSeg, TRACKS and pack formats are always pixels.
    offframe: None (default) keeps points as given; "invisible" or "clip" applies the off-frame policy in the
        source frame (`apply_offframe`), which needs the frame size.
    """
    data = _decode(value, input_name)
    if isinstance(data, Trajectories):
        trajectories = data
    elif isinstance(data, Mapping):
        if normalized and not _is_id_keyed(data):
            raise DragAnythingError(
                input_name,
                "normalized=True was given, but this format stores pixel coordinates",
                "Leave normalized unset for this input",
            )
        if "format" in data:
            trajectories = parse_pack_json(data, input_name=input_name)
        elif "track_path" in data:
            trajectories = parse_tracks(data, input_name=input_name)
        elif data and all(isinstance(record, Mapping) and "trajectory" in record for record in data.values()):
            trajectories = parse_official_demo(data, input_name=input_name)
        elif _is_id_keyed(data):
            trajectories = parse_vipseg(
                data, width=width, height=height, offframe=None, normalized=bool(normalized), input_name=input_name
            )
        else:
            raise DragAnythingError(
                input_name,
                "it is an object in none of the known layouts"
                + (f" (keys: {_short(list(data)[:6])})" if data else " (it is empty)"),
                f'Use one of the formats in {_DOC}; the pack\'s own starts with "format": "{FORMAT_NAME}"',
            )
    elif hasattr(data, "detach") or isinstance(data, np.ndarray) or (isinstance(data, (list, tuple)) and data):
        first = data
        while isinstance(first, (list, tuple)) and first:
            first = first[0]
        parse = parse_kjnodes if isinstance(first, (Mapping, str, bytes)) else parse_nested_lists
        trajectories = parse(data, width=width, height=height, normalized=normalized, input_name=input_name)
    else:
        kind = "an empty list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise DragAnythingError(
            input_name, f"it is {kind}, which holds no trajectory", f"Use one of the formats in {_DOC}"
        )
    width, height = _frame_size(width, height)
    trajectories = replace(
        trajectories,
        width=trajectories.width if trajectories.width is not None else width,
        height=trajectories.height if trajectories.height is not None else height,
    )
    return trajectories if offframe is None else trajectories.with_offframe(offframe)


def _is_id_keyed(data: Mapping) -> bool:
    return bool(data) and all(isinstance(track, list) for track in data.values())


def load_trajectories(
    path: str | Path,
    *,
    width: int | None = None,
    height: int | None = None,
    normalized: bool | None = None,
    offframe: str | None = None,
) -> Trajectories:
    """A trajectory file (any supported format) or an official demo folder.

    An official demo.json beside its demo.jpg takes its frame size and image name from the image.
    """
    path = Path(path)
    if path.is_dir() or (path.is_file() and (path.parent / OFFICIAL_DEMO_IMAGE).is_file() and _is_official(path)):
        trajectories, _ = load_official_demo(path)
        return parse_trajectories(trajectories, offframe=offframe, input_name=str(path))
    if not path.is_file():
        raise DragAnythingError(str(path), "the file does not exist", "Check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DragAnythingError(str(path), f"it cannot be read as text ({error})", "Pass a JSON file") from None
    return parse_trajectories(
        text, width=width, height=height, normalized=normalized, offframe=offframe, input_name=str(path)
    )


def _is_official(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(record, dict) and "trajectory" in record for record in data.values())
    )
