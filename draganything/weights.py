"""Loading the released DragAnything ControlNet (``weijiawu/DragAnything``) strictly, with errors a user can act on.

Accepted: a diffusers folder (``config.json`` + ``diffusion_pytorch_model.safetensors``) or a single
``.safetensors`` file (its config is a ``config.json`` beside it when there is one, else the released config).
Only safetensors are read: pickled checkpoints can run code on load. Every key and shape must match the network
the config describes; anything else is reported with what the file looks like and how to get the right one.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from .controlnet import OFFICIAL_CONFIG, DragAnythingControlNet
from .errors import DragAnythingError

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
CONFIG_NAME = "config.json"
RELEASE_HINT = (
    "Download config.json and diffusion_pytorch_model.safetensors (2.74 GB) from "
    "https://huggingface.co/weijiawu/DragAnything into one folder and pass that folder"
)
# The released config names the official class; configs saved by this library name ours.
CONFIG_CLASS_NAMES = {"DragAnythingSDVModel", DragAnythingControlNet.__name__}
# A key only the DragAnything ControlNet has (the entity-map branch of its condition embedder).
SIGNATURE_KEY = "controlnet_cond_embedding.blocks_feature.0.weight"
FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}
UNREADABLE_FIX = (
    f"Only .safetensors weights are loaded (pickles can run code). {RELEASE_HINT}; a pickled checkpoint you "
    "trust converts with safetensors.torch.save_file(torch.load(path, weights_only=True), 'model.safetensors')"
)
_SHOWN = 5  # keys quoted in a message
# Names a user may give for a weight dtype: torch's own and the short forms model loaders show.
DTYPE_NAMES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    # Storage only: a host that computes in another dtype casts fp8 weights per layer.
    "float8_e4m3fn": torch.float8_e4m3fn,
    "fp8_e4m3fn": torch.float8_e4m3fn,
    "float8_e5m2": torch.float8_e5m2,
    "fp8_e5m2": torch.float8_e5m2,
}


def parse_dtype(dtype: torch.dtype | str, input_name: str = "dtype") -> torch.dtype:
    """A floating-point torch dtype from itself or one of :data:`DTYPE_NAMES` ("fp16", "bfloat16", ...)."""
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return dtype
    if isinstance(dtype, str) and dtype.removeprefix("torch.") in DTYPE_NAMES:
        return DTYPE_NAMES[dtype.removeprefix("torch.")]
    raise DragAnythingError(input_name, f"{dtype!r} is not a weight dtype", f"Use one of {', '.join(DTYPE_NAMES)}")


def load_controlnet(
    path: str | Path,
    *,
    dtype: torch.dtype | str = torch.float32,
    device: torch.device | str = "cpu",
    config: Mapping | str | Path | None = None,
) -> DragAnythingControlNet:
    """The ControlNet from ``path`` (folder or .safetensors), its weights cast to ``dtype`` on ``device``.

    ``dtype``: a floating torch dtype or its name (:func:`parse_dtype`).

    ``config`` (a dict or a config.json path) overrides the config found with the weights. The network is
    built without initialising its parameters, so loading costs the file read only. Returns it in eval mode.
    """
    dtype = parse_dtype(dtype)
    weights_file, config_dict, config_source = resolve_checkpoint(path, config)
    with torch.device("meta"):
        controlnet = DragAnythingControlNet.from_config(config_dict)
    expected = {name: tuple(tensor.shape) for name, tensor in controlnet.state_dict().items()}
    header = read_header(weights_file)
    check_layout(header, expected, weights_file, config_source)

    state_dict = {}
    with safe_open(weights_file, framework="pt", device=str(torch.device(device))) as handle:
        for name in expected:
            state_dict[name] = handle.get_tensor(name).to(dtype)
    controlnet.load_state_dict(state_dict, strict=True, assign=True)
    return controlnet.eval()


def resolve_checkpoint(
    path: str | Path, config: Mapping | str | Path | None = None
) -> tuple[Path, dict, str]:
    """(weights file, config dict, where the config came from) for a folder or a .safetensors path."""
    path = Path(path).expanduser()
    if path.is_dir():
        weights_file = path / WEIGHTS_NAME
        if not weights_file.is_file():
            found = sorted(entry.name for entry in path.iterdir())
            raise DragAnythingError(
                "controlnet path",
                f"the folder {path} has no {WEIGHTS_NAME} (it holds: {', '.join(found[:10]) or 'nothing'})",
                f"{RELEASE_HINT}, or pass the .safetensors file itself",
            )
        config_file = path / CONFIG_NAME
        if config is None and not config_file.is_file():
            raise DragAnythingError(
                "controlnet path",
                f"the folder {path} has {WEIGHTS_NAME} but no {CONFIG_NAME}",
                f"{RELEASE_HINT}, or pass the .safetensors file to use the released config",
            )
    elif path.is_file():
        weights_file, config_file = path, path.parent / CONFIG_NAME
    else:
        raise DragAnythingError("controlnet path", f"{path} does not exist", RELEASE_HINT)

    if config is not None:
        if isinstance(config, Mapping):
            return weights_file, dict(config), "the config passed in"
        config_file = Path(config)
    if config_file.is_file():
        return weights_file, read_config(config_file), str(config_file)
    return weights_file, dict(OFFICIAL_CONFIG), "the released config (no config.json beside the weights)"


def read_config(config_file: Path) -> dict:
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DragAnythingError(
            "controlnet config", f"{config_file} is not a readable JSON file ({error})", RELEASE_HINT
        ) from None
    if not isinstance(config, dict):
        raise DragAnythingError(
            "controlnet config", f"{config_file} holds a JSON {type(config).__name__}, not an object", RELEASE_HINT
        )
    class_name = config.get("_class_name")
    if class_name is not None and class_name not in CONFIG_CLASS_NAMES:
        raise DragAnythingError(
            "controlnet config",
            f"{config_file} describes a {class_name}, not the DragAnything ControlNet "
            f"(expected _class_name {' or '.join(sorted(CONFIG_CLASS_NAMES))})",
            f"point at the DragAnything ControlNet's folder, not another model's. {RELEASE_HINT}",
        )
    return config


def read_header(weights_file: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """{key: (safetensors dtype, shape)} from the file's header, without reading any tensor data."""
    try:
        with safe_open(weights_file, framework="pt") as handle:
            header = {}
            for name in handle.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                tensor_slice = handle.get_slice(name)
                header[name] = (tensor_slice.get_dtype(), tuple(tensor_slice.get_shape()))
            return header
    except SafetensorError as error:
        problem = diagnose_unreadable(weights_file, error)
        raise DragAnythingError("controlnet weights", problem, UNREADABLE_FIX) from None
    except OSError as error:
        problem = f"{weights_file} cannot be read ({error})"
        raise DragAnythingError("controlnet weights", problem, RELEASE_HINT) from None


def diagnose_unreadable(weights_file: Path, error: Exception) -> str:
    """What a file that safetensors refuses actually is: a pickle, a truncated download, or something else."""
    size = weights_file.stat().st_size
    with open(weights_file, "rb") as stream:
        start = stream.read(8)
        if start.startswith(b"PK\x03\x04"):
            return f"{weights_file} is a PyTorch zip/pickle checkpoint (torch.save), not safetensors"
        if start[:1] == b"\x80" and start[1:2] in {bytes([v]) for v in range(2, 6)}:
            return f"{weights_file} is a Python pickle (an old-style .ckpt/.pt/.bin), not safetensors"
        if start.startswith(b"GGUF"):
            return f"{weights_file} is a GGUF file, not safetensors"
        if len(start) < 8:
            return f"{weights_file} is {size} bytes long, too short for a safetensors file (it may be empty)"
        (header_length,) = struct.unpack("<Q", start)
        if header_length > size - 8:
            return (
                f"{weights_file} does not start with a safetensors header (its first bytes announce a header of "
                f"{header_length} bytes in a {size}-byte file): it is not safetensors, or only its first bytes "
                "were downloaded"
            )
        try:
            entries = json.loads(stream.read(header_length))
            data_end = 8 + header_length + max(
                (entry["data_offsets"][1] for key, entry in entries.items() if key != "__metadata__"), default=0
            )
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return f"{weights_file} is not a safetensors file (its header is not valid safetensors JSON)"
    if data_end > size:
        return (
            f"{weights_file} is truncated: its header lists {data_end:,} bytes of data but the file has {size:,} "
            f"({100 * size / data_end:.0f}%), typically an interrupted download"
        )
    return f"{weights_file} is not a valid safetensors file ({error})"


def check_layout(
    header: Mapping[str, tuple[str, tuple[int, ...]]],
    expected: Mapping[str, tuple[int, ...]],
    weights_file: Path | str,
    config_source: str = "the released config",
) -> None:
    """Raise unless ``header`` holds exactly the ``expected`` keys, each with its shape and a float dtype."""
    found = set(header)
    if SIGNATURE_KEY not in found:
        stripped = _common_prefix(found)
        if stripped and SIGNATURE_KEY in {key[len(stripped) :] for key in found}:
            raise DragAnythingError(
                "controlnet weights",
                f"every key in {weights_file} starts with {stripped!r} (e.g. {stripped}{SIGNATURE_KEY})",
                "re-save the state dict with that prefix removed, so keys read like the released file's "
                f"({SIGNATURE_KEY})",
            )
        raise DragAnythingError(
            "controlnet weights",
            f"{weights_file} does not hold a DragAnything ControlNet: it looks like {describe_checkpoint(header)} "
            f"(keys like {', '.join(sorted(found)[:3]) or 'none'}), while the DragAnything ControlNet has "
            f"{len(expected)} tensors including {SIGNATURE_KEY} and controlnet_down_blocks.0-11",
            RELEASE_HINT,
        )

    missing, unexpected = sorted(set(expected) - found), sorted(found - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_some(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_some(unexpected)})")
        raise DragAnythingError(
            "controlnet weights",
            f"{weights_file} has {' and '.join(parts)} for the network described by {config_source}",
            "use the config.json saved with these weights (put it beside the file or pass config=); if the file "
            f"is the release, it is damaged or edited. {RELEASE_HINT}",
        )

    wrong_shapes = [
        f"{name} is {list(header[name][1])}, expected {list(shape)}"
        for name, shape in expected.items()
        if tuple(header[name][1]) != tuple(shape)
    ]
    if wrong_shapes:
        raise DragAnythingError(
            "controlnet weights",
            f"{len(wrong_shapes)} tensors in {weights_file} have other shapes than the network described by "
            f"{config_source} ({'; '.join(wrong_shapes[:3])}{'; ...' if len(wrong_shapes) > 3 else ''})",
            "the weights were saved with another config: put that config.json beside the weights or pass config=",
        )
    not_float = sorted({dtype for dtype, _ in header.values()} - FLOAT_DTYPES)
    if not_float:
        raise DragAnythingError(
            "controlnet weights",
            f"{weights_file} stores tensors as {', '.join(not_float)}; the network's weights are floating point",
            f"load an unquantised float16/bfloat16/float32 file. {RELEASE_HINT}",
        )


def describe_checkpoint(header: Mapping[str, tuple[str, tuple[int, ...]]]) -> str:
    """A short guess at what model a state dict belongs to, from its key names (and a few shapes)."""
    keys = set(header)

    def has(fragment: str) -> bool:
        return any(fragment in key for key in keys)

    if not keys:
        return "an empty file (no tensors)"
    if has("model.diffusion_model."):
        if has("time_stack") or has("time_mixer"):
            return "a complete Stable Video Diffusion checkpoint in Stability's original format"
        return "a complete Stable Diffusion checkpoint in the original (LDM) format"
    if has("control_model.") or has("zero_convs.") or has("input_hint_block."):
        return "an image ControlNet in the original (LDM) format"
    temporal = has("temporal_res_block") or has("temporal_transformer_blocks")
    if "controlnet_cond_embedding.conv_in.weight" in keys:
        if temporal:
            return "an SVD ControlNet without DragAnything's entity branch (e.g. svd-temporal-controlnet)"
        return "an image ControlNet (diffusers layout)"
    if "conv_in.weight" in keys and has("up_blocks."):
        if temporal:
            return "a Stable Video Diffusion UNet (diffusers layout)"
        context_width = next(
            (shape[1] for key, (_, shape) in header.items() if key.endswith("attn2.to_k.weight") and len(shape) == 2),
            None,
        )
        family = {768: "SD-1.x", 1024: "SD-2.x", 2048: "SDXL"}.get(context_width)
        return f"an {family} UNet (diffusers layout)" if family else "a Stable Diffusion UNet (diffusers layout)"
    if has("encoder.down_blocks.") and has("decoder."):
        return "a VAE"
    if has("vision_model.") or has("text_model."):
        return "a CLIP encoder"
    if has("image_encoder.") and has("mask_decoder."):
        return "a segment-anything model"
    return "an unrecognised model"


def _some(names: list[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")


def _common_prefix(keys: set[str]) -> str:
    """The first dotted component shared by every key ("module." from DataParallel, "controlnet." ...)."""
    firsts = {key.split(".", 1)[0] for key in keys}
    return f"{firsts.pop()}." if len(firsts) == 1 and all("." in key for key in keys) else ""
