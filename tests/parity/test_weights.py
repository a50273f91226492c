"""Checkpoints move both ways between the official code and this library.

- A folder written by the official `DragAnythingSDVModel.save_pretrained` (the layout of the release:
  config.json naming the official class + diffusion_pytorch_model.safetensors) loads strictly with
  `draganything.weights.load_controlnet`: every tensor equal to the saved network's, and the same residuals (to
  fp32 rounding: tensors read from a file may sit at other memory alignments, which changes CPU kernel paths).
- A folder written by our `DragAnythingControlNet.save_pretrained` loads with the official
  `DragAnythingSDVModel.from_pretrained`, as demo.py loads the release, and gives the same residuals.
"""

from __future__ import annotations

import json

import pytest
import torch

pytestmark = pytest.mark.parity

HEIGHT, WIDTH, FRAMES = 64, 128, 2
RESIDUAL_REL = 1e-6


def _inputs(seed: int) -> dict[str, torch.Tensor]:
    from draganything.testing import SMALL_CONTEXT_DIM

    generator = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(1, FRAMES, 8, HEIGHT // 8, WIDTH // 8, generator=generator),
        "timestep": torch.tensor(0.75),
        "encoder_hidden_states": torch.randn(1, 1, SMALL_CONTEXT_DIM, generator=generator),
        "added_time_ids": torch.tensor([[6.0, 128.0, 0.02]]),
        "controlnet_cond": torch.rand(1, FRAMES, 3, HEIGHT, WIDTH, generator=generator) * 255,
        "ID_feature": torch.randn(1, FRAMES, 160, HEIGHT, WIDTH, generator=generator),
    }


def _residuals(controlnet, inputs):
    with torch.no_grad():
        down, mid = controlnet(
            inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"], inputs["added_time_ids"],
            gaussian=inputs["controlnet_cond"], entity=inputs["ID_feature"], return_dict=False,
        )
    return [*down, mid]


def test_checkpoints_move_both_ways(official, tmp_path_factory, compare):
    from draganything.testing import random_controlnet, small_controlnet_config
    from draganything.weights import load_controlnet

    workdir = tmp_path_factory.mktemp("parity_weights")
    controlnet = random_controlnet(seed=61)
    weights = official.write_tensors(workdir / "controlnet.safetensors", controlnet.state_dict())
    ours_saved = workdir / "saved_by_ours"
    controlnet.save_pretrained(ours_saved)
    official_saved = workdir / "saved_by_official"
    inputs = _inputs(seed=62)
    jobs = [
        {"task": "save_controlnet", "config": small_controlnet_config(), "weights": weights,
         "directory": str(official_saved)},
        {"task": "controlnet", "pretrained": str(ours_saved),
         "inputs": official.write_tensors(workdir / "inputs.safetensors", inputs)},
    ]
    saved, official_from_ours = official.run(jobs, workdir)

    assert saved["meta"]["files"] == ["config.json", "diffusion_pytorch_model.safetensors"]
    assert json.loads((official_saved / "config.json").read_text())["_class_name"] == "DragAnythingSDVModel"
    expected = _residuals(controlnet, inputs)

    loaded = load_controlnet(official_saved)
    saved_tensors, loaded_tensors = controlnet.state_dict(), loaded.state_dict()
    assert sorted(loaded_tensors) == sorted(saved_tensors)
    differing = [name for name in saved_tensors if not torch.equal(loaded_tensors[name], saved_tensors[name])]
    assert not differing, f"tensors changed by the round trip: {differing[:5]}"
    for index, (ours, reference) in enumerate(zip(_residuals(loaded, inputs), expected)):
        name = "mid" if index == 12 else f"down_{index:02d}"
        compare.assert_matches(f"official save_pretrained -> load_controlnet: {name}", ours, reference,
                               rel=RESIDUAL_REL)

    official_residuals = [official_from_ours[f"down_{index:02d}"] for index in range(12)] + [official_from_ours["mid"]]
    for index, (theirs, reference) in enumerate(zip(official_residuals, expected)):
        name = "mid" if index == 12 else f"down_{index:02d}"
        compare.assert_matches(f"our save_pretrained -> official from_pretrained: {name}", theirs, reference,
                               rel=RESIDUAL_REL)
