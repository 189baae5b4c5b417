"""The `$metadata` CSDL document derived from the entity model."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from odata_emulator.model import MODEL
from odata_emulator.model.csdl import render_csdl

EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
COMPUTED = "Org.OData.Core.V1.Computed"
PERMISSIONS = "Org.OData.Core.V1.Permissions"
DESCRIPTION = "Org.OData.Core.V1.Description"


@pytest.fixture(scope="module")
def document() -> bytes:
    return render_csdl(MODEL)


@pytest.fixture(scope="module")
def root(document: bytes) -> ET.Element:
    return ET.fromstring(document)


@pytest.fixture(scope="module")
def schema(root: ET.Element) -> ET.Element:
    schema = root.find(f"{EDMX}DataServices/{EDM}Schema")
    assert schema is not None
    return schema


@pytest.fixture(scope="module")
def types(schema: ET.Element) -> dict[str, ET.Element]:
    return {t.get("Name"): t for t in schema.findall(f"{EDM}EntityType")}


@pytest.fixture(scope="module")
def container(schema: ET.Element) -> ET.Element:
    container = schema.find(f"{EDM}EntityContainer")
    assert container is not None
    return container


def properties(entity_type: ET.Element) -> dict[str, ET.Element]:
    return {p.get("Name"): p for p in entity_type.findall(f"{EDM}Property")}


def navigations(entity_type: ET.Element) -> dict[str, ET.Element]:
    return {n.get("Name"): n for n in entity_type.findall(f"{EDM}NavigationProperty")}


def annotation_terms(element: ET.Element) -> set[str]:
    return {a.get("Term") for a in element.findall(f"{EDM}Annotation")}


def test_is_utf8_with_xml_declaration(document: bytes) -> None:
    assert document.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    document.decode("utf-8")


def test_root_and_schema_namespaces(root: ET.Element, schema: ET.Element) -> None:
    assert root.tag == f"{EDMX}Edmx"
    assert root.get("Version") == "4.0"
    assert schema.get("Namespace") == "Microsoft.Dynamics.CRM"
    assert schema.get("Alias") == "mscrm"
    includes = {i.get("Namespace") for i in root.iter(f"{EDMX}Include")}
    assert {"OData.Community.Keys.V1", "OData.Community.Display.V1", "Org.OData.Core.V1"} <= includes


def test_container_is_named_system(container: ET.Element) -> None:
    assert container.get("Name") == "System"


def test_one_entity_type_per_model_entity(types: dict[str, ET.Element]) -> None:
    assert {e.logical_name for e in MODEL.entities} <= set(types)
    assert types["crmbaseentity"].get("Abstract") == "true"


def test_asyncoperation_key_and_base(types: dict[str, ET.Element]) -> None:
    async_type = types["asyncoperation"]
    assert async_type.get("BaseType") == "mscrm.crmbaseentity"
    refs = [r.get("Name") for r in async_type.findall(f"{EDM}Key/{EDM}PropertyRef")]
    assert refs == ["asyncoperationid"]


def test_asyncoperation_properties_are_exactly_the_webapi_ones(types: dict[str, ET.Element]) -> None:
    entity = MODEL.entity("asyncoperation")
    expected = {a.property_name for a in entity.attributes if a.in_webapi and a.valid_for_read}
    assert set(properties(types["asyncoperation"])) == expected


@pytest.mark.parametrize(
    ("name", "edm_type"),
    [
        ("_ownerid_value", "Edm.Guid"),
        ("statecode", "Edm.Int32"),
        ("createdon", "Edm.DateTimeOffset"),
        ("executiontimespan", "Edm.Double"),
        ("sequence", "Edm.Int64"),
        ("name", "Edm.String"),
        ("iswaitingforevent", "Edm.Boolean"),
    ],
)
def test_asyncoperation_property_types(types: dict[str, ET.Element], name: str, edm_type: str) -> None:
    assert properties(types["asyncoperation"])[name].get("Type") == edm_type


def test_lookup_value_is_computed_and_read_only(types: dict[str, ET.Element]) -> None:
    prop = properties(types["asyncoperation"])["_ownerid_value"]
    assert {COMPUTED, PERMISSIONS, DESCRIPTION} <= annotation_terms(prop)
    members = [m.text for m in prop.iter(f"{EDM}EnumMember")]
    assert members == ["Org.OData.Core.V1.PermissionType/Read"]


def test_writable_property_is_not_computed(types: dict[str, ET.Element]) -> None:
    props = properties(types["asyncoperation"])
    assert COMPUTED not in annotation_terms(props["postponeuntil"])
    assert COMPUTED in annotation_terms(props["completedon"])


@pytest.mark.parametrize(
    "name", ["workflowstate", "workflowisblocked", "owneridtype", "versionnumber", "ownerid"]
)
def test_hidden_columns_are_absent(types: dict[str, ET.Element], name: str) -> None:
    assert name not in properties(types["asyncoperation"])


def test_single_valued_navigation(types: dict[str, ET.Element]) -> None:
    nav = navigations(types["asyncoperation"])["owningbusinessunit"]
    assert nav.get("Type") == "mscrm.businessunit"
    assert nav.get("Partner") == "business_unit_asyncoperation"
    constraint = nav.find(f"{EDM}ReferentialConstraint")
    assert constraint is not None
    assert constraint.get("Property") == "_owningbusinessunit_value"
    assert constraint.get("ReferencedProperty") == "businessunitid"


def test_regarding_navigations(types: dict[str, ET.Element]) -> None:
    navs = navigations(types["asyncoperation"])
    assert navs["regardingobjectid_account"].get("Type") == "mscrm.account"
    assert "Partner" not in navs["createdonbehalfby"].attrib


def test_collection_valued_navigation_with_partner(types: dict[str, ET.Element]) -> None:
    navs = navigations(types["businessunit"])
    assert navs["business_unit_asyncoperation"].get("Type") == "Collection(mscrm.asyncoperation)"
    assert navs["business_unit_asyncoperation"].get("Partner") == "owningbusinessunit"
    assert navs["BusinessUnit_AsyncOperations"].get("Partner") == "regardingobjectid_businessunit"


def test_every_partner_exists_on_the_target(types: dict[str, ET.Element]) -> None:
    for entity_type in types.values():
        for nav in entity_type.findall(f"{EDM}NavigationProperty"):
            partner = nav.get("Partner")
            if partner is None:
                continue
            target = nav.get("Type").removeprefix("Collection(").removesuffix(")").removeprefix("mscrm.")
            assert partner in navigations(types[target]), (entity_type.get("Name"), nav.get("Name"))


def test_principal_derived_types(types: dict[str, ET.Element]) -> None:
    principal = types["principal"]
    assert principal.get("Abstract") == "true"
    assert [r.get("Name") for r in principal.iter(f"{EDM}PropertyRef")] == ["ownerid"]
    for name in ("systemuser", "team"):
        assert types[name].get("BaseType") == "mscrm.principal"
        assert types[name].find(f"{EDM}Key") is None
        assert "ownerid" not in properties(types[name])
    assert "systemuserid" in properties(types["systemuser"])


def test_metadata_entity_derives_from_metadata_base(types: dict[str, ET.Element]) -> None:
    base = types["MetadataBase"]
    assert base.get("Abstract") == "true"
    assert [r.get("Name") for r in base.iter(f"{EDM}PropertyRef")] == ["MetadataId"]
    metadata = types["EntityMetadata"]
    assert metadata.get("BaseType") == "mscrm.MetadataBase"
    assert metadata.find(f"{EDM}Key") is None
    assert "MetadataId" not in properties(metadata)
    assert "LogicalName" in properties(metadata)


def test_entity_sets_resolve(container: ET.Element, types: dict[str, ET.Element]) -> None:
    sets = {s.get("Name"): s for s in container.findall(f"{EDM}EntitySet")}
    assert set(sets) == {e.entity_set for e in MODEL.entities}
    for entity_set in sets.values():
        assert entity_set.get("EntityType").removeprefix("mscrm.") in types
    for entity_set in sets.values():
        type_navs = navigations(types[entity_set.get("EntityType").removeprefix("mscrm.")])
        bindings = entity_set.findall(f"{EDM}NavigationPropertyBinding")
        assert {b.get("Path") for b in bindings} == set(type_navs)
        for binding in bindings:
            assert binding.get("Target") in sets


def test_asyncoperation_binding(container: ET.Element) -> None:
    entity_set = container.find(f"{EDM}EntitySet[@Name='asyncoperations']")
    assert entity_set is not None
    assert entity_set.get("EntityType") == "mscrm.asyncoperation"
    bindings = {b.get("Path"): b.get("Target") for b in entity_set.iter(f"{EDM}NavigationPropertyBinding")}
    assert bindings["createdby"] == "systemusers"
    assert bindings["owningbusinessunit"] == "businessunits"
    assert bindings["AsyncOperation_BulkDeleteOperation"] == "bulkdeleteoperations"


def test_whoami(schema: ET.Element, container: ET.Element) -> None:
    response = schema.find(f"{EDM}ComplexType[@Name='WhoAmIResponse']")
    assert response is not None
    assert {p.get("Name") for p in response} == {"BusinessUnitId", "UserId", "OrganizationId"}
    function = schema.find(f"{EDM}Function[@Name='WhoAmI']")
    assert function is not None
    assert function.find(f"{EDM}ReturnType").get("Type") == "mscrm.WhoAmIResponse"
    function_import = container.find(f"{EDM}FunctionImport[@Name='WhoAmI']")
    assert function_import is not None
    assert function_import.get("Function") == "mscrm.WhoAmI"


def test_descriptions_are_escaped() -> None:
    from dataclasses import replace

    from odata_emulator.model import Attribute, AttributeType

    entity = MODEL.entity("account")
    odd = Attribute("odd", AttributeType.STRING, description='Tom & "Jerry" <x>', valid_for_create=True)
    model = replace(MODEL, entities=(replace(entity, attributes=(*entity.attributes, odd)),))
    prop = properties(ET.fromstring(render_csdl(model)).find(f".//{EDM}EntityType[@Name='account']"))["odd"]
    descriptions = [a.get("String") for a in prop if a.get("Term") == DESCRIPTION]
    assert descriptions == ['Tom & "Jerry" <x>']
