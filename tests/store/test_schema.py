"""The store itself refuses an impossible system job, whoever writes it."""

from __future__ import annotations

import sqlite3

import pytest

from odata_emulator.jobs import states


async def test_check_constraint_pins_legal_state_and_status_pairs(file_store):
    em, path = file_store
    with sqlite3.connect(path) as conn:
        job_id = conn.execute("SELECT asyncoperationid FROM asyncoperation LIMIT 1").fetchone()[0]
        for state, status in [(0, 10), (1, 0), (2, 30), (3, 20), (3, 0), (4, 40)]:
            with pytest.raises(sqlite3.IntegrityError, match="ck_asyncoperation_state_status"):
                conn.execute("UPDATE asyncoperation SET statecode = ?, statuscode = ? WHERE asyncoperationid = ?",
                             (state, status, job_id))
        for state, status in states.ALL_PAIRS:
            conn.execute("UPDATE asyncoperation SET statecode = ?, statuscode = ? WHERE asyncoperationid = ?",
                         (state, status, job_id))
        conn.rollback()


async def test_every_write_gives_the_row_a_new_version(file_store):
    em, path = file_store
    created = await em.client.post("/_emulator/v1/jobs", json={"name": "x"})
    job_id = created.json()["value"][0]["asyncoperationid"]
    first = (await em.get(f"asyncoperations({job_id})")).json()["@odata.etag"]
    await em.request("PATCH", f"asyncoperations({job_id})", json={"postponeuntil": "2030-01-01T00:00:00Z"})
    second = (await em.get(f"asyncoperations({job_id})")).json()["@odata.etag"]
    assert first != second
    with sqlite3.connect(path) as conn:
        top = conn.execute("SELECT max(versionnumber) FROM asyncoperation").fetchone()[0]
    assert second == f'W/"{top}"', "the last write holds the highest version"


async def test_a_store_made_before_an_index_existed_gets_it_at_start(tmp_path):
    from tests.helpers import make_settings, running

    path = tmp_path / "old.db"
    async with running(make_settings(database=str(path))):
        pass
    with sqlite3.connect(path) as conn:
        indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        queue = next(name for name in indexes if name.startswith("ix_asyncoperation_dependencytoken_createdon_sequence"))
        conn.execute(f"DROP INDEX {queue}")
    async with running(make_settings(database=str(path))):
        pass
    with sqlite3.connect(path) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (queue,)).fetchone()
    assert sql is not None and "WHERE statecode < 3" in sql[0]


async def test_a_store_made_by_an_older_model_gets_the_model_s_entity_definitions_and_its_triggers(store_copy):
    """A store without the EntityDefinitions fingerprint (made before it existed, or by an older model)
    has its rows compared and rewritten at start; a missing change-tracking trigger is made again."""
    from tests.helpers import make_settings, running

    with sqlite3.connect(store_copy) as conn:
        conn.execute("DELETE FROM emulator_meta WHERE key = 'entity_definitions'")
        conn.execute("UPDATE EntityMetadata SET EntitySetName = 'old' WHERE LogicalName = 'account'")
        conn.execute("DROP TRIGGER emulator_track_contact_delete")
    conn.close()
    async with running(make_settings(database=str(store_copy))) as em:
        answer = await em.get("EntityDefinitions(LogicalName='account')?$select=EntitySetName")
        assert answer.json()["EntitySetName"] == "accounts"
    with sqlite3.connect(store_copy) as conn:
        assert conn.execute("SELECT value FROM emulator_meta WHERE key = 'entity_definitions'").fetchone() is not None
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'emulator_track_contact_delete'").fetchone()
    conn.close()


async def test_starting_on_an_up_to_date_store_writes_nothing(store_copy):
    from tests.helpers import make_settings, running

    before = store_copy.read_bytes()
    async with running(make_settings(database=str(store_copy))):
        pass
    assert store_copy.read_bytes() == before


async def test_starting_on_an_up_to_date_store_opens_no_write_connection(store_copy):
    """Every start but a store's first looks at it on the loop thread's reader: no engine connection
    (and no thread of its own) is opened until something writes."""
    from sqlalchemy import event

    from tests.helpers import make_settings, running

    async with running(make_settings(database=str(store_copy))) as em:
        opened = []
        event.listen(em.emulator.store.engine.sync_engine, "connect", lambda *_: opened.append(1))
        assert (await em.get("asyncoperations?$top=1&$select=name")).status_code == 200
        assert opened == []
        assert (await em.client.post("/_emulator/v1/jobs", json={"name": "x"})).status_code == 201
        assert opened == [1]


@pytest.mark.parametrize("damage", [
    "PRAGMA journal_mode=DELETE",
    "DELETE FROM emulator_meta WHERE key = 'entity_definitions'",
    "DROP INDEX ix_asyncoperation_statecode_statuscode_operationtype",
])
async def test_a_store_that_is_not_current_goes_through_the_write_path_at_start(store_copy, damage):
    """A start writes what the look finds missing: WAL, the schema, the entity definitions'
    fingerprint."""
    from tests.helpers import make_settings, running

    with sqlite3.connect(store_copy) as conn:
        conn.execute(damage)
    conn.close()
    async with running(make_settings(database=str(store_copy))) as em:
        assert (await em.get("asyncoperations?$top=1&$select=name")).status_code == 200
    with sqlite3.connect(store_copy) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT 1 FROM emulator_meta WHERE key = 'entity_definitions'").fetchone()
        names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "ix_asyncoperation_statecode_statuscode_operationtype" in names
