"""Pages written as JSON by SQLite (`api/sql_json.py`) are byte for byte the pages the Python writer
writes: every entity set, selections, expansions, orderings, paging links, strings of every kind,
booleans and dates, nulls. Each response is asked twice, with the SQLite writer and without it
(`helpers.both_writers`); any text and any Double: tests/fuzz/test_fuzz_sql_json.py."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from sqlalchemy import literal_column

from odata_emulator.api import collection, sql_json
from odata_emulator.model import AttributeType
from odata_emulator.store.values import format_datetime, to_epoch
from tests.helpers import DOCUMENTED, UTC, assert_ok, assert_same_answer, both_writers

QUERIES = [
    "$top=1000&$select=asyncoperationid,name,statecode,statuscode,operationtype,createdon&$expand=createdby($select=fullname)",
    "$select=name,iswaitingforevent,postponeuntil,completedon,startedon,data,message,friendlymessage&$top=40",
    "$select=name&$orderby=createdon desc,name&$top=25",
    ("$select=name,_regardingobjectid_value,_ownerid_value&$expand=owninguser($select=fullname),"
     "createdby($select=fullname;$expand=businessunitid($select=name))&$top=30"),
    "$filter=statecode eq 3&$select=name,completedon&$expand=modifiedby",
    "$select=executiontimespan,name,retrycount&$orderby=executiontimespan desc&$top=40",  # Doubles
    "$select=name&$expand=AsyncOperation_BulkDeleteOperation($select=name)&$top=5",  # a collection: the Python writer
]


async def test_every_entity_set_and_its_pages_read_theassert_same_answer(emulated, monkeypatch):
    sets = assert_ok(await emulated.get(""))["value"]
    urls = [f"asyncoperations?{query}" for query in QUERIES] + [f"{entity_set['url']}?$top=3&$count=true"
                                                                for entity_set in sets]
    for url in urls:
        next_link: str | None = url
        pages = 0
        while next_link and pages < 2:  # the first page, and the next one through its nextLink
            by_sqlite, by_python = await both_writers(emulated, next_link, monkeypatch, headers={"Prefer": "odata.maxpagesize=2"})
            assert_same_answer(by_sqlite, by_python)
            next_link = by_python.json().get("@odata.nextLink")
            pages += 1


async def test_the_sqlite_writer_writes_the_pages_it_can(emulated, monkeypatch):
    python_pages = []
    fetch_page = collection.fetch_page

    async def spy(*args, **kw):
        python_pages.append(args[1])
        return await fetch_page(*args, **kw)

    monkeypatch.setattr(collection, "fetch_page", spy)
    body = assert_ok(await emulated.get(f"asyncoperations?{QUERIES[0]}"))
    assert len(body["value"]) == 426 and body["value"][0]["createdby"]["fullname"]
    assert python_pages == []
    # The documented query 01 (27 columns, a Double among them, six expansions) too.
    query = (DOCUMENTED / "01-retrieve-system-jobs.webapi.http").read_text().split("?", 1)[1].replace("\n", "")
    body = assert_ok(await emulated.get(f"asyncoperations?{query}"))
    assert len(body["value"]) == 426 and any(row["executiontimespan"] for row in body["value"])
    assert python_pages == []
    # Annotations and a collection are the Python writer's.
    await emulated.get(f"asyncoperations?{QUERIES[0]}", headers={"Prefer": 'odata.include-annotations="*"'})
    await emulated.get(f"asyncoperations?{QUERIES[-1]}")
    assert len(python_pages) == 2


async def test_booleans_and_dates_of_every_kind(emulated, monkeypatch):
    # iswaitingforevent true and false; postponeuntil set and null.
    url = "asyncoperations?$select=name,iswaitingforevent,postponeuntil&$orderby=name&$top=5000"
    by_sqlite, by_python = await both_writers(emulated, url, monkeypatch)
    assert_same_answer(by_sqlite, by_python)
    values = {(row["iswaitingforevent"], row["postponeuntil"] is None) for row in by_python.json()["value"]}
    assert {value for value, _ in values} >= {True, False} and {null for _, null in values} == {True, False}


# Text as clients send it: quotes, backslashes, every control character, slashes, markup, accents,
# characters beyond the Basic Multilingual Plane, line and paragraph separators.
_EDGES = ['"quoted" \\ back\\slash', "".join(map(chr, range(32))) + "\x7f", "</script>&<b>'", "é ü ß 中文 😀 \u2028\u2029",
          "", " "]


@pytest.mark.parametrize("name", _EDGES)
async def test_strings_are_escaped_alike(emulated, monkeypatch, name):
    created = await emulated.request("POST", "contacts", json={"firstname": name, "lastname": "x"})
    assert created.status_code == 204, created.text
    url = created.headers["OData-EntityId"].split("(")[0] + "?$select=firstname,lastname&$orderby=firstname"
    by_sqlite, by_python = await both_writers(emulated, url, monkeypatch)
    assert_same_answer(by_sqlite, by_python)
    assert name in [row["firstname"] for row in by_python.json()["value"]]


@pytest.mark.parametrize(("moment", "text"), [
    (dt.datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
    (dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC), "0999-12-31T23:59:59Z"),
    (dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), "1969-12-31T23:59:59Z"),
    (dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "9999-12-31T23:59:59Z"),
])
def test_dates_have_four_digit_years_in_both_writers(moment, text):
    seconds = to_epoch(moment)
    assert format_datetime(seconds) == text
    with sqlite3.connect(":memory:") as db:
        column = literal_column("?")
        expression = sql_json._value(AttributeType.DATETIME, column)
        assert expression is not None
        assert db.execute(f"SELECT {expression.compile(compile_kwargs={'literal_binds': True})}", (seconds,)).fetchone()[0] == text
