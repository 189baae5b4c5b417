"""A write's JSON body read against the model: each property to its column in storage form, each
`<nav>@odata.bind` to the lookup it sets, and Dataverse's 400 for anything it refuses (an unknown
property, a wrong type, a value too long, a bad bind, a read-only column). Nothing here touches the
store; the binds are checked against it by `records/write.py`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest, Code, InvalidPayload
from ..model import Attribute, Entity, EntityModel, ManyToOne
from ..model import AttributeType as T
from ..store.values import normalize_guid, to_storage

HELP_LINK = "https://go.microsoft.com/fwlink/?linkid=2195293"
_BIND_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://[^/]+)?/?(?:api/data/v[0-9.]+/)?(?P<set>[A-Za-z_][A-Za-z0-9_]*)"
                       r"\((?P<key>[^()]*)\)$", re.IGNORECASE)
_INT32 = (-2147483648, 2147483647)


@dataclass(frozen=True)
class Reference:
    """A lookup a bind sets: `attribute` points at `target`'s row `record_id`."""

    attribute: Attribute
    target: Entity
    record_id: str


@dataclass
class Body:
    """What a write asks: column values in storage form (binds included), the binds to check, and
    the logical names of the columns the body names (an Update's changed columns)."""

    values: dict[str, Any] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)

    @property
    def named(self) -> list[str]:
        return list(self.values)


def payload_error(entity: Entity, inner: str) -> InvalidPayload:
    """The 400 the Web API's OData reader answers for a body it cannot read into the entity type."""
    return InvalidPayload(
        f"Error identified in Payload provided by the user for Entity :'{entity.entity_set}', For more information on "
        f"this error please follow this help link {HELP_LINK}  ---->  InnerException : "
        f"Microsoft.OData.ODataException: {inner}")


def validation_error(message: str) -> BadRequest:
    return BadRequest(f"A validation error occurred. {message}", code=Code.BULK_DELETE_INVALID)


def read_body(model: EntityModel, entity: Entity, body: dict, *, creating: bool) -> Body:
    """The body of a POST (`creating`) or a PATCH on `entity`, checked property by property."""
    result = Body()
    for key, value in body.items():
        if "@" in key:
            name, _, annotation = key.partition("@")
            if annotation == "odata.bind" and name:
                reference = _bind(model, entity, name, value)
                _check_writable(entity, reference.attribute, creating)
                result.values[reference.attribute.name] = reference.record_id
                if reference.attribute.type_column:
                    result.values[reference.attribute.type_column] = reference.target.logical_name
                result.references.append(reference)
            elif name and name not in entity.properties and name not in entity.navigations:
                raise payload_error(entity, _undeclared(name))
            continue  # @odata.type, @odata.etag and other instance annotations are read and ignored
        attribute = entity.properties.get(key) or _write_only(entity, key)
        if attribute is None or attribute.is_lookup:
            if key in entity.navigations:
                raise payload_error(entity, f"A node of type 'PrimitiveValue' was read from the JSON reader when trying "
                                            f"to read the navigation property '{key}'; use '{key}@odata.bind'.")
            raise payload_error(entity, f"The property '{key}' does not exist on type "
                                        f"'{model.namespace}.{entity.logical_name}'. Make sure to only use property names "
                                        f"that are defined by the type or mark the type as open type.")
        _check_writable(entity, attribute, creating)
        result.values[attribute.name] = _value(entity, attribute, value)
    return result


def _write_only(entity: Entity, name: str) -> Attribute | None:
    """A column a client may write but never read back (a service endpoint's `authvalue`)."""
    attribute = entity.columns.get(name)
    return attribute if attribute is not None and attribute.in_webapi and not attribute.valid_for_read else None


def _undeclared(name: str) -> str:
    return (f"An undeclared property '{name}' which only has property annotations in the payload but no property value "
            f"was found in the payload. In OData, only declared navigation properties and declared named streams can "
            f"be represented as properties without values.")


def _check_writable(entity: Entity, attribute: Attribute, creating: bool) -> None:
    allowed = attribute.valid_for_create if creating else attribute.valid_for_update
    if not allowed:
        operation = "Create" if creating else "Update"
        raise BadRequest(f"The '{attribute.name}' attribute of the '{entity.logical_name}' entity is not valid for "
                         f"{operation}: it is read-only.", code=Code.INVALID_ARGUMENT)


def _value(entity: Entity, attribute: Attribute, value):
    kind = attribute.type
    try:
        stored = to_storage(attribute, value)
    except (TypeError, ValueError):
        if isinstance(value, str) and kind is not T.STRING:
            raise payload_error(entity, f"Cannot convert the literal '{value}' to the expected type "
                                        f"'{attribute.edm_type}'.") from None
        raise payload_error(entity, f"Cannot convert a primitive value to the expected type '{attribute.edm_type}'. "
                                    f"See the inner exception for more details.") from None
    if stored is None:
        return None
    if isinstance(stored, str) and attribute.max_length is not None and len(stored) > attribute.max_length:
        raise validation_error(f"The length of the '{attribute.name}' attribute of the '{entity.logical_name}' entity "
                               f"exceeded the maximum allowed length of '{attribute.max_length}'.")
    if kind in (T.INTEGER, T.PICKLIST, T.STATE, T.STATUS) and not _INT32[0] <= stored <= _INT32[1]:
        raise payload_error(entity, f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32'.")
    if kind is T.INTEGER and attribute.min_value is not None and not attribute.min_value <= stored <= attribute.max_value:
        raise validation_error(f"The value {stored} of '{attribute.name}' on record of type '{entity.logical_name}' is "
                               f"outside the valid range. Accepted Values are between {attribute.min_value:g} and "
                               f"{attribute.max_value:g}")
    if kind.is_choice and attribute.option_set is not None and stored not in attribute.option_set.labels:
        accepted = ",".join(str(v) for v in attribute.option_set.labels)
        raise validation_error(f"The value {stored} of '{attribute.name}' on record of type '{entity.logical_name}' is "
                               f"outside the valid range. Accepted Values: {accepted}")
    return stored


def _bind(model: EntityModel, entity: Entity, name: str, value) -> Reference:
    """`<nav>@odata.bind` (or `<lookup column>@odata.bind`, `ownerid@odata.bind`): the lookup it sets."""
    navigation = entity.navigations.get(name)
    if isinstance(navigation, ManyToOne):
        attribute = entity.columns[navigation.attribute]
        targets: tuple[str, ...] = (navigation.target,)
    elif navigation is None and name in entity.columns and entity.columns[name].is_lookup:
        attribute = entity.columns[name]
        targets = attribute.targets
    else:
        raise payload_error(entity, _undeclared(name))
    if not isinstance(value, str):
        raise payload_error(entity, f"A node of type '{type(value).__name__}' was read where the entity reference link "
                                    f"of '{name}@odata.bind' (a URL string) was expected.")
    match = _BIND_URL.match(value.strip())
    target = model.by_entity_set.get(match.group("set")) if match else None
    if match is None or target is None:
        raise BadRequest(f"The URI '{value}' of '{name}@odata.bind' is not a valid entity reference: give "
                         f"/<entity set>(<id>).", code=Code.INVALID_PAYLOAD)
    if target.logical_name not in targets:
        raise BadRequest(f"'{name}@odata.bind' can point at {', '.join(targets)}, not at '{target.logical_name}'.",
                         code=Code.INVALID_PAYLOAD)
    try:
        record_id = normalize_guid(match.group("key"))
    except ValueError:
        raise BadRequest(f"The key in '{value}' of '{name}@odata.bind' is not a GUID.",
                         code=Code.INVALID_PAYLOAD) from None
    return Reference(attribute, target, record_id)
