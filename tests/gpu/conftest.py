"""Full-size GPU tests: a CUDA device and a ComfyUI checkout (COMFYUI_DIR); skipped, saying why, otherwise."""

import os
import sys
from pathlib import Path

import pytest
import torch

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))


@pytest.fixture(scope="session")
def cuda():
    if not torch.cuda.is_available():
        pytest.skip("the full-size GPU tests need a CUDA device")
    return torch.device("cuda")


@pytest.fixture(scope="session")
def comfy_host(cuda):
    comfyui_dir = os.environ.get("COMFYUI_DIR")
    if not comfyui_dir:
        pytest.skip("the full-size GPU tests need a ComfyUI checkout: set COMFYUI_DIR=/path/to/ComfyUI")
    import comfy_host as host

    host.load_host(comfyui_dir)
    return host
