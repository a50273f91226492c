"""HTTP routes of the trajectory editor (web/js/trajectory_editor.js).

Importing this module registers them on the host's PromptServer; nothing else is needed. Every route answers JSON
(or a PNG) and never raises into the server: bad requests get a 400 with a message the editor shows, anything
else a 500 with the same shape. Parsing, resampling, Gaussian maps and segmentation are the pack's own functions,
so the editor draws exactly what the nodes compute.

- POST /draganything/editor/preview   the trajectory value (any accepted format) -> the pack's JSON document,
                                      every entity's track resampled to the frame count, its colour, and the
                                      radius its maps will get (conditions.map_radii, in picture pixels).
- POST /draganything/editor/gaussian  the same value + a frame index -> RGBA PNG of the Gaussian map at frame k,
                                      built at the model's size as build_conditions builds it, laid back onto
                                      the picture.
- POST /draganything/editor/mask      an input/temp image name + clicks/box -> the entity mask (PNG data URL),
                                      its inscribed radius and how it was made (SAM, or GrabCut as the fallback).
- POST /draganything/editor/camera    the value + zoom/orbit/pan/centre/frames/easing -> the pack's JSON document
                                      with every held entity turned into its path under that camera move.
- POST /draganything/editor/easing    an easing (preset name or [[t, progress], ...]) -> progress sampled at
                                      evenly spaced t, to draw the curve exactly as the resampler applies it.

Heavy work (parsing big values, Gaussian maps, SAM, GrabCut) runs in worker threads, never on the event loop.
SAM runs on the CPU so it never takes GPU memory from a sampler that may be running at the same time; the image
embedding, the expensive part (seconds per image for ViT-H on a CPU), is cached per image file and model.
"""

from __future__ import annotations

import asyncio
import base64
import io as bytes_io
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import folder_paths
import numpy as np
import torch
from aiohttp import web
from PIL import Image
from server import PromptServer

from ..draganything import gaussian, trajectory, viz
from ..draganything.conditions import (
    GRAPH_FRAMING,
    GRAPH_RESAMPLING,
    MapRadii,
    map_radii,
    model_tracks,
)
from ..draganything.entity import inscribed_circle, side_cap
from ..draganything.errors import DragAnythingError
from ..draganything.framing import FRAMING_MODES, MODEL_FRAMES, MODEL_HEIGHT, MODEL_WIDTH, Framing
from ..draganything.segmentation import EntityPrompt, build_sam, predict_mask, segment_with_grabcut, unwrap_checkpoint
from .folders import SAM_FOLDER

ROUTE_PREFIX = "/draganything/editor"

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_ENTITIES = 64
MAX_POINTS_PER_ENTITY = 2048
MAX_FRAMES = 512
MAX_CLICKS = 64
MAX_IMAGE_PIXELS = 8192 * 8192
MAX_PREVIEW_SIDE = 1024
DEFAULT_PREVIEW_SIDE = 384
IMAGE_FOLDER_TYPES = ("input", "temp")
MAX_MODEL_SIDE = 4096
PLACEHOLDER_RADIUS_FRACTION = 0.06
EMBEDDING_CACHE_SIZE = 4

log = logging.getLogger("draganything.editor")


class BadRequest(Exception):
    """A request the editor (or a script) got wrong; the message is shown to the user as it is."""


# ----------------------------------------------------------------------------------------------- request parsing


async def _read_json(request: web.Request) -> dict:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BadRequest(f"the request body is {request.content_length} bytes; the editor routes accept at most "
                         f"{MAX_BODY_BYTES}")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        body = json.loads(raw.decode("utf-8"))
    except ValueError as error:
        raise BadRequest(f"the request body is not valid JSON ({error})") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _int_field(body: dict, name: str, default: int | None, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be an integer from {low} to {high}, got {value!r}")
    return value


def _choice_field(body: dict, name: str, default: str, choices) -> str:
    value = body.get(name, default)
    if value not in choices:
        raise BadRequest(f"'{name}' must be one of {', '.join(choices)}, got {value!r}")
    return value


def _parse_value(body: dict) -> trajectory.Trajectories:
    """The trajectory value as the Trajectories node reads it, checked against the editor's bounds."""
    if "trajectories" not in body:
        raise BadRequest("'trajectories' is missing: send the node's JSON value (a string or an object)")
    value = body["trajectories"]
    width = body.get("width")
    height = body.get("height")
    for name, size in (("width", width), ("height", height)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= 16384):
            raise BadRequest(f"'{name}' must be a positive integer of at most 16384 pixels, got {size!r}")
    parsed = trajectory.parse_trajectories(value, width=width, height=height, input_name="trajectories")
    if len(parsed.entities) > MAX_ENTITIES:
        raise BadRequest(f"the value holds {len(parsed.entities)} entities; the editor shows at most {MAX_ENTITIES}")
    for entity in parsed.entities:
        if len(entity.points) > MAX_POINTS_PER_ENTITY:
            raise BadRequest(f"entity {entity.id!r} has {len(entity.points)} points; the editor handles at most "
                             f"{MAX_POINTS_PER_ENTITY} per entity")
    return parsed


def _hex_colors(count: int) -> list[str]:
    return ["#{:02x}{:02x}{:02x}".format(*map(int, rgb)) for rgb in viz.entity_colors(count)]


# ------------------------------------------------------------------------------------------------------ images


def resolve_image_path(reference) -> str:
    """An image reference from the editor -> an existing file inside the host's input or temp folder.

    Accepts what LoadImage's widget holds ("name.png", "sub/name.png", "name.png [input]") or an object
    {"filename", "subfolder", "type"} as /view takes it. Anything that would leave those folders is refused.
    """
    if isinstance(reference, dict):
        filename, subfolder = reference.get("filename"), reference.get("subfolder", "") or ""
        folder_type = reference.get("type", "input") or "input"
    elif isinstance(reference, str):
        name, directory = folder_paths.annotated_filepath(reference.strip())
        folder_type = "input"
        if directory is not None:
            by_directory = {os.path.normpath(folder_paths.get_directory_by_type(kind)): kind for kind in IMAGE_FOLDER_TYPES}
            folder_type = by_directory.get(os.path.normpath(directory))
            if folder_type is None:
                raise BadRequest(f"images can only come from the {' or '.join(IMAGE_FOLDER_TYPES)} folder")
        subfolder, filename = os.path.split(name)
    else:
        raise BadRequest("'image' must be a file name or {filename, subfolder, type}")
    if folder_type not in IMAGE_FOLDER_TYPES:
        raise BadRequest(f"images can only come from the {' or '.join(IMAGE_FOLDER_TYPES)} folder, not {folder_type!r}")
    if not isinstance(filename, str) or not filename or not isinstance(subfolder, str):
        raise BadRequest("'image' names no file")
    base = os.path.realpath(folder_paths.get_directory_by_type(folder_type))
    path = os.path.realpath(os.path.join(base, subfolder, filename))
    if os.path.commonpath([base, path]) != base:
        raise BadRequest(f"the image {filename!r} lies outside the {folder_type} folder")
    if not os.path.isfile(path):
        raise BadRequest(f"the image {os.path.join(subfolder, filename)!r} is not in the {folder_type} folder: "
                         "drop the picture onto the node again or put it in ComfyUI's input folder")
    return path


def load_rgb(path: str) -> np.ndarray:
    with Image.open(path) as image:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise BadRequest(f"the image is {width}x{height}; the editor segments images of at most "
                             f"{MAX_IMAGE_PIXELS} pixels")
        return np.asarray(image.convert("RGB"))


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = bytes_io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------------- SAM


class SamService:
    """segment-anything on the CPU with the image embedding cached per (image file, model).

    One model is kept loaded (the last one asked for). The lock serialises requests: SAM is not re-entrant and a
    second click on the same image should reuse the first click's embedding, not compute it in parallel.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._model_name: str | None = None
        self._sam = None
        self._embeddings: OrderedDict[tuple, tuple] = OrderedDict()

    def segment(self, model_name: str, image_path: str, image: np.ndarray, prompt: EntityPrompt):
        from segment_anything import SamPredictor

        with self._lock:
            sam = self._load(model_name)
            predictor = SamPredictor(sam.model)
            stat = os.stat(image_path)
            key = (model_name, image_path, stat.st_mtime_ns, stat.st_size)
            with torch.inference_mode():
                cached = self._embeddings.get(key)
                reused = cached is not None
                if cached is None:
                    predictor.set_image(image)
                    cached = (predictor.features, predictor.original_size, predictor.input_size)
                    self._embeddings[key] = cached
                    while len(self._embeddings) > EMBEDDING_CACHE_SIZE:
                        self._embeddings.popitem(last=False)
                else:
                    self._embeddings.move_to_end(key)
                    predictor.features, predictor.original_size, predictor.input_size = cached
                    predictor.is_image_set = True
                mask = predict_mask(predictor, prompt)
            return mask, f"SAM {sam.architecture} ({sam.file_name})", reused

    def _load(self, model_name: str):
        if self._sam is not None and self._model_name == model_name:
            return self._sam
        import comfy.utils

        path = folder_paths.get_full_path(SAM_FOLDER, model_name)
        if path is None:
            raise BadRequest(f"the SAM checkpoint {model_name!r} is not in models/{SAM_FOLDER}")
        state_dict = unwrap_checkpoint(comfy.utils.load_torch_file(path, safe_load=True, device="cpu"))
        self._sam = build_sam(state_dict, model_name)
        self._sam.model.to("cpu")
        self._model_name = model_name
        self._embeddings.clear()
        return self._sam


SAM = SamService()


def _prompt_from(body: dict, width: int, height: int) -> EntityPrompt:
    clicks = body.get("clicks", [])
    if not isinstance(clicks, list) or len(clicks) > MAX_CLICKS:
        raise BadRequest(f"'clicks' must be a list of at most {MAX_CLICKS} {{x, y, positive}} objects")
    points, labels = [], []
    for click in clicks:
        if not isinstance(click, dict):
            raise BadRequest("each click must be an object {x, y, positive}")
        x, y = click.get("x"), click.get("y")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in (x, y)):
            raise BadRequest(f"click {click!r} has no numeric x and y")
        if not (0 <= x <= width and 0 <= y <= height):
            raise BadRequest(f"click ({x}, {y}) lies outside the {width}x{height} image")
        points.append((float(x), float(y)))
        labels.append(1 if click.get("positive", True) else 0)
    box = body.get("box")
    if box is not None:
        if (not isinstance(box, list) or len(box) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
            raise BadRequest("'box' must be [x0, y0, x1, y1] or null")
        x0, y0, x1, y1 = np.clip(np.asarray(box, dtype=np.float64), 0, [width, height, width, height])
        if not (x1 - x0 >= 2 and y1 - y0 >= 2):
            raise BadRequest(f"the box {box} has no area inside the image")
        box = np.asarray([x0, y0, x1, y1])
    if not points and box is None:
        raise BadRequest("give at least one click or a box")
    return EntityPrompt(np.asarray(points, dtype=np.float64).reshape(-1, 2), np.asarray(labels, dtype=np.int64), box)


def compute_mask(body: dict) -> dict:
    path = resolve_image_path(body.get("image"))
    image = load_rgb(path)
    height, width = image.shape[:2]
    prompt = _prompt_from(body, width, height)
    sam_name = body.get("sam")
    note = ""
    mask = None
    method = "GrabCut"
    embedding_cached = False
    if sam_name:
        if not isinstance(sam_name, str):
            raise BadRequest("'sam' must be a checkpoint file name in models/sams")
        try:
            mask, method, embedding_cached = SAM.segment(sam_name, path, image, prompt)
        except Exception as error:  # any SAM failure leaves the editor working on the fallback
            # One line: a missing or unusable checkpoint is the user's to fix, and the note tells them; only an
            # unexpected failure keeps its traceback, at debug level.
            log.warning("DragAnything editor: SAM failed, using GrabCut: %s", error)
            if not isinstance(error, (BadRequest, DragAnythingError, ImportError, OSError)):
                log.debug("DragAnything editor: SAM failure", exc_info=True)
            note = f"SAM failed ({error}); used the GrabCut fallback"
    if mask is None:
        # segment_with_grabcut works on its own small copy, so a click answers in about a second on a CPU.
        mask = segment_with_grabcut(image, [prompt])[0]
        if not note:
            note = "no SAM model connected: GrabCut fallback (connect a Load SAM node for better masks)"
    circle = inscribed_circle(mask.astype(np.uint8))
    rows, cols = np.nonzero(mask)
    bbox = [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1] if len(rows) else None
    # White with the mask as alpha: the editor tints it with the entity's colour.
    white_alpha = np.stack([np.full(mask.shape, 255, np.uint8), np.where(mask, 255, 0).astype(np.uint8)], axis=-1)
    return {
        "mask": "data:image/png;base64," + base64.b64encode(_png_bytes(white_alpha)).decode("ascii"),
        "width": width,
        "height": height,
        "method": method,
        "embedding_cached": embedding_cached,
        "note": note,
        "radius": circle.radius,
        "centre": [circle.x, circle.y],
        "bbox": bbox,
        "area": int(mask.sum()),
    }


# ------------------------------------------------------------------------------------------------ computations


@dataclass(frozen=True)
class MapRequest:
    """What the preview and Gaussian routes share: the parsed value and how the nodes will build its maps."""

    parsed: trajectory.Trajectories
    num_frames: int
    resample: str
    to_model: Framing | None  # None while the frame size is unknown
    radii: MapRadii | None
    radius_sources: list[str]


def _map_request(body: dict) -> MapRequest:
    parsed = _parse_value(body)
    num_frames = _int_field(body, "num_frames", parsed.num_frames or MODEL_FRAMES, 1, MAX_FRAMES)
    mode = _choice_field(body, "mode", GRAPH_RESAMPLING, trajectory.RESAMPLE_CHOICES)
    framing = _choice_field(body, "framing", GRAPH_FRAMING, FRAMING_MODES)
    model_width = _int_field(body, "model_width", MODEL_WIDTH, 8, MAX_MODEL_SIDE)
    model_height = _int_field(body, "model_height", MODEL_HEIGHT, 8, MAX_MODEL_SIDE)
    mask_radii = _mask_radii(body, len(parsed.entities))
    resample = trajectory.resolve_resample_mode(parsed, num_frames, mode)
    if parsed.width is None or parsed.height is None:
        return MapRequest(parsed, num_frames, resample, None, None, [])
    to_model = Framing(parsed.width, parsed.height, model_width, model_height, framing)
    # Without a radius or a mask the node takes the mask's inscribed circle at run time; until the editor has the
    # mask, the preview draws a placeholder share of the picture (reported as such).
    placeholder = PLACEHOLDER_RADIUS_FRACTION * min(parsed.width, parsed.height)
    sources = ["radius" if entity.radius is not None else "mask" if mask is not None else "placeholder"
               for entity, mask in zip(parsed.entities, mask_radii)]
    model_mask_radii = [to_model.radius(placeholder if mask is None else mask) for mask in mask_radii]
    radii = map_radii(to_model, model_mask_radii, [entity.radius for entity in parsed.entities])
    return MapRequest(parsed, num_frames, resample, to_model, radii, sources)


def _mask_radii(body: dict, count: int) -> list[float | None]:
    """Per entity, the inscribed radius (source pixels) of its mask as /mask answered it, or None."""
    key = "mask_radii" if "mask_radii" in body else "radii"  # "radii": the name older pages send
    values = body.get(key)
    if values is None:
        return [None] * count
    if not isinstance(values, list):
        raise BadRequest(f"'{key}' must be a list with one radius (or null) per entity")
    radii = []
    for index in range(count):
        value = values[index] if index < len(values) else None
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value < 1e5):
            raise BadRequest(f"'{key}' holds {value!r} for entity {index}: give a radius in pixels or null")
        radii.append(None if value is None else float(value))
    return radii


def compute_preview(body: dict) -> dict:
    request = _map_request(body)
    parsed, num_frames = request.parsed, request.num_frames
    points, visible = parsed.resampled(num_frames, request.resample)
    document = json.loads(trajectory.to_json(replace(parsed, num_frames=parsed.num_frames or num_frames)))
    return {
        "document": document,
        "num_frames": num_frames,
        "tracks": np.round(points, 3).tolist(),
        "visible": visible.tolist(),
        "modes": [request.resample] * len(parsed.entities),
        "colors": _hex_colors(len(parsed.entities)),
        # What the Gaussian and entity maps will use, in source pixels (null while the frame size is unknown).
        "radii": None if request.radii is None else np.round(request.radii.source, 3).tolist(),
        "radius_sources": request.radius_sources,
        # The largest mask-derived radius the maps use, in source pixels.
        "radius_cap": None if request.to_model is None else round(request.to_model.radius_to_source(
            side_cap(request.to_model.dst_h, request.to_model.dst_w)), 3),
    }


def compute_gaussian(body: dict) -> bytes:
    request = _map_request(body)
    to_model, parsed = request.to_model, request.parsed
    if to_model is None:
        raise BadRequest("the Gaussian preview needs the frame size: send 'width' and 'height' of the first frame")
    frame = _int_field(body, "frame", 0, 0, request.num_frames - 1)
    max_side = _int_field(body, "max_side", DEFAULT_PREVIEW_SIDE, 16, MAX_PREVIEW_SIDE)
    gaussian_mode = _choice_field(body, "gaussian_mode", "template", gaussian.GAUSSIAN_MODES)
    # The library's own path (conditions.model_tracks, conditions.map_radii, gaussian.gaussian_maps), at the
    # model's size, then laid back onto the picture.
    points, visible = model_tracks(parsed, to_model, request.num_frames, request.resample,
                                   gaussian_mode=gaussian_mode)
    model_map = gaussian.gaussian_maps(points[:, frame:frame + 1], request.radii.sides, to_model.dst_h,
                                       to_model.dst_w, mode=gaussian_mode, visible=visible[:, frame:frame + 1])[0]
    scale = min(1.0, max_side / max(parsed.width, parsed.height))
    width, height = max(1, round(parsed.width * scale)), max(1, round(parsed.height * scale))
    overlay = to_model.unframe(model_map, width, height)
    grey = np.clip(np.round(overlay), 0, 255).astype(np.uint8)
    rgba = np.concatenate([viz.gaussian_heatmap(overlay[None])[0], grey[..., None]], axis=-1)
    return _png_bytes(rgba)


def _number_field(body: dict, name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise BadRequest(f"'{name}' must be a finite number, got {value!r}")
    return float(value)


def _pair_field(body: dict, name: str, default):
    value = body.get(name, default)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise BadRequest(f"'{name}' must be [x, y], got {value!r}")
    return tuple(_number_field({name: item}, name, 0.0) for item in value)


def compute_camera(body: dict) -> dict:
    parsed = _parse_value(body)
    num_frames = _int_field(body, "num_frames", parsed.num_frames or 14, 1, MAX_FRAMES)
    move = trajectory.CameraMove(zoom=_number_field(body, "zoom", 1.0), orbit=_number_field(body, "orbit", 0.0),
                                 pan=_pair_field(body, "pan", [0, 0]), centre=_pair_field(body, "centre", None))
    moved = trajectory.apply_camera_move(parsed, move, num_frames, easing=body.get("easing"))
    return {"document": trajectory.to_document(moved)}


def compute_easing(body: dict) -> dict:
    if "easing" not in body:
        raise BadRequest("'easing' is missing: send a preset name or a curve [[t, progress], ...]")
    samples = _int_field(body, "samples", 101, 2, 1024)
    curve = trajectory.easing_value("easing", body["easing"])
    times = np.linspace(0.0, 1.0, samples)
    return {"t": times.tolist(), "progress": trajectory.ease(curve, times).tolist()}


# ---------------------------------------------------------------------------------------------------- handlers


async def _answer(request: web.Request, work, as_png: bool = False) -> web.Response:
    try:
        body = await _read_json(request)
        result = await asyncio.to_thread(work, body)
    except (BadRequest, DragAnythingError) as error:
        return web.json_response({"error": str(error)}, status=400)
    except Exception as error:  # the server keeps serving whatever the editor sends
        log.exception("DragAnything editor route %s failed", request.path)
        return web.json_response({"error": f"{type(error).__name__}: {error}"}, status=500)
    if as_png:
        return web.Response(body=result, content_type="image/png", headers={"Cache-Control": "no-store"})
    return web.json_response(result)


routes = PromptServer.instance.routes


@routes.post(f"{ROUTE_PREFIX}/preview")
async def preview_route(request: web.Request) -> web.Response:
    return await _answer(request, compute_preview)


@routes.post(f"{ROUTE_PREFIX}/gaussian")
async def gaussian_route(request: web.Request) -> web.Response:
    return await _answer(request, compute_gaussian, as_png=True)


@routes.post(f"{ROUTE_PREFIX}/mask")
async def mask_route(request: web.Request) -> web.Response:
    return await _answer(request, compute_mask)


@routes.post(f"{ROUTE_PREFIX}/camera")
async def camera_route(request: web.Request) -> web.Response:
    return await _answer(request, compute_camera)


@routes.post(f"{ROUTE_PREFIX}/easing")
async def easing_route(request: web.Request) -> web.Response:
    return await _answer(request, compute_easing)
