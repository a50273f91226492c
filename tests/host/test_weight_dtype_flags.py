"""The host's weight-dtype flags: a real server started with each of them runs the tiny template with the
ControlNet loader on `auto` (CPU, nothing downloaded).

With `auto` the loader takes the dtype the host picks for diffusion models, so `--fp8_e4m3fn-unet` gives the
ControlNet fp8 weights; such weights are only stored, never computed in (the host casts them per layer), and
sampling used to fail on them.
"""

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

pytestmark = pytest.mark.host

PROJECT_DIR = Path(__file__).resolve().parents[2]
TINY_CONTROLNET = PROJECT_DIR / "draganything" / "tiny" / "controlnet"
TEMPLATE = PROJECT_DIR / "example_workflows" / "api" / "draganything_tiny_cpu.json"
LOADER_ID = "100"

# flags -> (weight dtype, compute dtype, layer family) the loader logs on a CPU (no fp8 matrix multiplication)
FLAGS = {
    "fp8_e4m3fn": (("--fp8_e4m3fn-unet", "--fast", "fp8_matrix_mult"), "float8_e4m3fn", "float32", "manual_cast"),
    "fp8_e5m2": (("--fp8_e5m2-unet",), "float8_e5m2", "float32", "manual_cast"),
    "bf16": (("--bf16-unet",), "bfloat16", "float32", "manual_cast"),
    "fp16": (("--fp16-unet",), "float16", "float32", "manual_cast"),
    "fp32": (("--fp32-unet",), "float32", "float32", "disable_weight_init"),
}


def tiny_prompt_with_the_controlnet_loader(prefix: str) -> dict:
    """The tiny template, its ControlNet taken from Load DragAnything ControlNet on `auto`, 4 steps."""
    prompt = copy.deepcopy(json.loads(TEMPLATE.read_text()))
    prompt[LOADER_ID] = {"class_type": "DragAnythingControlNetLoader",
                         "inputs": {"controlnet_name": "controlnet/diffusion_pytorch_model.safetensors",
                                    "dtype": "auto", "compile": False}}
    for node in prompt.values():
        if node["class_type"] == "DragAnythingApply":
            node["inputs"]["controlnet"] = [LOADER_ID, 0]
        if node["class_type"] == "KSampler":
            node["inputs"]["steps"] = 4
        if node["class_type"] == "SaveAnimatedWEBP":
            node["inputs"]["filename_prefix"] = f"DragAnything/{prefix}"
    return prompt


@pytest.mark.parametrize("flag", list(FLAGS))
def test_the_tiny_template_samples_under_each_host_weight_dtype_flag(start_server, flag):
    args, weight_dtype, compute_dtype, layers = FLAGS[flag]
    server = start_server(models={"draganything": [TINY_CONTROLNET]}, dtype_args=args)
    entry = server.run(tiny_prompt_with_the_controlnet_loader(flag))
    assert entry["status"]["status_str"] == "success", server.error_message(entry)

    logged = re.search(r"DragAnything ControlNet controlnet/diffusion_pytorch_model\.safetensors: weight dtype "
                       r"torch\.(\w+), computing in torch\.(\w+), layers (\w+)", server.log())
    assert logged is not None, server.log()[-3000:]
    assert logged.groups() == (weight_dtype, compute_dtype, layers)

    saved = [image for output in entry["outputs"].values() for image in output.get("images", [])
             if image.get("type") == "output"]
    with Image.open(server.base_directory / "output" / saved[0]["subfolder"] / saved[0]["filename"]) as webp:
        video = np.stack([np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(webp)])
    assert video.shape == (8, 128, 256, 3)
    # A non-finite latent decodes to flat frames; every frame of a sampled video has structure.
    assert all(frame.std() > 5 for frame in video.astype(np.float32))
