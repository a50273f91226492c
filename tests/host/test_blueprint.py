"""subgraphs/: the blueprint is a well-formed subgraph workflow, mirrors the composable template it was made from
(same inner nodes, settings and wiring; the template's loaders, first frame and outputs become its inputs and
outputs), and the host serves it at /global_subgraphs for the node library."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.host

PROJECT_DIR = Path(__file__).resolve().parents[2]
BLUEPRINT_PATH = PROJECT_DIR / "subgraphs" / "DragAnything image to video.json"
TEMPLATE_PATH = PROJECT_DIR / "example_workflows" / "draganything_composable_ksampler.json"
OUTSIDE = {"LoadImage", "ImageOnlyCheckpointLoader", "CheckpointLoaderSimple", "DragAnythingControlNetLoader",
           "PreviewImage", "SaveAnimatedWEBP", "MarkdownNote"}
# The subgraph's own input and output nodes, as the frontend numbers them.
INPUT_NODE, OUTPUT_NODE = -10, -20
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


@pytest.fixture(scope="module")
def blueprint() -> dict:
    return json.loads(BLUEPRINT_PATH.read_text())


@pytest.fixture(scope="module")
def definition(blueprint) -> dict:
    (subgraph,) = blueprint["definitions"]["subgraphs"]
    return subgraph


def link_tuple(link) -> tuple:
    if isinstance(link, dict):
        return (link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"], link["type"])
    _, origin, origin_slot, target, target_slot, kind = link
    return origin, origin_slot, target, target_slot, kind


def test_one_node_instantiates_the_one_subgraph_with_its_slots(blueprint, definition):
    assert blueprint["version"] == 0.4 and blueprint["links"] == []
    (node,) = blueprint["nodes"]
    assert node["type"] == definition["id"] and node["title"] == BLUEPRINT_PATH.stem == definition["name"]
    assert [(slot["name"], slot["type"]) for slot in node["inputs"]] == \
        [(slot["name"], slot["type"]) for slot in definition["inputs"]]
    assert [(slot["name"], slot["type"]) for slot in node["outputs"]] == \
        [(slot["name"], slot["type"]) for slot in definition["outputs"]]
    assert blueprint["extra"]["BlueprintDescription"] == definition["description"]


def test_every_link_joins_slots_that_exist(definition):
    nodes = {node["id"]: node for node in definition["nodes"]}
    links = {link["id"]: link for link in definition["links"]}
    for link in links.values():
        origin, origin_slot, target, target_slot, kind = link_tuple(link)
        if origin == INPUT_NODE:
            assert link["id"] in definition["inputs"][origin_slot]["linkIds"]
        else:
            assert nodes[origin]["outputs"][origin_slot]["type"] == kind
            assert link["id"] in nodes[origin]["outputs"][origin_slot]["links"]
        if target == OUTPUT_NODE:
            assert definition["outputs"][target_slot]["linkIds"] == [link["id"]]
        else:
            assert nodes[target]["inputs"][target_slot]["link"] == link["id"]
    for slot in definition["inputs"] + definition["outputs"]:
        assert slot["linkIds"] and all(link_id in links for link_id in slot["linkIds"]), slot["name"]


def test_it_mirrors_the_composable_template(definition):
    template = json.loads(TEMPLATE_PATH.read_text())
    inside = {node["id"]: node for node in template["nodes"] if node["type"] not in OUTSIDE}
    inner = {node["id"]: node for node in definition["nodes"]}
    assert {node_id: node["type"] for node_id, node in inner.items()} == \
        {node_id: node["type"] for node_id, node in inside.items()}
    for node_id, node in inner.items():
        assert node.get("widgets_values", []) == inside[node_id].get("widgets_values", []), node["type"]

    blueprint_links = {link_tuple(link) for link in definition["links"]}
    for link in template["links"]:
        origin, origin_slot, target, target_slot, kind = link_tuple(link)
        if origin in inside and target in inside:
            assert (origin, origin_slot, target, target_slot, kind) in blueprint_links
        elif target in inside:  # from a loader or the first frame: now one of the blueprint's inputs
            assert any(l[0] == INPUT_NODE and l[2:] == (target, target_slot, kind) for l in blueprint_links), link
        elif origin in inside:  # to a preview or save node: now one of the blueprint's outputs
            assert any(l[:2] == (origin, origin_slot) and l[2] == OUTPUT_NODE and l[4] == kind
                       for l in blueprint_links), link


def test_inner_nodes_fit_the_host_node_definitions(server, definition):
    info = server.get("/object_info")
    for node in definition["nodes"]:
        spec = info[node["type"]]["input"]
        widgets = 0
        for section in ("required", "optional"):
            for kind, *options in spec.get(section, {}).values():
                options = options[0] if options else {}
                if (isinstance(kind, list) or kind in WIDGET_TYPES) and not options.get("forceInput"):
                    widgets += 1 + bool(options.get("control_after_generate"))
        assert len(node.get("widgets_values", [])) == widgets, node["type"]


def test_the_host_serves_it_to_the_node_library(server):
    listed = server.get("/global_subgraphs")
    ours = {entry_id: entry for entry_id, entry in listed.items()
            if entry["info"]["node_pack"] == "custom_nodes.ComfyUI-DragAnything"}
    assert [entry["name"] for entry in ours.values()] == [BLUEPRINT_PATH.stem]
    (entry_id,) = ours
    assert server.get(f"/global_subgraphs/{entry_id}")["data"] == BLUEPRINT_PATH.read_text()
