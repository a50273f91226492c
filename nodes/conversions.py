"""Host tensors <-> the library's arrays. IMAGE is float [B, H, W, C] in 0..1, MASK float [B, H, W] in 0..1."""

from __future__ import annotations

import comfy.model_management
import numpy as np
import torch

from ..draganything.errors import DragAnythingError
from ..draganything.trajectory import sampled_easing
from ..draganything.trajectory.validation import short


def first_frame_uint8(image: torch.Tensor, input_name: str = "image") -> np.ndarray:
    """The first image of an IMAGE batch as uint8 RGB [H, W, 3] (an alpha channel is dropped)."""
    if image.ndim != 4 or image.shape[-1] not in (3, 4):
        raise DragAnythingError(input_name, f"expected an IMAGE batch [B, H, W, 3], got {list(image.shape)}",
                                "Connect an IMAGE output (Load Image, a video loader, ...)")
    return (image[0, ..., :3].float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def frames_uint8(images: torch.Tensor) -> np.ndarray:
    return (images[..., :3].float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def to_image(frames: np.ndarray) -> torch.Tensor:
    """uint8 [F, H, W, 3] -> IMAGE on the host's intermediate device."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).float() / 255.0
    return tensor.to(comfy.model_management.intermediate_device())


def masks_bool(masks: torch.Tensor, input_name: str = "masks") -> np.ndarray:
    """A MASK batch -> bool [N, H, W] (foreground where the value exceeds 0.5)."""
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3:
        raise DragAnythingError(input_name, f"expected a MASK batch [N, H, W], got {list(masks.shape)}",
                                "Connect a MASK output with one mask per entity")
    return (masks.float() > 0.5).cpu().numpy()


def to_mask(masks: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(masks)).float().to(comfy.model_management.intermediate_device())


def curve_easing(curve, input_name: str) -> np.ndarray:
    """A host CURVE (a Curve Editor's output, or its raw {"points": [...], "interpolation": ...}) as the library's
    easing curve, following the curve as the host draws and evaluates it (monotone cubic or linear)."""
    from comfy_api.input import CurveInput  # only hosts with io.Curve declare a CURVE input

    try:
        curve = CurveInput.from_raw(curve)
    except (KeyError, TypeError, ValueError) as error:
        raise DragAnythingError(input_name, f"{short(curve)} is not a curve ({error!r})",
                                "Connect the CURVE output of a Curve Editor node") from None
    return sampled_easing(input_name, curve.points, curve.interp_array)
