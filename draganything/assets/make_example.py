"""Builds the example input shipped with the package: a synthetic 576x320 street scene with a car, a balloon and
the road, their masks (PNG, 0/255), and a trajectory file in the pack's own JSON format (the car and the balloon
move through time-stamped waypoints; the road is a "hold still" anchor).

Everything is drawn here from shapes, so the example carries no third-party picture. Run it from anywhere to
rebuild `draganything/assets/example/` (the output is deterministic):

    python -m draganything.assets.make_example
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from . import EXAMPLE_DIR

WIDTH, HEIGHT = 576, 320
HORIZON = 200

NUM_FRAMES = 14
# (x, y) waypoints in image pixels, reached at WAYPOINT_FRAMES. The car drives right along the road; the balloon
# drifts up and to the left; the road holds still so the camera does not move.
WAYPOINT_FRAMES = [0, 4, 9, 13]
CAR_PATH = [(112, 236), (190, 234), (268, 236), (340, 235)]
BALLOON_PATH = [(440, 104), (418, 84), (388, 72), (352, 66)]
ROAD_ANCHOR = (470, 296)


def _car(canvas: np.ndarray, color, window_color, wheel_color, line_type) -> None:
    """The car centred on CAR_PATH[0]: body, cabin, windows, wheels."""
    cx, cy = CAR_PATH[0]
    cv2.rectangle(canvas, (cx - 58, cy - 14), (cx + 58, cy + 12), color, -1, line_type)
    cabin = np.array([[cx - 34, cy - 14], [cx - 22, cy - 36], [cx + 20, cy - 36], [cx + 36, cy - 14]], np.int32)
    cv2.fillPoly(canvas, [cabin], color, line_type)
    if window_color is not None:
        for window in ([[cx - 28, cy - 16], [cx - 19, cy - 32], [cx - 3, cy - 32], [cx - 3, cy - 16]],
                       [[cx + 2, cy - 16], [cx + 2, cy - 32], [cx + 17, cy - 32], [cx + 29, cy - 16]]):
            cv2.fillPoly(canvas, [np.array(window, np.int32)], window_color, line_type)
    for wheel_x in (cx - 34, cx + 34):
        cv2.circle(canvas, (wheel_x, cy + 12), 12, wheel_color, -1, line_type)
        if window_color is not None:
            cv2.circle(canvas, (wheel_x, cy + 12), 5, (170, 170, 170), -1, line_type)


def _balloon(canvas: np.ndarray, envelope, stripe, basket, rope, line_type) -> None:
    """The hot-air balloon centred on BALLOON_PATH[0]: envelope, a stripe, ropes and a basket."""
    cx, cy = BALLOON_PATH[0]
    cv2.ellipse(canvas, (cx, cy), (34, 40), 0, 0, 360, envelope, -1, line_type)
    cone = np.array([[cx - 28, cy + 22], [cx + 28, cy + 22], [cx + 9, cy + 50], [cx - 9, cy + 50]], np.int32)
    cv2.fillPoly(canvas, [cone], envelope, line_type)
    if stripe is not None:
        cv2.ellipse(canvas, (cx, cy), (12, 40), 0, 0, 360, stripe, -1, line_type)
    for side in (-1, 1):
        cv2.line(canvas, (cx + side * 9, cy + 50), (cx + side * 7, cy + 60), rope, 2, line_type)
    cv2.rectangle(canvas, (cx - 9, cy + 59), (cx + 9, cy + 72), basket, -1, line_type)


def render_image() -> np.ndarray:
    """The RGB scene [HEIGHT, WIDTH, 3] uint8."""
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None, None] / HORIZON
    sky = (1 - rows) * np.array([96, 150, 222], np.float32) + rows * np.array([200, 226, 246], np.float32)
    image = np.broadcast_to(sky, (HEIGHT, WIDTH, 3)).copy()
    aa = cv2.LINE_AA
    cv2.circle(image, (90, 62), 30, (255, 236, 150), -1, aa)
    for x, y, size in ((250, 50, 26), (290, 44, 32), (325, 54, 22), (150, 120, 18), (178, 114, 24)):
        cv2.ellipse(image, (x, y), (size + 12, size // 2 + 6), 0, 0, 360, (250, 252, 255), -1, aa)
    columns = np.arange(WIDTH, dtype=np.float32)
    hill_top = HORIZON - 26 - 18 * np.sin(columns / 70.0) - 10 * np.sin(columns / 23.0 + 1.0)
    hills = np.concatenate([np.stack([columns, hill_top], axis=1), [[WIDTH - 1, HORIZON + 30], [0, HORIZON + 30]]])
    cv2.fillPoly(image, [np.round(hills * 16).astype(np.int32)], (70, 132, 78), aa, 4)
    ground = np.arange(HORIZON, HEIGHT, dtype=np.float32)[:, None] / (HEIGHT - HORIZON)
    image[HORIZON:] = (1 - ground[..., None]) * np.array([112, 168, 92]) + ground[..., None] * np.array([80, 140, 70])
    image[road_mask() > 0] = (92, 92, 98)
    for x in range(0, WIDTH, 64):
        cv2.rectangle(image, (x + 8, 276), (x + 40, 280), (236, 236, 226), -1, aa)
    _car(image, (206, 40, 44), (190, 224, 240), (34, 34, 38), aa)
    _balloon(image, (240, 130, 40), (250, 214, 70), (128, 84, 44), (90, 70, 50), aa)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def road_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[252:HEIGHT] = 255
    return mask


def car_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    _car(mask, 255, None, 255, cv2.LINE_8)
    return mask


def balloon_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    _balloon(mask, 255, None, 255, 255, cv2.LINE_8)
    return mask


def trajectories():
    """The example's entities in the pack's data model (compositing order: road first, so moving things win)."""
    from ..trajectory import Entity, Trajectories

    return Trajectories(
        [
            Entity("road", [ROAD_ANCHOR], anchor=True, label="road (hold still)", mask_name="mask_road.png"),
            Entity("car", CAR_PATH, frames=WAYPOINT_FRAMES, label="car", mask_name="mask_car.png"),
            Entity("balloon", BALLOON_PATH, frames=WAYPOINT_FRAMES, label="balloon", mask_name="mask_balloon.png"),
        ],
        width=WIDTH,
        height=HEIGHT,
        num_frames=NUM_FRAMES,
        image="image.png",
    )


def main(out_dir: Path = EXAMPLE_DIR) -> None:
    from PIL import Image

    from ..trajectory import to_json

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(render_image()).save(out_dir / "image.png", optimize=True)
    masks = {"car": car_mask(), "balloon": balloon_mask(), "road": road_mask() & ~car_mask()}
    for name, mask in masks.items():
        Image.fromarray(mask).save(out_dir / f"mask_{name}.png", optimize=True)
    # Innermost number lists on one line each, so a point reads as [x, y].
    text = re.sub(r"\[\s*([-+\d.eE,\s]+?)\s*\]", lambda m: "[" + ", ".join(m[1].replace(",", " ").split()) + "]",
                  to_json(trajectories(), indent=2))
    (out_dir / "trajectories.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
