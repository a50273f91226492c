"""locales/: the English node texts agree with the node schemas, every other language has the same structure, and
the host serves them all through /i18n (which the frontend merges into its own translations)."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.host

LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
LANGUAGES = sorted(path.name for path in LOCALES_DIR.iterdir() if path.is_dir())


def node_defs(language: str) -> dict:
    return json.loads((LOCALES_DIR / language / "nodeDefs.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def schemas(host) -> dict:
    extension = host.module("nodes.extension")
    extension.register_model_folders()  # the loaders list their folders' files
    return {node.define_schema().node_id: node.define_schema() for node in extension.NODES}


def test_english_names_every_node_input_and_output_as_the_schemas_do(schemas, documented_inputs):
    english = node_defs("en")
    assert set(english) == set(schemas)
    for node_id, schema in schemas.items():
        entry = english[node_id]
        assert entry["display_name"] == schema.display_name, node_id
        assert entry["description"] == schema.description, node_id
        assert list(entry["inputs"]) == documented_inputs(node_id, schema), node_id
        for node_input in schema.inputs:
            text = entry["inputs"][node_input.id]
            assert text["name"] == (node_input.display_name or node_input.id), (node_id, node_input.id)
            # Where the schema has a tooltip the locale repeats it; where it has none the locale supplies one.
            assert text["tooltip"] == (node_input.tooltip or text["tooltip"]) and text["tooltip"].strip(), \
                (node_id, node_input.id)
        assert list(entry["outputs"]) == [str(index) for index in range(len(schema.outputs))], node_id
        for index, output in enumerate(schema.outputs):
            text = entry["outputs"][str(index)]
            assert text["name"] == output.display_name, (node_id, index)
            assert text["tooltip"] == (output.tooltip or text["tooltip"]) and text["tooltip"].strip(), \
                (node_id, index)


def keys_outside(entry, template, path=()):
    """Paths in a translation that the English template does not have (a renamed input, a typo)."""
    if not isinstance(entry, dict):
        return [] if isinstance(entry, str) and entry.strip() and isinstance(template, str) else [path]
    if not isinstance(template, dict):
        return [path]
    return [missing for key, value in entry.items()
            for missing in ([path + (key,)] if key not in template else keys_outside(value, template[key],
                                                                                    path + (key,)))]


@pytest.mark.parametrize("language", [language for language in LANGUAGES if language != "en"])
def test_every_translation_follows_the_english_structure(language):
    translated, english = node_defs(language), node_defs("en")
    assert not keys_outside(translated, english)
    # A translated node is translated whole: its name, description and every tooltip.
    for node_id, entry in translated.items():
        assert entry.keys() >= {"display_name", "description"}, node_id
        for section in ("inputs", "outputs"):
            assert set(entry.get(section, {})) == set(english[node_id][section]), (language, node_id, section)
            assert all("tooltip" in text for text in entry.get(section, {}).values()), (language, node_id)


def test_the_host_serves_every_language(server):
    served = server.get("/i18n")
    for language in LANGUAGES:
        ours = node_defs(language)
        assert {node_id: served[language]["nodeDefs"].get(node_id) for node_id in ours} == ours, language
