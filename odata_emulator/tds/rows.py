"""ROW tokens, fast: the result's conversions done by SQLite, the encoding by straight-line Python
made once per result shape.

A result's columns are read through `wire_sql`, which has SQLite turn a date-time's epoch seconds into
datetime's (days, 1/300 s ticks) packed in one integer. `rows_encoder` then writes each value with a
byte prefix and one pack, `encode` or `bytes.fromhex` call (a GUID's groups reordered by struct), in a
function generated for the column types at hand (no call per value). A chunk holding anything unusual
(an out-of-range number, text where a number was expected) is encoded again value by value with
`types.encoder`, which converts what SQL Server would and raises its error for the rest.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from typing import Any

from .encoders import EPOCH_1900, MAX_DATETIME, encoder
from .types import SqlType

# The storage form's epoch seconds for which the packed form is exact (1900-01-01 .. 9999-12-31).
_FIRST, _LAST = -EPOCH_1900, int(MAX_DATETIME)


def wire_sql(sqltype: SqlType, ref: str) -> str:
    """SQL reading `ref` (a storage-form value of `sqltype`) in the form `rows_encoder` writes fastest."""
    if sqltype.name == "datetime":
        s = f"({ref} + {EPOCH_1900})"
        days = f"CAST({s} / 86400 AS INTEGER)"
        ticks = f"min(CAST(({s} - {days} * 86400) * 300 + 0.5 AS INTEGER), 25919999)"
        return (f"CASE WHEN {ref} BETWEEN {_FIRST} AND {_LAST} THEN {ticks} * 4294967296 + {days} "
                f"ELSE CAST({ref} AS REAL) END")
    if sqltype.name == "date":
        return f"CASE WHEN {ref} BETWEEN 0 AND {_LAST} THEN CAST({ref} / 86400 AS INTEGER) + 719162 ELSE CAST({ref} AS REAL) END"
    return ref


def _slow_wire(sqltype: SqlType) -> Callable:
    """One value in wire form, value by value (the fallback)."""
    plain = encoder(sqltype)
    name = sqltype.name
    if name in ("datetime", "date"):
        def temporal(value):
            if isinstance(value, int) and not isinstance(value, bool):
                return (b"\x08" + value.to_bytes(8, "little")) if name == "datetime" else b"\x03" + value.to_bytes(3, "little")
            return plain(value)  # an epoch outside the packed range, as stored
        return temporal
    return plain


_INLINE = {
    "int": "b'\\x00' if {v} is None else _i4(4, {v})",
    "bigint": "b'\\x00' if {v} is None else _i8(8, {v})",
    "smallint": "b'\\x00' if {v} is None else _i2(2, {v})",
    "tinyint": "b'\\x00' if {v} is None else _u1(1, {v})",
    "bit": "b'\\x00' if {v} is None else (b'\\x01\\x01' if {v} else b'\\x01\\x00')",
    "float": "b'\\x00' if {v} is None else _f8(8, {v})",
    "real": "b'\\x00' if {v} is None else _f4(4, {v})",
    # GUID text to its wire bytes: the first three groups little-endian, the last two as written
    "uniqueidentifier": ("b'\\x00' if {v} is None else (_guid(16, *_groups(_hex({v}.replace('-', '')))) "
                         "if len({v}) == 36 else _bad())"),
}
_WIRE_INLINE = {
    "datetime": "b'\\x00' if {v} is None else _u8(8, {v})",
    "date": "b'\\x00' if {v} is None else b'\\x03' + {v}.to_bytes(3, 'little')",
}
_NVARCHAR = ("b'\\xff\\xff' if {v} is None else (_u2(_n) + _e if (_n := len(_e := {v}.encode('utf-16-le'))) <= 8000 "
             "else _bad())")
_PLP = ("b'\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff' if {v} is None else "
        "(_plp_len(_n, _n) + _e + b'\\x00\\x00\\x00\\x00' if (_n := len(_e := {v}.encode('utf-16-le'))) "
        "else b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00')")


class _Unusual(Exception):
    pass


def _bad():
    raise _Unusual


# A value and its length byte in one pack (no concatenation per value); a GUID's groups swapped by
# unpacking big-endian and packing little-endian; a PLP value's total and only-chunk lengths together.
_GLOBALS = {
    "_i4": struct.Struct("<Bi").pack, "_i8": struct.Struct("<Bq").pack, "_i2": struct.Struct("<Bh").pack,
    "_u1": struct.Struct("<BB").pack, "_f8": struct.Struct("<Bd").pack, "_f4": struct.Struct("<Bf").pack,
    "_u8": struct.Struct("<BQ").pack, "_u2": struct.Struct("<H").pack,
    "_guid": struct.Struct("<BIHH8s").pack, "_groups": struct.Struct(">IHH8s").unpack,
    "_plp_len": struct.Struct("<QI").pack,
    "_hex": bytes.fromhex, "_bad": _bad,
}


@functools.lru_cache(maxsize=256)
def _cached(types: tuple[SqlType, ...], wire: bool) -> Callable[[list], bytes]:
    return _make(types, wire)


def rows_encoder(types: Sequence[SqlType], *, wire: bool = True) -> Callable[[list], bytes]:
    """A function writing a list of rows (tuples from `wire_sql`, or in storage form with wire=False)
    as ROW tokens; made once per result shape."""
    return _cached(tuple(types), wire)


def _make(types: tuple[SqlType, ...], wire: bool) -> Callable[[list], bytes]:
    slow = [(_slow_wire(t) if wire else encoder(t)) for t in types]
    parts = []
    for index, sqltype in enumerate(types):
        v = f"v{index}"
        template = _INLINE.get(sqltype.name)
        if template is None and wire:
            template = _WIRE_INLINE.get(sqltype.name)
        if template is None and sqltype.name == "nvarchar":
            template = _PLP if sqltype.is_max else _NVARCHAR
        parts.append(f"({template.format(v=v)})" if template else f"_slow{index}({v})")
    names = ", ".join(f"v{i}" for i in range(len(types))) + ("," if len(types) == 1 else "")
    body = " + ".join(parts) if parts else "b''"
    source = (
        "def fast(rows):\n"
        "    out = []\n"
        "    add = out.append\n"
        f"    for {names} in rows:\n"
        f"        add(b'\\xd1' + {body})\n"
        "    return b''.join(out)\n"
    )
    namespace: dict[str, Any] = dict(_GLOBALS)
    namespace.update({f"_slow{i}": function for i, function in enumerate(slow)})
    exec(compile(source, f"<tds rows {','.join(str(t) for t in types)}>", "exec"), namespace)
    fast = namespace["fast"]

    def careful(rows: list) -> bytes:
        return b"".join(b"\xd1" + b"".join([encode(value) for encode, value in zip(slow, row)]) for row in rows)

    def encode(rows: list) -> bytes:
        try:
            return fast(rows)
        except (_Unusual, struct.error, TypeError, ValueError, AttributeError, OverflowError):
            return careful(rows)
    return encode
