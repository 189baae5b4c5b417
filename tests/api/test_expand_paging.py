"""Collection-valued `$expand`: each expanded collection's `<navigation>@odata.nextLink`, and paging of
every expanded collection when a nested `$expand` is in the query (webapi/query/join-tables.md,
"Expand collection-valued navigation properties")."""

from __future__ import annotations

from tests.helpers import API, assert_error, sql_ids, sql_rows

NAV = "system_user_asyncoperation"


async def _follow(emulated, link: str, headers: dict) -> list[str]:
    ids: list[str] = []
    while link:
        response = await emulated.get(link, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [row["asyncoperationid"] for row in body["value"]]
        link = body.get("@odata.nextLink")
    return ids


async def test_single_expand_links_each_collection_without_paging(emulated, store_copy):
    """join-tables.md, "Single $expand on collection-valued navigation properties": no paging is applied to
    the expanded rows (only to the entity set), and each expanded collection returns a
    `<property>@odata.nextLink` with no paging information: the filtered collection with the query options,
    which returns the same rows."""
    headers = {"Prefer": "odata.maxpagesize=2"}
    response = await emulated.get(f"systemusers?$select=fullname&$expand={NAV}($select=name;$filter=statecode eq 3)",
                                  headers=headers)
    body = response.json()
    assert len(body["value"]) == 2 and "@odata.nextLink" in body
    for user in body["value"]:
        link = user[f"{NAV}@odata.nextLink"]
        assert link == f"{API}systemusers({user['systemuserid']})/{NAV}?$select=name&$filter=statecode%20eq%203"
        assert list(user)[-2:] == [NAV, f"{NAV}@odata.nextLink"]
        expected = sql_ids(store_copy, "owninguser = ? AND statecode = 3", params=(user["systemuserid"],))
        assert [job["asyncoperationid"] for job in user[NAV]] == expected  # all of them, unpaged
        assert await _follow(emulated, link, {}) == expected


async def test_nested_expand_pages_each_expanded_collection(emulated, store_copy):
    """join-tables.md, "Nested $expand on collection-valued navigation properties": with a nested `$expand`
    anywhere in the query and `Prefer: odata.maxpagesize`, paging applies to each expanded collection, and
    its `<property>@odata.nextLink` carries the paging information of the next rows."""
    headers = {"Prefer": "odata.maxpagesize=3"}
    url = f"systemusers?$select=fullname&$expand={NAV}($select=name;$expand=owninguser($select=fullname))"
    body = (await emulated.get(url, headers=headers)).json()
    paged = 0
    for user in body["value"]:
        expected = sql_ids(store_copy, "owninguser = ?", params=(user["systemuserid"],))
        jobs = user[NAV]
        assert [job["asyncoperationid"] for job in jobs] == expected[:3]
        assert all(job["owninguser"]["fullname"] == user["fullname"] for job in jobs)
        link = user[f"{NAV}@odata.nextLink"]
        assert link.startswith(f"{API}systemusers({user['systemuserid']})/{NAV}?$select=name&"
                               "$expand=owninguser($select=fullname)")
        if len(expected) > 3:
            paged += 1
            assert "&$skiptoken=%3Ccookie%20pagenumber=%222%22" in link
            assert [job["asyncoperationid"] for job in jobs] + await _follow(emulated, link, headers) == expected
        else:
            assert "$skiptoken" not in link
    assert paged > 0

    # The same on one row.
    user = body["value"][0]
    one = (await emulated.get(f"systemusers({user['systemuserid']})?$select=fullname&$expand={NAV}($select=name;"
                              "$expand=owninguser($select=fullname))", headers=headers)).json()
    assert one[NAV] == user[NAV] and one[f"{NAV}@odata.nextLink"] == user[f"{NAV}@odata.nextLink"]


async def test_top_and_orderby_refused_with_a_nested_expand(emulated):
    """join-tables.md: "You can't use $top or $orderby options ... with a nested $expand", with the error
    text it prints; the same text for a many-to-one relationship."""
    message = ("Only $select and $filter clause can be provided while doing $expand on many-to-one relationship "
               "or nested one-to-many relationship.")
    for expand in (f"{NAV}($top=2;$expand=owninguser($select=fullname))",
                   f"{NAV}($orderby=name;$expand=owninguser($select=fullname))"):
        assert_error(await emulated.get(f"systemusers?$expand={expand}"), 400, "0x80060888", message)
    assert_error(await emulated.get("asyncoperations?$expand=owninguser($top=1)"), 400, "0x80060888", message)


async def test_ref_and_count_on_a_collection_valued_navigation(emulated, store_copy):
    """retrieve-entity-using-web-api.md, "Retrieve navigation property values": `<navigation>/$ref` returns
    references (`#Collection($ref)`, an `@odata.id` per related row) and `<navigation>/$count` their number,
    as text with the UTF-8 byte order mark the docs show."""
    [(owner,)] = sql_rows(store_copy, "SELECT owninguser FROM asyncoperation WHERE owninguser IS NOT NULL LIMIT 1")
    expected = sql_ids(store_copy, "owninguser = ?", params=(owner,))
    body = (await emulated.get(f"systemusers({owner})/{NAV}/$ref")).json()
    assert body == {"@odata.context": f"{API}$metadata#Collection($ref)",
                    "value": [{"@odata.id": f"{API}asyncoperations({job})"} for job in expected]}

    response = await emulated.get(f"systemusers({owner})/{NAV}/$count")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert response.content == b"\xef\xbb\xbf" + str(len(expected)).encode()
    failed = sql_ids(store_copy, "owninguser = ? AND statuscode = 31", params=(owner,))
    response = await emulated.get(f"systemusers({owner})/{NAV}/$count?$filter=statuscode eq 31")
    assert response.content == b"\xef\xbb\xbf" + str(len(failed)).encode()

    missing = "00000000-0000-0000-0000-000000000001"
    assert_error(await emulated.get(f"systemusers({missing})/{NAV}/$count"), 404, "0x80040217",
                 f"Entity 'systemuser' With Id = {missing} Does Not Exist")
