"""A real ComfyUI with its real frontend, driven by Playwright in Debian's Chromium.

The server is the host tests' (tests/host/conftest.py: the pack linked into a temporary --base-directory); this
file adds the first-frame fixture image, frontend settings that skip the first-run dialogs, and a Chromium page
with helpers for the editor. Skips, saying why, when COMFYUI_DIR, Playwright or /usr/bin/chromium is missing.

Screenshots are kept in artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PROJECT_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = Path(os.environ.get("DRAGANYTHING_ARTIFACTS", PROJECT_DIR / "artifacts" / "browser"))
CHROMIUM = os.environ.get("DRAGANYTHING_CHROMIUM", "/usr/bin/chromium")
FIRST_FRAME_NAME = "draganything_fish.jpg"
VIEWPORT = {"width": 1600, "height": 1000}
APP_READY_TIMEOUT_MS = 90_000


def _host_conftest():
    spec = importlib.util.spec_from_file_location("draganything_host_conftest", PROJECT_DIR / "tests" / "host" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


host = _host_conftest()
# Settings of a returning user, classic canvas unless a test says otherwise.
FRONTEND_SETTINGS = {
    **host.RETURNING_USER_SETTINGS,
    "Comfy.VueNodes.Enabled": False,
    "Comfy.Workflow.ShowMissingModelsWarning": False,
    "Comfy.Workflow.ShowMissingNodesWarning": False,
}


@pytest.fixture(scope="session")
def comfyui_dir() -> Path:
    return host.comfyui_dir_or_skip()


# segment-anything with random weights, linked into whichever server the test uses.
random_sam = host.random_sam


@pytest.fixture(scope="session")
def browser_base(comfyui_dir, first_frame_path, tmp_path_factory) -> Path:
    base = host.make_base_directory(tmp_path_factory.mktemp("comfy_browser_base"))
    shutil.copy(first_frame_path, base / "input" / FIRST_FRAME_NAME)
    host.write_frontend_settings(base, FRONTEND_SETTINGS)
    return base


class RunningServer(host.ComfyServer):
    """A ComfyUI someone else started (DRAGANYTHING_COMFYUI_URL, with its --base-directory in
    DRAGANYTHING_COMFYUI_BASE): e.g. one serving another frontend version through --front-end-root."""

    def __init__(self, url: str, base_directory: Path):
        self.url = url.rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1])
        self.base_directory = base_directory
        self.log_path = base_directory / "no-log-for-an-external-server"
        self.client_id = "draganything-browser-tests"
        self.messages = []
        self._process = None

    def wait(self, prompt_id: str, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("status_str") in ("success", "error"):
                return entry
            time.sleep(0.5)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout} s")


@pytest.fixture(scope="session")
def server(comfyui_dir, browser_base, first_frame_path, tmp_path_factory):
    external = os.environ.get("DRAGANYTHING_COMFYUI_URL")
    if external:
        base = Path(os.environ["DRAGANYTHING_COMFYUI_BASE"])
        shutil.copy(first_frame_path, base / "input" / FIRST_FRAME_NAME)
        yield RunningServer(external, base)
        return
    running = host.ComfyServer(comfyui_dir, browser_base, tmp_path_factory.mktemp("logs") / "comfyui.log").start()
    yield running
    running.stop()


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
def new_page(chromium, server, artifacts):
    """Opens the app in a fresh browser context (its own cache and storage: another user's browser)."""
    opened = []

    def open_page():
        context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        opened.append((context, console))
        open_app(page, server.url)
        return page

    yield open_page
    for index, (context, console) in enumerate(opened):
        (artifacts / f"console_{index}.log").write_text("\n".join(console))
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def open_app(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function(
        "() => window.app?.graph && window.app.extensionManager && window.LiteGraph"
        " && window.app.extensions?.some?.((e) => e.name === 'DragAnything.TrajectoryEditor')",
        timeout=APP_READY_TIMEOUT_MS,
    )
    page.evaluate("() => app.graph.clear()")
    version = page.evaluate("() => window.__COMFYUI_FRONTEND_VERSION__")
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS_DIR / "frontend_version.txt").write_text(f"{version}\n")


# ----------------------------------------------------------------------------------------------- page helpers


class GraphPage:
    """The frontend page with the few graph and editor operations the tests share.

    Setting up the graph (adding nodes, linking) goes through the frontend's own LiteGraph API; everything a user
    does in the editor goes through real mouse and keyboard events at the pixels where the editor draws.
    """

    def __init__(self, page, artifacts: Path):
        self.page = page
        self.artifacts = artifacts
        self.shots = 0
        self.first_frame_name = FIRST_FRAME_NAME

    def shot(self, name: str) -> Path:
        self.shots += 1
        path = self.artifacts / f"{self.shots:02d}_{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def reset_view(self) -> None:
        self.page.evaluate("() => { app.canvas.ds.scale = 1; app.canvas.ds.offset = [0, 0]; app.canvas.setDirty(true, true); }")

    def add_node(self, class_type: str, pos: tuple[int, int]) -> int:
        return self.page.evaluate(
            """([type, pos]) => { const node = LiteGraph.createNode(type); app.graph.add(node); node.pos = pos;
               app.canvas.setDirty(true, true); return node.id; }""", [class_type, list(pos)])

    def set_widget(self, node_id: int, name: str, value) -> None:
        self.page.evaluate(
            """([id, name, value]) => { const w = app.graph.getNodeById(id).widgets.find((w) => w.name === name);
               w.value = value; w.callback?.(value); }""", [node_id, name, value])

    def connect(self, source_id: int, output: int, target_id: int, input_name: str) -> None:
        self.page.evaluate(
            """([s, o, t, name]) => { const target = app.graph.getNodeById(t);
               app.graph.getNodeById(s).connect(o, target, target.inputs.findIndex((i) => i.name === name)); }""",
            [source_id, output, target_id, input_name])

    def value(self, node_id: int) -> str:
        return self.page.evaluate("(id) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'trajectories').value", node_id)

    def document(self, node_id: int) -> dict:
        return json.loads(self.value(node_id))

    def editor(self, node_id: int, expression: str):
        """Evaluate `expression` with `e` bound to the node's editor."""
        return self.page.evaluate(f"(id) => {{ const e = app.graph.getNodeById(id).draganythingEditor; return {expression}; }}", node_id)

    def wait_editor(self, node_id: int, condition: str, timeout_ms: int = 60_000) -> None:
        self.page.wait_for_function(
            f"(id) => {{ const e = app.graph.getNodeById(id)?.draganythingEditor; return !!e && ({condition}); }}",
            arg=node_id, timeout=timeout_ms)

    def value_box(self, node_id: int):
        """The node's JSON text box, unfolded with the editor's JSON button (it is folded by default)."""
        if not self.editor(node_id, "e.state.showValue"):
            self.page.locator("[data-testid=da-json]").first.click()
        textarea = self.page.locator(".comfy-multiline-input").first
        textarea.wait_for(state="visible", timeout=10_000)
        return textarea

    def wait_masks(self, node_id: int, count: int) -> None:
        self.wait_editor(node_id, f"Object.values(e.state.masks).filter((m) => m.element || m.error).length >= {count}", 120_000)

    def client_point(self, node_id: int, x: float, y: float) -> tuple[float, float]:
        """Page coordinates of the image pixel (x, y) in the node's editor (through the graph's zoom)."""
        return tuple(self.page.evaluate(
            """([id, x, y]) => { const e = app.graph.getNodeById(id).draganythingEditor; const [sx, sy] = e.toScreen([x, y]);
               const r = e.canvas.getBoundingClientRect();
               return [r.left + sx * r.width / e.canvas.clientWidth, r.top + sy * r.height / e.canvas.clientHeight]; }""",
            [node_id, x, y]))

    def click_image(self, node_id: int, x: float, y: float, **options) -> None:
        self.page.mouse.click(*self.client_point(node_id, x, y), **options)

    def drag_image(self, node_id: int, points: list[tuple[float, float]], steps_per_segment: int = 6) -> None:
        mouse = self.page.mouse
        mouse.move(*self.client_point(node_id, *points[0]))
        mouse.down()
        for x, y in points[1:]:
            mouse.move(*self.client_point(node_id, x, y), steps=steps_per_segment)
        mouse.up()

    def node_pos(self, node_id: int) -> list[float]:
        return self.page.evaluate("(id) => [...app.graph.getNodeById(id).pos]", node_id)

    def graph_undo_depth(self) -> int:
        return self.page.evaluate("() => app.extensionManager.workflow.activeWorkflow.changeTracker.undoQueue.length")

    def queue_prompt(self) -> str:
        """Queue the graph the way the Run button does (graphToPrompt + POST /prompt); returns the prompt id."""
        with self.page.expect_response(lambda r: r.url.endswith("/api/prompt") and r.request.method == "POST") as answer:
            self.page.evaluate("() => app.queuePrompt(0, 1)")
        body = answer.value.json()
        assert "prompt_id" in body, body
        return body["prompt_id"]

    def build_editor_graph(self, image_name: str = FIRST_FRAME_NAME) -> tuple[int, int]:
        """LoadImage(image) -> DragAnything Trajectories, on screen at zoom 1. Returns (load_id, trajectories_id)."""
        self.reset_view()
        load = self.add_node("LoadImage", (80, 80))
        self.set_widget(load, "image", image_name)
        trajectories = self.add_node("DragAnythingTrajectories", (420, 30))
        self.connect(load, 0, trajectories, "image")
        self.wait_editor(trajectories, "e.state.image?.source === 'connected'")
        self.wait_still(trajectories)
        return load, trajectories

    def wait_still(self, node_id: int, quiet_ms: int = 400) -> None:
        """Wait until the editor's canvas has stayed at one place and size for `quiet_ms`: newer frontends lay a
        new node's DOM widgets out over several frames, and a click before that lands beside the editor."""
        self.page.wait_for_function(
            """([id, quiet]) => { const e = app.graph.getNodeById(id)?.draganythingEditor; if (!e) return false;
               const r = e.canvas.getBoundingClientRect(); const key = [r.left, r.top, r.width, r.height].join();
               const seen = (window.__daStill ??= {}); const now = performance.now();
               if (seen[id]?.key !== key) { seen[id] = { key, since: now }; return false; }
               return r.width > 0 && now - seen[id].since >= quiet; }""",
            arg=[node_id, quiet_ms], polling=100, timeout=30_000)

    def graph_to_prompt(self) -> dict:
        return self.page.evaluate("async () => (await app.graphToPrompt()).output")

    # ------------------------------------------------------------------ what the user sees, as pixels
    # Checked on screenshots: the page as Chromium drew it, at device scale 1.

    def screenshot(self, box: dict) -> np.ndarray:
        """The page inside `box` ({x, y, width, height} in page pixels) as an RGB array."""
        clip = {key: float(box[key]) for key in ("x", "y", "width", "height")}
        return np.asarray(Image.open(io.BytesIO(self.page.screenshot(clip=clip))).convert("RGB")).astype(np.float64)

    def canvas_box(self, node_id: int) -> dict:
        return self.page.evaluate(
            "(id) => { const r = app.graph.getNodeById(id).draganythingEditor.canvas.getBoundingClientRect();"
            " return {x: r.left, y: r.top, width: r.width, height: r.height}; }", node_id)

    def settled(self, node_id: int) -> None:
        """Every answer the editor asked for has arrived (preview, Gaussian, masks, a camera move)."""
        self.wait_editor(node_id, "!e.state.pending && !e.state.cameraRequest"
                                  " && (!e.state.requests.preview || e.state.preview?.key === e.state.requests.preview.key)"
                                  " && (!e.state.requests.gaussian || e.state.gaussian?.key === e.state.requests.gaussian.key)"
                                  " && e.state.doc.entities.every((x) => e.state.masks[x.id]?.element || e.state.masks[x.id]?.error)")
        # The canvas draws on an animation frame after the last answer: wait for two, which a loaded machine
        # can delay well past a fixed pause.
        self.page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        self.page.wait_for_timeout(100)

    @staticmethod
    def ring(shot: np.ndarray, centre: tuple[float, float], radius: float, colour: str, skip=()) -> np.ndarray:
        """Along the circle of `radius` around `centre` (canvas screenshot pixels), one sample per pixel of arc:
        whether a pixel of `colour` is there (within a pixel radially). Angles in `skip` ((from, to) in degrees,
        y pointing down) are left out: the handle, the caption."""
        target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)
        hits = []
        for angle in np.linspace(0, 2 * np.pi, int(2 * np.pi * radius), endpoint=False):
            degrees = np.degrees(angle)
            if any(low <= degrees <= high for low, high in skip):
                continue
            found = False
            for r in (radius - 1, radius, radius + 1):
                x, y = int(round(centre[0] + r * np.cos(angle))), int(round(centre[1] + r * np.sin(angle)))
                if 0 <= y < shot.shape[0] and 0 <= x < shot.shape[1] and np.abs(shot[y, x] - target).max() < 90:
                    found = True
            hits.append(found)
        return np.array(hits)


@pytest.fixture
def graph(page, artifacts) -> GraphPage:
    return GraphPage(page, artifacts)
