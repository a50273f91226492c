"""Procedural, seeded training and test videos: textured scenes with sprites moving along smooth paths.

Every clip is a pure function of ``(seed, SceneConfig)``. A clip has a textured background (a world canvas larger
than the frame, so the camera can pan across it) and a few sprites of varied shape, colour and texture. Each
sprite either follows a smooth random path (a quadratic Bezier curve with eased timing) or is held still in the
world; in a panning scene the held-still sprites and the background move together on screen, like things on
the ground under a moving camera. Sprites translate only, so a point on a sprite is a well-defined track.

Ground truth per frame: the panoptic id mask (which entity is visible at each pixel, later sprites on top) and
one track per entity: the sprite's first-frame inscribed-circle centre carried along by its motion (for the
background, its first-frame inscribed-circle centre carried along by the camera). A track point is visible when
it lies inside the frame and the entity itself is seen there (not occluded by a sprite in front).

:func:`write_dataset` stores clips in the layout of VIPSeg (the data set the official model was trained on), so
:class:`draganything.train.dataset.VideoSegmentationDataset` reads a real VIPSeg folder the same way::

    root/imgs/<video>/<frame>.png        RGB frames, named by integer frame index
    root/panomasks/<video>/<frame>.png   single-channel 16-bit panoptic ids (0 = void)
    root/trajectories/<video>.json       {id: [[x, y], ...]} per entity, the official VIPSeg test-track format
    root/annotations/<video>.json        float tracks, visibility and entity kinds (this pack's addition)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import DragAnythingError

BACKGROUND_ID = 1
# Sprite k gets panoptic id SPRITE_ID_BASE * (k + 1), in the spirit of VIPSeg's category * 100 + instance.
SPRITE_ID_BASE = 100
SHAPES = ("circle", "ellipse", "square", "rectangle", "triangle", "diamond", "pentagon", "hexagon", "star", "cross")
TEXTURES = ("solid", "stripes", "checker", "dots", "gradient")


@dataclass(frozen=True)
class SceneConfig:
    """What the generator draws. Sizes are in pixels of the output frames."""

    height: int = 128
    width: int = 128
    num_frames: tuple[int, int] = (14, 14)
    sprites: tuple[int, int] = (2, 4)
    sprite_size: tuple[int, int] = (18, 40)
    still_probability: float = 0.3
    pan_probability: float = 0.3
    pan_distance: tuple[float, float] = (8.0, 28.0)
    travel: tuple[float, float] = (0.25, 0.6)
    margin: int = 6

    def __post_init__(self):
        if self.height < 32 or self.width < 32:
            raise DragAnythingError("SceneConfig", f"frames of {self.width}x{self.height} are too small",
                                    "Use at least 32x32 pixels.")
        for name in ("num_frames", "sprites", "sprite_size", "pan_distance", "travel"):
            low, high = getattr(self, name)
            if low > high or low < 0:
                raise DragAnythingError("SceneConfig", f"{name} = {(low, high)} is not a valid (low, high) range",
                                        "Give two non-negative numbers, the smaller first.")
        if self.num_frames[0] < 2:
            raise DragAnythingError("SceneConfig", "a clip needs at least 2 frames", "Raise num_frames.")
        if self.sprite_size[1] * 2 > min(self.height, self.width):
            raise DragAnythingError("SceneConfig", f"sprites up to {self.sprite_size[1]} px do not fit twice in a "
                                    f"{self.width}x{self.height} frame", "Use smaller sprites or larger frames.")


@dataclass
class SyntheticClip:
    """One generated video and its ground truth.

    frames: uint8 [F, H, W, 3] RGB. panoptic: uint16 [F, H, W] entity ids (BACKGROUND_ID, then sprite ids).
    ids: [E] the entities in compositing order (background first). tracks: float32 [E, F, 2] (x, y).
    visible: bool [E, F]. still: bool [E] (held still in the world; the background counts as still).
    kinds: "background" or the sprite's shape name, per entity. pan: float32 [F, 2] camera offset per frame.
    """

    frames: np.ndarray
    panoptic: np.ndarray
    ids: np.ndarray
    tracks: np.ndarray
    visible: np.ndarray
    still: np.ndarray
    kinds: list[str]
    pan: np.ndarray
    seed: int = 0
    config: SceneConfig = field(default_factory=SceneConfig)

    def masks(self, entity_id: int) -> np.ndarray:
        """bool [F, H, W]: where the entity is visible in each frame."""
        return self.panoptic == entity_id


# --------------------------------------------------------------------------------------------------- textures


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a coarse random grid upsampled bicubically."""
    coarse = rng.random((cells, cells), dtype=np.float32)
    noise = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    noise -= noise.min()
    return noise / max(float(noise.max()), 1e-6)


def _hsv_colour(hue: float, saturation: float, value: float) -> np.ndarray:
    """One RGB colour (float32 0..255) from hue in [0, 1), saturation and value in [0, 1]."""
    hsv = np.array([[[hue * 180.0, saturation * 255.0, value * 255.0]]], np.float32).clip(0, [[[179.99, 255, 255]]])
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A low-saturation textured canvas (float32 RGB): two tones mixed by smooth noise, plus a faint pattern.

    Saturation stays low so that sprites, which are saturated, stand apart from it in colour.
    """
    hue = rng.random()
    dark = _hsv_colour(hue, rng.uniform(0.05, 0.3), rng.uniform(0.25, 0.5))
    light = _hsv_colour((hue + rng.uniform(-0.1, 0.1)) % 1.0, rng.uniform(0.05, 0.3), rng.uniform(0.6, 0.9))
    mix = _smooth_noise(rng, height, width, int(rng.integers(3, 8)))[..., None]
    canvas = dark * (1 - mix) + light * mix
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    pattern = rng.integers(3)
    if pattern == 0:  # stripes at a random angle
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(8, 24)
        wave = np.sin(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) / period)
    elif pattern == 1:  # checker
        period = rng.uniform(10, 28)
        wave = np.sign(np.sin(np.pi * xs / period) * np.sin(np.pi * ys / period))
    else:  # fine grain
        wave = _smooth_noise(rng, height, width, max(height, width) // 4) * 2 - 1
    canvas += wave[..., None] * rng.uniform(6, 18)
    return canvas.clip(0, 255)


def _polygon(shape: str, size: int, rng: np.random.Generator) -> np.ndarray | None:
    """Vertices (float, sprite-local pixels, centred in a size x size patch) or None for round shapes."""
    centre = (size - 1) / 2
    radius = (size - 1) / 2
    if shape in ("square", "rectangle"):
        aspect = 1.0 if shape == "square" else rng.uniform(0.5, 0.75)
        half_w, half_h = radius, radius * aspect
        if rng.random() < 0.5:
            half_w, half_h = half_h, half_w
        return np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]]) + centre
    if shape == "cross":
        arm = radius * rng.uniform(0.35, 0.5)
        r = radius
        outline = [(-arm, -r), (arm, -r), (arm, -arm), (r, -arm), (r, arm), (arm, arm), (arm, r), (-arm, r),
                   (-arm, arm), (-r, arm), (-r, -arm), (-arm, -arm)]
        return np.array(outline) + centre
    corners = {"triangle": 3, "diamond": 4, "pentagon": 5, "hexagon": 6, "star": 10}.get(shape)
    if corners is None:
        return None
    angles = rng.uniform(0, 2 * np.pi) + np.arange(corners) * 2 * np.pi / corners
    radii = np.full(corners, radius)
    if shape == "star":
        radii[1::2] *= rng.uniform(0.4, 0.55)
    return np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1) + centre


def _sprite_mask(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """bool [size, size] silhouette. Round shapes come from ellipses, the rest from polygons (cv2 fill)."""
    mask = np.zeros((size, size), np.uint8)
    centre = (size - 1) / 2
    shift = 4  # sub-pixel vertex precision for cv2
    vertices = _polygon(shape, size, rng)
    if vertices is None:
        axes = (centre, centre) if shape == "circle" else (centre, centre * rng.uniform(0.5, 0.75))
        cv2.ellipse(mask, (round(centre * 16), round(centre * 16)), (round(axes[0] * 16), round(axes[1] * 16)),
                    float(rng.uniform(0, 180)), 0, 360, 1, -1, cv2.LINE_8, shift)
    else:
        cv2.fillPoly(mask, [np.round(vertices * (1 << shift)).astype(np.int32)], 1, cv2.LINE_8, shift)
    return mask.astype(bool)


def _sprite_texture(texture: str, size: int, hue: float, rng: np.random.Generator) -> np.ndarray:
    """float32 [size, size, 3] saturated texture around one hue, so each sprite has a colour of its own."""
    main = _hsv_colour(hue, rng.uniform(0.75, 1.0), rng.uniform(0.75, 1.0))
    second = _hsv_colour((hue + rng.uniform(-0.04, 0.04)) % 1.0, rng.uniform(0.6, 1.0), rng.uniform(0.35, 0.6))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    if texture == "solid":
        weight = np.zeros((size, size), np.float32)
    elif texture == "stripes":
        angle = rng.uniform(0, np.pi)
        weight = (np.sin(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) / rng.uniform(4, 8)) > 0)
    elif texture == "checker":
        period = rng.uniform(3, 6)
        weight = (np.floor(xs / period) + np.floor(ys / period)) % 2
    elif texture == "dots":
        period = rng.uniform(5, 8)
        weight = ((xs % period - period / 2) ** 2 + (ys % period - period / 2) ** 2) < (period / 4) ** 2
    else:  # radial gradient
        distance = np.hypot(xs - (size - 1) / 2, ys - (size - 1) / 2)
        weight = distance / max(float(distance.max()), 1.0)
    weight = np.asarray(weight, np.float32)[..., None]
    return main * (1 - weight) + second * weight


# ------------------------------------------------------------------------------------------------------ paths


def _eased(num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Monotone timing in [0, 1] over the frames: a random blend of constant speed and ease-in-out."""
    t = np.linspace(0.0, 1.0, num_frames)
    smooth = t * t * (3 - 2 * t)
    blend = rng.uniform(0, 1)
    return (1 - blend) * t + blend * smooth


def _bezier_path(start: np.ndarray, end: np.ndarray, bend: np.ndarray, timing: np.ndarray) -> np.ndarray:
    """Quadratic Bezier from start to end through the control point ``bend``, sampled at ``timing``: [F, 2]."""
    t = timing[:, None]
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t**2 * end


# ----------------------------------------------------------------------------------------------------- clips


def _inscribed_centre(mask: np.ndarray, *, inside_patch: bool) -> np.ndarray:
    """Centre (x, y) of the largest inscribed circle, by the same distance transform as the library.

    ``inside_patch``: the mask is a sprite's own patch, whose edges are not borders of the shape; pad it with
    zeros so that the circle stays inside the silhouette. A frame-sized mask is taken as it is, as the official
    code takes it (a region touching the frame's edge then has its centre on that edge).
    """
    pad = 1 if inside_patch else 0
    padded = np.pad(mask.astype(np.uint8), pad)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)
    _, _, _, (x, y) = cv2.minMaxLoc(distance)
    return np.array([x - pad, y - pad], np.float32)


def generate_clip(seed: int, config: SceneConfig = SceneConfig()) -> SyntheticClip:
    """One clip, a pure function of ``seed`` and ``config`` (same numbers on every machine with the same numpy/cv2)."""
    rng = np.random.default_rng(seed)
    height, width, margin = config.height, config.width, config.margin
    num_frames = int(rng.integers(config.num_frames[0], config.num_frames[1] + 1))

    # Camera: offset of the frame's top-left corner on the world canvas, linear in time.
    pan = np.zeros((num_frames, 2), np.float32)
    if rng.random() < config.pan_probability:
        angle = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(*config.pan_distance)
        pan = (np.linspace(0, 1, num_frames)[:, None] * distance * np.array([np.cos(angle), np.sin(angle)])).astype(
            np.float32)
    pad = int(np.ceil(np.abs(pan).max())) + 2
    canvas = _background(rng, height + 2 * pad, width + 2 * pad)

    count = int(rng.integers(config.sprites[0], config.sprites[1] + 1))
    hues = (rng.random() + np.arange(count) / count + rng.uniform(-0.3, 0.3, count) / count) % 1.0
    shapes = rng.choice(len(SHAPES), count, replace=count > len(SHAPES))
    sprites = []
    for index in range(count):
        size = int(rng.integers(config.sprite_size[0], config.sprite_size[1] + 1))
        shape = SHAPES[shapes[index]]
        mask = _sprite_mask(shape, size, rng)
        texture = _sprite_texture(TEXTURES[rng.integers(len(TEXTURES))], size, hues[index], rng)
        anchor = _inscribed_centre(mask, inside_patch=True)
        still = bool(rng.random() < config.still_probability)
        # Screen-space top-left corner per frame; the sprite's anchor stays inside the frame's margin.
        low = np.array([margin - anchor[0], margin - anchor[1]])
        high = np.array([width - margin - anchor[0], height - margin - anchor[1]])
        start = rng.uniform(low, high)
        if still:
            corner = start - (pan - pan[0])  # fixed in the world, so it moves on screen opposite to the camera
        else:
            length = rng.uniform(*config.travel) * min(height, width)
            direction = rng.uniform(0, 2 * np.pi)
            end = np.clip(start + length * np.array([np.cos(direction), np.sin(direction)]), low, high)
            middle = (start + end) / 2
            normal = np.array([-(end - start)[1], (end - start)[0]])
            bend = np.clip(middle + normal * rng.uniform(-0.5, 0.5), low, high)
            corner = _bezier_path(start, end, bend, _eased(num_frames, rng))
        sprites.append((mask, texture, anchor, np.round(corner).astype(np.int64), still, shape))

    frames = np.empty((num_frames, height, width, 3), np.uint8)
    panoptic = np.empty((num_frames, height, width), np.uint16)
    world = np.float32([[1, 0, 0], [0, 1, 0]])
    for frame in range(num_frames):
        # Sub-pixel camera: the frame is the canvas shifted by pad + pan (bilinear).
        world[:, 2] = -(pad + pan[frame])
        image = cv2.warpAffine(canvas, world, (width, height), flags=cv2.INTER_LINEAR)
        ids = np.full((height, width), BACKGROUND_ID, np.uint16)
        for index, (mask, texture, _, corner, _, _) in enumerate(sprites):
            x0, y0 = corner[frame]
            size = mask.shape[0]
            # Intersection of the sprite's box with the frame, in frame and in sprite coordinates.
            fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + size, width), min(y0 + size, height)
            if fx0 >= fx1 or fy0 >= fy1:
                continue
            local = mask[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
            image[fy0:fy1, fx0:fx1][local] = texture[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0][local]
            ids[fy0:fy1, fx0:fx1][local] = SPRITE_ID_BASE * (index + 1)
        frames[frame] = image.clip(0, 255).astype(np.uint8)
        panoptic[frame] = ids

    entity_ids = [BACKGROUND_ID] + [SPRITE_ID_BASE * (index + 1) for index in range(count)]
    tracks = np.empty((len(entity_ids), num_frames, 2), np.float32)
    background_anchor = _inscribed_centre(panoptic[0] == BACKGROUND_ID, inside_patch=False)
    tracks[0] = background_anchor - (pan - pan[0])
    for index, (_, _, anchor, corner, _, _) in enumerate(sprites):
        tracks[index + 1] = corner + anchor
    cols = np.floor(tracks[..., 0]).astype(np.int64)
    rows = np.floor(tracks[..., 1]).astype(np.int64)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    frame_index = np.broadcast_to(np.arange(num_frames), cols.shape)
    seen = panoptic[frame_index, rows.clip(0, height - 1), cols.clip(0, width - 1)] == np.array(entity_ids)[:, None]
    return SyntheticClip(
        frames=frames,
        panoptic=panoptic,
        ids=np.array(entity_ids, np.int64),
        tracks=tracks,
        visible=inside & seen,
        still=np.array([True] + [sprite[4] for sprite in sprites]),
        kinds=["background"] + [sprite[5] for sprite in sprites],
        pan=pan,
        seed=seed,
        config=config,
    )


# ----------------------------------------------------------------------------------------------------- on disk


def video_name(seed: int) -> str:
    return f"synthetic_{seed:07d}"


def write_clip(root: str | Path, clip: SyntheticClip, name: str | None = None) -> str:
    """Write one clip in the VIPSeg-style layout (module docstring); returns the video name."""
    root = Path(root)
    name = name or video_name(clip.seed)
    image_dir = root / "imgs" / name
    mask_dir = root / "panomasks" / name
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    for index, (frame, ids) in enumerate(zip(clip.frames, clip.panoptic)):
        cv2.imwrite(str(image_dir / f"{index:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(mask_dir / f"{index:05d}.png"), ids)
    (root / "trajectories").mkdir(exist_ok=True)
    official = {str(int(entity)): np.trunc(track).astype(int).tolist() for entity, track in zip(clip.ids, clip.tracks)}
    (root / "trajectories" / f"{name}.json").write_text(json.dumps(official))
    (root / "annotations").mkdir(exist_ok=True)
    annotation = {
        "seed": clip.seed,
        "size": [clip.config.width, clip.config.height],
        "ids": clip.ids.tolist(),
        "kinds": clip.kinds,
        "still": clip.still.tolist(),
        "tracks": np.round(clip.tracks, 3).tolist(),
        "visible": clip.visible.tolist(),
        "pan": np.round(clip.pan, 3).tolist(),
        "config": asdict(clip.config),
    }
    (root / "annotations" / f"{name}.json").write_text(json.dumps(annotation))
    return name


def _write_one(job: tuple[str, int, SceneConfig]) -> str:
    root, seed, config = job
    return write_clip(root, generate_clip(seed, config))


def write_dataset(root: str | Path, seeds, config: SceneConfig = SceneConfig(), workers: int = 0) -> list[str]:
    """Generate and write one clip per seed; ``workers`` > 1 spreads the work over processes. Returns the names."""
    jobs = [(str(root), int(seed), config) for seed in seeds]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(_write_one, jobs, chunksize=16))
    return [_write_one(job) for job in jobs]
