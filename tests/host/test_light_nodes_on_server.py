"""Nodes that need no model weights, run on the real server: Entity Masks and Visualize Trajectories."""

import json

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.host

IMAGE = "draganything_example.png"  # 576 x 320, copied into the server's input folder by host_base


def scene(entities: list[dict]) -> str:
    return json.dumps({"format": "draganything/trajectories", "version": 1, "width": 576, "height": 320,
                       "entities": entities})


def test_entity_masks_from_a_click_and_a_box(server, host_base):
    entities = scene([
        {"id": "car", "points": [[112, 236]], "clicks": [{"x": 112, "y": 236, "positive": True}]},
        {"id": "balloon", "points": [[440, 104]], "box": [400, 60, 480, 180]},
    ])
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": IMAGE}},
        "2": {"class_type": "DragAnythingEntityMasks", "inputs": {"image": ["1", 0], "entities": entities}},
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "masks"}},
    }
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", server.error_message(entry)
    assert "GrabCut" in json.dumps(entry["outputs"]["2"])
    images = entry["outputs"]["4"]["images"]
    assert len(images) == 2  # one mask per entity
    balloon = np.asarray(Image.open(host_base / "output" / images[1]["subfolder"] / images[1]["filename"]))
    rows, cols = np.nonzero(balloon[..., 0] > 127)
    assert rows.size and 60 <= rows.min() and rows.max() < 180 and 400 <= cols.min() and cols.max() < 480


def test_visualize_draws_the_paths_over_the_frames(server, host_base):
    trajectories = scene([{"id": "car", "points": [[112, 236], [300, 236]]},
                          {"id": "road", "points": [[470, 296]], "anchor": True}])
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": IMAGE}},
        "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 3}},
        "3": {"class_type": "DragAnythingTrajectories",
              "inputs": {"trajectories": trajectories, "tracks_frames": 3, "image": ["1", 0]}},
        "4": {"class_type": "DragAnythingVisualizeTrajectories",
              "inputs": {"images": ["2", 0], "trajectories": ["3", 0], "masks": ["3", 1], "framing": "stretch",
                         "resampling": "arc_length"}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "tracks"}},
    }
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", server.error_message(entry)
    frames = entry["outputs"]["5"]["images"]
    assert len(frames) == 3
    original = np.asarray(Image.open(host_base / "input" / IMAGE).convert("RGB")).astype(int)
    last = np.asarray(Image.open(host_base / "output" / frames[-1]["subfolder"] / frames[-1]["filename"])).astype(int)
    changed = np.abs(last - original).sum(axis=-1) > 30
    # The car's dot has travelled to the end of its path; the overlay changed the pixels there.
    assert changed[226:247, 290:311].any()
