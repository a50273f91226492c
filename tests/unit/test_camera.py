"""Camera moves: pan, zoom and orbit turn the held entities into paths (with per-point scale and rotation),
about a centre, over the frames; the rest of the scene is untouched; bad moves are refused with a message."""

import json

import numpy as np
import pytest

from draganything.errors import DragAnythingError
from draganything.trajectory import (
    CameraMove,
    Entity,
    Trajectories,
    apply_camera_move,
    parse_trajectories,
    resample_motion,
    to_json,
)


def scene():
    return Trajectories([Entity("ground", [[20, 70]], anchor=True, label="road", clicks=[]),
                         Entity("car", [[40, 40], [90, 45]]),
                         Entity("tree", [[150, 20]], anchor=True, visible=[True])], 160, 90)


def test_zoom_scales_held_points_about_the_centre_geometrically():
    moved = apply_camera_move(scene(), CameraMove(zoom=2.0, centre=(80, 45)), 5)
    ground = moved.entities[0]
    u = np.linspace(0, 1, 5)
    expected = np.array([80, 45]) + (2.0**u)[:, None] * (np.array([20, 70]) - [80, 45])
    assert np.allclose(ground.points, expected)
    assert np.allclose(ground.scale, 2.0**u) and np.allclose(ground.rotation, 0)
    assert not ground.anchor and ground.frames.tolist() == [0, 1, 2, 3, 4] and ground.label == "road"
    # The moving entity is as drawn.
    assert moved.entities[1] == scene().entities[1]


def test_orbit_turns_held_points_clockwise_on_screen_at_a_constant_distance():
    moved = apply_camera_move(scene(), CameraMove(orbit=90.0), 7)  # centre: the frame's, (80, 45)
    tree = moved.entities[2].points
    radius = np.linalg.norm(tree - [80, 45], axis=1)
    assert np.allclose(radius, radius[0])
    # (150, 20) is right of and above the centre; a quarter turn clockwise on screen puts it right and below.
    assert np.allclose(tree[-1], [80 + 25, 45 + 70])
    assert np.allclose(moved.entities[2].rotation, np.linspace(0, 90, 7))
    assert moved.entities[2].visible.tolist() == [True] * 7


def test_pan_moves_held_points_in_a_straight_line_and_combines_with_zoom():
    moved = apply_camera_move(scene(), CameraMove(pan=(-30, 6)), 4)
    assert np.allclose(moved.entities[0].points, [[20, 70], [10, 72], [0, 74], [-10, 76]])
    both = apply_camera_move(scene(), CameraMove(zoom=0.5, pan=(10, 0), centre=(20, 70)), 3)
    # A point at the centre does not zoom; it only pans.
    assert np.allclose(both.entities[0].points, [[20, 70], [25, 70], [30, 70]])


@pytest.mark.parametrize("mode", ["index", "pchip", "time"])
def test_the_generated_path_resamples_to_itself_at_its_frame_count(mode):
    moved = apply_camera_move(scene(), CameraMove(zoom=1.5, orbit=-40, pan=(5, 5)), 9)
    entity = moved.entities[0]
    motion = resample_motion(entity, 9, mode)
    assert np.allclose(motion.points, entity.points)
    assert np.allclose(motion.scale, entity.scale) and np.allclose(motion.rotation, entity.rotation)


def test_at_another_frame_count_pchip_stays_on_the_orbit():
    moved = apply_camera_move(scene(), CameraMove(orbit=120.0), 14)
    points = resample_motion(moved.entities[0], 25, "pchip").points
    radius = np.linalg.norm(points - [80, 45], axis=1)
    assert np.abs(radius - radius[0]).max() < 0.25  # px, on a radius of 65


def test_easing_sets_the_pace_of_the_move():
    moved = apply_camera_move(scene(), CameraMove(pan=(100, 0)), 11, easing="ease_in")
    assert moved.entities[0].easing == "ease_in" and moved.entities[1].easing is None
    motion = resample_motion(moved.entities[0], 11, "time")
    assert np.allclose(motion.points[:, 0], 20 + 100 * np.linspace(0, 1, 11) ** 2)


def test_a_moved_scene_round_trips_as_a_version_2_document():
    moved = apply_camera_move(scene(), CameraMove(zoom=1.25, orbit=15), 6)
    text = to_json(moved)
    document = json.loads(text)
    assert document["version"] == 2 and len(document["entities"][0]["scale"]) == 6
    assert parse_trajectories(text) == moved and to_json(parse_trajectories(text)) == text


BAD_MOVES = [
    ("zero zoom", dict(zoom=0.0), "camera zoom", "above 0"),
    ("NaN orbit", dict(orbit=float("nan")), "camera orbit", "not a finite number"),
    ("text zoom", dict(zoom="2"), "camera zoom", "not a finite number"),
    ("bad pan", dict(pan=(1, float("inf"))), "camera pan", "not a finite number pair"),
    ("bad centre", dict(centre=(1, 2, 3)), "camera centre", "shape [1, 3]"),
]


@pytest.mark.parametrize("case, fields, name, problem", BAD_MOVES, ids=[case[0] for case in BAD_MOVES])
def test_bad_moves_are_refused_with_a_message(case, fields, name, problem):
    with pytest.raises(DragAnythingError) as error:
        CameraMove(**fields)
    assert error.value.input_name == name and problem in error.value.problem


def test_a_move_needs_a_held_entity_and_a_centre():
    with pytest.raises(DragAnythingError, match="no entity holds still.*Add a background anchor"):
        apply_camera_move(Trajectories([Entity("car", [[1, 2], [3, 4]])], 10, 10), CameraMove(zoom=2), 4)
    with pytest.raises(DragAnythingError, match="frame's centre is unknown"):
        apply_camera_move(Trajectories([Entity("bg", [[1, 2]], anchor=True)]), CameraMove(zoom=2), 4)
    with pytest.raises(DragAnythingError, match="camera easing"):
        apply_camera_move(scene(), CameraMove(zoom=2), 4, easing="wobble")


# ------------------------------------------------------------------------------------------- command line


def test_cli_camera_options_move_the_held_entities_in_the_maps(tmp_path, capsys):
    from draganything import cli

    # pchip follows the generated path point for point at its own frame count (arc_length would re-time it).
    status = cli.main(["conditions", "--example", "--zoom", "0.5", "--orbit", "30", "--frames", "6",
                       "--resample", "pchip", "--out", str(tmp_path)])
    assert status == cli.EXIT_OK, capsys.readouterr().err
    saved = np.load(tmp_path / "conditions.npz")
    road = list(saved["entity_ids"]).index("road")
    # The example is drawn on its own 576x320 frame, the model's size: model pixels are source pixels.
    expected = CameraMove(zoom=0.5, orbit=30).path([470, 296], 6, (288, 160))
    assert np.allclose(saved["points"][road], np.trunc(expected))
    car = list(saved["entity_ids"]).index("car")
    plain = cli.main(["conditions", "--example", "--frames", "6", "--resample", "pchip",
                      "--out", str(tmp_path / "plain")])
    assert plain == cli.EXIT_OK
    assert np.array_equal(np.load(tmp_path / "plain" / "conditions.npz")["points"][car], saved["points"][car])


def test_cli_bad_camera_options(tmp_path, capsys):
    from draganything import cli

    status = cli.main(["conditions", "--example", "--zoom", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == cli.EXIT_BAD_INPUT and err.startswith("error: camera zoom: ") and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["conditions", "--example", "--pan", "left", "--out", str(tmp_path)])
    assert exit_info.value.code == cli.EXIT_USAGE and "two numbers x,y like" in capsys.readouterr().err


BAD_POSE = [
    ("negative scale", {"scale": [1, -1]}, "its scale at point 1 is -1.0, not a positive number"),
    ("scale count", {"scale": [1]}, "its scale has 1 values for 2 points"),
    ("scale text", {"scale": "big"}, "its scale 'big' is not a list of numbers"),
    ("rotation NaN", {"rotation": [0, float("nan")]}, "its rotation at point 1 is nan, not a number"),
    ("rotation flags", {"rotation": [True, False]}, "is not a list of numbers"),
]


@pytest.mark.parametrize("case, fields, problem", BAD_POSE, ids=[case[0] for case in BAD_POSE])
def test_malformed_scale_and_rotation_name_the_entity(case, fields, problem):
    from draganything.trajectory import FORMAT_NAME

    document = {"format": FORMAT_NAME, "version": 2, "entities": [{"id": "bg", "points": [[1, 2], [3, 4]],
                                                                   **fields}]}
    with pytest.raises(DragAnythingError) as error:
        parse_trajectories(document)
    assert str(error.value).startswith("trajectories: entity 0 ('bg'): ") and problem in error.value.problem
    assert "one per point, or leave it out" in error.value.fix
