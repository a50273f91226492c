"""Writes the pack's subgraph blueprint, "DragAnything image to video.json", from the composable template
(example_workflows/draganything_composable_ksampler.json), with the frontend's own code. Run from the project root
after changing that template:

    COMFYUI_DIR=/path/to/ComfyUI python subgraphs/make_blueprint.py

A ComfyUI is started as the host tests start it and Playwright drives Debian's Chromium: the template is loaded,
every node between the loaders and the outputs (Trajectories, Entity Embeddings, Drag Conditions, the SVD
conditioning, Apply DragAnything, the CFG guidance, KSampler, VAE Decode) is converted into one subgraph with
the frontend's "Convert to Subgraph", and the result is serialised exactly as the frontend's "Publish subgraph"
does. ComfyUI serves every subgraphs/*.json of a pack at /global_subgraphs; the frontend lists them in the node
library under "Subgraph Blueprints". tests/host/test_blueprint.py checks it against the template.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parent
TEMPLATE = PROJECT_DIR / "example_workflows" / "draganything_composable_ksampler.json"
NAME = "DragAnything image to video"
# The template's nodes that stay outside: the loaders (the user picks the files), the first frame, the outputs.
OUTSIDE = {"LoadImage", "ImageOnlyCheckpointLoader", "CheckpointLoaderSimple", "DragAnythingControlNetLoader",
           "PreviewImage", "SaveAnimatedWEBP", "MarkdownNote"}
DESCRIPTION = ("DragAnything on Stable Video Diffusion in one node: the trajectories (open the node to draw them in "
               "the editor), entity embeddings, drag conditions, SVD conditioning, Apply DragAnything and KSampler "
               "with the official settings, decoded to frames.")
SEARCH_ALIASES = ["draganything", "drag video", "trajectory video", "motion control"]


def blueprint_from_frontend(comfyui_dir: Path) -> dict:
    spec = importlib.util.spec_from_file_location("host_conftest", PROJECT_DIR / "tests" / "host" / "conftest.py")
    host = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(host)
    with host.frontend_page(comfyui_dir) as page:
        blueprint = page.evaluate(
            """async ([workflow, outside, name]) => {
                await app.loadGraphData(workflow);
                const inside = new Set(app.graph.nodes.filter((node) => !outside.includes(node.type)));
                const { node } = app.graph.convertToSubgraph(inside);
                node.title = name;
                const subgraph = node.subgraph;
                subgraph.name = name;
                // The conversion names the inputs after their types (model, model_1, ...): label them by
                // the network they belong to.
                const family = { DragAnythingEntityEmbeddings: 'sd15', SVD_img2vid_Conditioning: 'svd',
                                 VideoLinearCFGGuidance: 'svd', VAEDecode: 'svd' };
                for (const input of subgraph.inputs) {
                    const targets = input.linkIds.map((id) => subgraph.links.get?.(id) ?? subgraph.links[id])
                        .map((link) => subgraph.getNodeById(link.target_id).type);
                    const prefix = targets.map((type) => family[type]).find(Boolean);
                    if (prefix && input.type !== 'IMAGE') subgraph.renameInput(input, `${prefix}_${input.type.toLowerCase()}`);
                }
                for (const [output, label] of subgraph.outputs.map((o, i) => [o, ['conditions_preview', 'images'][i]])) {
                    subgraph.renameOutput(output, label);
                }
                // What the frontend's "Publish subgraph" writes.
                const { nodes, subgraphs } = app.canvas._serializeItems([node]);
                return { revision: 0, last_node_id: node.id, last_link_id: 0, nodes, links: [],
                         version: 0.4, definitions: { subgraphs } };
            }""", [json.loads(TEMPLATE.read_text()), sorted(OUTSIDE), NAME])
    return blueprint


def main() -> None:
    blueprint = blueprint_from_frontend(Path(os.environ["COMFYUI_DIR"]))
    (definition,) = blueprint["definitions"]["subgraphs"]
    # Read by newer frontends: the node library's category and description, and the search's aliases.
    definition["category"] = "DragAnything"
    definition["description"] = DESCRIPTION
    blueprint["extra"] = {"BlueprintDescription": DESCRIPTION, "BlueprintSearchAliases": SEARCH_ALIASES}
    path = HERE / f"{NAME}.json"
    path.write_text(json.dumps(blueprint, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
