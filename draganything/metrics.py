"""How well a generated video follows its trajectories: ObjMC, weight-free trackers, whole-entity IoU.

ObjMC (the paper's object-motion-control metric) is the mean Euclidean distance, in pixels, between where an
entity should be and where a tracker finds it in the generated video. Two variants:

:func:`objmc`
    Over every visible (entity, frame) pair, frame 0 excluded: frame 0 is the given image, so it only dilutes
    the mean, and points that are off-frame or hidden in the target carry no position to compare with.
:func:`objmc_official`
    The official script's number: every (target, predicted) point pair of every entity, frame 0 included, no
    visibility handling, one global mean (tracks truncated to the shorter of the two).

Trackers need no weights: :func:`track_entity_lk` follows an entity with OpenCV's pyramidal Lucas-Kanade from
corners inside its first-frame mask (the median displacement of the points that survive a forward-backward
check moves the entity's point); :func:`colour_masks` segments entities by colour (for scenes whose entities
have colours of their own, like the synthetic set), giving per-frame masks for :func:`mask_iou` and a
centroid tracker. IoU against the target masks says whether the entity moved as a whole, not only the pixels
near its point.

:func:`evaluate` runs the shipped tiny model on held-out synthetic scenes in three settings (full model,
Gaussian-only, no control) and tabulates these numbers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import DragAnythingError
from .tracking import lk_step

MAX_CORNERS = 40


# --------------------------------------------------------------------------------------------------- ObjMC


def _tracks(array, name: str) -> np.ndarray:
    tracks = np.asarray(array, dtype=np.float64)
    if tracks.ndim == 2 and tracks.shape[-1] == 2:
        tracks = tracks[None]
    if tracks.ndim != 3 or tracks.shape[-1] != 2:
        raise DragAnythingError(name, f"expected tracks [N, F, 2] (x, y), got shape {tracks.shape}",
                                "Pass one (x, y) per entity and frame.")
    return tracks


def objmc(predicted, target, visible=None, *, include_first_frame: bool = False) -> float:
    """Mean Euclidean distance between predicted and target points over visible (entity, frame) pairs.

    predicted, target: [N, F, 2] (or [F, 2]) pixels. visible: optional bool [N, F] (or [F]); a pair counts only
    where it is True (use the target's visibility, and-ed with the tracker's when it has one). Frame 0 is left
    out unless ``include_first_frame``. Returns NaN when no pair counts.
    """
    predicted, target = _tracks(predicted, "predicted"), _tracks(target, "target")
    if predicted.shape != target.shape:
        raise DragAnythingError("predicted", f"shape {predicted.shape} differs from the target's {target.shape}",
                                "Track the same entities over the same frames as the target.")
    counted = np.ones(target.shape[:2], bool)
    if visible is not None:
        visible = np.asarray(visible, bool).reshape(counted.shape) if np.size(visible) == counted.size else None
        if visible is None:
            raise DragAnythingError("visible", f"expected [N, F] = {counted.shape} flags",
                                    "Pass one visibility flag per entity and frame.")
        counted &= visible
    if not include_first_frame:
        counted[:, 0] = False
    if not counted.any():
        return float("nan")
    distances = np.linalg.norm(predicted - target, axis=-1)
    return float(distances[counted].mean())


def objmc_official(target: dict, predicted: dict) -> float:
    """The official ObjMC: {id: [[x, y], ...]} dicts (the VIPSeg test-track format); every target id must be
    predicted. Pairs are zipped (so the shorter track sets the count), frame 0 included, one global mean."""
    distances = []
    for key, target_track in target.items():
        if key not in predicted:
            raise DragAnythingError("predicted", f"entity {key!r} of the target has no predicted track",
                                    "Track every entity of the target file (the official script fails here too).")
        for target_point, predicted_point in zip(target_track, predicted[key]):
            distances.append(np.hypot(target_point[0] - predicted_point[0], target_point[1] - predicted_point[1]))
    if not distances:
        raise DragAnythingError("target", "there are no points to compare", "Pass non-empty tracks.")
    return float(np.mean(distances))


# ------------------------------------------------------------------------------------------------- trackers


def _grey(frames: np.ndarray) -> list[np.ndarray]:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise DragAnythingError("frames", f"expected uint8 RGB frames [F, H, W, 3], got {frames.dtype} "
                                f"{frames.shape}", "Pass the generated video as 8-bit RGB frames.")
    return [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]


def track_points_lk(frames: np.ndarray, points) -> tuple[np.ndarray, np.ndarray]:
    """Pyramidal Lucas-Kanade from frame 0, frame to frame: tracks [F, P, 2] and alive flags [F, P].

    A point dies (and stays dead) when LK loses it or its forward-backward check fails
    (:func:`draganything.tracking.lk_step`, 15x15 windows on grey frames); its position then keeps the last good
    value.
    """
    grey = _grey(frames)
    points = np.asarray(points, np.float32).reshape(-1, 2)
    tracks = np.zeros((len(grey), len(points), 2), np.float32)
    alive = np.zeros((len(grey), len(points)), bool)
    tracks[0], alive[0] = points, True
    current = points
    for frame in range(1, len(grey)):
        forward, good = lk_step(grey[frame - 1], grey[frame], current)
        alive[frame] = alive[frame - 1] & good
        current = np.where(alive[frame][:, None], forward, current)
        tracks[frame] = current
    return tracks, alive


def track_entity_lk(frames: np.ndarray, mask: np.ndarray, start) -> tuple[np.ndarray, np.ndarray]:
    """One entity's track [F, 2] and flags [F]: ``start`` moved by the median displacement of LK-tracked corners.

    Corners are taken inside the first-frame ``mask`` (bool [H, W]); with no corner there, the mask's pixels on
    a coarse grid are used. A frame where no corner survives is flagged False (the point keeps its last value).
    """
    mask = np.asarray(mask, bool)
    corners = cv2.goodFeaturesToTrack(_grey(frames[:1])[0], MAX_CORNERS, 0.01, 2,
                                      mask=mask.astype(np.uint8) * 255, blockSize=3)
    if corners is None:
        rows, cols = np.nonzero(mask)
        if rows.size == 0:
            raise DragAnythingError("mask", "the entity's first-frame mask is empty", "Pass a non-empty mask.")
        step = max(1, rows.size // MAX_CORNERS)
        corners = np.stack([cols[::step], rows[::step]], axis=1).astype(np.float32)
    tracks, alive = track_points_lk(frames, corners.reshape(-1, 2))
    start = np.asarray(start, np.float64)
    track = np.repeat(start[None], len(tracks), axis=0)
    found = alive.any(axis=1)
    for frame in range(1, len(tracks)):
        if found[frame]:
            track[frame] = start + np.median(tracks[frame, alive[frame]] - tracks[0, alive[frame]], axis=0)
        else:
            track[frame] = track[frame - 1]
    return track, found


def colour_masks(frames: np.ndarray, first_masks, *, palette_size: int = 3, background_palette: int = 6,
                 seed: int = 0) -> np.ndarray:
    """Per-frame masks bool [N, F, H, W] of N entities, by nearest colour (CIE Lab) among entity and background
    palettes taken from frame 0.

    Each entity's palette is the k-means centres of its first-frame pixels; the background's, of every pixel no
    entity covers. Each pixel of each frame goes to the nearest centre; an entity's mask is its pixels, opened
    by a 3x3 kernel and reduced to its largest connected part. Works when entities have colours of their own
    (the synthetic set's saturated sprites on low-saturation backgrounds); not a general segmenter.
    """
    frames = np.asarray(frames)
    _grey(frames[:1])
    first_masks = np.asarray(first_masks, bool)
    lab = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2LAB) for frame in frames]).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(seed)
    centres, owners = [], []
    background = ~first_masks.any(axis=0)
    for owner, region in list(enumerate(first_masks)) + [(-1, background)]:
        pixels = lab[0][region]
        if len(pixels) == 0:
            continue
        k = min(palette_size if owner >= 0 else background_palette, len(pixels))
        _, _, found = cv2.kmeans(pixels, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
        centres.append(found)
        owners += [owner] * k
    centres = np.concatenate(centres)
    owners = np.array(owners)
    flat = lab.reshape(-1, 3)
    distance = ((flat[:, None, :] - centres[None]) ** 2).sum(-1)
    labels = owners[distance.argmin(axis=1)].reshape(lab.shape[:3])
    kernel = np.ones((3, 3), np.uint8)
    masks = np.zeros((len(first_masks),) + lab.shape[:3], bool)
    for entity in range(len(first_masks)):
        for frame in range(len(frames)):
            opened = cv2.morphologyEx((labels[frame] == entity).astype(np.uint8), cv2.MORPH_OPEN, kernel)
            count, components, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
            if count > 1:
                largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
                masks[entity, frame] = components == largest
    return masks


def mask_centroid_tracks(masks: np.ndarray, starts) -> tuple[np.ndarray, np.ndarray]:
    """Tracks [N, F, 2] from per-frame masks [N, F, H, W]: each start point moved with its mask's centroid."""
    masks = np.asarray(masks, bool)
    starts = np.asarray(starts, np.float64).reshape(-1, 2)
    rows = np.arange(masks.shape[2])[:, None]
    cols = np.arange(masks.shape[3])[None, :]
    area = masks.sum(axis=(2, 3))
    found = area > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        centroids = np.stack([(masks * cols).sum(axis=(2, 3)) / area, (masks * rows).sum(axis=(2, 3)) / area], -1)
    tracks = np.repeat(starts[:, None], masks.shape[1], axis=1)
    for entity in range(len(masks)):
        if not found[entity, 0]:
            continue
        for frame in range(1, masks.shape[1]):
            tracks[entity, frame] = (starts[entity] + centroids[entity, frame] - centroids[entity, 0]
                                     if found[entity, frame] else tracks[entity, frame - 1])
    return tracks, found


def mask_iou(predicted, target) -> np.ndarray:
    """IoU per leading index of two bool mask stacks [..., H, W] (1.0 where both are empty)."""
    predicted, target = np.asarray(predicted, bool), np.asarray(target, bool)
    if predicted.shape != target.shape:
        raise DragAnythingError("predicted", f"mask shape {predicted.shape} differs from {target.shape}",
                                "Compare masks of the same size and count.")
    intersection = (predicted & target).sum(axis=(-2, -1))
    union = (predicted | target).sum(axis=(-2, -1))
    return np.where(union > 0, intersection / np.maximum(union, 1), 1.0)


# --------------------------------------------------------------------------------------------- evaluation


@dataclass
class EvaluationRow:
    setting: str
    objmc: float
    objmc_official: float
    objmc_colour: float
    iou_moving: float
    iou_still: float
    seconds_per_video: float


@dataclass
class EvaluationTable:
    """Means over the test videos, one row per setting; ``details`` holds the per-video numbers."""

    rows: list[EvaluationRow]
    num_videos: int
    settings: dict
    details: list[dict] = field(default_factory=list)

    def to_markdown(self) -> str:
        header = ("| setting | ObjMC (px) | ObjMC, official (px) | ObjMC, colour tracker (px) | IoU moving sprites "
                  "| IoU still sprites |")
        lines = [header, "|---|---|---|---|---|---|"]
        lines += [f"| {row.setting} | {row.objmc:.2f} | {row.objmc_official:.2f} | {row.objmc_colour:.2f} | "
                  f"{row.iou_moving:.3f} | {row.iou_still:.3f} |" for row in self.rows]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"num_videos": self.num_videos, "settings": self.settings,
                           "rows": [row.__dict__ for row in self.rows], "details": self.details}, indent=2)


SETTING_NAMES = {"full": "full model", "gaussian_only": "Gaussian only", "no_control": "no control"}


def score_video(frames: np.ndarray, clip, entities) -> dict:
    """ObjMC and IoU of one generated video against a synthetic clip's ground truth, for ``entities`` (rows of
    ``clip.ids``; the background is not scored: it carries no trackable point of its own)."""
    target = clip.tracks[entities].astype(np.float64)
    visible = clip.visible[entities]
    first = np.stack([clip.panoptic[0] == clip.ids[row] for row in entities])
    lk = np.stack([track_entity_lk(frames, mask, track[0])[0] for mask, track in zip(first, target)])
    masks = colour_masks(frames, first)
    colour, _ = mask_centroid_tracks(masks, target[:, 0])
    target_masks = np.stack([clip.panoptic == clip.ids[row] for row in entities])
    iou = mask_iou(masks[:, 1:], target_masks[:, 1:]).mean(axis=1)
    still = clip.still[entities]
    keys = [str(int(clip.ids[row])) for row in entities]
    return {
        "objmc": objmc(lk, target, visible),
        "objmc_official": objmc_official({k: t.tolist() for k, t in zip(keys, np.trunc(target))},
                                         {k: t.tolist() for k, t in zip(keys, lk)}),
        "objmc_colour": objmc(colour, target, visible),
        "iou_moving": float(iou[~still].mean()) if (~still).any() else float("nan"),
        "iou_still": float(iou[still].mean()) if still.any() else float("nan"),
    }


def evaluate(out_dir: str | Path | None = None, *, num_videos: int = 8, seed: int = 0, device: str = "cpu",
             model_dir: str | Path | None = None, gaussian_only_controlnet: str | Path | None = None,
             settings: tuple[str, ...] = ("full", "gaussian_only", "no_control"),
             num_inference_steps: int | None = None, write_videos: bool = True) -> EvaluationTable:
    """Generate the held-out synthetic test videos with the tiny model and score them (module docstring).

    Every sprite of a scene is an entity (moving or held still) plus the background as an anchor, conditioned
    on its ground-truth track; the tracks are what the sprites did in the scene the first frame came from.
    "gaussian_only" needs ``gaussian_only_controlnet`` (the ablation trained without entity maps, see
    MODEL_CARD.md) and is skipped without it. ``out_dir`` receives table.md, table.json and, with
    ``write_videos``, one GIF per video and setting (generated frames with the target paths).
    """
    from . import tiny
    from .viz import draw_tracks, side_by_side, write_gif

    unknown = [name for name in settings if name not in SETTING_NAMES]
    if unknown or num_videos < 1:
        raise DragAnythingError("settings" if unknown else "num_videos",
                                f"unknown settings {unknown}" if unknown else f"got {num_videos}",
                                f"Use settings from {list(SETTING_NAMES)} and at least one video.")
    if "gaussian_only" in settings and gaussian_only_controlnet is None:
        settings = tuple(name for name in settings if name != "gaussian_only")
    model_dir = tiny.TINY_DIR if model_dir is None else model_dir
    full = tiny.load_tiny(model_dir, device=device)
    models = {"full": full, "no_control": full}
    if "gaussian_only" in settings:
        models["gaussian_only"] = tiny.load_tiny(model_dir, device=device, controlnet=gaussian_only_controlnet)
    sampling = tiny.DEFAULT_SAMPLING if num_inference_steps is None else tiny.SamplingSettings(num_inference_steps)
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    scores = {name: [] for name in settings}
    seconds = {name: 0.0 for name in settings}
    details, truth = [], []
    for index in range(num_videos):
        clip = tiny.held_out_scene(index)
        entities = np.arange(1, len(clip.ids))  # sprites; row 0 is the background
        masks = np.stack([clip.panoptic[0] == entity for entity in clip.ids])
        # The trackers' own error: the scene's real video scored like a generated one.
        truth.append(score_video(clip.frames, clip, entities))
        record = {"video": index, "seed": clip.seed, "real_video": truth[-1]}
        # One set of conditions per video: the entity embeddings come from the base, which every setting shares.
        conditions = tiny.drag_conditions(full, clip.frames[0], masks, clip.tracks, anchors=clip.still, seed=seed)
        for name in settings:
            started = time.monotonic()
            frames = tiny.generate(models[name], clip.frames[0], conditions, mode=name, seed=seed + index,
                                   settings=sampling)
            seconds[name] += time.monotonic() - started
            score = score_video(frames, clip, entities)
            scores[name].append(score)
            record[name] = score
            if out_dir is not None and write_videos:
                overlay = draw_tracks(frames, clip.tracks, visible=clip.visible, anchors=clip.still)
                real = draw_tracks(clip.frames, clip.tracks, visible=clip.visible, anchors=clip.still)
                write_gif(out_dir / f"video{index:02d}_{name}.gif", side_by_side(real, overlay, gap=4))
        details.append(record)

    rows = [EvaluationRow(SETTING_NAMES[name] + (" (ablation ControlNet)" if name == "gaussian_only" else ""),
                          *(float(np.nanmean([score[key] for score in scores[name]])) for key in
                            ("objmc", "objmc_official", "objmc_colour", "iou_moving", "iou_still")),
                          seconds[name] / num_videos)
            for name in settings]
    rows.append(EvaluationRow("real video (tracker floor)", *(float(np.nanmean([score[key] for score in truth]))
                                                              for key in ("objmc", "objmc_official", "objmc_colour",
                                                                          "iou_moving", "iou_still")), 0.0))
    table = EvaluationTable(rows, num_videos, {"num_inference_steps": sampling.num_inference_steps,
                                               "seed": seed, "device": device,
                                               "scenes": f"test seeds {tiny.TEST_SEED_BASE}.."
                                                         f"{tiny.TEST_SEED_BASE + num_videos - 1}"}, details)
    if out_dir is not None:
        (out_dir / "table.md").write_text(table.to_markdown() + "\n")
        (out_dir / "table.json").write_text(table.to_json())
    return table
