"""The pack's own JSON document (docs/trajectory-format.md): what the editor, the nodes and `to_json` write."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from ..errors import DragAnythingError
from .model import Click, Trajectories, build_entity
from .validation import (
    FORMAT_DOC,
    check_num_frames,
    decode_json,
    frame_size,
    require_entities,
    short,
)

FORMAT_NAME = "draganything/trajectories"
FORMAT_VERSION = 1

_TOP_KEYS = ("format", "version", "width", "height", "num_frames", "image", "entities")
_ENTITY_KEYS = ("id", "label", "points", "frames", "radius", "anchor", "clicks", "box", "mask_name", "visible")


def to_document(trajectories: Trajectories) -> dict:
    """The pack's own document as JSON-ready Python objects; parse_pack_json(to_document(t)) == t, exactly."""
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "width": trajectories.width,
        "height": trajectories.height,
        "num_frames": trajectories.num_frames,
        "image": trajectories.image,
        "entities": [
            {
                "id": entity.id,
                "label": entity.label,
                "points": [[_number(x), _number(y)] for x, y in entity.points.tolist()],
                "frames": None if entity.frames is None else entity.frames.tolist(),
                "radius": None if entity.radius is None else _number(entity.radius),
                "anchor": entity.anchor,
                "clicks": [
                    {"x": _number(click.x), "y": _number(click.y), "positive": bool(click.positive)}
                    for click in entity.clicks
                ],
                "box": None if entity.box is None else [_number(v) for v in entity.box],
                "mask_name": entity.mask_name,
                "visible": None if entity.visible is None else entity.visible.tolist(),
            }
            for entity in trajectories.entities
        ],
    }


def to_json(trajectories: Trajectories, indent: int | None = None) -> str:
    """The pack's own JSON text (docs/trajectory-format.md). parse_trajectories(to_json(t)) == t, exactly."""
    return json.dumps(to_document(trajectories), indent=indent, allow_nan=False)


def _number(value: float) -> int | float:
    """Whole numbers as JSON integers (readable, and read back as the same float64)."""
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def parse_pack_json(value, *, input_name: str = "trajectories") -> Trajectories:
    """The pack's own JSON, as written by `to_json`, the editor and the nodes (docs/trajectory-format.md)."""
    data = decode_json(value, input_name)
    if not isinstance(data, Mapping) or data.get("format") != FORMAT_NAME:
        raise DragAnythingError(
            input_name,
            f'it is not a "{FORMAT_NAME}" document (its "format" field is missing or different)',
            f'Start the object with "format": "{FORMAT_NAME}", "version": {FORMAT_VERSION}',
        )
    _unknown_keys(input_name, "the document", data, _TOP_KEYS)
    version = data.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise DragAnythingError(
            input_name,
            f"its version is {version!r}; this release reads version {FORMAT_VERSION}",
            "Write the file with this release, or update the pack",
        )
    width, height = frame_size(data.get("width"), data.get("height"), input_name)
    num_frames = data.get("num_frames")
    if num_frames is not None:
        try:
            check_num_frames(num_frames)
        except DragAnythingError as error:
            raise DragAnythingError(input_name, f"num_frames: {error.problem}", error.fix) from None
    image = data.get("image")
    if image is not None and not isinstance(image, str):
        raise DragAnythingError(input_name, f"its image is {short(image)}, not a file name", "Use a string or null")
    records = data.get("entities")
    if not isinstance(records, list):
        raise DragAnythingError(input_name, '"entities" is missing or not a list', 'Give "entities": [{...}, ...]')
    require_entities(input_name, records)
    entities, seen = [], set()
    for index, record in enumerate(records):
        where = f"entity {index}"
        if not isinstance(record, Mapping):
            raise DragAnythingError(input_name, f"{where} is {short(record)}, not an object", "See " + FORMAT_DOC)
        _unknown_keys(input_name, where, record, _ENTITY_KEYS)
        entity_id = record.get("id")
        if not isinstance(entity_id, str) or not entity_id:
            raise DragAnythingError(input_name, f"{where} has no string id", 'Give each entity "id": "<text>"')
        if entity_id in seen:
            raise DragAnythingError(input_name, f"{where} repeats the id {entity_id!r}", "Give every entity its own id")
        seen.add(entity_id)
        where = f"entity {index} ({entity_id!r})"
        if "points" not in record:
            raise DragAnythingError(input_name, f"{where} has no points", 'Give "points": [[x, y], ...]')
        for key, kind in (("label", str), ("mask_name", str), ("anchor", bool)):
            if key in record and record[key] is not None and not isinstance(record[key], kind):
                raise DragAnythingError(
                    input_name, f"{where}: its {key} is {short(record[key])}", f"Give {key} as a {kind.__name__}"
                )
        entities.append(
            build_entity(
                input_name,
                where,
                id=entity_id,
                points=record["points"],
                frames=record.get("frames"),
                radius=record.get("radius"),
                anchor=record.get("anchor") or False,
                label=record.get("label") or "",
                clicks=_clicks(input_name, where, record.get("clicks") or []),
                box=record.get("box"),
                mask_name=record.get("mask_name"),
                visible=record.get("visible"),
            )
        )
    return Trajectories(entities, width, height, num_frames, image)


def _unknown_keys(input_name: str, where: str, record: Mapping, known: tuple[str, ...]) -> None:
    unknown = sorted(set(record) - set(known))
    if unknown:
        raise DragAnythingError(
            input_name,
            f"{where} has unknown field(s) {', '.join(map(repr, unknown))}",
            f"The fields are {', '.join(known)} (see {FORMAT_DOC}); check the spelling",
        )


def _clicks(input_name: str, where: str, raw) -> list[Click]:
    fix = 'Give clicks as [{"x": <px>, "y": <px>, "positive": true}, ...]'
    if not isinstance(raw, list):
        raise DragAnythingError(input_name, f"{where}: its clicks are {short(raw)}, not a list", fix)
    clicks = []
    for position, click in enumerate(raw):
        ok = isinstance(click, Mapping) and set(click) <= {"x", "y", "positive"} and {"x", "y"} <= set(click)
        coordinates = [click.get("x"), click.get("y")] if ok else []
        ok = ok and all(
            not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in coordinates
        )
        ok = ok and isinstance(click.get("positive", True), bool)
        if not ok:
            raise DragAnythingError(input_name, f"{where}: click {position} is {short(click)}", fix)
        clicks.append(Click(float(click["x"]), float(click["y"]), click.get("positive", True)))
    return clicks
