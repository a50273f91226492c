"""What the Comfy Registry reads: pyproject's [project] classifiers and [tool.comfy] (the icon it names must be in
the repository), and the workflow that publishes on a pyproject change to main or by hand."""

import tomllib
from pathlib import Path

import trove_classifiers
import yaml
from PIL import Image

PROJECT_DIR = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
RAW_PREFIX = PYPROJECT["project"]["urls"]["Repository"].replace("github.com", "raw.githubusercontent.com") + "/main/"


def test_classifiers_are_known_and_say_the_operating_system_and_accelerator():
    classifiers = PYPROJECT["project"]["classifiers"]
    assert not set(classifiers) - trove_classifiers.classifiers
    assert "Operating System :: OS Independent" in classifiers
    assert any(classifier.startswith("Environment :: GPU") for classifier in classifiers)
    assert any(classifier.startswith("License :: ") and "GPL" in classifier for classifier in classifiers)


def test_the_icon_the_registry_shows_is_in_the_repository_and_small():
    icon_url = PYPROJECT["tool"]["comfy"]["Icon"]
    assert icon_url.startswith(RAW_PREFIX), icon_url
    path = PROJECT_DIR / icon_url.removeprefix(RAW_PREFIX)
    assert path.is_file(), f"{icon_url} names {path}, which does not exist"
    with Image.open(path) as icon:
        assert icon.format == "PNG" and icon.width == icon.height and 128 <= icon.width <= 512
    assert path.stat().st_size < 100_000


def test_publish_workflow_runs_on_a_pyproject_change_to_main_or_by_hand():
    workflow = yaml.safe_load((PROJECT_DIR / ".github" / "workflows" / "publish.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as the boolean true
    assert set(triggers) == {"workflow_dispatch", "push"}
    assert triggers["push"] == {"branches": ["main"], "paths": ["pyproject.toml"]}
    (job,) = workflow["jobs"].values()
    steps = [step.get("uses", "") for step in job["steps"]]
    assert any(step.startswith("Comfy-Org/publish-node-action@") for step in steps)
    publish = next(step for step in job["steps"] if step.get("uses", "").startswith("Comfy-Org/publish-node-action"))
    assert publish["with"]["personal_access_token"] == "${{ secrets.REGISTRY_ACCESS_TOKEN }}"
