"""A real ComfyUI with its real frontend, driven by Playwright in Debian's Chromium.

The server is the host tests' (tests/host/conftest.py: the pack linked into a temporary --base-directory); this
file adds the first-frame fixture image, frontend settings that skip the first-run dialogs, and a Chromium page
with helpers for the editor. Skips, saying why, when COMFYUI_DIR, Playwright or /usr/bin/chromium is missing.

Screenshots are kept in artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
FIXTURES_DIR = PROJECT_DIR.parent / "shared" / "fixtures"
ARTIFACTS_DIR = Path(os.environ.get("DRAGANYTHING_ARTIFACTS", PROJECT_DIR / "artifacts" / "browser"))
CHROMIUM = os.environ.get("DRAGANYTHING_CHROMIUM", "/usr/bin/chromium")
# The official demo's two goldfish (1124x668): two clear entities on a dark background.
FIRST_FRAME_CASE = "fish_@"
FIRST_FRAME_NAME = "draganything_fish.jpg"
VIEWPORT = {"width": 1600, "height": 1000}
APP_READY_TIMEOUT_MS = 90_000
# Settings of a returning user: no template browser or tour on start, classic canvas unless a test says otherwise.
FRONTEND_SETTINGS = {
    "Comfy.TutorialCompleted": True,
    "Comfy.InstalledVersion": "99.0.0",
    "Comfy.VueNodes.Enabled": False,
    "Comfy.Workflow.ShowMissingModelsWarning": False,
    "Comfy.Workflow.ShowMissingNodesWarning": False,
}


def _host_conftest():
    spec = importlib.util.spec_from_file_location("draganything_host_conftest", PROJECT_DIR / "tests" / "host" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


host = _host_conftest()


@pytest.fixture(scope="session")
def comfyui_dir() -> Path:
    return host.comfyui_dir_or_skip()


@pytest.fixture(scope="session")
def first_frame_path() -> Path:
    path = FIXTURES_DIR / "official_demo" / FIRST_FRAME_CASE / "demo.jpg"
    if not path.is_file():
        pytest.skip(f"the official demo fixture {path} is missing (it sits in ../shared/fixtures)")
    return path


@pytest.fixture(scope="session")
def browser_base(comfyui_dir, first_frame_path, tmp_path_factory) -> Path:
    base = host.make_base_directory(tmp_path_factory.mktemp("comfy_browser_base"))
    shutil.copy(first_frame_path, base / "input" / FIRST_FRAME_NAME)
    settings = base / "user" / "default" / "comfy.settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(FRONTEND_SETTINGS))
    return base


@pytest.fixture(scope="session")
def server(comfyui_dir, browser_base, tmp_path_factory):
    running = host.ComfyServer(comfyui_dir, browser_base, tmp_path_factory.mktemp("logs") / "comfyui.log").start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def frontend_version(server) -> str:
    return server.get("/system_stats")["system"].get("comfyui_frontend_version", "unknown")


@pytest.fixture(scope="session")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright: pip install playwright")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"browser tests drive Debian's Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def artifacts(request) -> Path:
    folder = ARTIFACTS_DIR / request.node.name.replace("/", "_")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def page(chromium, server, artifacts):
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    open_app(page, server.url)
    yield page
    (artifacts / "console.log").write_text("\n".join(console))
    context.close()


def open_app(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function(
        "() => window.app?.graph && window.app.extensionManager && window.LiteGraph"
        " && window.app.extensions?.some?.((e) => e.name === 'DragAnything.TrajectoryEditor')",
        timeout=APP_READY_TIMEOUT_MS,
    )
    page.evaluate("() => app.graph.clear()")
