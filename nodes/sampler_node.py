"""DragAnything SVD Sampler: the composable graph in one node, with the official defaults.

It runs exactly what the template graph runs: SVD_img2vid_Conditioning (centre crop), Apply DragAnything,
VideoLinearCFGGuidance and the host's KSampler sampling (comfy.sample.sample), then the VAE decode. Progress,
previews and cancel therefore come from the host.
"""

from __future__ import annotations

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
import torch
from comfy_api.latest import io
from comfy_extras.nodes_video_model import SVD_img2vid_Conditioning, VideoLinearCFGGuidance

from .apply_node import attach_control
from .compat import node_schema
from .types import DragConditions, DragControlNet

OFFICIAL = {"width": 576, "height": 320, "video_frames": 14, "steps": 25, "cfg": 3.0, "min_cfg": 1.0,
            "sampler_name": "euler", "scheduler": "karras", "fps": 7, "motion_bucket_id": 128,
            "augmentation_level": 0.02}
MAX_SEED = 0xFFFFFFFFFFFFFFFF


def run_core_node(node_class, **inputs):
    """Call a core node whichever API generation it uses (V1 FUNCTION, or a V3 execute classmethod)."""
    if hasattr(node_class, "FUNCTION"):
        return getattr(node_class(), node_class.FUNCTION)(**inputs)
    return tuple(node_class.execute(**inputs).result)


def sample_video(model, clip_vision, vae, image, controlnet, conditions, *, width, height, video_frames, steps,
                 cfg, min_cfg, sampler_name, scheduler, fps, motion_bucket_id, augmentation_level, seed, strength):
    """One video: latent [F, 4, h, w]."""
    # The host's SVD conditioning draws its augmentation noise from the global RNG; seeding a forked RNG makes
    # each video reproducible without disturbing anything else.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        positive, negative, latent = run_core_node(
            SVD_img2vid_Conditioning, clip_vision=clip_vision, init_image=image, vae=vae, width=width, height=height,
            video_frames=video_frames, motion_bucket_id=motion_bucket_id, fps=fps,
            augmentation_level=augmentation_level)
    positive, negative = attach_control(positive, negative, controlnet, conditions, strength, 0.0, 1.0)
    guided = run_core_node(VideoLinearCFGGuidance, model=model, min_cfg=min_cfg)[0]
    latent_image = comfy.sample.fix_empty_latent_channels(guided, latent["samples"])
    noise = comfy.sample.prepare_noise(latent_image, seed)
    callback = latent_preview.prepare_callback(guided, steps)
    return comfy.sample.sample(guided, noise, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,
                               callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)


class DragAnythingSVDSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingSVDSampler",
            search_aliases=["image to video", "img2vid", "stable video diffusion", "drag video", "trajectory video"],
            display_name="DragAnything SVD Sampler",
            category="DragAnything",
            description="Image to video with DragAnything control in one node, with the official settings (576x320, "
                        "14 frames, 25 Euler/Karras steps, per-frame CFG 1 -> 3, fps 7, motion 128, augmentation "
                        "0.02). Makes `videos` videos with successive seeds.",
            inputs=[
                io.Model.Input("model", tooltip="MODEL of the SVD img2vid checkpoint (Image Only Checkpoint Loader)."),
                io.ClipVision.Input("clip_vision"),
                io.Vae.Input("vae"),
                io.Image.Input("image", tooltip="The first frame."),
                DragControlNet.Input("controlnet"),
                DragConditions.Input("conditions"),
                io.Int.Input("seed", default=0, min=0, max=MAX_SEED, control_after_generate=True),
                io.Int.Input("videos", default=1, min=1, max=64, tooltip="Videos made, with seeds seed, seed+1, ..."),
                io.Int.Input("width", default=OFFICIAL["width"], min=64, max=4096, step=64),
                io.Int.Input("height", default=OFFICIAL["height"], min=64, max=4096, step=64),
                io.Int.Input("video_frames", default=OFFICIAL["video_frames"], min=1, max=4096),
                io.Int.Input("steps", default=OFFICIAL["steps"], min=1, max=10000),
                io.Float.Input("cfg", default=OFFICIAL["cfg"], min=0.0, max=100.0, step=0.1),
                io.Float.Input("min_cfg", default=OFFICIAL["min_cfg"], min=0.0, max=100.0, step=0.1),
                io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS,
                               default=OFFICIAL["sampler_name"]),
                io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS,
                               default=OFFICIAL["scheduler"]),
                io.Int.Input("fps", default=OFFICIAL["fps"], min=1, max=1024),
                io.Int.Input("motion_bucket_id", default=OFFICIAL["motion_bucket_id"], min=1, max=1023),
                io.Float.Input("augmentation_level", default=OFFICIAL["augmentation_level"], min=0.0, max=10.0,
                               step=0.01),
                io.Float.Input("strength", default=1.0, min=0.0, max=10.0, step=0.01),
            ],
            outputs=[io.Image.Output(display_name="images"), io.Latent.Output(display_name="latent")],
        )

    @classmethod
    def execute(cls, model, clip_vision, vae, image, controlnet, conditions, seed, videos, **settings
                ) -> io.NodeOutput:
        latents = [sample_video(model, clip_vision, vae, image, controlnet, conditions, seed=seed + index, **settings)
                   for index in range(videos)]
        samples = torch.cat(latents)
        frames = vae.decode(samples)
        if frames.ndim == 5:
            frames = frames.flatten(0, 1)
        return io.NodeOutput(frames, {"samples": samples})
