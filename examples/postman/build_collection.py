"""Writes `odata-emulator.postman_collection.json` (Postman collection v2.1) from the documented
queries, so that every one of them is in the collection as printed in the docs.

    python examples/postman/build_collection.py        # rewrites the collection beside this file

tests/test_postman.py checks the committed collection is what this script writes, and runs it with
newman against a started emulator.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
DOCUMENTED = HERE.parent.parent / "fixtures" / "documented-queries"
OUTPUT = HERE / "odata-emulator.postman_collection.json"

JSON_HEADERS = [
    {"key": "Accept", "value": "application/json"},
    {"key": "OData-MaxVersion", "value": "4.0"},
    {"key": "OData-Version", "value": "4.0"},
]
FORMATTED = {"key": "Prefer", "value": 'odata.include-annotations="*"'}


def script(*lines: str) -> list[str]:
    return [line for block in lines for line in block.strip("\n").split("\n")]


def request(name: str, method: str, url: str, *, tests: str, headers: list | None = None, body=None,
            prerequest: str | None = None, description: str = "") -> dict:
    item: dict = {"name": name, "request": {"method": method, "header": list(headers or JSON_HEADERS), "url": url}}
    if description:
        item["request"]["description"] = description
    if body is not None:
        item["request"]["header"] = item["request"]["header"] + [{"key": "Content-Type", "value": "application/json"}]
        item["request"]["body"] = {"mode": "raw", "raw": json.dumps(body, indent=2)}
    events = [{"listen": "test", "script": {"type": "text/javascript", "exec": script(tests)}}]
    if prerequest:
        events.insert(0, {"listen": "prerequest", "script": {"type": "text/javascript", "exec": script(prerequest)}})
    item["event"] = events
    return item


def webapi_url(path: Path) -> str:
    """The documented URL as printed (lines joined), on {{baseUrl}}."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    url = "".join(line for line in lines if not re.match(r"^[A-Za-z-]+:\s", line) or line.startswith("GET "))
    url = re.sub(r"^GET\s+", "", url)
    return re.sub(r"^(\[Organization URI\]|<organization URL>)", "{{baseUrl}}", url)


def totals_script(variable: str, compare: bool, webapi: str = "") -> str:
    # Rows and the sum of the `count` aliases: what the Web API query and its FetchXML twin must agree on.
    # On the real clock the scheduler may move a job between the two requests: totals that differ are
    # compared again with the Web API form asked once more, after the FetchXML one (the store at a
    # moment on either side of it).
    check = f"""
const before = pm.collectionVariables.get('{variable}');
if (JSON.stringify(totals) === before) {{
    pm.test('same numbers as the Web API form', () => pm.expect(JSON.stringify(totals)).to.eql(before));
}} else {{
    const again = {json.dumps(webapi)}.replace('{{{{baseUrl}}}}', pm.variables.get('baseUrl'));
    pm.sendRequest(again, (error, response) => {{
        const after = JSON.stringify(totalsOf(error ? [] : response.json().value));
        pm.test('same numbers as the Web API form (before or after it)', () =>
            pm.expect([before, after]).to.include(JSON.stringify(totals)));
    }});
}}""" if compare else f"""
pm.collectionVariables.set('{variable}', JSON.stringify(totals));"""
    return """
pm.test('200 OK', () => pm.response.to.have.status(200));
const body = pm.response.json();
pm.test('a value array', () => pm.expect(body.value).to.be.an('array'));
const totalsOf = (value) => ({rows: value.length,
    counted: value.reduce((sum, row) => sum + (typeof row.count === 'number' ? row.count : 0), 0)});
const totals = totalsOf(body.value);""" + check


def documented_queries() -> list[dict]:
    items = []
    for web in sorted(DOCUMENTED.glob("*.webapi.http")):
        stem = web.name[: -len(".webapi.http")]
        variable = f"totals_{stem[:2]}"
        items.append(request(f"{stem} (Web API)", "GET", webapi_url(web), tests=totals_script(variable, False),
                             description=f"fixtures/documented-queries/{web.name}, as printed."))
        fetch = DOCUMENTED / f"{stem}.fetchxml.xml"
        if fetch.exists():
            url = "{{webapiurl}}asyncoperations?fetchXml=" + quote(fetch.read_text(encoding="utf-8"), safe="")
            items.append(request(f"{stem} (FetchXML)", "GET", url, tests=totals_script(variable, True, webapi_url(web)),
                                 description=f"fixtures/documented-queries/{fetch.name}, verbatim."))
    return items


def wait_for(name: str, variable: str, state: int, status: int) -> dict:
    """Poll a job until it reaches (state, status); on the virtual clock each poll moves time on."""
    return request(
        name, "GET", "{{webapiurl}}asyncoperations({{" + variable + "}})?$select=name,statecode,statuscode",
        prerequest="""
// On a virtual clock (--clock virtual) time only moves when told: move it. The real clock answers 400.
pm.sendRequest({url: pm.variables.get('baseUrl') + '/_emulator/v1/clock', method: 'POST',
                header: {'Content-Type': 'application/json'}, body: {mode: 'raw', raw: '{"advance": "PT5S"}'}},
               () => {});""",
        tests=f"""
const job = pm.response.json();
const tries = Number(pm.collectionVariables.get('tries') || 0);
if ((job.statecode !== {state} || job.statuscode !== {status}) && tries < 120) {{
    pm.collectionVariables.set('tries', tries + 1);
    pm.execution.setNextRequest(pm.info.requestName);
    setTimeout(() => {{}}, 500);
}} else {{
    pm.collectionVariables.set('tries', 0);
    pm.test('reached {state}/{status}', () => pm.expect([job.statecode, job.statuscode]).to.eql([{state}, {status}]));
}}""")


def patch(name: str, variable: str, body: dict, expected: str) -> dict:
    return request(name, "PATCH", "{{webapiurl}}asyncoperations({{" + variable + "}})",
                   headers=JSON_HEADERS + [{"key": "If-Match", "value": "*"}], body=body,
                   tests=f"pm.test('204: {expected}', () => pm.response.to.have.status(204));")


def life_cycle() -> list[dict]:
    control = "{{baseUrl}}/_emulator/v1/"
    return [
        request("Seed two jobs (control API)", "POST", control + "jobs",
                body=[{"name": "Postman demo: runs until stopped", "dependencytoken": "postman-demo",
                       "simulation": {"outcome": "hang"}},
                      {"name": "Postman demo: waits its turn", "dependencytoken": "postman-demo"}],
                tests="""
pm.test('201 Created', () => pm.response.to.have.status(201));
const ids = pm.response.json().value.map(row => row.asyncoperationid);
pm.collectionVariables.set('demoJob', ids[0]);
pm.collectionVariables.set('queuedJob', ids[1]);""",
                description="Creating system jobs through the Web API is not supported (as in Dataverse); the "
                            "emulator's control API creates them as the platform would."),
        wait_for("Wait until it runs (Locked 2/20)", "demoJob", 2, 20),
        patch("Postpone the queued job", "queuedJob", {"postponeuntil": "2099-01-01T00:00:00Z"}, "postponed"),
        wait_for("The queued job waits (Suspended 1/10)", "queuedJob", 1, 10),
        patch("Pause the running job", "demoJob", {"statecode": 1, "statuscode": 10}, "pausing"),
        wait_for("Paused (Suspended 1/10)", "demoJob", 1, 10),
        patch("Resume it", "demoJob", {"statecode": 0, "statuscode": 0}, "resumed"),
        wait_for("Running again (2/20)", "demoJob", 2, 20),
        patch("Cancel it", "demoJob", {"statecode": 3, "statuscode": 32}, "canceling"),
        wait_for("Canceled (3/32)", "demoJob", 3, 32),
        patch("Cancel the postponed job", "queuedJob", {"statecode": 3, "statuscode": 32}, "canceled"),
        request("Refused: resume a canceled job", "PATCH", "{{webapiurl}}asyncoperations({{demoJob}})",
                headers=JSON_HEADERS + [{"key": "If-Match", "value": "*"}], body={"statecode": 0, "statuscode": 0},
                tests="""
pm.test('400 with a Dataverse error', () => {
    pm.response.to.have.status(400);
    pm.expect(pm.response.json().error.code).to.match(/^0x8/);
});"""),
        request("Delete the canceled job", "DELETE", "{{webapiurl}}asyncoperations({{demoJob}})",
                tests="pm.test('204 No Content', () => pm.response.to.have.status(204));"),
        request("It is gone", "GET", "{{webapiurl}}asyncoperations({{demoJob}})",
                tests="""
pm.test('404 Not Found', () => pm.response.to.have.status(404));
pm.test('0x80040217', () => pm.expect(pm.response.json().error.code).to.eql('0x80040217'));"""),
        request("BulkDelete canceled demo jobs", "POST", "{{webapiurl}}BulkDelete", body={
            "QuerySet": [{
                "EntityName": "asyncoperation",
                "ColumnSet": {"AllColumns": False, "Columns": ["asyncoperationid"]},
                "Distinct": False,
                "Criteria": {"FilterOperator": "And", "Conditions": [
                    {"AttributeName": "statecode", "Operator": "Equal", "Values": [{"Value": "3", "Type": "System.Int32"}]},
                    {"AttributeName": "statuscode", "Operator": "Equal", "Values": [{"Value": "32", "Type": "System.Int32"}]},
                    {"AttributeName": "name", "Operator": "BeginsWith",
                     "Values": [{"Value": "Postman demo", "Type": "System.String"}]},
                ]},
            }],
            "JobName": "Postman demo: delete canceled demo jobs",
            "SendEmailNotification": False, "ToRecipients": [], "CCRecipients": [],
            "RecurrencePattern": "", "StartDateTime": "2020-01-01T00:00:00Z",
        }, tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
const body = pm.response.json();
pm.test('BulkDeleteResponse with a JobId', () => {
    pm.expect(body['@odata.context']).to.include('Microsoft.Dynamics.CRM.BulkDeleteResponse');
    pm.expect(body.JobId).to.match(/^[0-9a-f-]{36}$/);
});
pm.collectionVariables.set('bulkJob', body.JobId);"""),
        wait_for("The bulk delete job succeeds (3/30)", "bulkJob", 3, 30),
        request("Its bulkdeleteoperation counts what it deleted", "GET",
                "{{webapiurl}}bulkdeleteoperations?$select=name,successcount,failurecount"
                "&$filter=_asyncoperationid_value eq {{bulkJob}}",
                tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
const row = pm.response.json().value[0];
pm.test('one deleted (the postponed job, canceled)', () => pm.expect(row.successcount).to.eql(1));
pm.test('none failed', () => pm.expect(row.failurecount).to.eql(0));"""),
        request("The queued job was bulk deleted", "GET", "{{webapiurl}}asyncoperations({{queuedJob}})",
                tests="pm.test('404 Not Found', () => pm.response.to.have.status(404));"),
    ]


def events() -> list[dict]:
    """Register a webhook and an asynchronous step through the Web API, create a contact, watch the
    system job it files run, and read what the emulator's own receiver (the webhook inbox) got."""
    control = "{{baseUrl}}/_emulator/v1/"
    created = """
pm.test('204 No Content', () => pm.response.to.have.status(204));
const location = pm.response.headers.get('OData-EntityId') || '';
pm.test('OData-EntityId names the new row', () => pm.expect(location).to.match(/\\([0-9a-f-]{36}\\)$/));
pm.collectionVariables.set('%s', location.slice(location.lastIndexOf('(') + 1, -1));"""
    return [
        request("Empty the webhook inbox (control API)", "DELETE", control + "webhook-inbox",
                tests="pm.test('204 No Content', () => pm.response.to.have.status(204));",
                description="The emulator's built-in webhook receiver: POST stores a request, GET lists them."),
        request("Register a webhook (serviceendpoints)", "POST", "{{webapiurl}}serviceendpoints",
                body={"name": "Postman demo hook", "contract": 8, "url": "{{baseUrl}}/_emulator/v1/webhook-inbox",
                      "authtype": 4, "authvalue": "postman-key", "messageformat": 2},
                tests=created % "hookId",
                description="contract 8 = Webhook; authtype 4 = Webhook Key, sent as ?code=<authvalue>."),
        request("The Create message's contact filter", "GET",
                "{{webapiurl}}sdkmessagefilters?$select=sdkmessagefilterid&$filter=primaryobjecttypecode eq "
                "'contact' and _sdkmessageid_value eq 9ebdbb1b-ea3e-db11-86a7-000a3a5473e8",
                tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
const rows = pm.response.json().value;
pm.test('one filter', () => pm.expect(rows.length).to.eql(1));
pm.collectionVariables.set('contactCreateFilter', rows[0].sdkmessagefilterid);"""),
        request("Register an asynchronous step (sdkmessageprocessingsteps)", "POST",
                "{{webapiurl}}sdkmessageprocessingsteps", body={
                    "name": "Postman demo hook: Create of contact",
                    "description": "Postman demo hook: Create of contact",
                    "eventhandler_serviceendpoint@odata.bind": "/serviceendpoints({{hookId}})",
                    "sdkmessageid@odata.bind": "/sdkmessages(9ebdbb1b-ea3e-db11-86a7-000a3a5473e8)",
                    "sdkmessagefilterid@odata.bind": "/sdkmessagefilters({{contactCreateFilter}})",
                    "mode": 1, "rank": 1, "stage": 40, "asyncautodelete": False, "filteringattributes": None,
                    "configuration": None, "canusereadonlyconnection": False,
                    "statecode": 0, "statuscode": 1, "supporteddeployment": 0},
                tests=created % "hookStepId",
                description="The body registration tools send (mode 1 = asynchronous, stage 40 = post-operation)."),
        request("Create a contact", "POST", "{{webapiurl}}contacts", body={"firstname": "Postman", "lastname": "Demo"},
                tests=created % "demoContactId"),
        request("The system job the step filed", "GET",
                "{{webapiurl}}asyncoperations?$select=name,operationtype,messagename,primaryentitytype,statecode"
                "&$filter=_owningextensionid_value eq {{hookStepId}}",
                tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
const jobs = pm.response.json().value;
pm.test('one System Event job named after the step', () => {
    pm.expect(jobs.length).to.eql(1);
    pm.expect(jobs[0].operationtype).to.eql(1);
    pm.expect(jobs[0].name).to.eql('Postman demo hook: Create of contact');
    pm.expect([jobs[0].messagename, jobs[0].primaryentitytype]).to.eql(['Create', 'contact']);
});
pm.collectionVariables.set('hookJob', jobs[0].asyncoperationid);"""),
        wait_for("The job delivers and succeeds (3/30)", "hookJob", 3, 30),
        request("What the webhook received (control API)", "GET", control + "webhook-inbox", tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
const got = pm.response.json().value.filter(r => r.body && r.body.OperationId === pm.collectionVariables.get('hookJob'));
pm.test('the context, once, with the job as OperationId', () => pm.expect(got.length).to.eql(1));
const hook = got[0];
pm.test("Dataverse's headers", () => {
    pm.expect(hook.headers['x-ms-dynamics-entity-name']).to.eql('contact');
    pm.expect(hook.headers['x-ms-dynamics-request-name']).to.eql('Create');
    pm.expect(hook.headers['x-ms-correlation-request-id']).to.match(/^[0-9a-f-]{36}$/);
});
pm.test('the Webhook Key as ?code=', () => pm.expect(hook.query.code).to.eql('postman-key'));
pm.test('the step as OwningExtension', () => pm.expect(hook.body.OwningExtension.Id).to.eql(pm.collectionVariables.get('hookStepId')));
pm.test('the contact as the target', () => pm.expect(hook.body.PrimaryEntityId).to.eql(pm.collectionVariables.get('demoContactId')));"""),
        request("Unregister the step", "DELETE", "{{webapiurl}}sdkmessageprocessingsteps({{hookStepId}})",
                tests="pm.test('204 No Content', () => pm.response.to.have.status(204));"),
    ]


def build() -> dict:
    service = [
        request("Service document", "GET", "{{webapiurl}}", tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
pm.test('lists asyncoperations', () => pm.expect(pm.response.json().value.map(s => s.name)).to.include('asyncoperations'));"""),
        request("$metadata (CSDL)", "GET", "{{webapiurl}}$metadata", headers=[{"key": "Accept", "value": "*/*"}], tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
pm.test('XML', () => pm.expect(pm.response.headers.get('Content-Type')).to.include('application/xml'));
pm.test('declares asyncoperation', () => pm.expect(pm.response.text()).to.include('EntityType Name="asyncoperation"'));"""),
        request("WhoAmI", "GET", "{{webapiurl}}WhoAmI", tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
pm.test('a UserId', () => pm.expect(pm.response.json().UserId).to.match(/^[0-9a-f-]{36}$/));"""),
    ]
    paging = [
        request("First page (maxpagesize 100)", "GET",
                "{{webapiurl}}asyncoperations?$select=name,statecode,statuscode&$orderby=createdon desc",
                headers=JSON_HEADERS + [{"key": "Prefer", "value": "odata.maxpagesize=100"}], tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
const body = pm.response.json();
pm.test('100 rows', () => pm.expect(body.value.length).to.eql(100));
pm.test('an absolute @odata.nextLink', () => pm.expect(body['@odata.nextLink']).to.match(/^https?:\\/\\//));
pm.collectionVariables.set('nextLink', body['@odata.nextLink']);
pm.collectionVariables.set('jobid', body.value[0].asyncoperationid);
pm.collectionVariables.set('firstPage', JSON.stringify(body.value.map(r => r.asyncoperationid)));"""),
        request("Next page (@odata.nextLink as given)", "GET", "{{nextLink}}",
                headers=JSON_HEADERS + [{"key": "Prefer", "value": "odata.maxpagesize=100"}], tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
const ids = pm.response.json().value.map(r => r.asyncoperationid);
const first = JSON.parse(pm.collectionVariables.get('firstPage'));
pm.test('new rows', () => pm.expect(ids.filter(id => first.includes(id))).to.eql([]));"""),
        request("Retrieve one job with formatted values", "GET",
                "{{webapiurl}}asyncoperations({{jobid}})?$select=name,operationtype,statecode,statuscode,createdon",
                headers=JSON_HEADERS + [FORMATTED], tests="""
pm.test('200 OK', () => pm.response.to.have.status(200));
const job = pm.response.json();
pm.test('the job asked for', () => pm.expect(job.asyncoperationid).to.eql(pm.collectionVariables.get('jobid')));
pm.test('formatted values', () => pm.expect(job['statecode@OData.Community.Display.V1.FormattedValue']).to.be.a('string'));
pm.test('an ETag', () => pm.expect(pm.response.headers.get('ETag')).to.match(/^W\\/"/));"""),
    ]
    return {
        "info": {
            "name": "odata-emulator: Dataverse system jobs",
            "description": "The documented system-job queries (Web API and FetchXML), paging, and the system job "
                           "life cycle against odata-emulator (`odata-emulator serve`). Set `baseUrl` to the "
                           "emulator's organization URL. Generated by examples/postman/build_collection.py.",
            "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
        },
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]},
        "variable": [
            {"key": "baseUrl", "value": "http://127.0.0.1:8080"},
            {"key": "webapiurl", "value": "{{baseUrl}}/api/data/v9.2/"},
            {"key": "token", "value": "any-token-will-do"},
        ],
        "item": [
            {"name": "Service documents", "item": service},
            {"name": "Documented queries", "item": documented_queries()},
            {"name": "Paging and single rows", "item": paging},
            {"name": "System job life cycle", "item": life_cycle()},
            {"name": "System jobs from your own events", "item": events()},
        ],
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
