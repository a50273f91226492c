"""Entity masks from clicks and boxes: segment-anything when a checkpoint is loaded, OpenCV GrabCut otherwise.

segment-anything is imported only when a model is built or run, so the pack loads without it and says what is
missing when a checkpoint is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .errors import DragAnythingError
from .trajectory import Trajectories

# Width of the image encoder's patch embedding -> segment-anything registry name.
SAM_ARCHITECTURES = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}
SAM_PATCH_EMBED_KEY = "image_encoder.patch_embed.proj.weight"

# Long side, in pixels, of the copy GrabCut segments, and the extents (short side / divisor) tried around a
# lone click (see segment_with_grabcut).
GRABCUT_WORKING_SIDE = 512
CLICK_DISC_DIVISORS = (24, 12, 6)

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


def load_sam(path: str | Path, input_name: str = "sam") -> SamModel:
    """A segment-anything checkpoint file (.pth as released, or .safetensors) -> a model on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise DragAnythingError(input_name, f"there is no file at {str(path)!r}", SAM_DOWNLOAD_HINT)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            checkpoint = load_file(str(path))
        else:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and safetensors readers each raise their own kinds
        raise DragAnythingError(input_name, f"{str(path)!r} could not be read as a checkpoint ({error})",
                                SAM_DOWNLOAD_HINT) from None
    if not isinstance(checkpoint, dict):
        raise DragAnythingError(input_name, f"{str(path)!r} holds no state dict", SAM_DOWNLOAD_HINT)
    return build_sam(unwrap_checkpoint(checkpoint), path.name)


def predict_mask(predictor, prompt: EntityPrompt) -> np.ndarray:
    """The best-scoring of SAM's three masks for one prompt, on a predictor whose image is set: bool [H, W]."""
    candidates, scores, _ = predictor.predict(
        point_coords=prompt.points if len(prompt.points) else None,
        point_labels=prompt.labels if len(prompt.labels) else None,
        box=prompt.box, multimask_output=True)
    return candidates[int(np.argmax(scores))].astype(bool)


def segment_with_sam(sam: SamModel, image: np.ndarray, prompts: list[EntityPrompt], device) -> np.ndarray:
    """image: uint8 [H, W, 3] RGB. Returns bool [N, H, W], the best-scoring of SAM's three masks per entity."""
    from segment_anything import SamPredictor

    sam.model.to(device)
    predictor = SamPredictor(sam.model)
    with torch.inference_mode():
        predictor.set_image(image)
        return np.stack([predict_mask(predictor, prompt) for prompt in prompts])


def entity_prompts(trajectories: Trajectories) -> list[EntityPrompt]:
    """Each entity's clicks and box; an entity selected by nothing is prompted by its first trajectory point."""
    prompts = []
    for entity in trajectories:
        if entity.clicks:
            points = np.array([[click.x, click.y] for click in entity.clicks], dtype=np.float64)
            labels = np.array([int(click.positive) for click in entity.clicks])
        elif entity.box is None:
            points, labels = entity.points[:1].copy(), np.ones(1, dtype=int)
        else:
            points, labels = np.zeros((0, 2)), np.zeros(0, dtype=int)
        box = None if entity.box is None else np.asarray(entity.box, dtype=np.float64)
        prompts.append(EntityPrompt(points, labels, box))
    return prompts


def segment_entities(frame: np.ndarray, trajectories: Trajectories, sam: SamModel | None = None,
                     device="cpu") -> tuple[np.ndarray, str]:
    """bool [N, H, W] masks of the entities on the first frame (uint8 [H, W, 3] RGB), from their clicks and boxes
    (:func:`entity_prompts`), and a sentence saying how they were made."""
    prompts = entity_prompts(trajectories)
    if sam is not None:
        masks = segment_with_sam(sam, frame, prompts, device)
        return masks, f"{len(masks)} entity masks from segment-anything ({sam.architecture}, {sam.file_name})."
    masks = segment_with_grabcut(frame, prompts)
    return masks, (f"{len(masks)} entity masks from the OpenCV GrabCut fallback (no SAM model given; "
                   "segment-anything gives sharper masks).")


def segment_with_grabcut(image: np.ndarray, prompts: list[EntityPrompt], iterations: int = 5) -> np.ndarray:
    """Weight-free fallback: GrabCut seeded by the box, or by discs around the clicks. Returns bool [N, H, W].

    GrabCut runs on a copy whose long side is at most GRABCUT_WORKING_SIDE: its colour models need no more
    pixels than that, and full-resolution frames cost seconds per entity; the mask is scaled back to the image.
    Without a box, one click says nothing about the entity's extent, so nothing is certain background (a bounded
    search area clips large objects to a patch around the click) and the extent is guessed at several scales: a
    disc of short_side / CLICK_DISC_DIVISORS around each positive click is probable foreground, the rest
    probable background. A disc much larger than a small object pulls the ground around it into the foreground
    colour model, and the mask then runs across the frame; a disc much smaller than a large object stops on its
    inner texture. So guesses spanning the frame from edge to edge lose to those that do not, and among the rest
    the kept one is the one whose outline runs along the strongest image gradients, i.e. ends at a contour.
    Backdrops (ground, sky) clicked once therefore come out as a patch: give them a box. Negative clicks mark
    certain background; only the connected regions that contain a positive click are kept.
    """
    height, width = image.shape[:2]
    scale = min(1.0, GRABCUT_WORKING_SIDE / max(height, width))
    work_width, work_height = max(1, round(width * scale)), max(1, round(height * scale))
    working = cv2.resize(image, (work_width, work_height), interpolation=cv2.INTER_AREA) if scale < 1 else image
    bgr = np.ascontiguousarray(working[..., ::-1])
    gray = cv2.cvtColor(working, cv2.COLOR_RGB2GRAY).astype(np.float32)
    edge_strength = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    short_side = min(work_height, work_width)
    sure_radius = max(2, short_side // 50)
    masks = []
    for prompt in prompts:
        points = np.round(prompt.points * scale).astype(int)
        if prompt.box is not None:
            x0, y0, x1, y1 = np.clip(np.round(prompt.box * scale).astype(int), 0,
                                     [work_width - 1, work_height - 1, work_width - 1, work_height - 1])
            seeds = np.full((work_height, work_width), cv2.GC_BGD, np.uint8)
            seeds[y0:max(y0 + 1, y1), x0:max(x0 + 1, x1)] = cv2.GC_PR_FGD
            candidates = [seeds]
        else:
            candidates = []
            for divisor in CLICK_DISC_DIVISORS:
                seeds = np.full((work_height, work_width), cv2.GC_PR_BGD, np.uint8)
                likely_radius = max(sure_radius + 2, short_side // divisor)
                for x, y in points[prompt.labels.astype(bool)]:
                    cv2.circle(seeds, (int(x), int(y)), likely_radius, cv2.GC_PR_FGD, -1)
                candidates.append(seeds)
        best_mask, best_rank = None, None
        for seeds in candidates:
            for (x, y), label in zip(points, prompt.labels):
                cv2.circle(seeds, (int(x), int(y)), sure_radius, cv2.GC_FGD if label else cv2.GC_BGD, -1)
            if not np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
                raise DragAnythingError(
                    "trajectories", "an entity is selected by background (negative) clicks only",
                    "Add at least one click on the entity itself, or a box around it")
            # GrabCut's colour models start from k-means on OpenCV's shared generator; seeding it makes the
            # same clicks give the same mask on every run.
            cv2.setRNGSeed(0)
            cv2.grabCut(bgr, seeds, None, np.zeros((1, 65)), np.zeros((1, 65)), iterations, cv2.GC_INIT_WITH_MASK)
            mask = _regions_touching_prompt(np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)), points, prompt.labels)
            outline = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
            spans_frame = (mask[:, 0].any() and mask[:, -1].any()) or (mask[0].any() and mask[-1].any())
            rank = (not spans_frame, float(edge_strength[outline].mean()) if outline.any() else 0.0)
            if best_rank is None or rank > best_rank:
                best_mask, best_rank = mask, rank
        if scale < 1:
            best_mask = cv2.resize(best_mask.astype(np.uint8) * 255, (width, height),
                                   interpolation=cv2.INTER_LINEAR) > 127
        masks.append(best_mask)
    return np.stack(masks)


def _regions_touching_prompt(foreground: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    count, regions = cv2.connectedComponents(foreground.astype(np.uint8), connectivity=8)
    if count <= 2:
        return foreground
    height, width = foreground.shape
    keep = {int(regions[y, x]) for x, y in points[labels.astype(bool)]
            if 0 <= x < width and 0 <= y < height and regions[y, x]}
    if not keep:
        return foreground
    return np.isin(regions, list(keep))


def unwrap_checkpoint(checkpoint: dict) -> dict:
    """SAM 2 and some re-packaged files nest the weights under "model"."""
    nested = checkpoint.get("model")
    return nested if isinstance(nested, dict) else checkpoint
