"""Writes the example workflows from one description each: the UI workflow (<name>.json, what the frontend lists
as this pack's templates), its thumbnail (<name>.jpg) and the API-format twin (api/<name>.json, what the host
tests queue). Run from the project root after changing a graph:

    python example_workflows/make_examples.py

The templates carry the official settings (576x320, 14 frames, fps 7, motion bucket 128, augmentation 0.02;
25 Euler/Karras steps, per-frame CFG 1 -> 3). tests/host/test_example_workflows.py checks them against a
running host and queues every twin.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parent

EXAMPLE_IMAGE = "draganything_example.png"
OFFICIAL = {"width": 576, "height": 320, "video_frames": 14, "fps": 7, "motion_bucket_id": 128,
            "augmentation_level": 0.02, "steps": 25, "cfg": 3.0, "min_cfg": 1.0, "sampler_name": "euler",
            "scheduler": "karras"}

SVD_FILE = "svd.safetensors"
SD15_FILE = "v1-5-pruned-emaonly-fp16.safetensors"
CONTROLNET_FILE = "draganything.safetensors"
MODELS = {
    SVD_FILE: {"name": SVD_FILE, "directory": "checkpoints",
               "url": "https://huggingface.co/stabilityai/stable-video-diffusion-img2vid/resolve/main/svd.safetensors"},
    SD15_FILE: {"name": SD15_FILE, "directory": "checkpoints",
                "url": "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/"
                       "v1-5-pruned-emaonly-fp16.safetensors"},
    CONTROLNET_FILE: {"name": CONTROLNET_FILE, "directory": "draganything",
                      "url": "https://huggingface.co/weijiawu/DragAnything/resolve/main/"
                             "diffusion_pytorch_model.safetensors"},
}

# Wan-Move (Wan 2.1 image-to-video 14B fine-tuned on point tracks) as ComfyUI's own Wan-Move template loads it: the
# same files and folders, with the LightX2V step-distillation LoRA for 6 steps at CFG 1.
WAN_MOVE_FILE = "Wan21-WanMove_fp8_scaled_e4m3fn_KJ.safetensors"
WAN_LORA_FILE = "lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors"
WAN_TEXT_FILE = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
WAN_VAE_FILE = "wan_2.1_vae.safetensors"
WAN_CLIP_VISION_FILE = "clip_vision_h.safetensors"
WAN_REPACKAGED = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files/"
MODELS.update({
    WAN_MOVE_FILE: {"name": WAN_MOVE_FILE, "directory": "diffusion_models",
                    "url": "https://huggingface.co/Kijai/WanVideo_comfy_fp8_scaled/resolve/main/WanMove/"
                           + WAN_MOVE_FILE},
    WAN_LORA_FILE: {"name": WAN_LORA_FILE, "directory": "loras",
                    "url": "https://huggingface.co/Kijai/WanVideo_comfy/resolve/main/Lightx2v/" + WAN_LORA_FILE},
    WAN_TEXT_FILE: {"name": WAN_TEXT_FILE, "directory": "text_encoders",
                    "url": WAN_REPACKAGED + "text_encoders/" + WAN_TEXT_FILE},
    WAN_VAE_FILE: {"name": WAN_VAE_FILE, "directory": "vae", "url": WAN_REPACKAGED + "vae/" + WAN_VAE_FILE},
    WAN_CLIP_VISION_FILE: {"name": WAN_CLIP_VISION_FILE, "directory": "clip_vision",
                           "url": WAN_REPACKAGED + "clip_vision/" + WAN_CLIP_VISION_FILE},
})
# Wan-Move's 480p settings: 832x480, 81 frames at 16 fps; 6 er_sde/simple steps at CFG 1 with the LoRA, shift 5.
WAN = {"width": 832, "height": 480, "length": 81, "fps": 16.0, "steps": 6, "cfg": 1.0, "sampler_name": "er_sde",
       "scheduler": "simple", "shift": 5.0}
WAN_PROMPT = "a red car drives along the road under a drifting hot-air balloon, the camera slowly zooms in"
WAN_NEGATIVE = "static, blurry, low quality, distorted, deformed, watermark, text"

# DragAnything-Tiny (shipped in the package, loaded by its own node) is sampled as it was trained: 8 frames, a
# 128-pixel short side (256x128 keeps the example's aspect), 12 Euler/Karras steps at CFG 1.
TINY = {"width": 256, "height": 128, "video_frames": 8, "fps": 7, "motion_bucket_id": 128,
        "augmentation_level": 0.02, "steps": 12, "cfg": 1.0, "min_cfg": 1.0, "sampler_name": "euler",
        "scheduler": "karras"}

# Widget inputs of every node used, in the order the frontend stores them in widgets_values. "+control" marks
# an INT seed followed by its control_after_generate value. Checked against /object_info by the host tests.
WIDGETS = {
    "LoadImage": ["image", "+upload"],
    "ImageOnlyCheckpointLoader": ["ckpt_name"],
    "CheckpointLoaderSimple": ["ckpt_name"],
    "SVD_img2vid_Conditioning": ["width", "height", "video_frames", "motion_bucket_id", "fps", "augmentation_level"],
    "VideoLinearCFGGuidance": ["min_cfg"],
    "KSampler": ["seed", "+control", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "VAEDecode": [],
    "SaveAnimatedWEBP": ["filename_prefix", "fps", "lossless", "quality", "method"],
    "PreviewImage": [],
    "DragAnythingControlNetLoader": ["controlnet_name", "dtype", "compile"],
    "DragAnythingTinyLoader": [],
    "DragAnythingTinyEntityEmbeddings": ["seed", "+control", "width", "height", "framing", "timestep",
                                         "ensemble_size"],
    "DragAnythingTrajectories": ["trajectories", "tracks_frames"],
    "DragAnythingEntityEmbeddings": ["seed", "+control", "width", "height", "framing", "timestep", "ensemble_size"],
    "DragAnythingConditions": ["entity_mode", "resampling", "framing", "radius_overrides", "preview_width",
                               "preview_height", "preview_frames"],
    "DragAnythingApply": ["strength", "start_percent", "end_percent"],
    "DragAnythingSVDSampler": ["seed", "+control", "videos", "width", "height", "video_frames", "steps", "cfg",
                               "min_cfg", "sampler_name", "scheduler", "fps", "motion_bucket_id",
                               "augmentation_level", "strength"],
    "DragAnythingVisualizeTrajectories": ["framing", "resampling"],
    "DragAnythingCameraMove": ["zoom", "orbit", "pan_x", "pan_y", "centre_x", "centre_y", "frames", "easing"],
    "DragAnythingEntityTracks": ["width", "height", "length", "points_per_entity", "resampling", "framing"],
    "UNETLoader": ["unet_name", "weight_dtype"],
    "LoraLoaderModelOnly": ["lora_name", "strength_model"],
    "ModelSamplingSD3": ["shift"],
    "CLIPLoader": ["clip_name", "type", "device"],
    "CLIPTextEncode": ["text"],
    "VAELoader": ["vae_name"],
    "CLIPVisionLoader": ["clip_name"],
    "CLIPVisionEncode": ["crop"],
    "WanMoveTrackToVideo": ["strength", "width", "height", "length", "batch_size"],
    "ImageScale": ["upscale_method", "width", "height", "crop"],
    "WanMoveVisualizeTracks": ["line_resolution", "circle_size", "opacity", "line_width"],
    "CreateVideo": ["fps"],
    "SaveVideo": ["filename_prefix", "format", "codec"],
}
# Socket inputs (links) in declaration order, and outputs (name, type).
SOCKETS = {
    "LoadImage": ([], [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "ImageOnlyCheckpointLoader": ([], [("MODEL", "MODEL"), ("CLIP_VISION", "CLIP_VISION"), ("VAE", "VAE")]),
    "CheckpointLoaderSimple": ([], [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")]),
    "SVD_img2vid_Conditioning": ([("clip_vision", "CLIP_VISION"), ("init_image", "IMAGE"), ("vae", "VAE")],
                                 [("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")]),
    "VideoLinearCFGGuidance": ([("model", "MODEL")], [("MODEL", "MODEL")]),
    "KSampler": ([("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                  ("latent_image", "LATENT")], [("LATENT", "LATENT")]),
    "VAEDecode": ([("samples", "LATENT"), ("vae", "VAE")], [("IMAGE", "IMAGE")]),
    "SaveAnimatedWEBP": ([("images", "IMAGE")], []),
    "PreviewImage": ([("images", "IMAGE")], []),
    "DragAnythingControlNetLoader": ([], [("controlnet", "DRAGANYTHING_CONTROLNET")]),
    "DragAnythingTinyLoader": ([], [("model", "MODEL"), ("clip_vision", "CLIP_VISION"), ("vae", "VAE"),
                                    ("controlnet", "DRAGANYTHING_CONTROLNET"),
                                    ("entity_encoder", "DRAGANYTHING_ENTITY_ENCODER")]),
    "DragAnythingTinyEntityEmbeddings": ([("entity_encoder", "DRAGANYTHING_ENTITY_ENCODER"), ("image", "IMAGE"),
                                          ("masks", "MASK")], [("embeddings", "DRAGANYTHING_EMBEDDINGS")]),
    "DragAnythingTrajectories": ([("image", "IMAGE"), ("sam", "DRAGANYTHING_SAM"), ("tracks", "TRACKS"),
                                  ("masks", "MASK")],
                                 [("trajectories", "DRAGANYTHING_TRAJECTORIES"), ("masks", "MASK"),
                                  ("tracks", "TRACKS"), ("info", "STRING")]),
    "DragAnythingEntityEmbeddings": ([("model", "MODEL"), ("clip", "CLIP"), ("vae", "VAE"), ("image", "IMAGE"),
                                      ("masks", "MASK")], [("embeddings", "DRAGANYTHING_EMBEDDINGS")]),
    "DragAnythingConditions": ([("trajectories", "DRAGANYTHING_TRAJECTORIES"), ("masks", "MASK"),
                                ("embeddings", "DRAGANYTHING_EMBEDDINGS"), ("image", "IMAGE")],
                               [("conditions", "DRAGANYTHING_CONDITIONS"), ("preview", "IMAGE")]),
    "DragAnythingApply": ([("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                           ("controlnet", "DRAGANYTHING_CONTROLNET"), ("conditions", "DRAGANYTHING_CONDITIONS")],
                          [("positive", "CONDITIONING"), ("negative", "CONDITIONING")]),
    "DragAnythingSVDSampler": ([("model", "MODEL"), ("clip_vision", "CLIP_VISION"), ("vae", "VAE"),
                                ("image", "IMAGE"), ("controlnet", "DRAGANYTHING_CONTROLNET"),
                                ("conditions", "DRAGANYTHING_CONDITIONS")],
                               [("images", "IMAGE"), ("latent", "LATENT")]),
    "DragAnythingVisualizeTrajectories": ([("images", "IMAGE"), ("trajectories", "DRAGANYTHING_TRAJECTORIES"),
                                           ("masks", "MASK"), ("conditions", "DRAGANYTHING_CONDITIONS")],
                                          [("images", "IMAGE")]),
    "DragAnythingCameraMove": ([("trajectories", "DRAGANYTHING_TRAJECTORIES")],
                               [("trajectories", "DRAGANYTHING_TRAJECTORIES")]),
    "DragAnythingEntityTracks": ([("trajectories", "DRAGANYTHING_TRAJECTORIES"), ("masks", "MASK")],
                                 [("tracks", "TRACKS")]),
    "UNETLoader": ([], [("MODEL", "MODEL")]),
    "LoraLoaderModelOnly": ([("model", "MODEL")], [("MODEL", "MODEL")]),
    "ModelSamplingSD3": ([("model", "MODEL")], [("MODEL", "MODEL")]),
    "CLIPLoader": ([], [("CLIP", "CLIP")]),
    "CLIPTextEncode": ([("clip", "CLIP")], [("CONDITIONING", "CONDITIONING")]),
    "VAELoader": ([], [("VAE", "VAE")]),
    "CLIPVisionLoader": ([], [("CLIP_VISION", "CLIP_VISION")]),
    "CLIPVisionEncode": ([("clip_vision", "CLIP_VISION"), ("image", "IMAGE")],
                         [("CLIP_VISION_OUTPUT", "CLIP_VISION_OUTPUT")]),
    "WanMoveTrackToVideo": ([("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("vae", "VAE"),
                             ("tracks", "TRACKS"), ("start_image", "IMAGE"),
                             ("clip_vision_output", "CLIP_VISION_OUTPUT")],
                            [("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")]),
    "ImageScale": ([("image", "IMAGE")], [("IMAGE", "IMAGE")]),
    "WanMoveVisualizeTracks": ([("images", "IMAGE"), ("tracks", "TRACKS")], [("IMAGE", "IMAGE")]),
    "CreateVideo": ([("images", "IMAGE"), ("audio", "AUDIO")], [("VIDEO", "VIDEO")]),
    "SaveVideo": ([("video", "VIDEO")], []),
}


NODE_SIZE = [320, 260]
# The trajectory editor needs about 560x720 and enlarges only nodes it creates, so the templates' Trajectories
# nodes are that size; the columns right of them move over by the extra width.
TRAJECTORIES_SIZE = [560, 720]
TRAJECTORIES_COLUMN = 360


def layout(node: Node) -> tuple[list[int], list[int]]:
    """(pos, size) of a node in the UI workflow."""
    x, y = node.pos
    if x > TRAJECTORIES_COLUMN:
        x += TRAJECTORIES_SIZE[0] - NODE_SIZE[0]
    size = TRAJECTORIES_SIZE if node.type == "DragAnythingTrajectories" else NODE_SIZE
    return [x, y], list(size)


@dataclass
class Node:
    id: int
    type: str
    widgets: dict = field(default_factory=dict)
    links: dict = field(default_factory=dict)  # input name -> (node id, output index)
    title: str | None = None
    pos: tuple[int, int] = (0, 0)


def trajectories_json(entity_ids: list[str]) -> str:
    """The shipped example scene's entities (a car, a balloon, the road held still), spread over any length."""
    sys.path.insert(0, str(PROJECT_DIR))
    from draganything.assets import EXAMPLE_TRAJECTORIES

    document = json.loads(EXAMPLE_TRAJECTORIES.read_text())
    document["num_frames"] = None
    document["image"] = EXAMPLE_IMAGE
    entities = {entity["id"]: entity for entity in document["entities"]}
    document["entities"] = [dict(entities[name], frames=None, mask_name=None) for name in entity_ids]
    return json.dumps(document, indent=1)


def shared_front(nodes: list[Node], entity_ids: list[str]) -> None:
    """Loaders, first frame, trajectories, entity embeddings and conditions (ids 1-7)."""
    nodes += [
        Node(1, "LoadImage", {"image": EXAMPLE_IMAGE, "+upload": "image"}, pos=(0, 0), title="First frame"),
        Node(2, "ImageOnlyCheckpointLoader", {"ckpt_name": SVD_FILE}, pos=(0, 420), title="Load SVD img2vid"),
        Node(3, "CheckpointLoaderSimple", {"ckpt_name": SD15_FILE}, pos=(0, 620),
             title="Load SD-1.5 (entity features; officially ChilloutMix)"),
        Node(4, "DragAnythingControlNetLoader", {"controlnet_name": CONTROLNET_FILE, "dtype": "auto", "compile": False},
             pos=(0, 820)),
        Node(5, "DragAnythingTrajectories", {"trajectories": trajectories_json(entity_ids), "tracks_frames": 14},
             {"image": (1, 0)}, pos=(360, 0)),
        Node(6, "DragAnythingEntityEmbeddings",
             {"seed": 0, "+control": "fixed", "width": OFFICIAL["width"], "height": OFFICIAL["height"],
              "framing": "center_crop", "timestep": 261, "ensemble_size": 8},
             {"model": (3, 0), "clip": (3, 1), "vae": (3, 2), "image": (1, 0), "masks": (5, 1)}, pos=(760, 420)),
        Node(7, "DragAnythingConditions",
             {"entity_mode": "trained", "resampling": "pchip", "framing": "center_crop", "radius_overrides": "",
              "preview_width": OFFICIAL["width"], "preview_height": OFFICIAL["height"],
              "preview_frames": OFFICIAL["video_frames"]},
             {"trajectories": (5, 0), "masks": (5, 1), "embeddings": (6, 0), "image": (1, 0)}, pos=(1120, 0)),
        Node(8, "PreviewImage", {}, {"images": (7, 1)}, pos=(1480, 0), title="Conditioning preview"),
    ]


def composable() -> list[Node]:
    nodes: list[Node] = []
    shared_front(nodes, ["car"])
    nodes += [
        Node(9, "SVD_img2vid_Conditioning", {key: OFFICIAL[key] for key in WIDGETS["SVD_img2vid_Conditioning"]},
             {"clip_vision": (2, 1), "init_image": (1, 0), "vae": (2, 2)}, pos=(760, 820)),
        Node(10, "DragAnythingApply", {"strength": 1.0, "start_percent": 0.0, "end_percent": 1.0},
             {"positive": (9, 0), "negative": (9, 1), "controlnet": (4, 0), "conditions": (7, 0)}, pos=(1120, 520)),
        Node(11, "VideoLinearCFGGuidance", {"min_cfg": OFFICIAL["min_cfg"]}, {"model": (2, 0)}, pos=(1120, 820)),
        Node(12, "KSampler",
             {"seed": 0, "+control": "fixed", "steps": OFFICIAL["steps"], "cfg": OFFICIAL["cfg"],
              "sampler_name": OFFICIAL["sampler_name"], "scheduler": OFFICIAL["scheduler"], "denoise": 1.0},
             {"model": (11, 0), "positive": (10, 0), "negative": (10, 1), "latent_image": (9, 2)}, pos=(1480, 520)),
        Node(13, "VAEDecode", {}, {"samples": (12, 0), "vae": (2, 2)}, pos=(1840, 520)),
        Node(14, "SaveAnimatedWEBP", {"filename_prefix": "DragAnything/composable", "fps": float(OFFICIAL["fps"]),
                                      "lossless": False, "quality": 90, "method": "default"},
             {"images": (13, 0)}, pos=(2100, 520)),
    ]
    return nodes


def one_node(entity_ids: list[str], prefix: str) -> list[Node]:
    nodes: list[Node] = []
    shared_front(nodes, entity_ids)
    sampler_widgets = {"seed": 0, "+control": "fixed", "videos": 1, "strength": 1.0,
                       **{key: OFFICIAL[key] for key in ("width", "height", "video_frames", "steps", "cfg", "min_cfg",
                                                         "sampler_name", "scheduler", "fps", "motion_bucket_id",
                                                         "augmentation_level")}}
    nodes += [
        Node(9, "DragAnythingSVDSampler", sampler_widgets,
             {"model": (2, 0), "clip_vision": (2, 1), "vae": (2, 2), "image": (1, 0), "controlnet": (4, 0),
              "conditions": (7, 0)}, pos=(1120, 520)),
        Node(10, "DragAnythingVisualizeTrajectories", {"framing": "center_crop", "resampling": "pchip"},
             {"images": (9, 0), "trajectories": (5, 0), "conditions": (7, 0)}, pos=(1480, 520)),
        Node(11, "SaveAnimatedWEBP", {"filename_prefix": f"DragAnything/{prefix}", "fps": float(OFFICIAL["fps"]),
                                      "lossless": False, "quality": 90, "method": "default"},
             {"images": (9, 0)}, pos=(1840, 520)),
        Node(12, "SaveAnimatedWEBP", {"filename_prefix": f"DragAnything/{prefix}_tracks",
                                      "fps": float(OFFICIAL["fps"]), "lossless": False, "quality": 90,
                                      "method": "default"},
             {"images": (10, 0)}, pos=(1840, 860)),
    ]
    return nodes


def tiny_cpu() -> list[Node]:
    """The composable graph on the shipped DragAnything-Tiny: runs on a CPU with nothing to download."""
    return [
        Node(1, "LoadImage", {"image": EXAMPLE_IMAGE, "+upload": "image"}, pos=(0, 0), title="First frame"),
        Node(2, "DragAnythingTinyLoader", {}, pos=(0, 420)),
        Node(3, "DragAnythingTrajectories",
             {"trajectories": trajectories_json(["car", "balloon"]), "tracks_frames": TINY["video_frames"]},
             {"image": (1, 0)}, pos=(360, 0)),
        Node(4, "DragAnythingTinyEntityEmbeddings",
             {"seed": 0, "+control": "fixed", "width": TINY["width"], "height": TINY["height"],
              "framing": "center_crop", "timestep": 261, "ensemble_size": 8},
             {"entity_encoder": (2, 4), "image": (1, 0), "masks": (3, 1)}, pos=(760, 420)),
        Node(5, "DragAnythingConditions",
             {"entity_mode": "trained", "resampling": "pchip", "framing": "center_crop", "radius_overrides": "",
              "preview_width": TINY["width"], "preview_height": TINY["height"],
              "preview_frames": TINY["video_frames"]},
             {"trajectories": (3, 0), "masks": (3, 1), "embeddings": (4, 0), "image": (1, 0)}, pos=(1120, 0)),
        Node(6, "PreviewImage", {}, {"images": (5, 1)}, pos=(1480, 0), title="Conditioning preview"),
        Node(7, "SVD_img2vid_Conditioning", {key: TINY[key] for key in WIDGETS["SVD_img2vid_Conditioning"]},
             {"clip_vision": (2, 1), "init_image": (1, 0), "vae": (2, 2)}, pos=(760, 820)),
        Node(8, "DragAnythingApply", {"strength": 1.0, "start_percent": 0.0, "end_percent": 1.0},
             {"positive": (7, 0), "negative": (7, 1), "controlnet": (2, 3), "conditions": (5, 0)}, pos=(1120, 520)),
        Node(9, "VideoLinearCFGGuidance", {"min_cfg": TINY["min_cfg"]}, {"model": (2, 0)}, pos=(1120, 820)),
        Node(10, "KSampler",
             {"seed": 0, "+control": "fixed", "steps": TINY["steps"], "cfg": TINY["cfg"],
              "sampler_name": TINY["sampler_name"], "scheduler": TINY["scheduler"], "denoise": 1.0},
             {"model": (9, 0), "positive": (8, 0), "negative": (8, 1), "latent_image": (7, 2)}, pos=(1480, 520)),
        Node(11, "VAEDecode", {}, {"samples": (10, 0), "vae": (2, 2)}, pos=(1840, 520)),
        Node(12, "SaveAnimatedWEBP", {"filename_prefix": "DragAnything/tiny_cpu", "fps": float(TINY["fps"]),
                                      "lossless": True, "quality": 90, "method": "default"},
             {"images": (11, 0)}, pos=(2100, 520)),
    ]


def wan_move() -> list[Node]:
    """The editor's entities driving Wan-Move: dense entity tracks into ComfyUI's own Wan-Move nodes."""
    return [
        Node(1, "LoadImage", {"image": EXAMPLE_IMAGE, "+upload": "image"}, pos=(0, 0), title="First frame"),
        Node(2, "DragAnythingTrajectories",
             {"trajectories": trajectories_json(["road", "car", "balloon"]), "tracks_frames": WAN["length"]},
             {"image": (1, 0)}, pos=(360, 0)),
        Node(3, "DragAnythingCameraMove",
             {"zoom": 1.15, "orbit": 0.0, "pan_x": 0.0, "pan_y": 0.0, "centre_x": 0.5, "centre_y": 0.5,
              "frames": WAN["length"], "easing": "ease_in_out"}, {"trajectories": (2, 0)}, pos=(760, 0)),
        Node(4, "DragAnythingEntityTracks",
             {"width": WAN["width"], "height": WAN["height"], "length": WAN["length"], "points_per_entity": 64,
              "resampling": "pchip", "framing": "center_crop"},
             {"trajectories": (3, 0), "masks": (2, 1)}, pos=(1120, 0)),
        Node(5, "UNETLoader", {"unet_name": WAN_MOVE_FILE, "weight_dtype": "default"}, pos=(0, 760),
             title="Load Wan-Move (Wan 2.1 I2V 14B)"),
        Node(6, "LoraLoaderModelOnly", {"lora_name": WAN_LORA_FILE, "strength_model": 1.0}, {"model": (5, 0)},
             pos=(0, 960), title="LightX2V step distillation (6 steps, CFG 1)"),
        Node(7, "ModelSamplingSD3", {"shift": WAN["shift"]}, {"model": (6, 0)}, pos=(0, 1160)),
        Node(8, "CLIPLoader", {"clip_name": WAN_TEXT_FILE, "type": "wan", "device": "default"}, pos=(0, 1360)),
        Node(9, "CLIPTextEncode", {"text": WAN_PROMPT}, {"clip": (8, 0)}, pos=(760, 420), title="Prompt"),
        Node(10, "CLIPTextEncode", {"text": WAN_NEGATIVE}, {"clip": (8, 0)}, pos=(760, 700),
             title="Negative prompt"),
        Node(11, "VAELoader", {"vae_name": WAN_VAE_FILE}, pos=(0, 1560)),
        Node(12, "CLIPVisionLoader", {"clip_name": WAN_CLIP_VISION_FILE}, pos=(0, 1760)),
        Node(13, "CLIPVisionEncode", {"crop": "center"}, {"clip_vision": (12, 0), "image": (1, 0)},
             pos=(760, 980)),
        Node(14, "WanMoveTrackToVideo",
             {"strength": 1.0, "width": WAN["width"], "height": WAN["height"], "length": WAN["length"],
              "batch_size": 1},
             {"positive": (9, 0), "negative": (10, 0), "vae": (11, 0), "tracks": (4, 0), "start_image": (1, 0),
              "clip_vision_output": (13, 0)}, pos=(1120, 420)),
        Node(15, "KSampler",
             {"seed": 0, "+control": "fixed", "steps": WAN["steps"], "cfg": WAN["cfg"],
              "sampler_name": WAN["sampler_name"], "scheduler": WAN["scheduler"], "denoise": 1.0},
             {"model": (7, 0), "positive": (14, 0), "negative": (14, 1), "latent_image": (14, 2)}, pos=(1480, 420)),
        Node(16, "VAEDecode", {}, {"samples": (15, 0), "vae": (11, 0)}, pos=(1840, 420)),
        Node(17, "CreateVideo", {"fps": WAN["fps"]}, {"images": (16, 0)}, pos=(1840, 560)),
        Node(18, "SaveVideo", {"filename_prefix": "video/DragAnything_wan_move", "format": "auto", "codec": "auto"},
             {"video": (17, 0)}, pos=(2100, 420)),
        Node(19, "ImageScale", {"upscale_method": "bilinear", "width": WAN["width"], "height": WAN["height"],
                                "crop": "center"}, {"image": (1, 0)}, pos=(1480, 0)),
        Node(20, "WanMoveVisualizeTracks",
             {"line_resolution": 24, "circle_size": 6, "opacity": 0.75, "line_width": 6},
             {"images": (19, 0), "tracks": (4, 0)}, pos=(1840, 0)),
        Node(21, "CreateVideo", {"fps": WAN["fps"]}, {"images": (20, 0)}, pos=(2100, 0)),
        Node(22, "SaveVideo", {"filename_prefix": "video/DragAnything_wan_move_tracks", "format": "auto",
                               "codec": "auto"}, {"video": (21, 0)}, pos=(2360, 0)),
    ]


NOTES = {
    "draganything_composable_ksampler": (
        "DragAnything with the stock sampler: SVD img2vid conditioning, **Apply DragAnything** on positive and "
        "negative, VideoLinearCFGGuidance (1 -> 3) and KSampler (Euler, Karras, 25 steps), saved as animated WEBP. "
        "The car follows its path. Put the models in the folders the loaders name, and the first frame in input/ "
        "(draganything_example.png ships with the pack in draganything/assets/example/image.png)."),
    "draganything_one_node_sampler": (
        "The **DragAnything SVD Sampler** runs the same graph in one node with the official settings; the "
        "overlay shows the balloon's path next to the Gaussian conditioning."),
    "draganything_entities_and_anchor": (
        "Several entities at once: the car and the balloon move, the road is a hold-still anchor (one point, "
        "anchor: true) so the background and camera stay put."),
    "draganything_tiny_cpu": (
        "Runs on a CPU with nothing to download: **Load DragAnything-Tiny** brings the small model shipped with "
        "the pack (trained on synthetic sprite videos) into the stock SVD graph, and **DragAnything Tiny Entity "
        "Embeddings** computes the entity features it was trained with. 256x128, 8 frames, 12 steps. The tiny "
        "model animates scenes like its training data; for real videos use the full-size workflows."),
    "draganything_wan_move": (
        "The editor's entities drive **Wan-Move** (ComfyUI's own Wan-Move nodes): **DragAnything Entity Tracks** "
        "turns each entity (its mask and path) into 64 point tracks spread over the mask, so the whole car and "
        "balloon move and the held road stays put; **DragAnything Camera Move** adds a slow zoom to the held "
        "road. The tracks preview shows them over the first frame. Models as in ComfyUI's Wan-Move template "
        "(Wan-Move 14B fp8, the LightX2V LoRA, umt5-xxl, the Wan 2.1 VAE, CLIP vision H); 832x480, 81 frames."),
}
GRAPHS = {
    "draganything_composable_ksampler": composable,
    "draganything_one_node_sampler": lambda: one_node(["balloon"], "one_node"),
    "draganything_entities_and_anchor": lambda: one_node(["road", "car", "balloon"], "entities_and_anchor"),
    "draganything_tiny_cpu": tiny_cpu,
    "draganything_wan_move": wan_move,
}


def widget_values(node: Node) -> list:
    names = WIDGETS[node.type]
    missing = [name for name in names if name not in node.widgets]
    if missing or set(node.widgets) - set(names):
        raise ValueError(f"node {node.id} ({node.type}): widgets {sorted(node.widgets)} vs {names}")
    return [node.widgets[name] for name in names]


def ui_workflow(name: str, nodes: list[Node]) -> dict:
    links, by_output = [], {}
    for node in nodes:
        inputs = SOCKETS[node.type][0]
        for slot, (input_name, kind) in enumerate(inputs):
            if input_name in node.links:
                origin, origin_slot = node.links[input_name]
                link_id = len(links) + 1
                links.append([link_id, origin, origin_slot, node.id, slot, kind])
                by_output.setdefault((origin, origin_slot), []).append(link_id)
    link_of = {(link[3], link[4]): link[0] for link in links}
    ui_nodes = []
    for order, node in enumerate(nodes):
        inputs, outputs = SOCKETS[node.type]
        properties = {"Node name for S&R": node.type}
        models = [MODELS[value] for value in node.widgets.values() if isinstance(value, str) and value in MODELS]
        if models:
            properties["models"] = models
        pos, size = layout(node)
        ui_node = {
            "id": node.id, "type": node.type, "pos": pos, "size": size, "flags": {},
            "order": order, "mode": 0,
            "inputs": [{"name": input_name, "type": kind, "link": link_of.get((node.id, slot))}
                       for slot, (input_name, kind) in enumerate(inputs)],
            "outputs": [{"name": output_name, "type": kind, "links": by_output.get((node.id, slot), []),
                         "slot_index": slot} for slot, (output_name, kind) in enumerate(outputs)],
            "properties": properties,
            "widgets_values": widget_values(node),
        }
        if node.title:
            ui_node["title"] = node.title
        ui_nodes.append(ui_node)
    note_id = max(node.id for node in nodes) + 1
    ui_nodes.append({"id": note_id, "type": "MarkdownNote", "pos": [0, -260], "size": [700, 200], "flags": {},
                     "order": len(nodes), "mode": 0, "inputs": [], "outputs": [],
                     "properties": {}, "widgets_values": [NOTES[name]], "title": "About this workflow"})
    return {"last_node_id": note_id, "last_link_id": len(links), "nodes": ui_nodes, "links": links, "groups": [],
            "config": {}, "extra": {"ds": {"scale": 0.8, "offset": [40, 300]}}, "version": 0.4}


def api_prompt(nodes: list[Node]) -> dict:
    prompt = {}
    for node in nodes:
        inputs = {name: value for name, value in node.widgets.items() if not name.startswith("+")}
        inputs.update({name: [str(origin), slot] for name, (origin, slot) in node.links.items()})
        prompt[str(node.id)] = {"class_type": node.type, "inputs": inputs,
                                "_meta": {"title": node.title or node.type}}
    return prompt


def thumbnail(path: Path, entity_ids: list[str]) -> None:
    import cv2
    import numpy as np

    sys.path.insert(0, str(PROJECT_DIR))
    from draganything.assets import EXAMPLE_IMAGE as image_path
    from draganything.trajectory import parse_trajectories
    from draganything.viz import draw_tracks

    image = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    trajectories = parse_trajectories(trajectories_json(entity_ids))
    points, visible = trajectories.resampled(14, "pchip")
    anchors = np.array([entity.anchor for entity in trajectories])
    frame = draw_tracks(image, points, anchors=anchors, visible=visible)[-1]
    cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def wan_move_thumbnail(path: Path, nodes: list[Node]) -> None:
    """The Wan-Move template's first frame with its entity tracks, as its Entity Tracks node makes them (fewer
    points per entity, so they read at thumbnail size), each point's path drawn by the pack's overlay."""
    import cv2
    import numpy as np

    sys.path.insert(0, str(PROJECT_DIR))
    from draganything.assets import EXAMPLE_DIR
    from draganything.assets import EXAMPLE_IMAGE as image_path
    from draganything.entity import binarize_mask, read_mask
    from draganything.entity_tracks import entity_point_tracks
    from draganything.trajectory import CameraMove, apply_camera_move, parse_trajectories
    from draganything.viz import draw_tracks, entity_colors

    image = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    trajectories = parse_trajectories(next(node for node in nodes if node.type == "DragAnythingTrajectories")
                                      .widgets["trajectories"])
    camera = next(node for node in nodes if node.type == "DragAnythingCameraMove").widgets
    trajectories = apply_camera_move(trajectories, CameraMove(zoom=camera["zoom"]), camera["frames"],
                                     easing=camera["easing"])
    masks = np.stack([binarize_mask(read_mask(EXAMPLE_DIR / f"mask_{entity.id}.png")) for entity in trajectories])
    tracks = entity_point_tracks(trajectories, masks, 21, points_per_entity=12, framing="stretch")
    colors = entity_colors(len(trajectories))[tracks["entity"]]
    frame = draw_tracks(image, tracks["track_path"].transpose(1, 0, 2), visible=tracks["track_visibility"].T,
                        colors=colors)[-1]
    cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def main() -> None:
    for name, graph in GRAPHS.items():
        nodes = graph()
        (HERE / f"{name}.json").write_text(json.dumps(ui_workflow(name, copy.deepcopy(nodes)), indent=1) + "\n")
        (HERE / "api" / f"{name}.json").write_text(json.dumps(api_prompt(nodes), indent=1) + "\n")
        if name == "draganything_wan_move":
            wan_move_thumbnail(HERE / f"{name}.jpg", nodes)
        else:
            trajectories = next(node for node in nodes if node.type == "DragAnythingTrajectories")
            entity_ids = json.loads(trajectories.widgets["trajectories"])["entities"]
            thumbnail(HERE / f"{name}.jpg", [entity["id"] for entity in entity_ids])
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
