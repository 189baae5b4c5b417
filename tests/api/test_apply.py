"""`$apply` end to end: groupby/aggregate/filter, formatted values and lookup annotations on the
results, `$filter`/`$orderby`/`$top`/`$count` after `$apply`, the aggregate record limit and
grouping by a date.

Every result is checked against an independent oracle: SQL run with the stdlib sqlite3 module on the
emulator's own store file (logical column names, GUIDs as lowercase text, date-times as epoch seconds).
"""

from __future__ import annotations

import pytest

from tests.helpers import (
    API,
    FORMATTED,
    LOGICAL,
    NAVIGATION,
    STATE_LABELS,
    STATUS_LABELS,
    assert_error,
    assert_json,
    copy_store,
    iso,
    make_settings,
    sql_rows,
    start,
)

ALL_ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}
FORMATTED_ONLY = {"Prefer": f'odata.include-annotations="{FORMATTED}"'}
CONTEXT = f"{API}$metadata#asyncoperations"


def assert_ok(response, annotations: str | None = None) -> dict:
    """A page of aggregated rows: the JSON answer, the annotations applied, the collection's context."""
    assert_json(response)
    if annotations is not None:
        assert response.headers["preference-applied"] == f'odata.include-annotations="{annotations}"'
    else:
        assert "preference-applied" not in response.headers
    body = response.json()
    assert body["@odata.context"] == CONTEXT
    assert list(body)[-1] == "value"
    return body


async def test_groupby_with_formatted_values(file_store):
    em, path = file_store
    response = await em.get("asyncoperations?$apply=groupby((statecode,statuscode),aggregate($count as count))",
                            headers=FORMATTED_ONLY)
    body = assert_ok(response, FORMATTED)
    expected = sql_rows(path, "SELECT statecode, statuscode, count(*) FROM asyncoperation "
                              "GROUP BY statecode, statuscode ORDER BY statecode, statuscode")
    assert body == {"@odata.context": CONTEXT, "value": [
        {
            f"statecode@{FORMATTED}": STATE_LABELS[state], "statecode": state,
            f"statuscode@{FORMATTED}": STATUS_LABELS[status], "statuscode": status,
            f"count@{FORMATTED}": f"{count:,}", "count": count,
        }
        for state, status, count in expected
    ]}
    assert [list(row) for row in body["value"]] == [[f"statecode@{FORMATTED}", "statecode", f"statuscode@{FORMATTED}",
                                                      "statuscode", f"count@{FORMATTED}", "count"]] * len(expected)

    # Without the Prefer header: bare values, no annotations, no etag, no key.
    body = assert_ok(await em.get("asyncoperations?$apply=groupby((statecode,statuscode),aggregate($count as count))"))
    assert body == {"@odata.context": CONTEXT, "value": [
        {"statecode": state, "statuscode": status, "count": count} for state, status, count in expected]}

    # groupby without aggregate: the distinct values.
    body = assert_ok(await em.get("asyncoperations?$apply=groupby((operationtype))"))
    assert body["value"] == [{"operationtype": t} for (t,) in sql_rows(
        path, "SELECT DISTINCT operationtype FROM asyncoperation ORDER BY operationtype")]


async def test_groupby_lookup_and_navigation_path(file_store):
    em, path = file_store
    response = await em.get("asyncoperations?$apply=groupby((_ownerid_value),aggregate($count as count))",
                            headers=ALL_ANNOTATIONS)
    body = assert_ok(response, "*")
    expected = sql_rows(path, """
        SELECT a.ownerid, a.owneridtype, coalesce(u.fullname, t.name), count(*) FROM asyncoperation a
        LEFT JOIN systemuser u ON u.systemuserid = a.ownerid LEFT JOIN team t ON t.teamid = a.ownerid
        GROUP BY a.ownerid ORDER BY a.ownerid""")
    assert {kind for _, kind, _, _ in expected} == {"systemuser", "team"}
    assert body["value"] == [
        {
            f"_ownerid_value@{FORMATTED}": name,
            f"_ownerid_value@{NAVIGATION}": "ownerid",
            f"_ownerid_value@{LOGICAL}": kind,
            "_ownerid_value": owner,
            f"count@{FORMATTED}": f"{count:,}",
            "count": count,
        }
        for owner, kind, name, count in expected
    ]

    # Only the formatted value when only that is asked for.
    body = assert_ok(await em.get("asyncoperations?$apply=groupby((_owninguser_value))", headers=FORMATTED_ONLY),
                     FORMATTED)
    expected = sql_rows(path, """
        SELECT a.owninguser, u.fullname FROM asyncoperation a LEFT JOIN systemuser u ON u.systemuserid = a.owninguser
        GROUP BY a.owninguser ORDER BY a.owninguser""")
    assert expected[0][0] is None  # team-owned jobs: a null group, whose property is omitted
    assert body["value"] == [
        {f"_owninguser_value@{FORMATTED}": name, "_owninguser_value": user} if user is not None else {}
        for user, name in expected
    ]

    # Grouping across a navigation property: `<target entity>_<attribute>`; a null group omits it.
    body = assert_ok(await em.get("asyncoperations?$apply=groupby((owninguser/fullname),aggregate($count as n))"))
    expected = sql_rows(path, """
        SELECT u.fullname, count(*) FROM asyncoperation a LEFT JOIN systemuser u ON u.systemuserid = a.owninguser
        GROUP BY u.fullname ORDER BY u.fullname""")
    assert expected[0][0] is None  # team-owned jobs have no owning user
    assert body["value"] == [{"n": n} if name is None else {"systemuser_fullname": name, "n": n} for name, n in expected]

    body = assert_ok(await em.get(
        "asyncoperations?$apply=groupby((owningbusinessunit/name,statecode),aggregate($count as n))"))
    expected = sql_rows(path, """
        SELECT b.name, a.statecode, count(*) FROM asyncoperation a
        JOIN businessunit b ON b.businessunitid = a.owningbusinessunit
        GROUP BY b.name, a.statecode ORDER BY b.name, a.statecode""")
    assert body["value"] == [{"businessunit_name": name, "statecode": state, "n": n} for name, state, n in expected]


async def test_aggregates(file_store):
    em, path = file_store
    body = assert_ok(await em.get(
        "asyncoperations?$apply=aggregate(executiontimespan with sum as total, executiontimespan with max as slowest, "
        "executiontimespan with average as mean)"))
    total, slowest, mean = sql_rows(path, "SELECT sum(executiontimespan), max(executiontimespan), avg(executiontimespan) "
                                          "FROM asyncoperation")[0]
    assert len(body["value"]) == 1
    row = body["value"][0]
    assert list(row) == ["total", "slowest", "mean"]
    assert row["total"] == pytest.approx(total, rel=1e-12)
    assert row["slowest"] == slowest
    assert row["mean"] == pytest.approx(mean, rel=1e-12)

    body = assert_ok(await em.get("asyncoperations?$apply=aggregate($count as jobs,retrycount with max as most,"
                                  "retrycount with min as least,sequence with sum as seq)"), None)
    jobs, most, least, seq = sql_rows(path, "SELECT count(*), max(retrycount), min(retrycount), sum(sequence) "
                                            "FROM asyncoperation")[0]
    assert body["value"] == [{"jobs": jobs, "most": most, "least": least, "seq": seq}]

    # Formatted: counts and integers with thousands separators.
    body = assert_ok(await em.get("asyncoperations?$apply=aggregate($count as jobs,sequence with sum as seq)",
                                  headers=FORMATTED_ONLY), FORMATTED)
    assert body["value"] == [{f"jobs@{FORMATTED}": f"{jobs:,}", "jobs": jobs, f"seq@{FORMATTED}": f"{seq:,}", "seq": seq}]
    assert seq >= 1000

    # Aggregates per group, and min/max of dates.
    body = assert_ok(await em.get("asyncoperations?$apply=groupby((statecode),aggregate(executiontimespan with sum as "
                                  "total,createdon with min as first,createdon with max as last))"))
    expected = sql_rows(path, "SELECT statecode, sum(executiontimespan), min(createdon), max(createdon) "
                              "FROM asyncoperation GROUP BY statecode ORDER BY statecode")
    assert [row["statecode"] for row in body["value"]] == [r[0] for r in expected]
    for row, (_state, total, first, last) in zip(body["value"], expected):
        assert list(row) == ["statecode", "total", "first", "last"]
        assert row["total"] == pytest.approx(total, rel=1e-12)
        assert (row["first"], row["last"]) == (iso(first), iso(last))


async def test_apply_with_filter_orderby_top_count(file_store):
    em, path = file_store
    # filter() transformations, then groupby.
    body = assert_ok(await em.get("asyncoperations?$apply=filter(statecode eq 3 and retrycount gt 0)/"
                                  "groupby((statuscode,operationtype),aggregate($count as count))"))
    expected = sql_rows(path, "SELECT statuscode, operationtype, count(*) FROM asyncoperation "
                              "WHERE statecode = 3 AND retrycount > 0 GROUP BY statuscode, operationtype "
                              "ORDER BY statuscode, operationtype")
    assert expected
    assert body["value"] == [{"statuscode": s, "operationtype": t, "count": c} for s, t, c in expected]

    body = assert_ok(await em.get("asyncoperations?$apply=filter(contains(name,'Bulk'))/filter(statecode eq 3)/"
                                  "aggregate($count as n)"))
    assert body["value"] == [{"n": sql_rows(path, "SELECT count(*) FROM asyncoperation WHERE name LIKE '%Bulk%' "
                                                  "AND statecode = 3")[0][0]}]

    by_status = sql_rows(path, "SELECT statuscode, count(*) FROM asyncoperation GROUP BY statuscode ORDER BY statuscode")
    group = "asyncoperations?$apply=groupby((statuscode),aggregate($count as count))"

    # $filter on a group key (applied to the groups).
    body = assert_ok(await em.get(f"{group}&$filter=statuscode ge 30"))
    assert body["value"] == [{"statuscode": s, "count": c} for s, c in by_status if s >= 30]

    # $orderby on a group key, descending.
    body = assert_ok(await em.get(f"{group}&$orderby=statuscode desc"))
    assert body["value"] == [{"statuscode": s, "count": c} for s, c in reversed(by_status)]

    # $top limits the groups; $count counts all of them.
    body = assert_ok(await em.get(f"{group}&$top=3"))
    assert body["value"] == [{"statuscode": s, "count": c} for s, c in by_status[:3]]
    body = assert_ok(await em.get(f"{group}&$count=true"))
    assert body == {"@odata.context": CONTEXT, "@odata.count": len(by_status),
                    "value": [{"statuscode": s, "count": c} for s, c in by_status]}
    body = assert_ok(await em.get(f"{group}&$orderby=statuscode desc&$top=2&$count=true"))
    assert list(body) == ["@odata.context", "@odata.count", "value"]
    assert body["@odata.count"] == len(by_status)
    assert body["value"] == [{"statuscode": s, "count": c} for s, c in list(reversed(by_status))[:2]]
    body = assert_ok(await em.get(f"{group}&$filter=statuscode lt 30&$count=true&$top=1"))
    assert body["@odata.count"] == len([s for s, _ in by_status if s < 30])
    assert body["value"] == [{"statuscode": s, "count": c} for s, c in by_status[:1]]

    # Aggregated rows are returned whole: no paging even with a small page size.
    response = await em.get(group, headers={"Prefer": "odata.maxpagesize=2"})
    assert response.status_code == 200
    assert len(response.json()["value"]) == len(by_status) and "@odata.nextLink" not in response.json()

    # What cannot follow or accompany $apply.
    assert_error(await em.get(f"{group}&$filter=statecode eq 3"), 400, "0x80060888",
                 "Could not find a property named 'statecode' on the aggregated result.")
    assert_error(await em.get(f"{group}&$orderby=count desc"), 400, "0x8006088a",
                 "The query node SingleValueOpenPropertyAccess is not supported")
    assert_error(await em.get("asyncoperations?$apply=aggregate(name with countdistinct as n)"), 400, "0x8006088a",
                 "You can't get a distinct number of values using CountColumn with OData. Use FetchXML.")
    assert_error(await em.get("asyncoperations?$apply=aggregate(name with sum as n)"), 400, "0x80060888",
                 "The aggregation method 'sum' cannot be applied to 'name' of type Edm.String.")


async def test_aggregate_record_limit(tmp_path, template_store):
    path = copy_store(template_store, tmp_path / "limited.db")
    em, lifespan, client = await start(make_settings(database=str(path), aggregate_limit=100))
    try:
        total = sql_rows(path, "SELECT count(*) FROM asyncoperation")[0][0]
        assert total > 100
        for query in ("$apply=groupby((statuscode),aggregate($count as count))", "$apply=aggregate($count as n)",
                      "$apply=groupby((statecode))", "$apply=filter(statecode ge 0)/aggregate($count as n)"):
            assert_error(await em.get(f"asyncoperations?{query}"), 400, "0x8004e023",
                         "AggregateQueryRecordLimit exceeded. Cannot perform this operation.")

        # Under the limit once filtered: fine.
        body = assert_ok(await em.get("asyncoperations?$apply=filter(statecode eq 2)/groupby((statuscode),"
                                      "aggregate($count as count))"))
        expected = sql_rows(path, "SELECT statuscode, count(*) FROM asyncoperation WHERE statecode = 2 "
                                  "GROUP BY statuscode ORDER BY statuscode")
        assert sum(c for _, c in expected) <= 100
        assert body["value"] == [{"statuscode": s, "count": c} for s, c in expected]

        # Plain queries are not aggregate queries.
        response = await em.get("asyncoperations?$select=name&$count=true")
        assert response.status_code == 200 and response.json()["@odata.count"] == total
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_aggregate_record_limit_boundary(tmp_path, template_store):
    """The limit is the number of rows an aggregate may read: exactly the limit passes, one more fails."""
    path = copy_store(template_store, tmp_path / "boundary.db")
    # Learn the number of rows of statecode <= 1 from a first store, then start at exactly that limit.
    em, lifespan, client = await start(make_settings(database=str(path)))
    await client.aclose()
    await lifespan.__aexit__(None, None, None)
    limit = sql_rows(path, "SELECT count(*) FROM asyncoperation WHERE statecode <= 1")[0][0]
    more = sql_rows(path, "SELECT count(*) FROM asyncoperation WHERE statecode <= 2")[0][0]
    assert more > limit
    em, lifespan, client = await start(make_settings(database=str(path), aggregate_limit=limit))
    try:
        body = assert_ok(await em.get("asyncoperations?$apply=filter(statecode le 1)/aggregate($count as n)"))
        assert body["value"] == [{"n": limit}]
        assert_error(await em.get("asyncoperations?$apply=filter(statecode le 2)/aggregate($count as n)"), 400,
                     "0x8004e023", "AggregateQueryRecordLimit exceeded. Cannot perform this operation.")
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_grouping_by_a_date(file_store, loose):
    em, path = file_store
    for query in ("$apply=groupby((createdon))", "$apply=groupby((statecode,completedon),aggregate($count as n))"):
        assert_error(await em.get(f"asyncoperations?{query}"), 400, "0x8006088a",
                     "groupby with datetime values is not supported. Use FetchXML dategrouping to group by date.")

    # Loose mode groups by the value; the loose store holds the same fixtures, read through SQL here.
    body = assert_ok(await loose.get("asyncoperations?$apply=groupby((createdon),aggregate($count as n))"))
    expected = sql_rows(path, "SELECT createdon, count(*) FROM asyncoperation GROUP BY createdon ORDER BY createdon")
    assert body["value"] == [{"createdon": iso(created), "n": n} for created, n in expected]
    body = assert_ok(await loose.get("asyncoperations?$apply=filter(statecode eq 3)/groupby((statuscode,completedon))"
                                     "&$top=5"))
    expected = sql_rows(path, "SELECT DISTINCT statuscode, completedon FROM asyncoperation WHERE statecode = 3 "
                              "ORDER BY statuscode, completedon LIMIT 5")
    assert body["value"] == [{"statuscode": s, "completedon": iso(c)} for s, c in expected]


@pytest.mark.parametrize(("apply", "sql"), [
    # One key held by the filter, the others grouped.
    ("filter(operationtype eq 10)/groupby((statecode,statuscode,operationtype),aggregate($count as n))",
     ("SELECT statecode, statuscode, operationtype, count(*) FROM asyncoperation WHERE operationtype = 10 "
     "GROUP BY statecode, statuscode, operationtype ORDER BY statecode, statuscode")),
    # Every key held: one group when rows match...
    ("filter(statecode eq 3 and statuscode eq 30)/groupby((statuscode,statecode),aggregate($count as n))",
     ("SELECT statuscode, statecode, count(*) FROM asyncoperation WHERE statecode = 3 AND statuscode = 30 "
     "GROUP BY statecode, statuscode")),
    # ...and none when no row does (not one group of 0 rows).
    ("filter(retrycount eq 12345)/groupby((retrycount),aggregate($count as n))",
     "SELECT retrycount, count(*) FROM asyncoperation WHERE retrycount = 12345 GROUP BY retrycount"),
    # Held in one branch of an `or` only: grouped.
    ("filter(statecode eq 3 or statecode eq 1)/groupby((statecode),aggregate($count as n))",
     "SELECT statecode, count(*) FROM asyncoperation WHERE statecode IN (1, 3) GROUP BY statecode ORDER BY statecode"),
])
async def test_keys_the_filter_holds_to_one_value(file_store, apply, sql):
    em, path = file_store
    body = assert_ok(await em.get(f"asyncoperations?$apply={apply}"))
    names = [name.strip() for name in apply.split("groupby((")[1].split(")")[0].split(",")]
    assert [tuple(row[name] for name in [*names, "n"]) for row in body["value"]] == sql_rows(path, sql)

