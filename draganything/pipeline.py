"""A headless DragAnything sampler on diffusers' Stable Video Diffusion components.

One denoising step: the scaled noisy latents and the first frame's VAE latents go through the DragAnything
ControlNet (its condition embedding computed once per video), and its residuals enter diffusers' SVD UNet as
the official UNet adds them (:mod:`draganything.unet`); the v-prediction is guided per frame (guidance rising
linearly from the first to the last frame) and stepped with Euler on Karras sigmas.

Two presets:

* ``"official"`` reproduces the official pipeline: the CLIP image embedding from the un-normalised image, the
  time ids fixed at (6, 128, 0.02) whatever fps / motion bucket / noise augmentation are asked for, and the
  temporal cross-attention context layout of diffusers before 0.28, which the official run had.
* ``"default"`` fixes those defects: CLIP's mean/std normalisation, time ids from the ``fps``,
  ``motion_bucket_id`` and ``noise_aug_strength`` arguments, and the corrected context layout.

Both feed the control to both classifier-free-guidance halves, as the official pipeline does.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import (
    AutoencoderKLTemporalDecoder,
    DiffusionPipeline,
    EulerDiscreteScheduler,
    UNetSpatioTemporalConditionModel,
)
from diffusers.utils import BaseOutput, deprecation_utils
from PIL import Image
from transformers import CLIPVisionModelWithProjection

from .components import image_embedding
from .controlnet import OFFICIAL_TIME_IDS, DragAnythingControlNet, time_ids
from .errors import DragAnythingError, check_choice, check_positive_int
from .unet import legacy_temporal_context, unet_forward_with_residuals
from .weights import load_controlnet, parse_dtype

# stabilityai/stable-video-diffusion-img2vid scheduler/scheduler_config.json: Karras sigmas from 700 to 0.002,
# v-prediction, network timesteps 0.25 * ln(sigma).
SVD_SCHEDULER_CONFIG: dict = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "use_karras_sigmas": True,
    "sigma_min": 0.002,
    "sigma_max": 700.0,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "steps_offset": 1,
    "interpolation_type": "linear",
    "trained_betas": None,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
}

# The released UNet's up path doubles sizes without being told the target size: latents (pixels / 8) must
# halve evenly three times.
SIZE_MULTIPLE = 64

SVD_HINT = (
    "Pass a local copy of stabilityai/stable-video-diffusion-img2vid in diffusers' layout (model_index.json with "
    "unet/, vae/ and image_encoder/ subfolders); DragAnything was trained on the 14-frame img2vid model"
)


@dataclass(frozen=True)
class SamplingPreset:
    """Choices where the official pipeline differs from SVD's intended use.

    ``normalize_clip_input``: apply CLIP's mean/std to the image before the image encoder (SVD's intended
    preprocessing; the official pipeline skips it). ``fixed_time_ids``: send these (fps id, motion bucket,
    noise augmentation) instead of the call's arguments. ``legacy_temporal_context``: the pre-0.28 diffusers
    temporal cross-attention context layout (changes results only when more than one video is in the batch,
    i.e. always under classifier-free guidance). ``control_unconditional``: feed the control to the
    unconditional half of classifier-free guidance too.
    """

    name: str
    normalize_clip_input: bool
    fixed_time_ids: tuple[float, float, float] | None
    legacy_temporal_context: bool
    control_unconditional: bool = True


OFFICIAL_PRESET = SamplingPreset(
    "official", normalize_clip_input=False, fixed_time_ids=OFFICIAL_TIME_IDS, legacy_temporal_context=True
)
DEFAULT_PRESET = SamplingPreset(
    "default", normalize_clip_input=True, fixed_time_ids=None, legacy_temporal_context=False
)
PRESETS = {preset.name: preset for preset in (DEFAULT_PRESET, OFFICIAL_PRESET)}


class SamplingCancelled(Exception):
    """Raised between denoising steps when the caller's ``should_cancel`` returns True."""

    def __init__(self, step: int, num_steps: int):
        self.step = step
        super().__init__(f"sampling cancelled before step {step + 1} of {num_steps}")


@dataclass
class DragAnythingPipelineOutput(BaseOutput):
    """``frames`` [V,F,3,H,W] float in 0..1 on the CPU (None when not decoded); ``latents`` [V,F,4,H/8,W/8]."""

    frames: torch.Tensor | None
    latents: torch.Tensor


def build_scheduler() -> EulerDiscreteScheduler:
    """SVD's Euler scheduler, from its released config (no download)."""
    return EulerDiscreteScheduler.from_config(SVD_SCHEDULER_CONFIG)


class DragAnythingPipeline(DiffusionPipeline):
    """Image + trajectory conditions -> video, with diffusers' SVD UNet, VAE and CLIP image encoder.

    Load SVD from a diffusers folder with ``DragAnythingPipeline.from_pretrained(svd_dir, controlnet=...)``
    or :func:`load_pipeline`; offloading (``enable_model_cpu_offload``) and ``.to()`` come from diffusers.
    """

    # The ControlNet alternates with the UNet every step, so it stays out of the chain: with model offload it
    # gets its own hook and stays on the accelerator once used.
    model_cpu_offload_seq = "image_encoder->unet->vae"
    _optional_components = ["feature_extractor", "controlnet"]

    def __init__(
        self,
        vae: AutoencoderKLTemporalDecoder,
        image_encoder: CLIPVisionModelWithProjection,
        unet: UNetSpatioTemporalConditionModel,
        scheduler: EulerDiscreteScheduler,
        controlnet: DragAnythingControlNet | None,
        feature_extractor=None,
    ):
        super().__init__()
        # feature_extractor is accepted so SVD folders load as they are; CLIP's normalisation constants are
        # applied directly (they are SVD's feature extractor's values).
        self.register_modules(
            vae=vae,
            image_encoder=image_encoder,
            unet=unet,
            scheduler=scheduler,
            controlnet=controlnet,
            feature_extractor=feature_extractor,
        )
        # Pixels per latent cell, from the VAE's own depth (8 for SVD's), as diffusers' SVD pipeline derives it.
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)

    @torch.no_grad()
    def __call__(
        self,
        image: torch.Tensor | Image.Image,
        gaussian: torch.Tensor,
        entity: torch.Tensor,
        *,
        preset: str | SamplingPreset = "default",
        num_inference_steps: int = 25,
        min_guidance_scale: float = 1.0,
        max_guidance_scale: float = 3.0,
        fps: int = 7,
        motion_bucket_id: int = 127,
        noise_aug_strength: float = 0.02,
        conditioning_scale: float = 1.0,
        decode_chunk_size: int = 8,
        num_videos: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        image_noise: torch.Tensor | None = None,
        condition_frame_chunk_size: int | None = None,
        decode: bool = True,
        callback: Callable[[int, int, torch.Tensor], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> DragAnythingPipelineOutput:
        """Sample ``num_videos`` videos of F frames, F being the conditions' frame count.

        ``image``: the first frame at model size, a [3,H,W] (or [1,3,H,W]) float tensor in 0..1 or a PIL image;
        H and W must be multiples of 64 (320x576 for the released model). ``gaussian`` [F,3,H,W] in 0..255 and
        ``entity`` [F,160,H,W]: the conditioning maps (``draganything.conditions``); a pipeline built with
        ``controlnet=None`` samples plain SVD and reads only their frame count. ``fps`` is the video's
        frame rate (SVD is conditioned on fps - 1). Randomness: a CPU generator seeded with ``seed`` (or
        ``generator``) draws the noise-augmentation noise [1,3,H,W], then the initial latent noise
        [num_videos,F,4,h,w] (h, w = H, W / ``vae_scale_factor``), in the official order; ``image_noise`` and ``noise`` (unit variance) replace
        them. ``callback(step, num_steps, latents)`` runs after every step; ``should_cancel()`` is checked before
        every step and raises :class:`SamplingCancelled` when it returns True.
        """
        preset = _resolve_preset(preset)
        pixels = _image_tensor(image)
        height, width = pixels.shape[-2:]
        _check_size(height, width)
        num_frames = _check_conditions(gaussian, entity, height, width)
        _check_positive(
            num_inference_steps=num_inference_steps, decode_chunk_size=decode_chunk_size, num_videos=num_videos
        )

        device = self._execution_device
        dtype = self.unet.dtype
        do_cfg = max_guidance_scale > 1.0
        latent_cells = (height // self.vae_scale_factor, width // self.vae_scale_factor)
        latent_shape = (num_videos, num_frames, self.vae.config.latent_channels, *latent_cells)

        if generator is not None and seed is not None:
            raise DragAnythingError("seed", "both a seed and a generator were given", "pass one of them")
        if generator is None:
            generator = torch.Generator("cpu")
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
        if image_noise is None:
            image_noise = torch.randn(pixels.shape, generator=generator, device=generator.device)
        if noise is None:
            noise = torch.randn(latent_shape, generator=generator, device=generator.device)
        _check_noise(image_noise, tuple(pixels.shape), "image_noise")
        _check_noise(noise, latent_shape, "noise")

        # Conditioning that does not change during sampling; the batch is [unconditional..., conditional...].
        image_embeddings = self._encode_image(pixels.to(device), preset.normalize_clip_input).to(dtype)
        image_embeddings = image_embeddings.repeat(num_videos, 1, 1)
        image_latents = self._encode_vae_image(pixels.to(device), image_noise.to(device), noise_aug_strength)
        image_latents = image_latents.to(dtype).repeat(num_videos, 1, 1, 1).unsqueeze(1).repeat(1, num_frames, 1, 1, 1)
        added_time_ids = time_ids(
            *(preset.fixed_time_ids or (fps - 1, motion_bucket_id, noise_aug_strength)),
            batch_size=num_videos,
            dtype=dtype,
            device=device,
        )
        if do_cfg:
            image_embeddings = torch.cat([torch.zeros_like(image_embeddings), image_embeddings])
            image_latents = torch.cat([torch.zeros_like(image_latents), image_latents])
            added_time_ids = torch.cat([added_time_ids, added_time_ids])
        condition_embedding = None
        if self.controlnet is not None:
            condition_embedding = self.controlnet.embed_conditions(
                gaussian.to(device), entity.to(device), frame_chunk_size=condition_frame_chunk_size
            )
        guidance = torch.linspace(min_guidance_scale, max_guidance_scale, num_frames, device=device, dtype=dtype)
        guidance = guidance.reshape(1, num_frames, 1, 1, 1)

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        latents = noise.to(device=device, dtype=dtype) * self.scheduler.init_noise_sigma

        with ExitStack() as stack:
            if preset.legacy_temporal_context:
                networks = (self.unet,) if self.controlnet is None else (self.unet, self.controlnet)
                stack.enter_context(legacy_temporal_context(*networks))
            progress = stack.enter_context(self.progress_bar(total=num_inference_steps))
            for step, timestep in enumerate(self.scheduler.timesteps):
                if should_cancel is not None and should_cancel():
                    raise SamplingCancelled(step, num_inference_steps)
                model_input = torch.cat([latents] * 2) if do_cfg else latents
                model_input = self.scheduler.scale_model_input(model_input, timestep)
                model_input = torch.cat([model_input, image_latents], dim=2)
                if self.controlnet is None:
                    velocity = self.unet(
                        model_input, timestep, image_embeddings, added_time_ids, return_dict=False
                    )[0]
                else:
                    residuals = self._control_residuals(
                        model_input,
                        timestep,
                        image_embeddings,
                        added_time_ids,
                        condition_embedding,
                        conditioning_scale,
                        skip_unconditional=do_cfg and not preset.control_unconditional,
                    )
                    velocity = unet_forward_with_residuals(
                        self.unet, model_input, timestep, image_embeddings, added_time_ids, *residuals
                    )
                if do_cfg:
                    unconditional, conditional = velocity.chunk(2)
                    velocity = unconditional + guidance * (conditional - unconditional)
                latents = self.scheduler.step(velocity, timestep, latents).prev_sample
                if callback is not None:
                    callback(step, num_inference_steps, latents)
                progress.update()

        frames = self.decode_latents(latents, decode_chunk_size) if decode else None
        self.maybe_free_model_hooks()
        return DragAnythingPipelineOutput(frames=frames, latents=latents)

    def _encode_image(self, pixels: torch.Tensor, normalize: bool) -> torch.Tensor:
        """CLIP image embedding [1,1,D] of a [1,3,H,W] image in 0..1 (SVD's antialiased resize to 224)."""
        return image_embedding(self.image_encoder, pixels, normalize)

    def _encode_vae_image(self, pixels: torch.Tensor, image_noise: torch.Tensor, strength: float) -> torch.Tensor:
        """The VAE posterior mode [1,4,h,w] of the noise-augmented image in -1..1, unscaled (as SVD uses it)."""
        augmented = pixels.float() * 2 - 1 + strength * image_noise.float()
        with self._vae_in_safe_dtype():
            return self.vae.encode(augmented.to(self.vae.dtype)).latent_dist.mode()

    def _control_residuals(
        self,
        model_input,
        timestep,
        image_embeddings,
        added_time_ids,
        condition_embedding,
        conditioning_scale,
        skip_unconditional,
    ):
        # Without control on the unconditional CFG half, only the conditional half runs the ControlNet and the
        # unconditional half gets zero residuals.
        start = model_input.shape[0] // 2 if skip_unconditional else 0
        down, mid = self.controlnet(
            model_input[start:],
            timestep,
            image_embeddings[start:],
            added_time_ids[start:],
            condition_embedding,
            conditioning_scale=conditioning_scale,
            return_dict=False,
        )
        if not start:
            return down, mid
        return [torch.cat([torch.zeros_like(r), r]) for r in down], torch.cat([torch.zeros_like(mid), mid])

    def decode_latents(self, latents: torch.Tensor, decode_chunk_size: int = 8) -> torch.Tensor:
        """[V,F,4,h,w] latents -> [V,F,3,H,W] frames in 0..1 (float32, CPU).

        The temporal decoder mixes the frames it decodes together, so the chunk size changes the result; the
        official pipeline decodes 8 frames at a time.
        """
        num_videos, num_frames = latents.shape[:2]
        scaled = latents.flatten(0, 1) / self.vae.config.scaling_factor
        with self._vae_in_safe_dtype():
            frames = torch.cat(
                [
                    self.vae.decode(chunk.to(self.vae.dtype), num_frames=chunk.shape[0]).sample.float().cpu()
                    for chunk in scaled.split(decode_chunk_size)
                ]
            )
        return (frames / 2 + 0.5).clamp(0, 1).unflatten(0, (num_videos, num_frames))

    def _vae_in_safe_dtype(self):
        """fp16 VAEs with ``force_upcast`` (SVD's) run in fp32 for the call, as diffusers' SVD pipeline does."""
        stack = ExitStack()
        if self.vae.dtype == torch.float16 and self.vae.config.force_upcast:
            self.vae.to(dtype=torch.float32)
            stack.callback(self.vae.to, dtype=torch.float16)
        return stack


def load_pipeline(
    svd_path: str | Path,
    controlnet_path: str | Path,
    *,
    dtype: torch.dtype | str = torch.float32,
    device: torch.device | str = "cpu",
) -> DragAnythingPipeline:
    """SVD img2vid from a diffusers folder plus the DragAnything ControlNet (strictly checked), ready to sample.

    The scheduler is always SVD's released configuration (:data:`SVD_SCHEDULER_CONFIG`).
    """
    svd_folder = Path(svd_path).expanduser()
    if not (svd_folder / "model_index.json").is_file():
        raise DragAnythingError(
            "svd_path",
            f"{svd_folder} is not a diffusers pipeline folder (no model_index.json)",
            SVD_HINT,
        )
    dtype = parse_dtype(dtype)
    controlnet = load_controlnet(controlnet_path, dtype=dtype, device=device)
    # diffusers renamed from_pretrained's torch_dtype to dtype (the old name now warns); use what it has.
    dtype_keyword = "dtype" if hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"
    try:
        pipeline = DragAnythingPipeline.from_pretrained(
            svd_folder, controlnet=controlnet, scheduler=build_scheduler(), **{dtype_keyword: dtype}
        )
    except (OSError, ValueError) as error:
        problem = f"{svd_folder} could not be loaded as a diffusers Stable Video Diffusion folder ({error})"
        raise DragAnythingError("svd_path", problem, SVD_HINT) from None
    return pipeline.to(device)


def _resolve_preset(preset: str | SamplingPreset) -> SamplingPreset:
    if isinstance(preset, SamplingPreset):
        return preset
    check_choice("preset", preset, tuple(sorted(PRESETS)), "a sampling preset", "or pass a SamplingPreset")
    return PRESETS[preset]


def _image_tensor(image: torch.Tensor | Image.Image) -> torch.Tensor:
    """[1,3,H,W] float in 0..1."""
    if isinstance(image, Image.Image):
        image = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4) or image.shape[-3] != 3:
        described = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise DragAnythingError(
            "image", f"expected a [3,H,W] or [1,3,H,W] RGB tensor or a PIL image, got {described}",
            "pass the first frame as a channels-first float tensor in 0..1",
        )  # fmt: skip
    if image.ndim == 4 and image.shape[0] != 1:
        raise DragAnythingError(
            "image", f"got a batch of {image.shape[0]} images", "pass one first frame; use num_videos for more videos"
        )
    if not image.is_floating_point() or image.min() < 0 or image.max() > 1:
        raise DragAnythingError("image", "values must be floats in 0..1", "divide 8-bit images by 255")
    return image.reshape(1, *image.shape[-3:])


def _check_size(height: int, width: int) -> None:
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise DragAnythingError(
            "image",
            f"its size {height}x{width} (HxW) is not a multiple of {SIZE_MULTIPLE} on both sides, which the SVD UNet's "
            "up path needs",
            f"resize (and the conditions with it) to multiples of {SIZE_MULTIPLE}, e.g. 320x576 as the model was "
            f"trained, or {height // SIZE_MULTIPLE * SIZE_MULTIPLE or SIZE_MULTIPLE}x"
            f"{width // SIZE_MULTIPLE * SIZE_MULTIPLE or SIZE_MULTIPLE}",
        )


def _check_conditions(gaussian: torch.Tensor, entity: torch.Tensor, height: int, width: int) -> int:
    for name, maps in (("gaussian", gaussian), ("entity", entity)):
        if maps.ndim != 4 or tuple(maps.shape[-2:]) != (height, width):
            raise DragAnythingError(
                name,
                f"expected [F,C,{height},{width}] maps matching the image, got shape {tuple(maps.shape)}",
                "build the conditions at the image's size (draganything.conditions)",
            )
    if gaussian.shape[0] != entity.shape[0] or gaussian.shape[0] == 0:
        raise DragAnythingError(
            "entity",
            f"{entity.shape[0]} entity frames for {gaussian.shape[0]} Gaussian frames",
            "build both maps for the same, non-zero number of frames",
        )
    return gaussian.shape[0]


def _check_noise(noise: torch.Tensor, shape: tuple[int, ...], name: str) -> None:
    if tuple(noise.shape) != shape:
        problem = f"expected shape {list(shape)}, got {list(noise.shape)}"
        raise DragAnythingError(name, problem, "pass noise of that shape, or leave it out to draw it from the seed")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        check_positive_int(name, value, "a positive integer")

