"""ROW tokens, fast: a chunk of rows in the store's form encoded by straight-line Python made once per
result shape.

`rows_encoder` generates, for the column types at hand, one function whose loop writes a row as one
`bytes.join` of its values, each value an inline expression (no Python call per value): a fixed-size
value and its length byte in one struct pack; text through `codecs.utf_16_le_encode` (a direct call,
where `str.encode('utf-16-le')` looks the codec up by name each time); a date-time's epoch seconds
split into datetime's (days since 1900, 1/300 s ticks) by integer arithmetic; a GUID by one lookup.
Before the loop, each GUID column's distinct values are converted together (`_guids`: one join, one
`bytes.fromhex` and 17 slice assignments for the chunk, where one GUID at a time costs a few Python
steps each, and a key column holds nothing but distinct GUIDs). Short nvarchar(n) texts are written once
per chunk (a dict of those written, local to the call, answers the repeats). A chunk holding anything
unusual (an out-of-range number or date, a float where the fast path takes whole seconds, text where a
number was expected, a GUID in another spelling) is encoded again value by value with
`encoders.encoder`, which converts what SQL Server would and raises its error for the rest: both write
the same bytes for every value the fast path takes.
"""

from __future__ import annotations

import codecs
import functools
import operator
import struct
from collections.abc import Callable, Sequence
from typing import Any

from .encoders import DAYS_0001, EPOCH_1900, MAX_DATETIME, MIN_DATETIME, encoder
from .types import SqlType

# Whole epoch seconds that datetime and date hold (1753-01-01 .. 9999-12-31 23:59:59; 0001-01-01 ..).
_DATETIME_RANGE = f"{MIN_DATETIME} <= {{v}} <= {int(MAX_DATETIME)}"
_DATE_RANGE = f"{-DAYS_0001 * 86400} <= {{v}} <= {int(MAX_DATETIME)}"

_INLINE = {
    "int": "b'\\x00' if {v} is None else _i4(4, {v})",
    "bigint": "b'\\x00' if {v} is None else _i8(8, {v})",
    "smallint": "b'\\x00' if {v} is None else _i2(2, {v})",
    "tinyint": "b'\\x00' if {v} is None else _u1(1, {v})",
    "bit": "b'\\x00' if {v} is None else (b'\\x01\\x01' if {v} else b'\\x01\\x00')",
    "float": "b'\\x00' if {v} is None else _f8(8, {v})",
    "real": "b'\\x00' if {v} is None else _f4(4, {v})",
    # a float's `//` stays a float, which the struct refuses: whole seconds only, the rest value by value
    "datetime": (f"b'\\x00' if {{v}} is None else (_dt(8, (_s := {{v}} + {EPOCH_1900}) // 86400, _s % 86400 * 300) "
                 f"if {_DATETIME_RANGE} else _bad())"),
    "date": (f"b'\\x00' if {{v}} is None else (b'\\x03' + ({{v}} // 86400 + {DAYS_0001}).to_bytes(3, 'little') "
             f"if {_DATE_RANGE} else _bad())"),
    # the chunk's GUIDs are converted together before its rows (`_guids`): a lookup per value
    "uniqueidentifier": "guids{i}[{v}]",
}
_NVARCHAR = "b'\\xff\\xff' if {v} is None else (_text_seen({v}) or _text({v}, texts))"
_PLP = ("b'\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff' if {v} is None else "
        "(_plp_len(_n, _n) + _e + b'\\x00\\x00\\x00\\x00' if (_n := len(_e := _utf16({v})[0])) "
        "else b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00')")


class _Unusual(Exception):
    pass


def _bad():
    raise _Unusual


# A chunk's GUIDs and short texts are written once each: the generated function keeps, for the chunk at
# hand only, the wire bytes of those it has written (a lookup column repeats a few ids; names, labels
# and messages repeat), so nothing is held from one chunk or result to the next.
TEXT_MEMO_BYTES = 512  # longer texts are not kept (their UTF-16 would cost more to hold than to redo)
_U2 = struct.Struct("<H").pack
_UTF16 = codecs.utf_16_le_encode


# Where each of a GUID's 16 wire bytes comes from in its text's 16 bytes: the first three groups reversed
# (little-endian), the last two as written.
_GUID_ORDER = (3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15)
_GUID_DASHES = (8, 13, 18, 23)


def _guids(seen: dict) -> dict:
    """A chunk's GUID column: its distinct values (the keys of `seen`) mapped to their wire bytes. The
    canonical texts are converted together (one join, one `bytes.fromhex`, the bytes put in wire order
    by 17 slice assignments): C loops instead of a few Python steps per GUID. Checked as a whole: each
    text 36 characters with its hyphens in place and 32 hex digits (`fromhex` skips whitespace: the
    length of what it makes tells). Anything else is unusual: the chunk goes value by value."""
    texts = [text for text in seen if text is not None]
    if texts:
        count = len(texts)
        joined = "".join(texts)  # TypeError for a value that is not text
        if (len(joined) != 36 * count or min(map(len, texts)) != 36
                or not all(joined[at::36] == "-" * count for at in _GUID_DASHES)):
            raise _Unusual
        blob = bytes.fromhex(joined.replace("-", ""))  # ValueError for a digit that is not hex
        if len(blob) != 16 * count:
            raise _Unusual
        wire = bytearray(17 * count)
        wire[0::17] = b"\x10" * count
        for target, source in enumerate(_GUID_ORDER, 1):
            wire[target::17] = blob[source::16]
        written = bytes(wire)
        seen.update(zip(texts, [written[at:at + 17] for at in range(0, 17 * count, 17)]))
    if None in seen:
        seen[None] = b"\x00"
    return seen


def _text(text: str, seen: dict) -> bytes:
    """nvarchar(n): its byte length, then its UTF-16 (past 8000 bytes only nvarchar(max) can carry it)."""
    raw = _UTF16(text)[0]
    size = len(raw)
    if size > 8000:
        raise _Unusual
    wire = _U2(size) + raw
    if size <= TEXT_MEMO_BYTES:
        seen[text] = wire
    return wire


# A value and its length byte in one pack (no concatenation per value); a PLP value's total and only-chunk
# lengths together; datetime's days (signed) and ticks.
_GLOBALS = {
    "_i4": struct.Struct("<Bi").pack, "_i8": struct.Struct("<Bq").pack, "_i2": struct.Struct("<Bh").pack,
    "_u1": struct.Struct("<BB").pack, "_f8": struct.Struct("<Bd").pack, "_f4": struct.Struct("<Bf").pack,
    "_dt": struct.Struct("<BiI").pack, "_plp_len": struct.Struct("<QI").pack,
    "_utf16": _UTF16, "_guids": _guids, "_text": _text, "_bad": _bad,
    "_join": b"".join, "_column": operator.itemgetter,
}


@functools.lru_cache(maxsize=256)
def _cached(types: tuple[SqlType, ...]) -> Callable[[list], bytes]:
    return _make(types)


def rows_encoder(types: Sequence[SqlType]) -> Callable[[list], bytes]:
    """A function writing a list of rows (tuples of values in the store's form) as ROW tokens; made once
    per result shape."""
    return _cached(tuple(types))


def fast_source(types: Sequence[SqlType]) -> str:
    """The generated function's source (`fast(rows) -> bytes`); a column without an inline form calls
    `_slow<index>`."""
    parts, guid_columns = [], []
    for index, sqltype in enumerate(types):
        template = _INLINE.get(sqltype.name)
        if template is None and sqltype.name == "nvarchar":
            template = _PLP if sqltype.is_max else _NVARCHAR
        if sqltype.name == "uniqueidentifier":
            guid_columns.append(f"    guids{index} = _guids(dict.fromkeys(map(_column({index}), rows)))\n")
        parts.append(f"({template.format(v=f'v{index}', i=index)})" if template else f"_slow{index}(v{index})")
    names = ", ".join(f"v{i}" for i in range(len(types))) + ("," if len(types) == 1 else "") if types else "_"
    return (
        "def fast(rows):\n"
        + "".join(guid_columns) +
        "    texts = {}\n"
        "    _text_seen = texts.get\n"
        "    out = []\n"
        "    add = out.append\n"
        f"    for {names} in rows:\n"
        f"        add(_join((b'\\xd1', {', '.join(parts)})))\n"
        "    return _join(out)\n"
    )


def _make(types: tuple[SqlType, ...]) -> Callable[[list], bytes]:
    slow = [encoder(t) for t in types]
    namespace: dict[str, Any] = dict(_GLOBALS)
    namespace.update({f"_slow{i}": function for i, function in enumerate(slow)})
    exec(compile(fast_source(types), f"<tds rows {','.join(str(t) for t in types)}>", "exec"), namespace)
    fast = namespace["fast"]

    def careful(rows: list) -> bytes:
        return b"".join(b"\xd1" + b"".join([encode(value) for encode, value in zip(slow, row)]) for row in rows)

    def encode(rows: list) -> bytes:
        try:
            return fast(rows)
        except (_Unusual, struct.error, TypeError, ValueError, AttributeError, OverflowError):
            return careful(rows)
    return encode
