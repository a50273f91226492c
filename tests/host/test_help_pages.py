"""web/docs/: one help page per node (the frontend's node help panel fetches
/extensions/<pack>/docs/<NodeId>.md), each naming every input and output the schema declares, with small pictures
that exist, examples that parse, and the host serving it all."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.host

PROJECT_DIR = Path(__file__).resolve().parents[2]
DOCS_DIR = PROJECT_DIR / "web" / "docs"
IMAGES_DIR = DOCS_DIR / "images"
PACK_URL = "/extensions/ComfyUI-DragAnything/docs"
MAX_IMAGE_BYTES = 100_000


@pytest.fixture(scope="module")
def schemas(host) -> dict:
    extension = host.module("nodes.extension")
    extension.register_model_folders()
    return {node.define_schema().node_id: node.define_schema() for node in extension.NODES}


def page(node_id: str) -> str:
    return (DOCS_DIR / f"{node_id}.md").read_text(encoding="utf-8")


def table_names(text: str, heading: str) -> list[str]:
    """The `names` in the first column of the table under `## heading`."""
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return [name for row in rows for name in re.findall(r"`([^`]+)`", row)]


def test_one_page_per_node_and_no_other(schemas):
    assert {path.stem for path in DOCS_DIR.glob("*.md")} == set(schemas)


def test_each_page_names_the_node_and_every_input_and_output(schemas, documented_inputs):
    for node_id, schema in schemas.items():
        text = page(node_id)
        assert text.startswith(f"# {schema.display_name}\n"), node_id
        if schema.inputs:
            assert table_names(text, "Inputs") == documented_inputs(node_id, schema), node_id
        assert table_names(text, "Outputs") == [output.display_name for output in schema.outputs], node_id
        assert "\n## Example\n" in text, node_id


def test_pictures_exist_are_small_and_all_are_used(schemas):
    used = set()
    for node_id in schemas:
        for alt, target in re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", page(node_id)):
            assert alt.strip(), (node_id, target)  # the panel shows the alt text while it loads
            path = DOCS_DIR / target
            assert path.is_file() and path.stat().st_size <= MAX_IMAGE_BYTES, (node_id, target)
            used.add(path.name)
    assert used == {path.name for path in IMAGES_DIR.iterdir() if path.suffix in (".png", ".jpg")}


def test_json_examples_are_trajectories_the_nodes_read(host, schemas):
    parse = host.module("draganything.trajectory").parse_trajectories
    examples = [block for node_id in schemas for block in re.findall(r"```json\n(.*?)```", page(node_id), re.S)]
    assert examples
    for example in examples:
        assert len(parse(example)) > 0


def test_the_host_serves_pages_and_pictures_where_the_frontend_asks(server, schemas):
    import requests

    for node_id in schemas:
        response = requests.get(f"{server.url}{PACK_URL}/{node_id}.md", timeout=30)
        assert response.status_code == 200 and response.text == page(node_id), node_id
    for path in IMAGES_DIR.glob("*.*g"):
        response = requests.get(f"{server.url}{PACK_URL}/images/{path.name}", timeout=30)
        assert response.status_code == 200 and response.content == path.read_bytes(), path.name
