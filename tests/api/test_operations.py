"""Functions and actions: RetrieveTotalRecordCount, RetrievePrincipalAccess, and every operation the
emulator serves declared in `$metadata` as Dataverse declares it (BulkDelete with its parameters and
the QueryExpression types its QuerySet needs), read as a metadata-driven generator reads it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers import API, REPO, assert_error, assert_ok, sql_rows

EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
CALLER = json.loads((REPO / "fixtures" / "dataset.json").read_text(encoding="utf-8"))["caller"]
ALL_RIGHTS = ("ReadAccess, WriteAccess, AppendAccess, AppendToAccess, CreateAccess, DeleteAccess, ShareAccess, "
              "AssignAccess")


def _count(store, table: str) -> int:
    return sql_rows(store, f"select count(*) from {table}")[0][0]


async def test_retrieve_total_record_count(emulated, store_copy):
    """query/count-rows.md ("use the RetrieveTotalRecordCount function") and use-web-api-functions.md
    ("Passing parameters to a function": inline values and parameter aliases)."""
    expected = {
        "@odata.context": f"{API}$metadata#Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse",
        "EntityRecordCountCollection": {
            "Count": 2, "IsReadOnly": False, "Keys": ["asyncoperation", "account"],
            "Values": [_count(store_copy, "asyncoperation"), _count(store_copy, "account")]},
    }
    for url in ("RetrieveTotalRecordCount(EntityNames=@p1)?@p1=[\"asyncoperation\",\"account\"]",
                "RetrieveTotalRecordCount(EntityNames=['asyncoperation','account'])"):
        assert assert_ok(await emulated.get(url)) == expected

    response = await emulated.get("RetrieveTotalRecordCount(EntityNames=@p1)?@p1=['nosuchtable']")
    assert_error(response, 404, "0x80040217", "Could not find an entity with the name 'nosuchtable'.")
    response = await emulated.request("POST", "RetrieveTotalRecordCount(EntityNames=['account'])")
    assert response.status_code == 404  # a function answers GET only


async def test_retrieve_principal_access(emulated, store_copy):
    """security-access-coding.md ("Test individual table records", the Web API tab) and
    use-web-api-functions.md ("Pass record reference to a function": `@odata.id`, relative or full)."""
    [account] = sql_rows(store_copy, "select accountid from account limit 1")[0]
    user = CALLER["systemuserid"]
    expected = {"@odata.context": f"{API}$metadata#Microsoft.Dynamics.CRM.RetrievePrincipalAccessResponse",
                "AccessRights": ALL_RIGHTS}
    for reference in (f"{{'@odata.id':'accounts({account})'}}", json.dumps({"@odata.id": f"{API}accounts({account})"})):
        url = f"systemusers({user})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)?@tid={reference}"
        assert assert_ok(await emulated.get(url)) == expected
    [team] = sql_rows(store_copy, "select teamid from team limit 1")[0]
    url = f"teams({team})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@p1)?@p1={{'@odata.id':'accounts({account})'}}"
    assert assert_ok(await emulated.get(url)) == expected

    missing = "00000000-0000-0000-0000-000000000001"
    url = f"systemusers({user})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@p1)?@p1={{'@odata.id':'accounts({missing})'}}"
    assert_error(await emulated.get(url), 404, "0x80040217", f"Entity 'account' With Id = {missing} Does Not Exist")


def _schema(body: bytes):
    return ET.fromstring(body).find(f"{EDMX}DataServices/{EDM}Schema")


def _local(name: str | None) -> str | None:
    return name.split(".", 1)[1] if name and name.startswith(("mscrm.", "Microsoft.Dynamics.CRM.")) else name


async def test_metadata_declares_every_operation_served(emulated):
    """use-web-api-functions.md ("Bound and unbound functions": a Function element, IsBound and its first
    Parameter for a bound one, the complex type it returns) and use-web-api-actions.md; the BulkDelete
    action's reference page (its parameters and their types). A generator reads exactly these elements."""
    schema = _schema((await emulated.get("$metadata")).content)
    declared = {(_local(t.get("Name"))) for t in schema if t.tag in (f"{EDM}ComplexType", f"{EDM}EntityType",
                                                                      f"{EDM}EnumType")}
    container = schema.find(f"{EDM}EntityContainer")
    imports = {i.get("Name"): (i.tag, _local(i.get("Function") or i.get("Action"))) for i in container
               if i.tag in (f"{EDM}FunctionImport", f"{EDM}ActionImport")}
    assert imports == {"WhoAmI": (f"{EDM}FunctionImport", "WhoAmI"),
                       "RetrieveVersion": (f"{EDM}FunctionImport", "RetrieveVersion"),
                       "RetrieveTotalRecordCount": (f"{EDM}FunctionImport", "RetrieveTotalRecordCount"),
                       "BulkDelete": (f"{EDM}ActionImport", "BulkDelete")}

    operations = [o for o in schema if o.tag in (f"{EDM}Function", f"{EDM}Action")]
    for operation in operations:  # every type named resolves: what a generator needs to emit a method
        for element in [*operation.findall(f"{EDM}Parameter"), *operation.findall(f"{EDM}ReturnType")]:
            type_name = element.get("Type").removeprefix("Collection(").removesuffix(")")
            assert type_name.startswith("Edm.") or _local(type_name) in declared, (operation.get("Name"), type_name)

    [bulk_delete] = [o for o in operations if o.get("Name") == "BulkDelete"]
    assert bulk_delete.tag == f"{EDM}Action" and bulk_delete.get("IsBound") is None
    parameters = {p.get("Name"): (p.get("Type"), p.get("Nullable")) for p in bulk_delete.findall(f"{EDM}Parameter")}
    assert parameters == {
        "QuerySet": ("Collection(mscrm.QueryExpression)", "false"), "JobName": ("Edm.String", "false"),
        "SendEmailNotification": ("Edm.Boolean", "false"),
        "ToRecipients": ("Collection(mscrm.activityparty)", "false"),
        "CCRecipients": ("Collection(mscrm.activityparty)", "false"), "RecurrencePattern": ("Edm.String", "false"),
        "StartDateTime": ("Edm.DateTimeOffset", "false"), "SourceImportId": ("Edm.Guid", None),
        "RunNow": ("Edm.Boolean", None), "Options": ("mscrm.BulkDeleteOptions", None)}
    assert _local(bulk_delete.find(f"{EDM}ReturnType").get("Type")) == "BulkDeleteResponse"
    types = {t.get("Name"): t for t in schema}
    query = {p.get("Name"): p.get("Type") for p in types["QueryExpression"].findall(f"{EDM}Property")}
    assert query["Criteria"] == "mscrm.FilterExpression" and query["ColumnSet"] == "mscrm.ColumnSet"
    operators = {m.get("Name"): int(m.get("Value")) for m in types["ConditionOperator"]}
    assert (operators["Equal"], operators["OlderThanXDays"], operators["EqualRoleBusinessId"]) == (0, 84, 89)

    [access] = [o for o in operations if o.get("Name") == "RetrievePrincipalAccess"
                and _local(o.find(f"{EDM}Parameter").get("Type")) == "systemuser"]
    assert access.get("IsBound") == "true"
    assert types["AccessRights"].get("IsFlags") == "true"


@pytest.mark.slow
def test_odata2ts_generates_a_bulk_delete_method(tmp_path):
    """odata2ts (a metadata-driven generator) makes a BulkDelete method from `$metadata`
    (use-web-api-actions.md: unbound actions are called by name with their parameters in the body)."""
    modules = os.environ.get("NODE_PATH") or (
        str(Path(os.environ["NEWMAN"]).absolute().parent.parent) if os.environ.get("NEWMAN") else None)
    cli = Path(modules or "") / ".bin" / "odata2ts"
    if shutil.which("node") is None or modules is None or not cli.exists():
        pytest.skip("node and @odata2ts/odata2ts are needed (NEWMAN or NODE_PATH names their node_modules)")
    from odata_emulator.model import MODEL
    from odata_emulator.model.csdl import render_csdl

    (tmp_path / "metadata.xml").write_bytes(render_csdl(MODEL))
    (tmp_path / "tsconfig.json").write_text('{"compilerOptions": {"target": "ES2020", "module": "commonjs"}}')
    done = subprocess.run([str(cli), "-s", "metadata.xml", "-o", "out", "-m", "service", "-e", "ts"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "Successfully finished" in done.stdout, done.stdout + done.stderr
    service = (tmp_path / "out" / "MicrosoftDynamicsCrmService.ts").read_text()
    model = (tmp_path / "out" / "MicrosoftDynamicsCrmModel.ts").read_text()
    assert "public async BulkDelete(params: BulkDeleteParams" in service
    assert "public async RetrieveTotalRecordCount(params: RetrieveTotalRecordCountParams" in service
    assert "QuerySet: Array<QueryExpression>;" in model and "JobName: string;" in model
