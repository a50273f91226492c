"""Visibility: hidden frame ranges per entity, one rule with the per-point flags and the off-frame policy, what
TRACKS and the SVD conditioning maps get while an entity is hidden, and malformed ranges."""

import json

import numpy as np
import pytest

from draganything.conditions import build_conditions
from draganything.errors import DragAnythingError
from draganything.framing import Framing
from draganything.trajectory import (
    FORMAT_NAME,
    Entity,
    Trajectories,
    parse_trajectories,
    resample_track,
    to_json,
    to_tracks,
)


@pytest.mark.parametrize("mode", ["index", "pchip", "arc_length", "time"])
def test_hidden_frames_are_not_visible_in_every_mode(mode):
    entity = Entity("e", [[5, 5], [50, 5], [90, 5]], frames=[0, 4, 9], hidden=[[2, 3], [7, None]])
    points, visible = resample_track(entity, 10, mode)
    assert visible.tolist() == [True, True, False, False, True, True, True, False, False, False]
    # Hiding changes visibility only: the path is where it would be.
    assert np.array_equal(points, resample_track(Entity("e", entity.points, frames=entity.frames), 10, mode)[0])


def test_hidden_ranges_past_the_end_are_cut_and_anchors_hide_too():
    anchor = Entity("ground", [[3, 4]], anchor=True, hidden=[[3, 100]])
    assert resample_track(anchor, 5, "pchip")[1].tolist() == [True, True, True, False, False]
    assert resample_track(anchor, 2, "pchip")[1].tolist() == [True, True]


def test_one_rule_flags_hidden_frames_and_off_frame_points_together():
    # Point 1 is flagged invalid, frames 6-7 are hidden, and the path leaves the 100x50 frame after frame 8.
    entity = Entity("e", [[10, 10], [20, 10], [30, 10], [40, 10], [50, 10], [60, 10], [70, 10], [80, 10], [95, 10],
                          [130, 10]], visible=[True, False] + [True] * 8, hidden=[[6, 7]])
    tracks = to_tracks(Trajectories([entity], 100, 50), 10, mode="index", framing=Framing(100, 50, 100, 50))
    assert tracks["track_visibility"][:, 0].tolist() == [True, False, True, True, True, True, False, False, True,
                                                         False]
    # TRACKS read back keep every flag, and export again unchanged.
    back = parse_trajectories(tracks)
    assert np.array_equal(to_tracks(back, 10)["track_visibility"], tracks["track_visibility"])


@pytest.mark.parametrize("gaussian_mode", ["template", "analytic"])
def test_svd_maps_paint_nothing_for_a_hidden_entity(gaussian_mode):
    masks = np.zeros((2, 64, 128), bool)
    masks[0, 10:40, 10:40] = True
    masks[1, 20:50, 80:110] = True
    trajectories = Trajectories([Entity("hides", [[25, 25], [60, 25]], hidden=[[2, 3]]),
                                 Entity("stays", [[95, 35]], anchor=True)], 128, 64)
    conditions = build_conditions(trajectories, masks, height=64, width=128, num_frames=6, resample="arc_length",
                                  gaussian_mode=gaussian_mode)
    assert conditions.visible.tolist() == [[True, True, False, False, True, True], [True] * 6]
    gaussian, index = conditions.gaussian[:, 0].numpy(), conditions.entity_index.numpy()
    for frame in range(6):
        painted_left = gaussian[frame, :, :70].any()
        assert painted_left == conditions.visible[0, frame], frame
        assert ((index[frame] == 0).any()) == conditions.visible[0, frame], frame
        # The other entity is untouched by the first one's hiding.
        assert gaussian[frame, :, 80:].any() and (index[frame] == 1).any()


def test_hidden_round_trips_in_a_version_2_document():
    document = {"format": FORMAT_NAME, "version": 2, "entities": [
        {"id": "bird", "points": [[1, 2], [9, 9]], "hidden": [[4, 6], [10, None]]}]}
    parsed = parse_trajectories(document)
    assert parsed.entities[0].hidden == ((4, 6), (10, None))
    text = to_json(parsed)
    assert json.loads(text)["entities"][0]["hidden"] == [[4, 6], [10, None]]
    assert to_json(parse_trajectories(text)) == text


BAD_HIDDEN = [
    ("not a list", 4, "not a list of [first, last] ranges"),
    ("a flat pair", [3, 5], "hidden range 0 is 3"),
    ("three numbers", [[3, 5, 7]], "hidden range 0 is [3, 5, 7]"),
    ("fractional frame", [[2.5, 4]], "hidden range 0 is [2.5, 4]"),
    ("boolean frame", [[True, 4]], "hidden range 0 is [True, 4]"),
    ("first frame hidden", [[0, 3]], "starts at frame 0; the first frame (0) shows every entity"),
    ("ends before it starts", [[2, 4], [6, 5]], "hidden range 1 ends at frame 5, before it starts (6)"),
]


@pytest.mark.parametrize("case, hidden, problem", BAD_HIDDEN, ids=[case[0] for case in BAD_HIDDEN])
def test_malformed_hidden_ranges_name_the_entity_and_the_fix(case, hidden, problem):
    document = {"format": FORMAT_NAME, "version": 2, "entities": [{"id": "bird", "points": [[1, 2]],
                                                                   "hidden": hidden}]}
    with pytest.raises(DragAnythingError) as error:
        parse_trajectories(document)
    assert str(error.value).startswith("trajectories: entity 0 ('bird'): ")
    assert problem in error.value.problem
    assert "[first, last]" in error.value.fix and "[[4, 7], [12, null]]" in error.value.fix
