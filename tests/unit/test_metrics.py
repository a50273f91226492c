"""ObjMC on hand-computable inputs, the trackers on videos with known motion, and IoU."""

import numpy as np
import pytest

from draganything.errors import DragAnythingError
from draganything.metrics import (
    colour_masks,
    mask_centroid_tracks,
    mask_iou,
    objmc,
    objmc_official,
    score_video,
    track_entity_lk,
    track_points_lk,
)
from draganything.train.synthetic import SceneConfig, generate_clip


def test_objmc_excludes_frame_zero_by_default():
    target = np.zeros((1, 4, 2))
    predicted = np.array([[[6, 8], [3, 4], [3, 4], [3, 4]]], float)  # 10 px at frame 0, then 5 px
    assert objmc(predicted, target) == pytest.approx(5.0)
    assert objmc(predicted, target, include_first_frame=True) == pytest.approx((10 + 3 * 5) / 4)


def test_objmc_counts_only_visible_pairs_in_one_global_mean():
    target = np.zeros((2, 3, 2))
    predicted = np.zeros((2, 3, 2))
    predicted[0, 1:] = [3, 4]  # 5 px
    predicted[1, 1:] = [0, 1]  # 1 px
    predicted[1, 2] = [100, 0]  # a target point that is off-frame: must not count
    visible = np.array([[True, True, True], [True, True, False]])
    assert objmc(predicted, target, visible) == pytest.approx((5 + 5 + 1) / 3)
    assert np.isnan(objmc(predicted, target, np.zeros((2, 3), bool)))
    assert objmc(predicted[0, :, :], target[0]) == pytest.approx(5.0)  # one track [F, 2]


def test_objmc_official_zips_includes_frame_zero_and_needs_every_id():
    target = {"1": [[0, 0], [3, 4], [6, 8]], "2": [[1, 1], [1, 1]]}
    predicted = {"1": [[0, 0], [0, 0]], "2": [[1, 1], [1, 3]], "3": [[9, 9]]}
    # pairs: id 1 -> 0, 5 (truncated to the prediction's 2 points); id 2 -> 0, 2
    assert objmc_official(target, predicted) == pytest.approx((0 + 5 + 0 + 2) / 4)
    with pytest.raises(DragAnythingError, match="'2'"):
        objmc_official(target, {"1": predicted["1"]})


def test_objmc_input_errors():
    with pytest.raises(DragAnythingError):
        objmc(np.zeros((1, 3, 2)), np.zeros((1, 4, 2)))
    with pytest.raises(DragAnythingError):
        objmc(np.zeros((1, 3, 3)), np.zeros((1, 3, 3)))
    with pytest.raises(DragAnythingError):
        objmc(np.zeros((1, 3, 2)), np.zeros((1, 3, 2)), visible=np.ones(5, bool))


def _moving_square_video(offsets) -> tuple[np.ndarray, np.ndarray]:
    """A textured square moving by whole pixels over a textured background, and its first-frame mask."""
    rng = np.random.default_rng(0)
    background = (rng.random((96, 96, 3)) * 60 + 60).astype(np.uint8)
    patch = (rng.random((20, 20, 3)) * 255).astype(np.uint8)
    frames = []
    for dx, dy in offsets:
        frame = background.copy()
        frame[30 + dy:50 + dy, 30 + dx:50 + dx] = patch
        frames.append(frame)
    mask = np.zeros((96, 96), bool)
    mask[30:50, 30:50] = True
    return np.stack(frames), mask


def test_lucas_kanade_follows_a_known_motion():
    offsets = [(0, 0), (2, 1), (4, 3), (7, 4), (9, 6)]
    frames, mask = _moving_square_video(offsets)
    track, found = track_entity_lk(frames, mask, (40, 40))
    assert found.all()
    np.testing.assert_allclose(track, np.array([(40 + dx, 40 + dy) for dx, dy in offsets]), atol=0.5)
    points, alive = track_points_lk(frames, [[35, 35], [44, 44]])
    assert alive[-1].all()
    np.testing.assert_allclose(points[-1], [[44, 41], [53, 50]], atol=0.5)


def test_colour_masks_and_centroids_recover_a_synthetic_clip():
    clip = generate_clip(10_000_004, SceneConfig(num_frames=(8, 8)))
    sprites = np.arange(1, len(clip.ids))
    first = np.stack([clip.panoptic[0] == clip.ids[row] for row in sprites])
    masks = colour_masks(clip.frames, first)
    truth = np.stack([clip.panoptic == clip.ids[row] for row in sprites])
    assert mask_iou(masks, truth).mean() > 0.9
    tracks, _ = mask_centroid_tracks(masks, clip.tracks[sprites, 0])
    assert objmc(tracks, clip.tracks[sprites], clip.visible[sprites]) < 1.5


def test_mask_iou_golden_values():
    a = np.zeros((2, 4, 4), bool)
    b = np.zeros((2, 4, 4), bool)
    a[0, :2, :2] = True  # 4 px
    b[0, :2, 1:3] = True  # 4 px, 2 shared -> 2 / 6
    np.testing.assert_allclose(mask_iou(a, b), [1 / 3, 1.0])  # two empty masks agree
    with pytest.raises(DragAnythingError):
        mask_iou(a, b[:1])


def test_a_frozen_video_scores_worse_than_the_real_one():
    clip = generate_clip(10_000_001, SceneConfig(num_frames=(8, 8)))
    sprites = np.arange(1, len(clip.ids))
    real = score_video(clip.frames, clip, sprites)
    frozen = score_video(np.repeat(clip.frames[:1], len(clip.frames), axis=0), clip, sprites)
    assert real["objmc_colour"] < 1.0 and real["iou_moving"] > 0.9
    assert frozen["objmc_colour"] > 10 * max(real["objmc_colour"], 0.5)
    assert frozen["iou_moving"] < 0.5


def test_tracker_rejects_non_video_input():
    with pytest.raises(DragAnythingError, match="uint8 RGB"):
        track_points_lk(np.zeros((3, 8, 8)), [[1, 1]])
