"""Without the segment-anything package the pack still loads, the SAM loader says what is missing and how to get
it, and entity masks come from the GrabCut fallback. A second server runs with the package made unimportable
(a sitecustomize on PYTHONPATH sets sys.modules['segment_anything'] = None, so its import raises ImportError)."""

import json

import pytest
import torch

pytestmark = pytest.mark.host

IMAGE = "draganything_example.png"
# The one tensor the SAM loader reads to recognise a checkpoint (ViT-B's patch embedding); a real file would be
# 375 MB and the loader must stop before building the network anyway.
SAM_FILE = "sam_vit_b_probe.safetensors"


@pytest.fixture(scope="module")
def server_without_sam(start_server, tmp_path_factory):
    from safetensors.torch import save_file

    blocker = tmp_path_factory.mktemp("no_segment_anything")
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['segment_anything'] = None\n")
    sams = tmp_path_factory.mktemp("sams")
    save_file({"image_encoder.patch_embed.proj.weight": torch.zeros(768, 3, 16, 16)}, str(sams / SAM_FILE))
    return start_server({"sams": [sams / SAM_FILE]}, {"PYTHONPATH": str(blocker)})


@pytest.mark.slow
def test_pack_loads_and_every_node_is_listed(server_without_sam):
    log = server_without_sam.log()
    assert not server_without_sam.pack_import_failures(), log[-4000:]
    info = server_without_sam.get("/object_info")
    assert {"DragAnythingSAMLoader", "DragAnythingEntityMasks", "DragAnythingTrajectories"} <= set(info)
    assert SAM_FILE in info["DragAnythingSAMLoader"]["input"]["required"]["sam_name"][1]["options"]


@pytest.mark.slow
def test_sam_loader_says_the_package_is_missing_and_the_server_keeps_serving(server_without_sam):
    entities = json.dumps({"format": "draganything/trajectories", "version": 1, "width": 576, "height": 320,
                           "entities": [{"id": "car", "points": [[112, 236]]}]})
    with_sam = {
        "1": {"class_type": "LoadImage", "inputs": {"image": IMAGE}},
        "2": {"class_type": "DragAnythingSAMLoader", "inputs": {"sam_name": SAM_FILE}},
        "3": {"class_type": "DragAnythingEntityMasks", "inputs": {"image": ["1", 0], "entities": entities,
                                                                  "sam": ["2", 0]}},
        "4": {"class_type": "MaskToImage", "inputs": {"mask": ["3", 0]}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }
    entry = server_without_sam.run(with_sam)
    assert entry["status"]["status_str"] == "error"
    message = server_without_sam.error_message(entry)
    assert "segment-anything is not installed" in message and "pip install segment-anything" in message
    assert "GrabCut" in message  # the way on without it

    without_sam = {key: value for key, value in with_sam.items() if key != "2"}
    without_sam["3"] = {"class_type": "DragAnythingEntityMasks", "inputs": {"image": ["1", 0],
                                                                            "entities": entities}}
    entry = server_without_sam.run(without_sam)
    assert entry["status"]["status_str"] == "success", server_without_sam.error_message(entry)
    assert "GrabCut" in json.dumps(entry["outputs"]["3"])
