"""The pack's own JSON document (docs/trajectory-format.md): what the editor, the nodes and `to_json` write."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from ..errors import DragAnythingError
from .easing import easing_json
from .model import Click, Entity, Trajectories, build_entity
from .validation import (
    FORMAT_DOC,
    check_num_frames,
    decode_json,
    frame_size,
    json_number,
    require_entities,
    short,
)

FORMAT_NAME = "draganything/trajectories"
# The newest version this release reads and writes. A document is written with the lowest version that holds its
# fields, so documents without the version-2 fields stay version 1, byte for byte, and older releases refuse a
# version-2 document by its version rather than by an unknown field.
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)

_TOP_KEYS = ("format", "version", "width", "height", "num_frames", "image", "entities")
_ENTITY_KEYS_V1 = ("id", "label", "points", "frames", "radius", "anchor", "clicks", "box", "mask_name", "visible")
# Added in version 2; written only when set.
_ENTITY_KEYS_V2 = ("easing", "hidden", "scale", "rotation")
_ENTITY_KEYS = _ENTITY_KEYS_V1 + _ENTITY_KEYS_V2


def _version_2_fields(entity: Entity) -> dict:
    fields = {
        "easing": easing_json(entity.easing),
        "hidden": [list(pair) for pair in entity.hidden] or None,
        "scale": None if entity.scale is None else [json_number(v) for v in entity.scale.tolist()],
        "rotation": None if entity.rotation is None else [json_number(v) for v in entity.rotation.tolist()],
    }
    return {key: value for key, value in fields.items() if value is not None}


def to_document(trajectories: Trajectories) -> dict:
    """The pack's own document as JSON-ready Python objects; parse_pack_json(to_document(t)) == t, exactly."""
    extras = [_version_2_fields(entity) for entity in trajectories.entities]
    return {
        "format": FORMAT_NAME,
        "version": 2 if any(extras) else 1,
        "width": trajectories.width,
        "height": trajectories.height,
        "num_frames": trajectories.num_frames,
        "image": trajectories.image,
        "entities": [
            {
                "id": entity.id,
                "label": entity.label,
                "points": [[json_number(x), json_number(y)] for x, y in entity.points.tolist()],
                "frames": None if entity.frames is None else entity.frames.tolist(),
                "radius": None if entity.radius is None else json_number(entity.radius),
                "anchor": entity.anchor,
                "clicks": [
                    {"x": json_number(click.x), "y": json_number(click.y), "positive": bool(click.positive)}
                    for click in entity.clicks
                ],
                "box": None if entity.box is None else [json_number(v) for v in entity.box],
                "mask_name": entity.mask_name,
                "visible": None if entity.visible is None else entity.visible.tolist(),
                **extra,
            }
            for entity, extra in zip(trajectories.entities, extras)
        ],
    }


def to_json(trajectories: Trajectories, indent: int | None = None) -> str:
    """The pack's own JSON text (docs/trajectory-format.md). parse_trajectories(to_json(t)) == t, exactly."""
    return json.dumps(to_document(trajectories), indent=indent, allow_nan=False)


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
    if version not in READ_VERSIONS or isinstance(version, bool):
        raise DragAnythingError(
            input_name,
            f"its version is {version!r}; this release reads versions {' and '.join(map(str, READ_VERSIONS))}",
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
        newer = [key for key in _ENTITY_KEYS_V2 if record.get(key) not in (None, [])]
        if version == 1 and newer:
            raise DragAnythingError(
                input_name,
                f"{where} has {', '.join(map(repr, newer))}, which version 1 documents do not have",
                'Set "version": 2 (the version that added easing, hidden, scale and rotation)',
            )
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
                easing=record.get("easing"),
                hidden=() if record.get("hidden") is None else record["hidden"],
                scale=record.get("scale"),
                rotation=record.get("rotation"),
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
