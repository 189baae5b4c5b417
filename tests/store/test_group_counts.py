"""The counts the store keeps per (statecode, statuscode, operationtype) of system jobs
(`store/group_counts.py`): equal to a GROUP BY over the rows after every kind of write, rebuilt for a
store made before they existed, and what the documented groupings answer from.
"""

from __future__ import annotations

import sqlite3

from odata_emulator.store.group_counts import trigger_statements
from tests.helpers import BULK_DELETE_REQUEST, make_settings, running, seed_jobs, sql_rows

CONTROL = "/_emulator/v1"
COUNTS = "emulator_group_count_asyncoperation"
GROUPS = "SELECT statecode, statuscode, operationtype, count(*) FROM asyncoperation GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
KEPT = f"SELECT statecode, statuscode, operationtype, rowcount FROM {COUNTS} WHERE rowcount != 0 ORDER BY 1, 2, 3"


def assert_counts_match(path) -> list[tuple]:
    groups = sql_rows(path, GROUPS)
    assert sql_rows(path, KEPT) == groups
    assert not sql_rows(path, f"SELECT * FROM {COUNTS} WHERE rowcount < 0")
    return groups


async def webapi_groups(em) -> list[tuple]:
    response = await em.get("asyncoperations?$apply=groupby((statecode,statuscode,operationtype),"
                            "aggregate($count as count))")
    assert response.status_code == 200, response.text
    return [(g["statecode"], g["statuscode"], g["operationtype"], g["count"]) for g in response.json()["value"]]


async def test_every_kind_of_write_keeps_the_counts(file_store):
    em, path = file_store
    groups = assert_counts_match(path)
    assert len(groups) > 5 and await webapi_groups(em) == groups

    # Created (the control API), run by the scheduler (the virtual clock), cancelled (a PATCH).
    ids = await seed_jobs(em, *({"name": f"counted {i}", "operationtype": 10, "simulation": {"duration": 0}}
                                for i in range(5)))
    assert_counts_match(path)
    response = await em.request("PATCH", f"asyncoperations({ids[0]})", json={"statecode": 3, "statuscode": 32})
    assert response.status_code == 204, response.text
    await em.client.post(f"{CONTROL}/clock", json={"advance": "PT10M"})
    assert await webapi_groups(em) == assert_counts_match(path)

    # Deleted one by one, then by BulkDelete: a group can empty, and then it is not listed.
    response = await em.request("DELETE", f"asyncoperations({ids[1]})")
    assert response.status_code == 204, response.text
    response = await em.request("POST", "BulkDelete", json=BULK_DELETE_REQUEST)
    assert response.status_code == 200, response.text
    await em.client.post(f"{CONTROL}/clock", json={"advance": "P1D"})
    completed = sql_rows(path, "SELECT count(*) FROM asyncoperation WHERE statecode = 3")[0][0]
    assert await webapi_groups(em) == assert_counts_match(path)

    # Back to the data set.
    assert (await em.client.post(f"{CONTROL}/reset")).status_code == 200
    assert await webapi_groups(em) == assert_counts_match(path) == groups
    assert completed != sql_rows(path, "SELECT count(*) FROM asyncoperation WHERE statecode = 3")[0][0]


async def test_an_emptied_group_is_not_answered(file_store):
    em, path = file_store
    (job,) = await seed_jobs(em, {"name": "alone", "operationtype": 59})  # none in the data set
    url = "asyncoperations?$apply=filter(operationtype eq 59)/groupby((operationtype),aggregate($count as n))"
    assert (await em.get(url)).json()["value"] == [{"operationtype": 59, "n": 1}]
    assert (await em.request("DELETE", f"asyncoperations({job})")).status_code == 204
    assert sql_rows(path, f"SELECT rowcount FROM {COUNTS} WHERE operationtype = 59") == [(0,)]
    assert (await em.get(url)).json()["value"] == []
    # Without groupby: one row, counting none (as count(*) over no rows).
    url = "asyncoperations?$apply=filter(operationtype eq 59)/aggregate($count as n)"
    assert (await em.get(url)).json()["value"] == [{"n": 0}]


def test_writes_from_outside_the_emulator_keep_the_counts(store_copy):
    """Another program writing the file (no emulator running) fires the same triggers, NULL keys
    included: a NULL is a group of its own, as in GROUP BY."""
    db = sqlite3.connect(store_copy)
    try:
        job = db.execute("SELECT asyncoperationid FROM asyncoperation WHERE statecode = 0 LIMIT 1").fetchone()[0]
        db.execute("UPDATE asyncoperation SET operationtype = NULL WHERE asyncoperationid = ?", (job,))
        db.execute("UPDATE asyncoperation SET statecode = 1, statuscode = 10 WHERE statecode = 0 AND operationtype = 10")
        db.execute("UPDATE asyncoperation SET name = 'renamed'")  # no key changes: the counts do not move
        db.execute("INSERT INTO asyncoperation (asyncoperationid, name) VALUES ('00000000-0000-0000-0000-00000000abcd', 'x')")
        db.execute("INSERT INTO asyncoperation (asyncoperationid, name) VALUES ('00000000-0000-0000-0000-00000000abce', 'y')")
        db.execute("DELETE FROM asyncoperation WHERE asyncoperationid = '00000000-0000-0000-0000-00000000abce'")
        db.commit()
    finally:
        db.close()
    groups = assert_counts_match(store_copy)
    assert (None, None, None, 1) in groups and any(g[2] is None and g[0] == 0 for g in groups)
    assert len(sql_rows(store_copy, f"SELECT * FROM {COUNTS} WHERE statecode IS NULL")) == 1


async def test_a_store_made_before_the_counts_gets_them_at_start(store_copy):
    db = sqlite3.connect(store_copy)
    try:
        for name in trigger_statements():
            db.execute(f"DROP TRIGGER {name}")
        db.execute(f"DROP TABLE {COUNTS}")
        db.execute("UPDATE asyncoperation SET operationtype = 57 WHERE operationtype = 10")  # not counted
        db.commit()
    finally:
        db.close()
    async with running(make_settings(database=str(store_copy))) as em:
        groups = assert_counts_match(store_copy)
        assert any(g[2] == 57 for g in groups) and not any(g[2] == 10 for g in groups)
        assert await webapi_groups(em) == groups
        await seed_jobs(em, {"name": "after", "operationtype": 10})
        assert await webapi_groups(em) == assert_counts_match(store_copy)
    # A trigger alone missing: it is made again and the counts rebuilt.
    db = sqlite3.connect(store_copy)
    try:
        db.execute("DROP TRIGGER emulator_count_asyncoperation_delete")
        db.execute("DELETE FROM asyncoperation WHERE operationtype = 57")
        db.commit()
    finally:
        db.close()
    async with running(make_settings(database=str(store_copy))) as em:
        assert await webapi_groups(em) == assert_counts_match(store_copy)
        assert not any(g[2] == 57 for g in await webapi_groups(em))


async def test_the_aggregate_limit_counts_the_kept_counts(store_copy):
    waiting = sql_rows(store_copy, "SELECT count(*) FROM asyncoperation WHERE statecode = 1")[0][0]
    async with running(make_settings(database=str(store_copy), aggregate_limit=waiting)) as em:
        url = "asyncoperations?$apply=filter(statecode eq 1)/groupby((statuscode),aggregate($count as n))"
        response = await em.get(url)
        assert response.status_code == 200 and response.json()["value"] == [{"statuscode": 10, "n": waiting}]
        response = await em.get("asyncoperations?$apply=groupby((statecode),aggregate($count as n))")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "0x8004e023"
