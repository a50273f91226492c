"""Loader nodes: the DragAnything ControlNet and segment-anything checkpoints."""

from __future__ import annotations

from pathlib import Path

import comfy.model_management
import comfy.utils
import folder_paths
from comfy_api.latest import io

from .compat import ADVANCED, node_schema
from .control import wrap_controlnet
from .folders import CONTROLNET_FOLDER, SAM_FOLDER, missing_model_error, model_choices
from ..draganything.segmentation import SAM_DOWNLOAD_HINT, build_sam, unwrap_checkpoint
from .types import DragControlNet, DragSam

CONTROLNET_SOURCE = (
    "The released DragAnything ControlNet is diffusion_pytorch_model.safetensors (2.74 GB, with its config.json) "
    "from https://huggingface.co/weijiawu/DragAnything; put both in models/draganything/DragAnything/.")

# Names offered for the weight dtype; draganything.weights.parse_dtype reads them, except the "_fast" suffix,
# which asks for the host's fp8 matrix multiplication as its Load Diffusion Model's choice of that name does.
# New names go at the end: saved workflows hold the chosen name.
DTYPE_CHOICES = ("fp16", "bf16", "fp32", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")
FAST_SUFFIX = "_fast"
# Parameters of the released network, for the host's automatic dtype choice.
CONTROLNET_PARAMETERS = 684_999_873


def _full_path(folder_name: str, input_name: str, file_name: str, what: str, source: str) -> Path:
    path = folder_paths.get_full_path(folder_name, file_name) if file_name else None
    if path is None:
        raise missing_model_error(folder_name, input_name, file_name, what, source)
    return Path(path)


class DragAnythingControlNetLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingControlNetLoader",
            search_aliases=["motion controlnet", "trajectory controlnet", "svd controlnet", "drag model"],
            display_name="Load DragAnything ControlNet",
            category="DragAnything/loaders",
            description="Loads the DragAnything ControlNet for Stable Video Diffusion img2vid from models/draganything "
                        "(a single .safetensors, or diffusion_pytorch_model.safetensors with its config.json).",
            inputs=[
                io.Combo.Input("controlnet_name", options=model_choices(CONTROLNET_FOLDER),
                               tooltip="A file in models/draganything."),
                io.Combo.Input("dtype", options=["auto", *DTYPE_CHOICES], default="auto", **ADVANCED,
                               tooltip="Weight dtype. auto lets ComfyUI choose for the device (fp16/bf16 on GPUs, "
                                       "fp32 on the CPU, fp8 under its --fp8_*-unet options). fp8 halves the "
                                       "weights' memory (0.7 GB): they are stored in fp8 and cast per layer to "
                                       "the compute dtype, through ComfyUI's own layers; fp8_e4m3fn_fast, or "
                                       "ComfyUI's --fast fp8_matrix_mult, also multiplies in fp8 on GPUs that "
                                       "can (Ada, Hopper). See docs/performance.md for speed and quality."),
                io.Boolean.Input("compile", default=False, optional=True, **ADVANCED,
                                 tooltip="Run the ControlNet through torch.compile: the first sampling of each size "
                                         "and frame count waits about a minute for compilation, every step after "
                                         "that is faster on a GPU (see docs/performance.md). For the SVD UNet, put "
                                         "ComfyUI's TorchCompileModel node on the MODEL."),
            ],
            outputs=[DragControlNet.Output(display_name="controlnet")],
        )

    @classmethod
    def validate_inputs(cls, controlnet_name, dtype, compile=False):
        if controlnet_name not in model_choices(CONTROLNET_FOLDER):
            return str(missing_model_error(CONTROLNET_FOLDER, "controlnet_name", controlnet_name,
                                           "DragAnything ControlNet", CONTROLNET_SOURCE))
        return True

    @classmethod
    def execute(cls, controlnet_name, dtype, compile=False) -> io.NodeOutput:
        path = _full_path(CONTROLNET_FOLDER, "controlnet_name", controlnet_name, "DragAnything ControlNet",
                          CONTROLNET_SOURCE)
        # diffusers is imported only when a network is loaded.
        from ..draganything.weights import load_controlnet, parse_dtype

        fp8_matrix_multiplication = dtype.endswith(FAST_SUFFIX)
        if dtype == "auto":
            weight_dtype = comfy.model_management.unet_dtype(model_params=CONTROLNET_PARAMETERS)
        else:
            weight_dtype = parse_dtype(dtype.removesuffix(FAST_SUFFIX))

        network = load_controlnet(path, dtype=weight_dtype)
        return io.NodeOutput(wrap_controlnet(network, weight_dtype, controlnet_name, compile=compile,
                                             fp8_matrix_multiplication=fp8_matrix_multiplication))


class DragAnythingSAMLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingSAMLoader",
            search_aliases=["segment anything", "segmentation model", "sam checkpoint"],
            display_name="Load SAM (DragAnything)",
            category="DragAnything/loaders",
            description="Loads an original segment-anything checkpoint (ViT-H, ViT-L or ViT-B, recognised from the "
                        "file) from models/sams, for entity masks from clicks and boxes.",
            inputs=[io.Combo.Input("sam_name", options=model_choices(SAM_FOLDER), tooltip="A file in models/sams.")],
            outputs=[DragSam.Output(display_name="sam")],
        )

    @classmethod
    def validate_inputs(cls, sam_name):
        if sam_name not in model_choices(SAM_FOLDER):
            return str(missing_model_error(SAM_FOLDER, "sam_name", sam_name, "segment-anything",
                                           SAM_DOWNLOAD_HINT + "."))
        return True

    @classmethod
    def execute(cls, sam_name) -> io.NodeOutput:
        path = _full_path(SAM_FOLDER, "sam_name", sam_name, "segment-anything", SAM_DOWNLOAD_HINT + ".")
        state_dict = unwrap_checkpoint(comfy.utils.load_torch_file(str(path), safe_load=True))
        return io.NodeOutput(build_sam(state_dict, sam_name))
