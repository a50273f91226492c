"""How the first frame is mapped to the model's size, applied identically to points, masks and the image.

Two modes:
- "stretch": the whole source frame is resized to the model size (the official demo.py resizes demo.jpg with
  PIL to 576x320 whatever its aspect ratio).
- "center_crop": the host's SVD conditioning node (`SVD_img2vid_Conditioning`) crops the largest centred box of
  the model's aspect ratio, with the crop offset rounded as the host rounds it, then resizes that box bilinearly.

Points are continuous positions (see `trajectory`): the crop box [x0, x1) x [y0, y1) of the source maps onto
[0, W] x [0, H] of the model frame by x' = (x - x0) / (x1 - x0) * W, exactly the half-pixel-centre convention that
both PIL/OpenCV resizing and torch's `interpolate(align_corners=False)` use, so a mapped point lands on the pixel
its source pixel is resized into.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DragAnythingError, check_choice, check_positive_int
from .trajectory import apply_offframe

FRAMING_MODES = ("stretch", "center_crop")
# The released model's video (SVD img2vid): its frame size, the default model frame everywhere, and frame count.
MODEL_WIDTH, MODEL_HEIGHT = 576, 320
MODEL_FRAMES = 14
MASK_INTERPOLATIONS = ("linear", "nearest")


@dataclass(frozen=True)
class Framing:
    """The map from a src_w x src_h source frame to the dst_w x dst_h model frame."""

    src_w: int
    src_h: int
    dst_w: int
    dst_h: int
    mode: str = "stretch"

    def __post_init__(self):
        for name in ("src_w", "src_h", "dst_w", "dst_h"):
            object.__setattr__(self, name, check_positive_int(f"framing {name}", getattr(self, name), "a size in pixels"))
        check_choice("framing mode", self.mode, FRAMING_MODES, "a framing mode",
                     "the official demo stretches; the host's SVD node centre-crops")

    @property
    def crop_box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1): the part of the source frame that becomes the model frame, in source pixels."""
        if self.mode == "stretch":
            return 0, 0, self.src_w, self.src_h
        # Same arithmetic, in the same order and with Python's round-half-to-even, as comfy.utils.common_upscale
        # with crop="center": the margin on each side is rounded once and removed from both sides.
        src_aspect = self.src_w / self.src_h
        dst_aspect = self.dst_w / self.dst_h
        x = y = 0
        if src_aspect > dst_aspect:
            x = round((self.src_w - self.src_w * (dst_aspect / src_aspect)) / 2)
        elif src_aspect < dst_aspect:
            y = round((self.src_h - self.src_h * (src_aspect / dst_aspect)) / 2)
        return x, y, self.src_w - x, self.src_h - y

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy): model pixels per source pixel along x and y (they differ when stretching)."""
        x0, y0, x1, y1 = self.crop_box
        return self.dst_w / (x1 - x0), self.dst_h / (y1 - y0)

    def points(self, xy, official_rounding: bool = False) -> np.ndarray:
        """Source points [..., 2] -> model points [..., 2] float64.

        official_rounding: truncate toward zero after scaling, as demo.py's int(x / W0 * W) does, giving the
        integral pixel positions the official maps were built from (evaluated in the same operation order, so
        the values match the official ones bit for bit).
        """
        xy = _xy_array(xy)
        x0, y0, x1, y1 = self.crop_box
        mapped = np.stack(
            [(xy[..., 0] - x0) / (x1 - x0) * self.dst_w, (xy[..., 1] - y0) / (y1 - y0) * self.dst_h], axis=-1
        )
        return np.trunc(mapped) if official_rounding else mapped

    def points_to_source(self, xy) -> np.ndarray:
        """Model points [..., 2] -> source points [..., 2] float64 (the inverse of `points`, for overlays)."""
        xy = _xy_array(xy)
        x0, y0, x1, y1 = self.crop_box
        return np.stack([xy[..., 0] / self.dst_w * (x1 - x0) + x0, xy[..., 1] / self.dst_h * (y1 - y0) + y0], axis=-1)

    def radius(self, radius: float) -> float:
        """A source-pixel radius in model pixels: scaled by the geometric mean of the two axis scales."""
        sx, sy = self.scale
        return float(radius) * float(np.sqrt(sx * sy))

    def radius_to_source(self, radius: float) -> float:
        """A model-pixel radius in source pixels (the inverse of `radius`, for overlays)."""
        sx, sy = self.scale
        return float(radius) / float(np.sqrt(sx * sy))

    def tracks(
        self,
        points,
        visible=None,
        *,
        offframe: str = "invisible",
        official_rounding: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Source tracks (points [..., 2], visible [...]) -> model tracks with the off-frame policy applied.

        The policy is judged on the unrounded model positions (a point cropped away by the centre crop is
        off-frame); `official_rounding` truncates afterwards.
        """
        mapped, visible = apply_offframe(self.points(points), visible, self.dst_w, self.dst_h, offframe)
        return (np.trunc(mapped) if official_rounding else mapped), visible

    def mask(self, mask, interpolation: str = "linear") -> np.ndarray:
        """A binary source mask [src_h, src_w] -> bool [dst_h, dst_w], cropped and resized like the image.

        The mask must already be binary: bool, or numbers that are all 0/1 or all 0/255 (binarise JPEG masks
        first; the entity module offers the official ==255 rule and a threshold). "linear": OpenCV INTER_LINEAR on
        the 0/1 uint8 mask, whose rounding makes it a 0.5 threshold; this is what demo.py does to its masks.
        "nearest": INTER_NEAREST_EXACT (pixel-centre nearest neighbour).
        """
        import cv2

        check_choice("mask interpolation", interpolation, MASK_INTERPOLATIONS, "a mask interpolation")
        binary = _binary_mask(mask, self.src_w, self.src_h)
        x0, y0, x1, y1 = self.crop_box
        flag = cv2.INTER_LINEAR if interpolation == "linear" else cv2.INTER_NEAREST_EXACT
        resized = cv2.resize(binary[y0:y1, x0:x1], (self.dst_w, self.dst_h), interpolation=flag)
        return resized.astype(bool)

    def unframe(self, image, width: int | None = None, height: int | None = None) -> np.ndarray:
        """A model-frame image [dst_h, dst_w, ...] laid back onto the source frame, for overlays.

        The result shows the source frame at width x height (default: the source size): the crop box holds the
        image resized bilinearly, and what the framing cut away stays 0. Only for showing model-space maps over
        the picture they were made from; the model never sees this.
        """
        import cv2

        image = np.asarray(image)
        if image.shape[:2] != (self.dst_h, self.dst_w):
            raise DragAnythingError(
                "image", f"expected a {self.dst_h}x{self.dst_w} model-frame image, got {list(image.shape)}",
                "Pass an image at the model size the framing was built for")
        width = self.src_w if width is None else check_positive_int("width", width, "a size in pixels")
        height = self.src_h if height is None else check_positive_int("height", height, "a size in pixels")
        x0, y0, x1, y1 = self.crop_box
        sx, sy = width / self.src_w, height / self.src_h
        left, top = round(x0 * sx), round(y0 * sy)
        right, bottom = max(left + 1, round(x1 * sx)), max(top + 1, round(y1 * sy))
        canvas = np.zeros((height, width, *image.shape[2:]), image.dtype)
        canvas[top:bottom, left:right] = cv2.resize(image, (right - left, bottom - top),
                                                    interpolation=cv2.INTER_LINEAR).reshape(
                                                        bottom - top, right - left, *image.shape[2:])
        return canvas

    def image(self, image) -> np.ndarray:
        """A uint8 source image [src_h, src_w, 3] (or [src_h, src_w]) -> uint8 [dst_h, dst_w, ...].

        "stretch": PIL bicubic resize, as demo.py resizes demo.jpg. "center_crop": the host's arithmetic: the same
        crop, then torch bilinear interpolation (align_corners=False, no antialias) on values / 255; the result is
        rounded back to uint8 (the host keeps the float, which differs from this by at most 0.5 / 255).
        """
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.shape[:2] != (self.src_h, self.src_w):
            raise DragAnythingError(
                "image",
                f"expected a uint8 array of {self.src_h}x{self.src_w}(x3) pixels, got {image.dtype} "
                f"{list(image.shape)}",
                "Pass the first frame the framing was built for, as uint8 height x width x channels",
            )
        x0, y0, x1, y1 = self.crop_box
        if self.mode == "stretch":
            from PIL import Image

            resized = Image.fromarray(image).resize((self.dst_w, self.dst_h), Image.Resampling.BICUBIC)
            return np.asarray(resized)
        import torch

        # torch.tensor copies: the caller's array may be read-only (np.asarray of a PIL image).
        crop = torch.tensor(image[y0:y1, x0:x1], dtype=torch.float32) / 255.0
        chw = crop.unsqueeze(0) if crop.ndim == 2 else crop.movedim(-1, 0)
        out = torch.nn.functional.interpolate(chw.unsqueeze(0), size=(self.dst_h, self.dst_w), mode="bilinear")[0]
        out = out[0] if crop.ndim == 2 else out.movedim(0, -1)
        return (out * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()


def _xy_array(xy) -> np.ndarray:
    array = np.asarray(xy, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] != 2:
        raise DragAnythingError(
            "points", f"expected an array of (x, y) pairs [..., 2], got shape {list(array.shape)}", "Pass [..., 2]"
        )
    return array


def _binary_mask(mask, width: int, height: int) -> np.ndarray:
    """uint8 0/1 [height, width] from a bool mask or a numeric one holding only 0/1 or only 0/255."""
    array = np.asarray(mask)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.shape != (height, width):
        raise DragAnythingError(
            "mask",
            f"it is {list(array.shape)} but the source frame is {height}x{width} (height x width)",
            "Use a mask drawn on the first frame itself, or resize it to the frame before framing",
        )
    if array.dtype == bool:
        return array.astype(np.uint8)
    # Two passes over the mask instead of np.unique's sort: this runs on every full-size mask of every entity.
    peak = array.max(initial=0)
    if peak in (0, 1, 255):
        on = array == peak
        if peak == 0 or (on | (array == 0)).all():
            return on.astype(np.uint8) if peak else np.zeros_like(array, dtype=np.uint8)
    values = np.unique(array)
    raise DragAnythingError(
        "mask",
        f"it is not binary (it holds {len(values)} distinct values between {values.min()} and {values.max()})",
        "Binarise it first (for JPEG masks the official rule keeps pixels equal to 255)",
    )
