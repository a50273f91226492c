"""The ComfyUI conventions in the real frontend: the node help panel shows the pack's help page, the pack's locale
strings are what the canvas shows (English tooltips the schemas leave out, a whole Chinese translation), the
subgraph blueprint is offered by the node search, and on a host whose schema has them, search aliases find the
nodes, advanced inputs keep saved workflows' values, and a Curve Editor connects to Camera Move's curve socket
without moving its saved widget values or links.

Run against ComfyUI 0.8.0 (frontend 1.35.9) and a newer host (e.g. 0.33.0 with frontend 1.49.6): the tests of
features the host lacks skip and say so."""

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.host]

PROJECT_DIR = Path(__file__).resolve().parents[2]
ENGLISH = json.loads((PROJECT_DIR / "locales" / "en" / "nodeDefs.json").read_text(encoding="utf-8"))
CHINESE = json.loads((PROJECT_DIR / "locales" / "zh" / "nodeDefs.json").read_text(encoding="utf-8"))
BLUEPRINT = "DragAnything image to video"
TEMPLATE = PROJECT_DIR / "example_workflows" / "draganything_composable_ksampler.json"
ARTIFACTS = Path(os.environ.get("DRAGANYTHING_ARTIFACTS", PROJECT_DIR / "artifacts" / "browser"))


def template_widget_names() -> dict[str, list[str]]:
    """The widget names in the order the templates store their values (what make_examples.py writes them by)."""
    spec = importlib.util.spec_from_file_location("draganything_make_examples", TEMPLATE.with_name("make_examples.py"))
    module = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module.WIDGETS


@pytest.fixture
def page(page):
    """The app, once the frontend has settled after loading (its toolbox, tooltips and search fill in late)."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)
    return page


def add_node(page, class_type: str, selected: bool = False) -> int:
    return page.evaluate(
        """([type, selected]) => { app.graph.clear(); app.canvas.ds.scale = 1; app.canvas.ds.offset = [0, 0];
           const node = LiteGraph.createNode(type); app.graph.add(node); node.pos = [300, 200];
           if (selected) app.canvas.selectNode(node); app.canvas.setDirty(true, true); return node.id; }""",
        [class_type, selected])


def hover_tooltip(page, node_id: int, where: str) -> str:
    """Rests the mouse on a part of the node (a JS expression of `node` giving a graph position) and returns the
    tooltip the frontend shows there."""
    x, y = page.evaluate(
        f"""(id) => {{ const node = app.graph.getNodeById(id); const at = {where};
            const [x, y] = app.canvas.ds.convertOffsetToCanvas(at); const r = app.canvas.canvas.getBoundingClientRect();
            return [r.left + x, r.top + y]; }}""", node_id)
    tooltip = page.locator(".node-tooltip")
    for attempt in range(5):  # the tooltip needs the pointer to rest; an early move can miss it
        page.mouse.move(x - 30, y - 30)
        page.mouse.move(x, y, steps=5)
        try:
            tooltip.wait_for(state="visible", timeout=3_000)
            return tooltip.inner_text().strip()
        except Exception:
            if attempt == 4:
                raise
    return ""


def open_search(page, query: str) -> list[str]:
    """Double-click the empty canvas and type into the node search: the first lines of the results shown."""
    page.evaluate("() => { app.graph.clear(); app.canvas.setDirty(true, true); }")
    x, y = page.evaluate("() => { const r = app.canvas.canvas.getBoundingClientRect(); return [r.left + 500, r.top + 400]; }")
    page.mouse.dblclick(x, y)
    page.wait_for_function("() => document.activeElement?.tagName === 'INPUT'", timeout=10_000)  # the search box
    page.keyboard.type(query, delay=20)
    page.wait_for_timeout(1500)  # the search is debounced
    page.screenshot(path=str(ARTIFACTS / f"search_{query.replace(' ', '_')}.png"))
    return [text.strip().split("\n")[0].strip() for text in page.locator("[role=option]").all_inner_texts()]


def search_and_add(page, query: str) -> dict:
    """The node the frontend adds for the search's first result (Enter)."""
    open_search(page, query)
    page.keyboard.press("Enter")
    page.wait_for_function("() => app.graph.nodes.length === 1", timeout=30_000)
    # Sockets only: a newer frontend also lists the widgets a subgraph promotes as inputs.
    return page.evaluate("() => { const n = app.graph.nodes[0]; return {type: n.type, title: n.title, subgraph:"
                         " !!n.isSubgraphNode?.(), inputs: n.inputs.filter((i) => !i.widget).map((i) => i.label ?? i.name)}; }")


def test_the_help_panel_shows_the_nodes_help_page_with_its_picture(page, artifacts):
    node_id = add_node(page, "DragAnythingConditions", selected=True)
    info_button = page.get_by_test_id("info-button")
    for _ in range(30):  # the selection toolbox fills in once the frontend has settled after loading
        if info_button.is_visible():
            break
        page.evaluate("(id) => { app.canvas.deselectAll(); app.canvas.selectNode(app.graph.getNodeById(id)); }", node_id)
        page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / "selected.png"))
    info_button.click()
    try:
        check_help_panel(page, artifacts)
    finally:
        # Newer frontends show help in the right side panel and store it as open on the server: later pages
        # would start with it open, and the graph narrower.
        page.evaluate("async () => await app.extensionManager.setting.set('Comfy.RightSidePanel.IsOpen', false)")


def check_help_panel(page, artifacts) -> None:
    help_panel = page.locator(".node-help-content")
    help_panel.get_by_text("Combines the trajectories, masks and entity embeddings").wait_for(timeout=30_000)
    text = help_panel.inner_text()
    assert "radius_overrides" in text and "Example" in text
    picture = help_panel.locator("img")
    picture.wait_for()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
    assert picture.get_attribute("src").endswith("/extensions/ComfyUI-DragAnything/docs/images/conditions.png")
    page.screenshot(path=str(artifacts / "help_panel.png"))


def test_english_locale_supplies_the_output_tooltips_the_schema_leaves_out(page):
    node_id = add_node(page, "DragAnythingApply")
    shown = hover_tooltip(page, node_id, "node.getConnectionPos(false, 0)")
    assert shown == ENGLISH["DragAnythingApply"]["outputs"]["0"]["tooltip"]


def test_chinese_locale_names_the_node_and_its_tooltips(page, new_page, artifacts):
    page.evaluate("async () => await app.extensionManager.setting.set('Comfy.Locale', 'zh')")
    try:
        page = new_page()  # the setting is stored on the server: a new page starts in Chinese
        node_id = add_node(page, "DragAnythingApply")
        assert page.evaluate("(id) => app.graph.getNodeById(id).title", node_id) == \
            CHINESE["DragAnythingApply"]["display_name"]
        shown = hover_tooltip(
            page, node_id, "[node.pos[0] + node.size[0] / 2, node.pos[1] + node.widgets.find((w) => w.name === "
            "'strength').y + 8]")
        assert shown == CHINESE["DragAnythingApply"]["inputs"]["strength"]["tooltip"]
        page.screenshot(path=str(artifacts / "chinese.png"))
    finally:
        page.evaluate("async () => await app.extensionManager.setting.set('Comfy.Locale', 'en')")


def test_the_node_search_offers_the_blueprint_as_one_subgraph_node(page):
    node = search_and_add(page, BLUEPRINT)
    blueprint = json.loads((PROJECT_DIR / "subgraphs" / f"{BLUEPRINT}.json").read_text())
    (definition,) = blueprint["definitions"]["subgraphs"]
    assert node["subgraph"] and node["title"] == BLUEPRINT
    assert node["inputs"] == [slot.get("label") or slot["name"] for slot in definition["inputs"]]


@pytest.mark.parametrize("alias, node_id", [("motion brush", "DragAnythingTrajectories"),
                                            ("trajectory video", "DragAnythingSVDSampler")])
def test_search_aliases_find_the_nodes(page, server, alias, node_id):
    if "search_aliases" not in server.get("/object_info/KSampler")["KSampler"]:
        pytest.skip("this ComfyUI's node schema has no search aliases (0.8.0)")
    assert ENGLISH[node_id]["display_name"] in open_search(page, alias)[:5]


def test_a_saved_workflow_keeps_its_values_when_inputs_are_advanced(page, server):
    options = server.get("/object_info/DragAnythingConditions")["DragAnythingConditions"]["input"]["required"]
    if not options["framing"][1].get("advanced"):
        pytest.skip("this ComfyUI's node schema has no advanced inputs (0.8.0)")
    names = template_widget_names()
    template = json.loads(TEMPLATE.read_text())
    page.evaluate("async (workflow) => await app.loadGraphData(workflow)", template)
    for saved in template["nodes"]:
        if not saved["type"].startswith("DragAnything") or saved["type"] == "DragAnythingEntityEmbeddings":
            continue  # (the embeddings' seed carries a control value the names list marks separately)
        values = page.evaluate(
            "(id) => Object.fromEntries(app.graph.getNodeById(id).widgets.map((w) => [w.name, w.value]))", saved["id"])
        expected = dict(zip(names[saved["type"]], saved["widgets_values"]))
        assert {name: values.get(name) for name in expected} == expected, saved["type"]


def test_camera_move_takes_a_curve_editor_through_a_socket_and_keeps_saved_values(page, server, artifacts):
    """On a host with Curve Editor, Camera Move's easing_curve is a socket (no widget, so the saved widget values
    keep their places): the Wan-Move template loads with its values, a Curve Editor connects, and the prompt links
    it. Skips on a host without the CURVE type (0.8.0), where the input does not exist."""
    spec = server.get("/object_info/DragAnythingCameraMove")["DragAnythingCameraMove"]
    if "easing_curve" not in spec["input"].get("optional", {}):
        pytest.skip("this ComfyUI has no CURVE type (0.8.0): Camera Move has no easing_curve")
    names = template_widget_names()["DragAnythingCameraMove"]
    template = json.loads((PROJECT_DIR / "example_workflows" / "draganything_wan_move.json").read_text())
    saved = next(node for node in template["nodes"] if node["type"] == "DragAnythingCameraMove")
    page.evaluate("async (workflow) => await app.loadGraphData(workflow)", template)

    def camera_move():
        return page.evaluate(
            """(id) => { const n = app.graph.getNodeById(id);
               return {widgets: n.widgets.map((w) => [w.name, w.value]),
                       inputs: n.inputs.map((i) => [i.name, i.type, !!i.widget, i.link != null])}; }""", saved["id"])

    loaded = camera_move()
    assert [name for name, _ in loaded["widgets"]] == names  # no curve widget among them
    assert dict(loaded["widgets"]) == dict(zip(names, saved["widgets_values"]))

    curve = page.evaluate(
        """([target]) => { const editor = LiteGraph.createNode('CurveEditor'); app.graph.add(editor);
           editor.pos = [1000, 400]; const node = app.graph.getNodeById(target);
           editor.connect(0, node, node.inputs.findIndex((i) => i.name === 'easing_curve'));
           app.canvas.setDirty(true, true); return editor.id; }""", [saved["id"]])
    connected = camera_move()
    assert ["easing_curve", "CURVE", False, True] in connected["inputs"]
    assert connected["widgets"] == loaded["widgets"]
    page.screenshot(path=str(artifacts / "camera_move_with_curve.png"))
    prompt = page.evaluate("async () => (await app.graphToPrompt()).output")
    inputs = prompt[str(saved["id"])]["inputs"]
    assert inputs["easing_curve"] == [str(curve), 0]
    assert {name: inputs[name] for name in names} == dict(zip(names, saved["widgets_values"]))
    assert prompt[str(curve)]["class_type"] == "CurveEditor"


def test_a_link_into_a_camera_move_widget_saved_before_the_curve_socket_stays_on_its_widget(page, server):
    """The newer frontend puts plain sockets before widget sockets, so the curve socket comes second: a workflow
    saved before it existed, with a link into `frames` (slot 7 then), still feeds `frames`."""
    spec = server.get("/object_info/DragAnythingCameraMove")["DragAnythingCameraMove"]
    if "easing_curve" not in spec["input"].get("optional", {}):
        pytest.skip("this ComfyUI has no CURVE type (0.8.0): Camera Move has no easing_curve")
    names = template_widget_names()["DragAnythingCameraMove"]
    # As frontend 1.49.6 saved it with the pack before easing_curve (trimmed to what loading reads).
    widget_sockets = [{"name": name, "type": kind, "widget": {"name": name}, "link": 1 if name == "frames" else None}
                      for name, kind in zip(names, ["FLOAT"] * 6 + ["INT", "COMBO"])]
    workflow = {
        "last_node_id": 2, "last_link_id": 1, "version": 0.4, "config": {}, "extra": {}, "groups": [],
        "links": [[1, 2, 0, 1, 7, "INT"]],
        "nodes": [
            {"id": 1, "type": "DragAnythingCameraMove", "pos": [400, 100], "size": [320, 260], "flags": {},
             "order": 1, "mode": 0, "properties": {},
             "inputs": [{"name": "trajectories", "type": "DRAGANYTHING_TRAJECTORIES", "link": None}, *widget_sockets],
             "outputs": [{"name": "trajectories", "type": "DRAGANYTHING_TRAJECTORIES", "links": []}],
             "widgets_values": [1.7, 0, 0, 0, 0.5, 0.5, 14, "ease_in"]},
            {"id": 2, "type": "PrimitiveInt", "pos": [50, 100], "size": [270, 82], "flags": {}, "order": 0,
             "mode": 0, "properties": {}, "inputs": [],
             "outputs": [{"name": "INT", "type": "INT", "links": [1]}], "widgets_values": [33, "fixed"]},
        ],
    }
    page.evaluate("async (workflow) => await app.loadGraphData(workflow)", workflow)
    inputs = page.evaluate("() => app.graph.getNodeById(1).inputs.map((i) => [i.name, i.link != null])")
    assert {name for name, _ in inputs} == {"trajectories", "easing_curve", *names}
    assert [name for name, linked in inputs if linked] == ["frames"]
    prompt = page.evaluate("async () => (await app.graphToPrompt()).output")
    assert prompt["1"]["inputs"] == {**dict(zip(names, [1.7, 0, 0, 0, 0.5, 0.5, 14, "ease_in"])), "frames": ["2", 0]}
