"""The metadata Web API's documents (`EntityDefinitions`, their `Attributes`, option sets,
relationships), derived from the entity model: nothing here is declared a second time.

Each document is the JSON Dataverse returns for a definition (`AttributeMetadata` and its derived
types, `OptionSetMetadata`, `OneToManyRelationshipMetadata`, ...), as plain dicts; the navigation
properties a client expands (`OptionSet`, `GlobalOptionSet`) are kept apart in `Expandable`.
Identifiers the model does not declare (an attribute's or an option set's MetadataId) are derived
from names, so they are the same at every start.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from .types import Attribute, AttributeType, Entity, EntityModel, OptionSet

NS = "Microsoft.Dynamics.CRM"
_IDS = uuid.UUID("5d0f1c2e-8a4b-4c1e-9f3a-6b7c8d9e0a1b")

# AttributeTypeCode -> (the AttributeMetadata type, AttributeTypeName, Format)
ATTRIBUTE_TYPES: dict[AttributeType, tuple[str, str]] = {
    AttributeType.UNIQUEIDENTIFIER: ("UniqueIdentifierAttributeMetadata", "UniqueidentifierType"),
    AttributeType.STRING: ("StringAttributeMetadata", "StringType"),
    AttributeType.MEMO: ("MemoAttributeMetadata", "MemoType"),
    AttributeType.INTEGER: ("IntegerAttributeMetadata", "IntegerType"),
    AttributeType.BIGINT: ("BigIntAttributeMetadata", "BigIntType"),
    AttributeType.DOUBLE: ("DoubleAttributeMetadata", "DoubleType"),
    AttributeType.DATETIME: ("DateTimeAttributeMetadata", "DateTimeType"),
    AttributeType.BOOLEAN: ("BooleanAttributeMetadata", "BooleanType"),
    AttributeType.PICKLIST: ("PicklistAttributeMetadata", "PicklistType"),
    AttributeType.STATE: ("StateAttributeMetadata", "StateType"),
    AttributeType.STATUS: ("StatusAttributeMetadata", "StatusType"),
    AttributeType.LOOKUP: ("LookupAttributeMetadata", "LookupType"),
    AttributeType.OWNER: ("LookupAttributeMetadata", "OwnerType"),
    AttributeType.ENTITYNAME: ("EntityNameAttributeMetadata", "EntityNameType"),
}
OPTION_SET_TYPES = {AttributeType.PICKLIST: "Picklist", AttributeType.STATE: "State",
                    AttributeType.STATUS: "Status", AttributeType.BOOLEAN: "Boolean"}


def metadata_id(*names: str) -> str:
    """A MetadataId the model does not declare, derived from the names that identify the definition."""
    return str(uuid.uuid5(_IDS, "/".join(names)))


def label(text: str, *owner: str) -> dict:
    """A `Label` complex value in the one language the emulator speaks (1033)."""
    if not text:
        return {"LocalizedLabels": [], "UserLocalizedLabel": None}
    localized = {"Label": text, "LanguageCode": 1033, "IsManaged": True,
                 "MetadataId": metadata_id("label", *owner, text), "HasChanged": None}
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": dict(localized)}


def _managed(value, name: str) -> dict:
    return {"Value": value, "CanBeChanged": False, "ManagedPropertyLogicalName": name}


def entity_definition_row(entity: Entity) -> dict:
    """The scalar EntityMetadata properties of `entity`: the `EntityDefinitions` store rows."""
    return {
        "MetadataId": entity.metadata_id,
        "LogicalName": entity.logical_name,
        "SchemaName": entity.schema_name,
        "EntitySetName": entity.entity_set,
        "LogicalCollectionName": entity.entity_set,
        "CollectionSchemaName": entity.schema_name + "s",
        "PrimaryIdAttribute": entity.primary_id,
        "PrimaryNameAttribute": entity.primary_name,
        "ObjectTypeCode": entity.object_type_code,
        "OwnershipType": entity.ownership,
        "TableType": "Standard",
        "IsCustomEntity": 0,
        "IsActivity": 0,
        "IsIntersect": 0,
        "IsPrivate": 0,
        "IsManaged": 1,
        "IsLogicalEntity": 0,
        "IsValidForAdvancedFind": 1,
        "IsChildEntity": 0,
        "HasActivities": 0,
        "HasNotes": 0,
        "IntroducedVersion": "5.0.0.0",
    }


# -- option sets ------------------------------------------------------------------------------


def option_set_id(option_set: OptionSet) -> str:
    return metadata_id("optionset", option_set.name)


def option_set(attribute: Attribute, entity: Entity) -> dict | None:
    """The `OptionSetMetadata` (or `BooleanOptionSetMetadata`) behind a choice or Yes/No column."""
    kind = OPTION_SET_TYPES.get(attribute.type)
    if kind == "Boolean":
        labels = attribute.boolean_labels
        assert labels is not None
        name = f"{entity.logical_name}_{attribute.name}"
        return {
            "@odata.type": f"#{NS}.BooleanOptionSetMetadata",
            "MetadataId": metadata_id("optionset", name), "Name": name, "IsGlobal": False,
            "IsCustomOptionSet": False, "IsManaged": True, "OptionSetType": kind,
            "DisplayName": label(attribute.display_name, name), "Description": label("", name),
            "IntroducedVersion": "5.0.0.0", "HasChanged": None,
            "TrueOption": _option(1, labels.true, name), "FalseOption": _option(0, labels.false, name),
        }
    if kind is None or attribute.option_set is None:
        return None
    return global_option_set(attribute.option_set, kind, attribute.display_name)


def global_option_set(option_set: OptionSet, kind: str = "Picklist", display_name: str = "") -> dict:
    name = option_set.name
    options = []
    for option in option_set.options:
        document = _option(option.value, option.label, name)
        if kind == "State":
            document = {"@odata.type": f"#{NS}.StateOptionMetadata", **document,
                        "DefaultStatus": option.default_status, "InvariantName": option.label.replace(" ", "")}
        elif kind == "Status":
            document = {"@odata.type": f"#{NS}.StatusOptionMetadata", **document,
                        "State": option.state, "TransitionData": None}
        options.append(document)
    return {
        "@odata.type": f"#{NS}.OptionSetMetadata",
        "MetadataId": option_set_id(option_set), "Name": name, "IsGlobal": option_set.is_global,
        "IsCustomOptionSet": False, "IsManaged": True, "OptionSetType": kind,
        "DisplayName": label(display_name, name), "Description": label("", name),
        "IntroducedVersion": "5.0.0.0", "HasChanged": None, "ExternalTypeName": None,
        "ParentOptionSetName": None, "Options": options,
    }


def _option(value: int, text: str, owner: str) -> dict:
    return {"Value": value, "Label": label(text, owner, str(value)), "Description": label(""),
            "Color": None, "IsManaged": True, "ExternalValue": None, "IsHidden": False,
            "ParentValues": [], "Tag": None, "MetadataId": None, "HasChanged": None}


def global_option_sets(model: EntityModel) -> list[dict]:
    """`GlobalOptionSetDefinitions`: the model's option sets declared global."""
    seen: dict[str, dict] = {}
    for entity in model.entities:
        for attribute in entity.attributes:
            if attribute.option_set is not None and attribute.option_set.is_global:
                kind = OPTION_SET_TYPES.get(attribute.type, "Picklist")
                seen.setdefault(attribute.option_set.name, global_option_set(attribute.option_set, kind))
    return list(seen.values())


# -- attributes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """A definition: its JSON, its type name (without namespace) and what `$expand` may add."""

    type_name: str
    body: dict
    expandable: dict[str, dict | list | None] = field(default_factory=dict)


def attribute_documents(entity: Entity) -> list[Document]:
    """`EntityDefinitions(...)/Attributes`: every column of the table Dataverse describes."""
    return [_attribute(entity, a) for a in entity.attributes if not a.emulator_only]


def _attribute(entity: Entity, attribute: Attribute) -> Document:
    type_name, type_label = ATTRIBUTE_TYPES[attribute.type]
    owner = (entity.logical_name, attribute.name)
    required = "SystemRequired" if attribute.required or attribute.name == entity.primary_id else "None"
    body: dict = {
        "@odata.type": f"#{NS}.{type_name}",
        "MetadataId": metadata_id("attribute", *owner),
        "LogicalName": attribute.name,
        "SchemaName": attribute.name[:1].upper() + attribute.name[1:],
        "EntityLogicalName": entity.logical_name,
        "AttributeType": attribute.type.value,
        "AttributeTypeName": {"Value": type_label},
        "AttributeOf": _attribute_of(entity, attribute),
        "IsPrimaryId": attribute.name == entity.primary_id,
        "IsPrimaryName": attribute.name == entity.primary_name,
        "IsValidForCreate": attribute.valid_for_create,
        "IsValidForUpdate": attribute.valid_for_update,
        "IsValidForRead": attribute.valid_for_read,
        "IsValidODataAttribute": attribute.in_webapi,
        "IsCustomAttribute": False,
        "IsLogical": False,
        "IsManaged": True,
        "IsSecured": False,
        "IntroducedVersion": "5.0.0.0",
        "RequiredLevel": _managed(required, "canmodifyrequirementlevelsettings"),
        "DisplayName": label(attribute.display_name, *owner),
        "Description": label(attribute.description, *owner, "description"),
        "HasChanged": None,
    }
    body.update(_specific(attribute))
    expandable: dict[str, dict | list | None] = {}
    if attribute.type in OPTION_SET_TYPES:
        options = option_set(attribute, entity)
        is_global = attribute.option_set is not None and attribute.option_set.is_global
        # A column on a global option set answers it through both (OptionSet is what clients read).
        expandable = {"OptionSet": options, "GlobalOptionSet": options if is_global else None}
    return Document(type_name, body, expandable)


def _attribute_of(entity: Entity, attribute: Attribute) -> str | None:
    """The column a hidden one serves (a polymorphic lookup's type code)."""
    for other in entity.attributes:
        if other.type_column == attribute.name:
            return other.name
    return None


def _specific(attribute: Attribute) -> dict:
    """The properties of the attribute's derived type."""
    kind = attribute.type
    if kind in (AttributeType.STRING, AttributeType.MEMO):
        return {"MaxLength": attribute.max_length, "DatabaseLength": attribute.max_length,
                "Format": "Text" if kind is AttributeType.STRING else "TextArea"}
    if kind in (AttributeType.INTEGER, AttributeType.BIGINT):
        return {"MinValue": attribute.min_value, "MaxValue": attribute.max_value, "Format": "None"}
    if kind is AttributeType.DOUBLE:
        return {"MinValue": attribute.min_value, "MaxValue": attribute.max_value, "Precision": attribute.precision}
    if kind is AttributeType.DATETIME:
        return {"Format": "DateOnly" if attribute.date_only else "DateAndTime",
                "DateTimeBehavior": {"Value": "UserLocal"}}
    if kind.is_lookup:
        return {"Targets": list(attribute.targets), "Format": "None"}
    if kind is AttributeType.BOOLEAN:
        return {"DefaultValue": False}
    if kind in OPTION_SET_TYPES:
        return {"DefaultFormValue": -1}
    return {}


# -- relationships ----------------------------------------------------------------------------

CASCADE = {"Assign": "NoCascade", "Delete": "RemoveLink", "Merge": "NoCascade", "Reparent": "NoCascade",
           "Share": "NoCascade", "Unshare": "NoCascade", "RollupView": "NoCascade"}


def relationships(model: EntityModel) -> list[dict]:
    """`RelationshipDefinitions`: every one-to-many relationship the model declares, once, seen
    from either side (a table's lookup, or the partner collection of the table it points at)."""
    found: dict[str, dict] = {}
    for entity in model.entities:
        for rel in entity.many_to_one:
            target = model.by_logical_name.get(rel.target)
            partner = rel.partner or rel.schema_name
            found.setdefault(rel.schema_name, _relationship(
                rel.schema_name, rel.target, target.primary_id if target else f"{rel.target}id",
                entity.logical_name, rel.attribute, partner, rel.navigation))
        for one in entity.one_to_many:
            found.setdefault(one.schema_name, _relationship(
                one.schema_name, entity.logical_name, entity.primary_id, one.target, one.attribute,
                one.navigation, one.attribute))
    return list(found.values())


def _relationship(schema_name: str, referenced: str, referenced_attribute: str, referencing: str,
                  referencing_attribute: str, referenced_navigation: str, referencing_navigation: str) -> dict:
    return {
        "@odata.type": f"#{NS}.OneToManyRelationshipMetadata",
        "MetadataId": metadata_id("relationship", schema_name),
        "SchemaName": schema_name,
        "RelationshipType": "OneToManyRelationship",
        "ReferencedEntity": referenced,
        "ReferencedAttribute": referenced_attribute,
        "ReferencingEntity": referencing,
        "ReferencingAttribute": referencing_attribute,
        "ReferencedEntityNavigationPropertyName": referenced_navigation,
        "ReferencingEntityNavigationPropertyName": referencing_navigation,
        "IsCustomRelationship": False,
        "IsCustomizable": _managed(False, "iscustomizable"),
        "IsValidForAdvancedFind": True,
        "IsManaged": True,
        "IsHierarchical": False,
        "SecurityTypes": "None",
        "RelationshipBehavior": 0,
        "IntroducedVersion": "5.0.0.0",
        "CascadeConfiguration": dict(CASCADE),
        "HasChanged": None,
    }
