"""The resource path after `/api/data/v9.2/`: `asyncoperations(<guid>)/name/$value` and friends."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from ..errors import InvalidKey, ResourceNotFound
from ..model import Entity

_SEGMENT = re.compile(r"^(?P<name>[A-Za-z_$][A-Za-z0-9_.]*)(?:\((?P<key>.*)\))?$", re.S)
_NAMED_KEY = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.+?)\s*$", re.S)


@dataclass(frozen=True)
class Segment:
    name: str
    key: str | None  # the text between parentheses, None without parentheses


@dataclass(frozen=True)
class EntityKey:
    """A primary key (GUID) or an alternate key (name -> value)."""

    primary: str | None = None
    alternate: tuple[tuple[str, str], ...] = ()


def split_path(path: str) -> list[Segment]:
    segments = []
    for raw in path.split("/"):
        if raw == "":
            continue
        match = _SEGMENT.match(raw)
        if match is None:
            raise ResourceNotFound(f"Resource not found for the segment '{raw}'.")
        segments.append(Segment(match.group("name"), match.group("key")))
    return segments


def parse_key(entity: Entity, text: str) -> EntityKey:
    """`<guid>`, `asyncoperationid=<guid>`, or an alternate key such as `LogicalName='asyncoperation'`."""
    text = text.strip()
    named = _NAMED_KEY.match(text)
    if named and named.group("name") != entity.primary_id:
        pairs = []
        for part in _split_key_parts(text):
            match = _NAMED_KEY.match(part)
            if match is None:
                raise InvalidKey(f"The key '{text}' is not valid for the entity set '{entity.entity_set}'.")
            value = match.group("value")
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1].replace("''", "'")
            pairs.append((match.group("name"), value))
        return EntityKey(alternate=tuple(pairs))
    value = named.group("value") if named else text
    if value.startswith("'") or value.startswith("guid'"):
        raise InvalidKey(
            f"The key value {value} for the property '{entity.primary_id}' is not valid: the key of "
            f"'{entity.entity_set}' is an Edm.Guid, written without quotes."
        )
    try:
        return EntityKey(primary=str(uuid.UUID(value)))
    except ValueError:
        raise InvalidKey(
            f"Unrecognized 'Edm.Guid' literal '{value}' in the key of '{entity.entity_set}'."
        ) from None


def _split_key_parts(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts
