"""Parity with the official DragAnything code (showlab/DragAnything), run in its own environment.

Needs two environment variables, else every test here skips:
- DRAGANYTHING_OFFICIAL_DIR: a checkout of the official repository (outside this project; never commit it).
- DRAGANYTHING_OFFICIAL_PYTHON: a Python interpreter of an environment where the official code imports (its
  vendored diffusers 0.25.0.dev0 wants transformers 4.36-4.46 and huggingface_hub < 0.26).

`official_runner.py` runs in a subprocess with that interpreter; the tests hand it weights and inputs as
.safetensors files and compare what it writes with this library's results. Every comparison's max-abs and
relative difference is printed in the terminal summary.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

RUNNER = Path(__file__).with_name("official_runner.py")
OFFICIAL_DEMO_FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "official_demo"
OFFICIAL_DIR_VARIABLE = "DRAGANYTHING_OFFICIAL_DIR"
OFFICIAL_PYTHON_VARIABLE = "DRAGANYTHING_OFFICIAL_PYTHON"
# One runner call takes 10 s to 2 min on a shared two-core CPU (the official per-pixel entity painting at
# 320x576 dominates); the limit only bounds a hang.
RUNNER_TIMEOUT_S = 1200

_measurements: list[tuple[str, float, float, float, float]] = []


@dataclass(frozen=True)
class OfficialCode:
    """Where the official checkout and its interpreter are, and how to run jobs on them."""

    directory: Path
    python: Path

    @staticmethod
    def write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> str:
        """Write inputs or weights for the runner; returns the path as a string (jobs are JSON)."""
        return save_tensors(path, tensors)

    def run(self, jobs: list[dict], workdir: Path) -> list[dict[str, torch.Tensor]]:
        """Run `jobs` in the official environment; return each job's output tensors (sidecar JSON as "meta")."""
        workdir.mkdir(parents=True, exist_ok=True)
        for index, job in enumerate(jobs):
            job.setdefault("output", str(workdir / f"official_{index:02d}_{job['task']}.safetensors"))
        request = workdir / "official_request.json"
        request.write_text(json.dumps({"jobs": jobs}, indent=1))
        environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
        environment.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
        completed = subprocess.run(
            [str(self.python), str(RUNNER), str(self.directory), str(request)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=RUNNER_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0:
            pytest.fail(
                f"the official runner failed (exit {completed.returncode}) on {request}:\n"
                f"{completed.stderr[-6000:]}",
                pytrace=False,
            )
        results = []
        for job in jobs:
            tensors = load_file(job["output"])
            tensors["meta"] = json.loads(Path(job["output"] + ".json").read_text())
            results.append(tensors)
        return results


@pytest.fixture(scope="session")
def official() -> OfficialCode:
    directory = os.environ.get(OFFICIAL_DIR_VARIABLE)
    if not directory:
        pytest.skip(
            f"{OFFICIAL_DIR_VARIABLE} is not set: parity tests need a checkout of showlab/DragAnything "
            "(see the README's parity paragraph)"
        )
    directory = Path(directory).expanduser().resolve()
    if not (directory / "models" / "DragAnything.py").is_file() or not (directory / "diffusers").is_dir():
        pytest.skip(f"{OFFICIAL_DIR_VARIABLE}={directory} is not a checkout of showlab/DragAnything "
                    "(no models/DragAnything.py or vendored diffusers/)")
    python = os.environ.get(OFFICIAL_PYTHON_VARIABLE)
    if not python:
        pytest.skip(
            f"{OFFICIAL_PYTHON_VARIABLE} is not set: parity tests run the official code with its own interpreter "
            "(a virtual environment with transformers<4.47 and huggingface_hub<0.26; see the README)"
        )
    python = Path(python).expanduser()
    if not python.is_file() or not os.access(python, os.X_OK):
        pytest.skip(f"{OFFICIAL_PYTHON_VARIABLE}={python} is not an executable interpreter")
    return OfficialCode(directory, python)


@pytest.fixture(scope="session")
def official_demo_fixtures() -> Path:
    """../shared/fixtures/official_demo, for session-scoped official runs (tests/conftest.py's is per test)."""
    if not OFFICIAL_DEMO_FIXTURES.is_dir():
        pytest.skip(f"official demo fixtures not found at {OFFICIAL_DEMO_FIXTURES} (they sit in ../shared/fixtures)")
    return OFFICIAL_DEMO_FIXTURES


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> str:
    """Write tensors for the official runner; returns the path as a string (jobs are JSON)."""
    save_file({name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}, str(path))
    return str(path)


def difference(ours: torch.Tensor, reference: torch.Tensor) -> tuple[float, float, float]:
    """(max |ours - reference|, that over max |reference|, max |reference|), in float64."""
    ours = ours.detach().to(torch.float64)
    reference = reference.detach().to(torch.float64)
    if reference.numel() == 0:
        return 0.0, 0.0, 0.0
    max_abs = (ours - reference).abs().max().item()
    scale = reference.abs().max().item()
    return max_abs, (max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))), scale


class Comparisons:
    """Compares our tensors with the official ones and keeps every measured figure for the summary."""

    def assert_matches(self, name: str, ours, reference, *, rel: float, abs_floor: float = 0.0) -> None:
        """Assert max|ours - reference| <= rel * max|reference| + abs_floor."""
        ours, reference = torch.as_tensor(ours), torch.as_tensor(reference)
        assert tuple(ours.shape) == tuple(reference.shape), (
            f"{name}: our shape {tuple(ours.shape)} != official {tuple(reference.shape)}")
        max_abs, max_rel, scale = difference(ours, reference)
        _measurements.append((name, max_abs, max_rel, rel, scale))
        assert max_abs <= rel * scale + abs_floor, (
            f"{name}: max |ours - official| = {max_abs:.3e} (relative {max_rel:.3e} of max |official| = "
            f"{scale:.3e}); tolerance relative {rel:.1e} + absolute {abs_floor:.1e}"
        )

    def record(self, name: str, ours, reference) -> tuple[float, float]:
        """Record a difference without asserting on it; returns (max abs, relative)."""
        max_abs, max_rel, scale = difference(torch.as_tensor(ours), torch.as_tensor(reference))
        _measurements.append((name, max_abs, max_rel, float("nan"), scale))
        return max_abs, max_rel


@pytest.fixture(scope="session")
def compare() -> Comparisons:
    return Comparisons()


def perturb_weights(module: torch.nn.Module, seed: int, std: float = 0.02) -> torch.nn.Module:
    """Move every floating tensor of `module` by seeded noise (in place; returns it in eval mode).

    Default initialisations leave zeros and ones (norms, zero convolutions, biases); perturbing everything makes
    each parameter matter, so one that an implementation maps to the wrong place cannot go unnoticed.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, tensor in sorted(module.state_dict().items()):
            if tensor.is_floating_point():
                tensor.add_(torch.randn(tensor.shape, generator=generator) * std)
    return module.eval()


@pytest.fixture(scope="session")
def perturbed():
    """`perturb_weights`, for tests (test modules cannot import the conftest under --import-mode=importlib)."""
    return perturb_weights


def pytest_terminal_summary(terminalreporter):
    if not _measurements:
        return
    terminalreporter.section("parity with the official DragAnything code (fp32, CPU)")
    terminalreporter.write_line("relative = max|ours - official| / max|official|; rows without a tolerance are recorded only")
    terminalreporter.write_line(f"{'comparison':<70} {'max|diff|':>10} {'relative':>10} {'tolerance':>10} {'max|off|':>10}")
    for name, max_abs, max_rel, tolerance, scale in _measurements:
        bound = "-" if math.isnan(tolerance) else f"{tolerance:.1e}"
        terminalreporter.write_line(f"{name:<70} {max_abs:>10.3e} {max_rel:>10.3e} {bound:>10} {scale:>10.3e}")
