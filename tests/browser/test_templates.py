"""The pack's templates in the real frontend: each converts to exactly its API-format twin, and the
multi-entity template becomes a two-entity drag with a held background in a handful of user actions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "example_workflows"
TEMPLATE_FOR_SCENARIO = "draganything_entities_and_anchor"
MAX_USER_ACTIONS = 15


def as_executed(prompt: dict) -> dict:
    """What the server executes: each node's class and inputs (titles in _meta are cosmetic)."""
    return {node_id: (node["class_type"], node["inputs"]) for node_id, node in prompt.items()}


def ui_workflows() -> list[Path]:
    return sorted(path for path in EXAMPLES_DIR.glob("*.json"))


@pytest.mark.parametrize("workflow", ui_workflows(), ids=lambda path: path.stem)
def test_template_converts_to_its_api_twin(graph, workflow):
    twin_path = EXAMPLES_DIR / "api" / workflow.name
    assert twin_path.is_file(), f"{workflow.name} has no API-format twin in example_workflows/api/"
    graph.page.evaluate(
        "(text) => app.loadGraphData(JSON.parse(text), true, true, null, "
        "{ showMissingModelsDialog: false, showMissingNodesDialog: false })",
        workflow.read_text())
    prompt = graph.graph_to_prompt()
    twin = json.loads(twin_path.read_text())
    converted, expected = as_executed(prompt), as_executed(twin)
    assert converted.keys() == expected.keys()
    for node_id, (kind, inputs) in expected.items():
        assert converted[node_id][0] == kind, node_id
        if kind.startswith("DragAnything"):
            assert converted[node_id][1] == inputs, node_id
        else:  # a newer frontend may add keys to a core node (e.g. SaveVideo's "format.codec"); ours stay as saved
            assert {name: converted[node_id][1].get(name) for name in inputs} == inputs, (node_id, kind)
    # The editor read the template's value without rewriting it.
    for node_id, node in twin.items():
        if node["class_type"] == "DragAnythingTrajectories":
            graph.wait_editor(int(node_id), "e.state.doc.entities.length > 0")
            assert graph.value(int(node_id)) == node["inputs"]["trajectories"]


def test_two_entity_drag_with_held_background_from_the_template_in_at_most_15_actions(graph):
    """Template + a picture -> two dragged fish and a held background, counting every click, drag and key."""
    page = graph.page
    actions = []

    def act(name: str) -> None:
        actions.append(name)
        graph.shot(f"action{len(actions):02d}_{name}")

    page.get_by_text("Templates", exact=True).first.click()
    act("open_templates")
    page.get_by_text("ComfyUI-DragAnything", exact=True).first.click()
    act("pack_templates")
    page.get_by_text(TEMPLATE_FOR_SCENARIO, exact=False).first.click()
    page.wait_for_function("() => app.graph.nodes.some((n) => n.comfyClass === 'DragAnythingTrajectories')")
    node = page.evaluate("() => app.graph.nodes.find((n) => n.comfyClass === 'DragAnythingTrajectories').id")
    act("choose_template")

    # Bring the editor into view at 100 %, as a user does by scrolling to it.
    page.evaluate(
        """(id) => { const n = app.graph.getNodeById(id); app.canvas.ds.scale = 1;
           app.canvas.ds.offset = [120 - n.pos[0], 90 - n.pos[1]]; app.canvas.setDirty(true, true); }""", node)
    graph.wait_editor(node, "e.state.doc.entities.length > 0")
    act("scroll_to_editor")

    # Drop the picture onto the editor: it is uploaded and the template's LoadImage now shows it.
    payload = list((Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "official_demo" / "fish_@"
                    / "demo.jpg").read_bytes())
    page.evaluate(
        """([id, bytes]) => { const e = app.graph.getNodeById(id).draganythingEditor;
           const file = new File([new Uint8Array(bytes)], 'my_fish.jpg', { type: 'image/jpeg' });
           const data = new DataTransfer(); data.items.add(file);
           e.root.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true })); }""",
        [node, payload])
    graph.wait_editor(node, "e.state.image?.documentRef === 'my_fish.jpg' && e.state.doc.width === 1124")
    act("drop_picture")

    page.click("[data-testid=da-clear]")
    graph.wait_editor(node, "e.state.doc.entities.length === 0")
    act("clear_template_entities")

    graph.click_image(node, 366, 325)
    act("click_fish_one")
    graph.drag_image(node, [(366, 325), (450, 360), (600, 420)])
    act("drag_fish_one")
    graph.click_image(node, 714, 250)
    act("click_fish_two")
    graph.drag_image(node, [(714, 250), (640, 215), (570, 180)])
    act("drag_fish_two")
    page.click("[data-testid=da-background]")
    graph.wait_masks(node, 3)
    act("background_anchor")

    assert len(actions) <= MAX_USER_ACTIONS, actions
    doc = graph.document(node)
    assert doc["image"] == "my_fish.jpg" and (doc["width"], doc["height"]) == (1124, 668)
    assert [len(e["points"]) > 1 for e in doc["entities"]] == [True, True, False]
    assert [e.get("anchor", False) for e in doc["entities"]] == [False, False, True]
    load_image = page.evaluate(
        "(id) => app.graph.getNodeById(id).getInputNode(app.graph.getNodeById(id).inputs.findIndex((i) => i.type === 'IMAGE')).widgets[0].value",
        node)
    assert load_image == "my_fish.jpg"
    (graph.artifacts / "actions.json").write_text(json.dumps(actions, indent=1))
