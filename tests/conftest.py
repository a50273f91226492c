"""Shared test locations. The official fixtures live beside the project in ../shared/fixtures (CI has them), or
where DRAGANYTHING_FIXTURES points."""

import os
from pathlib import Path

import pytest
import torch

# Tiny models run many small ops: one intra-op thread is faster than two on a shared 2-core runner (measured
# 2-5 s vs 0.07-0.13 s per tiny UNet forward under load). DRAGANYTHING_TEST_THREADS overrides it.
torch.set_num_threads(int(os.environ.get("DRAGANYTHING_TEST_THREADS", "1")))

PROJECT_DIR = Path(__file__).resolve().parents[1]
FIXTURES_DIR = Path(os.environ.get("DRAGANYTHING_FIXTURES", PROJECT_DIR.parent / "shared" / "fixtures"))
OFFICIAL_DEMO_DIR = FIXTURES_DIR / "official_demo"
VIPSEG_DIR = FIXTURES_DIR / "vipseg_test_trajectories"


@pytest.fixture
def official_demo_dir() -> Path:
    if not OFFICIAL_DEMO_DIR.is_dir():
        pytest.skip(f"official demo fixtures not found at {OFFICIAL_DEMO_DIR} (they sit in ../shared/fixtures)")
    return OFFICIAL_DEMO_DIR


@pytest.fixture
def vipseg_dir() -> Path:
    if not VIPSEG_DIR.is_dir():
        pytest.skip(f"VIPSeg trajectory fixtures not found at {VIPSEG_DIR} (they sit in ../shared/fixtures)")
    return VIPSEG_DIR


@pytest.fixture(scope="session")
def first_frame_path() -> Path:
    """The official demo's two goldfish (1124x668): two clear entities on a dark background."""
    path = OFFICIAL_DEMO_DIR / "fish_@" / "demo.jpg"
    if not path.is_file():
        pytest.skip(f"the official demo fixture {path} is missing (it sits in ../shared/fixtures)")
    return path
