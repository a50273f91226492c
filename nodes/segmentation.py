"""Entity masks from clicks and boxes: segment-anything when a checkpoint is loaded, OpenCV GrabCut otherwise.

Host-free on purpose (numpy, OpenCV, and segment-anything imported lazily), so the pack loads without
segment-anything installed and the nodes can say what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..draganything.errors import DragAnythingError

# Width of the image encoder's patch embedding -> segment-anything registry name.
SAM_ARCHITECTURES = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}
SAM_PATCH_EMBED_KEY = "image_encoder.patch_embed.proj.weight"

SAM_DOWNLOAD_HINT = (
    "Use an original segment-anything checkpoint (sam_vit_h_4b8939.pth, sam_vit_l_0b3195.pth or "
    "sam_vit_b_01ec64.pth from https://github.com/facebookresearch/segment-anything#model-checkpoints) in "
    "models/sams, or leave the SAM input empty: the masks then come from OpenCV GrabCut")


@dataclass
class EntityPrompt:
    """How one entity was selected on the first frame, in source pixels."""

    points: np.ndarray  # [K, 2] (x, y)
    labels: np.ndarray  # [K] 1 = on the entity, 0 = background
    box: np.ndarray | None = None  # [4] x0, y0, x1, y1


@dataclass
class SamModel:
    """A loaded segment-anything model and what it is, for the node's output text."""

    model: torch.nn.Module
    architecture: str
    file_name: str


def detect_sam_architecture(state_dict: dict, file_name: str) -> str:
    """Name the segment-anything variant of a checkpoint, or explain why it is not one this pack runs."""
    keys = state_dict.keys()
    if any(key.startswith(("sam_mask_decoder.", "image_encoder.trunk.")) for key in keys):
        found = "a SAM 2 checkpoint"
    elif any(key.startswith(("mask_decoder.hf_token", "mask_decoder.hf_mlp", "mask_decoder.compress_vit_feat"))
             for key in keys):
        found = "an HQ-SAM checkpoint"
    elif any(key.startswith("image_encoder.layers.") for key in keys):
        found = "a MobileSAM (TinyViT) checkpoint"
    elif SAM_PATCH_EMBED_KEY in state_dict:
        width = int(state_dict[SAM_PATCH_EMBED_KEY].shape[0])
        if width in SAM_ARCHITECTURES:
            return SAM_ARCHITECTURES[width]
        found = f"a ViT image encoder of width {width}, which is none of vit_b/vit_l/vit_h"
    else:
        found = "no segment-anything image encoder"
    raise DragAnythingError("sam_name", f"'{file_name}' holds {found}", SAM_DOWNLOAD_HINT)


def build_sam(state_dict: dict, file_name: str) -> SamModel:
    architecture = detect_sam_architecture(state_dict, file_name)
    try:
        from segment_anything import sam_model_registry
    except ImportError as missing:
        raise DragAnythingError(
            "sam_name", "the Python package segment-anything is not installed",
            "Run 'pip install segment-anything' in ComfyUI's environment and restart, or leave the SAM input "
            "empty to use the GrabCut fallback") from missing
    model = sam_model_registry[architecture](checkpoint=None)
    model.load_state_dict(state_dict, strict=True)
    return SamModel(model.eval(), architecture, file_name)


def segment_with_sam(sam: SamModel, image: np.ndarray, prompts: list[EntityPrompt], device) -> np.ndarray:
    """image: uint8 [H, W, 3] RGB. Returns bool [N, H, W], the best-scoring of SAM's three masks per entity."""
    from segment_anything import SamPredictor

    sam.model.to(device)
    predictor = SamPredictor(sam.model)
    masks = []
    with torch.inference_mode():
        predictor.set_image(image)
        for prompt in prompts:
            candidates, scores, _ = predictor.predict(
                point_coords=prompt.points if len(prompt.points) else None,
                point_labels=prompt.labels if len(prompt.labels) else None,
                box=prompt.box, multimask_output=True)
            masks.append(candidates[int(np.argmax(scores))])
    return np.stack(masks).astype(bool)


def segment_with_grabcut(image: np.ndarray, prompts: list[EntityPrompt], iterations: int = 5) -> np.ndarray:
    """Weight-free fallback: GrabCut seeded by the box, or by discs around the clicks. Returns bool [N, H, W].

    Without a box, a positive click marks a small certain-foreground disc inside a probable-foreground disc, and
    everything farther than a quarter of the short side from every positive click is certain background (one
    click says little about the extent, so the search stays local). Negative clicks mark certain background.
    Only the connected regions that contain a positive click are kept.
    """
    height, width = image.shape[:2]
    bgr = np.ascontiguousarray(image[..., ::-1])
    short_side = min(height, width)
    sure_radius = max(2, short_side // 60)
    likely_radius = max(sure_radius + 2, short_side // 24)
    search_radius = max(likely_radius + 2, short_side // 4)
    masks = []
    for prompt in prompts:
        positive = np.round(prompt.points[prompt.labels.astype(bool)]).astype(int)
        if prompt.box is not None:
            x0, y0, x1, y1 = np.clip(np.round(prompt.box), 0, [width - 1, height - 1, width - 1, height - 1])
            seeds = np.full((height, width), cv2.GC_BGD, np.uint8)
            seeds[int(y0):max(int(y0) + 1, int(y1)), int(x0):max(int(x0) + 1, int(x1))] = cv2.GC_PR_FGD
        else:
            seeds = np.full((height, width), cv2.GC_BGD, np.uint8)
            for x, y in positive:
                cv2.circle(seeds, (int(x), int(y)), search_radius, cv2.GC_PR_BGD, -1)
            for x, y in positive:
                cv2.circle(seeds, (int(x), int(y)), likely_radius, cv2.GC_PR_FGD, -1)
        for (x, y), label in zip(np.round(prompt.points).astype(int), prompt.labels):
            cv2.circle(seeds, (x, y), sure_radius, cv2.GC_FGD if label else cv2.GC_BGD, -1)
        if not np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
            raise DragAnythingError(
                "trajectories", "an entity is selected by background (negative) clicks only",
                "Add at least one click on the entity itself, or a box around it")
        background_model = np.zeros((1, 65), np.float64)
        foreground_model = np.zeros((1, 65), np.float64)
        cv2.grabCut(bgr, seeds, None, background_model, foreground_model, iterations, cv2.GC_INIT_WITH_MASK)
        foreground = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
        masks.append(_regions_touching_prompt(foreground, prompt))
    return np.stack(masks)


def _regions_touching_prompt(foreground: np.ndarray, prompt: EntityPrompt) -> np.ndarray:
    count, labels = cv2.connectedComponents(foreground.astype(np.uint8), connectivity=8)
    if count <= 2:
        return foreground
    height, width = foreground.shape
    keep = set()
    positive = np.round(prompt.points[prompt.labels.astype(bool)]).astype(int)
    for x, y in positive:
        if 0 <= x < width and 0 <= y < height and labels[y, x]:
            keep.add(int(labels[y, x]))
    if not keep:
        return foreground
    return np.isin(labels, list(keep))


def unwrap_checkpoint(checkpoint: dict) -> dict:
    """SAM 2 and some re-packaged files nest the weights under "model"."""
    nested = checkpoint.get("model")
    return nested if isinstance(nested, dict) else checkpoint
