"""Dense point tracks of whole entities, for Wan-Move (the host's TRACKS type, read by WanMoveTrackToVideo).

DragAnything's idea is to move an entity, not a point. Wan-Move reads point tracks: for every track, the first
frame's features at the track's first position are copied to its position in later frames. So each entity
becomes N tracks, points spread over its first-frame mask (farthest-point sampling, deterministic) that move with
it: a mask point p goes to

    path_f + scale_f * R(rotation_f) (p - path_0)

where path, scale and rotation are the entity's resampled motion (`Trajectories.motion`): its track point, plus
the size and turn its `scale` and `rotation` give (camera zoom and orbit, tracking from a video). A point is
visible where the entity is (the visibility rule of docs/trajectory-format.md) and the point itself is inside
the video frame. Positions are in the video's pixels after the same framing as the start image (the host's
WanMoveTrackToVideo centre-crops it, as `Framing("center_crop")` does).
"""

from __future__ import annotations

import cv2
import numpy as np

from .entity import mask_foreground
from .errors import DragAnythingError, check_positive_int
from .framing import Framing
from .trajectory import Trajectories
from .trajectory.camera import rotate

DEFAULT_POINTS_PER_ENTITY = 64
# Farthest-point sampling starts from at most this many candidate pixels per requested point (a regular subset of
# the mask), which keeps large masks (the background) cheap without changing the spread.
CANDIDATES_PER_POINT = 16


def sample_mask_points(mask: np.ndarray, count: int) -> np.ndarray:
    """Up to `count` points [P, 2] (pixel centres, x y) spread evenly over a bool mask: farthest-point sampling
    from the pixel nearest the mask's inscribed-circle centre. Deterministic; P < count only for smaller masks."""
    mask = np.asarray(mask, bool)
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return np.zeros((0, 2))
    stride = max(1, int(np.sqrt(rows.size / (CANDIDATES_PER_POINT * count))))
    keep = (rows % stride == 0) & (cols % stride == 0)
    if keep.sum() >= min(count, rows.size):
        rows, cols = rows[keep], cols[keep]
    candidates = np.stack([cols, rows], axis=1).astype(np.float64) + 0.5
    distance = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    first = int(np.argmax(distance[rows, cols]))
    chosen = [first]
    nearest = np.linalg.norm(candidates - candidates[first], axis=1)
    for _ in range(min(count, len(candidates)) - 1):
        index = int(np.argmax(nearest))
        chosen.append(index)
        nearest = np.minimum(nearest, np.linalg.norm(candidates - candidates[index], axis=1))
    return candidates[chosen]


def entity_point_tracks(
    trajectories: Trajectories,
    masks,
    num_frames: int,
    *,
    width: int | None = None,
    height: int | None = None,
    framing: str = "center_crop",
    points_per_entity: int = DEFAULT_POINTS_PER_ENTITY,
    mode: str = "pchip",
) -> dict[str, np.ndarray]:
    """The entities as dense TRACKS (module docstring), as numpy arrays.

    masks: one first-frame mask per entity at the trajectories' frame size ([N, H, W]; bool, 0/1, 0..255 or 0..1,
    see `entity.mask_foreground`).
    width, height: the video's size, which the tracks are expressed in (default: the source frame's, no framing).
    framing: how the first frame becomes the video frame ("center_crop", the host's; or "stretch").
    Returns {"track_path": float32 [F, P, 2], "track_visibility": bool [F, P], "entity": int64 [P]} with
    P = the sum of the points taken from each mask (points_per_entity, or fewer for a smaller mask).
    """
    check_positive_int("num_frames", num_frames, "a frame count")
    check_positive_int("points_per_entity", points_per_entity, "a number of points")
    if trajectories.width is None or trajectories.height is None:
        raise DragAnythingError("trajectories", "they do not say which frame size their points refer to",
                                "Give the trajectories a width and height (the first frame's size)")
    src_w, src_h = trajectories.width, trajectories.height
    to_video = Framing(src_w, src_h, width or src_w, height or src_h, framing)
    masks = _source_masks(trajectories, masks, src_w, src_h)
    x0, y0, x1, y1 = to_video.crop_box
    motion = trajectories.motion(num_frames, mode)
    paths, visibles, entity_rows = [], [], []
    for row, (entity, mask) in enumerate(zip(trajectories, masks)):
        shown = mask.copy()
        shown[:, :x0], shown[:, x1:], shown[:y0], shown[y1:] = False, False, False, False
        if not shown.any():
            raise DragAnythingError(
                f"mask of entity {entity.id!r}",
                f"nothing of it is inside the {to_video.dst_w}x{to_video.dst_h} video after {framing} framing (the "
                f"mask lies outside the part of the first frame the video shows)",
                "Select the entity inside the shown part of the picture, or use 'stretch' framing")
        if not motion.visible[row, 0]:
            raise DragAnythingError(
                f"entity {entity.id!r}", "it is not visible on the first frame (its first point is flagged "
                "invisible), and Wan-Move copies each track's first-frame appearance",
                "Make the entity visible on frame 0 (hide it from frame 1 on instead)")
        points = sample_mask_points(shown, points_per_entity)
        offsets = points - motion.points[row, 0]
        # [F, P, 2]: each point carried by the entity's translation, size and turn.
        moved = (motion.points[row, :, None]
                 + motion.scale[row, :, None, None] * rotate(offsets[None], motion.rotation[row, :, None]))
        paths.append(moved)
        visibles.append(np.repeat(motion.visible[row, :, None], len(points), axis=1))
        entity_rows.append(np.full(len(points), row))
    path, visible = to_video.tracks(np.concatenate(paths, axis=1), np.concatenate(visibles, axis=1),
                                     offframe="invisible")
    return {"track_path": np.ascontiguousarray(path, dtype=np.float32),
            "track_visibility": np.ascontiguousarray(visible, dtype=bool),
            "entity": np.concatenate(entity_rows)}


def _source_masks(trajectories: Trajectories, masks, width: int, height: int) -> list[np.ndarray]:
    if hasattr(masks, "detach"):
        masks = masks.detach().cpu().numpy()
    masks = np.asarray(masks)
    if masks.ndim == 2:
        masks = masks[None]
    count = len(trajectories)
    if masks.ndim != 3 or len(masks) != count:
        raise DragAnythingError(
            "masks", f"there are {len(masks) if masks.ndim == 3 else 'no'} masks (shape {list(masks.shape)}) for "
            f"{count} entities", "Give one first-frame mask per entity, in the entities' order")
    if masks.shape[1:] != (height, width):
        raise DragAnythingError(
            "masks", f"the masks are {masks.shape[2]}x{masks.shape[1]} but the trajectories were drawn on a "
            f"{width}x{height} frame", "Make the masks on the first frame the paths were drawn on")
    binary = mask_foreground(masks, "masks")
    for entity, mask in zip(trajectories, binary):
        if not mask.any():
            raise DragAnythingError(f"mask of entity {entity.id!r}", "it is empty (no pixel is part of the entity)",
                                    "Select the entity again, or connect a mask that covers it")
    return list(binary)
