"""Entity geometry and the entity map: masks, inscribed circles, pooled embeddings, painted discs.

The entity map tells the ControlNet *which* entity sits where. Per frame it is zero except for a filled disc of
radius ``side`` around every entity's trajectory point, holding that entity's embedding (its DIFT feature vector
mean-pooled inside its first-frame mask, pair-averaged from 320 to 160 channels). Later entities overwrite
earlier ones where discs overlap.

The map is piecewise constant, so it is built in its compact form first: an *index map* ``[F, H, W]`` (int16,
-1 for background, else the entity's position in the list) and an embedding table ``[N, D]``. The dense
``[F, D, H, W]`` map is a gather (:func:`entity_maps`), done on whatever device the ControlNet runs on. At
320x576 and 20 frames the dense fp32 map is 2.4 GB; the index map is 7 MB.

Modes for the painted values (:func:`entity_embeddings`):

``"trained"`` (default)
    The full pair-averaged vector, as in training.
``"official_demo"``
    What the released demo and gradio code paint: the scalar ``vec[0]`` (the pooled mean of DIFT channel 0) in
    every channel. Use it only to reproduce the official outputs.

Discs: the official code draws them with ``cv2.circle(..., thickness=-1)`` (8-connected, no sub-pixel shift).
Its pixel set is exactly ``dx^2 + dy^2 <= r^2`` for an integer centre and radius, which is what is built here
(the tests compare with ``cv2.circle``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np
import torch

from .errors import DragAnythingError, check_choice

BINARIZE_MODES = ("official", "threshold")
EMBEDDING_MODES = ("trained", "official_demo")
# The official inference caps the Gaussian/disc radius at 50 px at its 320x576 resolution.
SIDE_CAP = 50
SIDE_CAP_SHORT_EDGE = 320
BACKGROUND = -1


# ---------------------------------------------------------------------------------------------------- masks


def binarize_mask(mask, mode: str = "official", threshold: float = 0.5, input_name: str = "mask") -> np.ndarray:
    """A mask image -> uint8 {0, 1} [H, W].

    ``mask``: uint8 [H, W] or [H, W, 3] (as ``cv2.imread`` returns it), bool, or float in 0..1 (a host MASK).

    ``"official"``: a pixel is foreground only where its value is exactly 255 (the demo's ``(img/255).astype
    (uint8)``), which drops the JPEG ringing at the mask's edge. Colour masks go through the same per-channel
    test and ``cv2.COLOR_RGB2GRAY`` as the demo. Floats are first quantised to uint8 as an 8-bit file would be.
    ``"threshold"``: foreground where the value, scaled to 0..1, is greater than ``threshold``; colour masks are
    converted to grey first. Use it for soft or anti-aliased masks.
    """
    check_choice("binarize_mode", mode, BINARIZE_MODES, "a mask binarisation mode")
    array = np.asarray(mask)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3) or array.size == 0:
        raise DragAnythingError(
            input_name, f"expected a [H, W] or [H, W, 3] image, got shape {tuple(array.shape)}",
            "Pass a single-channel (or RGB) mask of the first frame.")
    if array.dtype == bool:
        unit = array.astype(np.float32)
    elif array.dtype == np.uint8:
        unit = array.astype(np.float32) / 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
            raise DragAnythingError(input_name, "float masks must hold values in 0..1",
                                    "Scale the mask to 0..1 (or pass it as uint8 0..255).")
        unit = array.astype(np.float32)
    else:
        raise DragAnythingError(input_name, f"unsupported dtype {array.dtype}", "Pass uint8 0..255, bool or float 0..1.")

    if mode == "official":
        # Quantise to the 8-bit value a file would hold, keep exact 255s; colour goes through the demo's gray
        # conversion of its per-channel 0/1 image.
        full = (np.rint(unit * 255) == 255).astype(np.uint8)
        return cv2.cvtColor(full, cv2.COLOR_RGB2GRAY) if full.ndim == 3 else full
    if not 0 <= threshold < 1:
        raise DragAnythingError("threshold", f"got {threshold}", "Use a threshold in [0, 1).")
    grey = cv2.cvtColor(unit, cv2.COLOR_RGB2GRAY) if unit.ndim == 3 else unit
    return (grey > threshold).astype(np.uint8)


def mask_foreground(mask, input_name: str = "mask") -> np.ndarray:
    """bool [..., H, W] foreground of a binary or soft mask: bool as it is; integers that are all 0/1 where they
    are not 0, others above 127 (0..255); floats above 0.5 (a host MASK, 0..1)."""
    array = np.asarray(mask)
    if array.dtype == bool:
        return array
    if array.dtype.kind in "iu":
        return array > (0 if array.max(initial=0) <= 1 else 127)
    if array.dtype.kind == "f" and np.isfinite(array).all():
        return array > 0.5
    raise DragAnythingError(input_name, f"it holds {array.dtype} values", "Pass a bool, 0/1, 0..255 or 0..1 mask")


def read_mask(path) -> np.ndarray:
    """A mask image file as the official code reads it: ``cv2.imread`` in colour (BGR uint8 [H, W, 3])."""
    mask = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if mask is None:
        raise DragAnythingError(str(path), "the mask image could not be read (missing file or not an image)",
                                "Check the path and use a PNG or JPEG mask.")
    return mask


def resize_mask(mask01: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a {0, 1} uint8 mask the way the official code does (``cv2.resize``, INTER_LINEAR); stays {0, 1}."""
    return cv2.resize(np.ascontiguousarray(mask01, dtype=np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)


class InscribedCircle(NamedTuple):
    """The largest circle inside a mask: centre (x, y) in pixels and its radius (float; the official uses int())."""

    x: int
    y: int
    radius: float


def inscribed_circle(mask01: np.ndarray) -> InscribedCircle:
    """Largest inscribed circle of a {0, 1} mask by ``cv2.distanceTransform`` (L2, 5x5 mask, as the official code)."""
    distance = cv2.distanceTransform(np.ascontiguousarray(mask01, dtype=np.uint8), cv2.DIST_L2, 5)
    _, max_value, _, (x, y) = cv2.minMaxLoc(distance)
    return InscribedCircle(int(x), int(y), float(max_value))


def side_cap(height: int, width: int) -> int:
    """The radius cap at a model resolution: 50 px at a 320-pixel short edge, scaled with the short edge.

    The official inference uses ``min(r, 50)`` at 320x576 (and so at 576x320 too). Scaling with the short edge
    keeps the bump covering the same fraction of the frame at any resolution (e.g. 100 px at 640x1152, 40 px at
    256x448); at the official resolution this is exactly 50.
    """
    return int(SIDE_CAP * min(height, width) / SIDE_CAP_SHORT_EDGE)


def entity_sides(radii: Sequence[float], height: int, width: int, cap: int | None | str = "scaled") -> np.ndarray:
    """Inscribed radii (model pixels) -> integer sides: ``min(int(r), cap)``, int64 [N].

    ``cap``: ``"scaled"`` (default, :func:`side_cap`), an int (e.g. 50 to keep the official number at any
    resolution), or None (no cap, as in training).
    """
    radii = np.asarray(radii, dtype=np.float64).reshape(-1)
    if np.any(radii < 0) or not np.all(np.isfinite(radii)):
        raise DragAnythingError("radius", f"radii must be finite and >= 0, got {radii.tolist()}",
                                "Give each entity a non-negative radius in pixels.")
    sides = np.trunc(radii).astype(np.int64)
    if cap == "scaled":
        cap = side_cap(height, width)
    if cap is not None:
        sides = np.minimum(sides, int(cap))
    return sides


# ----------------------------------------------------------------------------------------------- embeddings


def pool_features(features: torch.Tensor, masks: Sequence[np.ndarray], names: Sequence[str] | None = None
                  ) -> torch.Tensor:
    """Mean of a feature map inside each mask: features [C, h, w] (or [1, C, h, w]) -> [N, C].

    Each {0, 1} mask (any size) is resized to the feature grid with ``cv2.resize`` INTER_LINEAR, as the official
    code does, and the features at its non-zero cells are averaged. A mask with no cell left after the resize is
    an error naming the entity (the official code silently drops it from frame 0 and then crashes).
    """
    if features.ndim == 4 and features.shape[0] == 1:
        features = features[0]
    if features.ndim != 3:
        raise DragAnythingError("features", f"expected [C, h, w] or [1, C, h, w], got {tuple(features.shape)}",
                                "Pass the DIFT feature map of the first frame.")
    names = list(names) if names is not None else [str(k) for k in range(len(masks))]
    _, grid_h, grid_w = features.shape
    # [h, w, C] so that gathering cells gives a contiguous [cells, C] block, averaged over dim 0 like the official.
    cells_last = features.permute(1, 2, 0)
    pooled = []
    for name, mask in zip(names, masks):
        small = resize_mask(mask, grid_w, grid_h)
        rows, cols = np.nonzero(small)
        if rows.size == 0:
            raise DragAnythingError(
                f"mask of entity {name!r}",
                f"it covers no cell of the {grid_w}x{grid_h} feature grid once resized (the mask has "
                f"{int(np.count_nonzero(mask))} foreground pixels at {mask.shape[1]}x{mask.shape[0]})",
                "Use a larger mask for this entity, or remove the entity.")
        index = (torch.from_numpy(rows).to(features.device), torch.from_numpy(cols).to(features.device))
        pooled.append(cells_last[index].mean(dim=0))
    return torch.stack(pooled)


def entity_embeddings(pooled: torch.Tensor, mode: str = "trained") -> torch.Tensor:
    """Pooled vectors [N, C] -> the values painted into the entity map, [N, C/2].

    ``"trained"``: channel pairs averaged (the official code's ``F.avg_pool1d`` with kernel 2 over channels,
    computed as a mean over pairs: the same values, without the pooling kernel's set-up cost on the CPU).
    ``"official_demo"``: every channel holds ``pooled[:, 0]`` (the demo's scalar-painting bug; the pair average
    of a constant is that constant).
    """
    if pooled.ndim != 2 or pooled.shape[1] % 2:
        raise DragAnythingError("embeddings", f"expected [N, C] with C even, got {tuple(pooled.shape)}",
                                "Pass pooled feature vectors, one row per entity (320 channels for DIFT).")
    check_choice("entity_mode", mode, EMBEDDING_MODES, "an entity map mode")
    if mode == "trained":
        return pooled.unflatten(1, (-1, 2)).mean(-1)
    return pooled[:, :1].expand(-1, pooled.shape[1] // 2).contiguous()


# ---------------------------------------------------------------------------------------------------- discs


def disc_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets of the filled disc ``cv2.circle`` draws at an integer radius (dx^2 + dy^2 <= r^2)."""
    span = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(span, span, indexing="ij")
    inside = dy**2 + dx**2 <= radius**2
    return dy[inside], dx[inside]


def entity_index_maps(points, sides, height: int, width: int, visible=None) -> np.ndarray:
    """Which entity's disc covers each pixel: int16 [F, H, W], -1 for none, later entities on top.

    ``points``: [N, F, 2] (x, y) model pixels (truncated toward zero, as the official ``int()``); ``sides``: [N]
    integer radii. A disc is drawn even where the Gaussian box is skipped for being too small, as officially.
    Invisible points (``visible`` [N, F] False) draw nothing in that frame.
    """
    points = np.asarray(points)
    sides = np.asarray(sides)
    if points.ndim != 3 or points.shape[-1] != 2 or sides.shape != (points.shape[0],):
        raise DragAnythingError(
            "points", f"expected points [N, F, 2] and sides [N], got {tuple(points.shape)} and {tuple(sides.shape)}",
            "Pass one (x, y) per entity and frame and one radius per entity.")
    if np.any(sides < 0):
        raise DragAnythingError("sides", f"radii must be >= 0, got {sides.tolist()}", "Use non-negative radii.")
    if len(sides) > np.iinfo(np.int16).max:
        raise DragAnythingError("entities", f"{len(sides)} entities", "Use fewer than 32767 entities.")
    if visible is not None:
        visible = np.asarray(visible, dtype=bool)
        if visible.shape != points.shape[:2]:
            raise DragAnythingError(
                "visible", f"expected shape {tuple(points.shape[:2])} (entities, frames), got {tuple(visible.shape)}",
                "Pass one visibility flag per entity and frame.")
    centres = np.trunc(points).astype(np.int64)
    num_frames = points.shape[1]
    index = np.full((num_frames, height, width), BACKGROUND, np.int16)
    flat = index.reshape(-1)
    frame_base = np.arange(num_frames, dtype=np.int64) * (height * width)
    for entity, side in enumerate(sides):
        dy, dx = disc_offsets(int(side))
        rows = centres[entity, :, 1, None] + dy  # [F, P]
        cols = centres[entity, :, 0, None] + dx
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        if visible is not None:
            inside &= visible[entity, :, None]
        flat[(frame_base[:, None] + rows * width + cols)[inside]] = entity
    return index


def entity_maps(index_maps, embeddings: torch.Tensor, device=None, dtype=None) -> torch.Tensor:
    """Dense entity map [F, D, H, W] from an index map [F, H, W] and embeddings [N, D] (background = 0).

    The result is a gather into channels-last memory (a [F, D, H, W] view of [F, H, W, D] storage): no copy into
    channel-first layout, which convolutions accept as is. Build it on the device that consumes it.
    """
    index = torch.as_tensor(index_maps)
    device = embeddings.device if device is None else torch.device(device)
    dtype = embeddings.dtype if dtype is None else dtype
    table = torch.cat([torch.zeros(1, embeddings.shape[1], dtype=dtype, device=device),
                       embeddings.to(device=device, dtype=dtype)])
    dense = torch.nn.functional.embedding(index.to(device=device, dtype=torch.int64) + 1, table)
    return dense.permute(0, 3, 1, 2)


def entity_one_hot(index_maps, num_entities: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """One channel per entity, 1 where its disc is on top: [F, N, H, W].

    The dense map is ``einsum("fnhw,nd->fdhw", one_hot, embeddings)``, so a linear layer that reads it (the
    ControlNet's first entity-branch convolution) can instead read these N channels with its weight folded
    over the embeddings (``einsum("odij,nd->onij", weight, embeddings)``): same result up to float rounding,
    without the D-channel map at pixel resolution.
    """
    index = torch.as_tensor(index_maps).to(device=device, dtype=torch.int64)
    one_hot = torch.nn.functional.one_hot(index + 1, num_entities + 1)[..., 1:]  # drop the background class
    return one_hot.permute(0, 3, 1, 2).to(dtype)

