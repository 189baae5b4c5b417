"""Pages written as JSON by SQLite (`api/sql_json.py`) read as the Python writer writes them, for any
text Hypothesis makes and any Double (the examples in tests/api/test_sql_json.py are the fixed ones)."""

from __future__ import annotations

import sqlite3

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import literal_column

from odata_emulator.api import sql_json
from odata_emulator.model import AttributeType
from odata_emulator.store.values import register_functions
from tests.helpers import assert_same_answer, both_writers

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(TEXT, min_size=1, max_size=5))
async def test_any_text_reads_theassert_same_answer(emulated, monkeypatch, names):
    for name in names:
        created = await emulated.request("POST", "accounts", json={"name": name})
        assert created.status_code == 204, created.text
    by_sqlite, by_python = await both_writers(emulated, "accounts?$select=name,accountid&$orderby=name", monkeypatch)
    assert_same_answer(by_sqlite, by_python)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(
    [0.0, -0.0, 5.0, 0.1, 1e16, 1e-7, 123456789.123, 1.7976931348623157e308, 5e-324, 2.0 ** 53, 12.34])))
def test_a_double_reads_as_orjson_writes_it(value):
    with sqlite3.connect(":memory:") as db:
        register_functions(db)
        column = literal_column("?")
        expression = sql_json._value(AttributeType.DOUBLE, column)
        assert expression is not None
        sql = f"SELECT json_object('x', {expression.compile(compile_kwargs={'literal_binds': True})})"
        assert db.execute(sql, (value,)).fetchone()[0] == orjson.dumps({"x": value}).decode()
