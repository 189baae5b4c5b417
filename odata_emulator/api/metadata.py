"""The metadata Web API below a table's definition, and the other definition sets
(`query-metadata-web-api.md`, `use-web-api-metadata.md`):

    EntityDefinitions(<key>)/Attributes[/<cast>]            a table's columns (a cast keeps that type)
    EntityDefinitions(<key>)/Attributes(<key>)[/<cast>[/OptionSet|/GlobalOptionSet]]
    EntityDefinitions(<key>)/OneToManyRelationships, /ManyToOneRelationships, /ManyToManyRelationships, /Keys
    GlobalOptionSetDefinitions[(<key>)], RelationshipDefinitions[(<key>)]

`<key>` is a MetadataId or `LogicalName='...'` (`Name='...'`, `SchemaName='...'` on the other sets).
The documents are `model/metadata.py`'s; the query options are `api/metadata_query.py`'s.
(`EntityDefinitions` itself and its scalar properties are rows of the store: `api/collection.py`.)
"""

from __future__ import annotations

import re

from starlette.responses import Response

from ..errors import RecordNotFound, ResourceNotFound
from ..model import Entity
from ..model import metadata as md
from ..query.options import parse_query_string
from ..query.parser import parse_select
from .metadata_query import Shaping, select_from
from .prefer import parse_prefer
from .resource import Segment
from .responses import json_response
from .routing import Call

_NAMED = re.compile(r"^\s*(?P<name>[A-Za-z]+)\s*=\s*'(?P<value>(?:[^']|'')*)'\s*$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ATTRIBUTE_CASTS = {f"{md.NS}.{name}" for name, _ in md.ATTRIBUTE_TYPES.values()}
RELATIONSHIP_SETS = {"OneToManyRelationships": "referenced", "ManyToOneRelationships": "referencing",
                     "ManyToManyRelationships": None}


def _find(documents, text: str, names: tuple[str, ...], what: str):
    """The document a key names: a MetadataId, or `<Name>='value'` for one of `names`."""
    text = text.strip()
    if _GUID.match(text):
        found = [d for d in documents if _body(d)["MetadataId"] == text.lower()]
    else:
        match = _NAMED.match(text)
        if match is None or match.group("name") not in names:
            raise ResourceNotFound(f"Resource not found for the segment '{what}'.")
        value = match.group("value").replace("''", "'").lower()
        found = [d for d in documents if str(_body(d)[match.group("name")]).lower() == value]
    if not found:
        raise RecordNotFound(f"Could not find {what} with the key {text}.", code="0x80040217")
    return found[0]


def _body(document) -> dict:
    return document.body if isinstance(document, md.Document) else document


def _shaping(call: Call, type_name: str) -> Shaping:
    parse_prefer(call.request.headers.getlist("prefer"))
    return Shaping.read(parse_query_string(call.request.url.query), type_name)


def _table(call: Call) -> Entity:
    key = call.key
    tables = [e for e in call.model.entities if not e.is_metadata]
    if key.primary is not None:
        found = [e for e in tables if e.metadata_id == key.primary.lower()]
    else:
        names = dict(key.alternate)
        logical = names.get("LogicalName", "").strip("'").lower()
        found = [e for e in tables if e.logical_name == logical]
    if not found:
        raise RecordNotFound("Could not find an entity with the given key.", code="0x80040217")
    return found[0]


async def below_table(call: Call) -> Response:
    """`EntityDefinitions(<key>)/...`: Attributes, relationships and keys of one table."""
    entity = _table(call)
    rest = list(call.bound.rest)
    context = f"{call.root}$metadata#EntityDefinitions({entity.metadata_id})"
    head = rest.pop(0)
    if head.name == "Attributes":
        return _attributes(call, entity, head, rest, context)
    if head.name in RELATIONSHIP_SETS and not rest:
        return _relationships(call, entity, head, context)
    if head.name == "Keys" and not rest and head.key is None:
        _shaping(call, "EntityKeyMetadata")
        return json_response({"@odata.context": f"{context}/Keys", "value": []})
    raise ResourceNotFound(f"Resource not found for the segment '{(rest[-1] if rest else head).name}'.")


def _attributes(call: Call, entity: Entity, head: Segment, rest: list[Segment], context: str) -> Response:
    documents = md.attribute_documents(entity)
    cast = rest.pop(0).name if rest else None
    if cast is not None and cast not in ATTRIBUTE_CASTS:
        raise ResourceNotFound(f"Resource not found for the segment '{cast}'.")
    type_name = cast[len(md.NS) + 1:] if cast else "AttributeMetadata"
    path = f"{context}/Attributes" + (f"/{cast}" if cast else "")
    if head.key is None:
        if rest:
            raise ResourceNotFound(f"Resource not found for the segment '{rest[0].name}'.")
        shaping = _shaping(call, type_name)
        kept = [d for d in documents if cast is None or d.type_name == type_name]
        return json_response({"@odata.context": path + shaping.context_suffix,
                              "value": shaping.apply(kept, declared=cast and type_name)})
    document = _find(documents, head.key, ("LogicalName",), "an attribute")
    if cast is not None and document.type_name != type_name:
        raise RecordNotFound(f"The attribute is not a {type_name}.", code="0x80040217")
    if rest:  # .../Attributes(<key>)/<cast>/OptionSet
        nav = rest.pop(0).name
        if rest or cast is None or nav not in document.expandable:
            raise ResourceNotFound(f"Resource not found for the segment '{nav}'.")
        value = document.expandable[nav]
        if value is None:
            return Response(status_code=204, headers={"OData-Version": "4.0"})
        shaping = _shaping(call, "OptionSetMetadata")
        selected = select_from(value, _select_of(call))
        return json_response({"@odata.context": f"{context}/Attributes({document.body['MetadataId']})/{cast}/{nav}"
                              f"{shaping.context_suffix}/$entity", **selected})
    shaping = _shaping(call, type_name)
    body = shaping.shape(document, declared=cast and type_name)
    return json_response({"@odata.context": f"{path}{shaping.context_suffix}/$entity", **body})


def _select_of(call: Call):
    text = parse_query_string(call.request.url.query).select
    return None if text is None else parse_select(text)


def _relationships(call: Call, entity: Entity, head: Segment, context: str) -> Response:
    side = RELATIONSHIP_SETS[head.name]
    type_name = "ManyToManyRelationshipMetadata" if side is None else "OneToManyRelationshipMetadata"
    everything = md.relationships(call.model)
    documents = [md.Document(type_name, r) for r in everything
                 if side is not None and r["ReferencedEntity" if side == "referenced" else "ReferencingEntity"]
                 == entity.logical_name]
    shaping = _shaping(call, type_name)
    if head.key is not None:
        document = _find(documents, head.key, ("SchemaName",), "a relationship")
        return json_response({"@odata.context": f"{context}/{head.name}{shaping.context_suffix}/$entity",
                              **shaping.shape(document, declared=type_name)})
    return json_response({"@odata.context": f"{context}/{head.name}{shaping.context_suffix}",
                          "value": shaping.apply(documents, declared=type_name)})


def _definitions(call: Call, set_name: str, base_type: str, documents: list, key: tuple[str, ...] | None = None,
                 what: str = "") -> Response:
    """A definition set (`GlobalOptionSetDefinitions`, `RelationshipDefinitions`), or one of its
    definitions by the key written in the path (`key`: the properties the key may name)."""
    shaping = _shaping(call, base_type)
    context = f"{call.root}$metadata#{set_name}{shaping.context_suffix}"
    if key is None:
        return json_response({"@odata.context": context, "value": shaping.apply(documents)})
    document = _find(documents, call.bound.text or "", key, what)
    return json_response({"@odata.context": f"{context}/$entity", **shaping.shape(document)})


def _option_sets(call: Call) -> list:
    return [md.Document("OptionSetMetadata", d) for d in md.global_option_sets(call.model)]


def _relationship_documents(call: Call) -> list:
    return [md.Document("OneToManyRelationshipMetadata", r) for r in md.relationships(call.model)]


async def global_option_sets(call: Call) -> Response:
    return _definitions(call, "GlobalOptionSetDefinitions", "OptionSetMetadataBase", _option_sets(call))


async def global_option_set(call: Call) -> Response:
    return _definitions(call, "GlobalOptionSetDefinitions", "OptionSetMetadataBase", _option_sets(call), ("Name",),
                        "an option set")


async def relationship_definitions(call: Call) -> Response:
    return _definitions(call, "RelationshipDefinitions", "RelationshipMetadataBase", _relationship_documents(call))


async def relationship_definition(call: Call) -> Response:
    return _definitions(call, "RelationshipDefinitions", "RelationshipMetadataBase", _relationship_documents(call),
                        ("SchemaName",), "a relationship")
