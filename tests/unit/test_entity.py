"""Entity geometry and entity maps: binarisation, inscribed circles, pooling, discs, embeddings."""

import cv2
import numpy as np
import pytest
import torch

from draganything.entity import (
    binarize_mask,
    disc_offsets,
    entity_embeddings,
    entity_index_maps,
    entity_maps,
    entity_one_hot,
    entity_sides,
    inscribed_circle,
    pool_features,
    read_mask,
    resize_mask,
    side_cap,
)
from draganything.errors import DragAnythingError

H, W = 320, 576


# ------------------------------------------------------------------------------------------------ binarising


def test_official_rule_keeps_only_exact_255():
    mask = np.array([[0, 1, 128, 254, 255]], np.uint8)
    assert binarize_mask(mask).tolist() == [[0, 0, 0, 0, 1]]
    assert binarize_mask(mask.astype(np.float32) / 255).tolist() == [[0, 0, 0, 0, 1]]
    assert binarize_mask(mask > 200).tolist() == [[0, 0, 0, 1, 1]]


def test_official_rule_on_colour_masks_goes_through_the_demo_grey_conversion():
    # demo.py: per channel (v / 255) as uint8, then COLOR_RGB2GRAY on the cv2.imread (BGR) channel order, i.e.
    # round(0.299 c0 + 0.587 c1 + 0.114 c2) on 0/1 channels.
    pixels = np.array([[[255, 255, 255], [254, 255, 255], [255, 254, 255], [255, 255, 254], [0, 255, 0]]], np.uint8)
    assert binarize_mask(pixels).tolist() == [[1, 1, 0, 1, 1]]


def test_threshold_rule():
    mask = np.array([[0, 100, 128, 200]], np.uint8)
    assert binarize_mask(mask, mode="threshold").tolist() == [[0, 0, 1, 1]]
    assert binarize_mask(mask, mode="threshold", threshold=0.0).tolist() == [[0, 1, 1, 1]]
    assert binarize_mask(np.array([[0.2, 0.6]]), mode="threshold").tolist() == [[0, 1]]
    colour = np.stack([mask] * 3, axis=-1)
    assert binarize_mask(colour, mode="threshold").tolist() == [[0, 0, 1, 1]]


def test_official_rule_on_a_demo_mask_drops_the_jpeg_ringing(official_demo_dir):
    mask = read_mask(official_demo_dir / "ship_@" / "2_ship.jpg")
    official = binarize_mask(mask)
    assert 0.01 < 1 - official.sum() / np.count_nonzero(mask[..., 0]) < 0.10  # spec: 1-10% of pixels dropped


@pytest.mark.parametrize("mask, problem", [
    (np.zeros((4, 4, 2), np.uint8), "shape"),
    (np.zeros((0, 4), np.uint8), "shape"),
    (np.zeros((4, 4), np.int32), "dtype"),
    (np.full((4, 4), 2.0), "0..1"),
    (np.full((4, 4), np.nan), "0..1"),
])
def test_malformed_masks_are_refused(mask, problem):
    with pytest.raises(DragAnythingError, match=problem):
        binarize_mask(mask)


def test_unknown_binarize_mode_and_bad_threshold():
    with pytest.raises(DragAnythingError, match="binarize_mode"):
        binarize_mask(np.zeros((2, 2), np.uint8), mode="otsu")
    with pytest.raises(DragAnythingError, match="threshold"):
        binarize_mask(np.zeros((2, 2), np.uint8), mode="threshold", threshold=1.5)


def test_read_mask_of_a_missing_or_broken_file(tmp_path):
    with pytest.raises(DragAnythingError, match="could not be read"):
        read_mask(tmp_path / "absent.png")
    (tmp_path / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(DragAnythingError, match=r"truncated.png: the mask image could not be read .*PNG or JPEG"):
        read_mask(tmp_path / "truncated.png")


# ------------------------------------------------------------------------------------- radii and the cap


def test_ship_radii_and_feature_cells_match_the_spec(official_demo_dir):
    folder = official_demo_dir / "ship_@"
    ship, water = (binarize_mask(read_mask(folder / name)) for name in ("2_ship.jpg", "1_water.jpg"))
    assert int(inscribed_circle(resize_mask(ship, W, H)).radius) == 74
    assert int(inscribed_circle(resize_mask(water, W, H)).radius) == 41
    assert np.count_nonzero(resize_mask(ship, W // 8, H // 8)) == 448
    assert np.count_nonzero(resize_mask(water, W // 8, H // 8)) == 707


def test_inscribed_circle_of_a_disc():
    mask = np.zeros((100, 120), np.uint8)
    cv2.circle(mask, (70, 40), 25, 1, -1)
    circle = inscribed_circle(mask)
    assert (circle.x, circle.y) == (70, 40)
    assert circle.radius == pytest.approx(25.5, abs=1.0)


def test_side_cap_is_50_at_the_official_resolution_and_scales_with_the_short_edge():
    assert side_cap(320, 576) == 50 and side_cap(576, 320) == 50
    assert side_cap(640, 1152) == 100 and side_cap(256, 448) == 40


def test_entity_sides():
    assert entity_sides([74.2, 41.9, 0.4], 320, 576).tolist() == [50, 41, 0]
    assert entity_sides([74.2], 640, 1152).tolist() == [74]
    assert entity_sides([74.2], 320, 576, cap=None).tolist() == [74]
    assert entity_sides([74.2], 640, 1152, cap=50).tolist() == [50]
    with pytest.raises(DragAnythingError, match="radius"):
        entity_sides([-1.0], 320, 576)


# ----------------------------------------------------------------------------------------------- pooling


def test_pooling_is_the_mean_inside_the_mask_resized_to_the_grid():
    features = torch.randn(1, 6, 10, 18)
    mask = np.zeros((80, 144), np.uint8)
    mask[16:40, 24:72] = 1  # cells rows 2..4, columns 3..8 of the 10x18 grid
    pooled = pool_features(features, [mask, np.ones((80, 144), np.uint8)])
    assert pooled.shape == (2, 6)
    torch.testing.assert_close(pooled[0], features[0, :, 2:5, 3:9].mean(dim=(1, 2)))
    torch.testing.assert_close(pooled[1], features[0].mean(dim=(1, 2)))


def test_mask_that_vanishes_on_the_grid_names_its_entity():
    mask = np.zeros((80, 144), np.uint8)
    mask[0, 0] = 1
    with pytest.raises(DragAnythingError, match="'bird'.*covers no cell of the 18x10 feature grid"):
        pool_features(torch.randn(6, 10, 18), [np.ones((80, 144), np.uint8), mask], names=["sky", "bird"])


def test_pooling_refuses_a_batch_of_feature_maps():
    with pytest.raises(DragAnythingError, match="features"):
        pool_features(torch.randn(2, 6, 10, 18), [np.ones((10, 18), np.uint8)])


# -------------------------------------------------------------------------------------------- embeddings


def test_trained_embeddings_average_channel_pairs():
    pooled = torch.randn(3, 320)
    embeddings = entity_embeddings(pooled)
    assert embeddings.shape == (3, 160)
    torch.testing.assert_close(embeddings, (pooled[:, 0::2] + pooled[:, 1::2]) / 2)


def test_official_demo_embeddings_paint_the_scalar_of_channel_0():
    pooled = torch.randn(2, 320)
    embeddings = entity_embeddings(pooled, mode="official_demo")
    assert embeddings.shape == (2, 160)
    assert torch.equal(embeddings, pooled[:, :1].expand(-1, 160))


def test_embedding_errors():
    with pytest.raises(DragAnythingError, match="C even"):
        entity_embeddings(torch.randn(2, 5))
    with pytest.raises(DragAnythingError, match="entity_mode"):
        entity_embeddings(torch.randn(2, 4), mode="fixed")


# -------------------------------------------------------------------------------------------------- discs


@pytest.mark.parametrize("radius", [0, 1, 2, 5, 13, 41, 50, 97])
def test_discs_are_the_pixels_cv2_circle_fills(radius):
    dy, dx = disc_offsets(radius)
    canvas = np.zeros((2 * radius + 1, 2 * radius + 1), np.uint8)
    cv2.circle(canvas, (radius, radius), radius, 1, -1)
    rows, cols = np.nonzero(canvas)
    assert sorted(zip(rows - radius, cols - radius)) == sorted(zip(dy, dx))


def test_index_maps_match_cv2_circle_with_clipping_and_overwrite():
    rng = np.random.default_rng(1)
    points = rng.integers([-40, -40], [W + 40, H + 40], size=(3, 5, 2))
    sides = np.array([50, 7, 31])
    expected = np.full((5, H, W), -1, np.int16)
    for frame in range(5):
        for entity in range(3):
            disc = np.zeros((H, W), np.uint8)
            cv2.circle(disc, tuple(int(v) for v in points[entity, frame]), int(sides[entity]), 1, -1)
            expected[frame][disc > 0] = entity
    np.testing.assert_array_equal(entity_index_maps(points, sides, H, W), expected)


def test_discs_skip_invisible_frames_and_are_drawn_for_tiny_radii():
    points = np.array([[[10, 10], [20, 20]]])
    index = entity_index_maps(points, [1], H, W, visible=np.array([[False, True]]))
    assert (index[0] == -1).all()
    assert np.count_nonzero(index[1] == 0) == 5  # radius 1: the centre and its 4 neighbours


def test_index_map_errors():
    with pytest.raises(DragAnythingError, match="points"):
        entity_index_maps(np.zeros((2, 3, 2)), [1], H, W)
    with pytest.raises(DragAnythingError, match="sides"):
        entity_index_maps(np.zeros((1, 3, 2)), [-2], H, W)
    with pytest.raises(DragAnythingError, match="visibility flag"):
        entity_index_maps(np.zeros((1, 3, 2)), [2], H, W, visible=np.ones((1, 2), bool))


def test_dense_maps_gather_the_embeddings():
    index = entity_index_maps(np.array([[[100, 100]], [[110, 100]]]), [20, 5], H, W)
    embeddings = torch.randn(2, 8)
    dense = entity_maps(index, embeddings)
    assert dense.shape == (1, 8, H, W)
    assert torch.equal(dense[0, :, 100, 110], embeddings[1])
    assert torch.equal(dense[0, :, 100, 90], embeddings[0])
    assert torch.equal(dense[0, :, 0, 0], torch.zeros(8))
    assert entity_maps(index, embeddings, dtype=torch.float16).dtype == torch.float16


def reference_official_entity_maps(points, sides, vectors, height, width):
    """The demo's entity map spelled out: per frame a [H, W, C] zero map, each entity's disc (cv2.circle) set to
    the scalar vec[0], then channel pairs averaged (avg_pool1d over the last axis) -> [F, C/2, H, W]."""
    frames = []
    for frame in range(points.shape[1]):
        ids = torch.zeros(height, width, vectors.shape[1])
        for entity, vector in enumerate(vectors):
            disc = np.zeros((height, width), np.float32)
            cv2.circle(disc, tuple(int(v) for v in points[entity, frame]), int(sides[entity]), 1, -1)
            ids[torch.from_numpy(disc != 0)] = vector[0]
        frames.append(torch.nn.functional.avg_pool1d(ids, kernel_size=2, stride=2))
    return torch.stack(frames).permute(0, 3, 1, 2)


def test_official_demo_map_matches_the_demo_construction():
    height, width = 64, 96
    points = np.array([[[20, 30], [40, 30], [60, 32]], [[30, 30], [30, 30], [30, 30]]])
    sides = np.array([12, 9])
    vectors = torch.randn(2, 320)
    index = entity_index_maps(points, sides, height, width)
    dense = entity_maps(index, entity_embeddings(vectors, mode="official_demo"))
    assert torch.equal(dense, reference_official_entity_maps(points, sides, vectors, height, width))


def test_one_hot_channels_reproduce_a_convolution_of_the_dense_map():
    index = entity_index_maps(np.array([[[30, 20], [40, 25]], [[45, 22], [45, 22]]]), [9, 6], 48, 80)
    embeddings = torch.randn(2, 16, dtype=torch.float64)
    one_hot = entity_one_hot(index, 2, dtype=torch.float64)
    assert one_hot.shape == (2, 2, 48, 80)
    assert torch.equal(one_hot.sum(dim=1), torch.from_numpy(index >= 0).to(torch.float64))
    conv = torch.nn.Conv2d(16, 8, 3, padding=1, dtype=torch.float64)
    folded = torch.einsum("odij,nd->onij", conv.weight, embeddings)
    torch.testing.assert_close(torch.nn.functional.conv2d(one_hot, folded, conv.bias, padding=1),
                               conv(entity_maps(index, embeddings)))
