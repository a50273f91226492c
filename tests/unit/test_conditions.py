"""build_conditions: trajectories + masks + features -> the ControlNet's Gaussian and entity maps."""

import hashlib

import cv2
import numpy as np
import pytest
import torch

from draganything.conditions import build_conditions, map_radii, model_tracks
from draganything.entity import binarize_mask, read_mask, resize_mask
from draganything.errors import DragAnythingError
from draganything.framing import Framing
from draganything.trajectory import Entity, Trajectories, load_official_demo

GOLDEN_MD5 = {"ship_@": "b7427e1aa74f4f52574e800fafc229e3", "bird_@": "d7baf48e9ef719923390cf353afe974f"}


def official_case(folder):
    trajectories, image_path = load_official_demo(folder)
    masks = [read_mask(image_path.parent / entity.mask_name) for entity in trajectories]
    return trajectories, masks


@pytest.mark.parametrize("case", sorted(GOLDEN_MD5))
def test_official_demo_gaussians_bit_for_bit(official_demo_dir, case):
    trajectories, masks = official_case(official_demo_dir / case)
    conditions = build_conditions(trajectories, masks)
    assert conditions.gaussian.shape == (20, 3, 320, 576)
    stack = conditions.gaussian[:, 0].numpy().astype(np.uint8)
    assert hashlib.md5(stack.tobytes()).hexdigest() == GOLDEN_MD5[case]


def test_ship_geometry_matches_the_spec(official_demo_dir):
    trajectories, masks = official_case(official_demo_dir / "ship_@")
    conditions = build_conditions(trajectories, masks)
    assert conditions.radii.astype(int).tolist() == [74, 41]
    assert conditions.sides.tolist() == [50, 41]
    assert conditions.points[0, 0].tolist() == [343, 225] and conditions.points[0, -1].tolist() == [140, 252]
    assert conditions.masks.shape == (2, 320, 576) and conditions.masks.dtype == bool
    assert conditions.embeddings is None
    with pytest.raises(DragAnythingError, match="without entity features"):
        conditions.entity_map()


def test_entity_map_carries_the_pooled_vectors(official_demo_dir):
    folder = official_demo_dir / "ship_@"
    trajectories, masks = official_case(folder)
    features = torch.randn(1, 320, 40, 72, generator=torch.Generator().manual_seed(0))
    conditions = build_conditions(trajectories, masks, features)
    # The spec's pooling: the ==255 mask resized straight to the 72x40 grid, plain mean, channel pairs averaged.
    ship_cells = resize_mask(binarize_mask(masks[0]), 72, 40).astype(bool)
    pooled = features[0][:, torch.from_numpy(ship_cells)].mean(dim=1)
    expected = (pooled[0::2] + pooled[1::2]) / 2
    torch.testing.assert_close(conditions.embeddings[0], expected)
    dense = conditions.entity_map()
    assert dense.shape == (20, 160, 320, 576)
    torch.testing.assert_close(dense[0, :, 225, 343], expected)
    torch.testing.assert_close(dense[19, :, 252, 140], expected)
    assert torch.equal(dense[0, :, 5, 5], torch.zeros(160))
    assert torch.equal(conditions.entity_map(frames=slice(18, 20)), dense[18:20])


def test_official_demo_mode_paints_channel_0_everywhere(official_demo_dir):
    trajectories, masks = official_case(official_demo_dir / "ship_@")
    features = torch.randn(1, 320, 40, 72, generator=torch.Generator().manual_seed(1))
    trained = build_conditions(trajectories, masks, features)
    demo = build_conditions(trajectories, masks, features, entity_mode="official_demo")
    dense = demo.entity_map()
    assert dense.shape == (20, 160, 320, 576) and dense.stride(1) == 0  # one scalar map, expanded
    value = dense[0, 0, 225, 343]
    assert torch.equal(dense[0, :, 225, 343], value.expand(160))
    assert value != trained.embeddings[0, 0]  # the scalar is vec[0] of the 320-d vector, not a pair average
    assert torch.equal(demo.entity_index, trained.entity_index)


# ---------------------------------------------------------------------------------------- synthetic scenes


def scene(points, *, width=256, height=128, frames=None, radius=None, anchor=False):
    """One entity on a width x height source with a disc mask of radius 30 around its first point."""
    entity = Entity(id="ball", points=points, frames=frames, radius=radius, anchor=anchor)
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, tuple(int(v) for v in entity.points[0]), 30, 255, -1)
    return Trajectories([entity], width=width, height=height), [mask]


def test_model_size_other_than_the_source():
    trajectories, masks = scene([[64, 64], [192, 64]])
    conditions = build_conditions(trajectories, masks, height=64, width=128, num_frames=2, resample="arc_length")
    assert conditions.gaussian.shape == (2, 3, 64, 128)
    assert conditions.points[0].tolist() == [[32, 32], [96, 32]]
    assert conditions.radii[0] == pytest.approx(15, abs=1.5)  # half the source radius
    assert conditions.sides.tolist() == [10]  # the cap at a 64-pixel short edge: 50 * 64 / 320
    assert conditions.entity_index[1, 32, 96] == 0 and conditions.entity_index[1, 32, 32] == -1


def test_centre_crop_keeps_points_and_masks_aligned():
    trajectories, masks = scene([[200, 200]], width=400, height=400)
    for framing in ("stretch", "center_crop"):
        conditions = build_conditions(trajectories, masks, height=64, width=128, num_frames=1, framing=framing)
        cx, cy = conditions.points[0, 0].astype(int)
        assert (cx, cy) == (64, 32)
        assert conditions.masks[0, cy, cx]
        peak_y, peak_x = np.unravel_index(int(conditions.gaussian[0, 0].argmax()), (64, 128))
        assert abs(peak_x - cx) <= 1 and abs(peak_y - cy) <= 1


def test_analytic_mode_peaks_on_the_continuous_point():
    trajectories, masks = scene([[100.5, 60.5]])
    conditions = build_conditions(trajectories, masks, height=128, width=256, num_frames=1, gaussian_mode="analytic")
    assert conditions.gaussian[0, 0, 60, 100] == pytest.approx(255)
    assert conditions.gaussian.dtype == torch.float32


def test_points_off_the_image_follow_the_offframe_policy():
    trajectories, masks = scene([[128, 64], [300, 64]])
    hidden = build_conditions(trajectories, masks, height=128, width=256, num_frames=2, offframe="invisible")
    assert hidden.visible[0].tolist() == [True, False]
    assert hidden.gaussian[1].max() == 0 and (hidden.entity_index[1] == -1).all()
    clipped = build_conditions(trajectories, masks, height=128, width=256, num_frames=2, offframe="clip")
    assert clipped.points[0, 1].tolist() == [256, 64]
    assert clipped.gaussian[1].max() > 0  # squeezed against the right border, as the official paste does


def test_radius_overrides_and_entity_radii_are_not_capped():
    trajectories, masks = scene([[128, 64]], radius=120)  # source pixels; the model is half size
    conditions = build_conditions(trajectories, masks, height=64, width=128, num_frames=1)
    assert conditions.sides.tolist() == [60]
    overridden = build_conditions(trajectories, masks, height=64, width=128, num_frames=1, radius_overrides=[7])
    assert overridden.sides.tolist() == [7]
    with pytest.raises(DragAnythingError, match="radius_overrides"):
        build_conditions(trajectories, masks, height=64, width=128, num_frames=1, radius_overrides=[7, 8])


def test_map_radii_is_the_rule_build_conditions_uses():
    # 1124x668 -> 576x320 stretched: 0.5125 x 0.479 model pixels per picture pixel (geometric mean 0.4955).
    to_model = Framing(1124, 668, 576, 320)
    radii = map_radii(to_model, mask_radii=[74.2, 30.9, 80.0, 80.0], radii=[None, None, 200.0, None],
                      overrides=[None, None, None, 7.5])
    # Mask radii are capped at 50 (the cap at a 320 px short side); explicit ones are not; all are truncated.
    assert radii.sides.tolist() == [50, 30, 99, 7]
    np.testing.assert_allclose(radii.source, radii.sides / np.sqrt(576 / 1124 * 320 / 668))
    capped = map_radii(Framing(1152, 640, 1152, 640), [300.0], cap=50)
    assert capped.sides.tolist() == [50] and capped.source.tolist() == [50.0]
    with pytest.raises(DragAnythingError, match="radii"):
        map_radii(to_model, [10.0, 10.0], radii=[None])


def test_the_entity_radius_reaches_the_maps_through_map_radii():
    trajectories, masks = scene([[128, 64]], radius=200)
    to_model = Framing(256, 128, 128, 64, "center_crop")
    conditions = build_conditions(trajectories, masks, height=64, width=128, num_frames=1, framing="center_crop")
    expected = map_radii(to_model, conditions.radii, [200.0])
    assert conditions.sides.tolist() == expected.sides.tolist() == [100]


def test_model_tracks_are_the_points_the_maps_are_drawn_at():
    trajectories, masks = scene([[100.7, 40.2], [20, 30]])
    conditions = build_conditions(trajectories, masks, height=64, width=128, num_frames=2, resample="index")
    points, visible = model_tracks(trajectories, Framing(256, 128, 128, 64), 2, "index")
    assert np.array_equal(points, conditions.points) and np.array_equal(visible, conditions.visible)
    assert points[0, 0].tolist() == [50, 20]  # template maps: the official int() of the scaled point


def test_entity_vectors_stand_in_for_features():
    trajectories, masks = scene([[128, 64]])
    vectors = torch.arange(320, dtype=torch.float32)[None]
    conditions = build_conditions(trajectories, masks, entity_vectors=vectors, height=64, width=128, num_frames=1)
    torch.testing.assert_close(conditions.embeddings, torch.arange(0.5, 320, 2)[None])
    with pytest.raises(DragAnythingError, match="both"):
        build_conditions(trajectories, masks, torch.zeros(320, 8, 16), entity_vectors=vectors, height=64,
                         width=128, num_frames=1)
    with pytest.raises(DragAnythingError, match="entity_vectors"):
        build_conditions(trajectories, masks, entity_vectors=torch.zeros(2, 320), height=64, width=128)


# ------------------------------------------------------------------------------------------------ validation


def test_mask_count_must_match_the_entities():
    trajectories, masks = scene([[128, 64]])
    with pytest.raises(DragAnythingError, match=r"2 mask\(s\) for 1 entity"):
        build_conditions(trajectories, masks * 2)


def test_a_mask_of_another_aspect_ratio_is_refused(official_demo_dir):
    # butterfly_@ ships unreferenced 1130x744 masks beside its 1024x800 image.
    trajectories, masks = official_case(official_demo_dir / "butterfly_@")
    masks[0] = read_mask(official_demo_dir / "butterfly_@" / "0_skateboarding.jpg")
    with pytest.raises(DragAnythingError, match="1130x744 but the image is 1024x800"):
        build_conditions(trajectories, masks)


def test_a_mask_of_the_same_aspect_ratio_is_resized_with_a_warning():
    trajectories, masks = scene([[128, 64]])
    large = cv2.resize(masks[0], (512, 256), interpolation=cv2.INTER_NEAREST)
    expected = build_conditions(trajectories, masks, height=64, width=128, num_frames=1)
    with pytest.warns(UserWarning, match="512x256, the image 256x128"):
        resized = build_conditions(trajectories, [large], height=64, width=128, num_frames=1)
    assert resized.sides.tolist() == expected.sides.tolist()
    assert np.count_nonzero(resized.masks != expected.masks) < 10


def test_empty_masks_are_refused_with_a_hint_about_the_threshold_rule():
    trajectories, masks = scene([[128, 64]])
    with pytest.raises(DragAnythingError, match="'ball'.*empty"):
        build_conditions(trajectories, [np.zeros_like(masks[0])])
    soft = (masks[0] > 0).astype(np.uint8) * 200
    with pytest.raises(DragAnythingError, match="threshold rule"):
        build_conditions(trajectories, [soft])
    conditions = build_conditions(trajectories, [soft], binarize="threshold", height=64, width=128, num_frames=1)
    assert conditions.sides.tolist() == [10]


def test_a_mask_cropped_away_is_refused():
    trajectories, masks = scene([[200, 30]], width=400, height=400)  # the 2:1 centre crop keeps rows 100..299
    with pytest.raises(DragAnythingError, match="nothing of it is left.*center_crop"):
        build_conditions(trajectories, masks, height=64, width=128, num_frames=1, framing="center_crop")


def test_a_mask_too_small_for_the_feature_grid_names_its_entity():
    entity = Entity(id="speck", points=[[100, 60]])
    mask = np.zeros((128, 256), np.uint8)
    mask[60:62, 100:102] = 255  # survives the 2x reduction to the model frame, not the 16x one to the grid
    with pytest.raises(DragAnythingError, match="'speck'.*feature grid"):
        build_conditions(Trajectories([entity], 256, 128), [mask], torch.randn(1, 320, 8, 16), height=64,
                         width=128, num_frames=1)


def test_frame_mismatch():
    trajectories, masks = scene([[64, 64], [192, 64]])
    trajectories.num_frames = 14
    with pytest.raises(DragAnythingError, match="made for 14 frames.*20 were asked for"):
        build_conditions(trajectories, masks, num_frames=20)
    assert build_conditions(trajectories, masks, num_frames=20, resample="arc_length").num_frames == 20
    timed, masks = scene([[64, 64], [192, 64]], frames=[0, 24])
    with pytest.raises(DragAnythingError, match="stamped at frame 24 but the video has 20"):
        build_conditions(timed, masks, num_frames=20, resample="time")


def test_features_of_another_aspect_ratio_are_refused():
    trajectories, masks = scene([[128, 64]])
    with pytest.raises(DragAnythingError, match="features"):
        build_conditions(trajectories, masks, torch.randn(1, 320, 16, 16), height=64, width=128, num_frames=1)


@pytest.mark.parametrize("kwargs, input_name", [
    ({"entity_mode": "vector"}, "entity_mode"),
    ({"gaussian_mode": "sum"}, "gaussian_mode"),
    ({"framing": "pad"}, "framing mode"),
    ({"resample": "spline"}, "resampling mode"),
    ({"offframe": "wrap"}, "offframe"),
    ({"binarize": "otsu"}, "binarize_mode"),
])
def test_unknown_settings_are_refused(kwargs, input_name):
    trajectories, masks = scene([[128, 64]])
    with pytest.raises(DragAnythingError, match=input_name):
        build_conditions(trajectories, masks, **kwargs)


@pytest.mark.parametrize("source_size", [(128,), "128x64", (128, 0), (128.0, 64)])
def test_a_malformed_source_size_is_refused(source_size):
    trajectories, masks = scene([[128, 64]])
    with pytest.raises(DragAnythingError, match=r"^source_size: .* is not a (\(width, height\) pair|size in pixels)"):
        build_conditions(trajectories, masks, source_size=source_size)


def test_no_entities():
    with pytest.raises(DragAnythingError, match="no entities"):
        build_conditions(Trajectories([]), [])
