"""Tracks at a frame count (the resampling modes) and the policy for points outside the frame."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..errors import DragAnythingError, check_choice
from .easing import ease, is_linear
from .validation import FORMAT_DOC, check_num_frames, hidden_mask

if TYPE_CHECKING:
    from .model import Entity, Trajectories

RESAMPLE_MODES = ("index", "pchip", "arc_length", "time")
# "auto" picks one of RESAMPLE_MODES from the trajectories themselves (resolve_resample_mode).
RESAMPLE_CHOICES = ("auto", *RESAMPLE_MODES)
OFFFRAME_POLICIES = ("invisible", "clip")


class EntityMotion(NamedTuple):
    """One entity's motion at F frames (source pixels): its track point, whether it is shown, and its size and
    rotation (degrees clockwise) relative to frame 0, about the track point."""

    points: np.ndarray  # [F, 2] float64
    visible: np.ndarray  # [F] bool
    scale: np.ndarray  # [F] float64
    rotation: np.ndarray  # [F] float64


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

    Easing (`entity.easing`) warps the clock within the frames the path spans (index: 0 to the last point's
    frame; pchip and arc_length: 0 to F-1; time: the first stamp to the last): frame f is evaluated at
    a + (b - a) * progress((f - a) / (b - a)), a fractional frame; the index mode interpolates linearly between
    its points there. Linear easing leaves every mode exactly as above.

    Visibility: in "index" mode each frame takes its point's flag; in the other modes a frame takes the flag of
    the source point nearest to it in the mode's own parameter (point index, arc length or frame). Frames in the
    entity's `hidden` ranges are not visible, whatever the flags say.
    """
    motion = resample_motion(entity, num_frames, mode)
    return motion.points, motion.visible


def resample_motion(entity: Entity, num_frames: int, mode: str = "index") -> EntityMotion:
    """`resample_track` plus the entity's scale and rotation, resampled with the same parameter as its points
    (scale as its logarithm, so a zoom runs at a steady rate)."""
    check_num_frames(num_frames)
    check_choice("resampling mode", mode, RESAMPLE_MODES, "a resampling mode", f"see {FORMAT_DOC}")
    count = len(entity.points)
    # The columns that travel with the path: x, y, then log scale and rotation (zeros when the entity has none).
    columns = np.concatenate([
        entity.points,
        np.log(entity.scale)[:, None] if entity.scale is not None else np.zeros((count, 1)),
        entity.rotation[:, None] if entity.rotation is not None else np.zeros((count, 1)),
    ], axis=1)
    values, visible = _resample_columns(entity, columns, num_frames, mode)
    visible = visible & ~hidden_mask(entity.hidden, num_frames)
    # Relative to frame 0, so a path that starts scaled or turned moves its points from where they are.
    return EntityMotion(np.ascontiguousarray(values[:, :2]), visible, np.exp(values[:, 2] - values[0, 2]), values[:, 3] - values[0, 3])


def _resample_columns(entity: Entity, columns: np.ndarray, num_frames: int, mode: str):
    """The per-point columns [L, D] at num_frames frames, and the visibility; the modes of `resample_track`."""
    visible = entity.visibility
    count = len(columns)
    if entity.anchor or (count == 1 and mode != "pchip"):
        return np.repeat(columns[:1], num_frames, axis=0), np.repeat(visible[:1], num_frames)

    if mode == "index":
        last = min(count, num_frames) - 1
        clock = _eased_clock(entity.easing, num_frames, 0.0, float(last))
        if clock is None:
            index = np.minimum(np.arange(num_frames), count - 1)
            return columns[index], visible[index]
        param = np.arange(count, dtype=np.float64)
        return _interp_columns(clock, param, columns), visible[_nearest(param, clock)]

    clock = _eased_clock(entity.easing, num_frames, 0.0, float(num_frames - 1))
    if mode == "pchip":
        # Imported here: scipy.interpolate takes longer to import (over a second on a busy CPU) than this whole
        # package, and only this mode needs it.
        from scipy.interpolate import PchipInterpolator

        if count == 1:
            columns = np.concatenate([columns, columns + np.array([1.0, 1.0] + [0.0] * (columns.shape[1] - 2))])
            visible = np.concatenate([visible, visible])
        param = np.linspace(0.0, 1.0, len(columns))
        samples = np.linspace(0.0, 1.0, num_frames) if clock is None else clock / (num_frames - 1)
        return PchipInterpolator(param, columns, axis=0)(samples), visible[_nearest(param, samples)]

    if mode == "arc_length":
        lengths = np.linalg.norm(np.diff(columns[:, :2], axis=0), axis=1)
        param = np.concatenate([[0.0], np.cumsum(lengths)])
        if param[-1] == 0.0:
            return np.repeat(columns[:1], num_frames, axis=0), np.repeat(visible[:1], num_frames)
        samples = np.linspace(0.0, param[-1], num_frames) if clock is None else clock / (num_frames - 1) * param[-1]
        return _interp_columns(samples, param, columns), visible[_nearest(param, samples)]

    if entity.frames is None:
        raise DragAnythingError(
            f"entity {entity.id!r}",
            f"resampling mode 'time' needs a frame number for each of its {count} points, and it has none",
            "Give the entity `frames` (one strictly increasing frame index per point), or use the 'index', "
            "'pchip' or 'arc_length' mode",
        )
    param = entity.frames.astype(np.float64)
    samples = np.arange(num_frames, dtype=np.float64)
    clock = _eased_clock(entity.easing, num_frames, param[0], param[-1])
    samples = samples if clock is None else clock
    return _interp_columns(samples, param, columns), visible[_nearest(param, samples)]


def resolve_resample_mode(trajectories: Trajectories, num_frames: int, mode: str = "auto") -> str:
    """``mode``, or for "auto" the mode the trajectories ask for at ``num_frames`` frames.

    "auto": "time" when every moving entity has per-point frames that fit the video; "index" when the file holds
    one point per frame (the official demo.json); else "arc_length" (constant speed through the points).
    """
    check_choice("resampling mode", mode, RESAMPLE_CHOICES, "a resampling mode", f"see {FORMAT_DOC}")
    if mode != "auto":
        return mode
    check_num_frames(num_frames)
    moving = [entity for entity in trajectories if not entity.anchor and len(entity.points) > 1]
    if moving and all(entity.frames is not None for entity in moving):
        return "time" if all(entity.frames[-1] < num_frames for entity in moving) else "arc_length"
    if trajectories.num_frames in (None, num_frames) and all(len(entity.points) >= num_frames for entity in moving):
        return "index"
    return "arc_length"


def _eased_clock(easing, num_frames: int, start: float, end: float) -> np.ndarray | None:
    """The fractional frame each video frame is evaluated at, with the clock warped by the easing between the
    frames `start` and `end` (frames outside keep their own number); None when the easing changes nothing."""
    if is_linear(easing) or end <= start:
        return None
    frames = np.arange(num_frames, dtype=np.float64)
    inside = (frames >= start) & (frames <= end)
    frames[inside] = start + (end - start) * ease(easing, (frames[inside] - start) / (end - start))
    return frames


def _interp_columns(samples: np.ndarray, param: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Piecewise-linear columns at `samples` of a non-decreasing parameter; holds the ends."""
    return np.stack([np.interp(samples, param, column) for column in columns.T], axis=-1)


def _nearest(param: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Index of the entry of the sorted `param` nearest to each sample (ties go to the earlier entry)."""
    right = np.clip(np.searchsorted(param, samples), 1, len(param) - 1)
    left = right - 1
    return np.where(samples - param[left] <= param[right] - samples, left, right)


def apply_offframe(
    points: np.ndarray, visible: np.ndarray | None, width: float, height: float, policy: str
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the off-frame policy to points [..., 2] in a frame of width x height; returns (points, visible).

    A point is in frame when 0 <= x <= width and 0 <= y <= height (the image's extent, see the module doc).
    "invisible" keeps every point where it is and marks the off-frame ones not visible (downstream maps skip
    them); "clip" moves off-frame points onto the nearest edge of the frame and leaves their visibility alone.
    """
    check_choice("offframe", policy, OFFFRAME_POLICIES, "an off-frame policy", f"see {FORMAT_DOC}")
    points = np.asarray(points, dtype=np.float64)
    visible = np.ones(points.shape[:-1], dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
    if policy == "clip":
        return np.clip(points, 0.0, [float(width), float(height)]), visible.copy()
    x, y = points[..., 0], points[..., 1]
    inside = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
    return points.copy(), visible & inside
