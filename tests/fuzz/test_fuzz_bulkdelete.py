"""Fuzz of the BulkDelete action (`POST /api/data/v9.2/BulkDelete`, issue 11): QueryExpression JSON
built from the real columns, ConditionOperator names and value types (conditions that fit their
columns, nested filters, orders, links, paging), the other parameters (job name, recurrence
pattern, start, recipients, options) valid or not, and numbers of any width written into the JSON.
An accepted bulk delete is sometimes run at once (the virtual clock moves two seconds), so the
stored query is executed too.

Every answer: no 5xx, within a few seconds, a 4xx in Dataverse's shape, a refused request leaves the
store as it was (tests/fuzz/harness.py). Budget: the `ci` profile of tests/fuzz/conftest.py;
`HYPOTHESIS_PROFILE=long pytest tests/fuzz` runs thousands of examples.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from odata_emulator.query.fetchxml.parse import OPERATORS
from odata_emulator.query.fetchxml.queryexpression import UNSUPPORTED_OPERATORS
from tests.fuzz import strategies as fs
from tests.fuzz.harness import CONTROL, examples

EMULATOR = {}

VALUE_TYPES = {"number": ["System.Int32", "System.Int64", "System.Double", "System.Decimal", "System.Int16"],
               "string": ["System.String"], "datetime": ["System.DateTime", "System.DateTimeOffset"],
               "guid": ["System.Guid"], "boolean": ["System.Boolean"]}
ALL_TYPES = sorted({t for ts in VALUE_TYPES.values() for t in ts}) + ["System.Object", "Int32", ""]
SDK_OPERATORS = sorted(set(OPERATORS.values()))
DELETABLE = ["asyncoperation", "asyncoperation", "asyncoperation", "account", "contact"]
LINKS = [("owninguser", "systemuser", "systemuserid", "fullname"), ("createdby", "systemuser", "systemuserid",
                                                                    "fullname"),
         ("owningbusinessunit", "businessunit", "businessunitid", "name"),
         ("regardingobjectid", "account", "accountid", "name")]

json_noise = st.one_of(st.none(), st.booleans(), fs.ints, st.floats(allow_nan=False, allow_infinity=False),
                       st.text(max_size=10), st.lists(st.integers(), max_size=2), st.just({}))


@st.composite
def conditions(draw, entity: str = "asyncoperation", noisy: bool = False) -> dict:
    if entity not in ("asyncoperation", "systemuser", "businessunit", "account", "contact"):
        entity = "asyncoperation"
    name, operator, values = draw(fs.typed_condition(entity, noisy=noisy))
    kind = fs.kind_of(fs.MODEL.entity(entity).columns[name].type)
    sdk_operator = OPERATORS[operator]
    if noisy and draw(fs.one_in(5)):
        sdk_operator = draw(st.one_of(st.sampled_from(SDK_OPERATORS + sorted(UNSUPPORTED_OPERATORS)), json_noise))
    shaped = []
    for value in values:
        form = draw(st.integers(0, 4))
        if form <= 2:
            declared = draw(st.sampled_from(VALUE_TYPES[kind] if not noisy else ALL_TYPES))
            shaped.append({"Value": value, "Type": declared})
        elif form == 3:
            shaped.append(value)
        else:
            # A bare JSON number, bool or null, as some clients send them, of any width.
            shaped.append(draw(st.one_of(fs.ints, st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                                         st.none(), st.just({"Value": 2 ** 80, "Type": "System.Int64"}))))
    condition = {"AttributeName": name, "Operator": sdk_operator, "Values": shaped}
    if noisy and draw(fs.one_in(6)):
        condition[draw(st.sampled_from(["EntityName", "CompareColumns", "Nope", "AttributeName"]))] = draw(json_noise)
    return condition


@st.composite
def filters(draw, entity: str, noisy: bool, depth: int = 0) -> dict:
    expression = {"FilterOperator": draw(st.sampled_from(["And", "Or", 0, 1] + (["Xor", 3, None] if noisy else [])))}
    expression["Conditions"] = draw(st.lists(conditions(entity, noisy), max_size=3))
    if depth < 3 and draw(fs.one_in(4)):
        expression["Filters"] = draw(st.lists(filters(entity, noisy, depth + 1), max_size=2))
    if noisy and draw(fs.one_in(6)):
        expression[draw(st.sampled_from(["IsQuickFindFilter", "FilterHint", "Conditions", "Filters", "X"]))] = \
            draw(json_noise)
    return expression


@st.composite
def query_expressions(draw, noisy: bool) -> dict:
    entity = draw(st.sampled_from(DELETABLE))
    if noisy and draw(fs.one_in(5)):
        entity = draw(st.one_of(st.sampled_from(fs.LOGICAL_NAMES), fs.junk))
    query: dict = {"EntityName": entity}
    if draw(st.booleans()):
        query["ColumnSet"] = {"AllColumns": draw(st.booleans()),
                              "Columns": draw(st.lists(st.sampled_from(fs.READABLE), max_size=3))}
    if not draw(fs.one_in(5)):
        query["Criteria"] = draw(filters(entity, noisy))
    if draw(fs.one_in(3)):
        query["Orders"] = [{"AttributeName": draw(st.sampled_from(["name", "createdon", "statecode"])),
                            "OrderType": draw(st.sampled_from(["Ascending", "Descending", 0, 1]))}
                           for _ in range(draw(st.integers(1, 2)))]
    if entity == "asyncoperation" and draw(fs.one_in(4)):
        from_, target, to, column = draw(st.sampled_from(LINKS))
        link = {"LinkFromAttributeName": from_, "LinkToEntityName": target, "LinkToAttributeName": to,
                "JoinOperator": draw(st.sampled_from(["Inner", "LeftOuter", 0, 1])), "EntityAlias": "l"}
        if draw(st.booleans()):
            link["LinkCriteria"] = {"Conditions": [{"AttributeName": column, "Operator": "NotNull"}]}
        query["LinkEntities"] = [link]
    if draw(fs.one_in(5)):
        query["TopCount"] = draw(st.one_of(st.integers(1, 50), fs.ints))
    if draw(fs.one_in(6)):
        query["PageInfo"] = {"Count": draw(st.integers(0, 10)), "PageNumber": draw(st.integers(0, 3))}
    if draw(fs.one_in(5)):
        query["Distinct"] = draw(st.booleans())
    if noisy and draw(fs.one_in(4)):
        key = draw(st.sampled_from(["ColumnSet", "Criteria", "Orders", "LinkEntities", "TopCount", "PageInfo",
                                    "Distinct", "NoLock", "SubQueryExpression", "DataSource", "QueryHints", "X"]))
        query[key] = draw(json_noise)
    return query


@st.composite
def bodies(draw) -> bytes:
    """Half of them as a careful client writes them (the queries may still not bind), half with noise."""
    noisy = draw(st.booleans())
    body = {
        "QuerySet": draw(st.lists(query_expressions(noisy and draw(st.booleans())), min_size=1, max_size=3)),
        "JobName": "Fuzzed bulk delete" if not noisy else draw(st.one_of(
            st.text(max_size=20), st.text(min_size=100, max_size=120))),
        "SendEmailNotification": False,
        "ToRecipients": [],
        "CCRecipients": [],
        "RecurrencePattern": draw(st.sampled_from(["", "FREQ=DAILY;INTERVAL=1;", "FREQ=HOURLY;INTERVAL=6;",
                                                   "FREQ=WEEKLY;BYDAY=MO,FR;"]) if not noisy else
                                  fs.recurrence_rules()),
        "StartDateTime": draw(st.sampled_from(["2026-11-01T12:00:00Z", "2026-11-01T11:00:00Z", "2027-01-01"])
                              if not noisy else fs.datetime_text),
    }
    if draw(st.booleans()):
        body["RunNow"] = draw(st.booleans() if not noisy else json_noise)
    if draw(fs.one_in(6)):
        body["SourceImportId"] = draw(st.just(fs.ZERO_GUID) if not noisy else st.one_of(fs.fuzzy_guid, json_noise))
    if draw(fs.one_in(6)):
        body["Options"] = draw(st.just({"CanRecoverDeletedRecords": False}) if not noisy else json_noise)
    if noisy and draw(fs.one_in(3)):
        # A parameter left out, of the wrong type, or unknown.
        key = draw(st.sampled_from(sorted(body) + ["Nope", "QuerySet@odata.type"]))
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(json_noise)
    text = json.dumps(body).encode()
    if noisy and draw(fs.one_in(4)):
        # Numbers JSON writers do not produce, written over a condition's value.
        number = draw(st.one_of(fs.int_text, fs.decimal_text)).encode()
        text = text.replace(b'"Value": "', b'"Value": ' + number + b', "X": "', 1)
    if noisy and draw(fs.one_in(6)):
        text = draw(fs.mutated(text.decode())).encode("utf-8", "surrogatepass")
    return text


@settings(max_examples=examples(1.0))
@given(body=bodies(), run=st.integers(0, 2))
def test_bulk_delete(harness, body, run):
    async def go():
        if len(await harness.job_ids()) < 300:  # deleted by the bulk deletes that ran
            await harness.reset()
        answer = await harness.ask_refusal_unchanged("POST", "BulkDelete", content=body,
                                                     headers={"Content-Type": "application/json"})
        if answer.status == 200:
            job = answer.response.json()["JobId"]
            if run == 0:
                # Run it: the stored query is executed by the scheduler (whatever it does, no 5xx).
                await harness.ask("POST", f"{CONTROL}/clock", json={"advance": "PT2S"})
                history = await harness.ask("GET", f"{CONTROL}/jobs/{job}/history")
                assert history.status in (200, 404), history.request  # 404: it deleted itself
            harness.forget_ids()

    harness.run(go())
