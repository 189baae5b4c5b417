"""The CSDL document served at `GET /api/data/v9.2/$metadata`, derived from the entity model.

The shape follows Dataverse: one `Microsoft.Dynamics.CRM` schema (alias `mscrm`) holding the
abstract platform base types, one EntityType per table, the functions and actions served with the
types they need (`model/operations.py`) and an EntityContainer named `System`. Nothing is cached
here; the caller keeps the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from .operations import COMPLEX_TYPES, ENUM_TYPES, OPERATIONS, PARAMETER_ENTITY_TYPES, Param
from .types import Attribute, Entity, EntityModel, ManyToOne, OneToMany

EDMX_NS = "http://docs.oasis-open.org/odata/ns/edmx"
EDM_NS = "http://docs.oasis-open.org/odata/ns/edm"

# (vocabulary document, namespace, alias) — the references Dataverse declares.
VOCABULARIES = (
    ("http://vocabularies.odata.org/OData.Community.Keys.V1.xml", "OData.Community.Keys.V1", "Keys"),
    ("http://vocabularies.odata.org/OData.Community.Display.V1.xml", "OData.Community.Display.V1", "Display"),
    ("http://docs.oasis-open.org/odata/odata/v4.0/os/vocabularies/Org.OData.Core.V1.xml", "Org.OData.Core.V1", "Core"),
)

# The platform's abstract base types: name -> (its own base type, key property). Key properties
# are Edm.Guid and declared on the base, so derived types neither redeclare them nor a Key.
BASE_TYPES = {
    "crmbaseentity": (None, None),
    "principal": ("crmbaseentity", "ownerid"),
    "MetadataBase": (None, "MetadataId"),
}


@dataclass
class Node:
    """A tiny XML element: enough to build the document and render it indented."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    text: str | None = None

    def add(self, tag: str, text: str | None = None, **attrs: str | None) -> Node:
        child = Node(tag, {k: v for k, v in attrs.items() if v is not None}, text=text)
        self.children.append(child)
        return child

    def render(self, out: list[str], depth: int = 0) -> None:
        attrs = "".join(f" {k}={quoteattr(v)}" for k, v in self.attrs.items())
        pad = "  " * depth
        if self.text is not None:
            out.append(f"{pad}<{self.tag}{attrs}>{escape(self.text)}</{self.tag}>")
            return
        if not self.children:
            out.append(f"{pad}<{self.tag}{attrs}/>")
            return
        out.append(f"{pad}<{self.tag}{attrs}>")
        for child in self.children:
            child.render(out, depth + 1)
        out.append(f"{pad}</{self.tag}>")


def render_csdl(model: EntityModel) -> bytes:
    """The `$metadata` CSDL XML (OData 4.0) for `model`, UTF-8 encoded with an XML declaration."""
    root = Node("edmx:Edmx", {"Version": "4.0", "xmlns:edmx": EDMX_NS})
    for uri, namespace, alias in VOCABULARIES:
        ref = root.add("edmx:Reference", Uri=uri)
        ref.add("edmx:Include", Namespace=namespace, Alias=alias)
        ref.add("edmx:IncludeAnnotations", TermNamespace=namespace)
    schema = root.add("edmx:DataServices").add(
        "Schema", Namespace=model.namespace, Alias=model.alias, xmlns=EDM_NS
    )
    _base_types(schema, model)
    for entity in model.entities:
        _entity_type(schema, model, entity)
    _operations(schema, model)
    _container(schema, model)

    out = ['<?xml version="1.0" encoding="utf-8"?>']
    root.render(out)
    return ("\n".join(out) + "\n").encode("utf-8")


def _qualified(model: EntityModel, name: str) -> str:
    return f"{model.alias}.{name}"


def _base_types(schema: Node, model: EntityModel) -> None:
    """Declare crmbaseentity plus every base type a table of the model derives from."""
    used = {"crmbaseentity"} | {e.base_type for e in model.entities}
    for name, (base, key) in BASE_TYPES.items():
        if name not in used:
            continue
        node = schema.add(
            "EntityType", Name=name, BaseType=base and _qualified(model, base), Abstract="true"
        )
        if key:
            node.add("Key").add("PropertyRef", Name=key)
            node.add("Property", Name=key, Type="Edm.Guid")


def _navigation_targets(model: EntityModel, entity: Entity) -> list[ManyToOne | OneToMany]:
    """The table's relationships whose target table is part of the model."""
    rels: list[ManyToOne | OneToMany] = [*entity.many_to_one, *entity.one_to_many]
    return [rel for rel in rels if rel.target in model.by_logical_name]


def _entity_type(schema: Node, model: EntityModel, entity: Entity) -> None:
    base = entity.base_type
    node = schema.add("EntityType", Name=entity.logical_name, BaseType=_qualified(model, base))
    inherited_key = BASE_TYPES.get(base, (None, None))[1]
    if inherited_key is None:
        node.add("Key").add("PropertyRef", Name=entity.primary_id)
    for name, attribute in entity.properties.items():
        if name != inherited_key:
            _property(node, name, attribute)
    for rel in _navigation_targets(model, entity):
        target = model.entity(rel.target)
        if isinstance(rel, ManyToOne):
            nav = node.add(
                "NavigationProperty",
                Name=rel.navigation,
                Type=_qualified(model, rel.target),
                Nullable="false",
                Partner=rel.partner,
            )
            nav.add(
                "ReferentialConstraint",
                Property=f"_{rel.attribute}_value",
                ReferencedProperty=target.primary_id,
            )
        else:
            partner = next(
                (m.navigation for m in target.many_to_one if m.schema_name == rel.schema_name), None
            )
            node.add(
                "NavigationProperty",
                Name=rel.navigation,
                Type=f"Collection({_qualified(model, rel.target)})",
                Partner=partner,
            )


def _property(parent: Node, name: str, attribute: Attribute) -> None:
    edm_type = attribute.edm_type
    node = parent.add(
        "Property", Name=name, Type=edm_type, Unicode="false" if edm_type == "Edm.String" else None
    )
    if attribute.description:
        node.add("Annotation", Term="Org.OData.Core.V1.Description", String=attribute.description)
    read_only = not (attribute.valid_for_create or attribute.valid_for_update)
    if read_only or attribute.is_lookup:
        node.add("Annotation", Term="Org.OData.Core.V1.Computed", Bool="true")
        permissions = node.add("Annotation", Term="Org.OData.Core.V1.Permissions")
        permissions.add("Collection").add("EnumMember", "Org.OData.Core.V1.PermissionType/Read")


_EDM_PREFIXES = ("Edm.", "Collection(Edm.")


def _type_name(model: EntityModel, type_name: str) -> str:
    """An operation's type as CSDL writes it: Edm types as they are, schema types by the alias."""
    if type_name.startswith(_EDM_PREFIXES):
        return type_name
    if type_name.startswith("Collection("):
        return f"Collection({_qualified(model, type_name[len('Collection('):-1])})"
    return _qualified(model, type_name)


def _typed(parent: Node, tag: str, model: EntityModel, param: Param) -> None:
    parent.add(tag, Name=param.name, Type=_type_name(model, param.type),
               Nullable=None if param.nullable is None else str(param.nullable).lower(),
               Unicode=None if param.unicode is None else str(param.unicode).lower())


def _operations(schema: Node, model: EntityModel) -> None:
    """The functions and actions served (`model/operations.py`), with the types they need."""
    for name, key in PARAMETER_ENTITY_TYPES:
        node = schema.add("EntityType", Name=name, BaseType=_qualified(model, "crmbaseentity"))
        node.add("Key").add("PropertyRef", Name=key)
        node.add("Property", Name=key, Type="Edm.Guid")
    for enum in ENUM_TYPES:
        node = schema.add("EnumType", Name=enum.name, UnderlyingType="Edm.Int32",
                          IsFlags="true" if enum.flags else None)
        for member, value in enum.members:
            node.add("Member", Name=member, Value=str(value))
    for complex_type in COMPLEX_TYPES:
        node = schema.add("ComplexType", Name=complex_type.name,
                          BaseType=complex_type.base and _qualified(model, complex_type.base),
                          Abstract="true" if complex_type.abstract else None)
        for prop in complex_type.properties:
            _typed(node, "Property", model, prop)
    for operation in OPERATIONS:
        node = schema.add(operation.kind, Name=operation.name, IsBound="true" if operation.bound_to else None)
        for param in operation.parameters:
            _typed(node, "Parameter", model, param)
        if operation.returns:
            node.add("ReturnType", Type=_qualified(model, operation.returns), Nullable="false")


def _container(schema: Node, model: EntityModel) -> None:
    container = schema.add("EntityContainer", Name=model.container)
    for entity in model.entities:
        entity_set = container.add(
            "EntitySet", Name=entity.entity_set, EntityType=_qualified(model, entity.logical_name)
        )
        for rel in _navigation_targets(model, entity):
            entity_set.add(
                "NavigationPropertyBinding",
                Path=rel.navigation,
                Target=model.entity(rel.target).entity_set,
            )
    for operation in OPERATIONS:
        if operation.bound_to is None:  # bound operations are reached through their entity, not imported
            tag = "FunctionImport" if operation.kind == "Function" else "ActionImport"
            container.add(tag, Name=operation.name, **{operation.kind: _qualified(model, operation.name)},
                          IncludeInServiceDocument="false" if operation.kind == "Function" else None)
