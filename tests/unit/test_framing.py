"""Framing: points, masks and images mapped exactly as the first frame is mapped to the model's size."""

import json
import re

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from draganything.errors import DragAnythingError
from draganything.framing import Framing
from draganything.trajectory import load_official_demo


def test_official_rounding_matches_demo_py_for_every_official_demo(official_demo_dir):
    # demo.py: [int(x / W0 * W), int(y / H0 * H)] for every JSON point, at 576x320.
    for json_path in sorted(official_demo_dir.glob("*/demo*.json")):
        trajectories, _ = load_official_demo(json_path)
        framing = Framing(trajectories.width, trajectories.height, 576, 320, "stretch")
        raw = json.loads(json_path.read_text())
        for entity, record in zip(trajectories, raw.values(), strict=True):
            expected = [
                [int(x / trajectories.width * 576), int(y / trajectories.height * 320)] for x, y in record["trajectory"]
            ]
            assert framing.points(entity.points, official_rounding=True).tolist() == expected, json_path


def test_ship_path_endpoints_match_the_spec(official_demo_dir):
    trajectories, _ = load_official_demo(official_demo_dir / "ship_@")
    points, visible = trajectories.resampled(20, mode="index")
    mapped = Framing(trajectories.width, trajectories.height, 576, 320).points(points, official_rounding=True)
    assert mapped[0, 0].tolist() == [343, 225] and mapped[0, -1].tolist() == [140, 252]
    assert visible.all()


# ------------------------------------------------------------------------------------------------ crop boxes

PORTRAIT = "car_4_@"  # the one portrait demo: 660x938


@pytest.mark.parametrize(
    "source, model, box",
    [
        # Host rule: the margin (src - src * aspect ratio) / 2 is computed in floats and rounded with Python's
        # round-half-to-even, then taken off both sides.
        ((660, 938), (576, 320), (0, 286, 660, 652)),  # margin 285.67 -> 286
        ((1092, 776), (576, 320), (0, 85, 1092, 691)),  # margin 84.67 -> 85
        ((1031, 320), (1024, 320), (3, 0, 1028, 320)),  # margin evaluates to 3.4999999999998863 -> 3
        ((1029, 320), (1024, 320), (2, 0, 1027, 320)),  # margin 2.5 -> 2 (half to even)
        ((576, 327), (576, 320), (0, 4, 576, 323)),  # margin 3.5 -> 4 (half to even)
        ((1152, 640), (576, 320), (0, 0, 1152, 640)),  # same aspect: no crop
    ],
)
def test_center_crop_box_follows_the_host_rounding(source, model, box):
    framing = Framing(*source, *model, "center_crop")
    assert framing.crop_box == box
    x0, y0, x1, y1 = box
    assert (x0, y0) == (source[0] - x1, source[1] - y1)  # centred
    assert Framing(*source, *model, "stretch").crop_box == (0, 0, *source)


def test_points_round_trip_through_the_inverse():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-100, 1000, size=(4, 7, 2))
    for mode in ("stretch", "center_crop"):
        framing = Framing(660, 938, 576, 320, mode)
        assert np.allclose(framing.points_to_source(framing.points(xy)), xy)
    corners = Framing(660, 938, 576, 320, "center_crop").points([[0, 286], [660, 652]])
    assert np.allclose(corners, [[0, 0], [576, 320]])


def test_official_rounding_truncates_toward_zero():
    framing = Framing(100, 100, 50, 50)
    assert framing.points([[3.9, -1.9]], official_rounding=True).tolist() == [[1, 0]]
    assert framing.points([[3.9, -1.9]]).tolist() == [[1.95, -0.95]]


# ----------------------------------------------------------------------------------- portrait alignment


def binary_mask(path):
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) == 255  # the official ==255 rule


def centroid(mask):
    """Centroid of a boolean mask in continuous coordinates (pixel (i, j) has its centre at (i + .5, j + .5))."""
    rows, cols = np.nonzero(mask)
    return np.array([cols.mean() + 0.5, rows.mean() + 0.5])


@pytest.mark.parametrize("mode", ["stretch", "center_crop"])
def test_portrait_masks_land_where_their_points_land(official_demo_dir, mode):
    folder = official_demo_dir / PORTRAIT
    trajectories, _image_path = load_official_demo(folder)
    assert (trajectories.width, trajectories.height) == (660, 938)
    framing = Framing(660, 938, 576, 320, mode)
    x0, y0, x1, y1 = framing.crop_box
    for mask_path in sorted(folder.glob("[0-9]_*.jpg")):
        source = binary_mask(mask_path)
        kept = np.zeros_like(source)
        kept[y0:y1, x0:x1] = source[y0:y1, x0:x1]  # the part of the entity the model frame still shows
        if kept.sum() < 200:
            continue
        mapped = framing.mask(source)
        assert mapped.shape == (320, 576)
        assert np.abs(centroid(mapped) - framing.points(centroid(kept))).max() < 0.5, mask_path.name


@pytest.mark.parametrize("mode", ["stretch", "center_crop"])
def test_portrait_image_lands_where_its_points_land(mode):
    # A bright disc drawn on a 660x938 frame must appear where the disc's centre point is mapped to.
    framing = Framing(660, 938, 576, 320, mode)
    for centre in ([330.0, 469.0], [120.5, 400.25], [540.0, 600.0]):
        image = np.zeros((938, 660, 3), np.uint8)
        rows, cols = np.mgrid[:938, :660]
        image[(cols + 0.5 - centre[0]) ** 2 + (rows + 0.5 - centre[1]) ** 2 < 30**2] = 255
        mapped = framing.image(image)
        assert mapped.shape == (320, 576, 3) and mapped.dtype == np.uint8
        weights = mapped[..., 0].astype(np.float64)
        found = [(weights.sum(0) * (np.arange(576) + 0.5)).sum(), (weights.sum(1) * (np.arange(320) + 0.5)).sum()]
        assert np.abs(np.array(found) / weights.sum() - framing.points(centre)).max() < 0.25


def test_portrait_points_outside_the_crop_are_not_visible(official_demo_dir):
    trajectories, _ = load_official_demo(official_demo_dir / PORTRAIT)
    points, visible = trajectories.resampled(20, mode="index")
    car, ground = 0, 1
    _stretched, stretched_visible = Framing(660, 938, 576, 320, "stretch").tracks(points, visible)
    assert stretched_visible.all()
    cropped, cropped_visible = Framing(660, 938, 576, 320, "center_crop").tracks(points, visible)
    # The car starts at y=666, below the crop's bottom edge at y=652, and drives up into it; the ground anchor
    # at y=837 is cut away in every frame.
    source_y = points[car, :, 1]
    assert cropped_visible[car].tolist() == ((source_y >= 286) & (source_y <= 652)).tolist()
    assert not cropped_visible[car, 0] and cropped_visible[car, -1]
    assert not cropped_visible[ground].any()
    assert np.array_equal(cropped, Framing(660, 938, 576, 320, "center_crop").points(points))
    clipped, clipped_visible = Framing(660, 938, 576, 320, "center_crop").tracks(points, visible, offframe="clip")
    assert clipped_visible.all() and clipped[ground, :, 1].tolist() == [320] * 20


def test_center_crop_image_is_the_hosts_crop_then_bilinear():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(938, 660, 3), dtype=np.uint8)
    crop = torch.from_numpy(image[286:652]).permute(2, 0, 1)[None].float() / 255
    expected = torch.nn.functional.interpolate(crop, size=(320, 576), mode="bilinear")[0].permute(1, 2, 0)
    mapped = Framing(660, 938, 576, 320, "center_crop").image(image)
    assert np.abs(mapped.astype(np.float64) / 255 - expected.numpy()).max() <= 0.5 / 255 + 1e-6


def test_stretch_image_is_the_demo_pil_resize(official_demo_dir):
    image = np.asarray(Image.open(official_demo_dir / "ship_@" / "demo.jpg").convert("RGB"))
    # demo.py: Image.open(...).convert("RGB").resize((576, 320)) with PIL's default (bicubic) filter.
    expected = np.asarray(Image.fromarray(image).resize((576, 320)))
    assert np.array_equal(Framing(1092, 776, 576, 320).image(image), expected)


def test_stretch_mask_is_the_demo_opencv_resize(official_demo_dir):
    for name in ("2_ship.jpg", "1_water.jpg"):
        binary = binary_mask(official_demo_dir / "ship_@" / name)
        # demo.py resizes the 0/1 uint8 mask with cv2.resize(mask, (576, 320)) (INTER_LINEAR).
        expected = cv2.resize(binary.astype(np.uint8), (576, 320)).astype(bool)
        assert np.array_equal(Framing(1092, 776, 576, 320).mask(binary), expected)
        assert np.array_equal(Framing(1092, 776, 576, 320).mask(binary.astype(np.uint8) * 255), expected)


def test_mask_inputs_and_interpolations():
    framing = Framing(8, 4, 4, 2)
    mask = np.zeros((4, 8), bool)
    mask[:2, :4] = True
    expected = [[True, True, False, False], [False, False, False, False]]
    for variant in (mask, mask.astype(np.float32), mask.astype(np.uint8) * 255, mask[None]):
        assert framing.mask(variant).tolist() == expected
        assert framing.mask(variant, interpolation="nearest").tolist() == expected


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda f: f.mask(np.zeros((5, 5), bool)), "source frame is 4x8"),
        (lambda f: f.mask(np.linspace(0, 1, 32).reshape(4, 8)), "not binary"),
        (lambda f: f.mask(np.zeros((4, 8), bool), interpolation="cubic"), "'cubic' is not a mask interpolation"),
        (lambda f: f.image(np.zeros((4, 8, 3), np.float32)), "uint8"),
        (lambda f: f.points([1, 2, 3]), "shape [3]"),
    ],
)
def test_bad_framing_inputs(call, message):
    with pytest.raises(DragAnythingError, match=re.escape(message)):
        call(Framing(8, 4, 4, 2))


@pytest.mark.parametrize("args", [(0, 4, 4, 2), (8, 4, 4.5, 2), (8, 4, 4, 2, "fit"), (True, 4, 4, 2)])
def test_bad_framing_construction(args):
    with pytest.raises(DragAnythingError):
        Framing(*args)


def test_radius_scales_with_the_geometric_mean():
    assert Framing(200, 100, 100, 100).radius(10) == pytest.approx(10 * np.sqrt(0.5 * 1.0))
    assert Framing(660, 938, 576, 320, "center_crop").radius(10) == pytest.approx(10 * np.sqrt(576 / 660 * 320 / 366))
    assert Framing(660, 938, 576, 320, "center_crop").radius_to_source(Framing(660, 938, 576, 320, "center_crop")
                                                                       .radius(10)) == pytest.approx(10)


@pytest.mark.parametrize("mode", ["stretch", "center_crop"])
def test_unframe_lays_a_model_map_back_where_the_source_pixels_were(mode):
    to_model = Framing(400, 300, 160, 64, mode)
    model_map = np.zeros((64, 160), np.float32)
    model_map[20:30, 100:120] = 200.0
    shown = to_model.unframe(model_map)
    assert shown.shape == (300, 400) and shown.dtype == np.float32
    x0, y0, x1, y1 = to_model.crop_box
    assert shown[:y0].max(initial=0) == 0 and shown[y1:].max(initial=0) == 0  # cropped away: nothing
    # The block's centre lands where the framing maps it from.
    centre = to_model.points_to_source([110.0, 25.0])
    assert shown[int(centre[1]), int(centre[0])] == pytest.approx(200.0)
    ys, xs = np.nonzero(shown > 100)
    np.testing.assert_allclose([xs.mean() + 0.5, ys.mean() + 0.5], centre, atol=1.5)
    # At a preview size, the same picture scaled.
    half = to_model.unframe(model_map, 200, 150)
    assert half.shape == (150, 200)
    assert half[int(centre[1] / 2), int(centre[0] / 2)] == pytest.approx(200.0)
    with pytest.raises(DragAnythingError, match="model-frame"):
        to_model.unframe(np.zeros((10, 10)))
