"""2D Gaussian trajectory maps: the official template mode bit for bit, and the analytic mode."""

import hashlib
import json

import cv2
import numpy as np
import pytest
import torch

from draganything.entity import binarize_mask, entity_sides, inscribed_circle, read_mask, resize_mask
from draganything.errors import DragAnythingError
from draganything.gaussian import (
    analytic_gaussian_maps,
    controlnet_gaussian_input,
    gaussian_maps,
    gaussian_template,
    template_gaussian_maps,
)

H, W = 320, 576

# Golden md5 of the official uint8 Gaussian stack [20, 320, 576] (spec section 4, fixtures README).
GOLDEN_MD5 = {"ship_@": "b7427e1aa74f4f52574e800fafc229e3", "bird_@": "d7baf48e9ef719923390cf353afe974f"}


def official_inputs(case_dir, frames=20):
    """Points and sides the way demo.py derives them, spelled out from the spec without the trajectory module."""
    records = json.loads((case_dir / "demo.json").read_text())
    image_h, image_w = cv2.imread(str(case_dir / "demo.jpg")).shape[:2]
    points, radii = [], []
    for record in records.values():
        points.append([[int(x / image_w * W), int(y / image_h * H)] for x, y in record["trajectory"][:frames]])
        mask = binarize_mask(read_mask(case_dir / record["mask_name"]))
        radii.append(int(inscribed_circle(resize_mask(mask, W, H)).radius))
    return np.array(points), radii


@pytest.mark.parametrize("case", sorted(GOLDEN_MD5))
def test_template_mode_reproduces_the_official_stack(official_demo_dir, case):
    points, radii = official_inputs(official_demo_dir / case)
    maps = template_gaussian_maps(points, entity_sides(radii, H, W), H, W)
    assert maps.dtype == np.uint8 and maps.shape == (20, H, W)
    assert hashlib.md5(maps.tobytes()).hexdigest() == GOLDEN_MD5[case]


def test_ship_sums_match_the_spec(official_demo_dir):
    points, radii = official_inputs(official_demo_dir / "ship_@")
    assert radii == [74, 41]
    maps = template_gaussian_maps(points, entity_sides(radii, H, W), H, W)
    assert maps[0].sum(dtype=np.int64) == 891_378
    assert maps.sum(dtype=np.int64) == 17_827_560


def test_template_values():
    template = gaussian_template()
    assert template.shape == (200, 200) and template.dtype == np.uint8
    assert template[100, 100] == 255 and template.max() == 255
    assert template[100, 0] == 11 and template[0, 100] == 11  # rim of the r=100 disc: exp(-3.125) * 255
    assert template[0, 0] == 0 and template[199, 199] == 0
    assert np.count_nonzero(template) == 31_415  # the filled cv2.circle of radius 100
    assert not template.flags.writeable


def reference_template_maps(points, sides, height, width):
    """The official paste spelled out frame by frame, entity by entity (the spec's section 4 algorithm)."""
    maps = np.zeros((points.shape[1], height, width), np.uint8)
    for frame in range(points.shape[1]):
        for (cx, cy), side in zip(points[:, frame], sides):
            y1, y2 = max(cy - side, 0), min(cy + side, height - 1)
            x1, x2 = max(cx - side, 0), min(cx + side, width - 1)
            if x2 - x1 > 3 and y2 - y1 > 3:
                maps[frame, y1:y2, x1:x2] = cv2.resize(gaussian_template(), (x2 - x1, y2 - y1))
    return maps


def test_template_mode_matches_the_official_paste_on_random_tracks_with_borders_and_overlaps():
    rng = np.random.default_rng(0)
    points = rng.integers([-60, -60], [W + 60, H + 60], size=(4, 12, 2))
    sides = np.array([50, 3, 17, 0]) + rng.integers(0, 4, size=4)
    expected = reference_template_maps(points, sides, H, W)
    np.testing.assert_array_equal(template_gaussian_maps(points, sides, H, W), expected)


def test_later_entity_overwrites_including_its_zero_corners():
    points = np.array([[[100, 100]], [[117, 117]]])
    maps = template_gaussian_maps(points, [20, 20], H, W)
    # (100, 100) lies in the second box's corner, outside its disc: the first bump's peak is erased.
    assert maps[0, 100, 100] == 0
    second = template_gaussian_maps(points[1:], [20], H, W)
    np.testing.assert_array_equal(maps[0, 97:137, 97:137], second[0, 97:137, 97:137])
    first = template_gaussian_maps(points[:1], [20], H, W)
    assert first[0, 100, 100] > 250


def test_border_boxes_are_squeezed_and_the_last_row_and_column_stay_empty():
    maps = template_gaussian_maps(np.array([[[5, 100]]]), [20], H, W)
    np.testing.assert_array_equal(maps[0, 80:120, 0:25], cv2.resize(gaussian_template(), (25, 40)))
    corner = template_gaussian_maps(np.array([[[W - 1, H - 1]]]), [20], H, W)
    assert corner[0, :, W - 1].max() == 0 and corner[0, H - 1, :].max() == 0
    np.testing.assert_array_equal(corner[0, H - 21:H - 1, W - 21:W - 1], cv2.resize(gaussian_template(), (20, 20)))


def test_boxes_of_three_pixels_or_less_are_skipped():
    side = 10
    three_wide = template_gaussian_maps(np.array([[[-side + 3, 100]]]), [side], H, W)
    four_wide = template_gaussian_maps(np.array([[[-side + 4, 100]]]), [side], H, W)
    assert three_wide.max() == 0 and four_wide.max() > 0
    assert template_gaussian_maps(np.array([[[100, 100]]]), [1], H, W).max() == 0


def test_float_points_are_truncated_toward_zero_like_int():
    as_float = template_gaussian_maps(np.array([[[100.9, 50.7]]]), [20], H, W)
    as_int = template_gaussian_maps(np.array([[[100, 50]]]), [20], H, W)
    np.testing.assert_array_equal(as_float, as_int)


def test_invisible_points_draw_nothing_in_their_frame():
    points = np.array([[[100, 100], [200, 100]]])
    for mode in ("template", "analytic"):
        maps = gaussian_maps(points, [20], H, W, mode=mode, visible=np.array([[True, False]]))
        assert maps[0].max() > 250 and maps[1].max() == 0


def test_analytic_mode_is_a_true_gaussian_cut_at_the_radius():
    side = 25
    sigma = 0.4 * side
    maps = analytic_gaussian_maps(np.array([[[100.5, 60.5]]]), [side], H, W)
    assert maps.dtype == np.float32
    assert maps[0, 60, 100] == pytest.approx(255)
    assert maps[0, 60, 110] == pytest.approx(255 * np.exp(-0.5 * (10 / sigma) ** 2), rel=1e-5)
    assert maps[0, 60, 125] == pytest.approx(255 * np.exp(-0.5 * (25 / sigma) ** 2), rel=1e-5)
    assert maps[0, 60, 126] == 0 and maps[0, 60 + 18, 100 + 18] == 0  # beyond the radius


def test_analytic_mode_combines_by_maximum_and_crops_at_borders():
    points = np.array([[[100.5, 100.5]], [[117.5, 117.5]]])
    maps = analytic_gaussian_maps(points, [20, 20], H, W)
    assert maps[0, 100, 100] == pytest.approx(255) and maps[0, 117, 117] == pytest.approx(255)
    inside = analytic_gaussian_maps(np.array([[[100.5, 100.5]]]), [20], H, W)[0, 90:111, 100:121]
    border = analytic_gaussian_maps(np.array([[[0.5, 100.5]]]), [20], H, W)[0, 90:111, 0:21]
    np.testing.assert_allclose(border, inside)


def test_controlnet_input_is_three_identical_channels_in_0_255():
    maps = template_gaussian_maps(np.array([[[100, 100], [300, 200]]]), [50], H, W)
    tensor = controlnet_gaussian_input(maps)
    assert tensor.shape == (2, 3, H, W) and tensor.dtype == torch.float32
    assert torch.equal(tensor[:, 0], tensor[:, 2]) and 250 < tensor.max() <= 255 and tensor.min() == 0
    np.testing.assert_array_equal(tensor[:, 1].numpy(), maps)


@pytest.mark.parametrize("points, sides, visible, problem", [
    (np.zeros((2, 3)), [1, 1], None, "shape"),
    (np.zeros((2, 3, 2)), [1], None, "one side per entity"),
    (np.zeros((1, 3, 2)), [-1], None, ">= 0"),
    (np.full((1, 3, 2), np.nan), [5], None, "NaN"),
    (np.zeros((1, 3, 2)), [5], np.ones((1, 2), bool), "visibility flag"),
])
def test_malformed_inputs_are_refused(points, sides, visible, problem):
    for mode in ("template", "analytic"):
        with pytest.raises(DragAnythingError, match=problem):
            gaussian_maps(points, sides, H, W, mode=mode, visible=visible)


def test_unknown_mode_is_refused():
    with pytest.raises(DragAnythingError, match="gaussian_mode"):
        gaussian_maps(np.zeros((1, 1, 2)), [5], H, W, mode="sum")
