"""The library as a package: host-free imports, relative imports inside, and the one error type's message."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import draganything
import draganything.trajectory
from draganything.errors import DragAnythingError, check_choice, check_positive_int

LIBRARY_DIR = Path(draganything.__file__).parent
HOST_MODULES = {"comfy", "comfy_api", "comfy_extras", "folder_paths", "server", "nodes", "execution"}


def library_modules() -> list[str]:
    return sorted(
        "draganything." + ".".join(path.relative_to(LIBRARY_DIR).with_suffix("").parts).removesuffix(".__init__")
        for path in LIBRARY_DIR.rglob("*.py")
        if path.name != "__main__.py"
    )


def test_importing_every_library_module_loads_nothing_of_the_host():
    modules = library_modules()
    assert "draganything.pipeline" in modules and "draganything.trajectory.formats" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {HOST_MODULES!r}))\n"
    )
    # A fresh interpreter: this one may already hold modules other tests imported.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", f"host modules imported: {result.stdout}"


def test_no_library_source_names_the_host_or_itself_absolutely():
    """No import of the host anywhere (lazy ones included), and relative imports only, as inside the pack."""
    offenders = []
    for path in LIBRARY_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            roots = {name.split(".")[0] for name in names}
            if roots & (HOST_MODULES | {"draganything"}):
                offenders.append(f"{path.relative_to(LIBRARY_DIR)}:{node.lineno} imports {', '.join(names)}")
    assert not offenders, offenders


def test_the_trajectory_package_exports_what_it_lists():
    for name in draganything.trajectory.__all__:
        assert getattr(draganything.trajectory, name) is not None, name
    assert draganything.trajectory.parse_trajectories.__module__ == "draganything.trajectory.formats"


def test_an_error_names_the_input_the_problem_and_the_fix_as_one_paragraph():
    error = DragAnythingError("seed", "both a seed and a generator were given", "pass one of them")
    assert str(error) == "seed: both a seed and a generator were given. Pass one of them."
    assert (error.input_name, error.problem, error.fix) == ("seed", "both a seed and a generator were given",
                                                            "Pass one of them.")
    assert str(DragAnythingError("x", "y", "Use [0, 1).")).endswith("Use [0, 1).")
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("value", ["Stretch", "", None, ["stretch"]])
def test_check_choice_lists_the_choices(value):
    with pytest.raises(DragAnythingError, match=r"^mode: .* is not a mode\. Use one of stretch, crop \(see x\)\.$"):
        check_choice("mode", value, ("stretch", "crop"), "a mode", "see x")
    check_choice("mode", "crop", ("stretch", "crop"), "a mode")


@pytest.mark.parametrize("value", [0, -3, 2.0, True, "4", None])
def test_check_positive_int_refuses_what_is_not_a_count(value):
    with pytest.raises(DragAnythingError, match=r"^steps: .* is not a step count\. Pass a positive integer\.$"):
        check_positive_int("steps", value, "a step count")


def test_check_positive_int_returns_a_plain_int():
    import numpy as np

    assert type(check_positive_int("steps", np.int64(3), "a step count")) is int
