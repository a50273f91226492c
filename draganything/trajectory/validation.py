"""Checks shared by the trajectory data model and its parsers: field validators, frame counts and sizes, JSON text.

Every check raises DragAnythingError naming the input; the parsers re-address errors to the position in the
input they came from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np

from ..errors import DragAnythingError, check_positive_int

# Where every format, the off-frame policy and the resampling modes are specified; quoted in error messages.
FORMAT_DOC = "docs/trajectory-format.md"


def check_num_frames(num_frames) -> int:
    return check_positive_int("num_frames", num_frames, "a frame count")


def frame_size(width, height, input_name: str | None = None) -> tuple[int | None, int | None]:
    """Validated optional frame size; errors name `input_name` when the size came from inside that input."""
    sizes = []
    for name, value in (("width", width), ("height", height)):
        try:
            sizes.append(None if value is None else check_positive_int(name, value, "a frame size in pixels"))
        except DragAnythingError:
            if input_name is None:
                raise
            raise DragAnythingError(
                input_name, f"its {name} is {value!r}, not a frame size in pixels", "Give a positive integer or null"
            ) from None
    return sizes[0], sizes[1]


def points_array(name: str, raw) -> np.ndarray:
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
        listed = isinstance(point, (Sequence, np.ndarray)) and not isinstance(point, (str, bytes))
        values = point if listed else [point]
        if any(isinstance(v, bool) or not isinstance(v, (int, float, np.number)) for v in values):
            return index, point
    return None


def frames_array(name: str, raw, count: int) -> np.ndarray:
    fix = "Give one integer frame index per point, starting at 0 or later and strictly increasing"
    try:
        array = np.asarray(raw)
    except (ValueError, TypeError):
        raise DragAnythingError(name, "its frames are not a flat list of integers", fix) from None
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise DragAnythingError(name, f"its frames {short(raw)} are not a flat list of integers", fix)
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


def bool_array(name: str, what: str, raw, count: int) -> np.ndarray:
    array = np.asarray(raw)
    if array.ndim != 1 or len(array) != count or (array.size and array.dtype.kind not in "bui"):
        raise DragAnythingError(
            name,
            f"its {what} flags {short(raw)} are not one true/false per point ({count} points)",
            f"Give {what} as a list of {count} booleans, or leave it out",
        )
    return array.astype(bool)


def positive_number(name: str, what: str, raw) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, np.number)) or not math.isfinite(raw) or raw <= 0:
        raise DragAnythingError(
            name, f"its {what} is {raw!r}, not a positive number of pixels", f"Give a {what} > 0, or null to derive it"
        )
    return float(raw)


def box_tuple(name: str, raw) -> tuple[float, float, float, float]:
    fix = "Give the box as [x0, y0, x1, y1] in source pixels with x0 < x1 and y0 < y1, or null"
    try:
        array = np.asarray(raw)
    except (ValueError, TypeError):
        array = np.asarray([None])
    if array.shape != (4,) or array.dtype.kind not in "iuf" or not np.isfinite(array).all():
        raise DragAnythingError(name, f"its box {short(raw)} is not four finite numbers", fix)
    x0, y0, x1, y1 = (float(v) for v in array)
    if not (x0 < x1 and y0 < y1):
        raise DragAnythingError(name, f"its box {[x0, y0, x1, y1]} has no area", fix)
    return x0, y0, x1, y1


def hidden_ranges(name: str, raw) -> tuple[tuple[int, int | None], ...]:
    """Validated hidden frame ranges: ((first, last or None), ...), inclusive, first >= 1."""
    fix = ('Give hidden as a list of [first, last] frame ranges (inclusive, first frame 1 or later, last null for '
           '"to the end"), e.g. [[4, 7], [12, null]]; the first frame is always visible')
    if not isinstance(raw, (list, tuple)):
        raise DragAnythingError(name, f"its hidden frames {short(raw)} are not a list of [first, last] ranges", fix)
    ranges = []
    for index, pair in enumerate(raw):
        ok = isinstance(pair, (list, tuple)) and len(pair) == 2
        first, last = pair if ok else (None, None)
        ok = ok and _is_int(first) and (last is None or _is_int(last))
        if not ok:
            raise DragAnythingError(name, f"hidden range {index} is {short(pair)}, not [first, last] frames", fix)
        if first < 1:
            raise DragAnythingError(
                name, f"hidden range {index} starts at frame {first}; the first frame (0) shows every entity, "
                "where its mask is", fix)
        if last is not None and last < first:
            raise DragAnythingError(name, f"hidden range {index} ends at frame {last}, before it starts ({first})",
                                    fix)
        ranges.append((int(first), None if last is None else int(last)))
    return tuple(ranges)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def hidden_mask(ranges, num_frames: int) -> np.ndarray:
    """bool [num_frames]: True on the frames the ranges hide (ranges past the end are cut there)."""
    hidden = np.zeros(num_frames, dtype=bool)
    for first, last in ranges:
        hidden[first : num_frames if last is None else last + 1] = True
    return hidden


def number_array(name: str, what: str, raw, count: int, *, positive: bool) -> np.ndarray:
    """[count] float64 of finite numbers (positive ones when asked), one per point."""
    kind = "positive number" if positive else "number"
    fix = f"Give {what} as a list of {count} {kind}s, one per point, or leave it out"
    values = raw if isinstance(raw, (list, tuple, np.ndarray)) else None
    if values is None or any(isinstance(v, bool) or not isinstance(v, (int, float, np.number)) for v in values):
        raise DragAnythingError(name, f"its {what} {short(raw)} is not a list of numbers", fix)
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) != count:
        raise DragAnythingError(name, f"its {what} has {array.size} values for {count} points", fix)
    bad = ~np.isfinite(array) | ((array <= 0) if positive else False)
    if bad.any():
        index = int(np.argmax(bad))
        raise DragAnythingError(name, f"its {what} at point {index} is {float(array[index])!r}, not a {kind}", fix)
    return array


def json_number(value: float) -> int | float:
    """Whole numbers as JSON integers (readable, and read back as the same float64)."""
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def optional_arrays_equal(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def require_entities(input_name: str, entities: list) -> None:
    if not entities:
        raise DragAnythingError(
            input_name, "it holds no entity (no track at all)", "Add at least one entity with at least one point"
        )


def decode_json(value, input_name: str):
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
            input_name, "it is an empty string", "Give a trajectory in one of the formats of " + FORMAT_DOC
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
        f"Check the brackets, commas and quotes; the accepted formats are listed in {FORMAT_DOC}",
    )
