"""The fixtures' template stores (`tests/conftest.py`): a copy serves a test exactly as a fresh load with
the same data settings would, so that building the store once per session changes no test's data."""

from __future__ import annotations

import pytest

from tests.helpers import copy_store, make_settings, running, store_dump


@pytest.mark.parametrize("settings", [{}, {"fixtures": None}], ids=["data set", "empty"])
async def test_a_copy_of_the_template_is_a_fresh_load(template_store, empty_template, tmp_path, settings):
    template = empty_template if "fixtures" in settings else template_store
    fresh, copied = tmp_path / "fresh.db", copy_store(template, tmp_path / "copy.db")
    seen = {}
    for path in (fresh, copied):
        async with running(make_settings(database=str(path), **settings)) as em:
            emulator = em.emulator
            count = (await em.get("asyncoperations/$count")).text
            seen[path] = (emulator.caller, emulator.clock.now(), count)
    assert seen[fresh] == seen[copied]
    assert (int(seen[fresh][2]) > 0) == ("fixtures" not in settings), "the data set was loaded, or none"
    assert store_dump(fresh) == store_dump(copied)
