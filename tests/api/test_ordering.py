"""`$orderby` on lookup columns: sorted by the related table's primary name, not by the GUID stored
(webapi/query/order-rows.md, "Lookup Columns"), also across pages and inside `$expand`."""

from __future__ import annotations

from tests.helpers import sql_rows

FORMATTED = "@OData.Community.Display.V1.FormattedValue"
ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}


def _names(rows: list[dict], column: str) -> list[str | None]:
    return [row.get(f"{column}{FORMATTED}") for row in rows]


def _sorted_by_name(names: list[str | None], descending: bool = False) -> bool:
    keys = [(n is not None, (n or "").casefold()) for n in names]  # nulls first ascending, as SQL Server
    return keys == sorted(keys, reverse=descending)


async def test_orderby_lookup_sorts_by_the_related_primary_name(emulated, store_copy):
    """webapi/query/order-rows.md: "When you order using lookup columns, the results are sorted using the
    primary name field for the related table." A single-target lookup (owninguser -> systemuser.fullname)
    and a polymorphic one (regardingobjectid: account.name, contact.fullname, systemuser.fullname ...)."""
    for column, direction in (("_owninguser_value", "asc"), ("_owninguser_value", "desc"),
                              ("_regardingobjectid_value", "asc"), ("_createdby_value", "desc")):
        response = await emulated.get(f"asyncoperations?$select={column}&$orderby={column} {direction}",
                                      headers=ANNOTATIONS)
        assert response.status_code == 200, response.text
        names = _names(response.json()["value"], column)
        assert len(set(names)) > 3, column
        assert _sorted_by_name(names, direction == "desc"), (column, direction, names)

    # Not the GUID order: the data set's users sort differently by id and by name.
    users = sql_rows(store_copy, "select systemuserid, fullname from systemuser")
    assert sorted(users) != sorted(users, key=lambda u: u[1].casefold())


async def test_orderby_lookup_pages_and_expands_by_name(emulated):
    """order-rows.md ("Lookup Columns") with page-results.md: the paging cookie carries the sort key, so
    following `@odata.nextLink` keeps the name order and visits every row once; inside `$expand` the
    related rows sort the same way (join-tables.md, "$orderby" in an expansion)."""
    headers = {**ANNOTATIONS, "Prefer": 'odata.include-annotations="*",odata.maxpagesize=37'}
    url = "asyncoperations?$select=_owninguser_value&$orderby=_owninguser_value desc"
    rows: list[dict] = []
    while url:
        body = (await emulated.get(url, headers=headers)).json()
        rows.extend(body["value"])
        url = body.get("@odata.nextLink")
    assert len({r["asyncoperationid"] for r in rows}) == len(rows) > 37
    assert _sorted_by_name(_names(rows, "_owninguser_value"), descending=True)

    response = await emulated.get(
        "systemusers?$select=fullname&$top=3&$expand=system_user_asyncoperation($select=name,_regardingobjectid_value;"
        "$orderby=_regardingobjectid_value)", headers=ANNOTATIONS)
    assert response.status_code == 200, response.text
    for user in response.json()["value"]:
        assert _sorted_by_name(_names(user["system_user_asyncoperation"], "_regardingobjectid_value"))
