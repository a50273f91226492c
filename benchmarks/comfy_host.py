"""ComfyUI in-process for the GPU benchmark and tests: the host's own SVD path, with or without the pack.

The host is imported from a checkout (``COMFYUI_DIR``) and driven through its Python API, as its nodes run it:
``load_state_dict_guess_config`` on a full-size random SVD checkpoint state dict (what ImageOnlyCheckpointLoader
does with ``svd.safetensors``), ``SVD_img2vid_Conditioning``, the pack's Apply node, ``VideoLinearCFGGuidance``,
the KSampler's ``comfy.sample.sample`` and ``VAEDecode``. No server is started.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import logging
import sys
import types
from pathlib import Path

import torch

PROJECT_DIR = Path(__file__).resolve().parents[1]
PACK_MODULE = "draganything_pack"


def _stub_pyav() -> None:
    """The host's typed-API modules import PyAV for video values at import time; sampling never touches it.

    Where PyAV is not installed (the GPU image has no wheel for it), a placeholder module stands in so that
    the imports resolve. Any real use of it would fail loudly on the placeholder classes.
    """
    try:
        import av  # noqa: F401
        return
    except ImportError:
        pass

    class PlaceholderType(type):
        """Classes whose attributes (enum members the host reads at import) are placeholders too."""

        def __getattr__(cls, name):
            if name.startswith("__"):
                raise AttributeError(name)
            value = PlaceholderType(name, (), {"__module__": cls.__module__})
            setattr(cls, name, value)
            return value

    class Placeholder(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            value = PlaceholderType(name, (), {"__module__": self.__name__})
            setattr(self, name, value)
            return value

    for name in ("av", "av.container", "av.subtitles", "av.subtitles.stream", "av.video", "av.video.frame",
                 "av.video.reformatter",
                 "av.audio", "av.audio.frame", "av.error"):
        module = Placeholder(name)
        module.__path__ = []
        module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        sys.modules[name] = module


def load_host(comfyui_dir: str | Path, cpu: bool = False, flags: list[str] = ()) -> str:
    """Import the host from ``comfyui_dir`` with command-line ``flags`` (e.g. ``--disable-dynamic-vram``) and the
    pack as the host loads custom nodes; returns the host's version.

    Hosts with Dynamic VRAM (ComfyUI 0.15+) switch it on at server start (main.py), not on import; it is switched
    on here the same way unless the flags turn it off.
    """
    comfyui_dir = str(Path(comfyui_dir).resolve())
    if comfyui_dir not in sys.path:
        sys.path.insert(0, comfyui_dir)
    _stub_pyav()
    import comfy.cli_args

    defaults = vars(comfy.cli_args.parser.parse_args([]))
    for name, value in vars(comfy.cli_args.parser.parse_args(list(flags))).items():
        if value != defaults[name]:  # the host post-processes some defaults (--fast) after parsing
            setattr(comfy.cli_args.args, name, value)
    comfy.cli_args.args.cpu = cpu
    dynamic_vram = getattr(comfy.cli_args, "enables_dynamic_vram", lambda: False)()
    if dynamic_vram:
        import comfy_aimdo.control

        args = comfy.cli_args.args
        headroom = None if args.reserve_vram is None else int(args.reserve_vram * 1024**3)
        try:
            comfy_aimdo.control.init(simple_vram_headroom=headroom,
                                     nvml_pressure=not getattr(args, "disable_nvml_pressure", False))
        except TypeError:
            comfy_aimdo.control.init()
    import comfy.model_management

    if dynamic_vram and comfy.model_management.is_nvidia():
        import comfy.memory_management
        import comfy.model_patcher

        devices = comfy.model_management.get_all_torch_devices()
        headroom = int(getattr(comfy.cli_args.args, "vram_headroom", 0) * 1024**3)
        try:
            initialised = comfy_aimdo.control.init_devices((device.index, headroom) for device in devices)
        except TypeError:
            initialised = comfy_aimdo.control.init_devices(device.index for device in devices)
        if initialised:
            comfy.model_patcher.CoreModelPatcher = comfy.model_patcher.ModelPatcherDynamic
            comfy.memory_management.aimdo_enabled = True
        logging.warning("Dynamic VRAM %s", "enabled" if initialised else "not available (comfy-aimdo failed)")

    if PACK_MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACK_MODULE, PROJECT_DIR / "__init__.py",
                                                      submodule_search_locations=[str(PROJECT_DIR)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACK_MODULE] = module
        spec.loader.exec_module(module)
    import comfyui_version

    return comfyui_version.__version__ + (" (Dynamic VRAM)" if dynamic_vram else "")


def pack_module(dotted: str):
    return importlib.import_module(f"{PACK_MODULE}.{dotted}")


def svd_checkpoint_state_dict(diffusers_unet, image_encoder, device, seed: int = 4) -> dict[str, torch.Tensor]:
    """A full SVD img2vid checkpoint state dict in the host's single-file layout, on ``device``.

    UNet: the given diffusers UNet's weights renamed to the host's layout (so the host and the library sample
    the same network); image encoder: the given transformers CLIP vision model's weights (the host reads the
    same names under the OpenCLIP prefix); VAE: random, in the host's temporal-decoder layout.
    """
    import comfy.sd
    from fullsize import HOST_CLIP_VISION_PREFIX, HOST_UNET_PREFIX, HOST_VAE_PREFIX
    from random_weights import random_value_

    tiny_model = pack_module("nodes.tiny_model")  # the pack's diffusers -> host SVD UNet map, any width
    unet_config = tiny_model.host_unet_config(dict(diffusers_unet.config))
    host_unet = tiny_model.host_unet_state_dict(diffusers_unet.state_dict(), unet_config)
    state = {HOST_UNET_PREFIX + name: tensor for name, tensor in host_unet.items()}
    state.update({HOST_CLIP_VISION_PREFIX + name: tensor for name, tensor in image_encoder.state_dict().items()
                  if not name.endswith("position_ids")})

    # The host's temporal VAE, built only for its parameter names and shapes (never initialised).
    temporal_decoder_marker = {"decoder.mid.block_1.mix_factor": torch.zeros(1)}
    logging.disable(logging.WARNING)  # the host lists every key the marker lacks
    try:
        with torch.device("meta"):
            vae_layout = comfy.sd.VAE(sd=temporal_decoder_marker).first_stage_model
    finally:
        logging.disable(logging.NOTSET)
    generator = torch.Generator(device).manual_seed(seed)
    for name, parameter in vae_layout.state_dict().items():
        tensor = torch.empty(parameter.shape, device=device, dtype=torch.float32)
        random_value_(name, tensor, generator)
        state[HOST_VAE_PREFIX + name] = tensor
    return state


def load_svd(state_dict: dict, dtype: torch.dtype | None = None):
    """(MODEL patcher, CLIP_VISION, VAE) as ImageOnlyCheckpointLoader returns them; ``dtype`` forces the UNet's."""
    import comfy.sd

    model_options = {} if dtype is None else {"dtype": dtype}
    model, _, vae, clip_vision = comfy.sd.load_state_dict_guess_config(
        state_dict, output_vae=True, output_clip=False, output_clipvision=True, model_options=model_options)
    return model, clip_vision, vae


def wrap_library_controlnet(network, dtype: torch.dtype | None, compile: bool = False,
                            fp8_matrix_multiplication: bool = False):
    """The pack's LoadedControlNet for a library network, as the loader node makes it (``None``: host's choice;
    ``compile``: the loader's compile option; ``fp8_matrix_multiplication``: its fp8_e4m3fn_fast choice)."""
    import comfy.model_management

    loader_nodes = pack_module("nodes.loader_nodes")
    control = pack_module("nodes.control")
    if dtype is None:
        dtype = comfy.model_management.unet_dtype(model_params=loader_nodes.CONTROLNET_PARAMETERS)
    return control.wrap_controlnet(network.to(dtype), dtype, "random full-size", compile=compile,
                                   fp8_matrix_multiplication=fp8_matrix_multiplication)


def resolution_free_conditions(width: int, height: int, seed: int = 0):
    """The pack's conditions value for the benchmark scene (source frame = model frame, random pooled DIFT)."""
    from fullsize import ENTITY_CHANNELS, scene_entities, scene_masks

    resolution_free = pack_module("draganything.resolution_free")
    trajectory = pack_module("draganything.trajectory")
    entities = [trajectory.Entity(id=entity.id, points=entity.points, anchor=entity.anchor)
                for entity in scene_entities(height, width)]
    pooled = torch.randn(2, 2 * ENTITY_CHANNELS, generator=torch.Generator().manual_seed(seed))
    return resolution_free.ResolutionFreeConditions(trajectory.Trajectories(entities, width=width, height=height),
                                           scene_masks(height, width), pooled)
