"""The DragAnything ControlNet inside the host's sampler.

`DragAnythingControl` is a `comfy.controlnet.ControlBase`: the Apply node attaches it to positive and negative
conditioning exactly like a core ControlNet, so strength, start/end percent, chaining, every sampler, scheduler
and guider, model loading/offloading, progress and cancel are the host's own.

Conditions stay resolution-free until sampling. The maps the ControlNet consumes are built in `get_control` from
the latent actually being sampled (its frame count and size) and embedded once per run: the embedding does not
depend on x or t, so every step and both CFG halves reuse it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

import comfy.controlnet
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.ops
import torch
from diffusers.models.resnet import AlphaBlender

from ..draganything.controlnet import activation_memory_bytes, residuals_as_injected
from ..draganything.errors import DragAnythingError
from ..draganything.framing import MODEL_FRAMES

# Pixel size of one latent cell of the SVD VAE.
LATENT_SCALE = 8
# Frames embedded at a time: the entity map is 160 channels at full pixel resolution, so a whole video at once
# would take gigabytes; the embedder is per-frame, so chunking changes nothing numerically.
EMBED_FRAME_CHUNK = 2
# Videos in one ControlNet call when the host batches both CFG halves (what it plans its own model for).
CFG_VIDEOS = 2

_HOST_OPS = {
    torch.nn.Linear: "Linear",
    torch.nn.Conv2d: "Conv2d",
    torch.nn.Conv3d: "Conv3d",
    torch.nn.GroupNorm: "GroupNorm",
    torch.nn.LayerNorm: "LayerNorm",
}


class OffloadableAlphaBlender(AlphaBlender):
    """diffusers' spatial/temporal blend whose one learned number may sit on another device than the activations.

    Under the host's partial loading a module without cast support that does not fit stays on the offload
    device (the host's own blender moves its factor the same way)."""

    def get_alpha(self, image_only_indicator: torch.Tensor, ndims: int) -> torch.Tensor:
        if image_only_indicator is None or image_only_indicator.device == self.mix_factor.device:
            return super().get_alpha(image_only_indicator, ndims)
        return super().get_alpha(image_only_indicator.to(self.mix_factor.device), ndims).to(
            image_only_indicator.device)


def adopt_host_ops(module: torch.nn.Module, ops, compute_dtype: torch.dtype) -> torch.nn.Module:
    """Give the library's plain torch layers the host's classes from `ops` (a `comfy.ops` family), in place.

    The host's partial (low-VRAM) loading only moves layers that carry `comfy_cast_weights`; plain layers that do
    not fit would stay on the offload device. The host classes are subclasses with the same parameters, so the
    swap changes no number. With casting families the weights stay in their stored dtype and are cast to the
    input's dtype at each call (fp16/bf16 weights on a device that computes in fp32, fp8 weights anywhere), or
    multiplied in fp8 where the host's fp8 family can. The blend factors, the only parameters outside such layers
    (one number each), are kept in `compute_dtype` (no fp8 sigmoid exists) and follow the activations' device.
    """
    for layer in module.modules():
        name = _HOST_OPS.get(type(layer))
        if name is not None:
            layer.__class__ = getattr(ops, name)
        elif type(layer) is AlphaBlender:
            layer.__class__ = OffloadableAlphaBlender
            layer.mix_factor.data = layer.mix_factor.data.to(compute_dtype)
    return module


class HostedControlNet(torch.nn.Module):
    """A plain module around the library network: the host's ModelPatcher writes bookkeeping attributes (device,
    loaded-memory counters) on the module it holds, and diffusers' ModelMixin makes `device` read-only."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network


def injected_residuals(network: torch.nn.Module, sample, timestep, context, time_ids, embedding):
    """One ControlNet forward, returning the residuals as the host adds them (multiplicities applied).

    The released weights were trained against a UNet that adds skip residual i RESIDUAL_MULTIPLICITIES[i] times;
    the host adds each once, so the factors are applied here, before the strength.
    """
    down, mid = network(sample, timestep, context, time_ids, embedding, return_dict=False)
    return residuals_as_injected(down, mid)


@dataclass
class LoadedControlNet:
    """What the loader node outputs: the network in a ModelPatcher, the dtype it computes in, and the function
    that runs it (`injected_residuals`, or its torch.compile'd twin)."""

    patcher: comfy.model_patcher.ModelPatcher
    compute_dtype: torch.dtype
    name: str
    residual_function: Callable = injected_residuals

    @property
    def network(self) -> torch.nn.Module:
        return self.patcher.model.network

    @property
    def compiled(self) -> bool:
        return self.residual_function is not injected_residuals

    def residuals(self, sample, timestep, context, time_ids, embedding):
        try:
            return self.residual_function(self.network, sample, timestep, context, time_ids, embedding)
        except torch._dynamo.exc.TorchDynamoException as error:  # raised only on the compiled path
            raise DragAnythingError(
                "compile",
                f"torch.compile could not compile the DragAnything ControlNet ({type(error).__name__}: "
                f"{str(error).strip().splitlines()[0] if str(error).strip() else 'no message'})",
                "Set compile to false on Load DragAnything ControlNet (the ControlNet then runs uncompiled, with "
                "the same results); compiling needs a working Triton on GPUs or a C++ compiler on the CPU") from error


def wrap_controlnet(network: torch.nn.Module, weight_dtype: torch.dtype, name: str, compile: bool = False,
                    fp8_matrix_multiplication: bool = False) -> LoadedControlNet:
    """Prepare a freshly loaded library network for the host's sampler; the network is owned by it afterwards.

    The host's SVD conditioning reaches the ControlNet as `y`, the three time ids already projected by the same
    sinusoid as the network's `add_time_proj` (256 channels each, cos first); the projection is therefore
    replaced by an identity so that `y` goes straight into `add_embedding`.

    With `compile` the forward (and the multiplicities, fused into the output convolutions) goes through
    torch.compile with static shapes: compiled once per latent size and frame count, on the first step.

    The layer classes are the host's choice for these weights, as for its own diffusion models
    (`comfy.ops.pick_operations`): fp8 weights get its fp8 matrix multiplication on GPUs that have one when
    `fp8_matrix_multiplication` is set or the host runs with `--fast fp8_matrix_mult`.
    """
    network.add_time_proj = torch.nn.Identity()
    load_device = comfy.model_management.get_torch_device()
    manual_cast_dtype = comfy.model_management.unet_manual_cast(weight_dtype, load_device)
    ops = comfy.ops.pick_operations(weight_dtype, manual_cast_dtype, load_device=load_device,
                                    fp8_optimizations=fp8_matrix_multiplication)
    adopt_host_ops(network, ops, compute_dtype=manual_cast_dtype or weight_dtype)
    patcher = comfy.model_patcher.ModelPatcher(HostedControlNet(network), load_device=load_device,
                                               offload_device=comfy.model_management.unet_offload_device())
    residual_function = torch.compile(injected_residuals, dynamic=False) if compile else injected_residuals
    loaded = LoadedControlNet(patcher, manual_cast_dtype or weight_dtype, name, residual_function)
    # The same facts the host logs for its own models ("model weight dtype ..., manual cast: ...").
    logging.info("DragAnything ControlNet %s: weight dtype %s, computing in %s, layers %s", name, weight_dtype,
                 loaded.compute_dtype, ops.__name__)
    return loaded


class DragAnythingControl(comfy.controlnet.ControlBase):
    """One DragAnything control on a conditioning: the ControlNet, the conditions and the strength settings."""

    def __init__(self, controlnet: LoadedControlNet, conditions, latent_size: tuple[int, int] | None = None):
        super().__init__()
        self.controlnet = controlnet
        self.conditions = conditions
        # (frames, latent height, latent width) of the last video sampled, else what the conditioning suggests:
        # the host asks for the memory estimate before the first step (inference_memory_requirements).
        frames = conditions.trajectories.num_frames or MODEL_FRAMES
        self.planned_latent = None if latent_size is None else (frames, *latent_size)
        self.model_sampling_current = None
        self._embedding_key = None
        self._embedding = None

    def copy(self):
        copied = DragAnythingControl(self.controlnet, self.conditions)
        copied.planned_latent = self.planned_latent
        self.copy_to(copied)
        return copied

    def inference_memory_requirements(self, dtype):
        """Bytes the ControlNet holds beyond its weights while the UNet runs (its residuals and the condition
        embedding), added by the host to its own model's estimate when it plans loading and CFG batching:
        measured per latent size (draganything.controlnet.activation_memory_bytes), both CFG halves in one call
        as the host plans its own model."""
        own = 0
        if self.planned_latent is not None:
            frames, latent_height, latent_width = self.planned_latent
            own = activation_memory_bytes(CFG_VIDEOS, frames, latent_height, latent_width,
                                          self.controlnet.compute_dtype.itemsize)
        return own + super().inference_memory_requirements(dtype)

    def get_models(self):
        return super().get_models() + [self.controlnet.patcher]

    def pre_run(self, model, percent_to_timestep_function):
        if not isinstance(model, comfy.model_base.SVD_img2vid):
            raise DragAnythingError(
                "model",
                f"the sampler's model is a {type(model).__name__}, but DragAnything controls Stable Video Diffusion "
                "img2vid only",
                "Load the SVD checkpoint with 'Image Only Checkpoint Loader (img2vid model)' and sample its MODEL, "
                "or remove the Apply DragAnything node from this graph")
        super().pre_run(model, percent_to_timestep_function)
        self.model_sampling_current = model.model_sampling

    def cleanup(self):
        self.model_sampling_current = None
        self._embedding_key = None
        self._embedding = None
        super().cleanup()

    def _condition_embedding(self, num_frames: int, latent_height: int, latent_width: int, device, dtype):
        """The ControlNet's condition embedding for this latent, built on first use and kept for the run.

        The maps are made on the CPU in compact form (Gaussian maps and an entity index) and densified on the
        device a few frames at a time, so the full-resolution 160-channel entity map never exists whole.
        """
        key = (num_frames, latent_height, latent_width, device, dtype)
        if self._embedding_key != key:
            self._embedding = None
            conditions = self.conditions.at(latent_width * LATENT_SCALE, latent_height * LATENT_SCALE, num_frames)
            network = self.controlnet.network
            chunks = []
            for start in range(0, num_frames, EMBED_FRAME_CHUNK):
                frames = slice(start, start + EMBED_FRAME_CHUNK)
                chunk = dataclasses.replace(conditions, gaussian=conditions.gaussian[frames],
                                            entity_index=conditions.entity_index[frames])
                chunks.append(network.embed_conditions(chunk.gaussian.to(device=device, dtype=dtype),
                                                       chunk.entity_map(device=device, dtype=dtype),
                                                       device=device, dtype=dtype))
            self._embedding = torch.cat(chunks)
            self._embedding_key = key
        return self._embedding

    def get_control(self, x_noisy, t, cond, batched_number, transformer_options=None, *args, **kwargs):
        control_prev = None
        if self.previous_controlnet is not None:
            control_prev = self.previous_controlnet.get_control(x_noisy, t, cond, batched_number,
                                                                transformer_options, *args, **kwargs)

        if self.timestep_range is not None and (t[0] > self.timestep_range[0] or t[0] < self.timestep_range[1]):
            return control_prev

        if transformer_options is not None and transformer_options.get("context_window") is not None:
            raise DragAnythingError(
                "model",
                "context windows are active on this model; the host does not slice ControlNet residuals per "
                "window, so DragAnything's per-frame control would land on the wrong frames",
                "Remove the context-window node from the model path (DragAnything renders the whole video in one "
                "window, 14 frames officially)")

        num_frames = int(cond["num_video_frames"])
        rows, _, latent_height, latent_width = x_noisy.shape
        if rows % num_frames:
            raise DragAnythingError(
                "latent", f"the sampler passed {rows} latent rows, not a whole number of {num_frames}-frame videos",
                "Sample a latent made by SVD_img2vid_Conditioning without batching or slicing it")
        videos = rows // num_frames
        self.planned_latent = (num_frames, latent_height, latent_width)

        dtype = self.controlnet.compute_dtype
        device = x_noisy.device
        embedding = self._condition_embedding(num_frames, latent_height, latent_width, device, dtype)

        sampling = self.model_sampling_current
        sample = torch.cat([sampling.calculate_input(t, x_noisy), cond["c_concat"].to(device)], dim=1)
        # The timestep stays fp32 up to the sinusoidal embedding, as in the host's UNet: in fp16 its rounding
        # would shift every embedding frequency.
        timestep = sampling.timestep(t)[::num_frames].float()
        context = cond.get("crossattn_controlnet", cond["c_crossattn"])[::num_frames]
        time_ids = cond["y"][::num_frames]

        down, mid = self.controlnet.residuals(
            sample.to(dtype).unflatten(0, (videos, num_frames)),
            timestep,
            comfy.model_management.cast_to_device(context, device, dtype),
            comfy.model_management.cast_to_device(time_ids, device, dtype),
            embedding,
        )
        return self.control_merge({"output": list(down), "middle": [mid]}, control_prev, output_dtype=None)

