"""Easing: how fast an entity travels along its path over time, as a map from time to progress, both in [0, 1].

An entity's easing is a preset name or a custom curve:

- "linear": progress = t (the default; the same as no easing).
- "ease_in": t^2, slow start. "ease_out": 1 - (1 - t)^2, slow end. "ease_in_out": t^2 (3 - 2 t), slow at both
  ends. The same formulas as the host's GenerateTracks node, so a path eased here moves as a host track does.
- A custom curve: control points [[t, progress], ...] with t strictly increasing from 0 to 1 and progress
  non-decreasing from 0 to 1. It is interpolated with a monotone cubic (PCHIP), so it passes through every
  control point, never runs backwards and has no speed jumps at the control points.

A curve drawn with some other interpolation (a host's curve editor) becomes a custom curve by sampling it
(`sampled_easing`), so the pace is the one that editor draws.

`resample` applies the easing by warping the clock within the span of frames a path covers; see
docs/trajectory-format.md ("Easing").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import DragAnythingError
from .validation import FORMAT_DOC, json_number, short

EASING_PRESETS = ("linear", "ease_in", "ease_out", "ease_in_out")

_CURVE_FIX = (
    'Give easing as one of "linear", "ease_in", "ease_out", "ease_in_out", or as a curve [[t, progress], ...] '
    f"from [0, 0] to [1, 1], t strictly increasing and progress never decreasing (see {FORMAT_DOC})"
)
_DRAWN_CURVE_FIX = (
    "Draw the curve from (0, 0) to (1, 1), each point to the right of the one before and none lower (points at "
    "one height make a pause)"
)


def easing_value(name: str, raw, fix: str = _CURVE_FIX) -> str | np.ndarray | None:
    """A validated easing: None, a preset name, or a custom curve as float64 [K, 2] (K >= 2); errors end in `fix`."""
    if raw is None or (isinstance(raw, str) and raw in EASING_PRESETS):
        return raw
    if isinstance(raw, str):
        raise DragAnythingError(name, f"its easing {raw!r} is not a preset", fix)
    if isinstance(raw, np.ndarray):
        curve = raw
    elif isinstance(raw, Sequence) and all(
        isinstance(pair, Sequence)
        and not isinstance(pair, str)
        and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in pair)
        for pair in raw
    ):
        curve = np.asarray(raw, dtype=object)
    else:
        raise DragAnythingError(name, f"its easing {short(raw)} is neither a preset name nor a curve", fix)
    if curve.ndim != 2 or curve.shape[1:] != (2,) or len(curve) < 2 or curve.dtype.kind not in "iufO":
        raise DragAnythingError(name, f"its easing curve {short(raw)} is not a list of [t, progress] pairs", fix)
    curve = curve.astype(np.float64)
    if not np.isfinite(curve).all():
        raise DragAnythingError(name, f"its easing curve {short(raw)} holds a value that is not finite", fix)
    t, progress = curve[:, 0], curve[:, 1]
    if (t[0], progress[0]) != (0.0, 0.0) or (t[-1], progress[-1]) != (1.0, 1.0):
        raise DragAnythingError(
            name,
            f"its easing curve starts at {t[0]:g}, {progress[0]:g} and ends at {t[-1]:g}, {progress[-1]:g}; it "
            "must run from [0, 0] to [1, 1]",
            fix,
        )
    if (np.diff(t) <= 0).any():
        index = int(np.argmax(np.diff(t) <= 0)) + 1
        raise DragAnythingError(
            name, f"its easing curve's t values are not strictly increasing (point {index}: t = {t[index]:g})",
            fix,
        )
    if (np.diff(progress) < 0).any():
        index = int(np.argmax(np.diff(progress) < 0)) + 1
        raise DragAnythingError(
            name,
            f"its easing curve runs backwards (point {index}: progress {progress[index]:g} after "
            f"{progress[index - 1]:g})",
            fix,
        )
    return curve


# A curve of another interpolation is sampled at this many evenly spaced times on each piece between two control
# points, and CORNER_GAP either side of each control point. PCHIP through those samples follows a monotone cubic
# through the same points to within about 1e-6 of the progress (5e-5 at worst, on short steep pieces), and a
# piecewise-linear curve exactly except within CORNER_GAP of its corners: between two samples of one straight
# piece PCHIP is that straight line, so only the gaps around the corners are rounded off.
SAMPLES_PER_PIECE = 64
CORNER_GAP = 1e-6


def sampled_easing(name: str, control_points, progress_at: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A custom curve [K, 2] that follows a curve drawn through `control_points` with its own interpolation.

    control_points: [[t, progress], ...], checked as any custom easing is, so an error names `name` and these
    points (not the samples). progress_at: the curve's interpolation, progress at an array of times; between
    monotone control points it must not run backwards (monotone cubic and piecewise-linear curves don't).
    """
    curve = easing_value(name, control_points, _DRAWN_CURVE_FIX)
    if not isinstance(curve, np.ndarray):
        raise DragAnythingError(name, f"it is {short(control_points)}, not a curve's control points",
                                _DRAWN_CURVE_FIX)
    knots = curve[:, 0]
    pieces = np.linspace(knots[:-1], knots[1:], SAMPLES_PER_PIECE + 1).ravel()
    t = np.union1d(pieces, np.clip(knots[:, None] + [-CORNER_GAP, CORNER_GAP], 0.0, 1.0))
    progress = np.clip(np.asarray(progress_at(t), dtype=np.float64), 0.0, 1.0)
    progress[np.searchsorted(t, knots)] = curve[:, 1]  # through the points exactly, whatever the rounding
    # Rounding can put a sample of a flat stretch an ulp below the one before it, which would read as running back.
    progress = np.maximum.accumulate(progress)
    return easing_value(name, np.column_stack([t, progress]), _DRAWN_CURVE_FIX)


def is_linear(easing) -> bool:
    """True when the easing leaves time as it is (none, or "linear")."""
    return easing is None or (isinstance(easing, str) and easing == "linear")


def ease(easing, t) -> np.ndarray:
    """Progress in [0, 1] at times t in [0, 1] (float64, the shape of t), for a validated easing."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    if is_linear(easing):
        return t.copy()
    if isinstance(easing, str):
        if easing == "ease_in":
            return t * t
        if easing == "ease_out":
            return 1.0 - (1.0 - t) ** 2
        return t * t * (3.0 - 2.0 * t)
    if len(easing) == 2:  # two control points, [0, 0] and [1, 1]: a straight line
        return t.copy()
    from scipy.interpolate import PchipInterpolator

    return np.clip(PchipInterpolator(easing[:, 0], easing[:, 1])(t), 0.0, 1.0)


def easing_json(easing):
    """The easing as the pack's JSON writes it: the preset name, or the curve as [[t, progress], ...]."""
    if easing is None or isinstance(easing, str):
        return easing
    return [[json_number(t), json_number(p)] for t, p in easing.tolist()]
