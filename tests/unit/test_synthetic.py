"""The procedural data set: determinism, ground truth that agrees with the pixels, and the on-disk format."""

import json

import cv2
import numpy as np
import pytest
import torch

from draganything.entity import inscribed_circle
from draganything.errors import DragAnythingError
from draganything.train.dataset import (
    VideoSegmentationDataset,
    collate,
    dense_entity_maps,
    read_panoptic,
)
from draganything.train.synthetic import (
    BACKGROUND_ID,
    SceneConfig,
    generate_clip,
    write_clip,
    write_dataset,
)

CONFIG = SceneConfig(num_frames=(8, 8))
SEEDS = range(12)


@pytest.fixture(scope="module")
def clips():
    return [generate_clip(seed, CONFIG) for seed in SEEDS]


def test_same_seed_same_clip_other_seed_other_clip():
    first, again, other = generate_clip(5, CONFIG), generate_clip(5, CONFIG), generate_clip(6, CONFIG)
    for name in ("frames", "panoptic", "tracks", "visible", "still", "pan"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.frames, other.frames)


def test_shapes_and_ids(clips):
    for clip in clips:
        frames = clip.frames.shape[0]
        assert clip.frames.shape == (frames, 128, 128, 3) and clip.frames.dtype == np.uint8
        assert clip.panoptic.shape == (frames, 128, 128)
        assert clip.ids[0] == BACKGROUND_ID and len(set(clip.ids.tolist())) == len(clip.ids)
        assert set(np.unique(clip.panoptic).tolist()) <= set(clip.ids.tolist())
        assert clip.tracks.shape == (len(clip.ids), frames, 2) and clip.visible.shape == (len(clip.ids), frames)


def test_visible_track_points_lie_on_their_entity(clips):
    for clip in clips:
        for row, entity in enumerate(clip.ids):
            for frame in np.flatnonzero(clip.visible[row]):
                x, y = np.floor(clip.tracks[row, frame]).astype(int)
                assert clip.panoptic[frame, y, x] == entity


def test_sprites_translate_rigidly_with_their_track(clips):
    """Where a sprite is fully seen in two frames, its mask and pixels are the same, shifted by its track."""
    checked = 0
    for clip in clips:
        for row in range(1, len(clip.ids)):
            masks = clip.masks(clip.ids[row])
            areas = masks.reshape(len(masks), -1).sum(axis=1)
            full = np.flatnonzero(areas == areas.max())
            for frame in full[1:]:
                dx, dy = np.round(clip.tracks[row, frame] - clip.tracks[row, full[0]]).astype(int)
                moved = np.roll(masks[full[0]], (dy, dx), axis=(0, 1))
                if not np.array_equal(moved, masks[frame]):
                    continue  # a full-area tie can be a different clipping; only exact matches are compared
                assert np.array_equal(clip.frames[frame][masks[frame]],
                                      np.roll(clip.frames[full[0]], (dy, dx), axis=(0, 1))[masks[frame]])
                checked += 1
    assert checked > 20


def test_still_sprites_move_only_with_the_camera(clips):
    for clip in clips:
        for row in np.flatnonzero(clip.still)[1:]:
            np.testing.assert_allclose(clip.tracks[row] - clip.tracks[row, 0], np.round(-(clip.pan - clip.pan[0])),
                                       atol=1.0)
    assert any(clip.still[1:].any() for clip in clips)
    assert any(np.abs(clip.pan).max() > 0 for clip in clips) and any(np.abs(clip.pan).max() == 0 for clip in clips)


def test_moving_sprites_move(clips):
    travelled = [np.linalg.norm(clip.tracks[row, -1] - clip.tracks[row, 0])
                 for clip in clips for row in np.flatnonzero(~clip.still)]
    assert min(travelled) > 5 and len(travelled) > 10


def test_scene_config_is_validated():
    with pytest.raises(DragAnythingError):
        SceneConfig(height=16)
    with pytest.raises(DragAnythingError):
        SceneConfig(sprites=(3, 2))
    with pytest.raises(DragAnythingError):
        SceneConfig(num_frames=(1, 1))
    with pytest.raises(DragAnythingError):
        SceneConfig(height=64, width=64, sprite_size=(10, 40))


# ------------------------------------------------------------------------------------------------ on disk


def test_written_clip_reads_back_as_a_vipseg_sample(tmp_path):
    clip = generate_clip(3, CONFIG)
    name = write_clip(tmp_path, clip)
    dataset = VideoSegmentationDataset(tmp_path, 8, 128, 128, embeddings_dir=None)
    item = dataset[0]
    assert item["video"] == name
    assert np.array_equal(item["frames"].permute(0, 2, 3, 1).numpy(), clip.frames)
    assert np.array_equal(read_panoptic(tmp_path / "panomasks" / name / "00000.png"), clip.panoptic[0])
    # points are each frame's inscribed-circle centre of the entity's mask (the official training tracks)
    for row, entity in enumerate(item["ids"].tolist()):
        for frame in range(8):
            mask = clip.panoptic[frame] == entity
            if mask.any():
                circle = inscribed_circle(mask.astype(np.uint8))
                assert item["points"][row, frame].tolist() == [circle.x, circle.y]
            assert bool(item["visible"][row, frame]) == bool(mask.any())
    assert item["gaussian"].shape == (8, 128, 128) and item["gaussian"].max() > 200
    official = json.loads((tmp_path / "trajectories" / f"{name}.json").read_text())
    assert official[str(clip.ids[1])] == np.trunc(clip.tracks[1]).astype(int).tolist()


def test_collate_offsets_each_samples_entity_rows(tmp_path):
    write_dataset(tmp_path, range(3), CONFIG)
    dataset = VideoSegmentationDataset(tmp_path, 8, 128, 128, embeddings_dir=None)
    items = [dataset[index] for index in range(3)]
    for item in items:  # stand-in embeddings: entity k of a sample holds the value of its id
        item["embeddings"] = item["ids"].float()[:, None].repeat(1, 4)
    batch = collate(items)
    dense = dense_entity_maps(batch["entity_index"], batch["embeddings"])
    for sample, item in enumerate(items):
        expected = torch.where(item["entity_index"] >= 0,
                               item["ids"].float()[item["entity_index"].long().clamp(min=0)], torch.tensor(0.0))
        assert torch.equal(dense[sample, :, 0], expected)


def test_rgb_encoded_panoptic_masks_are_decoded(tmp_path):
    ids = np.array([[0, 6100], [256 * 3 + 7, 65536 * 2 + 1]])
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "mask.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert np.array_equal(read_panoptic(tmp_path / "mask.png"), ids)


def test_dataset_input_errors(tmp_path):
    with pytest.raises(DragAnythingError, match="imgs"):
        VideoSegmentationDataset(tmp_path, 8, 128, 128)
    write_dataset(tmp_path, range(1), CONFIG)
    with pytest.raises(DragAnythingError, match="no video"):
        VideoSegmentationDataset(tmp_path, 20, 128, 128)
    (tmp_path / "imgs" / "synthetic_0000000" / "cover.png").write_bytes(b"")
    with pytest.raises(DragAnythingError, match="frame number"):
        VideoSegmentationDataset(tmp_path, 8, 128, 128)
    (tmp_path / "mask.png").write_bytes(b"not an image")
    with pytest.raises(DragAnythingError, match="could not be read"):
        read_panoptic(tmp_path / "mask.png")


def test_dataset_without_masks_reads_frames_only(tmp_path):
    write_dataset(tmp_path, range(2), CONFIG)
    dataset = VideoSegmentationDataset(tmp_path, 8, 64, 64, conditions=False)
    item = dataset[1]
    assert set(item) == {"video", "frames"} and item["frames"].shape == (8, 3, 64, 64)
