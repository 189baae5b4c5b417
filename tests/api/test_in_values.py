"""Malformed `PropertyValues` of `Microsoft.Dynamics.CRM.In` (and its kin), through `GET asyncoperations`.

Follows webapi/query/filter-rows.md, "Manage single quotes": values holding an apostrophe must be
double-quoted in the array (`@p2=["OBrian","O'Brian"]`); written in single quotes the array answers
"Invalid JSON. A comma character ',' was expected in scope 'Array'. Every two elements in an array and
properties of an object must be separated by commas.", and a single value in `eq` written with one quote
answers "There is an unterminated literal at position 21 in ...". Where the docs give no text the
emulator keeps its own (docs/deviations.md).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.helpers import assert_error, assert_ok, seed_jobs

pytestmark = pytest.mark.asyncio

MISSING_COMMA = ("Invalid JSON. A comma character ',' was expected in scope 'Array'. Every two elements in an "
                 "array and properties of an object must be separated by commas.")
IN = "Microsoft.Dynamics.CRM.In(PropertyName=@p1,PropertyValues=@p2)"


async def get(emulated, filter_: str, p2: str | None = None):
    query = f"$select=name&$filter={quote(filter_, safe='=(),@')}"
    if p2 is not None:
        query += f"&@p1='name'&@p2={quote(p2, safe='')}"
    return await emulated.get(f"asyncoperations?{query}")


async def test_the_documented_array_with_apostrophes(emulated):
    """filter-rows.md, Manage single quotes: `@p2=["OBrian","OBryan","O'Brian","O'Bryan"]` works; the same values
    in single quotes answer the docs' "Invalid JSON. A comma character ',' was expected in scope 'Array'..."."""
    await seed_jobs(emulated, {"name": "O'Brian", "postponeuntil": "2099-01-01T00:00:00Z"},
                    {"name": "OBryan", "postponeuntil": "2099-01-01T00:00:00Z"})
    body = assert_ok(await get(emulated, IN, '["OBrian","OBryan","O\'Brian","O\'Bryan"]'))
    assert sorted(r["name"] for r in body["value"]) == ["O'Brian", "OBryan"]
    assert_error(await get(emulated, IN, "['OBrian','OBryan','O'Brian','O'Bryan']"), 400, "0x80060888", MISSING_COMMA)
    assert_error(await get(emulated, IN, '["OBrian" "OBryan"]'), 400, "0x80060888", MISSING_COMMA)


async def test_single_quoted_values_without_apostrophes_are_read(emulated):
    """filter-rows.md: the array is JSON as ODataLib reads it; values in single quotes are accepted when they
    hold no apostrophe (as they are inline: `PropertyValues=['31','32']`)."""
    await seed_jobs(emulated, {"name": "OBrian", "postponeuntil": "2099-01-01T00:00:00Z"})
    body = assert_ok(await get(emulated, IN, "['OBrian','nobody']"))
    assert [r["name"] for r in body["value"]] == ["OBrian"]


async def test_a_single_value_with_one_quote(emulated):
    """filter-rows.md: `lastname eq 'O'Bryan'` answers "There is an unterminated literal at position 21 in
    'lastname eq 'O'Bryan''." (here the column is `name`, so the position is 17)."""
    assert_error(await get(emulated, "name eq 'O'Bryan'"), 400, "0x80060888",
                 "There is an unterminated literal at position 17 in 'name eq 'O'Bryan''.")


async def test_other_malformed_arrays_keep_the_emulators_text(emulated):
    """filter-rows.md prints no text for these: the emulator's own, as docs/deviations.md says."""
    for p2 in ('["a",]', "[,]", '[["a"]]', "[abc]", '["a"'):
        assert_error(await get(emulated, IN, p2), 400, "0x80060888", f"Invalid JSON array '{p2}'.")
    assert_error(await get(emulated, IN, "[]"), 400, "0x80060888",
                 "The parameter 'PropertyValues' of function 'In' must hold at least one value.")
