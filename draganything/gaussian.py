"""2D Gaussian trajectory maps: one grey image per frame with a bump at every entity's point.

Two modes:

``"template"`` (default; what the released weights saw)
    The official construction, bit for bit. A 200x200 uint8 template (isotropic Gaussian, sigma 40 px, centred on
    pixel (100, 100), cut to the disc of radius 100, max-normalised to 255 and truncated to uint8) is bilinearly
    resized (``cv2.INTER_LINEAR``) into the box ``[cx - side, cx + side) x [cy - side, cy + side)`` clipped to
    ``[0, W - 1) x [0, H - 1)``. The end index is exclusive and clipped to ``W - 1`` / ``H - 1``, so the last row
    and column of the image are never covered. A box cut by the border is squeezed, not cropped: the whole
    template is resized into what is left. Boxes whose clipped width or height is 3 px or less are skipped.
    Entities are pasted in order and each box *overwrites* what is under it, its zero corners included. The
    effective sigma is ``0.4 * side`` and the support is the disc of radius ``side``. Centres are integers;
    float points are truncated toward zero as the official ``int()`` does.

``"analytic"``
    A true Gaussian ``255 * exp(-d^2 / (2 (0.4 side)^2))`` at the (sub-pixel) point, cut to the disc of radius
    ``side`` and cropped, not squeezed, at the borders; entities combine by maximum, so overlapping entities keep
    both bumps. Points are continuous positions as in :mod:`draganything.trajectory` (pixel column j covers
    [j, j + 1), its centre is j + 0.5), so a point at (10.5, 4.5) puts the 255 peak on pixel (row 4, column 10).
    This is outside what the released weights were trained on (they saw the template mode); use it for new
    training or for experiments, not for parity.

``side`` per entity comes from :func:`draganything.entity.entity_sides` (the inscribed radius of the mask at model
resolution, capped; the cap is 50 px at the 320-pixel short side of the official resolution and scales with the
short side).

Everything is vectorised over frames; the only Python loops run over entities and over the few distinct box
sizes (one ``cv2.resize`` per size, not per frame).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import torch

from .errors import DragAnythingError, check_choice

GAUSSIAN_MODES = ("template", "analytic")
TEMPLATE_SIZE = 200
TEMPLATE_SIGMA = 40.0
# sigma / side in both modes: the template's sigma (40) over its half size (100).
SIGMA_PER_SIDE = TEMPLATE_SIGMA / (TEMPLATE_SIZE / 2)
# The official paste skips boxes whose clipped width or height is not larger than this.
MIN_BOX_EXTENT = 3


@lru_cache(maxsize=1)
def gaussian_template() -> np.ndarray:
    """The official 200x200 uint8 template (read-only). Peak 255 at (100, 100), 11 on the rim, 0 outside r=100."""
    size, sigma = TEMPLATE_SIZE, TEMPLATE_SIGMA
    centre = size / 2
    i = np.arange(size, dtype=np.float64)[:, None]
    j = np.arange(size, dtype=np.float64)[None, :]
    # Evaluated in float64 and stored as float32, with the constant factor kept: the uint8 truncation at the end
    # is sensitive to the last bit, and this is the precision path the weights' training data went through.
    exponent = -1 / 2 * ((i - centre) ** 2 / sigma**2 + (j - centre) ** 2 / sigma**2)
    density = (1 / 2 / np.pi / sigma**2 * np.exp(exponent)).astype(np.float32)
    disc = np.zeros((size, size), np.float32)
    cv2.circle(disc, (size // 2, size // 2), size // 2, 1, -1)
    density = density * disc
    density = (density / density.max()).astype(np.float32)
    template = (density / density.max() * 255).astype(np.uint8)
    template.setflags(write=False)
    return template


@lru_cache(maxsize=256)
def _resized_template(width: int, height: int) -> np.ndarray:
    patch = cv2.resize(gaussian_template(), (width, height), interpolation=cv2.INTER_LINEAR)
    patch.setflags(write=False)
    return patch


def _validate(points: np.ndarray, sides: np.ndarray, visible: np.ndarray | None, height: int, width: int):
    if points.ndim != 3 or points.shape[-1] != 2:
        raise DragAnythingError(
            "points", f"expected an array of shape [entities, frames, 2], got shape {tuple(points.shape)}",
            "Pass one (x, y) per entity and frame, at model resolution.")
    if sides.shape != (points.shape[0],):
        raise DragAnythingError(
            "sides", f"expected one side per entity ({points.shape[0]}), got shape {tuple(sides.shape)}",
            "Pass one radius per entity, in model pixels.")
    if np.any(sides < 0) or not np.all(np.isfinite(sides)):
        raise DragAnythingError("sides", f"radii must be finite and >= 0, got {sides.tolist()}",
                                "Use non-negative radii in model pixels.")
    if not np.all(np.isfinite(points)):
        raise DragAnythingError("points", "some points are NaN or infinite",
                                "Mark missing points invisible instead of storing NaN.")
    if visible is not None and visible.shape != points.shape[:2]:
        raise DragAnythingError(
            "visible", f"expected shape {tuple(points.shape[:2])} (entities, frames), got {tuple(visible.shape)}",
            "Pass one visibility flag per entity and frame.")
    if height <= 0 or width <= 0:
        raise DragAnythingError("height/width", f"got {height}x{width}", "Use a positive model resolution.")


def template_gaussian_maps(points, sides, height: int, width: int, visible=None) -> np.ndarray:
    """Official-compatible maps, uint8 [F, H, W]. ``points``: [N, F, 2] (x, y) model pixels; ``sides``: [N]."""
    points = np.asarray(points)
    sides = np.asarray(sides)
    visible = None if visible is None else np.asarray(visible, dtype=bool)
    _validate(points, sides, visible, height, width)
    centres = np.trunc(points).astype(np.int64)
    sides = sides.astype(np.int64)
    num_frames = points.shape[1]
    maps = np.zeros((num_frames, height, width), np.uint8)
    frame_index = np.arange(num_frames)
    for entity, side in enumerate(sides):
        cx, cy = centres[entity, :, 0], centres[entity, :, 1]
        x1, x2 = np.maximum(cx - side, 0), np.minimum(cx + side, width - 1)
        y1, y2 = np.maximum(cy - side, 0), np.minimum(cy + side, height - 1)
        box_w, box_h = x2 - x1, y2 - y1
        pasted = (box_w > MIN_BOX_EXTENT) & (box_h > MIN_BOX_EXTENT)
        if visible is not None:
            pasted &= visible[entity]
        if not pasted.any():
            continue
        # Boxes away from the borders all share one size, so this runs once or a handful of times per entity.
        sizes = np.stack([box_w[pasted], box_h[pasted]], axis=1)
        for box_width, box_height in np.unique(sizes, axis=0):
            frames = frame_index[pasted & (box_w == box_width) & (box_h == box_height)]
            rows = y1[frames, None] + np.arange(box_height)
            cols = x1[frames, None] + np.arange(box_width)
            maps[frames[:, None, None], rows[:, :, None], cols[:, None, :]] = _resized_template(
                int(box_width), int(box_height))
    return maps


def analytic_gaussian_maps(points, sides, height: int, width: int, visible=None) -> np.ndarray:
    """Analytic maps, float32 [F, H, W] in 0..255: sigma = 0.4 side, cut at radius side, max over entities."""
    points = np.asarray(points, dtype=np.float64)
    sides = np.asarray(sides, dtype=np.float64)
    visible = None if visible is None else np.asarray(visible, dtype=bool)
    _validate(points, sides, visible, height, width)
    num_frames = points.shape[1]
    maps = np.zeros((num_frames, height, width), np.float32)
    # Pixel centres, in the continuous coordinates the points use.
    ys = np.arange(height, dtype=np.float64) + 0.5
    xs = np.arange(width, dtype=np.float64) + 0.5
    for entity, side in enumerate(sides):
        if side <= 0:
            continue
        shown = np.ones(num_frames, bool) if visible is None else visible[entity]
        if not shown.any():
            continue
        sigma = SIGMA_PER_SIDE * side
        dx2 = (xs[None, :] - points[entity, shown, 0, None]) ** 2  # [F', W]
        dy2 = (ys[None, :] - points[entity, shown, 1, None]) ** 2  # [F', H]
        d2 = dy2[:, :, None] + dx2[:, None, :]
        bump = np.where(d2 <= side**2, 255.0 * np.exp(-d2 / (2 * sigma**2)), 0.0).astype(np.float32)
        np.maximum(maps[shown], bump, out=bump)
        maps[shown] = bump
    return maps


def gaussian_maps(points, sides, height: int, width: int, mode: str = "template", visible=None) -> np.ndarray:
    """[F, H, W] maps in 0..255 (uint8 for "template", float32 for "analytic"). See the module docstring."""
    check_choice("gaussian_mode", mode, GAUSSIAN_MODES, "a Gaussian map mode")
    build = template_gaussian_maps if mode == "template" else analytic_gaussian_maps
    return build(points, sides, height, width, visible)


def controlnet_gaussian_input(maps: np.ndarray) -> torch.Tensor:
    """[F, H, W] maps -> the ControlNet's Gaussian input: float32 [F, 3, H, W], three identical channels, 0..255.

    The official pipeline feeds the grey map as RGB without dividing by 255 (its patched ``preprocess`` with
    ``is_mask=True``), and the released weights expect that range.
    """
    grey = torch.from_numpy(np.ascontiguousarray(maps)).to(torch.float32)
    return grey[:, None].repeat(1, 3, 1, 1)
