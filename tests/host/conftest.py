"""A real ComfyUI for the host tests, found through COMFYUI_DIR.

The server runs from the user's checkout with `--base-directory` pointing at a temporary folder: the pack is
linked into that folder's custom_nodes, models are linked into its models tree, and input/output/temp/user live
there too, so the checkout itself is never modified. Tests skip, saying why, when COMFYUI_DIR is unset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
PACK_FOLDER = "ComfyUI-DragAnything"
# Full-size random checkpoints are expensive to write; they are made once and kept here, outside the repository.
CACHE_DIR = Path(os.environ.get("DRAGANYTHING_TEST_CACHE", Path.home() / ".cache" / "draganything-tests"))
SERVER_START_TIMEOUT_S = 600


def comfyui_dir_or_skip() -> Path:
    value = os.environ.get("COMFYUI_DIR")
    if not value:
        pytest.skip("host tests need a ComfyUI checkout: set COMFYUI_DIR=/path/to/ComfyUI (0.8.0 or newer, its "
                    "requirements installed)")
    path = Path(value)
    if not (path / "main.py").is_file() or not (path / "comfy").is_dir():
        pytest.skip(f"COMFYUI_DIR={value} is not a ComfyUI checkout (no main.py / comfy/ there)")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The frontend's settings of a returning user: no template browser or tour when the page opens.
RETURNING_USER_SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.InstalledVersion": "99.0.0"}


def write_frontend_settings(base: Path, settings: dict) -> None:
    """The frontend's user settings in a --base-directory tree, read when a page opens."""
    path = base / "user" / "default" / "comfy.settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))


def make_base_directory(base: Path, models: dict[str, list[Path]] | None = None) -> Path:
    """A --base-directory tree: the pack in custom_nodes, the given files linked into models/<folder>/."""
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_FOLDER
    if not link.exists():
        link.symlink_to(PROJECT_DIR, target_is_directory=True)
    for folder, files in (models or {}).items():
        target = base / "models" / folder
        target.mkdir(parents=True, exist_ok=True)
        for file in files:
            destination = target / file.name
            if not destination.exists():
                destination.symlink_to(file, target_is_directory=file.is_dir())
    for name in ("input", "output", "temp", "user"):
        (base / name).mkdir(exist_ok=True)
    return base


@contextlib.contextmanager
def frontend_page(comfyui_dir: Path, inputs: dict[str, bytes] | None = None, **page_options):
    """A page of a fresh ComfyUI's frontend (the pack linked in, first-run dialogs off, `inputs` written to its
    input folder), for the scripts that make pictures and blueprints with the real frontend."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        base = make_base_directory(Path(folder) / "base")
        for name, data in (inputs or {}).items():
            (base / "input" / name).write_bytes(data)
        write_frontend_settings(base, RETURNING_USER_SETTINGS)
        server = ComfyServer(comfyui_dir, base, Path(folder) / "comfyui.log").start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                     args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(**page_options)
                page.goto(server.url)
                page.wait_for_function("() => window.app?.graph && window.LiteGraph", timeout=120_000)
                yield page
                browser.close()
        finally:
            server.stop()


class ComfyServer:
    """One `python main.py --cpu` process on a loopback port, with a websocket listener recording messages."""

    def __init__(self, comfyui_dir: Path, base_directory: Path, log_path: Path, env: dict[str, str] | None = None,
                 dtype_args: tuple[str, ...] = ("--fp16-unet",)):
        self.comfyui_dir = comfyui_dir
        self.env = env
        self.dtype_args = dtype_args
        self.base_directory = base_directory
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client_id = uuid.uuid4().hex
        self.messages: list[dict] = []
        self._process: subprocess.Popen | None = None
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> ComfyServer:
        command = [
            sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--base-directory", str(self.base_directory),
            "--disable-all-custom-nodes", "--whitelist-custom-nodes", PACK_FOLDER,
            "--database-url", "sqlite:///:memory:", "--disable-auto-launch", "--log-stdout",
            # By default diffusion weights stay in fp16 (cast to fp32 per layer on the CPU): halves the memory.
            *self.dtype_args,
        ]
        with open(self.log_path, "w") as log:  # the child keeps its own handle
            self._process = subprocess.Popen(command, cwd=self.comfyui_dir, stdout=log, stderr=subprocess.STDOUT,
                                             env=None if self.env is None else {**os.environ, **self.env})
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self._process.returncode}:\n{self.log()[-4000:]}")
            try:
                self.get("/system_stats", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            raise RuntimeError(f"ComfyUI did not answer within {SERVER_START_TIMEOUT_S} s:\n{self.log()[-4000:]}")
        self._listener = threading.Thread(target=self._listen, daemon=True)
        self._listener.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pack_import_failures(self) -> list[str]:
        """The host's "(IMPORT FAILED)" lines about this pack (core nodes whose optional dependencies are missing
        here, torchaudio's say, report the same words about themselves)."""
        return [line for line in self.log().splitlines() if "IMPORT FAILED" in line and PACK_FOLDER in line]

    # ------------------------------------------------------------------------------------------------ HTTP
    def get(self, path: str, timeout: float = 30):
        import requests

        response = requests.get(self.url + path, timeout=timeout)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict | None = None, timeout: float = 30):
        import requests

        return requests.post(self.url + path, json=body or {}, timeout=timeout)

    def queue(self, prompt: dict) -> str:
        response = self.post("/prompt", {"prompt": prompt, "client_id": self.client_id})
        if response.status_code != 200:
            raise PromptRejected(response.json())
        return response.json()["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 900) -> dict:
        """The /history entry of a finished prompt (successful, failed or interrupted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                entry = history[prompt_id]
                if entry["status"].get("status_str") in ("success", "error"):
                    return entry
            if self._process.poll() is not None:
                raise RuntimeError(f"ComfyUI died while running {prompt_id}:\n{self.log()[-4000:]}")
            time.sleep(0.5)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout} s:\n{self.log()[-4000:]}")

    def run(self, prompt: dict, timeout: float = 900) -> dict:
        return self.wait(self.queue(prompt), timeout)

    @staticmethod
    def error_message(entry: dict) -> str:
        """The exception message of a failed prompt, as the UI's error dialog shows it."""
        for kind, data in entry["status"].get("messages", []):
            if kind == "execution_error":
                return data["exception_message"]
        return ""

    def messages_of(self, prompt_id: str, kind: str) -> list[dict]:
        return [m["data"] for m in list(self.messages) if m.get("type") == kind
                and m.get("data", {}).get("prompt_id") == prompt_id]

    # ------------------------------------------------------------------------------------------- websocket
    def _listen(self) -> None:
        import aiohttp

        async def listen():
            async with aiohttp.ClientSession() as session:
                while not self._stop.is_set():
                    try:
                        async with session.ws_connect(
                                f"ws://127.0.0.1:{self.port}/ws?clientId={self.client_id}") as socket:
                            while not self._stop.is_set():
                                try:
                                    message = await socket.receive(timeout=1)
                                except asyncio.TimeoutError:
                                    continue
                                if message.type == aiohttp.WSMsgType.TEXT:
                                    self.messages.append(json.loads(message.data))
                                elif message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                                    break
                    except aiohttp.ClientError:
                        await asyncio.sleep(1)

        asyncio.run(listen())


class PromptRejected(Exception):
    """POST /prompt answered 400: the body holds "error" and "node_errors"."""

    def __init__(self, body: dict):
        self.body = body
        super().__init__(json.dumps(body, indent=1))


@pytest.fixture(scope="session")
def comfyui_dir() -> Path:
    return comfyui_dir_or_skip()


EXAMPLE_INPUT = "draganything_example.png"


@pytest.fixture(scope="session")
def host_base(comfyui_dir, tmp_path_factory) -> Path:
    import shutil

    base = make_base_directory(tmp_path_factory.mktemp("comfy_base"))
    shutil.copy(PROJECT_DIR / "draganything" / "assets" / "example" / "image.png", base / "input" / EXAMPLE_INPUT)
    return base


@pytest.fixture(scope="session")
def random_models(comfyui_dir, host_base) -> dict[str, str]:
    """Full-size random checkpoints in the real layouts (made once into CACHE_DIR), linked into the server's
    models folders. Returns the names the loader nodes list."""
    script = Path(__file__).with_name("make_random_checkpoints.py")
    files = [CACHE_DIR / "svd_random.safetensors", CACHE_DIR / "sd15_random.safetensors",
             CACHE_DIR / "DragAnything" / "diffusion_pytorch_model.safetensors"]
    if not all(file.exists() for file in files):
        subprocess.run([sys.executable, str(script), "--comfyui-dir", str(comfyui_dir), "--out", str(CACHE_DIR)],
                       check=True, timeout=3600)
    make_base_directory(host_base, {"checkpoints": files[:2], "draganything": [CACHE_DIR / "DragAnything"]})
    return {"svd": files[0].name, "sd15": files[1].name,
            "controlnet": "DragAnything/diffusion_pytorch_model.safetensors"}


@pytest.fixture(scope="session")
def server(comfyui_dir, host_base, tmp_path_factory):
    """One server for the session; model files are linked into its tree by the fixtures that need them."""
    running = ComfyServer(comfyui_dir, host_base, tmp_path_factory.mktemp("logs") / "comfyui.log").start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def random_sam(server):
    """A vit_b segment-anything checkpoint with random weights (same layout as sam_vit_b_01ec64.pth), written once
    to the test cache and linked into the server's models/sams."""
    import torch

    sam_registry = pytest.importorskip("segment_anything", reason="needs segment-anything").sam_model_registry
    cached = CACHE_DIR / "sam_vit_b_random.pth"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(sam_registry["vit_b"]().state_dict(), cached)
    folder = server.base_directory / "models" / "sams"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / cached.name).exists():
        (folder / cached.name).symlink_to(cached)
    return cached.name


@pytest.fixture(scope="session")
def start_server(comfyui_dir, host_base, tmp_path_factory):
    """Starts another server of its own: `start_server(models={folder: [files]}, env={...}, dtype_args=(...))`
    (dtype_args replace the default --fp16-unet), with the example input copied in; every one started is stopped
    at the end of the session."""
    import shutil

    started = []

    def start(models: dict[str, list[Path]] | None = None, env: dict[str, str] | None = None,
              dtype_args: tuple[str, ...] = ("--fp16-unet",)) -> ComfyServer:
        base = make_base_directory(tmp_path_factory.mktemp("comfy_base"), models)
        shutil.copy(host_base / "input" / EXAMPLE_INPUT, base / "input" / EXAMPLE_INPUT)
        running = ComfyServer(comfyui_dir, base, tmp_path_factory.mktemp("logs") / "comfyui.log", env=env,
                              dtype_args=dtype_args)
        started.append(running)
        return running.start()

    yield start
    for running in started:
        running.stop()


# ------------------------------------------------------------------------------------------- in-process host
SMALL_CONTEXT_DIM = 32
SMALL_WIDTHS = (32, 64, 64, 64)
SMALL_HEAD_CHANNELS = 16


class InProcessHost:
    """The host's own modules imported into the test process (CPU, fp32), and the pack loaded as ComfyUI loads it.

    Builds small random models with the host's classes: an SVD img2vid UNet with SVD's block layout at small widths and
    a matching library ControlNet, so sampling with the real host code takes seconds on a CPU.
    """

    def __init__(self, comfyui_dir: Path):
        if str(comfyui_dir) not in sys.path:
            sys.path.insert(0, str(comfyui_dir))
        import comfy.cli_args

        comfy.cli_args.args.cpu = True  # without CUDA the host's device query needs --cpu
        import importlib.util

        import comfy.model_management

        name = "draganything_pack_under_test"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, PROJECT_DIR / "__init__.py",
                                                          submodule_search_locations=[str(PROJECT_DIR)])
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        self.pack_name = name
        self.pack = importlib.import_module(f"{name}.nodes.extension")
        self.nodes = importlib.import_module(f"{name}.nodes")
        self.library = importlib.import_module(f"{name}.draganything")

    def module(self, dotted: str):
        import importlib

        return importlib.import_module(f"{self.pack_name}.{dotted}")

    def random_svd_patcher(self, seed: int = 0):
        """A ModelPatcher of model_base.SVD_img2vid with SVD's topology at widths 32/64/64/64, random weights."""
        import comfy.model_patcher
        import comfy.supported_models
        import torch

        unet_config = {
            "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True, "legacy": False,
            "num_classes": "sequential", "adm_in_channels": 768, "in_channels": 8, "out_channels": 4,
            "model_channels": SMALL_WIDTHS[0], "num_res_blocks": [2, 2, 2, 2], "channel_mult": [1, 2, 2, 2],
            # Listed from the last output block to the first (the host pops them in reverse).
            "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1,
                                                                                         0, 0, 0],
            "transformer_depth_middle": 1, "use_linear_in_transformer": True, "context_dim": SMALL_CONTEXT_DIM,
            "extra_ff_mix_layer": True, "use_spatial_context": True, "merge_strategy": "learned_with_images",
            "merge_factor": 0.0, "video_kernel_size": [3, 1, 1], "use_temporal_resblock": True,
            "use_temporal_attention": True, "disable_temporal_crossattention": False,
        }
        model_config = comfy.supported_models.SVD_img2vid(unet_config)
        model_config.unet_config["num_head_channels"] = SMALL_HEAD_CHANNELS
        model_config.set_inference_dtype(torch.float32, None)
        model = model_config.get_model({})
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for parameter in model.diffusion_model.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
        device = torch.device("cpu")
        return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=device)

    def small_controlnet_config(self) -> dict:
        testing = self.module("draganything.testing")
        return {
            **testing.small_controlnet_config(),
            "block_out_channels": SMALL_WIDTHS,
            "num_attention_heads": tuple(width // SMALL_HEAD_CHANNELS for width in SMALL_WIDTHS),
            "cross_attention_dim": SMALL_CONTEXT_DIM,
            # The host feeds SVD's real time-id embedding (3 x 256) whatever the UNet's width.
            "addition_time_embed_dim": 256,
            "projection_class_embeddings_input_dim": 768,
        }

    def random_controlnet(self, seed: int = 1, compile: bool = False):
        """(library network, the pack's LoadedControlNet wrapping it) with every weight random."""
        import torch

        controlnet_module = self.module("draganything.controlnet")
        torch.manual_seed(seed)
        network = controlnet_module.DragAnythingControlNet.from_config(self.small_controlnet_config()).eval()
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for parameter in network.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
        control = self.module("nodes.control")
        return network, control.wrap_controlnet(network, torch.float32, "random", compile=compile)


    def diffusers_unet_config(self) -> dict:
        """The diffusers UNetSpatioTemporalConditionModel config of the same small network as random_svd_patcher."""
        embedder_keys = {"conditioning_channels", "conditioning_embedding_out_channels", "entity_embedding_channels"}
        return {key: value for key, value in self.small_controlnet_config().items() if key not in embedder_keys}

    def host_state_dict_from_diffusers(self, diffusers_state: dict, unet_config: dict) -> dict:
        """diffusers SVD UNet weights renamed to the host's UNet layout, as the tiny loader renames them."""
        return self.module("nodes.tiny_model").host_unet_state_dict(diffusers_state, unet_config)


@pytest.fixture(scope="session")
def host(comfyui_dir) -> InProcessHost:
    return InProcessHost(comfyui_dir)


# Inputs only a host with the type they take declares (ComfyUI 0.8.0 has no CURVE); the locales and help pages
# name them on every host, after the inputs every host has.
NEWER_HOST_INPUTS = {"DragAnythingCameraMove": ("easing_curve",)}


@pytest.fixture(scope="session")
def documented_inputs():
    """documented_inputs(node_id, schema): the input ids the node's texts list, in order, on this host."""

    def input_ids(node_id: str, schema) -> list[str]:
        declared = [node_input.id for node_input in schema.inputs]
        return declared + [name for name in NEWER_HOST_INPUTS.get(node_id, ()) if name not in declared]

    return input_ids
