"""The trajectory editor in the real frontend: drawing, timing, anchors, scrubbing, persistence, queueing.

The first frame is the official demo's two goldfish (1124x668): fish one around (366, 325), fish two around
(714, 250), dark water elsewhere. Every assertion on coordinates is in those image pixels.
"""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest
from PIL import Image

from draganything.trajectory import parse_trajectories

pytestmark = pytest.mark.browser

FISH_ONE = (366, 325)
FISH_TWO = (714, 250)
FISH_ONE_PATH = [(380, 330), (450, 360), (520, 390), (600, 420)]
FISH_TWO_PATH = [(714, 250), (670, 228), (620, 205), (570, 180)]
IMAGE_SIZE = (1124, 668)


def draw_two_fish(graph, node):
    graph.click_image(node, *FISH_ONE)
    graph.drag_image(node, FISH_ONE_PATH)
    graph.click_image(node, *FISH_TWO)
    graph.drag_image(node, FISH_TWO_PATH)


def test_draw_two_entities_anchor_scrub_save_reload_and_queue(graph, server):
    _, node = graph.build_editor_graph()
    graph.shot("first_frame_from_loadimage")
    node_pos, canvas_offset = graph.node_pos(node), graph.page.evaluate("() => [...app.canvas.ds.offset]")

    # Two entities, each clicked and then dragged from the object to where it should go.
    draw_two_fish(graph, node)
    graph.wait_masks(node, 2)
    graph.shot("two_entities_with_paths")
    doc = graph.document(node)
    assert [e["id"] for e in doc["entities"]] == ["1", "2"]
    one, two = doc["entities"]
    assert one["points"][0] == list(FISH_ONE) and one["clicks"] == [{"x": 366, "y": 325, "positive": True}]
    assert len(one["points"]) >= 2 and one["points"][-1] == pytest.approx(list(FISH_ONE_PATH[-1]), abs=2)
    # Dragging from the lone point of a new entity draws its path from that point.
    assert two["points"][0] == list(FISH_TWO) and two["points"][-1] == pytest.approx(list(FISH_TWO_PATH[-1]), abs=2)
    # Pointer events stayed in the editor: the node did not move and the canvas did not pan.
    assert graph.node_pos(node) == node_pos
    assert graph.page.evaluate("() => [...app.canvas.ds.offset]") == canvas_offset

    # Radius: drag the selected entity's handle outwards to about 60 px, then type an exact value on the other.
    handle = graph.editor(node, "e.radiusHandle(e.state.selection.entityId)")
    target = (FISH_TWO[0] + 60 * 0.7071, FISH_TWO[1] - 60 * 0.7071)
    graph.drag_image(node, [tuple(handle), target])
    assert graph.document(node)["entities"][1]["radius"] == pytest.approx(60, abs=2)
    radius_input = graph.page.locator("[data-testid=da-row-1] [data-testid=da-radius]")
    radius_input.fill("45")
    radius_input.press("Enter")
    graph.wait_editor(node, "e.state.doc.entities[0].radius === 45")

    # A one-click background anchor: a held entity away from both fish, with negative clicks on them.
    graph.page.click("[data-testid=da-background]")
    graph.wait_masks(node, 3)
    doc = graph.document(node)
    background = doc["entities"][2]
    assert background["label"] == "background" and background["anchor"] is True
    assert len(background["points"]) == 1
    assert {(c["x"], c["y"], c["positive"]) for c in background["clicks"][1:]} == {(366, 325, False), (714, 250, False)}

    # Timing: fish two starts at frame 3 and arrives at frame 10.
    start = graph.page.locator("[data-testid=da-row-2] [data-testid=da-start]")
    start.fill("3")
    start.press("Enter")
    end = graph.page.locator("[data-testid=da-row-2] [data-testid=da-end]")
    end.fill("10")
    end.press("Enter")
    frames = graph.document(node)["entities"][1]["frames"]
    assert frames[0] == 3 and frames[-1] == 10 and all(b > a for a, b in pairwise(frames))

    # Scrub to the last frame: the editor shows every entity's resampled position and the Gaussian at that frame.
    slider = graph.page.locator("[data-testid=da-scrub]")
    slider.focus()
    slider.press("End")
    graph.wait_editor(node, "e.state.frame === 13 && e.state.gaussian?.element && JSON.parse(e.state.gaussian.key).frame === 13")
    graph.shot("scrubbed_to_last_frame_with_gaussian")
    track_ends = graph.editor(node, "e.state.preview.answer.tracks.map((t) => t[t.length - 1])")
    assert track_ends[0] == pytest.approx(list(FISH_ONE_PATH[-1]), abs=2)
    assert track_ends[2] == pytest.approx(graph.document(node)["entities"][2]["points"][0], abs=1e-6)

    # The value is the pack's JSON and the Python parser reads it unchanged.
    doc = graph.document(node)
    assert doc["format"] == "draganything/trajectories" and doc["version"] == 1
    assert (doc["width"], doc["height"], doc["image"], doc["num_frames"]) == (*IMAGE_SIZE, graph.first_frame_name, 14)
    parsed = parse_trajectories(graph.value(node))
    assert [e.id for e in parsed] == ["1", "2", "3"]
    assert [e.anchor for e in parsed] == [False, False, True]
    assert parsed.entities[0].radius == 45 and parsed.entities[1].radius == pytest.approx(60, abs=2)
    assert parsed.entities[0].points.tolist() == [list(map(float, p)) for p in doc["entities"][0]["points"]]
    assert parsed.entities[1].frames.tolist() == doc["entities"][1]["frames"]

    # Save and reload the workflow (through JSON text, like a file): the editor comes back with the same value.
    saved = graph.page.evaluate("() => JSON.stringify(app.graph.serialize())")
    assert "draganything_first_frame" in saved  # the embedded first-frame copy travels with the workflow
    graph.page.evaluate("(text) => app.loadGraphData(JSON.parse(text))", saved)
    graph.wait_editor(node, "e.state.image && e.state.preview && e.state.doc.entities.length === 3")
    assert graph.document(node) == doc
    graph.shot("reloaded_workflow")

    # The frontend turns the graph into a prompt with the value untouched and the editor widget left out.
    prompt = graph.graph_to_prompt()
    inputs = prompt[str(node)]["inputs"]
    assert set(inputs) == {"trajectories", "tracks_frames", "image"}
    assert json.loads(inputs["trajectories"]) == doc

    # Queue it: the Python node parses the value, segments the three entities and reports them.
    preview = graph.add_node("PreviewAny", (1000, 80))
    graph.connect(node, 3, preview, "source")
    prompt_id = graph.queue_prompt()
    entry = server.wait(prompt_id, timeout=600)
    assert entry["status"]["status_str"] == "success", entry["status"]
    info = entry["outputs"][str(preview)]["text"][0]
    assert info.startswith("3 entity masks"), info
    graph.shot("queued_and_executed")


def test_typed_official_demo_and_kjnodes_values_update_the_canvas(graph, official_demo_dir):
    _, node = graph.build_editor_graph()
    textarea = graph.value_box(node)

    demo = (official_demo_dir / "fish_@" / "demo.json").read_text()
    textarea.fill(demo)
    graph.wait_editor(node, "e.state.doc.entities.length === 2 && e.state.preview")
    assert graph.editor(node, "e.state.doc.entities.map((x) => x.points.length)") == [20, 20]
    assert graph.editor(node, "e.state.doc.entities.map((x) => x.mask_name)") == ["1_fish1.jpg", "1_fish2.jpg"]
    # Nothing was rewritten: what the user pasted is what the node receives.
    assert graph.value(node) == demo
    graph.shot("official_demo_json")

    kjnodes = "[[{'x': 100, 'y': 100}, {'x': 300, 'y': 200}], [{'x': 800, 'y': 500}]]"
    textarea.fill(kjnodes)
    graph.wait_editor(node, "e.state.doc.entities.length === 2 && e.state.doc.entities[1].points.length === 1")
    assert graph.editor(node, "e.state.doc.entities[0].points") == [[100, 100], [300, 200]]
    graph.shot("kjnodes_string")

    # Editing after a paste writes the pack's own format, keeping what was imported.
    graph.click_image(node, 560, 600)
    doc = graph.document(node)
    assert doc["format"] == "draganything/trajectories" and len(doc["entities"]) == 3

    textarea.fill("{not json")
    graph.wait_editor(node, "e.status.startsWith('Cannot preview the value')")
    assert "not valid JSON" in graph.editor(node, "e.status")


def test_editor_undo_redo_and_keys_do_not_reach_the_graph(graph):
    _, node = graph.build_editor_graph()
    graph.click_image(node, *FISH_ONE)
    graph.drag_image(node, FISH_ONE_PATH)
    graph.click_image(node, *FISH_TWO)
    graph.wait_editor(node, "e.state.doc.entities.length === 2")
    depth = graph.graph_undo_depth()
    node_count = graph.page.evaluate("() => app.graph.nodes.length")

    keys = graph.page.locator("[data-testid=da-keys]")
    keys.press("Control+z")
    graph.wait_editor(node, "e.state.doc.entities.length === 1")
    keys.press("Control+z")
    graph.wait_editor(node, "e.state.doc.entities.length === 1 && e.state.doc.entities[0].points.length === 1")
    keys.press("Control+Shift+z")
    graph.wait_editor(node, "e.state.doc.entities[0].points.length > 1")
    keys.press("Control+y")
    graph.wait_editor(node, "e.state.doc.entities.length === 2")
    # The graph's own undo did not run (its queue did not shrink) and the nodes are all still there.
    assert graph.graph_undo_depth() >= depth
    assert graph.page.evaluate("() => app.graph.nodes.length") == node_count

    # Delete removes the selected entity, not the selected node.
    graph.page.evaluate("(id) => app.canvas.selectNode(app.graph.getNodeById(id))", node)
    graph.page.locator("[data-testid=da-row-2] .da-swatch").click()
    keys.press("Delete")
    graph.wait_editor(node, "e.state.doc.entities.length === 1")
    assert graph.page.evaluate("(id) => !!app.graph.getNodeById(id)", node)

    # The graph's undo (focus on the canvas) still works and the editor follows it.
    graph.page.mouse.click(1300, 800)
    before = graph.document(node)
    graph.page.keyboard.press("Control+z")
    graph.page.wait_for_function(
        "(n) => JSON.parse(app.graph.getNodeById(n).widgets[0].value).entities.length === 2", arg=node, timeout=20_000)
    assert len(graph.document(node)["entities"]) == len(before["entities"]) + 1

    # The help tooltip lists the shortcuts.
    graph.page.hover("[data-testid=da-help]")
    assert graph.page.locator(".da-help-card").is_visible()
    assert "Ctrl+Z" in graph.page.locator(".da-help-card").inner_text()
    graph.shot("help_tooltip")


def test_copy_and_paste_of_the_node_keeps_the_trajectories(graph):
    _, node = graph.build_editor_graph()
    draw_two_fish(graph, node)
    graph.wait_editor(node, "e.state.doc.entities.length === 2")
    value = graph.value(node)

    graph.page.evaluate("(id) => app.canvas.selectNode(app.graph.getNodeById(id), false)", node)
    graph.page.mouse.click(1300, 800)
    graph.page.evaluate("(id) => app.canvas.selectNode(app.graph.getNodeById(id), false)", node)
    graph.page.keyboard.press("Control+c")
    graph.page.mouse.move(1100, 500)
    graph.page.keyboard.press("Control+v")
    graph.page.wait_for_function(
        "() => app.graph.nodes.filter((n) => n.comfyClass === 'DragAnythingTrajectories').length === 2", timeout=20_000)
    pasted = graph.page.evaluate(
        "(id) => app.graph.nodes.find((n) => n.comfyClass === 'DragAnythingTrajectories' && n.id !== id).id", node)
    assert graph.value(pasted) == value
    graph.wait_editor(pasted, "e.state.doc.entities.length === 2 && !!e.state.image")
    graph.shot("pasted_node")


def test_dropped_picture_is_uploaded_and_a_shared_workflow_shows_the_embedded_copy(
        graph, server, first_frame_path, new_page, artifacts):
    graph.reset_view()
    node = graph.add_node("DragAnythingTrajectories", (420, 30))
    graph.wait_editor(node, "e.state.image === null")
    graph.shot("no_first_frame_yet")

    payload = list(first_frame_path.read_bytes())
    graph.page.evaluate(
        """([id, bytes]) => { const e = app.graph.getNodeById(id).draganythingEditor;
           const file = new File([new Uint8Array(bytes)], 'dropped_fish.jpg', { type: 'image/jpeg' });
           const data = new DataTransfer(); data.items.add(file);
           e.root.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true })); }""",
        [node, payload])
    graph.wait_editor(node, "e.state.image?.source === 'document'")
    doc = graph.document(node)
    assert doc["image"] == "dropped_fish.jpg" and (doc["width"], doc["height"]) == IMAGE_SIZE
    uploaded = server.base_directory / "input" / "dropped_fish.jpg"
    assert uploaded.read_bytes() == first_frame_path.read_bytes()
    graph.click_image(node, *FISH_ONE)
    graph.wait_masks(node, 1)
    graph.shot("dropped_picture")

    # Someone opens the shared workflow without the picture in their input folder: the editor shows the copy
    # embedded in the workflow, keeps the points in the original pixels and says what to do.
    doc = graph.document(node)
    workflow = graph.page.evaluate("() => JSON.stringify(app.graph.serialize())")
    uploaded.unlink()
    recipient = type(graph)(new_page(), artifacts)
    recipient.shots = graph.shots
    recipient.page.evaluate("(text) => app.loadGraphData(JSON.parse(text))", workflow)
    recipient.wait_editor(node, "e.state.image?.source === 'embedded'")
    assert "not in your input folder" in recipient.editor(node, "e.status")
    assert recipient.document(node) == doc
    assert recipient.editor(node, "Math.max(e.state.image.element.naturalWidth, e.state.image.element.naturalHeight)") <= 384
    recipient.shot("shared_workflow_embedded_copy")


def test_vue_node_renderer(graph):
    graph.page.evaluate("() => app.extensionManager.setting.set('Comfy.VueNodes.Enabled', true)")
    graph.page.wait_for_timeout(500)
    try:
        _, node = graph.build_editor_graph()
        graph.page.wait_for_selector(f"[data-node-id='{node}'] .da-editor", timeout=20_000)
        # The JSON box is folded here too, and the editor's JSON button unfolds it.
        textarea = graph.page.locator(f"[data-node-id='{node}'] textarea")
        assert textarea.count() == 0 or not textarea.first.is_visible()
        graph.page.click(f"[data-node-id='{node}'] [data-testid=da-json]")
        textarea.first.wait_for(state="visible", timeout=10_000)
        graph.page.click(f"[data-node-id='{node}'] [data-testid=da-json]")
        textarea.first.wait_for(state="hidden", timeout=10_000)
        node_pos = graph.node_pos(node)
        draw_two_fish(graph, node)
        graph.wait_editor(node, "e.state.doc.entities.length === 2")
        doc = graph.document(node)
        assert doc["entities"][0]["points"][0] == list(FISH_ONE)
        assert doc["entities"][1]["points"][-1] == pytest.approx(list(FISH_TWO_PATH[-1]), abs=3)
        # A drag inside the editor draws; it does not move the Vue node.
        assert graph.node_pos(node) == node_pos
        graph.page.click(f"[data-node-id='{node}'] [data-testid=da-background]")
        graph.wait_editor(node, "e.state.doc.entities.length === 3")
        graph.wait_masks(node, 3)
        graph.shot("vue_nodes_two_entities_and_background")
    finally:
        graph.page.evaluate("() => app.extensionManager.setting.set('Comfy.VueNodes.Enabled', false)")


def test_entity_rows_rename_reorder_hold_and_delete(graph):
    _, node = graph.build_editor_graph()
    value = {"format": "draganything/trajectories", "version": 1, "width": 1124, "height": 668, "entities": [
        {"id": "1", "label": "fish one", "points": [[366, 325], [600, 420]]},
        {"id": "2", "label": "fish two", "points": [[714, 250], [570, 180]]},
        {"id": "3", "label": "water", "points": [[1000, 600]]}]}
    graph.value_box(node).fill(json.dumps(value))
    graph.wait_editor(node, "e.state.doc.entities.length === 3 && e.state.preview")

    label = graph.page.locator("[data-testid=da-row-2] [data-testid=da-label]")
    label.fill("koi")
    label.press("Enter")
    graph.wait_editor(node, "e.state.doc.entities[1].label === 'koi'")
    graph.page.click("[data-testid=da-row-2] [data-testid=da-row-up]")
    graph.wait_editor(node, "e.state.doc.entities[0].id === '2'")
    graph.page.click("[data-testid=da-row-3] [data-testid=da-row-anchor]")
    graph.page.click("[data-testid=da-row-1] [data-testid=da-row-delete]")
    graph.wait_editor(node, "e.state.doc.entities.length === 2")
    doc = graph.document(node)
    assert [(e["id"], e["label"], e.get("anchor", False)) for e in doc["entities"]] == [
        ("2", "koi", False), ("3", "water", True)]
    # The colours follow the order: the first row takes the first colour.
    graph.wait_editor(node, "e.state.preview.answer.colors.length === 2")
    swatch = graph.page.locator("[data-testid=da-row-2] .da-swatch").evaluate("(s) => getComputedStyle(s).backgroundColor")
    first_colour = graph.editor(node, "e.state.preview.answer.colors[0]")
    assert swatch == "rgb({}, {}, {})".format(*(int(first_colour[i:i + 2], 16) for i in (1, 3, 5)))
    graph.shot("rows_edited")

    # Selecting rows redraws the list and the canvas and asks the server for nothing.
    graph.settled(node)
    asked = []
    graph.page.on("request", lambda request: asked.append(request.url) if "/draganything/" in request.url else None)
    for row in ("da-row-3", "da-row-2", "da-row-3"):
        graph.page.locator(f"[data-testid={row}] .da-swatch").click()
        graph.wait_editor(node, f"e.state.selection.entityId === '{row[-1]}'")
    graph.page.locator("[data-testid=da-keys]").press("Escape")
    graph.page.wait_for_timeout(500)
    assert asked == []


def test_a_connected_sam_loader_makes_the_masks(graph, random_sam):
    _, node = graph.build_editor_graph()
    loader = graph.add_node("DragAnythingSAMLoader", (80, 400))
    graph.set_widget(loader, "sam_name", random_sam)
    graph.connect(loader, 0, node, "sam")
    graph.click_image(node, *FISH_ONE)
    graph.wait_masks(node, 1)
    mask = graph.editor(node, "({method: e.state.masks['1'].method, error: e.state.masks['1'].error, note: e.state.masks['1'].note})")
    assert mask["method"] == f"SAM vit_b ({random_sam})", mask
    # A negative Alt+click refines the same entity; its mask is asked for again with both clicks.
    graph.page.keyboard.down("Alt")
    graph.click_image(node, *FISH_TWO)
    graph.page.keyboard.up("Alt")
    graph.wait_editor(node, "e.state.masks['1'].element && JSON.parse(e.state.masks['1'].key).clicks.length === 2")
    assert graph.document(node)["entities"][0]["clicks"][1] == {"x": 714, "y": 250, "positive": False}
    assert len(graph.document(node)["entities"]) == 1
    graph.shot("sam_mask")


def test_insert_move_time_and_delete_path_points(graph):
    _, node = graph.build_editor_graph()
    value = {"format": "draganything/trajectories", "version": 1, "width": 1124, "height": 668, "num_frames": 14,
             "entities": [{"id": "1", "label": "fish", "points": [[366, 325], [766, 325]]}]}
    graph.value_box(node).fill(json.dumps(value))
    graph.wait_editor(node, "e.state.doc.entities.length === 1 && e.state.preview")
    graph.click_image(node, 366, 325)  # selects the entity at its first point

    # Ctrl+click on the curve inserts a point there.
    graph.page.keyboard.down("Control")
    graph.click_image(node, 566, 325)
    graph.page.keyboard.up("Control")
    graph.wait_editor(node, "e.state.doc.entities[0].points.length === 3")
    assert graph.document(node)["entities"][0]["points"][1] == pytest.approx([566, 325], abs=2)

    # Drag it somewhere else.
    graph.drag_image(node, [(566, 325), (566, 450)])
    assert graph.document(node)["entities"][0]["points"][1] == pytest.approx([566, 450], abs=2)

    # Give it a frame: the entity gets per-point frames, strictly increasing, and the preview follows them.
    frame = graph.page.locator("[data-testid=da-point-frame]")
    frame.fill("4")
    frame.press("Enter")
    frames = graph.document(node)["entities"][0]["frames"]
    assert frames[1] == 4 and frames[0] < 4 < frames[2]

    # Double-click deletes it; the frames shrink with the points.
    graph.page.mouse.dblclick(*graph.client_point(node, 566, 450))
    graph.wait_editor(node, "e.state.doc.entities[0].points.length === 2")
    (entity,) = graph.document(node)["entities"]
    assert entity["points"] == [[366, 325], [766, 325]] and len(entity["frames"]) == 2
    graph.shot("points_edited")


# ------------------------------------------------------------------------------------------ what the user sees
#
# Each visible problem is checked on a screenshot: pixels of the page as Chromium drew it, at device scale 1.


def plain_picture(server, name: str, rgb: tuple[int, int, int]) -> str:
    """A 1124x668 picture of one colour in the server's input folder (the fish's size, so the layout matches)."""
    Image.new("RGB", IMAGE_SIZE, rgb).save(server.base_directory / "input" / name)
    return name


def luminance(pixels: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB pixels."""
    c = pixels / 255.0
    linear = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def node_box(graph, node) -> dict:
    """The node's outline on the page (title bar included)."""
    return graph.page.evaluate(
        """(id) => { const n = app.graph.getNodeById(id); const [x0, y0] = app.canvas.ds.convertOffsetToCanvas([n.pos[0], n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT]);
           const [x1, y1] = app.canvas.ds.convertOffsetToCanvas([n.pos[0] + n.size[0], n.pos[1] + n.size[1]]);
           const r = app.canvas.canvas.getBoundingClientRect();
           return {x: r.left + x0, y: r.top + y0, width: x1 - x0, height: y1 - y0}; }""", node)


def test_after_a_run_nothing_is_drawn_over_the_editor_or_below_the_node(graph, server):
    _, node = graph.build_editor_graph()
    graph.click_image(node, *FISH_ONE)
    graph.drag_image(node, FISH_ONE_PATH)
    preview = graph.add_node("PreviewAny", (1100, 500))
    graph.connect(node, 3, preview, "source")
    graph.page.mouse.click(900, 960)  # empty canvas: the editor loses the keyboard, nothing is selected
    graph.settled(node)
    outline = node_box(graph, node)
    editor_box = graph.page.locator("[data-testid=da-editor]").bounding_box()
    below = {"x": outline["x"], "y": outline["y"] + outline["height"] + 2, "width": outline["width"], "height": 280}
    before_editor, before_below = graph.screenshot(editor_box), graph.screenshot(below)
    graph.shot("before_the_run")

    prompt_id = graph.queue_prompt()
    entry = server.wait(prompt_id, timeout=600)
    assert entry["status"]["status_str"] == "success", entry["status"]
    # The node's output holds the first frame it received; the host would show it once it has loaded it.
    graph.page.wait_for_function(f"() => !!app.nodeOutputs['{node}']", timeout=20_000)
    graph.page.wait_for_timeout(2_000)
    graph.shot("after_the_run")
    after_editor, after_below = graph.screenshot(editor_box), graph.screenshot(below)
    assert np.abs(after_below - before_below).max() == 0, "something was drawn below the node after the run"
    changed = np.abs(after_editor - before_editor).max(axis=-1) > 0
    assert changed.mean() == 0, f"{changed.mean():.1%} of the editor changed after the run"
    widgets = graph.page.evaluate("(id) => app.graph.getNodeById(id).widgets.map((w) => w.name)", node)
    assert widgets == ["trajectories", "tracks_frames", "trajectory_editor"], widgets


def test_a_frame_from_a_node_without_a_file_is_shown_after_a_run(graph, server):
    """LoadImage -> ImageInvert -> Trajectories: nothing names the picture, so the editor shows the frame the node
    received in its run (a temp file), and makes masks from it."""
    graph.reset_view()
    load = graph.add_node("LoadImage", (80, 80))
    graph.set_widget(load, "image", graph.first_frame_name)
    invert = graph.add_node("ImageInvert", (80, 420))
    node = graph.add_node("DragAnythingTrajectories", (420, 30))
    graph.connect(load, 0, invert, "image")
    graph.connect(invert, 0, node, "image")
    value = {"format": "draganything/trajectories", "version": 1, "width": 1124, "height": 668,
             "entities": [{"id": "1", "label": "fish", "points": [list(FISH_ONE), list(FISH_ONE_PATH[-1])]}]}
    graph.value_box(node).fill(json.dumps(value))
    graph.wait_editor(node, "e.state.image === null && e.state.doc.entities.length === 1")
    preview = graph.add_node("PreviewAny", (1100, 500))
    graph.connect(node, 3, preview, "source")
    entry = server.wait(graph.queue_prompt(), timeout=600)
    assert entry["status"]["status_str"] == "success", entry["status"]
    graph.wait_editor(node, "e.state.image?.source === 'executed'")
    assert graph.editor(node, "e.state.image.maskRef").endswith(" [temp]")
    assert graph.editor(node, "[e.state.image.width, e.state.image.height]") == list(IMAGE_SIZE)
    graph.wait_masks(node, 1)
    assert graph.editor(node, "e.state.masks['1'].error ?? null") is None
    assert graph.value(node) == json.dumps(value), "showing the frame does not change the value"
    # The canvas shows the inverted picture: the dark water of the bottom left corner is light here.
    graph.settled(node)
    graph.shot("executed_frame")
    x, y = graph.client_point(node, 60, 620)
    corner = graph.screenshot({"x": x - 3, "y": y - 3, "width": 6, "height": 6})
    assert corner.min() > 180, corner.reshape(-1, 3).min(axis=0)


def test_the_json_text_box_is_folded_and_stays_editable(graph):
    _, node = graph.build_editor_graph()
    textarea = graph.page.locator(".comfy-multiline-input").first
    assert not textarea.is_visible()
    folded_top = graph.page.locator("[data-testid=da-editor]").bounding_box()["y"]
    graph.shot("folded")
    box = graph.value_box(node)
    graph.page.wait_for_timeout(300)
    area = box.bounding_box()
    unfolded_top = graph.page.locator("[data-testid=da-editor]").bounding_box()["y"]
    graph.shot("unfolded")
    # Unfolded, the box takes its place above the editor and shows the value; folded, the editor has that room.
    assert unfolded_top >= folded_top + 40, (folded_top, unfolded_top)
    assert area["y"] + area["height"] <= unfolded_top + 1
    # Edited there, the canvas follows.
    box.fill(json.dumps({"format": "draganything/trajectories", "version": 1, "width": 1124, "height": 668,
                         "entities": [{"id": "1", "label": "fish", "points": [list(FISH_ONE)]}]}))
    graph.wait_editor(node, "e.state.doc.entities.length === 1")
    text = graph.screenshot(box.bounding_box())
    assert text.std() > 10, "the value's text is drawn in the box"
    graph.page.click("[data-testid=da-json]")
    graph.page.wait_for_timeout(300)
    assert not textarea.is_visible()
    assert graph.page.locator("[data-testid=da-editor]").bounding_box()["y"] == pytest.approx(folded_top, abs=1)
    assert graph.document(node)["entities"][0]["label"] == "fish"


def caption_ink(shot: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, np.ndarray]:
    """For the caption in `box` (x0, y0, x1, y1) of a canvas screenshot: the best contrast any of its pixels has
    against the picture around it (the median of a 3-pixel band just outside the box), and which of its pixels
    differ clearly from that picture."""
    x0, y0, x1, y1 = box
    lum = luminance(shot)
    around = np.ones((y1 - y0 + 6, x1 - x0 + 6), dtype=bool)
    around[3:-3, 3:-3] = False
    background = float(np.median(lum[y0 - 3:y1 + 3, x0 - 3:x1 + 3][around]))
    inside = lum[y0:y1, x0:x1]
    contrast = max((inside.max() + 0.05) / (background + 0.05), (background + 0.05) / (inside.min() + 0.05))
    return contrast, np.abs(inside - background) > 0.1


@pytest.mark.parametrize("picture", [(0, 0, 0), (255, 255, 255)], ids=["black", "white"])
def test_captions_read_on_any_picture_and_stay_inside_the_canvas(graph, server, picture):
    name = plain_picture(server, f"draganything_plain_{picture[0]}.png", picture)
    _, node = graph.build_editor_graph(name)
    # Seven entities: the golden-angle colours include a dark blue (2) and a dark violet (7). The last one is the
    # background anchor at the right edge, where its caption used to be cut off. Tiny box prompts keep the masks
    # (and their tint) small, and small radii keep the position rings clear of the captions.
    points = [(80, 120), (320, 120), (560, 120), (800, 120), (80, 450), (320, 450), (1100, 600)]
    entities = [{"id": str(i + 1), "label": f"entity {i + 1}", "points": [[x, y]], "radius": 8,
                 "box": [x - 2, y - 2, x + 2, y + 2]} for i, (x, y) in enumerate(points)]
    entities[-1].update(label="background", anchor=True)
    graph.value_box(node).fill(json.dumps({"format": "draganything/trajectories", "version": 1, "width": 1124,
                                           "height": 668, "image": name, "entities": entities}))
    graph.page.click("[data-testid=da-json]")
    graph.wait_editor(node, "e.state.doc.entities.length === 7")
    graph.page.locator("[data-testid=da-keys]").press("g")  # the Gaussian off: only the captions and points
    graph.settled(node)
    graph.wait_editor(node, "e.state.preview.answer.colors.length === 7 && e.canvasView.captions.length === 7")
    graph.page.wait_for_timeout(300)
    canvas = graph.canvas_box(node)
    captions = graph.editor(node, "e.canvasView.captions")
    colours = graph.editor(node, "e.state.preview.answer.colors")
    graph.shot(f"captions_on_{'black' if picture[0] == 0 else 'white'}")
    shot = graph.screenshot(canvas)
    for caption, colour in zip(captions, colours):
        x0, y0 = int(caption["x"]), int(caption["y"])
        x1, y1 = int(np.ceil(caption["x"] + caption["width"])), int(np.ceil(caption["y"] + caption["height"]))
        assert 3 <= x0 and x1 <= canvas["width"] - 3 and 3 <= y0 and y1 <= canvas["height"] - 3, caption
        contrast, ink = caption_ink(shot, (x0, y0, x1, y1))
        assert contrast >= 4.5, f"caption {caption['entityId']} ({colour}) reaches only {contrast:.2f}:1"
        # The whole caption is drawn: its ink reaches both ends of its box.
        columns = np.nonzero(ink.any(axis=0))[0]
        assert columns.min() <= 3 and columns.max() >= x1 - x0 - 4, (caption, columns.min(), columns.max())
    # The background's caption went to the left of its point, whole, rather than past the canvas edge.
    point_x = graph.editor(node, "e.toScreen([1100, 600])[0]")
    assert captions[-1]["x"] + captions[-1]["width"] < point_x


def test_radius_placeholders_show_whole_numbers_and_the_empty_state_is_said_once(graph, server):
    graph.reset_view()
    node = graph.add_node("DragAnythingTrajectories", (420, 30))
    graph.wait_editor(node, "e.state.image === null")
    graph.page.wait_for_timeout(300)
    graph.shot("empty")
    # No picture: the canvas says what to do, the status line stays empty.
    status = graph.page.locator("[data-testid=da-status]")
    assert status.inner_text() == ""
    assert graph.screenshot(status.bounding_box()).std() < 1, "the status line is blank"
    canvas = graph.canvas_box(node)
    middle = graph.screenshot({**canvas, "y": canvas["y"] + canvas["height"] / 2 - 12, "height": 24})
    assert (np.abs(luminance(middle) - np.median(luminance(middle))) > 0.1).sum() > 200, "the canvas shows the hint"

    load = graph.add_node("LoadImage", (80, 80))
    graph.set_widget(load, "image", graph.first_frame_name)
    graph.connect(load, 0, node, "image")
    graph.wait_editor(node, "e.state.image?.source === 'connected'")
    graph.click_image(node, *FISH_ONE)
    graph.settled(node)
    radius = graph.editor(node, "e.state.preview.answer.radii?.[0] ?? e.state.masks['1'].radius")
    field = graph.page.locator("[data-testid=da-row-1] [data-testid=da-radius]")
    assert field.get_attribute("placeholder") == str(round(radius))
    point_frame = graph.page.locator("[data-testid=da-point-frame]")
    graph.page.mouse.move(1500, 900)  # no hover: the fields show their placeholders
    graph.shot("placeholders")
    for locator in (field, point_frame):
        placeholder = locator.get_attribute("placeholder")
        # The placeholder's width in the field's font, and the width the screenshot shows inked.
        width = locator.evaluate(
            "(i) => { const c = document.createElement('canvas').getContext('2d'); const s = getComputedStyle(i);"
            " c.font = `${s.fontSize} ${s.fontFamily}`; return c.measureText(i.placeholder).width; }")
        box = locator.bounding_box()
        pixels = graph.screenshot({**box, "x": box["x"] + 2, "y": box["y"] + 2, "width": box["width"] - 4, "height": box["height"] - 4})
        ink = np.abs(luminance(pixels) - np.median(luminance(pixels))) > 0.05
        columns = np.nonzero(ink.any(axis=0))[0]
        drawn = columns.max() - columns.min() + 1
        assert drawn >= width - 2, f"'{placeholder}' is {width:.0f} px wide but only {drawn} px are drawn"


def test_the_radius_drawn_is_the_one_the_server_gives(graph, server):
    """The circle around the selected entity is the radius the maps use, as /preview answers it (`radii`); until
    the answer arrives it is the typed radius, dashed."""
    name = plain_picture(server, "draganything_plain_0.png", (0, 0, 0))
    _, node = graph.build_editor_graph(name)
    graph.value_box(node).fill(json.dumps({
        "format": "draganything/trajectories", "version": 1, "width": 1124, "height": 668, "image": name,
        "entities": [{"id": "1", "label": "fish", "points": [[562, 334]], "radius": 120, "box": [560, 332, 564, 336]}]}))
    graph.page.click("[data-testid=da-json]")
    graph.wait_editor(node, "e.state.doc.entities.length === 1")
    graph.click_image(node, 562, 334)
    graph.page.locator("[data-testid=da-keys]").press("g")
    graph.settled(node)
    canvas = graph.canvas_box(node)
    cx, cy = graph.editor(node, "e.toScreen([562, 334])")
    scale = graph.editor(node, "e.canvasView.layout().scale")
    colour = graph.editor(node, "e.state.preview.answer.colors[0]")
    # Around the circle, away from the handle (up and right) and the caption (right, just below the point).
    skip = [(-1, 30), (300, 330), (330, 361)]

    held = []
    graph.page.route("**/draganything/editor/preview", lambda route: held.append(route))
    field = graph.page.locator("[data-testid=da-row-1] [data-testid=da-radius]")
    field.fill("150")
    field.press("Enter")
    graph.page.wait_for_function("() => true")
    for _ in range(100):
        if held:
            break
        graph.page.wait_for_timeout(50)
    assert held, "the edit asks the server for the radius"
    graph.page.wait_for_timeout(300)
    graph.shot("provisional_radius")
    provisional = graph.ring(graph.screenshot(canvas), (cx, cy), 150 * scale, colour, skip)
    assert 0.3 < provisional.mean() < 0.8, f"a dashed circle at the typed radius ({provisional.mean():.0%} inked)"
    assert np.count_nonzero(np.diff(provisional.astype(int))) > 20, "dashes, not a line"

    for route in held:
        route.continue_()
    graph.page.unroute("**/draganything/editor/preview")
    graph.settled(node)
    answer = graph.editor(node, "e.state.preview.answer")
    graph.shot("served_radius")
    shot = graph.screenshot(canvas)
    served = (answer.get("radii") or [None])[0]
    if served is None:
        # A server from before the `radii` field: the typed radius stays provisional.
        assert 0.3 < graph.ring(shot, (cx, cy), 150 * scale, colour, skip).mean() < 0.8
        return
    circle = graph.ring(shot, (cx, cy), served * scale, colour, skip)
    assert circle.mean() > 0.9, f"a solid circle at the server's radius {served} ({circle.mean():.0%} inked)"
    field_placeholder = graph.page.locator("[data-testid=da-row-1] [data-testid=da-radius]").input_value()
    assert field_placeholder == "150"
    if abs(served - 150) * scale > 4:
        assert graph.ring(shot, (cx, cy), 150 * scale, colour, skip).mean() < 0.3, "nothing drawn at the typed radius"
