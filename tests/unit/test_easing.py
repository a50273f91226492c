"""Easing per path: the presets and custom curves, the clock warp in every resampling mode, the pack JSON fields
(version 2) and backward compatibility with version-1 documents and the shipped templates."""

import json
from pathlib import Path

import numpy as np
import pytest

from draganything.conditions import build_conditions
from draganything.errors import DragAnythingError
from draganything.trajectory import (
    EASING_PRESETS,
    FORMAT_NAME,
    Entity,
    Trajectories,
    apply_camera_move,
    CameraMove,
    ease,
    parse_trajectories,
    resample_track,
    sampled_easing,
    to_document,
    to_json,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
T = np.linspace(0.0, 1.0, 11)


# --------------------------------------------------------------------------------------------- the curves


def test_presets_are_the_host_generate_tracks_formulas():
    # ComfyUI's GenerateTracks (comfy_extras/nodes_wanmove.py) times its tracks with these, written out here.
    assert np.array_equal(ease("linear", T), T)
    assert np.allclose(ease("ease_in", T), T**2)
    assert np.allclose(ease("ease_out", T), 1 - (1 - T) ** 2)
    assert np.allclose(ease("ease_in_out", T), T * T * (3 - 2 * T))
    assert EASING_PRESETS == ("linear", "ease_in", "ease_out", "ease_in_out")


def test_custom_curve_passes_through_its_points_and_never_runs_backwards():
    entity = Entity("e", [[0, 0], [10, 0]], easing=[[0, 0], [0.2, 0.6], [0.5, 0.6], [1, 1]])
    curve = entity.easing
    assert np.allclose(ease(curve, curve[:, 0]), curve[:, 1])
    dense = ease(curve, np.linspace(0, 1, 1001))
    assert (np.diff(dense) >= -1e-12).all()
    # The flat part (a pause) stays flat: PCHIP keeps monotone data monotone, with no overshoot.
    assert np.allclose(ease(curve, np.linspace(0.2, 0.5, 7)), 0.6)
    # Two control points are the straight line.
    assert np.allclose(ease(Entity("e", [[0, 0]], easing=[[0, 0], [1, 1]]).easing, T), T)


# ------------------------------------------------------------------------------ curves of another interpolation

DENSE = np.linspace(0.0, 1.0, 100_001)


def test_a_piecewise_linear_curve_is_followed_exactly_corners_and_all():
    points = [[0, 0], [0.5, 0.1], [0.8, 0.1], [1, 1]]
    knots = np.array(points, dtype=float)

    def straight_pieces(t):
        return np.interp(t, knots[:, 0], knots[:, 1])

    curve = sampled_easing("curve", points, straight_pieces)
    eased = ease(curve, DENSE)
    away_from_corners = np.abs(DENSE[:, None] - knots[None, :, 0]).min(axis=1) > 1e-6
    assert np.abs(eased - straight_pieces(DENSE))[away_from_corners].max() < 1e-12
    # The library's own reading of the same points (PCHIP) is a smooth curve, measurably not this one.
    assert np.abs(ease(Entity("e", [[0, 0]], easing=points).easing, DENSE) - straight_pieces(DENSE)).max() > 0.02
    assert np.allclose(ease(curve, [0.25, 0.5, 0.65, 0.9]), [0.05, 0.1, 0.1, 0.55])


def test_a_smooth_monotone_curve_of_other_slopes_is_followed_closely():
    from scipy.interpolate import CubicHermiteSpline

    points = [[0, 0], [0.25, 0.02], [0.3, 0.7], [0.6, 0.75], [1, 1]]
    knots = np.array(points, dtype=float)
    # Another monotone cubic through the same points: level at every control point (a smoothstep per piece),
    # where the library's PCHIP would keep moving.
    other = CubicHermiteSpline(knots[:, 0], knots[:, 1], np.zeros(len(knots)))
    curve = sampled_easing("curve", points, other)
    assert np.abs(ease(curve, DENSE) - other(DENSE)).max() < 5e-5
    assert np.abs(ease(Entity("e", [[0, 0]], easing=points).easing, DENSE) - other(DENSE)).max() > 0.02
    assert (np.diff(ease(curve, DENSE)) >= 0).all()


def test_a_flat_stretch_with_rounding_noise_still_reads_as_a_pause():
    points = [[0, 0], [0.4, 0.5], [0.7, 0.5], [1, 1]]
    knots = np.array(points, dtype=float)

    def noisy(t):  # an ulp up and down on the flat stretch, as float arithmetic of a cubic gives
        return np.interp(t, knots[:, 0], knots[:, 1]) + np.where((t > 0.4) & (t < 0.7),
                                                                 np.sin(t * 1e4) * 1e-16, 0.0)

    curve = sampled_easing("curve", points, noisy)
    assert np.allclose(ease(curve, np.linspace(0.41, 0.69, 9)), 0.5)


BAD_DRAWN_CURVES = [
    ("runs backwards", [[0, 0], [0.5, 0.8], [0.7, 0.3], [1, 1]], "runs backwards (point 2: progress 0.3 after 0.8)"),
    ("starts above the origin", [[0, 0.2], [1, 1]], "starts at 0, 0.2 and ends at 1, 1"),
    ("ends early", [[0, 0], [0.9, 1]], "ends at 0.9, 1"),
    ("two points at one time", [[0, 0], [0.5, 0.2], [0.5, 0.6], [1, 1]], "not strictly increasing (point 2"),
    ("one point", [[0, 0]], "not a list of [t, progress] pairs"),
    ("a preset name", "ease_in", "not a curve's control points"),
]


@pytest.mark.parametrize("case, points, problem", BAD_DRAWN_CURVES, ids=[case[0] for case in BAD_DRAWN_CURVES])
def test_a_drawn_curve_that_is_no_easing_is_refused_by_its_own_points(case, points, problem):
    def never_called(t):
        raise AssertionError("the curve was sampled before its points were checked")

    with pytest.raises(DragAnythingError) as error:
        sampled_easing("easing_curve", points, never_called)
    assert str(error.value).startswith("easing_curve: ") and problem in error.value.problem
    assert "Draw the curve from (0, 0) to (1, 1)" in error.value.fix


def test_a_camera_move_paced_by_a_sampled_curve_follows_it():
    knots = np.array([[0, 0], [0.6, 0.05], [1, 1]], dtype=float)
    pace = sampled_easing("easing_curve", knots.tolist(), lambda t: np.interp(t, knots[:, 0], knots[:, 1]))
    held = Trajectories([Entity("sky", [[10, 20]], anchor=True)], 200, 100)
    moved = apply_camera_move(held, CameraMove(pan=(100.0, 0.0)), 11, easing=pace)
    x = moved.motion(11, "pchip").points[0, :, 0]
    assert np.allclose(x, 10 + 100 * np.interp(np.linspace(0, 1, 11), knots[:, 0], knots[:, 1]), atol=1e-9)


# ------------------------------------------------------------------------------------------- resampling


def straight(easing=None, **fields):
    return Entity("e", [[0, 0], [30, 0], [90, 0]], easing=easing, **fields)


@pytest.mark.parametrize("mode", ["pchip", "arc_length"])
def test_ease_in_warps_time_along_the_whole_path(mode):
    linear, _ = resample_track(straight(), 11, mode)
    eased, _ = resample_track(straight("ease_in"), 11, mode)
    # Frame f of the eased path is where the linear path is at the fractional frame 10 * (f / 10)^2.
    expected, _ = resample_track(straight(), 1001, mode)
    warped = np.round(100 * T**2 * 10).astype(int)  # the same fractional frames on a 100x finer clock
    assert np.allclose(eased, expected[warped], atol=1e-9)
    assert np.array_equal(eased[[0, -1]], linear[[0, -1]])
    assert (eased[1:-1, 0] < linear[1:-1, 0]).all()  # slower start: behind the linear path in every frame


def test_arc_length_with_easing_covers_distance_by_the_curve():
    points, _ = resample_track(straight("ease_out"), 11, "arc_length")
    assert np.allclose(points[:, 0], 90 * (1 - (1 - T) ** 2))
    curve = [[0, 0], [0.5, 0.1], [1, 1]]
    points, _ = resample_track(straight(curve), 3, "arc_length")
    assert np.allclose(points[:, 0], [0, 9, 90])


def test_time_mode_eases_between_the_first_and_last_stamp_and_holds_outside():
    entity = Entity("e", [[0, 0], [40, 0]], frames=[2, 6], easing="ease_in")
    points, _ = resample_track(entity, 10, "time")
    assert points[:, 0].tolist() == [0, 0, 0, 2.5, 10, 22.5, 40, 40, 40, 40]


def test_index_mode_interpolates_at_the_warped_frames():
    entity = Entity("e", [[0, 0], [10, 0], [20, 0], [30, 0], [40, 0]], easing="ease_in")
    points, _ = resample_track(entity, 7, "index")
    # Four steps over frames 0..4 (the points' span), then the last point held.
    assert np.allclose(points[:, 0], [0, 2.5, 10, 22.5, 40, 40, 40])


@pytest.mark.parametrize("mode", ["index", "pchip", "arc_length", "time"])
def test_linear_easing_leaves_every_mode_bit_for_bit(mode):
    plain = Entity("e", [[0, 0], [13.3, 7], [50.1, 3]], frames=[0, 3, 8], visible=[True, False, True])
    linear = Entity("e", [[0, 0], [13.3, 7], [50.1, 3]], frames=[0, 3, 8], visible=[True, False, True],
                    easing="linear")
    for a, b in zip(resample_track(plain, 9, mode), resample_track(linear, 9, mode)):
        assert np.array_equal(a, b)


def test_easing_is_visible_in_the_conditions_the_model_gets():
    masks = np.zeros((1, 64, 128), bool)
    masks[0, 20:40, 10:30] = True
    path = [[20, 30], [110, 30]]
    linear = build_conditions(Trajectories([Entity("e", path)], 128, 64), masks, height=64, width=128,
                              num_frames=5, resample="arc_length", gaussian_mode="analytic")
    eased = build_conditions(Trajectories([Entity("e", path, easing="ease_in")], 128, 64), masks, height=64,
                             width=128, num_frames=5, resample="arc_length", gaussian_mode="analytic")
    assert np.allclose(eased.points[0, :, 0], 20 + 90 * np.linspace(0, 1, 5) ** 2)
    # The Gaussian peak and the entity disc follow the eased points, frame by frame.
    peak_columns = eased.gaussian[:, 0].amax(dim=1).argmax(dim=1).numpy()
    assert np.allclose(peak_columns + 0.5, eased.points[0, :, 0], atol=1)
    assert not np.array_equal(eased.gaussian.numpy(), linear.gaussian.numpy())
    for frame in range(5):
        x, y = eased.points[0, frame].astype(int)
        assert eased.entity_index[frame, y, x] == 0


# --------------------------------------------------------------------------------------------- the document


def document(version=2, **entity):
    return {"format": FORMAT_NAME, "version": version, "width": 100, "height": 80,
            "entities": [{"id": "car", "points": [[1, 2], [30, 4]], **entity}]}


@pytest.mark.parametrize("easing", ["ease_in_out", [[0, 0], [0.25, 0.5], [1, 1]], [[0, 0], [0.3, 0.1], [1.0, 1]]])
def test_easing_round_trips_in_a_version_2_document(easing):
    parsed = parse_trajectories(document(easing=easing))
    text = to_json(parsed)
    assert json.loads(text)["version"] == 2
    assert json.loads(text)["entities"][0]["easing"] == easing
    assert parse_trajectories(text) == parsed and to_json(parse_trajectories(text)) == text


def test_documents_without_new_fields_stay_version_1():
    parsed = parse_trajectories(document(version=1))
    written = to_document(parsed)
    assert written["version"] == 1 and "easing" not in written["entities"][0]
    # A version-2 document without the new fields is written back as version 1 (the same content).
    assert to_document(parse_trajectories(document(version=2)))["version"] == 1


def shipped_documents():
    texts = [("asset", (PROJECT_DIR / "draganything" / "assets" / "example" / "trajectories.json").read_text())]
    for path in sorted((PROJECT_DIR / "example_workflows").glob("**/*.json")):
        workflow = json.loads(path.read_text())
        nodes = workflow["nodes"] if "nodes" in workflow else [
            {"type": node["class_type"], "widgets_values": [node["inputs"].get("trajectories")]}
            for node in workflow.values()]
        texts += [(path.name, node["widgets_values"][0]) for node in nodes
                  if node["type"] == "DragAnythingTrajectories"]
    return texts


def test_shipped_documents_parse_and_round_trip_unchanged():
    texts = shipped_documents()
    assert len(texts) >= 9  # the asset, and a UI workflow and its API twin per template
    for name, text in texts:
        parsed = parse_trajectories(text)
        assert to_document(parsed) == json.loads(text), name
        if name != "asset":  # the templates hold to_json's own text; the asset file is laid out by hand
            assert to_json(parsed, indent=1) == text, name
        for entity in parsed:
            assert entity.easing is None and entity.hidden == () and entity.scale is None


BAD_EASING = [
    ("unknown preset", "ease_sideways", "not a preset"),
    ("not a curve", 3, "neither a preset name nor a curve"),
    ("ragged curve", [[0, 0], [1]], "not a list of [t, progress] pairs"),
    ("one point", [[0, 0]], "not a list of [t, progress] pairs"),
    ("strings in the curve", [[0, 0], ["1", 1]], "neither a preset name nor a curve"),
    ("booleans in the curve", [[0, 0], [True, 1]], "neither a preset name nor a curve"),
    ("wrong start", [[0.1, 0], [1, 1]], "must run from [0, 0] to [1, 1]"),
    ("wrong end", [[0, 0], [1, 0.8]], "must run from [0, 0] to [1, 1]"),
    ("t not increasing", [[0, 0], [0.5, 0.2], [0.5, 0.4], [1, 1]], "not strictly increasing (point 2"),
    ("runs backwards", [[0, 0], [0.5, 0.6], [0.7, 0.4], [1, 1]], "runs backwards (point 2"),
]


@pytest.mark.parametrize("case, easing, problem", BAD_EASING, ids=[case[0] for case in BAD_EASING])
def test_malformed_easing_names_the_entity_and_the_fix(case, easing, problem):
    with pytest.raises(DragAnythingError) as error:
        parse_trajectories(document(easing=easing))
    assert str(error.value).startswith("trajectories: entity 0 ('car'): ")
    assert problem in error.value.problem
    assert "ease_in_out" in error.value.fix and "[0, 0] to [1, 1]" in error.value.fix


def test_new_fields_in_a_version_1_document_ask_for_version_2():
    with pytest.raises(DragAnythingError, match=r"has 'easing', which version 1 documents do not have. Set "
                                                r"\"version\": 2"):
        parse_trajectories(document(version=1, easing="ease_in"))
    with pytest.raises(DragAnythingError, match="reads versions 1 and 2"):
        parse_trajectories(document(version=3))
