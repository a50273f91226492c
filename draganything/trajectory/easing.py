"""Easing: how fast an entity travels along its path over time, as a map from time to progress, both in [0, 1].

An entity's easing is a preset name or a custom curve:

- "linear": progress = t (the default; the same as no easing).
- "ease_in": t^2, slow start. "ease_out": 1 - (1 - t)^2, slow end. "ease_in_out": t^2 (3 - 2 t), slow at both
  ends. The same formulas as the host's GenerateTracks node, so a path eased here moves as a host track does.
- A custom curve: control points [[t, progress], ...] with t strictly increasing from 0 to 1 and progress
  non-decreasing from 0 to 1. It is interpolated with a monotone cubic (PCHIP), so it passes through every
  control point, never runs backwards and has no speed jumps at the control points.

`resample` applies the easing by warping the clock within the span of frames a path covers; see
docs/trajectory-format.md ("Easing").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DragAnythingError
from .validation import FORMAT_DOC, json_number, short

EASING_PRESETS = ("linear", "ease_in", "ease_out", "ease_in_out")

_CURVE_FIX = (
    'Give easing as one of "linear", "ease_in", "ease_out", "ease_in_out", or as a curve [[t, progress], ...] '
    f"from [0, 0] to [1, 1], t strictly increasing and progress never decreasing (see {FORMAT_DOC})"
)


def easing_value(name: str, raw) -> str | np.ndarray | None:
    """A validated easing: None, a preset name, or a custom curve as float64 [K, 2] (K >= 2)."""
    if raw is None or (isinstance(raw, str) and raw in EASING_PRESETS):
        return raw
    if isinstance(raw, str):
        raise DragAnythingError(name, f"its easing {raw!r} is not a preset", _CURVE_FIX)
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
        raise DragAnythingError(name, f"its easing {short(raw)} is neither a preset name nor a curve", _CURVE_FIX)
    if curve.ndim != 2 or curve.shape[1:] != (2,) or len(curve) < 2 or curve.dtype.kind not in "iufO":
        raise DragAnythingError(name, f"its easing curve {short(raw)} is not a list of [t, progress] pairs", _CURVE_FIX)
    curve = curve.astype(np.float64)
    if not np.isfinite(curve).all():
        raise DragAnythingError(name, f"its easing curve {short(raw)} holds a value that is not finite", _CURVE_FIX)
    t, progress = curve[:, 0], curve[:, 1]
    if (t[0], progress[0]) != (0.0, 0.0) or (t[-1], progress[-1]) != (1.0, 1.0):
        raise DragAnythingError(
            name,
            f"its easing curve starts at {t[0]:g}, {progress[0]:g} and ends at {t[-1]:g}, {progress[-1]:g}; it "
            "must run from [0, 0] to [1, 1]",
            _CURVE_FIX,
        )
    if (np.diff(t) <= 0).any():
        index = int(np.argmax(np.diff(t) <= 0)) + 1
        raise DragAnythingError(
            name, f"its easing curve's t values are not strictly increasing (point {index}: t = {t[index]:g})",
            _CURVE_FIX,
        )
    if (np.diff(progress) < 0).any():
        index = int(np.argmax(np.diff(progress) < 0)) + 1
        raise DragAnythingError(
            name,
            f"its easing curve runs backwards (point {index}: progress {progress[index]:g} after "
            f"{progress[index - 1]:g})",
            _CURVE_FIX,
        )
    return curve


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
