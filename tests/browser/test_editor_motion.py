"""The editor's motion tools in the real frontend: an entity's pace (easing), the frames it is hidden in, and the
camera's zoom and orbit buttons.

Each tool is driven with real clicks, and checked three ways: in the node's value, against the library reading
that value (what the nodes will compute), and on a screenshot of the canvas. The first frame is the official
demo's goldfish picture (1124x668), as in test_editor.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from draganything.trajectory import CameraMove, parse_trajectories

pytestmark = pytest.mark.browser

FISH = (366, 325)
FISH_PATH = [FISH, (500, 380), (700, 440), (950, 500)]
CENTRE = (562, 334)  # the picture's centre: the camera's default centre
HIDDEN_GREY = "#8b8b8b"  # the ring of an entity the model does not see at the scrubbed frame (canvas_view.js)


def draw_fish(graph, node) -> None:
    graph.click_image(node, *FISH)
    graph.drag_image(node, FISH_PATH)
    graph.shot("fish_drawn")
    graph.wait_masks(node, 1)
    graph.settled(node)


def scrub_to(graph, node, frame: int) -> None:
    slider = graph.page.locator("[data-testid=da-scrub]")
    slider.focus()
    slider.press("Home")
    for _ in range(frame):
        slider.press("ArrowRight")
    graph.wait_editor(node, f"e.state.frame === {frame}")
    graph.settled(node)


def frame_ring(graph, node, index: int, point) -> tuple[tuple[float, float], float]:
    """Where the editor draws entity `index`'s ring at `point` (canvas pixels) and its radius (canvas_view.js)."""
    centre = tuple(graph.editor(node, f"e.toScreen({list(map(float, point))})"))
    radius = graph.editor(node, f"Math.max(4, e.state.preview.answer.radii[{index}] * e.canvasView.layout().scale * 0.35)")
    return centre, radius


def gaussian_alpha(graph, node) -> float:
    """The summed alpha of the Gaussian overlay the editor holds for the scrubbed frame (the map's values)."""
    return graph.editor(node, """(() => { const image = e.state.gaussian.element;
        const canvas = document.createElement("canvas"); canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
        const ctx = canvas.getContext("2d"); ctx.drawImage(image, 0, 0);
        const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let sum = 0; for (let i = 3; i < data.length; i += 4) sum += data[i]; return sum; })()""")


def served_track(graph, node, index: int) -> np.ndarray:
    return np.array(graph.editor(node, f"e.state.preview.answer.tracks[{index}]"))


def library_tracks(graph, node) -> tuple[np.ndarray, np.ndarray]:
    """The node's value as the nodes read and resample it, in the mode the preview says it used."""
    mode = graph.editor(node, "e.state.preview.answer.modes[0]")
    return parse_trajectories(graph.value(node)).resampled(14, mode)


def test_pace_and_hidden_frames_are_what_the_nodes_compute(graph, server):
    _, node = graph.build_editor_graph()
    draw_fish(graph, node)
    page = graph.page
    canvas = graph.canvas_box(node)
    assert page.locator("[data-testid=da-motion]").is_visible(), "the selected entity's motion row is shown"
    assert page.locator("[data-testid=da-easing]").input_value() == "linear"
    linear = served_track(graph, node, 0)

    # Pace: ease in starts slowly. The server's track is the library's reading of the value, and the ring at
    # frame 5 is drawn where that track is, not where constant speed would put it.
    page.select_option("[data-testid=da-easing]", "ease_in")
    graph.wait_editor(node, "e.state.doc.entities[0].easing === 'ease_in'")
    graph.settled(node)
    doc = graph.document(node)
    assert doc["version"] == 2 and doc["entities"][0]["easing"] == "ease_in"
    eased = served_track(graph, node, 0)
    points, _ = library_tracks(graph, node)
    np.testing.assert_allclose(eased, points[0], atol=1e-2)
    travelled = lambda track, frame: np.linalg.norm(track[frame] - track[0])  # noqa: E731
    assert travelled(eased, 5) < 0.6 * travelled(linear, 5), "ease in covers less ground early on"
    assert eased[-1] == pytest.approx(linear[-1], abs=1e-2), "and still arrives where the path ends"

    scrub_to(graph, node, 5)
    graph.shot("ease_in_at_frame_5")
    shot = graph.screenshot(canvas)
    at_eased, radius = frame_ring(graph, node, 0, eased[5])
    at_linear, _ = frame_ring(graph, node, 0, linear[5])
    assert np.hypot(at_eased[0] - at_linear[0], at_eased[1] - at_linear[1]) > 2 * radius + 4
    assert graph.ring(shot, at_eased, radius, "#ffffff").mean() > 0.6, "the ring is at the eased position"
    assert graph.ring(shot, at_linear, radius, "#ffffff").mean() < 0.3, "not at the constant-speed one"

    # Hidden from frame 6: the row's button at the scrubbed frame. The model sees the fish up to frame 5 only,
    # and the editor shows that: a grey dashed ring, a greyed row and no Gaussian while it is hidden.
    scrub_to(graph, node, 6)
    hide = page.locator("[data-testid=da-hide]")
    assert hide.inner_text() == "Hide from frame 6"
    hide.click()
    graph.wait_editor(node, "e.state.doc.entities[0].hidden?.length === 1")
    graph.settled(node)
    assert graph.document(node)["entities"][0]["hidden"] == [[6, None]]
    assert page.locator("[data-testid=da-hidden]").input_value() == "6-"
    visible = graph.editor(node, "e.state.preview.answer.visible[0]")
    _, library_visible = library_tracks(graph, node)
    assert visible == library_visible[0].tolist() == [True] * 6 + [False] * 8
    assert "da-hidden-now" in page.locator("[data-testid=da-row-1]").get_attribute("class")
    graph.shot("hidden_at_frame_6")
    shot = graph.screenshot(canvas)
    centre, radius = frame_ring(graph, node, 0, eased[6])
    grey = graph.ring(shot, centre, radius, HIDDEN_GREY)
    assert 0.2 < grey.mean() < 0.95, f"a dashed grey ring ({grey.mean():.0%} inked)"
    assert graph.ring(shot, centre, radius, "#ffffff").mean() < 0.2, "no white ring while hidden"
    assert gaussian_alpha(graph, node) == 0, "the model's map holds nothing of a hidden entity"
    scrub_to(graph, node, 5)
    assert gaussian_alpha(graph, node) > 0
    assert "da-hidden-now" not in page.locator("[data-testid=da-row-1]").get_attribute("class")

    # Show again from frame 9: the range ends at 8. Then ranges typed into the row.
    scrub_to(graph, node, 9)
    assert hide.inner_text() == "Show from frame 9"
    hide.click()
    graph.wait_editor(node, "JSON.stringify(e.state.doc.entities[0].hidden) === '[[6,8]]'")
    field = page.locator("[data-testid=da-hidden]")
    field.fill("3-4, 10-")
    field.press("Enter")
    graph.wait_editor(node, "JSON.stringify(e.state.doc.entities[0].hidden) === '[[3,4],[10,null]]'")
    before = graph.value(node)
    field.fill("4-x")
    field.press("Enter")
    graph.wait_editor(node, "e.status.startsWith(\"Hidden frames '4-x'\")")
    assert graph.value(node) == before, "a text that is not a list of ranges changes nothing"
    assert "da-error" in page.locator("[data-testid=da-status]").get_attribute("class")
    parsed = parse_trajectories(graph.value(node)).entities[0]
    assert (parsed.easing, parsed.hidden) == ("ease_in", ((3, 4), (10, None)))

    # Back to linear: the easing leaves the value.
    page.select_option("[data-testid=da-easing]", "linear")
    graph.wait_editor(node, "e.state.doc.entities[0].easing === null")
    assert "easing" not in graph.document(node)["entities"][0]


def test_camera_buttons_move_the_background_as_the_library_does(graph, server):
    _, node = graph.build_editor_graph()
    draw_fish(graph, node)
    fish_points = graph.document(node)["entities"][0]["points"]
    page = graph.page
    readout = page.locator("[data-testid=da-camera]")
    assert readout.inner_text() == ""

    # Zoom in with nothing held: a background anchor is added and moved in the same edit.
    page.click("[data-testid=da-zoom-in]")
    graph.wait_editor(node, "e.state.doc.entities.length === 2 && e.state.doc.entities[1].scale")
    graph.settled(node)
    doc = graph.document(node)
    fish, background = doc["entities"]
    assert fish["points"] == fish_points, "an entity that moves on its own is left as drawn"
    assert background["label"] == "background" and "anchor" not in background
    assert background["frames"] == list(range(14))
    start = background["points"][0]
    np.testing.assert_allclose(background["points"], CameraMove(zoom=1.25).path(start, 14, CENTRE), atol=0.01)
    np.testing.assert_allclose(background["scale"], 1.25 ** np.linspace(0, 1, 14), atol=1e-6)
    assert readout.inner_text() == "camera: zoom ×1.25"
    undo_depth = graph.editor(node, "e.state.history.index")

    # Clicks add up: zoom in again and orbit, from the same starting document (still one background).
    page.click("[data-testid=da-zoom-in]")
    graph.wait_editor(node, "Math.abs(e.state.doc.entities[1].scale.at(-1) - 1.5625) < 1e-6")
    page.click("[data-testid=da-orbit-cw]")
    graph.wait_editor(node, "e.state.doc.entities[1].rotation?.at(-1) === 15")
    graph.settled(node)
    background = graph.document(node)["entities"][1]
    assert len(graph.document(node)["entities"]) == 2
    assert background["points"][0] == start
    np.testing.assert_allclose(background["points"], CameraMove(zoom=1.5625, orbit=15).path(start, 14, CENTRE), atol=0.01)
    assert readout.inner_text() == "camera: zoom ×1.56 · orbit +15°"
    assert graph.editor(node, "e.state.history.index") == undo_depth + 2, "each click is one edit"

    # The scrub previews the move: the server's track is the path, and the ring sits at its last point.
    np.testing.assert_allclose(served_track(graph, node, 1), background["points"], atol=1e-2)
    points, _ = library_tracks(graph, node)
    np.testing.assert_allclose(points[1], background["points"], atol=1e-2)
    # At the last frame whose ring is inside the canvas: the zoom carries a point near an edge out of it.
    box = graph.canvas_box(node)
    rings = [frame_ring(graph, node, 1, point) for point in background["points"]]
    frame = max(f for f, ((x, y), r) in enumerate(rings) if r + 2 < x < box["width"] - r - 2 and r + 2 < y < box["height"] - r - 2)
    scrub_to(graph, node, frame)
    graph.shot(f"camera_zoom_and_orbit_at_frame_{frame}")
    shot = graph.screenshot(box)
    centre, radius = rings[frame]
    assert graph.ring(shot, centre, radius, "#ffffff").mean() > 0.6, "the background's ring is where the camera took it"
    start_centre, _ = frame_ring(graph, node, 1, start)
    assert np.hypot(centre[0] - start_centre[0], centre[1] - start_centre[1]) > 2 * radius

    # Undo takes the orbit back; the next click adds to the zoom that is left.
    page.locator("[data-testid=da-keys]").press("Control+z")
    graph.wait_editor(node, "!e.state.doc.entities[1].rotation?.some((r) => r !== 0)")
    assert readout.inner_text() == "camera: zoom ×1.56"
    page.click("[data-testid=da-zoom-out]")
    page.click("[data-testid=da-zoom-out]")
    graph.wait_editor(node, "e.state.doc.entities[1]?.anchor === true")
    graph.settled(node)
    background = graph.document(node)["entities"][1]
    assert background["points"] == [start] and background["anchor"] is True, "zoomed back to no move: held again"
    assert readout.inner_text() == ""
