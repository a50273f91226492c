"""Pictures of the conditioning and of the result: trajectory overlays, heatmaps, side-by-side panels, GIF/MP4.

Every function takes and returns plain uint8 RGB frames shaped [F, H, W, 3] (torch tensors and float maps are
accepted where noted and converted once). Points are [E, F, 2] float (x, y) in pixels of the frames they are
drawn on, one row per entity in the library's order. Nothing here knows about models or file formats of the pack.

Writers: GIF through Pillow (always available); MP4 through OpenCV's VideoWriter ("mp4v", always available) or,
when the optional `imageio-ffmpeg` package is installed, H.264 (yuv420p), which browsers also play.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .errors import DragAnythingError

# The official demo writes its GIF at 110 ms per frame.
OFFICIAL_FRAME_MS = 110
DEFAULT_FPS = 1000.0 / OFFICIAL_FRAME_MS

# cv2 draws at 1/2**_SHIFT pixel precision, so tracks sit where the float points say.
_SHIFT = 4
_SCALE = 1 << _SHIFT

_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)


# ---------------------------------------------------------------------------------------------------------------
# Array plumbing


def _to_numpy(array) -> np.ndarray:
    """numpy view of a numpy array or a torch tensor (on any device), without importing torch."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().float().numpy()
    return np.asarray(array)


def as_rgb_frames(frames) -> np.ndarray:
    """[F, H, W, 3] uint8 from frames given as [F, H, W, 3] or one image [H, W, 3]; uint8, or float in 0..1.

    PIL images (or a list of them) are accepted too. Float input is clipped to 0..1 and rounded.
    """
    if isinstance(frames, Image.Image):
        frames = [frames]
    if isinstance(frames, (list, tuple)) and frames and isinstance(frames[0], Image.Image):
        frames = np.stack([np.asarray(frame.convert("RGB")) for frame in frames])
    array = _to_numpy(frames)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise DragAnythingError(
            "frames", f"expected RGB frames shaped [F, H, W, 3] or one image [H, W, 3], got shape {array.shape}",
            "Pass channel-last RGB frames (convert a [F, 3, H, W] tensor with .permute(0, 2, 3, 1))",
        )
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    return (np.clip(array.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def entity_colors(count: int) -> np.ndarray:
    """[count, 3] uint8 RGB: saturated, well-separated colours, the same for an entity index on every call.

    Hues walk the circle by the golden angle, so any prefix of the list is spread out and neighbours differ.
    """
    hues = (np.arange(count) * 0.618033988749895 * 180.0) % 180.0
    hsv = np.stack([hues, np.full(count, 220.0), np.full(count, 255.0)], axis=-1).astype(np.uint8)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0]


def _fixed(points: np.ndarray) -> np.ndarray:
    """Float pixel coordinates -> cv2's fixed-point int32 (use with shift=_SHIFT)."""
    # Contiguous whatever the input's layout (a transposed [F, E, 2] array): cv2 reads rows as point vectors.
    return np.ascontiguousarray(np.round(np.asarray(points, dtype=np.float64) * _SCALE), dtype=np.int32)


def _blend(frames: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """frames [F,H,W,3] over which `layer` [H,W,3] is laid with per-pixel opacity `alpha` [H,W] in 0..1."""
    weight = alpha[None, :, :, None].astype(np.float32)
    mixed = frames.astype(np.float32) * (1.0 - weight) + layer[None].astype(np.float32) * weight
    return (mixed + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# Trajectory overlay


def _check_points(points, num_frames: int | None = None) -> np.ndarray:
    points = _to_numpy(points).astype(np.float64)
    if points.ndim != 3 or points.shape[-1] != 2:
        raise DragAnythingError(
            "points", f"expected per-entity tracks shaped [E, F, 2], got shape {points.shape}",
            "Resample the trajectories to the frame count first (one (x, y) per entity and frame)",
        )
    if num_frames is not None and points.shape[1] != num_frames and num_frames != 1:
        raise DragAnythingError(
            "points", f"the tracks have {points.shape[1]} frames but the video has {num_frames}",
            "Resample the trajectories to the video's frame count",
        )
    return points


def _outline(mask: np.ndarray) -> list[np.ndarray]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return list(contours)


def _moved_contour(contour: np.ndarray, start, point, scale: float, rotation: float) -> np.ndarray:
    """A contour [K, 1, 2] moved as the entity moves: p -> point + scale * R(rotation) (p - start)."""
    from .trajectory.camera import rotate

    offset = contour[:, 0].astype(np.float64) - start
    return np.round(point + scale * rotate(offset, rotation)).astype(np.int32)[:, None]


def draw_tracks(
    frames,
    points,
    *,
    masks=None,
    anchors=None,
    visible=None,
    colors=None,
    thickness: int | None = None,
    scale=None,
    rotation=None,
) -> np.ndarray:
    """Draw each entity's track over the frames; returns [F, H, W, 3] uint8 RGB.

    frames: [F, H, W, 3] (or one [H, W, 3] image, repeated for every frame of the tracks).
    points: [E, F, 2] float (x, y) per entity and frame, in pixels of `frames`.
    masks: optional [E, H, W] first-frame masks; each entity's outline is drawn and follows its track (shifted
        by the point's displacement from frame 0).
    anchors: optional [E] bool; "hold still" entities get a square marker and no path.
    visible: optional [E, F] bool; an invisible point (off-frame or occluded) is drawn as a cross, not a dot.
    scale, rotation: optional [E, F] size and angle (degrees, clockwise on screen) relative to frame 0 (the
        trajectories' `motion`); the outlines then also grow and turn about the track point.
    colors: optional [E, 3] uint8 RGB; defaults to `entity_colors(E)`.

    Each moving entity shows its whole path faintly, the part travelled so far solid, and a dot at the current
    point; its start is a ring.
    """
    points = _check_points(points)
    frames = as_rgb_frames(frames)
    num_entities, num_frames = points.shape[:2]
    if frames.shape[0] == 1:
        frames = np.repeat(frames, num_frames, axis=0)
    elif frames.shape[0] != num_frames:
        raise DragAnythingError(
            "points", f"the tracks have {num_frames} frames but the video has {frames.shape[0]}",
            "Resample the trajectories to the video's frame count",
        )
    height, width = frames.shape[1:3]
    anchors = np.zeros(num_entities, bool) if anchors is None else np.asarray(anchors, bool).reshape(-1)
    visible = np.ones((num_entities, num_frames), bool) if visible is None else np.asarray(visible, bool)
    colors = entity_colors(num_entities) if colors is None else np.asarray(colors, np.uint8).reshape(-1, 3)
    if len(anchors) != num_entities or visible.shape != (num_entities, num_frames) or len(colors) < num_entities:
        raise DragAnythingError(
            "anchors/visible/colors", f"they do not match {num_entities} entities x {num_frames} frames",
            "Pass one anchor flag and colour per entity and one visibility flag per entity and frame",
        )
    if masks is not None:
        masks = _to_numpy(masks)
        if masks.shape != (num_entities, height, width):
            raise DragAnythingError(
                "masks", f"expected {num_entities} masks of {width}x{height}, got shape {masks.shape}",
                "Map the masks with the same framing as the frames (one mask per entity)",
            )
    line = thickness or max(1, round(min(height, width) / 160))
    dot = 3 * line
    color_tuples = [tuple(int(c) for c in color) for color in colors[:num_entities]]
    fixed = _fixed(points)

    # The whole path of every moving entity, faint, laid over all frames at once.
    ghost = np.zeros((height, width, 3), np.uint8)
    ghost_alpha = np.zeros((height, width), np.uint8)
    for index in np.flatnonzero(~anchors):
        cv2.polylines(ghost, [fixed[index]], False, color_tuples[index], line, cv2.LINE_AA, _SHIFT)
        cv2.polylines(ghost_alpha, [fixed[index]], False, 255, line, cv2.LINE_AA, _SHIFT)
    out = _blend(frames, ghost, ghost_alpha.astype(np.float32) / 255.0 * 0.45)

    outlines = [_outline(mask > 0) for mask in masks] if masks is not None else [[] for _ in range(num_entities)]
    offsets = np.round(points - points[:, :1]).astype(np.int64)
    turned = scale is not None or rotation is not None
    scale = np.ones((num_entities, num_frames)) if scale is None else np.asarray(scale, np.float64)
    rotation = np.zeros((num_entities, num_frames)) if rotation is None else np.asarray(rotation, np.float64)
    for frame_index in range(num_frames):
        canvas = out[frame_index]
        for index, color in enumerate(color_tuples):
            if outlines[index] and turned and not anchors[index]:
                moved = [_moved_contour(contour, points[index, 0], points[index, frame_index],
                                        scale[index, frame_index], rotation[index, frame_index])
                         for contour in outlines[index]]
                cv2.drawContours(canvas, moved, -1, color, line, cv2.LINE_AA)
            elif outlines[index]:
                offset = (0, 0) if anchors[index] else tuple(int(v) for v in offsets[index, frame_index])
                cv2.drawContours(canvas, outlines[index], -1, color, line, cv2.LINE_AA, offset=offset)
            center = tuple(int(v) for v in fixed[index, frame_index])
            if anchors[index]:
                half = dot * _SCALE
                corner_a = (center[0] - half, center[1] - half)
                corner_b = (center[0] + half, center[1] + half)
                cv2.rectangle(canvas, corner_a, corner_b, color, -1, cv2.LINE_AA, _SHIFT)
                cv2.rectangle(canvas, corner_a, corner_b, _WHITE, max(1, line // 2), cv2.LINE_AA, _SHIFT)
                continue
            start = tuple(int(v) for v in fixed[index, 0])
            cv2.circle(canvas, start, dot * _SCALE, color, line, cv2.LINE_AA, _SHIFT)
            if frame_index > 0:
                travelled = fixed[index, : frame_index + 1]
                cv2.polylines(canvas, [travelled], False, color, line + 1, cv2.LINE_AA, _SHIFT)
            if visible[index, frame_index]:
                cv2.circle(canvas, center, dot * _SCALE, color, -1, cv2.LINE_AA, _SHIFT)
                cv2.circle(canvas, center, dot * _SCALE, _WHITE, max(1, line // 2), cv2.LINE_AA, _SHIFT)
            else:
                arm = dot * _SCALE
                for sign in (1, -1):
                    start_xy = (center[0] - arm, center[1] - sign * arm)
                    end_xy = (center[0] + arm, center[1] + sign * arm)
                    cv2.line(canvas, start_xy, end_xy, color, line, cv2.LINE_AA, _SHIFT)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Conditioning previews


def _apply_jet(gray: np.ndarray) -> np.ndarray:
    """[..., H, W] uint8 -> [..., H, W, 3] RGB through OpenCV's JET colormap (the official demo's)."""
    flat = gray.reshape(-1, gray.shape[-1])
    colored = cv2.cvtColor(cv2.applyColorMap(flat, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return colored.reshape(*gray.shape, 3)


def _gaussian_gray(gaussian) -> np.ndarray:
    """A Gaussian map stack as [F, H, W] uint8: accepts [F, 3, H, W] (the model input), [F, H, W], 0..255."""
    maps = _to_numpy(gaussian)
    if maps.ndim == 4 and maps.shape[1] in (1, 3):
        maps = maps[:, 0]
    if maps.ndim != 3:
        raise DragAnythingError(
            "gaussian", f"expected a Gaussian map stack shaped [F, 3, H, W] or [F, H, W], got shape {maps.shape}",
            "Pass the stack the conditioning builder returns",
        )
    if maps.dtype != np.uint8:
        maps = np.clip(np.round(maps), 0, 255).astype(np.uint8)
    return maps


def gaussian_heatmap(gaussian) -> np.ndarray:
    """JET-coloured preview of a Gaussian map stack (values 0..255, the official scale): [F, H, W, 3] uint8."""
    return _apply_jet(_gaussian_gray(gaussian))


def official_trajectory_vis(gaussian, points) -> np.ndarray:
    """The left panel of the official demo GIF: Gaussian squares plus a white 3 px polyline through the points
    before the current frame (one earlier point draws a single pixel), coloured with JET. [F, H, W, 3] uint8."""
    gray = _gaussian_gray(gaussian).copy()
    points = _check_points(points, gray.shape[0])
    pixels = points.astype(np.int64)  # the official code truncates coordinates
    for frame_index in range(1, gray.shape[0]):
        for track in pixels[:, :frame_index]:
            if frame_index == 1:
                x, y = track[0]
                if 0 <= y < gray.shape[1] and 0 <= x < gray.shape[2]:
                    gray[frame_index, y, x] = 255
            else:
                cv2.polylines(gray[frame_index], [track.astype(np.int32)], False, 255, 3)
    return _apply_jet(gray)


def _distinct_rows(rows: np.ndarray) -> np.ndarray:
    """The distinct rows of [n, D], in first-seen order of an exact integer hash of their float32 bits (a sort of
    n keys rather than of n rows)."""
    bits = np.ascontiguousarray(rows, dtype=np.float32).view(np.uint32).astype(np.uint64)
    weights = np.random.default_rng(0).integers(1, 2**63, size=bits.shape[1], dtype=np.uint64) | np.uint64(1)
    _, first = np.unique((bits * weights).sum(axis=1, dtype=np.uint64), return_index=True)
    return np.asarray(rows)[np.sort(first)]


class _VectorColors:
    """Colours for embedding vectors, fitted once on a sample of them.

    The vectors are projected on their first three principal components, each stretched to the sample's range,
    so different embeddings get different colours. When they vary along one direction only (one entity, or the
    official demo mode, where every channel holds the same scalar) that direction goes through JET instead; a
    single repeated vector gets a single colour.
    """

    def __init__(self, sample: np.ndarray):
        # Fitted on distinct vectors, so the colours do not depend on how many pixels carry each entity.
        sample = _distinct_rows(sample).astype(np.float64)
        self.mean = sample.mean(axis=0)
        _, singular, directions = np.linalg.svd(sample - self.mean, full_matrices=False)
        tolerance = 1e-6 * max(float(np.abs(sample).max()), 1e-12) * np.sqrt(len(sample))
        self.rank = int((singular > tolerance).sum())
        self.basis = directions[: min(max(self.rank, 1), 3)] * (self.rank > 0)
        projected = (sample - self.mean) @ self.basis.T
        self.low = projected.min(axis=0)
        high = projected.max(axis=0)
        self.span = np.where(high > self.low, high - self.low, 1.0)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """[n, D] -> [n, 3] uint8 RGB, never darker than 50 so entities stand out from a black background."""
        unit = np.clip(((np.asarray(vectors, np.float64) - self.mean) @ self.basis.T - self.low) / self.span, 0, 1)
        if self.rank >= 2:
            rgb = np.zeros((len(unit), 3))
            rgb[:, : unit.shape[1]] = unit
            return (rgb * 205.0 + 50.5).astype(np.uint8)
        return _apply_jet((unit[:, 0] * 200.0 + 55.5).astype(np.uint8)[None])[0]


def entity_index_preview(index_maps, embeddings, *, background=_BLACK) -> np.ndarray:
    """Colour preview of an entity map in its compact form: [F, H, W, 3] uint8.

    index_maps: [F, H, W] int, -1 where no entity is painted, else the row of `embeddings` [N, D] painted there
    (what `draganything.entity.entity_index_maps` returns). Pixels carrying no entity are `background`; the
    others are coloured by their vector (see `_VectorColors`).
    """
    index = _to_numpy(index_maps).astype(np.int64)
    table = _to_numpy(embeddings).astype(np.float64)
    if index.ndim != 3 or table.ndim != 2 or (index.size and index.max() >= len(table)) or index.min(initial=0) < -1:
        raise DragAnythingError(
            "entity_map", f"expected index maps [F, H, W] with values -1..N-1 and embeddings [N, D], got "
            f"{index.shape} and {table.shape}",
            "Pass what entity_index_maps returns together with the embedding table it indexes",
        )
    palette = np.concatenate([np.asarray(background, np.uint8)[None], _VectorColors(table)(table)])
    return palette[index + 1]


# ---------------------------------------------------------------------------------------------------------------
# Composition


def conditions_preview(maps, first_frame: np.ndarray | None = None, framing: str = "stretch") -> np.ndarray:
    """[Gaussian map | entity map] per frame of a :class:`draganything.conditions.ConditionMaps`: uint8
    [F, H, 2W, 3]. With the source first frame (uint8 [Hs, Ws, 3]), the Gaussian is laid half and half over it,
    framed as the model sees it."""
    gaussian = gaussian_heatmap(maps.gaussian[:, 0])
    if first_frame is not None:
        from .framing import Framing

        height, width = gaussian.shape[1:3]
        frame = Framing(first_frame.shape[1], first_frame.shape[0], width, height, framing).image(first_frame)
        gaussian = (0.5 * frame.astype(np.float32) + 0.5 * gaussian).astype(np.uint8)
    return side_by_side(gaussian, entity_index_preview(maps.entity_index, maps.embeddings))


def side_by_side(*videos, gap: int = 0) -> np.ndarray:
    """Panels next to each other, each scaled to the first panel's height: [F, H, sum(W), 3] uint8.

    Videos of one frame are repeated to the others' length (a still image beside a video).
    """
    panels = [as_rgb_frames(video) for video in videos]
    lengths = {len(panel) for panel in panels} - {1}
    if len(lengths) > 1:
        raise DragAnythingError(
            "videos", f"the panels have different frame counts {sorted(lengths)}",
            "Give every panel the same number of frames (or a single frame)",
        )
    num_frames = lengths.pop() if lengths else 1
    height = panels[0].shape[1]
    scaled = []
    for panel in panels:
        resized = panel
        if panel.shape[1] != height:
            width = max(1, round(panel.shape[2] * height / panel.shape[1]))
            resized = np.stack([cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) for frame in panel])
        scaled.append(np.broadcast_to(resized, (num_frames, *resized.shape[1:])))
    if gap:
        spacer = np.full((num_frames, height, gap, 3), 255, np.uint8)
        scaled = [piece for panel in scaled for piece in (panel, spacer)][:-1]
    return np.concatenate(scaled, axis=2)


def filmstrip(frames, count: int = 5, gap: int = 4) -> np.ndarray:
    """One [H, W', 3] image of `count` evenly spaced frames (first and last included), left to right."""
    frames = as_rgb_frames(frames)
    picks = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int))
    return side_by_side(*[frames[index] for index in picks], gap=gap)[0]


# ---------------------------------------------------------------------------------------------------------------
# Files


def _prepare_path(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_png(path, image) -> Path:
    """Write one RGB image [H, W, 3] as PNG."""
    path = _prepare_path(path)
    Image.fromarray(as_rgb_frames(image)[0]).save(path)
    return path


def write_gif(path, frames, fps: float = DEFAULT_FPS) -> Path:
    """Write frames as a looping GIF (Pillow; one 256-colour palette for the clip, Floyd-Steinberg dithering).

    GIF stores delays in 1/100 s, so `fps` is rounded to that. Like every GIF encoder Pillow merges consecutive
    identical frames into one longer frame: the playback time is exact, the stored frame count can be smaller.
    """
    frames = as_rgb_frames(frames)
    path = _prepare_path(path)
    # One palette for the whole clip (median cut over a few evenly spaced frames), so colours do not flicker from
    # frame to frame, with error diffusion against banding in gradients (skies, heatmaps).
    picks = np.unique(np.linspace(0, len(frames) - 1, min(4, len(frames))).round().astype(int))
    palette = Image.fromarray(np.concatenate(frames[picks, ::2, ::2])).quantize(256, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG) for frame in frames]
    duration = max(10, round(100.0 / fps) * 10)
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0, optimize=False)
    return path


def _h264_writer():
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    return imageio_ffmpeg


def write_mp4(path, frames, fps: float = DEFAULT_FPS, codec: str = "auto") -> Path:
    """Write frames as MP4. codec: "h264" (needs imageio-ffmpeg), "mp4v" (OpenCV, always there) or "auto"
    (H.264 when imageio-ffmpeg is installed, else mp4v). Odd sizes are padded by one black row/column because
    4:2:0 video needs even dimensions."""
    frames = as_rgb_frames(frames)
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)))
        height, width = frames.shape[1:3]
    path = _prepare_path(path)
    ffmpeg = _h264_writer() if codec in ("auto", "h264") else None
    if codec == "h264" and ffmpeg is None:
        raise DragAnythingError(
            "codec", "H.264 MP4 needs the imageio-ffmpeg package, which is not installed",
            "Install it with `pip install imageio-ffmpeg`, or choose the mp4v codec",
        )
    if codec not in ("auto", "h264", "mp4v"):
        raise DragAnythingError("codec", f"unknown MP4 codec {codec!r}", "Use one of auto, h264, mp4v")
    if ffmpeg is not None:
        writer = ffmpeg.write_frames(
            str(path), (width, height), fps=fps, codec="libx264", pix_fmt_out="yuv420p", quality=8,
            output_params=["-movflags", "+faststart"], macro_block_size=1,
        )
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        return path
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
    if not writer.isOpened():
        raise DragAnythingError(
            "out", f"OpenCV could not open an MP4 writer for {path}",
            "Check that the folder is writable, or write a GIF instead",
        )
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_video(path, frames, fps: float = DEFAULT_FPS) -> Path:
    """Write a GIF or an MP4, chosen by the file suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        return write_gif(path, frames, fps)
    if suffix == ".mp4":
        return write_mp4(path, frames, fps)
    raise DragAnythingError("out", f"cannot write a video to {str(path)!r}", "Use a .gif or .mp4 file name")


def read_video(path) -> np.ndarray:
    """Read a GIF, MP4 or still image back as [F, H, W, 3] uint8 RGB: the frames as stored (a GIF stores a run of
    identical frames once, with their summed delay; see `write_gif`)."""
    path = Path(path)
    if not path.is_file():
        raise DragAnythingError("video", f"no file at {str(path)!r}", "Check the path")
    if path.suffix.lower() in (".mp4", ".mov", ".avi", ".webm", ".mkv"):
        capture = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        capture.release()
        if not frames:
            raise DragAnythingError("video", f"OpenCV read no frames from {str(path)!r}", "Check that it is a video")
        return np.stack(frames)
    try:
        with Image.open(path) as image:
            frames = []
            for index in range(getattr(image, "n_frames", 1)):
                image.seek(index)
                frames.append(np.asarray(image.convert("RGB")))
    except (OSError, SyntaxError) as error:
        raise DragAnythingError("video", f"{str(path)!r} is not a readable image or GIF ({error})",
                                "Check that it is a GIF, PNG, JPEG or MP4 file") from None
    return np.stack(frames)
