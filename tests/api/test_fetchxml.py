"""FetchXML end to end: `GET /api/data/v9.2/asyncoperations?fetchXml=<URL-encoded FetchXML>`.

The documented queries sent verbatim; every element and operator; link-entities, orders, paging
with and without the paging cookie, distinct, aggregates and date groupings, `$count`; and hostile
or malformed documents, each a quick Dataverse-shaped 400 that leaves the store as it was.

Every expected value is computed independently of the emulator: SQL written by hand and run
with the stdlib sqlite3 module on the emulator's store file (logical column names, GUIDs as
lowercase text, date-times as epoch seconds), or plain Python over the rows read that way.
One emulator serves the whole module: nothing here writes to it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import statistics
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from urllib.parse import quote, unquote
from xml.sax.saxutils import quoteattr

import pytest
import pytest_asyncio

from tests.helpers import (
    API,
    ATTRIBUTE_NAME,
    DOCUMENTED,
    FORMATTED,
    JSON_TYPE,
    READABLE_DATA,
    UTC,
    copy_store,
    datepart,
    encode_like_a_browser,
    epoch,
    iso,
    make_settings,
    raw_request,
    running,
    sql_rows,
    webapi_request,
    with_file_data,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

COOKIE = "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
MORE = "@Microsoft.Dynamics.CRM.morerecords"
PAGING = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords"
CONTEXT = f"{API}$metadata#asyncoperations"

# How the store holds asyncoperation columns (odata_emulator/store/schema.py), written out here
# rather than read from the model, so that the oracle does not share the emulator's metadata.
DATETIMES = {"completedon", "correlationupdatedtime", "createdon", "expanderstarttime", "modifiedon",
             "postponeuntil", "recurrencestarttime", "startedon"}
BOOLEANS = {"iswaitingforevent", "retainjobhistory", "workflowisblocked"}
LOOKUPS = {"createdby", "createdonbehalfby", "modifiedby", "modifiedonbehalfby", "ownerid", "owningbusinessunit",
           "owningextensionid", "owningteam", "owninguser", "regardingobjectid", "workflowactivationid"}
# Stored but not Web API properties (type codes, the row version, the scheduler's lease) or not
# readable (workflowisblocked, workflowstate).
HIDDEN = {"datablobid_name", "owneridtype", "owningextensiontypecode", "regardingobjecttypecode", "versionnumber",
          "leaseexpires", "workflowisblocked", "workflowstate"}


def json_value(column: str, value):
    """A stored value as the Web API writes it."""
    if value is None:
        return None
    if column in DATETIMES:
        return iso(value)
    if column in BOOLEANS:
        return bool(value)
    return value


def property_name(column: str) -> str:
    return f"_{column}_value" if column in LOOKUPS else column


def fetch(inner: str, head: str = "") -> str:
    return f"<fetch{' ' + head if head else ''}><entity name='asyncoperation'>{inner}</entity></fetch>"


# ------------------------------------------------------------------------------------ fixtures


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def store(tmp_path_factory, template_store):
    path = copy_store(template_store, tmp_path_factory.mktemp("fetchxml") / "store.db")
    async with running(make_settings(database=str(path))) as em:
        yield em, path


@pytest.fixture(scope="module")
def em(store):
    return store[0]


@pytest.fixture(scope="module")
def db(store):
    return store[1]


def sql_ids(path, where: str = "1", order: str = "a.asyncoperationid", joins: str = "") -> list[str]:
    return [r[0] for r in sql_rows(path, f"SELECT a.asyncoperationid FROM asyncoperation a {joins} WHERE {where} "
                                    f"ORDER BY {order}")]


@pytest.fixture(scope="module")
def rows(db) -> list[dict]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        jobs = [dict(r) for r in conn.execute("SELECT * FROM asyncoperation ORDER BY asyncoperationid")]
    conn.close()
    return with_file_data(db, jobs)


@pytest.fixture(scope="module")
def columns(db) -> list[str]:
    """The Web API properties of asyncoperation, in the store's column order."""
    return [r[1] for r in sql_rows(db, "PRAGMA table_info(asyncoperation)") if r[1] not in HIDDEN]


def snapshot(path) -> tuple:
    return sql_rows(path, "SELECT count(*), total(versionnumber), max(modifiedon), max(statecode * 100 + statuscode) "
                     "FROM asyncoperation")[0] + sql_rows(path, "SELECT count(*) FROM emulator_job_history")[0]


async def get_fetch(em, xml: str, *, prefer: str | None = None, query: str = "", entity_set: str = "asyncoperations"):
    headers = {"Prefer": f'odata.include-annotations="{prefer}"'} if prefer else {}
    return await em.get(f"{entity_set}?fetchXml={quote(xml, safe='')}{query}", headers=headers)


def ok(response, prefer: str | None = None) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_TYPE
    assert response.headers["odata-version"] == "4.0"
    if prefer is not None:
        assert response.headers["preference-applied"] == f'odata.include-annotations="{prefer}"'
    else:
        assert "preference-applied" not in response.headers
    body = response.json()
    assert list(body)[0] == "@odata.context" and list(body)[-1] == "value"
    assert "@odata.nextLink" not in body  # FetchXML pages with its cookie, never with a nextLink
    return body


async def ids_of(em, xml: str, **kw) -> list[str]:
    return [r["asyncoperationid"] for r in ok(await get_fetch(em, xml, **kw))["value"]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def now(em) -> dt.datetime:
    response = await em.client.get("/_emulator/v1/clock")
    return dt.datetime.fromisoformat(response.json()["now"].replace("Z", "+00:00"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def caller(em) -> dict:
    return (await em.get("WhoAmI")).json()


# ------------------------------------------------------------------------------------ the documented queries

AGGREGATES = ["02-jobs-by-state-status-type", "03-waiting-jobs-by-count", "04-workflows-by-count",
              "05-jobs-waiting-for-resources"]


@pytest.mark.parametrize("name", AGGREGATES)
async def test_documented_aggregate_fetchxml_matches_its_web_api_twin_and_its_sql(em, db, name):
    text = (DOCUMENTED / f"{name}.fetchxml.xml").read_text(encoding="utf-8")
    body = ok(await get_fetch(em, text))
    assert body["@odata.context"] == CONTEXT
    got = [(r["statecode"], r["statuscode"], r["operationtype"], r["count"]) for r in body["value"]]
    for row in body["value"]:
        assert list(row) == ["statecode", "statuscode", "operationtype", "count"]
    counts = [g[3] for g in got]
    assert counts == sorted(counts, reverse=True), "<order alias='count' descending='true'/>"

    target, headers = webapi_request(DOCUMENTED / f"{name}.webapi.http")
    twin = ok(await em.client.get(encode_like_a_browser(target), headers=headers))
    twin_groups = sorted((r["statecode"], r["statuscode"], r["operationtype"], r["count"]) for r in twin["value"])
    expected = sorted(sql_rows(db, (DOCUMENTED / f"{name}.sql").read_text(encoding="utf-8")))
    assert sorted(got) == twin_groups == expected
    assert got


async def test_documented_system_jobs_fetchxml_matches_its_web_api_twin_and_the_store(em, db, rows):
    text = (DOCUMENTED / "01-retrieve-system-jobs.fetchxml.xml").read_text(encoding="utf-8")
    attributes = [a.get("name") for a in ET.fromstring(text).iter("attribute")]
    body = ok(await get_fetch(em, text))
    assert body["@odata.context"].startswith(CONTEXT)
    fetched = body["value"]

    # The rows: the first 1000 by primary key (all 426), in key order, with the listed attributes
    # as the store holds them and the null ones left out.
    expected_ids = [r[0] for r in sql_rows(db, "SELECT asyncoperationid FROM asyncoperation ORDER BY asyncoperationid "
                                          "LIMIT 1000")]
    assert [r["asyncoperationid"] for r in fetched] == expected_ids
    by_id = {r["asyncoperationid"]: r for r in rows}
    for row in fetched:
        stored = by_id[row["asyncoperationid"]]
        expected = {property_name(c): json_value(c, stored[c]) for c in attributes if stored[c] is not None}
        assert list(row) == ["@odata.etag"] + list(expected), "document order, nulls left out"
        assert row["@odata.etag"] == f'W/"{stored["versionnumber"]}"'
        assert {k: v for k, v in row.items() if k != "@odata.etag"} == expected
    for column in ("completedon", "errorcode", "owningteam", "postponeuntil"):
        assert any(property_name(column) not in r for r in fetched), f"some {column} is null"

    # The Web API twin: the same rows, and the same value wherever both print the property.
    target, headers = webapi_request(DOCUMENTED / "01-retrieve-system-jobs.webapi.http")
    twin = ok(await em.client.get(encode_like_a_browser(target), headers=headers))["value"]
    assert [r["asyncoperationid"] for r in twin] == expected_ids
    expanded = {"createdby": "systemuserid", "modifiedby": "systemuserid", "owningbusinessunit": "businessunitid",
                "owningextensionid": "sdkmessageprocessingstepid", "owningteam": "teamid", "owninguser": "systemuserid"}
    for row, other in zip(fetched, twin):
        for column in attributes:
            name = property_name(column)
            if column in expanded:
                related = other[column]
                assert row.get(name) == (related[expanded[column]] if related is not None else None)
            else:
                assert name in other, name
                assert row.get(name) == other[name]
                assert (name in row) == (other[name] is not None)


# ------------------------------------------------------------------------------------ attributes


async def test_attributes_come_in_document_order_and_null_ones_are_left_out(em, db, rows):
    body = ok(await get_fetch(em, fetch("<attribute name='errorcode'/><attribute name='name'/>"
                                        "<attribute name='owningteam'/><attribute name='completedon'/>"
                                        "<attribute name='iswaitingforevent'/><attribute name='executiontimespan'/>")))
    assert body["@odata.context"] == f"{CONTEXT}(errorcode,name,_owningteam_value,completedon,iswaitingforevent," \
                                      "executiontimespan)"
    assert len(body["value"]) == len(rows)
    for row, stored in zip(body["value"], rows):
        expected = [(property_name(c), json_value(c, stored[c])) for c in
                    ("errorcode", "name", "owningteam", "completedon", "iswaitingforevent", "executiontimespan")
                    if stored[c] is not None]
        assert list(row.items()) == [("@odata.etag", f'W/"{stored["versionnumber"]}"'), *expected,
                                     ("asyncoperationid", stored["asyncoperationid"])]


async def test_all_attributes_and_no_attributes_both_return_every_non_null_column(em, rows, columns):
    everything = ok(await get_fetch(em, fetch("<all-attributes/><order attribute='createdon'/>", "top='40'")))
    unlisted = ok(await get_fetch(em, fetch("<order attribute='createdon'/>", "top='40'")))
    assert everything == unlisted
    by_id = {r["asyncoperationid"]: r for r in rows}
    for row in everything["value"]:
        stored = by_id[row["asyncoperationid"]]
        assert list(row) == ["@odata.etag"] + [property_name(c) for c in columns if stored[c] is not None]
        assert all(row[property_name(c)] == json_value(c, stored[c]) for c in columns if stored[c] is not None)


async def test_aliases_rename_and_say_which_column_they_hold(em, rows):
    xml = fetch("<attribute name='name' alias='title'/><attribute name='retrycount' alias='tries'/>", "top='5'")
    plain = ok(await get_fetch(em, xml))["value"]
    assert [list(r) for r in plain] == [["@odata.etag", "title", "tries", "asyncoperationid"]] * 5
    assert [(r["title"], r["tries"]) for r in plain] == [(r["name"], r["retrycount"]) for r in rows[:5]]
    annotated = ok(await get_fetch(em, xml, prefer=ATTRIBUTE_NAME), ATTRIBUTE_NAME)["value"]
    assert list(annotated[0]) == ["@odata.etag", f"title@{ATTRIBUTE_NAME}", "title", f"tries@{ATTRIBUTE_NAME}",
                                  "tries", "asyncoperationid"]
    assert (annotated[0][f"title@{ATTRIBUTE_NAME}"], annotated[0][f"tries@{ATTRIBUTE_NAME}"]) == ("name", "retrycount")


# ------------------------------------------------------------------------------------ conditions


OPERATORS = [
    # (condition, SQL condition on asyncoperation a)
    ("<condition attribute='statecode' operator='eq' value='1'/>", "a.statecode = 1"),
    ("<condition attribute='statecode' operator='ne' value='3'/>", "a.statecode != 3"),
    ("<condition attribute='statecode' operator='neq' value='3'/>", "a.statecode != 3"),
    ("<condition attribute='errorcode' operator='ne' value='-2147204784'/>", "a.errorcode != -2147204784"),
    ("<condition attribute='retrycount' operator='gt' value='2'/>", "a.retrycount > 2"),
    ("<condition attribute='retrycount' operator='ge' value='2'/>", "a.retrycount >= 2"),
    ("<condition attribute='executiontimespan' operator='lt' value='1.5'/>", "a.executiontimespan < 1.5"),
    ("<condition attribute='depth' operator='le' value='1'/>", "a.depth <= 1"),
    ("<condition attribute='iswaitingforevent' operator='eq' value='true'/>", "a.iswaitingforevent = 1"),
    ("<condition attribute='createdby' operator='eq' value='{0B1C6A96-B1F5-4AB2-8F4A-A46764E29B77}'/>",
     "a.createdby = '0b1c6a96-b1f5-4ab2-8f4a-a46764e29b77'"),
    ("<condition attribute='createdon' operator='ge' value='2026-10-15T06:00:00Z'/>",
     f"a.createdon >= {epoch('2026-10-15T06:00:00Z')}"),
    ("<condition attribute='name' operator='eq' value='outgoing activity'/>", "lower(a.name) = 'outgoing activity'"),
    ("<condition attribute='name' operator='like' value='%sync%'/>", "lower(a.name) LIKE '%sync%'"),
    ("<condition attribute='name' operator='like' value='%SYNC%'/>", "lower(a.name) LIKE '%sync%'"),
    ("<condition attribute='name' operator='not-like' value='%sync%'/>", "lower(a.name) NOT LIKE '%sync%'"),
    ("<condition attribute='name' operator='begins-with' value='Contoso.'/>", "substr(a.name, 1, 8) = 'Contoso.'"),
    ("<condition attribute='name' operator='not-begin-with' value='Contoso.'/>", "substr(a.name, 1, 8) != 'Contoso.'"),
    ("<condition attribute='name' operator='ends-with' value='of contact'/>", "substr(a.name, -10) = 'of contact'"),
    ("<condition attribute='name' operator='not-end-with' value='of contact'/>",
     "substr(a.name, -10) != 'of contact'"),
    ("<condition attribute='statuscode' operator='in'><value>30</value><value>31</value></condition>",
     "a.statuscode IN (30, 31)"),
    ("<condition attribute='operationtype' operator='not-in'><value>1</value><value>10</value></condition>",
     "a.operationtype NOT IN (1, 10)"),
    ("<condition attribute='retrycount' operator='between'><value>1</value><value>3</value></condition>",
     "a.retrycount >= 1 AND a.retrycount <= 3"),
    ("<condition attribute='retrycount' operator='not-between'><value>1</value><value>3</value></condition>",
     "(a.retrycount < 1 OR a.retrycount > 3)"),
    ("<condition attribute='errorcode' operator='null'/>", "a.errorcode IS NULL"),
    ("<condition attribute='completedon' operator='not-null'/>", "a.completedon IS NOT NULL"),
    ("<condition attribute='createdon' operator='on' value='2026-10-31'/>",
     f"a.createdon >= {epoch('2026-10-31T00:00:00Z')} AND a.createdon < {epoch('2026-11-01T00:00:00Z')}"),
    ("<condition attribute='createdon' operator='on-or-after' value='2026-10-25T23:59:59Z'/>",
     f"a.createdon >= {epoch('2026-10-25T00:00:00Z')}"),
    ("<condition attribute='createdon' operator='on-or-before' value='2026-10-01'/>",
     f"a.createdon < {epoch('2026-10-02T00:00:00Z')}"),
    # Nested filters
    (("<filter type='or'><condition attribute='statecode' operator='eq' value='1'/>"
     "<filter><condition attribute='statecode' operator='eq' value='3'/>"
     "<condition attribute='statuscode' operator='eq' value='31'/></filter></filter>"),
     "(a.statecode = 1 OR (a.statecode = 3 AND a.statuscode = 31))"),
    (("<condition attribute='operationtype' operator='eq' value='1'/><filter type='or'>"
     "<condition attribute='retrycount' operator='gt' value='0'/><condition attribute='errorcode' operator='not-null'/>"
     "<filter type='and'><condition attribute='depth' operator='ge' value='2'/>"
     "<condition attribute='name' operator='like' value='%Plugins%'/></filter></filter>"),
     ("a.operationtype = 1 AND (a.retrycount > 0 OR a.errorcode IS NOT NULL OR (a.depth >= 2 "
     "AND lower(a.name) LIKE '%plugins%'))")),
]


@pytest.mark.parametrize("condition, where", OPERATORS)
async def test_condition_operators(em, db, condition, where):
    got = await ids_of(em, fetch(f"<attribute name='asyncoperationid'/><filter>{condition}</filter>"))
    expected = sql_ids(db, where)
    assert got == expected
    assert 0 < len(expected) < 426, "the case should tell rows apart"


MIDNIGHT = dt.time(0, tzinfo=UTC)


def day_start(moment: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(moment.date(), MIDNIGHT)


def week_start(moment: dt.datetime) -> dt.datetime:  # weeks start on Sunday (en-US)
    return day_start(moment) - dt.timedelta(days=(moment.weekday() + 1) % 7)


def month_start(moment: dt.datetime, months: int = 0) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


SECOND, HOUR, DAY, WEEK = (dt.timedelta(seconds=1), dt.timedelta(hours=1), dt.timedelta(days=1),
                           dt.timedelta(days=7))
# (operator, value, column, [lower, upper) as a function of now) — the meanings docs/deviations.md gives.
CLOCK = [
    ("last-x-hours", "2", "createdon", lambda n: (n - 2 * HOUR, n + SECOND)),
    ("last-x-days", "7", "createdon", lambda n: (day_start(n - 7 * DAY), n + SECOND)),
    ("last-x-weeks", "2", "createdon", lambda n: (day_start(n - 2 * WEEK), n + SECOND)),
    ("last-x-months", "1", "createdon", lambda n: (day_start(month_start(n, -1).replace(day=n.day)), n + SECOND)),
    ("next-x-hours", "2", "postponeuntil", lambda n: (n, n + 2 * HOUR + SECOND)),
    ("next-x-days", "3", "postponeuntil", lambda n: (n, day_start(n + 3 * DAY) + DAY)),
    ("next-x-weeks", "1", "postponeuntil", lambda n: (n, day_start(n + WEEK) + DAY)),
    ("olderthan-x-minutes", "30", "createdon", lambda n: (None, n - 30 * dt.timedelta(minutes=1))),
    ("older-than-x-minutes", "30", "createdon", lambda n: (None, n - 30 * dt.timedelta(minutes=1))),
    ("olderthan-x-hours", "12", "createdon", lambda n: (None, n - 12 * HOUR)),
    ("older-than-x-hours", "12", "createdon", lambda n: (None, n - 12 * HOUR)),
    ("olderthan-x-days", "30", "createdon", lambda n: (None, day_start(n - 30 * DAY))),
    ("older-than-x-days", "30", "createdon", lambda n: (None, day_start(n - 30 * DAY))),
    ("olderthan-x-weeks", "4", "createdon", lambda n: (None, day_start(n - 4 * WEEK))),
    ("today", None, "createdon", lambda n: (day_start(n), day_start(n) + DAY)),
    ("yesterday", None, "createdon", lambda n: (day_start(n) - DAY, day_start(n))),
    ("tomorrow", None, "postponeuntil", lambda n: (day_start(n) + DAY, day_start(n) + 2 * DAY)),
    ("this-week", None, "postponeuntil", lambda n: (week_start(n), week_start(n) + WEEK)),
    ("last-week", None, "createdon", lambda n: (week_start(n) - WEEK, week_start(n))),
    ("next-week", None, "postponeuntil", lambda n: (week_start(n) + WEEK, week_start(n) + 2 * WEEK)),
    ("last-seven-days", None, "createdon", lambda n: (day_start(n) - WEEK, n + SECOND)),
    ("this-month", None, "createdon", lambda n: (month_start(n), month_start(n, 1))),
    ("last-month", None, "createdon", lambda n: (month_start(n, -1), month_start(n))),
    ("this-year", None, "createdon", lambda n: (dt.datetime(n.year, 1, 1, tzinfo=UTC),
                                                dt.datetime(n.year + 1, 1, 1, tzinfo=UTC))),
]


@pytest.mark.parametrize("operator, value, column, bounds", CLOCK, ids=[c[0] for c in CLOCK])
async def test_date_operators_relative_to_the_clock(em, rows, now, operator, value, column, bounds):
    written = f" value='{value}'" if value is not None else ""
    got = await ids_of(em, fetch(f"<attribute name='{column}'/><filter><condition attribute='{column}' "
                                 f"operator='{operator}'{written}/></filter>"))
    lower, upper = bounds(now)
    expected = [r["asyncoperationid"] for r in rows if r[column] is not None
                and (lower is None or r[column] >= lower.timestamp())
                and (upper is None or r[column] < upper.timestamp())]
    assert got == expected
    if operator not in ("this-year", "last-x-months"):
        assert 0 < len(expected) < len([r for r in rows if r[column] is not None]), "the case should tell rows apart"


@pytest.mark.parametrize("operator, column, caller_key, negated", [
    ("eq-userid", "createdby", "UserId", False),
    ("ne-userid", "createdby", "UserId", True),
    ("eq-userid", "owninguser", "UserId", False),
    ("eq-businessid", "owningbusinessunit", "BusinessUnitId", False),
    ("ne-businessid", "owningbusinessunit", "BusinessUnitId", True),
])
async def test_caller_operators_compare_with_who_am_i(em, rows, caller, operator, column, caller_key, negated):
    got = await ids_of(em, fetch(f"<attribute name='{column}'/><filter><condition attribute='{column}' "
                                 f"operator='{operator}'/></filter>"))
    me = caller[caller_key]
    expected = [r["asyncoperationid"] for r in rows
                if r[column] is not None and ((r[column] != me) if negated else (r[column] == me))]
    assert got == expected and 0 < len(expected) < len(rows)


async def test_a_query_as_fetchxml_builder_writes_it(em, db, caller):
    xml = ("<fetch version='1.0' output-format='xml-platform' mapping='logical' distinct='false' no-lock='true'>"
           "<entity name='asyncoperation'><attribute name='name'/><attribute name='statuscode'/>"
           "<order attribute='name' descending='false'/><filter type='and'>"
           "<condition attribute='statuscode' operator='in' value=''><value>31</value><value>32</value></condition>"
           f"<condition attribute='ownerid' operator='ne' uiname='System Administrator' uitype='systemuser' "
           f"value='{{{caller['UserId'].upper()}}}'/></filter>"
           "<link-entity name='systemuser' from='systemuserid' to='owninguser' visible='false' link-type='outer' "
           "alias='owner'><attribute name='fullname'/></link-entity></entity></fetch>")
    got = ok(await get_fetch(em, xml))["value"]
    expected = sql_rows(db, "SELECT a.asyncoperationid, u.fullname FROM asyncoperation a LEFT JOIN systemuser u "
                       "ON u.systemuserid = a.owninguser WHERE a.statuscode IN (31, 32) AND a.ownerid != ? "
                       "ORDER BY a.name, a.asyncoperationid", (caller["UserId"],))
    assert [(r["asyncoperationid"], r.get("owner.fullname")) for r in got] == expected
    assert 0 < len(expected) < 426


# ------------------------------------------------------------------------------------ orders


@pytest.mark.parametrize("orders, sql_order", [
    ("<order attribute='createdon' descending='true'/>", "a.createdon DESC, a.asyncoperationid"),
    ("<order attribute='completedon'/>", "a.completedon, a.asyncoperationid"),
    ("<order attribute='completedon' descending='true'/>", "a.completedon DESC, a.asyncoperationid"),
    ("<order attribute='name'/><order attribute='retrycount' descending='true'/>",
     "a.name, a.retrycount DESC, a.asyncoperationid"),
    ("<order attribute='asyncoperationid' descending='true'/>", "a.asyncoperationid DESC"),
    ("<order alias='title' descending='true'/>", "a.name DESC, a.asyncoperationid"),
])
async def test_orders(em, db, orders, sql_order):
    got = await ids_of(em, fetch(f"<attribute name='name' alias='title'/><attribute name='completedon'/>{orders}"))
    assert got == sql_ids(db, order=sql_order)


async def test_an_order_inside_a_link_entity(em, db):
    got = await ids_of(em, fetch("<attribute name='name'/><order attribute='statuscode' descending='true'/>"
                                 "<link-entity name='systemuser' from='systemuserid' to='createdby' alias='u'>"
                                 "<order attribute='fullname'/></link-entity>"))
    assert got == sql_ids(db, joins="JOIN systemuser u ON u.systemuserid = a.createdby",
                          order="a.statuscode DESC, u.fullname, a.asyncoperationid")


# ------------------------------------------------------------------------------------ link-entities

TEAM = "<link-entity name='team' from='teamid' to='owningteam' alias='t'{type}><attribute name='name'/></link-entity>"


async def test_an_inner_link_drops_rows_without_a_match_and_an_outer_link_keeps_them(em, db):
    inner = ok(await get_fetch(em, fetch("<attribute name='name'/>" + TEAM.format(type=""))))["value"]
    outer = ok(await get_fetch(em, fetch("<attribute name='name'/>" + TEAM.format(type=" link-type='outer'"))))["value"]
    teams = dict(sql_rows(db, "SELECT a.asyncoperationid, t.name FROM asyncoperation a "
                              "JOIN team t ON t.teamid = a.owningteam"))
    assert 0 < len(teams) < 426
    assert [r["asyncoperationid"] for r in inner] == sorted(teams)
    assert [r["asyncoperationid"] for r in outer] == sql_ids(db)
    for row in inner:
        assert list(row) == ["@odata.etag", "name", "t.name", "asyncoperationid"]
        assert row["t.name"] == teams[row["asyncoperationid"]]
    for row in outer:
        assert row.get("t.name") == teams.get(row["asyncoperationid"])
        assert list(row) == ["@odata.etag", "name"] + (["t.name"] if row["asyncoperationid"] in teams else []) \
            + ["asyncoperationid"]


async def test_link_columns_carry_their_attribute_name_when_annotations_are_asked_for(em, db):
    xml = fetch("<attribute name='name'/><attribute name='createdby'/>"
                "<link-entity name='systemuser' from='systemuserid' to='createdby' alias='u'>"
                "<attribute name='fullname'/><attribute name='businessunitid'/>"
                "<attribute name='domainname' alias='login'/></link-entity>", "top='20'")
    users = {r[0]: r[1:] for r in sql_rows(db, "SELECT u.systemuserid, u.fullname, u.businessunitid, u.domainname, "
                                               "b.name FROM systemuser u "
                                               "JOIN businessunit b ON b.businessunitid = u.businessunitid")}
    plain = ok(await get_fetch(em, xml))["value"]
    assert not any("@" in key for row in plain for key in list(row)[1:])
    named = ok(await get_fetch(em, xml, prefer=ATTRIBUTE_NAME), ATTRIBUTE_NAME)["value"]
    everything = ok(await get_fetch(em, xml, prefer="*"), "*")["value"]
    for row, full in zip(named, everything):
        fullname, business_unit, domain, unit_name = users[row["_createdby_value"]]
        assert (row["u.fullname"], row["u.businessunitid"], row.get("login")) == (fullname, business_unit, domain)
        assert [k for k in row if k.endswith(ATTRIBUTE_NAME)] == [
            f"u.fullname@{ATTRIBUTE_NAME}", f"u.businessunitid@{ATTRIBUTE_NAME}"] + \
            ([f"login@{ATTRIBUTE_NAME}"] if domain is not None else [])
        assert (row[f"u.fullname@{ATTRIBUTE_NAME}"], row[f"u.businessunitid@{ATTRIBUTE_NAME}"],
                row.get(f"login@{ATTRIBUTE_NAME}", "domainname")) == ("fullname", "businessunitid", "domainname")
        assert full[f"u.businessunitid@{FORMATTED}"] == unit_name
        assert full[f"_createdby_value@{FORMATTED}"] == fullname


async def test_a_link_filter_restricts_the_join(em, db):
    link = ("<link-entity name='systemuser' from='systemuserid' to='createdby' alias='u'{type}>"
            "<attribute name='fullname'/><filter type='or'><condition attribute='fullname' operator='eq' "
            "value='Alex Wu'/><condition attribute='fullname' operator='begins-with' value='Priya'/></filter>"
            "</link-entity>")
    matched = sql_ids(db, joins="JOIN systemuser u ON u.systemuserid = a.createdby",
                      where="(u.fullname = 'Alex Wu' OR u.fullname LIKE 'Priya%')")
    assert 0 < len(matched) < 426
    inner = ok(await get_fetch(em, fetch("<attribute name='name'/>" + link.format(type=""))))["value"]
    assert [r["asyncoperationid"] for r in inner] == matched
    outer = ok(await get_fetch(em, fetch("<attribute name='name'/>" + link.format(type=" link-type='outer'"))))["value"]
    assert [r["asyncoperationid"] for r in outer] == sql_ids(db)
    assert [r["asyncoperationid"] for r in outer if "u.fullname" in r] == matched


async def test_a_condition_on_an_outer_link_alias_finds_rows_without_a_match(em, db):
    got = await ids_of(em, fetch("<attribute name='name'/><link-entity name='team' from='teamid' to='owningteam' "
                                 "alias='t' link-type='outer'/><filter><condition entityname='t' attribute='teamid' "
                                 "operator='null'/></filter>"))
    assert got == sql_ids(db, "NOT EXISTS (SELECT 1 FROM team t WHERE t.teamid = a.owningteam)")


async def test_nested_link_entities(em, db):
    got = ok(await get_fetch(em, fetch(
        "<attribute name='name'/><link-entity name='systemuser' from='systemuserid' to='owninguser' alias='u'>"
        "<attribute name='fullname'/><link-entity name='businessunit' from='businessunitid' to='businessunitid' "
        "alias='bu'><attribute name='name'/><filter><condition attribute='name' operator='in'><value>Sales</value>"
        "<value>Service</value></condition></filter></link-entity></link-entity>")))["value"]
    expected = sql_rows(db, "SELECT a.asyncoperationid, u.fullname, b.name FROM asyncoperation a "
                       "JOIN systemuser u ON u.systemuserid = a.owninguser "
                       "JOIN businessunit b ON b.businessunitid = u.businessunitid "
                       "WHERE b.name IN ('Sales', 'Service') ORDER BY a.asyncoperationid")
    assert [(r["asyncoperationid"], r["u.fullname"], r["bu.name"]) for r in got] == expected
    assert 0 < len(expected) < 426


async def test_a_link_to_the_many_side_returns_a_row_per_match_and_pages_by_number(em, db):
    xml = ("<fetch PAGING><entity name='systemuser'><attribute name='fullname'/>"
           "<link-entity name='asyncoperation' from='createdby' to='systemuserid' alias='a'>"
           "<attribute name='asyncoperationid'/></link-entity></entity></fetch>")
    expected = sql_rows(db, "SELECT u.systemuserid, a.asyncoperationid FROM systemuser u "
                       "JOIN asyncoperation a ON a.createdby = u.systemuserid ORDER BY u.systemuserid")
    got, page = [], 1
    while True:
        body = ok(await get_fetch(em, xml.replace("PAGING", f"count='100' page='{page}'"), prefer=PAGING,
                                  entity_set="systemusers"), PAGING)
        got += [(r["systemuserid"], r["a.asyncoperationid"]) for r in body["value"]]
        assert COOKIE not in body, "a query whose rows multiply pages by number, without a cookie"
        if MORE not in body:
            break
        page += 1
    assert page == 5
    assert sorted(got) == sorted(expected) and len(set(got)) == len(got) == 426
    assert [u for u, _ in got] == [u for u, _ in expected]


# ------------------------------------------------------------------------------------ paging

WALKS = [
    # (FetchXML inside <entity>, SQL joins, SQL ORDER BY)
    ("<attribute name='name'/>", "", "a.asyncoperationid"),
    ("<attribute name='createdon'/><order attribute='createdon' descending='true'/>", "",
     "a.createdon DESC, a.asyncoperationid"),
    ("<attribute name='completedon'/><order attribute='completedon'/>", "", "a.completedon, a.asyncoperationid"),
    ("<attribute name='completedon'/><order attribute='completedon' descending='true'/>", "",
     "a.completedon DESC, a.asyncoperationid"),
    (("<attribute name='name'/><attribute name='executiontimespan'/><order attribute='name'/>"
     "<order attribute='executiontimespan' descending='true'/>"), "",
     "a.name, a.executiontimespan DESC, a.asyncoperationid"),
    (("<attribute name='owningteam'/><order attribute='owningteam' descending='true'/>"
     # A lookup sorts by the related row's primary name (fetchxml/order-rows.md, "Lookup Columns").
     "<order attribute='iswaitingforevent'/>"), "",
     "(SELECT name FROM team WHERE teamid = a.owningteam) COLLATE NOCASE DESC, a.iswaitingforevent, a.asyncoperationid"),
    # Values that need escaping at every layer of the cookie: XML text with quotes and angle brackets.
    ("<attribute name='data'/><order attribute='data' descending='true'/>", "", READABLE_DATA.format(a="a.") + " COLLATE NOCASE DESC, a.asyncoperationid"),
    ("<attribute name='name' alias='title'/><order alias='title'/>", "", "a.name, a.asyncoperationid"),
    (("<attribute name='name'/><link-entity name='systemuser' from='systemuserid' to='owninguser' alias='o' "
     "link-type='outer'><attribute name='fullname'/><order attribute='fullname' descending='true'/></link-entity>"),
     "LEFT JOIN systemuser o ON o.systemuserid = a.owninguser", "o.fullname DESC, a.asyncoperationid"),
    ("<attribute name='name'/>" + TEAM.format(type=" link-type='outer'").replace(
        "</link-entity>", "<order attribute='name'/></link-entity>"),
     "LEFT JOIN team t ON t.teamid = a.owningteam", "t.name, a.asyncoperationid"),
]


def paging_cookie(body: dict, page: int) -> str:
    """The `pagingcookie` of the annotation, decoded twice, as a client puts it back."""
    outer = ET.fromstring(body[COOKIE])
    assert outer.tag == "cookie" and outer.get("pagenumber") == str(page + 1) and outer.get("istracking") == "False"
    encoded = outer.get("pagingcookie")
    assert "%25" in encoded, "URL-encoded twice"
    inner = unquote(unquote(encoded))
    assert inner.startswith(f'<cookie page="{page}">') and inner.endswith("</cookie>")
    return inner


@pytest.mark.parametrize("inner, joins, order", WALKS)
async def test_paging_with_the_cookie_visits_every_row_once_in_order(em, db, inner, joins, order):
    template = f"<fetch PAGING><entity name='asyncoperation'>{inner}</entity></fetch>"
    got, page, cookie = [], 1, None
    while True:
        head = f"count='37' page='{page}'" + (f" paging-cookie={quoteattr(cookie)}" if cookie else "")
        body = ok(await get_fetch(em, template.replace("PAGING", head), prefer=PAGING), PAGING)
        got += [r["asyncoperationid"] for r in body["value"]]
        if MORE not in body:
            assert COOKIE not in body, "the last page carries neither annotation"
            break
        assert body[MORE] is True and len(body["value"]) == 37
        assert list(body)[-3:] == [COOKIE, MORE, "value"], "the annotations come before value"
        cookie = paging_cookie(body, page)
        page += 1
    assert page == 12
    assert got == sql_ids(db, joins=joins, order=order)


async def test_paging_by_page_number_alone(em, db):
    got, page = [], 1
    while True:
        body = ok(await get_fetch(em, fetch("<attribute name='createdon'/><order attribute='createdon'/>",
                                            f"count='50' page='{page}'"), prefer="*"), "*")
        got += [r["asyncoperationid"] for r in body["value"]]
        if not body.get(MORE):
            assert MORE not in body and COOKIE not in body
            break
        page += 1
    assert page == 9
    assert got == sql_ids(db, order="a.createdon, a.asyncoperationid")


async def test_paging_annotations_only_when_asked_for(em):
    xml = fetch("<attribute name='name'/>", "count='10' page='1'")
    assert COOKIE not in ok(await get_fetch(em, xml)) and MORE not in ok(await get_fetch(em, xml))
    more_only = ok(await get_fetch(em, xml, prefer="Microsoft.Dynamics.CRM.morerecords"),
                   "Microsoft.Dynamics.CRM.morerecords")
    assert more_only[MORE] is True and COOKIE not in more_only
    both = ok(await get_fetch(em, xml, prefer="Microsoft.Dynamics.CRM.*"), "Microsoft.Dynamics.CRM.*")
    assert both[MORE] is True and COOKIE in both


async def test_top_returns_no_paging_annotations(em, db):
    body = ok(await get_fetch(em, fetch("<attribute name='name'/>", "top='10'"), prefer=PAGING), PAGING)
    assert [r["asyncoperationid"] for r in body["value"]] == sql_ids(db)[:10]
    assert MORE not in body and COOKIE not in body


async def test_without_count_a_page_holds_every_row_up_to_5000(em, db):
    body = ok(await get_fetch(em, fetch("<attribute name='name'/>"), prefer=PAGING), PAGING)
    assert len(body["value"]) == 426 and MORE not in body


async def test_a_paging_cookie_not_issued_for_the_query_is_refused(em):
    cookie = '<cookie page="1"><createdon last="2026-10-01T00:00:00Z" /></cookie>'
    response = await get_fetch(em, fetch("<attribute name='name'/>", f"count='10' page='2' paging-cookie="
                                                                      f"{quoteattr(cookie)}"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "0x80040203"


# ------------------------------------------------------------------------------------ distinct


async def test_distinct_rows(em, db):
    body = ok(await get_fetch(em, fetch("<attribute name='statecode'/><attribute name='statuscode'/>"
                                        "<order attribute='statuscode' descending='true'/>", "distinct='true'")))
    assert [(r["statecode"], r["statuscode"]) for r in body["value"]] == sql_rows(
        db, "SELECT DISTINCT statecode, statuscode FROM asyncoperation ORDER BY statuscode DESC")
    assert all(list(r) == ["statecode", "statuscode"] for r in body["value"]), "no etag, no key"


async def test_distinct_over_a_link_pages_by_number(em, db):
    expected = [r[0] for r in sql_rows(db, "SELECT DISTINCT u.fullname FROM asyncoperation a JOIN systemuser u "
                                      "ON u.systemuserid = a.modifiedby ORDER BY u.fullname")]
    xml = ("<fetch distinct='true' PAGING><entity name='asyncoperation'><link-entity name='systemuser' "
           "from='systemuserid' to='modifiedby' alias='u'><attribute name='fullname'/><order attribute='fullname'/>"
           "</link-entity><attribute name='modifiedby' alias='by'/></entity></fetch>")
    got, page = [], 1
    while True:
        body = ok(await get_fetch(em, xml.replace("PAGING", f"count='4' page='{page}'"), prefer=PAGING), PAGING)
        got += [r["u.fullname"] for r in body["value"]]
        assert COOKIE not in body
        if MORE not in body:
            break
        page += 1
    assert got == expected and len(expected) > 4


# ------------------------------------------------------------------------------------ aggregates


def grouped(rows, key) -> dict:
    groups = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return groups


async def test_aggregate_functions_by_group(em, rows):
    body = ok(await get_fetch(em, fetch(
        "<attribute name='statecode' alias='state' groupby='true'/>"
        "<attribute name='operationtype' alias='type' groupby='true'/>"
        "<attribute name='asyncoperationid' alias='n' aggregate='count'/>"
        "<attribute name='errorcode' alias='failures' aggregate='countcolumn'/>"
        "<attribute name='errorcode' alias='codes' aggregate='countcolumn' distinct='true'/>"
        "<attribute name='retrycount' alias='tries' aggregate='sum'/>"
        "<attribute name='executiontimespan' alias='mean' aggregate='avg'/>"
        "<attribute name='depth' alias='shallowest' aggregate='min'/>"
        "<attribute name='depth' alias='deepest' aggregate='max'/>"
        "<attribute name='createdon' alias='first' aggregate='min'/>"
        "<attribute name='createdon' alias='last' aggregate='max'/>", "aggregate='true'")))
    assert body["@odata.context"] == CONTEXT
    expected = {}
    for (state, kind), members in grouped(rows, lambda r: (r["statecode"], r["operationtype"])).items():
        errors = [r["errorcode"] for r in members if r["errorcode"] is not None]
        expected[(state, kind)] = {
            "n": len(members), "failures": len(errors), "codes": len(set(errors)),
            "tries": sum(r["retrycount"] for r in members),
            "mean": statistics.fmean(r["executiontimespan"] for r in members),
            "shallowest": min(r["depth"] for r in members), "deepest": max(r["depth"] for r in members),
            "first": iso(min(r["createdon"] for r in members)), "last": iso(max(r["createdon"] for r in members)),
        }
    got = {(r.pop("state"), r.pop("type")): r for r in body["value"]}
    assert set(got) == set(expected)
    for key, values in expected.items():
        assert got[key].pop("mean") == pytest.approx(values.pop("mean"))
        assert got[key] == values
    assert any(v["failures"] for v in expected.values()) and any(not v["failures"] for v in expected.values())


async def test_aggregate_with_a_filter_annotations_and_an_ascending_order(em, rows):
    xml = fetch("<attribute name='operationtype' alias='type' groupby='true'/>"
                "<attribute name='asyncoperationid' alias='n' aggregate='count'/>"
                "<attribute name='retrycount' alias='tries' aggregate='sum'/>"
                "<filter><condition attribute='statecode' operator='eq' value='3'/></filter>"
                "<order alias='n'/><order alias='type' descending='true'/>", "aggregate='true'")
    body = ok(await get_fetch(em, xml, prefer="*"), "*")
    completed = grouped([r for r in rows if r["statecode"] == 3], lambda r: r["operationtype"])
    expected = sorted(((len(m), t, sum(r["retrycount"] for r in m)) for t, m in completed.items()),
                      key=lambda g: (g[0], -g[1]))
    assert [(r["n"], r["type"], r["tries"]) for r in body["value"]] == expected
    first = body["value"][0]
    assert first[f"type@{ATTRIBUTE_NAME}"] == "operationtype" and first[f"n@{ATTRIBUTE_NAME}"] == "asyncoperationid"
    assert first[f"n@{FORMATTED}"] == f"{first['n']:,}"


async def test_null_groups_and_all_null_measures_leave_their_alias_out(em, rows):
    body = ok(await get_fetch(em, fetch("<attribute name='owningteam' alias='team' groupby='true'/>"
                                        "<attribute name='asyncoperationid' alias='n' aggregate='count'/>"
                                        "<attribute name='errorcode' alias='worst' aggregate='min'/>"
                                        "<attribute name='recurrencestarttime' alias='first' aggregate='min'/>",
                                        "aggregate='true'")))
    expected = {}
    for team, members in grouped(rows, lambda r: r["owningteam"]).items():
        errors = [r["errorcode"] for r in members if r["errorcode"] is not None]
        starts = [r["recurrencestarttime"] for r in members if r["recurrencestarttime"] is not None]
        expected[team] = (len(members), min(errors) if errors else None, iso(min(starts)) if starts else None)
    got = {r.get("team"): (r["n"], r.get("worst"), r.get("first")) for r in body["value"]}
    assert got == expected
    (no_team,) = [r for r in body["value"] if "team" not in r]
    assert no_team["n"] == sum(1 for r in rows if r["owningteam"] is None)
    assert any("first" not in r for r in body["value"]), "a group whose recurrencestarttimes are all null"


async def test_aggregate_over_a_link_entity(em, db):
    body = ok(await get_fetch(em, fetch(
        "<attribute name='asyncoperationid' alias='n' aggregate='count'/>"
        "<attribute name='retrycount' alias='tries' aggregate='max'/>"
        "<link-entity name='systemuser' from='systemuserid' to='createdby' alias='u'>"
        "<attribute name='fullname' alias='who' groupby='true'/></link-entity><order alias='who'/>", "aggregate='true'")))
    assert [(r["who"], r["n"], r["tries"]) for r in body["value"]] == sql_rows(
        db, "SELECT u.fullname, count(*), max(a.retrycount) FROM asyncoperation a JOIN systemuser u "
            "ON u.systemuserid = a.createdby GROUP BY u.fullname ORDER BY u.fullname")


@pytest.mark.parametrize("grouping", ["year", "quarter", "month", "week", "day"])
async def test_date_grouping(em, rows, grouping):
    body = ok(await get_fetch(em, fetch(
        f"<attribute name='createdon' alias='g' groupby='true' dategrouping='{grouping}'/>"
        "<attribute name='asyncoperationid' alias='n' aggregate='count'/>"
        "<attribute name='executiontimespan' alias='longest' aggregate='max'/>", "aggregate='true'"),
        prefer=FORMATTED), FORMATTED)
    expected = {g: (len(m), max(r["executiontimespan"] for r in m))
                for g, m in grouped(rows, lambda r: datepart(grouping, r["createdon"])).items()}
    got = {r["g"]: (r["n"], r["longest"]) for r in body["value"]}
    assert got == expected
    assert all(isinstance(g, int) for g in got)
    # Formatted as whole numbers are (the docs' aggregate sample shows the year 2023 as "2,023").
    assert all(r[f"g@{FORMATTED}"] == f"{r['g']:,}" for r in body["value"])


async def test_date_groupings_together_with_a_filter(em, rows):
    body = ok(await get_fetch(em, fetch(
        "<attribute name='createdon' alias='y' groupby='true' dategrouping='year'/>"
        "<attribute name='createdon' alias='q' groupby='true' dategrouping='quarter'/>"
        "<attribute name='createdon' alias='m' groupby='true' dategrouping='month'/>"
        "<attribute name='createdon' alias='w' groupby='true' dategrouping='week'/>"
        "<attribute name='asyncoperationid' alias='n' aggregate='count'/>"
        "<filter><condition attribute='statuscode' operator='in'><value>31</value><value>32</value></condition>"
        "</filter><order alias='w' descending='true'/>", "aggregate='true'")))
    failed = [r for r in rows if r["statuscode"] in (31, 32)]
    groups = grouped(failed, lambda r: tuple(datepart(p, r["createdon"]) for p in ("year", "quarter", "month", "week")))
    got = [(r["y"], r["q"], r["m"], r["w"], r["n"]) for r in body["value"]]
    assert sorted(got) == sorted((*key, len(members)) for key, members in groups.items())
    weeks = [g[3] for g in got]
    assert weeks == sorted(weeks, reverse=True), "<order alias='w' descending='true'/>"
    assert sum(r["n"] for r in body["value"]) == len(failed)


async def test_aggregatelimit(em, db):
    xml = "<fetch aggregate='true'{}><entity name='asyncoperation'><attribute name='asyncoperationid' alias='n' " \
          "aggregate='count'/>{}</entity></fetch>"
    total = sql_rows(db, "SELECT count(*) FROM asyncoperation")[0][0]
    exceeded = await get_fetch(em, xml.format(f" aggregatelimit='{total - 1}'", ""))
    assert exceeded.status_code == 400
    assert exceeded.json() == {"error": {"code": "0x8004e023", "message": "AggregateQueryRecordLimit exceeded. "
                                                                          "Cannot perform this operation."}}
    assert ok(await get_fetch(em, xml.format(f" aggregatelimit='{total}'", "")))["value"] == [{"n": total}]
    failed = sql_rows(db, "SELECT count(*) FROM asyncoperation WHERE statuscode = 31")[0][0]
    filtered = xml.format(f" aggregatelimit='{failed}'",
                          "<filter><condition attribute='statuscode' operator='eq' value='31'/></filter>")
    assert ok(await get_fetch(em, filtered))["value"] == [{"n": failed}]


async def test_top_limits_the_groups(em, rows):
    body = ok(await get_fetch(em, fetch("<attribute name='operationtype' alias='t' groupby='true'/>"
                                        "<attribute name='asyncoperationid' alias='n' aggregate='count'/>"
                                        "<order alias='n' descending='true'/>", "aggregate='true' top='3'")))
    counts = sorted((len(m) for m in grouped(rows, lambda r: r["operationtype"]).values()), reverse=True)
    assert [r["n"] for r in body["value"]] == counts[:3]


# ------------------------------------------------------------------------------------ $count


async def test_count_with_fetchxml(em, db):
    where = "statecode = 3 AND retrycount = 0"
    total = sql_rows(db, f"SELECT count(*) FROM asyncoperation WHERE {where}")[0][0]
    xml = fetch("<attribute name='name'/><filter><condition attribute='statecode' operator='eq' value='3'/>"
                "<condition attribute='retrycount' operator='eq' value='0'/></filter>", "count='10' page='2'")
    body = ok(await get_fetch(em, xml, query="&$count=true"))
    assert list(body)[:2] == ["@odata.context", "@odata.count"] and body["@odata.count"] == total
    assert len(body["value"]) == 10
    annotated = ok(await get_fetch(em, xml, query="&$count=true", prefer="*"), "*")
    assert (annotated["@odata.count"], annotated["@Microsoft.Dynamics.CRM.totalrecordcount"],
            annotated["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"]) == (total, total, False)
    uncounted = ok(await get_fetch(em, xml, prefer="*"), "*")
    assert "@odata.count" not in uncounted and uncounted["@Microsoft.Dynamics.CRM.totalrecordcount"] == -1
    asked = ok(await get_fetch(em, xml.replace("<fetch ", "<fetch returntotalrecordcount='true' "), prefer="*"), "*")
    # fetchxml/count-rows.md: returntotalrecordcount='true' has the same result as $count=true.
    assert asked["@odata.count"] == asked["@Microsoft.Dynamics.CRM.totalrecordcount"] == total
    top = ok(await get_fetch(em, fetch("<attribute name='name'/>", "top='5'"), query="&$count=true"))
    assert top["@odata.count"] == 426 and len(top["value"]) == 5


async def test_count_of_an_aggregate_is_the_number_of_groups(em, db):
    body = ok(await get_fetch(em, fetch("<attribute name='operationtype' alias='t' groupby='true'/>"
                                        "<attribute name='asyncoperationid' alias='n' aggregate='count'/>",
                                        "aggregate='true'"), query="&$count=true"))
    assert body["@odata.count"] == len(body["value"]) == sql_rows(db, "SELECT count(DISTINCT operationtype) "
                                                                 "FROM asyncoperation")[0][0]


# ------------------------------------------------------------------------------------ hostile and malformed

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>" + fetch("<attribute name='name'/><filter><condition attribute='name' operator='eq' value='&lol9;'/>"
                   "</filter>"))
HOSTILE = [
    # (id, FetchXML, code)
    ("billion laughs", BILLION_LAUGHS, "0x80040203"),
    ("external entity", '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                        + fetch("<filter><condition attribute='name' operator='eq' value='&e;'/></filter>"),
     "0x80040203"),
    ("external DTD", '<!DOCTYPE fetch SYSTEM "http://127.0.0.1:9/fetch.dtd">' + fetch(""), "0x80040203"),
    ("deep nesting", fetch("<filter>" * 1000 + "</filter>" * 1000), "0x80040203"),  # inside the 32 KB URL limit
    ("unclosed tags", "<fetch><entity name='asyncoperation'><attribute name='name'>", "0x80040203"),
    ("non-XML text", "SELECT * FROM asyncoperation", "0x80040203"),
    ("JSON", '{"EntityName": "asyncoperation"}', "0x80040203"),
    ("empty string", "", "0x80041124"),
    ("wrong root element", "<query><entity name='asyncoperation'/></query>", "0x80041125"),
    ("namespaced root", "<fetch xmlns='urn:x'><entity name='asyncoperation'/></fetch>", "0x80041125"),
    ("unknown element", fetch("<select name='name'/>"), "0x8004111c"),
    ("unknown attribute", fetch("<attribute name='name' as='n'/>"), "0x8004111c"),
    ("unknown entity", "<fetch><entity name='jobs'/></fetch>", "0x80041102"),
    ("unknown column", fetch("<attribute name='title'/>"), "0x80041103"),
    ("unknown column in a condition", fetch("<filter><condition attribute='title' operator='null'/></filter>"),
     "0x80041103"),
    ("unknown link entity", fetch("<link-entity name='jobs' from='id' to='regardingobjectid'/>"), "0x80041102"),
    ("unknown operator", fetch("<filter><condition attribute='name' operator='contains' value='x'/></filter>"),
     "0x80041120"),
    ("text for an integer", fetch("<filter><condition attribute='retrycount' operator='eq' value='abc'/></filter>"),
     "0x80040203"),
    ("text for a choice", fetch("<filter><condition attribute='statecode' operator='in'><value>Ready</value>"
                                "</condition></filter>"), "0x80040203"),
    ("text for a date", fetch("<filter><condition attribute='createdon' operator='on' value='soon'/></filter>"),
     "0x80040203"),
    ("text for a GUID", fetch("<filter><condition attribute='createdby' operator='eq' value='me'/></filter>"),
     "0x80040203"),
    ("an integer past Int32", fetch("<filter><condition attribute='depth' operator='gt' value='4294967296'/></filter>"),
     "0x80040203"),
    ("top with page", fetch("", "top='10' page='2'"), "0x80041108"),
    ("top with count", fetch("", "top='10' count='5'"), "0x80041108"),
    ("top over 5000", fetch("", "top='5001'"), "0x80041108"),
    ("count over 5000", fetch("", "count='10000'"), "0x80041108"),
    ("a negative page", fetch("", "count='10' page='-1'"), "0x80041108"),
    ("unknown alias in entityname", fetch("<filter><condition entityname='owner' attribute='fullname' "
                                          "operator='null'/></filter>"), "0x8004110a"),
    ("another entity set's entity", "<fetch><entity name='systemuser'/></fetch>", "0x80041128"),
    ("sixteen link-entities", fetch("".join(f"<link-entity name='systemuser' from='systemuserid' to='createdby' "
                                            f"alias='u{i}' link-type='outer'/>" for i in range(16))), "0x8004430d"),
    ("sixty-five link-entities", fetch("".join(f"<link-entity name='systemuser' from='systemuserid' to='createdby' "
                                               f"alias='u{i}' link-type='outer'/>" for i in range(65))), "0x8004430d"),
    ("an aggregate without an alias", fetch("<attribute name='statecode' groupby='true'/>", "aggregate='true'"),
     "0x8004110b"),
]


@pytest.mark.parametrize("text, code", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
async def test_hostile_and_malformed_fetchxml_is_a_quick_400(em, db, text, code):
    before = snapshot(db)
    started = time.perf_counter()
    response = await get_fetch(em, text)
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == JSON_TYPE and response.headers["odata-version"] == "4.0"
    body = response.json()
    assert list(body) == ["error"] and list(body["error"]) == ["code", "message"]
    assert body["error"]["code"] == code and body["error"]["message"]
    assert snapshot(db) == before


async def test_a_document_over_the_size_bound_is_a_quick_refusal(em, db):
    # Past the 32 KB URL limit the request is refused before the document is read (as Dataverse's
    # web server does): the FetchXML size bound itself is checked in tests/query/test_fetchxml_parse.py.
    huge = fetch("<attribute name='name'/>" * 6000)
    assert len(huge) > 131_072
    before = snapshot(db)
    started = time.perf_counter()
    status, _, body = await raw_request(em.app, b"/api/data/v9.2/asyncoperations",
                                        b"fetchXml=" + quote(huge, safe="").encode())
    assert time.perf_counter() - started < 1.0
    assert status == 414
    assert body.startswith(b'{"error":{"code":"","message":"HTTP Error 414. The request URL is too long')
    assert snapshot(db) == before


@pytest.mark.parametrize("query, code, message", [
    ("&$select=name", "0x80060888", "The query option '$select' cannot be combined with fetchXml."),
    ("&$filter=statecode eq 0", "0x80060888", "The query option '$filter' cannot be combined with fetchXml."),
    ("&$top=5", "0x80060888", "The query option '$top' cannot be combined with fetchXml."),
    ("&$skip=5", "0x80060888", "The query option '$skip' cannot be combined with fetchXml."),
    ("&$count=maybe", "0x80060888", None),
])
async def test_other_query_options_cannot_join_fetchxml(em, query, code, message):
    response = await get_fetch(em, fetch("<attribute name='name'/>"), query=query.replace(" ", "%20"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    if message is not None:
        assert error["message"] == message


async def test_fetchxml_on_another_entity_set_queries_that_table(em, db):
    body = ok(await get_fetch(em, "<fetch><entity name='team'><attribute name='name'/><order attribute='name'/>"
                                  "</entity></fetch>", entity_set="teams"))
    teams = sql_rows(db, "SELECT teamid, name FROM team ORDER BY name")
    assert [(r["teamid"], r["name"]) for r in body["value"]] == teams
    mismatch = await get_fetch(em, fetch("<attribute name='name'/>"), entity_set="teams")
    assert mismatch.status_code == 400 and mismatch.json()["error"]["code"] == "0x80041128"
