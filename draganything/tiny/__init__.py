"""DragAnything-Tiny: a small DragAnything trained by this project, shipped with it, that runs on a CPU.

The model is the full method at toy scale: an SVD-architecture image-to-video model (diffusers'
``UNetSpatioTemporalConditionModel``, ``AutoencoderKLTemporalDecoder`` and a small ``CLIPVisionModelWithProjection``)
and the DragAnything ControlNet (:class:`draganything.controlnet.DragAnythingControlNet`), trained on the
procedural sprite videos of :mod:`draganything.train.synthetic` at 128x128 pixels, 8 frames. The weights
(float16 safetensors, 15.5 MB together) sit beside this file in diffusers' folder layout; MODEL_CARD.md says how
they were trained and what they are not.

Entry points: :func:`load_tiny` (the components), :func:`tiny_pipeline` (the library's headless sampler on them),
:func:`drag_conditions` and :func:`generate` (one video from a first frame, masks and tracks), and
:func:`run_demo` (what ``python -m draganything demo`` runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..base_features import frame_features
from ..components import Components, load_components
from ..conditions import ConditionMaps, build_conditions
from ..errors import DragAnythingError
from ..pipeline import DragAnythingPipeline, build_scheduler
from ..train.synthetic import SceneConfig, SyntheticClip, generate_clip
from ..trajectory import Entity, Trajectories

TINY_DIR = Path(__file__).resolve().parent
HEIGHT = WIDTH = 128
NUM_FRAMES = 8
# The scene family the model was trained on (8-frame clips); test scenes use seeds the training set never used.
SCENE = SceneConfig(num_frames=(NUM_FRAMES, NUM_FRAMES))
TEST_SEED_BASE = 10_000_000
# Time ids the model was trained with: fps id 6 (7 fps), motion bucket 128, noise augmentation 0.02.
FPS, MOTION_BUCKET_ID, NOISE_AUG_STRENGTH = 7, 128, 0.02
TRAINED_TIME_IDS = (FPS - 1, MOTION_BUCKET_ID, NOISE_AUG_STRENGTH)
MODES = ("full", "gaussian_only", "no_control")


@dataclass(frozen=True)
class SamplingSettings:
    """How the tiny model is sampled by default: few Euler steps, mild per-frame guidance, one decode chunk."""

    num_inference_steps: int = 12
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 1.0
    decode_chunk_size: int = NUM_FRAMES


DEFAULT_SAMPLING = SamplingSettings()


def load_tiny(directory: str | Path = TINY_DIR, *, device="cpu", dtype: torch.dtype = torch.float32,
              controlnet: str | Path | None = None) -> Components:
    """The shipped model as plain diffusers components plus its DragAnything ControlNet.

    ``controlnet``: a folder holding another ControlNet for the same base (e.g. the Gaussian-only ablation,
    ``<folder>/controlnet`` or the folder itself); default the shipped one.
    """
    components = load_components(directory, dtype=dtype, device=device,
                                 require=("unet", "vae", "image_encoder", "controlnet"))
    if controlnet is not None:
        folder = Path(controlnet)
        folder = folder / "controlnet" if (folder / "controlnet" / "config.json").is_file() else folder
        if not (folder / "config.json").is_file():
            raise DragAnythingError("controlnet", f"{folder} holds no ControlNet (config.json missing)",
                                    "Point at a folder written by the controlnet training stage.")
        components.controlnet = load_components(folder.parent, dtype=dtype, device=device,
                                                require=("controlnet",)).controlnet
    return components


def tiny_pipeline(components: Components) -> DragAnythingPipeline:
    """The library's headless sampler on the tiny components."""
    pipeline = DragAnythingPipeline(vae=components.vae, image_encoder=components.image_encoder,
                                    unet=components.unet, scheduler=build_scheduler(),
                                    controlnet=components.controlnet)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def held_out_scene(index: int = 0) -> SyntheticClip:
    """A held-out synthetic clip (a seed outside the training range), the ground truth of one test video."""
    return generate_clip(TEST_SEED_BASE + index, SCENE)


def drag_conditions(components: Components, first_frame: np.ndarray, masks, tracks: np.ndarray, *,
                    anchors=None, seed: int = 0) -> ConditionMaps:
    """The ControlNet inputs for one video, built as in training.

    first_frame: uint8 [128, 128, 3]; masks: [N, 128, 128] bool, one first-frame mask per entity; tracks:
    [N, F, 2] (x, y) per entity and frame (frame 0 = where the entity is now); anchors: optional [N] bool.
    Entity embeddings are the base's own features of the first frame, pooled inside each mask.
    """
    tracks = np.asarray(tracks, np.float64)
    masks = np.asarray(masks).astype(bool)
    if tracks.ndim != 3 or tracks.shape[-1] != 2 or len(tracks) != len(masks):
        raise DragAnythingError("tracks", f"expected [N, F, 2] for {len(masks)} masks, got {tracks.shape}",
                                "Give one track of (x, y) points per entity mask.")
    anchors = np.zeros(len(tracks), bool) if anchors is None else np.asarray(anchors, bool)
    trajectories = Trajectories([Entity(id=str(k), points=track, anchor=bool(anchor))
                                 for k, (track, anchor) in enumerate(zip(tracks, anchors))],
                                width=WIDTH, height=HEIGHT)
    generator = torch.Generator(device=components.unet.device).manual_seed(seed)
    features = frame_features(components, first_frame, TRAINED_TIME_IDS, generator=generator)
    return build_conditions(trajectories, masks, features, height=HEIGHT, width=WIDTH, num_frames=tracks.shape[1],
                            binarize="threshold", resample="index")


@torch.no_grad()
def generate(components: Components, first_frame: np.ndarray, conditions: ConditionMaps, *, mode: str = "full",
             seed: int = 0, settings: SamplingSettings = DEFAULT_SAMPLING) -> np.ndarray:
    """One video, uint8 [F, H, W, 3].

    mode: "full" (Gaussian and entity maps), "gaussian_only" (entity map zeroed; meaningful with a ControlNet
    trained that way, see :func:`load_tiny`), "no_control" (the base model alone: residuals scaled by 0).
    """
    if mode not in MODES:
        raise DragAnythingError("mode", f"unknown mode {mode!r}", f"Use one of {', '.join(MODES)}.")
    pipeline = tiny_pipeline(components)
    entity = conditions.entity_map(device=components.unet.device)
    if mode == "gaussian_only":
        entity = torch.zeros_like(entity)
    image = torch.from_numpy(np.ascontiguousarray(first_frame)).permute(2, 0, 1).float() / 255
    output = pipeline(image, conditions.gaussian, entity, num_inference_steps=settings.num_inference_steps,
                      min_guidance_scale=settings.min_guidance_scale, max_guidance_scale=settings.max_guidance_scale,
                      fps=FPS, motion_bucket_id=MOTION_BUCKET_ID, noise_aug_strength=NOISE_AUG_STRENGTH,
                      conditioning_scale=0.0 if mode == "no_control" else 1.0,
                      decode_chunk_size=settings.decode_chunk_size, seed=seed)
    return (output.frames[0].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


# A held-out scene whose sprites make clear moves (test scene 1: a rectangle and a disc travel, two hold still).
DEMO_SCENE = 1
DEMO_UPSCALE = 3
DEMO_FPS = 4.0


def run_demo(out_path: str | Path = "draganything_demo.gif", *, seed: int = 0, steps: int | None = None,
             device: str = "cpu", scene: int = DEMO_SCENE) -> Path:
    """Drag the sprites of a held-out scene along their paths with the shipped model and write a GIF.

    Left: the first frame with the drawn paths (anchored entities marked with squares); right: the generated
    video with the same paths overlaid. Returns the written path. Runs on a CPU (about a dozen UNet and
    ControlNet evaluations on 8 frames of 128x128).
    """
    from ..viz import draw_tracks, side_by_side, write_gif

    out_path = Path(out_path)
    if out_path.suffix.lower() != ".gif":
        raise DragAnythingError("out_path", f"{out_path} does not end in .gif", "Name the output file *.gif.")
    if steps is not None and steps < 1:
        raise DragAnythingError("steps", f"got {steps}", "Use at least one denoising step.")
    components = load_tiny(device=device)
    clip = held_out_scene(scene)
    masks = np.stack([clip.panoptic[0] == entity for entity in clip.ids])
    conditions = drag_conditions(components, clip.frames[0], masks, clip.tracks, anchors=clip.still, seed=seed)
    settings = DEFAULT_SAMPLING if steps is None else SamplingSettings(num_inference_steps=steps)
    frames = generate(components, clip.frames[0], conditions, seed=seed, settings=settings)

    scale = DEMO_UPSCALE
    import cv2

    def upscale(video):
        return np.stack([cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
                         for frame in video])

    big_masks = np.stack([cv2.resize(mask.astype(np.uint8), None, fx=scale, fy=scale,
                                     interpolation=cv2.INTER_NEAREST) for mask in masks[1:]])
    # Paths are drawn through pixel centres of the upscaled frames.
    points = (clip.tracks[1:] + 0.5) * scale
    drawn = draw_tracks(upscale(clip.frames[:1]), points, masks=big_masks, anchors=clip.still[1:])
    result = draw_tracks(upscale(frames), points, anchors=clip.still[1:])
    return write_gif(out_path, side_by_side(drawn, result, gap=6), fps=DEMO_FPS)
