"""The trajectory editor in the real frontend: drawing, timing, anchors, scrubbing, persistence, queueing.

The first frame is the official demo's two goldfish (1124x668): fish one around (366, 325), fish two around
(714, 250), dark water elsewhere. Every assertion on coordinates is in those image pixels.
"""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

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
