"""The editor's JavaScript unit tests (tests/js: store, commands, geometry, server cache), run with Node's
built-in test runner, so `python -m pytest tests` runs them too. Skips, saying why, only when `node` is absent."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
JS_TESTS = PROJECT_DIR / "tests" / "js"


def test_editor_javascript_unit_tests():
    node = shutil.which("node")
    if node is None:
        pytest.skip("the editor's JavaScript unit tests need Node.js 20 or newer: `node` is not on PATH")
    result = subprocess.run([node, "--test", str(JS_TESTS)], cwd=PROJECT_DIR, capture_output=True, text=True,
                            timeout=300)
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"node --test {JS_TESTS} failed:\n{output}"
    ran = re.search(r"^# tests (\d+)$", result.stdout, re.MULTILINE)
    assert ran and int(ran.group(1)) > 0, f"node --test found no tests in {JS_TESTS}:\n{output}"
