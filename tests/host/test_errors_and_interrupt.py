"""Bad input and wiring mistakes reach the UI's error dialog as one clear paragraph, the server keeps serving,
and POST /interrupt stops sampling within one step (real server, CPU)."""

import json
import time

import pytest
import torch
from safetensors.torch import save_file

pytestmark = pytest.mark.host

IMAGE = "draganything_example.png"  # 576 x 320, copied into the server's input folder by host_base
WIDTH, HEIGHT = 576, 320


def document(*entities, width=WIDTH, height=HEIGHT) -> str:
    return json.dumps({"format": "draganything/trajectories", "version": 1, "width": width, "height": height,
                       "entities": [{"id": f"e{index}", "points": points}
                                    for index, points in enumerate(entities)]})


def trajectories_graph(trajectories: str, mask_value: float | None = None) -> dict:
    """First frame -> Trajectories (masks from GrabCut, or a SolidMask) -> MaskPreview."""
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": IMAGE}},
        "2": {"class_type": "DragAnythingTrajectories",
              "inputs": {"trajectories": trajectories, "tracks_frames": 14, "image": ["1", 0]}},
        "3": {"class_type": "MaskPreview", "inputs": {"mask": ["2", 1]}},
    }
    if mask_value is not None:
        prompt["4"] = {"class_type": "SolidMask", "inputs": {"value": mask_value, "width": WIDTH, "height": HEIGHT}}
        prompt["2"]["inputs"]["masks"] = ["4", 0]
    return prompt


def loader_graph(node: str, **inputs) -> dict:
    """A loader alone, made to run by the core "Preview as Text" output node."""
    return {"1": {"class_type": node, "inputs": inputs},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


def assert_still_serving(server):
    entry = server.run(trajectories_graph(document([[300, 200]])))
    assert entry["status"]["status_str"] == "success", server.error_message(entry)


def assert_clear_error(server, entry, *fragments):
    assert entry["status"]["status_str"] == "error"
    message = server.error_message(entry)
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in message


@pytest.mark.parametrize("trajectories,mask_value,expected", [
    (document([[300, 200]], [[100, 100]]), 1.0, "there are 1 masks for 2 trajectories"),
    (document([[700, 40], [650, 60]]), None, "starts at (700, 40), off the 576x320 first frame"),
    (document([[300, 200]], width=640, height=480), None, "drawn on a 640x480 image but the image input is 576x320"),
    (document([[300, 200]]), 0.0, "the mask of entity 0 ('e0') is empty"),
    ("{'entities': 3}", None, "trajectories"),
], ids=["count-mismatch", "off-image", "frame-size-mismatch", "empty-mask", "malformed"])
def test_bad_trajectory_input_is_reported_and_the_server_keeps_serving(server, trajectories, mask_value, expected):
    assert_clear_error(server, server.run(trajectories_graph(trajectories, mask_value)), expected)
    assert_still_serving(server)


def test_wrong_weight_file_is_named_with_what_it_holds(server, host_base):
    folder = host_base / "models" / "draganything"
    folder.mkdir(parents=True, exist_ok=True)
    # An SD UNet's keys (tiny tensors) where the DragAnything ControlNet belongs.
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4, 3, 3),
               "model.diffusion_model.out.2.weight": torch.zeros(4, 4, 3, 3)},
              str(folder / "not_draganything.safetensors"))
    entry = server.run(loader_graph("DragAnythingControlNetLoader", controlnet_name="not_draganything.safetensors",
                                    dtype="fp32"))
    assert_clear_error(server, entry, "not_draganything.safetensors")
    assert_still_serving(server)


def test_missing_model_is_refused_before_running_with_the_folders_listed(server, host_base):
    response = server.post("/prompt", {"prompt": loader_graph(
        "DragAnythingControlNetLoader", controlnet_name="draganything.safetensors", dtype="auto")})
    assert response.status_code == 400
    details = json.dumps(response.json()["node_errors"])
    assert "'draganything.safetensors' is not among the DragAnything ControlNet files" in details
    assert str(host_base / "models" / "draganything") in details
    assert "huggingface.co/weijiawu/DragAnything" in details
    assert_still_serving(server)


def test_unsupported_sam_checkpoint_says_what_it_is(server, host_base):
    folder = host_base / "models" / "sams"
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"image_encoder.trunk.patch_embed.proj.weight": torch.zeros(8, 3, 7, 7),
               "sam_mask_decoder.iou_token.weight": torch.zeros(1, 8)}, str(folder / "sam2_hiera_tiny.safetensors"))
    entry = server.run(loader_graph("DragAnythingSAMLoader", sam_name="sam2_hiera_tiny.safetensors"))
    assert_clear_error(server, entry, "SAM 2 checkpoint", "GrabCut")
    assert_still_serving(server)


def test_without_sam_the_masks_come_from_grabcut_and_the_info_says_so(server):
    prompt = trajectories_graph(document([[226, 236]]))
    prompt["5"] = {"class_type": "PreviewAny", "inputs": {"source": ["2", 3]}}
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", server.error_message(entry)
    assert "GrabCut fallback" in json.dumps(entry["outputs"]["5"])
    # The node's ui output the editor reads: the first frame as a temp image, and its size.
    frame_ui = entry["outputs"]["2"]
    assert frame_ui["images"][0]["type"] == "temp"
    assert frame_ui["draganything_frame"] == [{"width": WIDTH, "height": HEIGHT, "entities": 1}]


@pytest.mark.slow
def test_interrupt_stops_sampling_within_one_step_and_the_next_prompt_runs(server, random_models):
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "example_workflows" / "api"
    twin = json.loads((examples / "draganything_one_node_sampler.json").read_text())
    import importlib.util

    spec = importlib.util.spec_from_file_location("example_tests", Path(__file__).with_name("test_example_workflows.py"))
    example_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example_tests)
    long_run = example_tests.small(twin, random_models, steps=30)
    sampler_id = next(node_id for node_id, node in long_run.items() if node["class_type"] == "DragAnythingSVDSampler")

    prompt_id = server.queue(long_run)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        progress = [m for m in server.messages_of(prompt_id, "progress") if m.get("node") == sampler_id]
        if progress and progress[-1]["value"] >= 1:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"sampling never reported progress:\n{server.log()[-3000:]}")
    steps_when_interrupted = progress[-1]["value"]
    assert server.post("/interrupt").status_code == 200
    entry = server.wait(prompt_id)
    kinds = [kind for kind, _ in entry["status"]["messages"]]
    assert "execution_interrupted" in kinds, kinds
    final = max(m["value"] for m in server.messages_of(prompt_id, "progress") if m.get("node") == sampler_id)
    assert final <= steps_when_interrupted + 1 < 30

    entry = server.run(example_tests.small(twin, random_models, steps=1))
    assert entry["status"]["status_str"] == "success", server.error_message(entry)
