"""Motion from a video: each entity's trajectory, taken from a video and its first-frame masks, without weights.

:func:`track_entities` follows every entity with OpenCV's pyramidal Lucas-Kanade on points inside its mask:

1. **Seeds**: up to ``max_points`` Shi-Tomasi corners (``cv2.goodFeaturesToTrack``) inside the first-frame mask,
   away from its edge where there are enough (an LK window there would mostly see the neighbours), topped up
   with a grid of mask pixels where the entity has few corners.
2. **Frame to frame**: every point is tracked forward and back on the colour frames (:func:`lk_step`, 9x9
   windows, 3 pyramid levels), starting from where constant velocity puts it. A point survives when LK finds it
   both ways, the round trip lands within ``LK_FORWARD_BACKWARD_PX`` of it, and the patch around it still looks
   as it did when it was taken (a point that slid onto an occluder or the background does not).
3. **Robust motion**: a similarity (translation, uniform scale, rotation) from the survivors' first-frame
   positions to their current ones, fitted with RANSAC (``cv2.estimateAffinePartial2D``); it counts when at
   least half of the survivors agree and the size and angle change plausibly, and its outliers are dropped.
   Otherwise the entity moves by the survivors' median displacement; with none it coasts at constant velocity
   and is marked not visible in that frame.
4. **Finding it again**: when fewer than half of the points are left, the entity's first-frame points are
   looked for where its motion puts them (after an occlusion the entity looks as it did) and count when at least
   three agree on its position; while enough of it is followed, new corners inside the moved mask top it up.

The entity's track point (its inscribed-circle centre, or a given start) moves with the transform, and its size
and rotation are the transform's scale and angle: the pack's `scale` and `rotation` per point, so Wan-Move's dense
tracks reproduce zoom and turn. Points that leave the frame are marked not visible (the "invisible" policy).
:meth:`draganything.trajectory.Trajectories.scaled` puts the result on another first frame of the same scene.
Accuracy on the synthetic sprite videos: ``benchmarks/bench_tracking.py`` and docs/motion.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from .entity import inscribed_circle, mask_foreground
from .errors import DragAnythingError, check_positive_int
from .trajectory import Entity, Trajectories

# Lucas-Kanade: 15x15 windows over 3 pyramid levels (the metrics' tracker) and 9x9 ones for entities (a window
# mostly on the entity, not on what surrounds it); a point survives a frame when tracking it forward and back
# lands within this many pixels of where it started.
LK_WINDOW = (15, 15)
ENTITY_WINDOW = (9, 9)
LK_LEVELS = 3
LK_FORWARD_BACKWARD_PX = 1.0
LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
# Seeds per entity, the corner quality and spacing, and the fewest points worth a grid top-up.
MAX_POINTS = 200
CORNER_QUALITY = 0.001
CORNER_DISTANCE = 3
MIN_SEEDS = 16
# Corners are first looked for this many pixels inside the mask's edge.
EDGE_MARGIN = 3
# Fewer survivors than this move the entity by their median displacement: a similarity from a handful of points
# is mostly noise in its scale and angle.
MIN_SIMILARITY_POINTS = 8
# RANSAC: a point is an inlier of the similarity when it lands within this many pixels of where it predicts.
RANSAC_PX = 1.5
RESEED_FRACTION = 0.5
# A point is kept while the patch around it differs from the one it had when it was taken by at most this many
# levels (of 255) on average.
PATCH = 5
LOOK_TOLERANCE = 20.0
# Re-finding an entity after losing it takes this many of its first-frame points agreeing on where it is, within
# REACQUIRE_PX of where its motion puts it, and that much more for each frame it went unseen (up to 4 times).
MIN_REACQUIRED = 3
REACQUIRE_PX = 3.0
# The most an entity's size (as a log ratio) and angle (degrees) may change between two frames.
MAX_SCALE_STEP = 0.1
MAX_TURN_STEP = 15.0
VIDEO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def lk_step(previous: np.ndarray, current: np.ndarray, points: np.ndarray, guess: np.ndarray | None = None,
            window: tuple[int, int] = LK_WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Points [P, 2] of frame ``previous`` found in ``current``: (positions [P, 2] float32, good [P]).

    Frames are 8-bit, grey or colour (LK sums the channels). guess: where to start looking, [P, 2] (default:
    where the points were). good: LK found the point forward and back, and the round trip ends within
    LK_FORWARD_BACKWARD_PX of it.
    """
    points = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 1, 2)
    if len(points) == 0:
        return np.zeros((0, 2), np.float32), np.zeros(0, bool)
    parameters = {"winSize": window, "maxLevel": LK_LEVELS, "criteria": LK_CRITERIA,
                  "flags": cv2.OPTFLOW_USE_INITIAL_FLOW}
    start = points if guess is None else np.asarray(guess, dtype=np.float32).reshape(-1, 1, 2)
    forward, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, points, start.copy(), **parameters)
    # Back from where each point was found, the search starting as far back as the forward one started ahead.
    backward, back_status, _ = cv2.calcOpticalFlowPyrLK(current, previous, forward, forward - (start - points),
                                                        **parameters)
    error = np.linalg.norm(backward[:, 0] - points[:, 0], axis=1)
    good = (status[:, 0] == 1) & (back_status[:, 0] == 1) & (error < LK_FORWARD_BACKWARD_PX)
    return forward[:, 0], good


def check_frames(frames, input_name: str = "video") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise DragAnythingError(input_name, f"expected uint8 RGB frames [F, H, W, 3], got {frames.dtype} "
                                f"{list(frames.shape)}", "Pass the video as 8-bit RGB frames")
    return frames


def read_frames(path: str | Path) -> np.ndarray:
    """A video as uint8 RGB [F, H, W, 3]: a folder of images (in natural name order), a GIF or an MP4."""
    from .viz import read_video

    path = Path(path)
    if not path.is_dir():
        return read_video(path)
    files = sorted((item for item in path.iterdir() if item.suffix.lower() in VIDEO_SUFFIXES),
                   key=lambda item: [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", item.name)])
    if not files:
        raise DragAnythingError("video", f"the folder {str(path)!r} holds no image files",
                                f"Put the frames there as {', '.join(VIDEO_SUFFIXES)} files, named in order")
    frames = [read_video(item)[0] for item in files]
    sizes = {frame.shape for frame in frames}
    if len(sizes) > 1:
        raise DragAnythingError("video", f"the frames in {str(path)!r} have different sizes ({sorted(sizes)})",
                                "Use frames of one size")
    return np.stack(frames)


def track_entities(
    frames: np.ndarray,
    masks,
    *,
    num_frames: int | None = None,
    prompt: Trajectories | None = None,
    starts=None,
    max_points: int = MAX_POINTS,
) -> Trajectories:
    """Trajectories of the entities of a video (module docstring), one point per frame, in the video's pixels.

    frames: uint8 RGB [F, H, W, 3]. masks: one first-frame mask per entity, [N, H, W] (bool, 0/1, 0..255 or 0..1
    floats; see `entity.mask_foreground`). num_frames: how many frames to track from the start (default: all; more than the
    video has is an error). prompt: the entities as selected on the video's first frame (e.g. the editor's
    document): their ids, labels, clicks, boxes and radii carry over, and each is tracked from its first point.
    starts: the point of each entity to track, [N, 2] (default: the prompt's first points, else each mask's
    inscribed-circle centre). Without a prompt the ids are "1", "2", ...
    Each entity gets `points`, `visible`, `scale` and `rotation` per frame; the result's `num_frames` is the count
    tracked and its width and height the video's.
    """
    frames = check_frames(frames)
    height, width = frames.shape[1:3]
    if num_frames is not None:
        num_frames = check_positive_int("frames", num_frames, "a frame count")
        if num_frames > len(frames):
            raise DragAnythingError(
                "video", f"it has {len(frames)} frame{'s' if len(frames) != 1 else ''}, fewer than the "
                f"{num_frames} asked for", f"Ask for at most {len(frames)} frames, or use a longer video")
        frames = frames[:num_frames]
    # LK runs on the colour frames (an entity that differs from its surroundings in colour more than in
    # brightness is still followed); corners are found in grey.
    colour = list(frames)
    grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    masks = _masks(masks, width, height)
    count = len(masks)
    if prompt is not None and len(prompt) != count:
        raise DragAnythingError("masks", f"there are {count} masks for {len(prompt)} entities",
                                "Give one first-frame mask per entity, in the entities' order")
    entities = list(prompt) if prompt is not None else [Entity(str(index + 1), [[0, 0]]) for index in range(count)]
    check_positive_int("max_points", max_points, "a number of points")
    if starts is None:
        starts = ([entity.points[0] for entity in entities] if prompt is not None
                  else [_centre(mask) for mask in masks])
    starts = np.asarray(starts, dtype=np.float64).reshape(-1, 2)
    if len(starts) != count or not np.isfinite(starts).all():
        raise DragAnythingError("starts", f"expected {count} finite (x, y) points, got {starts.tolist()}",
                                "Give one start point per entity, or leave them out")

    tracked = []
    for entity, mask, start in zip(entities, masks, starts):
        points, visible, scale, rotation = _track_one(colour, grey, mask, start, max_points)
        inside = (points[:, 0] >= 0) & (points[:, 0] <= width) & (points[:, 1] >= 0) & (points[:, 1] <= height)
        visible &= inside
        tracked.append(Entity(entity.id, points, label=entity.label, radius=entity.radius, clicks=entity.clicks,
                              box=entity.box, visible=None if visible.all() else visible, scale=scale,
                              rotation=rotation))
    return Trajectories(tracked, width, height, len(frames), None if prompt is None else prompt.image)


def _masks(masks, width: int, height: int) -> list[np.ndarray]:
    if hasattr(masks, "detach"):
        masks = masks.detach().cpu().numpy()
    masks = [np.asarray(mask) for mask in (masks[None] if np.ndim(masks) == 2 else masks)]
    if not masks:
        raise DragAnythingError("masks", "there is no mask", "Give one first-frame mask per entity")
    binary = []
    for index, mask in enumerate(masks):
        name = f"mask {index + 1}"
        if mask.shape != (height, width):
            raise DragAnythingError(
                name, f"it is {list(mask.shape)} (height, width) but the video's frames are {height}x{width}",
                "Make the masks on the video's first frame, at its size")
        on = mask_foreground(mask, name)
        if not on.any():
            raise DragAnythingError(name, "it is empty (no pixel is part of the entity)",
                                    "Select the entity on the video's first frame again")
        binary.append(on)
    return binary


def _centre(mask: np.ndarray) -> np.ndarray:
    """The centre of the largest circle inside the mask and the frame (the frame's edge counts as outside, so a
    background's point is not put on the edge, where the first camera move would take it out of the picture)."""
    circle = inscribed_circle(np.pad(mask.astype(np.uint8), 1))
    return np.array([circle.x - 0.5, circle.y - 0.5])


def _seeds(grey: np.ndarray, mask: np.ndarray, count: int, taken: np.ndarray | None = None) -> np.ndarray:
    """Up to `count` points [P, 2] inside `mask`: corners first, then a grid of mask pixels (pixel centres).

    Corners are looked for away from the mask's edge first (an LK window there would see the neighbours too, and
    the strong corners where the entity meets them would crowd out its own texture), then, if that finds too
    few, in the whole mask.
    """
    if count <= 0 or not mask.any():
        return np.zeros((0, 2), np.float32)
    allowed = mask.astype(np.uint8) * 255
    if taken is not None and len(taken):
        for x, y in np.round(taken).astype(int):
            cv2.circle(allowed, (int(x), int(y)), CORNER_DISTANCE, 0, -1)
    spacing = max(CORNER_DISTANCE, int(np.sqrt(np.count_nonzero(allowed) / count) / 2))
    inner = cv2.erode(allowed, np.ones((2 * EDGE_MARGIN + 1,) * 2, np.uint8))
    corners = np.zeros((0, 2), np.float32)
    for region in (inner, allowed):
        if not region.any():
            continue
        found = cv2.goodFeaturesToTrack(grey, count, CORNER_QUALITY, spacing, mask=region, blockSize=3)
        if found is not None and len(found) >= min(count, MIN_SEEDS):
            return found.reshape(-1, 2)
        if found is not None and len(found) > len(corners):
            corners = found.reshape(-1, 2)
    rows, cols = np.nonzero(allowed)
    step = max(1, rows.size // (MIN_SEEDS - len(corners)))
    grid = np.stack([cols[::step], rows[::step]], axis=1).astype(np.float32) + 0.5
    return np.concatenate([corners, grid])[:count]


def _apply(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    return (points @ transform[:, :2].T + transform[:, 2]).astype(np.float32)


def _track_one(frames: list[np.ndarray], grey: list[np.ndarray], mask: np.ndarray, start: np.ndarray,
               max_points: int):
    """One entity: points [F, 2], visible [F], scale [F], rotation [F] (degrees, clockwise on screen)."""
    num_frames = len(frames)
    height, width = grey[0].shape
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    transforms = [identity]
    template = _seeds(grey[0], mask, max_points)
    template_looks = _patches(frames[0], template)
    origin, current, looks = template.copy(), template.copy(), template_looks.copy()
    visible = np.ones(num_frames, bool)
    for frame in range(1, num_frames):
        # Constant velocity: where the entity would be if it kept moving as it did (the guess LK starts from,
        # and where it goes while nothing of it is seen).
        predicted = transforms[-1].copy()
        if len(transforms) > 1:
            predicted[:, 2] += transforms[-1][:, 2] - transforms[-2][:, 2]
        guess = current + (_apply(predicted, origin) - _apply(transforms[-1], origin))
        moved, good = lk_step(frames[frame - 1], frames[frame], current, guess, ENTITY_WINDOW)
        # A point that no longer looks as it did when it was taken has most likely slid onto what passes in
        # front of the entity (or behind its edge): it is not evidence of the entity's motion.
        good &= _looks_alike(_patches(frames[frame], moved), looks)
        transform, keep = _fit(origin, current, moved, good, transforms[-1])
        origin, current, looks = origin[keep], moved[keep], looks[keep]
        followed = len(current) >= MIN_SIMILARITY_POINTS
        if transform is None:
            visible[frame] = False
            transform = predicted
        if len(current) < RESEED_FRACTION * len(template):
            # Find the entity's first-frame points again near where the motion puts it (after an occlusion the
            # frame-to-frame points are gone, but the entity looks as it did); top up with new corners only while
            # enough of the entity is followed (otherwise the corners where it should be are likely something
            # in front of it).
            unseen = frame - max(index for index in range(frame + 1) if visible[index] or index == 0)
            transform, again, found = _reacquire(frames[0], frames[frame], template, template_looks, origin,
                                                 transform, REACQUIRE_PX * min(1 + unseen, 4))
            if again.any():
                visible[frame] = True
                origin = np.concatenate([origin, template[again]])
                current = np.concatenate([current, found[again]])
                looks = np.concatenate([looks, template_looks[again]])
            if followed and len(current) < RESEED_FRACTION * len(template):
                moved_mask = cv2.warpAffine(mask.astype(np.uint8), transform, (width, height),
                                            flags=cv2.INTER_NEAREST).astype(bool)
                fresh = _seeds(grey[frame], moved_mask, max_points - len(current), current)
                inverse = cv2.invertAffineTransform(transform)
                origin = np.concatenate([origin, _apply(inverse, fresh)])
                current = np.concatenate([current, fresh])
                looks = np.concatenate([looks, _patches(frames[frame], fresh)])
        transforms.append(transform)
    transforms = np.stack(transforms)
    points = np.einsum("fij,j->fi", transforms[:, :, :2], start) + transforms[:, :, 2]
    scale = np.hypot(transforms[:, 0, 0], transforms[:, 1, 0])
    rotation = np.degrees(np.arctan2(transforms[:, 1, 0], transforms[:, 0, 0]))
    return points, visible, scale, rotation


def _plausible(previous: np.ndarray, fitted: np.ndarray) -> bool:
    scale = np.hypot(fitted[0, 0], fitted[1, 0]) / np.hypot(previous[0, 0], previous[1, 0])
    turn = np.degrees(np.arctan2(fitted[1, 0], fitted[0, 0]) - np.arctan2(previous[1, 0], previous[0, 0]))
    return abs(np.log(scale)) <= MAX_SCALE_STEP and abs((turn + 180) % 360 - 180) <= MAX_TURN_STEP


def _patches(frame: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The PATCH x PATCH colour patch around each point (bilinear), float32 [P, PATCH, PATCH, 3]."""
    if len(points) == 0:
        return np.zeros((0, PATCH, PATCH, 3), np.float32)
    return np.stack([cv2.getRectSubPix(frame, (PATCH, PATCH), (float(x), float(y))) for x, y in points]
                    ).astype(np.float32)


def _looks_alike(patches: np.ndarray, references: np.ndarray) -> np.ndarray:
    """bool [P]: each patch differs from its reference by at most LOOK_TOLERANCE levels on average."""
    if len(patches) == 0:
        return np.zeros(0, bool)
    return np.abs(patches - references).mean(axis=(1, 2, 3)) <= LOOK_TOLERANCE


def _fit(origin, current, moved, good, previous):
    """The entity's transform from the survivors (None when there are none) and which points to keep."""
    keep = good.copy()
    if good.sum() >= MIN_SIMILARITY_POINTS:
        fitted, inliers = cv2.estimateAffinePartial2D(origin[good], moved[good], method=cv2.RANSAC,
                                                      ransacReprojThreshold=RANSAC_PX, maxIters=2000,
                                                      confidence=0.995)
        # A fit that only a minority agrees with, or that changes size or angle more than an entity does
        # between two frames, is a coincidence of a few points (at the frame's edge, on an occluder).
        if (fitted is not None and inliers.sum() >= max(MIN_SIMILARITY_POINTS, good.sum() / 2)
                and _plausible(previous, fitted)):
            keep[np.flatnonzero(good)[inliers[:, 0] == 0]] = False
            return fitted, keep
    if not good.any():
        return None, keep
    step = moved[good] - current[good]
    shift = np.median(step, axis=0)
    keep[np.flatnonzero(good)[np.linalg.norm(step - shift, axis=1) > RANSAC_PX]] = False
    transform = previous.copy()
    transform[:, 2] += shift
    return transform, keep


def _reacquire(first: np.ndarray, frame: np.ndarray, template: np.ndarray, template_looks: np.ndarray,
               origin: np.ndarray, transform: np.ndarray, radius: float):
    """The first-frame points found again in `frame`: (transform corrected by their consensus shift, which of
    the template points to add, where they are). Needs MIN_REACQUIRED points that agree on one shift, within
    `radius` pixels of where the motion puts them (the further the entity may have gone unseen, the wider)."""
    candidates = ~_near(template, origin)
    expected = _apply(transform, template)
    found, good = lk_step(first, frame, template, expected, ENTITY_WINDOW)
    good &= candidates & _looks_alike(_patches(frame, found), template_looks)
    if good.sum() < MIN_REACQUIRED:
        return transform, np.zeros(len(template), bool), found
    offsets = found[good] - expected[good]
    shift = np.median(offsets, axis=0)
    if np.linalg.norm(shift) > radius:
        return transform, np.zeros(len(template), bool), found
    agree = np.zeros(len(template), bool)
    agree[np.flatnonzero(good)[np.linalg.norm(offsets - shift, axis=1) <= RANSAC_PX]] = True
    if agree.sum() < MIN_REACQUIRED:
        return transform, np.zeros(len(template), bool), found
    corrected = transform.copy()
    corrected[:, 2] += np.mean(found[agree] - expected[agree], axis=0)
    return corrected, agree, found


def _near(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """bool [P]: which points are already among `others` (within a tenth of a pixel)."""
    if len(others) == 0 or len(points) == 0:
        return np.zeros(len(points), bool)
    return (np.abs(points[:, None] - others[None]).max(axis=2) < 0.1).any(axis=1)
