"""The metadata Web API below `EntityDefinitions`, and `GlobalOptionSetDefinitions` /
`RelationshipDefinitions`, as Microsoft's docs show it and as client SDKs read it. Every document
is derived from the entity model, so the tests compare with the model rather than with copies."""

from __future__ import annotations

from odata_emulator.model import MODEL
from tests.helpers import API, assert_json, assert_ok

NS = "Microsoft.Dynamics.CRM"
JOB = MODEL.by_logical_name["asyncoperation"]


async def test_picklists_with_their_options_as_the_python_sdk_reads_them(emulated):
    """query-metadata-web-api.md, "Querying EntityMetadata attributes": cast the Attributes collection
    to PicklistAttributeMetadata and expand OptionSet (PowerPlatform-Dataverse-Client's
    `_bulk_fetch_picklists` sends exactly this before any update carrying a text value)."""
    body = assert_ok(await emulated.get(
        f"EntityDefinitions(LogicalName='asyncoperation')/Attributes/{NS}.PicklistAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet($select=Options)"))
    assert body["@odata.context"] == (f"{API}$metadata#EntityDefinitions({JOB.metadata_id})/Attributes/"
                                      f"{NS}.PicklistAttributeMetadata(LogicalName,OptionSet)")
    assert [a["LogicalName"] for a in body["value"]] == ["operationtype"]
    [operationtype] = body["value"]
    assert set(operationtype) == {"LogicalName", "MetadataId", "OptionSet"}
    options = operationtype["OptionSet"]["Options"]
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in options}
    assert labels == JOB.columns["operationtype"].option_set.labels
    assert options[0]["Label"]["LocalizedLabels"][0]["LanguageCode"] == 1033


async def test_state_status_boolean_and_lookup_casts(emulated):
    """query-metadata-web-api.md: a cast keeps the attributes of that type and gives its own
    properties (OptionSet of State/Status/Boolean attributes, Targets of lookups)."""
    base = "EntityDefinitions(LogicalName='asyncoperation')/Attributes/"
    state = assert_ok(await emulated.get(f"{base}{NS}.StateAttributeMetadata?$select=LogicalName&$expand=OptionSet"))
    [statecode] = state["value"]
    assert statecode["LogicalName"] == "statecode"
    assert [(o["Value"], o["DefaultStatus"]) for o in statecode["OptionSet"]["Options"]][:2] == [(0, 0), (1, 10)]
    status = assert_ok(await emulated.get(f"{base}{NS}.StatusAttributeMetadata?$expand=OptionSet($select=Options)"))
    assert {o["Value"]: o["State"] for o in status["value"][0]["OptionSet"]["Options"]}[31] == 3
    boolean = assert_ok(await emulated.get(f"{base}{NS}.BooleanAttributeMetadata?$select=LogicalName,DefaultValue"
                                           "&$expand=OptionSet"))
    names = {a["LogicalName"] for a in boolean["value"]}
    assert {"iswaitingforevent", "retainjobhistory"} <= names
    option_set = boolean["value"][0]["OptionSet"]
    assert option_set["TrueOption"]["Value"] == 1 and option_set["FalseOption"]["Value"] == 0
    lookups = assert_ok(await emulated.get(f"{base}{NS}.LookupAttributeMetadata?$select=LogicalName,Targets"))
    targets = {a["LogicalName"]: a["Targets"] for a in lookups["value"]}
    assert targets["ownerid"] == ["systemuser", "team"] and targets["createdby"] == ["systemuser"]


async def test_attributes_with_select_and_filter(emulated):
    """query-metadata-web-api.md: $filter on primitive and enumeration values (written
    `Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'`) and on a complex property's `Value`;
    items of a derived type say their `@odata.type`."""
    body = assert_ok(await emulated.get(
        "EntityDefinitions(LogicalName='asyncoperation')/Attributes?$select=LogicalName"
        f"&$filter=AttributeType eq {NS}.AttributeTypeCode'Picklist' or IsValidForUpdate eq true"))
    assert {a["LogicalName"] for a in body["value"]} == {
        a.name for a in JOB.attributes if a.valid_for_update or a.type.value == "Picklist"}
    assert all(a["@odata.type"].startswith(f"#{NS}.") for a in body["value"])
    required = assert_ok(await emulated.get(
        f"EntityDefinitions({JOB.metadata_id})/Attributes?$select=LogicalName"
        f"&$filter=RequiredLevel/Value eq {NS}.AttributeRequiredLevel'SystemRequired'"))
    assert "correlationid" in {a["LogicalName"] for a in required["value"]}
    assert "leaseexpires" not in {a["LogicalName"] for a in assert_ok(
        await emulated.get("EntityDefinitions(LogicalName='asyncoperation')/Attributes?$select=LogicalName"))["value"]}
    unknown = await emulated.get("EntityDefinitions(LogicalName='asyncoperation')/Attributes?$select=Nope")
    assert assert_json(unknown, 400)["error"]["message"] == (
        f"Could not find a property named 'Nope' on type '{NS}.AttributeMetadata'.")


async def test_one_attribute_and_its_option_set(emulated):
    """query-metadata-web-api.md, "Retrieving attributes": by LogicalName or MetadataId, cast, and
    the OptionSet navigation property with $select=Options."""
    one = assert_ok(await emulated.get(
        "EntityDefinitions(LogicalName='asyncoperation')/Attributes(LogicalName='statuscode')"))
    assert one["@odata.type"] == f"#{NS}.StatusAttributeMetadata" and one["AttributeType"] == "Status"
    by_id = assert_ok(await emulated.get(
        f"EntityDefinitions(LogicalName='asyncoperation')/Attributes({one['MetadataId']})/{NS}.StatusAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet"))
    assert by_id["LogicalName"] == "statuscode"
    assert len(by_id["OptionSet"]["Options"]) == len(JOB.columns["statuscode"].option_set.options)
    option_set = assert_ok(await emulated.get(
        f"EntityDefinitions(LogicalName='asyncoperation')/Attributes({one['MetadataId']})/"
        f"{NS}.StatusAttributeMetadata/OptionSet?$select=Options"))
    assert set(option_set) == {"@odata.context", "Options", "MetadataId"}
    name = assert_ok(await emulated.get(
        "EntityDefinitions(LogicalName='asyncoperation')/Attributes(LogicalName='name')"))
    assert (name["MaxLength"], name["IsPrimaryName"], name["AttributeType"]) == (256, True, "String")
    missing = await emulated.get("EntityDefinitions(LogicalName='asyncoperation')/Attributes(LogicalName='nope')")
    assert missing.status_code == 404


async def test_global_option_sets(emulated):
    """use-web-api-metadata.md: GlobalOptionSetDefinitions holds the globally defined option sets."""
    body = assert_ok(await emulated.get("GlobalOptionSetDefinitions"))
    names = {o["Name"] for o in body["value"]}
    assert names == {a.option_set.name for e in MODEL.entities for a in e.attributes
                     if a.option_set is not None and a.option_set.is_global}
    assert all(o["IsGlobal"] for o in body["value"])
    name = next(iter(names))
    one = assert_ok(await emulated.get(f"GlobalOptionSetDefinitions(Name='{name}')?$select=Name,Options"))
    assert one["Name"] == name and one["Options"]


async def test_relationships_as_clients_read_them(emulated):
    """query-metadata-web-api.md, "Querying relationship metadata": the OneToManyRelationships and
    ManyToOneRelationships of a table, RelationshipDefinitions filtered by SchemaName, and Keys."""
    base = "EntityDefinitions(LogicalName='asyncoperation')"
    many_to_one = assert_ok(await emulated.get(f"{base}/ManyToOneRelationships"))
    names = {r["SchemaName"] for r in many_to_one["value"]}
    assert {"lk_asyncoperation_createdby", "business_unit_asyncoperation"} <= names
    createdby = next(r for r in many_to_one["value"] if r["SchemaName"] == "lk_asyncoperation_createdby")
    assert (createdby["ReferencingEntity"], createdby["ReferencingAttribute"], createdby["ReferencedEntity"],
            createdby["ReferencingEntityNavigationPropertyName"]) == ("asyncoperation", "createdby", "systemuser",
                                                                      "createdby")
    one_to_many = assert_ok(await emulated.get(f"{base}/OneToManyRelationships?$select=SchemaName,ReferencingEntity"))
    assert {"SchemaName": "AsyncOperation_BulkDeleteOperation", "ReferencingEntity": "bulkdeleteoperation",
            "MetadataId": one_to_many["value"][0]["MetadataId"]} in one_to_many["value"]
    assert assert_ok(await emulated.get(f"{base}/Keys"))["value"] == []
    assert assert_ok(await emulated.get(f"{base}/ManyToManyRelationships"))["value"] == []
    found = assert_ok(await emulated.get(
        "RelationshipDefinitions?$filter=SchemaName eq 'lk_asyncoperation_createdby'"))
    assert [r["SchemaName"] for r in found["value"]] == ["lk_asyncoperation_createdby"]


async def test_entity_definitions_carry_what_tables_list_filters_on(emulated):
    """query-metadata-web-api.md: $filter on any primitive EntityMetadata property; the Python SDK's
    `tables.list()` filters `IsPrivate eq false`."""
    body = assert_ok(await emulated.get("EntityDefinitions?$filter=IsPrivate eq false&$select=LogicalName,IsPrivate"))
    assert "asyncoperation" in {e["LogicalName"] for e in body["value"]}
    one = assert_ok(await emulated.get(f"EntityDefinitions({JOB.metadata_id})"))
    assert one["LogicalName"] == "asyncoperation" and one["IsPrivate"] is False
