"""The conditions the ComfyUI graph carries (no host needed): they build through build_conditions at any size,
pool entity features as build_conditions does, and refuse bad input naming it."""

import numpy as np
import pytest
import torch

from draganything.conditions import build_conditions
from draganything.errors import DragAnythingError
from draganything.resolution_free import (
    ResolutionFreeConditions,
    check_entities,
    check_masks_fit,
    embed_entities,
    parse_radius_overrides,
)
from draganything.trajectory import Entity, Trajectories

WIDTH, HEIGHT = 200, 120


def scene():
    entities = [Entity("car", [[50, 60], [120, 70]]), Entity("road", [[150, 100]], anchor=True)]
    masks = np.zeros((2, HEIGHT, WIDTH), bool)
    masks[0, 40:80, 30:70] = True
    masks[1, 90:, :] = True
    return Trajectories(entities, width=WIDTH, height=HEIGHT), masks


def test_at_is_build_conditions_with_the_pooled_vectors():
    trajectories, masks = scene()
    pooled = torch.randn(2, 320, generator=torch.Generator().manual_seed(0))
    conditions = ResolutionFreeConditions(trajectories, masks, pooled, entity_mode="official_demo",
                                          radius_overrides=(None, 12.0))
    maps = conditions.at(128, 64, 5)
    expected = build_conditions(trajectories, masks, entity_vectors=pooled, height=64, width=128, num_frames=5,
                                framing="center_crop", resample="pchip", entity_mode="official_demo",
                                radius_overrides=(None, 12.0))
    assert torch.equal(maps.gaussian, expected.gaussian) and torch.equal(maps.entity_index, expected.entity_index)
    torch.testing.assert_close(maps.embeddings, pooled[:, :1].expand(2, 160))
    assert maps.sides[1] == 12
    gaussian, entity = conditions.build(128, 64, 5)
    assert gaussian.shape == (5, 3, 64, 128) and entity.shape == (5, 160, 64, 128)


def test_embed_entities_pools_as_build_conditions_does():
    trajectories, masks = scene()
    frame = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    features = torch.randn(1, 320, 8, 16, generator=torch.Generator().manual_seed(1))
    seen = []

    def features_of(framed):
        seen.append(framed.shape)
        return features

    pooled = embed_entities(frame, masks, 128, 64, "center_crop", features_of)
    assert seen == [(64, 128, 3)]  # the extractor got the frame as the model frames it
    reference = build_conditions(trajectories, masks, features, height=64, width=128, num_frames=2,
                                 framing="center_crop", resample="arc_length")
    torch.testing.assert_close(pooled.unflatten(1, (-1, 2)).mean(-1), reference.embeddings)


def test_masks_must_lie_on_the_first_frame():
    _, masks = scene()
    with pytest.raises(DragAnythingError, match="masks.*200x120 but the first frame is 64x64"):
        check_masks_fit(masks, 64, 64)
    with pytest.raises(DragAnythingError, match="masks"):
        embed_entities(np.zeros((64, 64, 3), np.uint8), masks, 128, 64, "stretch", lambda framed: None)


def test_entities_and_masks_are_checked_together():
    trajectories, masks = scene()
    with pytest.raises(DragAnythingError, match="1 masks for 2 trajectories"):
        check_entities(trajectories, masks[:1])
    empty = masks.copy()
    empty[1] = False
    with pytest.raises(DragAnythingError, match=r"the mask of entity 1 \('road'\) is empty"):
        check_entities(trajectories, empty)
    off = Trajectories([Entity("car", [[250, 60]]), Entity("road", [[150, 100]])], width=WIDTH, height=HEIGHT)
    with pytest.raises(DragAnythingError, match="starts at"):
        check_entities(off, masks)
    with pytest.raises(DragAnythingError, match="embeddings.*3 entities"):
        ResolutionFreeConditions(trajectories, masks, torch.zeros(3, 320))


@pytest.mark.parametrize("text, expected", [("", None), ("  ", None), ("[40, null]", (40.0, None))])
def test_radius_overrides_text(text, expected):
    assert parse_radius_overrides(text, 2) == expected


@pytest.mark.parametrize("text, words", [("[40", "not JSON"), ("[40]", "not 2"), ("[-1, 2]", "non-negative"),
                                         ("[true, 2]", "non-negative"), ('{"a": 1}', "not 2")])
def test_bad_radius_overrides_are_refused(text, words):
    with pytest.raises(DragAnythingError, match="radius_overrides") as raised:
        parse_radius_overrides(text, 2)
    assert words in str(raised.value) and "[40, null]" in str(raised.value)
