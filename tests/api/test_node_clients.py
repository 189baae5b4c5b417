"""Node clients, unmodified, against a real server: dynamics-web-api (metadata reads,
`updateSingleProperty`). The packages come from the node_modules that holds newman (`NEWMAN`, as CI
installs it) or from `NODE_PATH`; without them the tests are skipped, never faked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow  # a real server and node


def node_modules() -> str | None:
    if os.environ.get("NODE_PATH"):
        return os.environ["NODE_PATH"]
    newman = os.environ.get("NEWMAN")
    return str(Path(newman).absolute().parent.parent) if newman else None


def run_node(package: str, script: str, *args: str) -> dict:
    modules = node_modules()
    if shutil.which("node") is None or modules is None or not (Path(modules) / package).is_dir():
        pytest.skip(f"node and the npm package {package} are needed (NEWMAN or NODE_PATH names its node_modules)")
    done = subprocess.run(["node", "-e", script, "--", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NODE_PATH": modules})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


CLIENT = """
const { DynamicsWebApi } = require("dynamics-web-api");
const api = new DynamicsWebApi({ serverUrl: process.argv[1], onTokenRefresh: async () => "dummy",
                                 dataApi: { version: "9.2" } });
"""


@pytest.fixture
def server(dataverse_server):
    dataverse_server.reset()
    return dataverse_server


def test_dynamics_web_api_reads_attributes_and_global_option_sets(server):
    """query-metadata-web-api.md ("Querying EntityMetadata attributes") and use-web-api-metadata.md
    (GlobalOptionSetDefinitions), through dynamics-web-api's retrieveAttributes / retrieveGlobalOptionSets."""
    out = run_node("dynamics-web-api", CLIENT + """
(async () => {
  const picklists = await api.retrieveAttributes({ entityKey: "LogicalName='asyncoperation'",
    castType: "Microsoft.Dynamics.CRM.PicklistAttributeMetadata", select: ["LogicalName"],
    expand: [{ property: "OptionSet", select: ["Options"] }] });
  const all = await api.retrieveAttributes({ entityKey: "LogicalName='asyncoperation'", select: ["LogicalName"] });
  const sets = await api.retrieveGlobalOptionSets({ select: ["Name"] });
  console.log(JSON.stringify({ picklists: picklists.value.map(a => [a.LogicalName, a.OptionSet.Options.length]),
                               all: all.value.map(a => a.LogicalName), sets: sets.value.map(s => s.Name) }));
})().catch(e => { console.error(e); process.exit(1); });
""", server.url)
    expected = httpx.get(f"{server.api_url}EntityDefinitions(LogicalName='asyncoperation')/Attributes"
                         "?$select=LogicalName").json()["value"]
    assert out["all"] == [a["LogicalName"] for a in expected]
    assert out["picklists"][0][0] == "operationtype" and out["picklists"][0][1] > 50
    assert out["sets"] == [s["Name"] for s in httpx.get(f"{server.api_url}GlobalOptionSetDefinitions").json()["value"]]


def test_dynamics_web_api_update_single_property_postpones_a_job(server):
    """update-delete-entities-using-web-api.md, "Update a single property value", through
    dynamics-web-api's updateSingleProperty (PUT asyncoperations(<id>)/postponeuntil)."""
    [job] = server.seed_jobs({"name": "Later", "simulation": {"duration": 5}})
    out = run_node("dynamics-web-api", CLIENT + """
(async () => {
  await api.updateSingleProperty({ collection: "asyncoperations", key: process.argv[2],
                                   fieldValuePair: { postponeuntil: "2030-01-01T00:00:00Z" } });
  console.log(JSON.stringify({ ok: true }));
})().catch(e => { console.error(e); process.exit(1); });
""", server.url, job)
    assert out == {"ok": True}
    row = httpx.get(f"{server.api_url}asyncoperations({job})?$select=postponeuntil").json()
    assert row["postponeuntil"] == "2030-01-01T00:00:00Z"


def test_dynamics_web_api_creates_a_contact_and_its_async_step_files_a_job(server):
    """create-entity-web-api.md ("Basic create": 204 with OData-EntityId), through dynamics-web-api's
    create; the data set's asynchronous step on contact Create files its system job (issue 14)."""
    out = run_node("dynamics-web-api", CLIENT + """
(async () => {
  const id = await api.create({ collection: "contacts", data: { firstname: "Ada", lastname: "Lovelace" } });
  console.log(JSON.stringify({ id }));
})().catch(e => { console.error(e); process.exit(1); });
""", server.url)
    contact = httpx.get(f"{server.api_url}contacts({out['id']})?$select=fullname").json()
    assert contact["fullname"] == "Ada Lovelace"
    jobs = httpx.get(f"{server.api_url}asyncoperations", params={
        "$select": "name,messagename,operationtype", "$filter": f"_regardingobjectid_value eq {out['id']}"}).json()
    assert jobs["value"] and all(j["operationtype"] == 1 and j["messagename"] == "Create" for j in jobs["value"])
