"""Trajectories: every accepted format, the pack's JSON round trip, resampling, the off-frame policy, bad input."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.interpolate import PchipInterpolator

from draganything.errors import DragAnythingError
from draganything.trajectory import (
    FORMAT_NAME,
    Click,
    Entity,
    Trajectories,
    apply_offframe,
    load_official_demo,
    load_trajectories,
    parse_kjnodes,
    parse_nested_lists,
    parse_official_demo,
    parse_pack_json,
    parse_tracks,
    parse_trajectories,
    parse_vipseg,
    resample_track,
    resolve_resample_mode,
    to_document,
    to_json,
    to_tracks,
)

# ---------------------------------------------------------------------------------------------- official demo


def test_every_official_demo_json_parses_with_its_masks_and_image_size(official_demo_dir):
    json_paths = sorted(official_demo_dir.glob("*/demo*.json"))
    assert len(json_paths) == 37  # the spec counts 37 demo JSONs in 30 folders
    total = 0
    for json_path in json_paths:
        raw = json.loads(json_path.read_text())
        trajectories, image_path = load_official_demo(json_path)
        with Image.open(json_path.parent / "demo.jpg") as image:
            assert (trajectories.width, trajectories.height) == image.size
        assert image_path == json_path.parent / "demo.jpg" and trajectories.image == "demo.jpg"
        assert [entity.id for entity in trajectories] == list(raw)
        for entity, record in zip(trajectories, raw.values(), strict=True):
            assert entity.points.tolist() == record["trajectory"]
            assert entity.mask_name == record["mask_name"] and entity.label == record["comment"]
            assert (image_path.parent / entity.mask_name).is_file()
        # The same text through the auto-detecting entry point gives the same entities.
        assert parse_trajectories(json_path.read_text()).entities == trajectories.entities
        total += len(trajectories)
    assert total == 132


def test_official_demo_folder_reads_demo_json(official_demo_dir):
    from_folder, image_path = load_official_demo(official_demo_dir / "ship_@")
    from_file, _ = load_official_demo(official_demo_dir / "ship_@" / "demo.json")
    assert from_folder == from_file and image_path.name == "demo.jpg"
    assert (from_folder.width, from_folder.height) == (1092, 776)
    assert load_trajectories(official_demo_dir / "ship_@") == from_folder


def test_official_demo_missing_pieces_are_named(tmp_path):
    with pytest.raises(DragAnythingError, match="no official demo trajectory file"):
        load_official_demo(tmp_path)
    (tmp_path / "demo.json").write_text('{"1": {"mask_name": "m.jpg", "trajectory": [[1, 2]]}}')
    with pytest.raises(DragAnythingError, match="demo.jpg is missing"):
        load_official_demo(tmp_path)
    (tmp_path / "demo.jpg").write_bytes(b"not a JPEG")
    with pytest.raises(DragAnythingError, match=r"demo.jpg: the first-frame image cannot be read .*first frame"):
        load_official_demo(tmp_path)
    with pytest.raises(DragAnythingError, match=r"demo.jpg: the first-frame image cannot be read"):
        load_trajectories(tmp_path / "demo.json")
    (tmp_path / "demo.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(DragAnythingError, match=r"demo.json: it cannot be read as UTF-8 text .*JSON file"):
        load_official_demo(tmp_path)


def test_trajectory_files_that_cannot_be_read_are_named(tmp_path):
    with pytest.raises(DragAnythingError, match=r"absent.json: the file does not exist\. Check the path"):
        load_trajectories(tmp_path / "absent.json")
    (tmp_path / "latin1.json").write_bytes(b'[[1, 2], [3, 4]] \xe9')
    with pytest.raises(DragAnythingError, match=r"latin1.json: it cannot be read as UTF-8 text"):
        load_trajectories(tmp_path / "latin1.json")
    (tmp_path / "broken.json").write_text("[[1, 2], [3, 4]")
    with pytest.raises(DragAnythingError, match=r"broken.json: it is not valid JSON"):
        load_trajectories(tmp_path / "broken.json")
    (tmp_path / "nested.json").write_text("[[1, 2], [3, 4]]")
    assert load_trajectories(tmp_path / "nested.json").entities[0].points.tolist() == [[1, 2], [3, 4]]


# ------------------------------------------------------------------------------------------------------ VIPSeg


def test_all_vipseg_test_files_load_and_normalise(vipseg_dir):
    paths = sorted(vipseg_dir.glob("*.json"))
    assert len(paths) == 343
    points = tracks = offframe = 0
    for path in paths:
        invisible = load_trajectories(path, width=1920, height=1080, offframe="invisible")
        clipped = parse_vipseg(path.read_text(), width=1920, height=1080, offframe="clip")
        assert len({len(entity.points) for entity in invisible}) == 1  # one length per file
        for kept, moved in zip(invisible, clipped, strict=True):
            inside = (kept.points >= 0).all(axis=1) & (kept.points <= [1920, 1080]).all(axis=1)
            assert np.array_equal(kept.visible, inside)
            assert moved.visibility.all() and (moved.points >= 0).all() and (moved.points <= [1920, 1080]).all()
            assert np.array_equal(moved.points[inside], kept.points[inside])
            points += len(kept.points)
            offframe += int((~kept.visible).sum())
        tracks += len(invisible)
        stacked, _visible = invisible.resampled(25, mode="index")
        assert np.isfinite(stacked).all() and stacked.shape == (len(invisible), 25, 2)
    # The spec's counts for this test set: 4,367 tracks, 99,203 points, 20.7% outside 1920x1080.
    assert (tracks, points) == (4367, 99203)
    assert round(100 * offframe / points, 1) == 20.7


def test_vipseg_absurd_points_clip_to_the_edge(vipseg_dir):
    lowest = min(
        (entity.points[:, 0].min(), path)
        for path in sorted(vipseg_dir.glob("*.json"))
        for entity in parse_vipseg(path.read_text(), width=None, height=None, offframe=None)
    )
    assert lowest[0] == -48031
    clipped = parse_vipseg(lowest[1].read_text(), width=1920, height=1080, offframe="clip")
    assert min(entity.points[:, 0].min() for entity in clipped) == 0


def test_vipseg_policy_needs_the_frame_size():
    with pytest.raises(DragAnythingError, match="width= and height="):
        parse_vipseg('{"0": [[1, 2]]}', width=None, height=None)


# ---------------------------------------------------------------------------------------------------- KJNodes

KJ_TRACK_A = [{"x": 10, "y": 20}, {"x": 30.5, "y": 40}]
KJ_TRACK_B = [{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": 5, "y": 6}]


@pytest.mark.parametrize(
    "value, expected",
    [
        (json.dumps(KJ_TRACK_A), [[[10, 20], [30.5, 40]]]),
        (KJ_TRACK_A, [[[10, 20], [30.5, 40]]]),
        (json.dumps([KJ_TRACK_A, KJ_TRACK_B]), [[[10, 20], [30.5, 40]], [[1, 2], [3, 4], [5, 6]]]),
        ([json.dumps(KJ_TRACK_A), json.dumps(KJ_TRACK_B)], [[[10, 20], [30.5, 40]], [[1, 2], [3, 4], [5, 6]]]),
        (str(KJ_TRACK_A), [[[10, 20], [30.5, 40]]]),  # Python repr: single quotes
        ([str(KJ_TRACK_B)], [[[1, 2], [3, 4], [5, 6]]]),
        ('[{"x": 1, "y": 2, "z": 9}]', [[[1, 2]]]),  # extra keys are ignored
    ],
)
def test_kjnodes_coordinate_strings(value, expected):
    for parse in (parse_kjnodes, parse_trajectories):
        trajectories = parse(value)
        assert [entity.points.tolist() for entity in trajectories] == expected
        assert [entity.id for entity in trajectories] == [str(i + 1) for i in range(len(expected))]


# ----------------------------------------------------------------------------------------------- nested lists


@pytest.mark.parametrize(
    "value, expected",
    [
        ([[1, 2], [3, 4]], [[[1, 2], [3, 4]]]),
        ("[[[1, 2], [3, 4]], [[5, 6]]]", [[[1, 2], [3, 4]], [[5, 6]]]),
        (np.array([[1.5, 2], [3, 4]]), [[[1.5, 2], [3, 4]]]),
        (np.arange(12).reshape(2, 3, 2), [[[0, 1], [2, 3], [4, 5]], [[6, 7], [8, 9], [10, 11]]]),
        (torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]]), [[[1, 2]], [[3, 4]]]),
    ],
)
def test_nested_lists_and_arrays(value, expected):
    for parse in (parse_nested_lists, parse_trajectories):
        assert [entity.points.tolist() for entity in parse(value)] == expected


# ------------------------------------------------------------------------------------------ normalised 0..1


def test_normalised_coordinates_detected_and_scaled():
    trajectories = parse_trajectories([[0.25, 0.5], [0.75, 1.0]], width=576, height=320)
    assert trajectories.entities[0].points.tolist() == [[144, 160], [432, 320]]
    kj = parse_trajectories('[{"x": 0.5, "y": 0.5}]', width=100, height=50)
    assert kj.entities[0].points.tolist() == [[50, 25]]


def test_explicit_normalized_flag_wins_over_detection():
    as_pixels = parse_trajectories([[0.25, 0.5]], width=576, height=320, normalized=False)
    assert as_pixels.entities[0].points.tolist() == [[0.25, 0.5]]
    whole = parse_trajectories([[0, 1], [1, 0]], width=576, height=320, normalized=True)
    assert whole.entities[0].points.tolist() == [[0, 320], [576, 0]]
    # Whole 0/1 values are pixels unless told otherwise.
    assert parse_trajectories([[0, 1], [1, 0]], width=576, height=320).entities[0].points.tolist() == [[0, 1], [1, 0]]


def test_normalized_flag_on_formats_with_pixel_units():
    id_keyed = parse_trajectories({"7": [[0.5, 0.5], [1, 1]]}, width=200, height=100, normalized=True)
    assert id_keyed.entities[0].points.tolist() == [[100, 50], [200, 100]]
    # Id-keyed tracks are pixels unless told otherwise (the VIPSeg files hold whole pixels).
    assert parse_trajectories({"7": [[0.5, 0.5]]}, width=200, height=100).entities[0].points.tolist() == [[0.5, 0.5]]
    with pytest.raises(DragAnythingError, match="stores pixel coordinates"):
        parse_trajectories(to_json(full_trajectories()), normalized=True)
    assert parse_trajectories(((1, 2), (3, 4))).entities[0].points.tolist() == [[1, 2], [3, 4]]


def test_normalised_without_frame_size_is_refused():
    with pytest.raises(DragAnythingError, match="normalised") as error:
        parse_trajectories([[0.25, 0.5]])
    assert "width=" in str(error.value)


# ------------------------------------------------------------------------------------------------ host TRACKS


def host_tracks(frames=5, count=3):
    """A TRACKS value laid out as the host's WanMove nodes build it."""
    path = torch.arange(frames * count * 2, dtype=torch.float32).reshape(frames, count, 2) * 1.5
    visibility = torch.ones((frames, count), dtype=torch.bool)
    visibility[2, 1] = False
    return {"track_path": path, "track_visibility": visibility}


def test_tracks_value_parses_per_track_and_round_trips():
    tracks = host_tracks()
    trajectories = parse_trajectories(tracks)
    assert len(trajectories) == 3
    assert trajectories.entities[1].points.tolist() == tracks["track_path"][:, 1].tolist()
    assert trajectories.entities[1].visible.tolist() == [True, True, False, True, True]
    exported = to_tracks(trajectories, 5)
    assert exported["track_path"].dtype == np.float32 and exported["track_path"].shape == (5, 3, 2)
    assert exported["track_visibility"].dtype == bool and exported["track_visibility"].shape == (5, 3)
    assert np.array_equal(exported["track_path"], tracks["track_path"].numpy())
    assert np.array_equal(exported["track_visibility"], tracks["track_visibility"].numpy())


def test_tracks_mask_visibility_of_one_column_applies_to_every_track():
    tracks = host_tracks()
    tracks["track_visibility"] = torch.tensor([[True], [False], [True], [True], [True]])
    trajectories = parse_tracks(tracks)
    assert all(entity.visible.tolist() == [True, False, True, True, True] for entity in trajectories)


def test_tracks_export_in_model_pixels_marks_cropped_points():
    from draganything.framing import Framing

    trajectories = parse_trajectories([[[330, 100]], [[330, 900]]], width=660, height=938)
    exported = to_tracks(trajectories, 4, framing=Framing(660, 938, 576, 320, "center_crop"))
    assert exported["track_visibility"].tolist() == [[False, False]] * 4  # y=100 and y=900 fall outside the crop
    assert exported["track_path"][0, 0, 0] == pytest.approx(288.0)


# ------------------------------------------------------------------------------------------ the pack's format


def full_trajectories():
    return Trajectories(
        [
            Entity(
                "car",
                [[10, 20], [30.25, 40.125], [0.1 + 0.2, 1e-7]],
                frames=[0, 7, 13],
                radius=12.5,
                label="red car",
                clicks=[Click(11, 21), Click(3.5, 4, positive=False)],
                box=(1, 2, 50, 60.5),
                mask_name="car.png",
                visible=[True, False, True],
            ),
            Entity("sky", [[300, 5]], anchor=True),
        ],
        width=576,
        height=320,
        num_frames=14,
        image="first_frame.png",
    )


def test_pack_json_round_trip_is_exact():
    trajectories = full_trajectories()
    text = to_json(trajectories)
    back = parse_trajectories(text)
    assert back == trajectories
    assert back.entities[0].points[2, 0] == 0.1 + 0.2  # floats survive bit for bit
    assert to_json(back) == text
    assert parse_pack_json(to_json(trajectories, indent=2)) == trajectories


def test_pack_document_is_the_json_text_decoded():
    trajectories = full_trajectories()
    document = to_document(trajectories)
    assert document == json.loads(to_json(trajectories))
    assert parse_pack_json(document) == trajectories


def test_pack_json_accepts_numpy_scalars_in_the_model():
    trajectories = Trajectories([Entity("a", np.array([[1, 2]], np.int32))], np.int64(640), np.int64(480), np.int16(9))
    assert json.loads(to_json(trajectories))["width"] == 640 and type(trajectories.width) is int
    with pytest.raises(DragAnythingError, match="height"):
        Trajectories([Entity("a", [[1, 2]])], 640, 0)


def test_pack_json_layout_and_defaults():
    document = json.loads(to_json(full_trajectories()))
    assert document["format"] == FORMAT_NAME and document["version"] == 1
    assert document["entities"][1] == {
        "id": "sky",
        "label": "",
        "points": [[300, 5]],
        "frames": None,
        "radius": None,
        "anchor": True,
        "clicks": [],
        "box": None,
        "mask_name": None,
        "visible": None,
    }
    minimal = parse_pack_json({"format": FORMAT_NAME, "version": 1, "entities": [{"id": "a", "points": [[1, 2]]}]})
    assert minimal.entities == [Entity("a", [[1, 2]])] and minimal.width is None


# ------------------------------------------------------------------------------------------------- resampling


def test_index_mode_holds_the_last_point_and_truncates():
    entity = Entity("e", [[0, 0], [1, 2], [3, 4]], visible=[True, False, True])
    points, visible = resample_track(entity, 5, "index")
    assert points.tolist() == [[0, 0], [1, 2], [3, 4], [3, 4], [3, 4]]
    assert visible.tolist() == [True, False, True, True, True]
    points, _ = resample_track(entity, 2, "index")
    assert points.tolist() == [[0, 0], [1, 2]]


def test_pchip_mode_is_the_official_gradio_interpolation():
    track = [[100, 50], [180, 90], [200, 200], [150, 260], [90, 250]]
    points, _ = resample_track(Entity("e", track), 14, "pchip")
    # gradio_run.py: PchipInterpolator over t = linspace(0, 1, n) for x and for y separately.
    t = np.linspace(0, 1, len(track))
    new_t = np.linspace(0, 1, 14)
    expected_x = PchipInterpolator(t, [p[0] for p in track])(new_t)
    expected_y = PchipInterpolator(t, [p[1] for p in track])(new_t)
    assert np.array_equal(points[:, 0], expected_x) and np.array_equal(points[:, 1], expected_y)


def test_pchip_single_point_becomes_a_one_pixel_drift_as_in_gradio():
    points, _ = resample_track(Entity("e", [[10, 20]]), 14, "pchip")
    assert points[0].tolist() == [10, 20] and points[-1].tolist() == [11, 21]
    assert np.allclose(np.diff(points, axis=0), 1 / 13)


def test_arc_length_mode_moves_at_uniform_speed():
    # An L-shaped path: 30 px right, then 90 px down; points unevenly spaced along it.
    entity = Entity("e", [[0, 0], [30, 0], [30, 10], [30, 90]])
    points, _ = resample_track(entity, 13, "arc_length")
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    assert np.allclose(steps[[0, 1, 4, 5, 6, 11]], 10.0)  # every step that does not turn the corner is 120 / 12
    assert points[0].tolist() == [0, 0] and points[-1].tolist() == [30, 90]
    assert points[3].tolist() == [30, 0]


def test_time_mode_follows_the_stamps_and_holds_outside_them():
    entity = Entity("e", [[0, 0], [40, 20], [40, 60]], frames=[2, 6, 8], visible=[True, True, False])
    points, visible = resample_track(entity, 12, "time")
    assert points[:3].tolist() == [[0, 0]] * 3
    assert points[4].tolist() == [20, 10] and points[6].tolist() == [40, 20] and points[7].tolist() == [40, 40]
    assert points[8:].tolist() == [[40, 60]] * 4
    assert visible.tolist() == [True] * 8 + [False] * 4  # nearest stamp's flag; frame 7 ties and takes stamp 6


def test_time_mode_needs_frames():
    with pytest.raises(DragAnythingError, match="frame number") as error:
        resample_track(Entity("walker", [[0, 0], [1, 1]]), 5, "time")
    assert "walker" in str(error.value)


@pytest.mark.parametrize("mode", ["index", "pchip", "arc_length", "time"])
def test_anchors_hold_their_first_point_in_every_mode(mode):
    entity = Entity("ground", [[5, 6], [50, 60], [70, 80]], frames=[0, 3, 9], anchor=True)
    points, visible = resample_track(entity, 7, mode)
    assert points.tolist() == [[5, 6]] * 7 and visible.all()


def test_trajectories_resampled_stacks_entities():
    trajectories = Trajectories([Entity("a", [[0, 0], [10, 0]]), Entity("b", [[5, 5]])])
    points, visible = trajectories.resampled(3, mode="arc_length")
    assert points.shape == (2, 3, 2) and visible.shape == (2, 3)
    assert points[0, :, 0].tolist() == [0, 5, 10] and points[1].tolist() == [[5, 5]] * 3


@pytest.mark.parametrize("num_frames", [0, -3, 2.5, True, "14"])
def test_bad_frame_counts(num_frames):
    with pytest.raises(DragAnythingError, match="num_frames"):
        Trajectories([Entity("a", [[0, 0]])]).resampled(num_frames)


def test_unknown_resampling_mode():
    with pytest.raises(DragAnythingError, match="'linear' is not a resampling mode"):
        resample_track(Entity("a", [[0, 0]]), 3, "linear")
    with pytest.raises(DragAnythingError, match="'linear' is not a resampling mode"):
        resolve_resample_mode(Trajectories([Entity("a", [[0, 0]])]), 3, "linear")


@pytest.mark.parametrize("entities, num_frames, expected", [
    # Timed tracks that fit the video follow their frames; the anchor does not count.
    ([Entity("a", [[0, 0], [9, 0]], frames=[0, 5]), Entity("b", [[3, 3]], anchor=True)], 6, "time"),
    # A stamp past the last frame: constant speed instead.
    ([Entity("a", [[0, 0], [9, 0]], frames=[0, 8])], 6, "arc_length"),
    # One point per frame (an official demo.json): point k drives frame k.
    ([Entity("a", [[k, 0] for k in range(6)]), Entity("b", [[0, 5]] * 7)], 6, "index"),
    # Fewer points than frames and no stamps.
    ([Entity("a", [[0, 0], [4, 0], [9, 9]])], 6, "arc_length"),
    # A timed and an untimed entity.
    ([Entity("a", [[0, 0], [9, 0]], frames=[0, 5]), Entity("b", [[0, 0], [3, 4], [5, 5]])], 6, "arc_length"),
])
def test_auto_resampling_picks_from_the_tracks(entities, num_frames, expected):
    assert resolve_resample_mode(Trajectories(entities), num_frames) == expected
    assert resolve_resample_mode(Trajectories(entities), num_frames, "pchip") == "pchip"


# -------------------------------------------------------------------------------------------- off-frame policy


def test_offframe_policies():
    points = np.array([[-5.0, 10.0], [50.0, 10.0], [100.0, 60.0], [101.0, 61.0]])
    kept, visible = apply_offframe(points, None, 100, 60, "invisible")
    assert np.array_equal(kept, points) and visible.tolist() == [False, True, True, False]
    clipped, visible = apply_offframe(points, [True, True, True, False], 100, 60, "clip")
    assert clipped.tolist() == [[0, 10], [50, 10], [100, 60], [100, 60]]
    assert visible.tolist() == [True, True, True, False]
    with pytest.raises(DragAnythingError, match="'drop' is not an off-frame policy"):
        apply_offframe(points, None, 100, 60, "drop")


def test_offframe_needs_a_frame_size():
    with pytest.raises(DragAnythingError, match="width and height"):
        parse_trajectories([[1, 2]], offframe="clip")
    clipped = parse_trajectories([[1, 2], [-4, 99]], width=10, height=10, offframe="clip")
    assert clipped.entities[0].points.tolist() == [[1, 2], [0, 10]]


# --------------------------------------------------------------------------------------------- malformed input

PACK = {"format": FORMAT_NAME, "version": 1}


def pack(**entity):
    return {**PACK, "entities": [{"id": "car", "points": [[1, 2], [3, 4]], **entity}]}


MALFORMED = [
    ("bad JSON", "[[1, 2], [3, 4]", "not valid JSON", "brackets"),
    ("empty string", "  ", "empty string", "formats"),
    ("binary bytes", b"\xff\xfe[", "not UTF-8", "JSON"),
    ("wrong nesting", [[[[1, 2]]]], "shape [1, 1, 2]", "[x, y]"),
    ("ragged pairs", [[1, 2], [3]], "rectangular", "[x, y]"),
    ("three coordinates", [[1, 2, 3]], "shape [1, 3]", "[x, y]"),
    ("NaN", "[[1, 2], [NaN, 4]]", "point 1", "finite"),
    ("infinity", [[1, 2], [3, math.inf]], "point 1", "finite"),
    ("non-numeric", [[1, 2], ["a", 4]], "point 1", "number"),
    ("numeric string", [[1, 2], ["3", 4]], "not a number", "number"),
    ("boolean coordinate", [[True, 2]], "not a number", "number"),
    ("null coordinate", '[{"x": null, "y": 2}]', "not a number", "number"),
    ("empty entity list", [], "empty list", "formats"),
    ("empty object", {}, "known layouts", "format"),
    ("empty pack entities", {**PACK, "entities": []}, "no entity", "at least one"),
    ("empty official", '{"1": {"trajectory": []}}', "entity '1'", "at least one"),
    ("empty track", [[[1, 2]], []], "track 1", "at least one"),
    ("empty KJ track", "[[]]", "track 0", "at least one"),
    ("frames not increasing", pack(frames=[3, 3]), "not strictly increasing", "strictly increasing"),
    ("frames below zero", pack(frames=[-1, 3]), "below 0", "starting at 0"),
    ("frames count", pack(frames=[0, 4, 8]), "2 points but 3 frame numbers", "one integer frame"),
    ("fractional frames", pack(frames=[0, 2.5]), "not a flat list of integers", "integer frame"),
    ("negative radius", pack(radius=-3), "radius is -3", "> 0"),
    ("zero radius", pack(radius=0), "radius is 0", "> 0"),
    ("bad box", pack(box=[5, 5, 1, 9]), "no area", "x0 < x1"),
    ("bad click", pack(clicks=[{"x": 1}]), "click 0", '"positive"'),
    ("bad visible", pack(visible=[True]), "visible flags", "2 booleans"),
    ("unknown field", pack(radious=3), "'radious'", "spelling"),
    ("duplicate ids", {**PACK, "entities": [{"id": "a", "points": [[1, 2]]}] * 2}, "repeats the id", "own id"),
    ("bad version", {**PACK, "version": 7, "entities": []}, "version is 7", "update"),
    ("bad size", {**PACK, "width": -4, "entities": [{"id": "a", "points": [[1, 2]]}]}, "width is -4", "positive"),
    ("unknown format", {"foo": 1, "bar": 2}, "none of the known layouts", "format"),
    ("unknown type", 42, "a int", "formats"),
    ("KJ point without y", '[{"x": 1}]', "point 0", '{"x"'),
    ("KJ mixed", [KJ_TRACK_A, 5], "track 1 is 5, not a list of points", '"x"'),
    ("official without trajectory", {"1": {"trajectory": [[1, 2]]}, "2": {"mask_name": "m"}}, "known layouts", ""),
    ("tracks bad shape", {"track_path": np.zeros((4, 2))}, "track_path has shape [4, 2]", "[T, N, 2]"),
    (
        "tracks bad visibility",
        {"track_path": np.zeros((4, 2, 2)), "track_visibility": np.ones((3, 2))},
        "[4, 2]",
        "per frame",
    ),
]


@pytest.mark.parametrize("case, value, problem, fix", MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_input_names_input_problem_and_fix(case, value, problem, fix):
    with pytest.raises(DragAnythingError) as error:
        parse_trajectories(value, input_name="my_track")
    message = str(error.value)
    assert message.startswith("my_track: "), message
    assert problem in error.value.problem, message
    assert fix in error.value.fix, message


def test_official_parser_names_the_entity():
    with pytest.raises(DragAnythingError, match=r"entity '2' \(number 2\): .*not a number \(point 0"):
        parse_official_demo('{"1": {"trajectory": [[1, 2]]}, "2": {"trajectory": [[1, "x"]]}}')
    with pytest.raises(DragAnythingError, match="not an object of entities"):
        parse_official_demo("[[1, 2]]")


def test_entity_constructor_validates():
    with pytest.raises(DragAnythingError, match="entity 'e'"):
        Entity("e", [[1, np.nan]])
    with pytest.raises(DragAnythingError, match="radius"):
        Entity("e", [[1, 2]], radius=-1.0)


# -------------------------------------------------------------------------------------------- documentation

DOC = Path(__file__).resolve().parents[2] / "docs" / "trajectory-format.md"


def doc_blocks(language):
    """(heading, code) for every fenced block of `language` in docs/trajectory-format.md."""
    text = DOC.read_text()
    blocks = []
    for match in re.finditer(rf"```{language}\n(.*?)```", text, re.DOTALL):
        heading = re.findall(r"^#+ (.*)$", text[: match.start()], re.MULTILINE)[-1]
        blocks.append((heading, match.group(1)))
    return blocks


def test_every_json_example_in_the_format_doc_parses():
    blocks = doc_blocks("json")
    assert len(blocks) == 5
    for heading, code in blocks:
        trajectories = parse_trajectories(code, width=1920, height=1080)
        assert len(trajectories) >= 1, heading
    pack_example = parse_trajectories(blocks[0][1])
    assert pack_example.entities[1].anchor and pack_example.entities[0].frames.tolist() == [0, 6, 13]
    assert to_json(parse_trajectories(to_json(pack_example))) == to_json(pack_example)


def test_every_kjnodes_and_nested_list_example_in_the_format_doc_parses():
    lines = [
        line.split("   ")[0].strip()
        for heading, code in doc_blocks("text")
        if heading.startswith(("KJNodes", "Nested lists"))
        for line in code.splitlines()
    ]
    assert len(lines) == 6
    for line in lines:
        assert len(parse_trajectories(line)) >= 1, line


def test_points_may_be_a_list_of_numpy_pairs():
    entity = Entity("e", [np.array([1.0, 2.0], np.float32), np.array([3, 4])])
    assert entity.points.tolist() == [[1, 2], [3, 4]]
    with pytest.raises(DragAnythingError, match=r"point 1"):
        Entity("e", [np.array([1.0, 2.0]), np.array(["a", "b"])])
