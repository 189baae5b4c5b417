"""Fresh stores copied from the cached template (`store/templates.py`): the copy holds what building
the store would have written, at any shift; a template is made once, used only for a new store file,
and never when its data set or the cache directory says otherwise."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil

import pytest

from odata_emulator._resources import CACHE_ENV, cache_dir, fixtures_dir
from odata_emulator.jobs.recurrence import RecurrenceError
from odata_emulator.store import templates
from tests.helpers import make_settings, running, store_dump

DATASET = json.loads((fixtures_dir() / "dataset.json").read_text(encoding="utf-8"))
REFERENCE = dt.datetime.fromisoformat(DATASET["reference_time"].replace("Z", "+00:00"))



@pytest.fixture
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(directory))
    return directory


async def start_and_stop(path, **settings) -> str:
    async with running(make_settings(database=str(path), **settings)) as em:
        return em.emulator.data_note


@pytest.mark.parametrize("settings", [{}, {"fixtures": None}], ids=["data set", "empty"])
async def test_a_store_copied_from_the_template_is_the_store_a_build_makes(cache, tmp_path, monkeypatch, settings):
    first = REFERENCE + dt.timedelta(days=3, seconds=17)
    note = await start_and_stop(tmp_path / "first.db", clock_start=first, **settings)  # builds, keeps the template
    (template,) = cache.iterdir()
    for days in (-2, 0, 40):  # before, at and after the data set's reference time
        moment = REFERENCE + dt.timedelta(days=days, seconds=5)
        copied, built = tmp_path / f"copied{days}.db", tmp_path / f"built{days}.db"
        stamp = template.stat().st_mtime_ns
        assert await start_and_stop(copied, clock_start=moment, **settings) == note
        assert template.stat().st_mtime_ns == stamp  # used, not made again
        monkeypatch.setenv(CACHE_ENV, "")  # no templates: built as before
        await start_and_stop(built, clock_start=moment, **settings)
        monkeypatch.setenv(CACHE_ENV, str(cache))
        assert store_dump(copied) == store_dump(built)


async def test_the_copy_reads_as_the_data_set_moved_to_the_clock(cache, tmp_path):
    await start_and_stop(tmp_path / "first.db")
    postponed = next(row for row in DATASET["tables"]["asyncoperation"] if row.get("postponeuntil"))
    shift = dt.timedelta(days=9)
    async with running(make_settings(database=str(tmp_path / "copy.db"), clock_start=REFERENCE + shift)) as em:
        row = (await em.get(f"asyncoperations({postponed['asyncoperationid']})?$select=postponeuntil")).json()
    written = dt.datetime.fromisoformat(postponed["postponeuntil"].replace("Z", "+00:00"))
    assert row["postponeuntil"] == (written + shift).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_store_that_exists_is_never_replaced_by_the_template(cache, tmp_path):
    await start_and_stop(tmp_path / "first.db")
    kept = tmp_path / "kept.db"
    async with running(make_settings(database=str(kept))) as em:
        assert (await em.client.delete(f"/api/data/v9.2/asyncoperations({DATASET['tables']['asyncoperation'][0]['asyncoperationid']})")).status_code == 204
        count = (await em.get("asyncoperations/$count")).text
    assert await start_and_stop(kept) == "kept the data already in the store"
    async with running(make_settings(database=str(kept))) as em:
        assert (await em.get("asyncoperations/$count")).text == count


async def test_a_changed_data_set_makes_a_template_of_its_own(cache, tmp_path):
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    shutil.copyfile(fixtures_dir() / "dataset.json", fixtures / "dataset.json")
    await start_and_stop(tmp_path / "a.db", fixtures=fixtures)
    edited = json.loads((fixtures / "dataset.json").read_text(encoding="utf-8"))
    removed = edited["tables"]["asyncoperation"].pop()
    (fixtures / "dataset.json").write_text(json.dumps(edited), encoding="utf-8")
    os.utime(fixtures / "dataset.json", ns=(1, 1))  # a different modification time, whatever the clock
    async with running(make_settings(database=str(tmp_path / "b.db"), fixtures=fixtures)) as em:
        assert (await em.get(f"asyncoperations({removed['asyncoperationid']})")).status_code == 404
    assert len(list(cache.iterdir())) == 2


async def test_a_data_set_refused_at_the_new_moment_leaves_no_store(cache, tmp_path):
    """The data set is checked at the new shift before the copy is made, as a load checks it: a
    recurring job whose rule ends before its moved start refuses the start, and no store file is left
    (a copy left unmoved would read as an initialized store at the next start)."""
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    edited = json.loads(json.dumps(DATASET))
    job = next(row for row in edited["tables"]["asyncoperation"] if row.get("recurrencepattern"))
    job["recurrencepattern"] = "FREQ=DAILY;UNTIL=20261201T000000Z"  # a month after the reference time
    (fixtures / "dataset.json").write_text(json.dumps(edited), encoding="utf-8")
    await start_and_stop(tmp_path / "a.db", fixtures=fixtures)  # at the reference time: fine, and kept
    assert len(list(cache.iterdir())) == 1
    late = tmp_path / "late.db"
    with pytest.raises(RecurrenceError, match="would never run again"):
        await start_and_stop(late, fixtures=fixtures, clock_start=REFERENCE + dt.timedelta(days=400))
    assert not late.exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".late")] == []


async def test_no_cache_directory_or_an_unusable_one_builds_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "")
    assert cache_dir() is None
    await start_and_stop(tmp_path / "a.db")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory would be")
    monkeypatch.setenv(CACHE_ENV, str(blocked))
    note = await start_and_stop(tmp_path / "b.db")
    assert note.startswith("loaded the data set")
    assert store_dump(tmp_path / "b.db") != []


async def test_only_the_newest_templates_are_kept(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(templates, "KEPT", 2)
    cache.mkdir()
    for age in range(3):  # older templates, of code that has changed since
        old = cache / f"store-old{age}.db"
        old.write_bytes(b"")
        os.utime(old, ns=(age + 1, age + 1))
    await start_and_stop(tmp_path / "a.db")
    kept = {path.name for path in cache.glob("store-*.db")}
    assert len(kept) == 2 and "store-old2.db" in kept  # the one just made, and the newest old one


def test_the_default_cache_directory_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "odata-emulator"
