"""Every accepted trajectory format: detection, one parser per format, the official demo loader, TRACKS export.

The formats are specified in docs/trajectory-format.md; the pack's own JSON lives in `document`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import DragAnythingError
from .document import FORMAT_NAME, parse_pack_json
from .model import Entity, Trajectories, build_entity
from .validation import FORMAT_DOC, decode_json, frame_size, require_entities, short

OFFICIAL_DEMO_JSON = "demo.json"
OFFICIAL_DEMO_IMAGE = "demo.jpg"


def parse_trajectories(
    value,
    *,
    width: int | None = None,
    height: int | None = None,
    normalized: bool | None = None,
    offframe: str | None = None,
    input_name: str = "trajectories",
) -> Trajectories:
    """Any supported trajectory value -> Trajectories, the format detected from its shape.

    value: a JSON string (single-quoted pseudo-JSON accepted) or decoded Python objects, a numpy array or
    torch tensor of points, the host's TRACKS dict, or a Trajectories (returned as it is, after the optional
    steps below). Detection, in order:
      dict with "format"            -> the pack's JSON (`parse_pack_json`)
      dict with "track_path"        -> the host's TRACKS (`parse_tracks`)
      dict of {"trajectory": ...}   -> the official demo.json (`parse_official_demo`)
      dict of lists                 -> id-keyed tracks as in the VIPSeg files (`parse_vipseg`)
      list of {"x","y"} / of lists of them / of JSON strings -> KJNodes (`parse_kjnodes`)
      list of [x, y] / of lists of them, arrays               -> nested lists (`parse_nested_lists`)
    width/height: the source frame size when the format does not store it (stored values win when present).
    normalized: True scales 0..1 coordinates by width/height; False reads pixels; None (default) detects
        normalised values (every coordinate within 0..1 and one not whole) in the formats without their own
        units (KJNodes, nested lists). The official, VIPSeg, TRACKS and pack formats are always pixels.
    offframe: None (default) keeps points as given; "invisible" or "clip" applies the off-frame policy in the
        source frame (`apply_offframe`), which needs the frame size.
    """
    data = decode_json(value, input_name)
    if isinstance(data, Trajectories):
        trajectories = data
    elif isinstance(data, Mapping):
        if normalized and not _is_id_keyed(data):
            raise DragAnythingError(
                input_name,
                "normalized=True was given, but this format stores pixel coordinates",
                "Leave normalized unset for this input",
            )
        if "format" in data:
            trajectories = parse_pack_json(data, input_name=input_name)
        elif "track_path" in data:
            trajectories = parse_tracks(data, input_name=input_name)
        elif _is_official_layout(data):
            trajectories = parse_official_demo(data, input_name=input_name)
        elif _is_id_keyed(data):
            trajectories = parse_vipseg(
                data, width=width, height=height, offframe=None, normalized=bool(normalized), input_name=input_name
            )
        else:
            raise DragAnythingError(
                input_name,
                "it is an object in none of the known layouts"
                + (f" (keys: {short(list(data)[:6])})" if data else " (it is empty)"),
                f'Use one of the formats in {FORMAT_DOC}; the pack\'s own starts with "format": "{FORMAT_NAME}"',
            )
    elif hasattr(data, "detach") or isinstance(data, np.ndarray) or (isinstance(data, (list, tuple)) and data):
        first = data
        while isinstance(first, (list, tuple)) and first:
            first = first[0]
        parse = parse_kjnodes if isinstance(first, (Mapping, str, bytes)) else parse_nested_lists
        trajectories = parse(data, width=width, height=height, normalized=normalized, input_name=input_name)
    else:
        kind = "an empty list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise DragAnythingError(
            input_name, f"it is {kind}, which holds no trajectory", f"Use one of the formats in {FORMAT_DOC}"
        )
    width, height = frame_size(width, height)
    trajectories = replace(
        trajectories,
        width=trajectories.width if trajectories.width is not None else width,
        height=trajectories.height if trajectories.height is not None else height,
    )
    return trajectories if offframe is None else trajectories.with_offframe(offframe)


def _is_id_keyed(data: Mapping) -> bool:
    return bool(data) and all(isinstance(track, list) for track in data.values())


def load_trajectories(
    path: str | Path,
    *,
    width: int | None = None,
    height: int | None = None,
    normalized: bool | None = None,
    offframe: str | None = None,
) -> Trajectories:
    """A trajectory file (any supported format) or an official demo folder.

    An official demo.json beside its demo.jpg takes its frame size and image name from the image.
    """
    path = Path(path)
    if path.is_dir():
        trajectories, _ = load_official_demo(path)
        return parse_trajectories(trajectories, offframe=offframe, input_name=str(path))
    data = decode_json(_read_text(path), str(path))
    demo_image = path.parent / OFFICIAL_DEMO_IMAGE
    if _is_official_layout(data) and demo_image.is_file():
        trajectories = _with_image_size(parse_official_demo(data, input_name=str(path)), demo_image)
        return parse_trajectories(trajectories, offframe=offframe, input_name=str(path))
    return parse_trajectories(
        data, width=width, height=height, normalized=normalized, offframe=offframe, input_name=str(path)
    )


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DragAnythingError(str(path), "the file does not exist", "Check the path")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DragAnythingError(str(path), f"it cannot be read as UTF-8 text ({error})", "Pass a JSON file") from None


def _is_official_layout(data) -> bool:
    """The official demo.json's shape: a non-empty object whose every entry holds a "trajectory"."""
    return (
        isinstance(data, Mapping)
        and bool(data)
        and all(isinstance(record, Mapping) and "trajectory" in record for record in data.values())
    )


# ---------------------------------------------------------------------------------------------- official demo


def parse_official_demo(value, *, input_name: str = OFFICIAL_DEMO_JSON) -> Trajectories:
    """The official demo.json: {"1": {"comment", "mask_name", "trajectory": [[x, y], ...]}, ...}.

    Keys are entity ids in compositing order; points are pixels of demo.jpg, one per frame. `comment` becomes the
    label and `mask_name` is kept (the entity module loads the mask). The frame size is not stored.
    """
    data = decode_json(value, input_name)
    if not isinstance(data, Mapping):
        raise DragAnythingError(
            input_name,
            f"it is a {type(data).__name__}, not an object of entities keyed by id",
            'Give {"1": {"mask_name": ..., "trajectory": [[x, y], ...]}, ...} as the official demo.json does',
        )
    require_entities(input_name, list(data))
    entities = []
    for index, (key, record) in enumerate(data.items()):
        where = f"entity {key!r} (number {index + 1})"
        if not isinstance(record, Mapping) or "trajectory" not in record:
            raise DragAnythingError(
                input_name,
                f"{where} has no 'trajectory' list",
                'Each entry needs "trajectory": [[x, y], ...] and normally "mask_name"',
            )
        mask_name = record.get("mask_name")
        if mask_name is not None and not isinstance(mask_name, str):
            raise DragAnythingError(input_name, f"{where} has a mask_name that is not a file name", "Use a string")
        comment = record.get("comment", "")
        entities.append(
            build_entity(
                input_name,
                where,
                id=str(key),
                points=record["trajectory"],
                label=comment if isinstance(comment, str) else str(comment),
                mask_name=mask_name,
            )
        )
    return Trajectories(entities)


def load_official_demo(path: str | Path) -> tuple[Trajectories, Path]:
    """Read an official demo case: a `<name>_@` folder (its demo.json) or a demo*.json path inside one.

    Returns (trajectories, image_path). The trajectories carry the size of demo.jpg as width/height and its file
    name as `image`; each entity keeps its `mask_name` (masks are resolved against image_path.parent).
    """
    path = Path(path)
    json_path = path / OFFICIAL_DEMO_JSON if path.is_dir() else path
    if not json_path.is_file():
        raise DragAnythingError(
            str(path),
            "no official demo trajectory file is there",
            f"Pass a demo folder containing {OFFICIAL_DEMO_JSON} and {OFFICIAL_DEMO_IMAGE}, or the path of the "
            "demo json itself",
        )
    image_path = json_path.parent / OFFICIAL_DEMO_IMAGE
    if not image_path.is_file():
        raise DragAnythingError(
            str(json_path),
            f"the first-frame image {OFFICIAL_DEMO_IMAGE} is missing beside it",
            "An official demo folder holds demo.jpg next to demo.json; put the image there",
        )
    trajectories = parse_official_demo(_read_text(json_path), input_name=str(json_path))
    return _with_image_size(trajectories, image_path), image_path


def _with_image_size(trajectories: Trajectories, image_path: Path) -> Trajectories:
    """The trajectories with the size and file name of their first-frame image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image_path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise DragAnythingError(
            str(image_path), f"the first-frame image cannot be read ({error})", "Put the demo's first frame there"
        ) from None
    return replace(trajectories, width=width, height=height, image=image_path.name)


# ------------------------------------------------------------------------------------------- normalised input


def _looks_normalized(entities: list[Entity]) -> bool:
    """Detection rule: every coordinate lies in [0, 1] and at least one is not a whole number."""
    coordinates = np.concatenate([entity.points.reshape(-1) for entity in entities])
    return bool(((coordinates >= 0) & (coordinates <= 1)).all() and (coordinates != np.round(coordinates)).any())


def _to_pixels(
    input_name: str, entities: list[Entity], normalized: bool | None, width: int | None, height: int | None
) -> list[Entity]:
    """Entities in source pixels: scale 0..1 coordinates by (width, height) when they are normalised.

    `normalized` True/False is obeyed; None applies the detection rule of `_looks_normalized`.
    """
    if normalized is None:
        normalized = _looks_normalized(entities)
    if not normalized:
        return entities
    if width is None or height is None:
        raise DragAnythingError(
            input_name,
            "its coordinates are normalised to 0..1 and the frame size to turn them into pixels is unknown",
            "Pass width= and height= (the size of the image the track was drawn on), or normalized=False if "
            "the values are pixels",
        )
    size = np.array([width, height], dtype=np.float64)
    return [replace(entity, points=entity.points * size) for entity in entities]


def _finish(
    input_name: str,
    entities: list[Entity],
    *,
    width,
    height,
    normalized: bool | None = False,
    offframe: str | None = None,
) -> Trajectories:
    require_entities(input_name, entities)
    width, height = frame_size(width, height)
    trajectories = Trajectories(_to_pixels(input_name, entities, normalized, width, height), width, height)
    return trajectories if offframe is None else trajectories.with_offframe(offframe)


# ----------------------------------------------------------------------------------------- id-keyed (VIPSeg)


def parse_vipseg(
    value,
    *,
    width: int | None,
    height: int | None,
    offframe: str | None = "invisible",
    normalized: bool | None = False,
    input_name: str = "VIPSeg trajectories",
) -> Trajectories:
    """Id-keyed tracks, as the official VIPSeg test files store them: {"<panoptic id>": [[x, y], ...], ...}.

    One point per frame in pixels of the original video, whose size the files do not store: pass width and
    height. With a frame size the off-frame policy is applied (default "invisible": about a fifth of the test
    points are tracker positions that left the frame, some tens of thousands of pixels away); offframe=None
    keeps the points untouched.
    """
    data = decode_json(value, input_name)
    if not isinstance(data, Mapping):
        raise DragAnythingError(
            input_name,
            f"it is a {type(data).__name__}, not an object mapping ids to tracks",
            'Give {"<id>": [[x, y], ...], ...}',
        )
    entities = [
        build_entity(input_name, f"entity {key!r} (number {index + 1})", id=str(key), points=track)
        for index, (key, track) in enumerate(data.items())
    ]
    if offframe is not None and (width is None or height is None):
        raise DragAnythingError(
            input_name,
            "these files do not store the frame size, and the off-frame policy needs it",
            "Pass width= and height= of the original video (or offframe=None to keep every point as stored)",
        )
    return _finish(input_name, entities, width=width, height=height, normalized=normalized, offframe=offframe)


# -------------------------------------------------------------------------------------------------- KJNodes


def parse_kjnodes(
    value,
    *,
    width: int | None = None,
    height: int | None = None,
    normalized: bool | None = None,
    input_name: str = "coordinates",
) -> Trajectories:
    """KJNodes coordinate strings (also read by the host's ATI and WanMove nodes), pixels by default:

    - a flat list of {"x", "y"} (one track);
    - a list of such lists (one track each);
    - a list of JSON strings, each holding one track (or a list of tracks);
    - any of these as a JSON string, single-quoted pseudo-JSON included.
    Extra keys in a point object are ignored. Entities get ids "1", "2", ... in order.
    """
    data = decode_json(value, input_name)
    if isinstance(data, list) and data and all(isinstance(item, (str, bytes)) for item in data):
        tracks = []
        for index, text in enumerate(data):
            decoded = decode_json(text, f"{input_name} string {index}")
            tracks.extend(_kj_tracks(f"{input_name} string {index}", decoded))
    else:
        tracks = _kj_tracks(input_name, data)
    entities = [
        build_entity(input_name, f"track {index}", id=str(index + 1), points=_kj_points(input_name, index, track))
        for index, track in enumerate(tracks)
    ]
    return _finish(input_name, entities, width=width, height=height, normalized=normalized)


def _kj_tracks(input_name: str, data) -> list[list]:
    fix = 'Give [{"x": 10, "y": 20}, ...] for one track or [[{"x": 10, "y": 20}, ...], ...] for several'
    if not isinstance(data, list) or not data:
        kind = "an empty list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise DragAnythingError(input_name, f"it is {kind}, not a list of points", fix)
    if isinstance(data[0], Mapping):
        return [data]
    if isinstance(data[0], list):
        return data
    raise DragAnythingError(input_name, f"its first item {short(data[0])} is neither a point nor a track", fix)


def _kj_points(input_name: str, index: int, track) -> list:
    if not isinstance(track, list):
        raise DragAnythingError(
            input_name, f"track {index} is {short(track)}, not a list of points", 'Give [{"x": .., "y": ..}, ...]'
        )
    for position, point in enumerate(track):
        if not isinstance(point, Mapping) or "x" not in point or "y" not in point:
            raise DragAnythingError(
                input_name,
                f"track {index}, point {position} is {short(point)}, not an object with x and y",
                'Write each point as {"x": <pixels>, "y": <pixels>}',
            )
    return [[point["x"], point["y"]] for point in track]


# --------------------------------------------------------------------------------------------- nested lists


def parse_nested_lists(
    value,
    *,
    width: int | None = None,
    height: int | None = None,
    normalized: bool | None = None,
    input_name: str = "trajectory",
) -> Trajectories:
    """[[x, y], ...] (one track) or [[[x, y], ...], ...] (several), as lists, a JSON string or an array
    ([L, 2] or [N, L, 2]; torch tensors too). Pixels by default; ids "1", "2", ... in order."""
    data = decode_json(value, input_name)
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()
    fix = "Give [[x, y], ...] for one track or [[[x, y], ...], ...] for several"
    if isinstance(data, np.ndarray):
        if data.ndim == 2:
            tracks = [data]
        elif data.ndim == 3:
            tracks = list(data)
        else:
            raise DragAnythingError(input_name, f"it is an array of shape {list(data.shape)}", fix)
    elif isinstance(data, (list, tuple)) and data:
        tracks = list(data) if _depth(data) >= 3 else [data]
    else:
        kind = "an empty list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise DragAnythingError(input_name, f"it is {kind}, not a list of tracks", fix)
    entities = [
        build_entity(input_name, f"track {index}", id=str(index + 1), points=track) for index, track in enumerate(tracks)
    ]
    return _finish(input_name, entities, width=width, height=height, normalized=normalized)


def _depth(data) -> int:
    """Nesting depth along the first items: 1 for [x, y], 2 for [[x, y]], 3 for [[[x, y]]]."""
    depth = 0
    while isinstance(data, (list, tuple)) and data:
        depth += 1
        data = data[0]
    return depth


# ------------------------------------------------------------------------------------------------ host TRACKS


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def parse_tracks(tracks, *, width: int | None = None, height: int | None = None, input_name: str = "tracks"):
    """The host's TRACKS value -> Trajectories.

    {"track_path": [T, N, 2] float pixels, "track_visibility": [T, N] bool} (torch tensors or arrays). Track n
    becomes entity str(n + 1) with T points, one per frame, and its visibility column. A visibility of shape
    [T, 1] (what the host's WanMove nodes produce from a MASK) applies to every track; a missing one means all
    visible.
    """
    if not isinstance(tracks, Mapping) or "track_path" not in tracks:
        raise DragAnythingError(
            input_name,
            "it is not a TRACKS value (a dict with 'track_path' [frames, tracks, 2])",
            "Connect a TRACKS output, or pass one of the formats listed in " + FORMAT_DOC,
        )
    path = _numpy(tracks["track_path"])
    if path.ndim != 3 or path.shape[-1] != 2 or path.shape[0] == 0:
        raise DragAnythingError(
            input_name,
            f"its track_path has shape {list(path.shape)}, not [frames, tracks, 2]",
            "Build it as the host's WanMove nodes do: float [T, N, 2] pixel positions",
        )
    require_entities(input_name, list(range(path.shape[1])))
    visibility = tracks.get("track_visibility")
    if visibility is None:
        visibility = np.ones(path.shape[:2], dtype=bool)
    visibility = _numpy(visibility)
    if visibility.ndim == 2 and visibility.shape[0] == path.shape[0] and visibility.shape[1] in (1, path.shape[1]):
        visibility = np.broadcast_to(visibility, path.shape[:2])
    else:
        raise DragAnythingError(
            input_name,
            f"its track_visibility has shape {list(visibility.shape)}, not [{path.shape[0]}, {path.shape[1]}]",
            "Give one true/false per frame and track (or leave it out)",
        )
    entities = [
        build_entity(
            input_name,
            f"track {index}",
            id=str(index + 1),
            points=path[:, index].astype(np.float64),
            visible=visibility[:, index].astype(bool),
        )
        for index in range(path.shape[1])
    ]
    return _finish(input_name, entities, width=width, height=height)


def to_tracks(
    trajectories: Trajectories,
    num_frames: int,
    *,
    mode: str = "index",
    framing=None,
    offframe: str = "invisible",
) -> dict[str, np.ndarray]:
    """Trajectories -> the host's TRACKS layout as numpy arrays (the node converts them to torch tensors).

    {"track_path": float32 [num_frames, N, 2], "track_visibility": bool [num_frames, N]}, resampled with `mode`.
    With a `framing.Framing`, positions are in model pixels and the off-frame policy is applied in the model
    frame; without one they stay in source pixels.
    """
    points, visible = trajectories.resampled(num_frames, mode)
    if framing is not None:
        points, visible = framing.tracks(points, visible, offframe=offframe)
    return {
        "track_path": np.ascontiguousarray(points.transpose(1, 0, 2), dtype=np.float32),
        "track_visibility": np.ascontiguousarray(visible.T, dtype=bool),
    }
