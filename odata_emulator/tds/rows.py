"""ROW tokens, fast: a chunk of rows in the store's form encoded by compiled code (`_rows.c`) where the
install could build it (hatch_build.py), and otherwise by straight-line Python made once per result
shape. Both write the same bytes, and both give up on the same values (below), which then go value by
value; the compiled one takes about a seventh of the time (query 01's 1000 rows × 28 columns: ~1.1 ms
against ~7.6 ms).

The generated Python:

`rows_encoder` generates, for the column types at hand, one function whose loop writes a row as one
`bytes.join` of its values, each value an inline expression (no Python call per value). A struct call
costs about as much as converting the value it packs, so a run of adjacent fixed-size columns (ints,
bit, floats, date-times, dates, GUIDs; up to `RUN` of them) is packed by one call: a NULL of those
types is the single byte 0 (struct's pad byte `x`), and the run is a tree of `is None` tests whose
leaves, one per pattern of NULLs, each pack the values present. Text goes through
`codecs.utf_16_le_encode` (a direct call, where `str.encode('utf-16-le')` looks the codec up by name
each time). A date-time's epoch seconds become datetime's (days since 1900, 1/300 s ticks) by integer
arithmetic, the range checked on the day number (a small int, cheaper to compare than the seconds).
Before the loop, each GUID column of the chunk is converted together (`_guids`: one join, one
`binascii.a2b_hex` and a few byte swaps for the chunk, where one GUID at a time costs a few Python
steps each). Texts are written once per chunk (dicts of those written, local to the call, answer the
repeats). A chunk holding anything unusual (an out-of-range number or date, a float where the fast path
takes whole seconds, text where a number was expected, a GUID in another spelling) is encoded again
value by value with `encoders.encoder`, which converts what SQL Server would and raises its error for
the rest: both write the same bytes for every value the fast path takes.
"""

from __future__ import annotations

import array
import binascii
import codecs
import functools
import operator
import struct
from collections.abc import Callable, Sequence
from typing import Any

from .encoders import DAYS_0001, EPOCH_1900, MAX_DATETIME, MIN_DATETIME, PLP_CHUNK, encoder
from .types import NVARCHAR_MAX, SqlType

try:
    from . import _rows as _compiled
except ImportError:  # a pure-Python install (no C compiler where it was built)
    _compiled = None  # type: ignore[assignment]

# Fixed-size columns packed by one call at most: a run's tree has 2**RUN leaves, and compiling them is
# what a new result shape waits for (query 01's 28 columns: about 4 ms, against 2 ms for a call per value).
RUN = 5

# Each fixed-size type's struct codes (its length byte, then its value) and arguments: {v} the value,
# {d} a date-time's or date's day number, {i} the column. A date's length byte 3 then its 3-byte day
# number are the little-endian uint32 `day * 256 + 3`. bit's `?` writes the truth of any value, as the
# value-by-value encoder does. A GUID's 16 bytes come from the chunk's conversion (`g{i}`).
_FIXED = {
    "int": ("Bi", "4, {v}"),
    "bigint": ("Bq", "8, {v}"),
    "smallint": ("Bh", "2, {v}"),
    "tinyint": ("BB", "1, {v}"),
    "bit": ("B?", "1, {v}"),
    "float": ("Bd", "8, {v}"),
    "real": ("Bf", "4, {v}"),
    "datetime": ("BiI", "8, {d}, {v} % 86400 * 300"),
    "date": ("I", "{d} * 256 + 3"),
    "uniqueidentifier": ("B16s", "16, g{i}"),
}

# Alone, cheaper than a pack call: a bit is one of three constants, a GUID its length byte and 16 bytes.
_ALONE = {
    "bit": "(b'\\x00' if {v} is None else (b'\\x01\\x01' if {v} else b'\\x01\\x00'))",
    "uniqueidentifier": "(b'\\x00' if {v} is None else b'\\x10' + g{i})",
}

# A date-time's day since 1900-01-01 (datetime holds 1753-01-01 .. 9999-12-31) or a date's since
# 0001-01-01 (date holds up to 9999-12-31), and whether it is in range: epoch seconds are in range
# exactly when their day is (the range's ends are whole days). Integer arithmetic: a float's `//` stays a
# float, which the struct refuses (whole seconds only; the rest goes value by value).
_DAYS_1900 = EPOCH_1900 // 86400
_DAY_CHECK = {
    "datetime": (f"{MIN_DATETIME // 86400 + _DAYS_1900} <= ({{d}} := {{v}} // 86400 + {_DAYS_1900}) "
                 f"<= {int(MAX_DATETIME) // 86400 + _DAYS_1900}"),
    "date": f"0 <= ({{d}} := {{v}} // 86400 + {DAYS_0001}) <= {int(MAX_DATETIME) // 86400 + DAYS_0001}",
}

# nvarchar(n): a text written before in this chunk is looked up; a new one is written (its byte length,
# then its UTF-16; past 8000 bytes only nvarchar(max) can carry it) and kept. nvarchar(max): the same
# through `_plp`.
_NVARCHAR = ("b'\\xff\\xff' if {v} is None else (_text_seen({v}) or _text_keep({v}, _U2(_n) + _e "
             "if (_n := len(_e := _utf16({v})[0])) <= 8000 else _bad()))")
_PLP = "b'\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff' if {v} is None else (_plp_seen({v}) or _plp({v}, plps))"


class _Unusual(Exception):
    pass


def _bad():
    raise _Unusual


# A chunk's texts are written once each: the generated function keeps, for the chunk at hand only, the
# wire bytes of those it has written (names, labels and messages repeat), so nothing is held from one
# chunk or result to the next. Every nvarchar(n) text is kept (8000 bytes at most); an nvarchar(max)
# text longer than TEXT_MEMO_BYTES is not (its UTF-16 would cost more to hold than to redo).
TEXT_MEMO_BYTES = 512
_U2 = struct.Struct("<H").pack
_PLP_HEAD = struct.Struct("<QI").pack  # a PLP value's total length, then its only chunk's
_UTF16 = codecs.utf_16_le_encode
_careful_plp = encoder(NVARCHAR_MAX)


def _plp(text: str, seen: dict) -> bytes:
    """nvarchar(max) as PLP: the total length, one chunk (its length, its UTF-16), the terminator; an
    empty text has no chunk. Past PLP_CHUNK bytes the value-by-value encoder cuts it in chunks."""
    raw = _UTF16(text)[0]  # TypeError for a value that is not text
    size = len(raw)
    if not size:
        wire = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    elif size > PLP_CHUNK:
        return _careful_plp(text)
    else:
        wire = b"".join((_PLP_HEAD(size, size), raw, b"\x00\x00\x00\x00"))
    if size <= TEXT_MEMO_BYTES:
        seen[text] = wire
    return wire


_GUID_DASHES = (8, 13, 18, 23)
_NIL_GUID = "00000000-0000-0000-0000-000000000000"


@functools.lru_cache(maxsize=16)
def _guid_values(count: int) -> struct.Struct:
    """Cuts a chunk's GUIDs into 16-byte values (kept for the next chunks: they mostly have one size)."""
    return struct.Struct("16s" * count)


def _guids(values: list) -> tuple:
    """A chunk's GUID column (its values in row order) as their 16 wire bytes each, in row order (a
    NULL's are never written). Converted together, by C loops instead of a few Python steps per GUID:
    joined with commas into 37-character records, the hyphens and commas deleted, one `a2b_hex`, the
    first three groups' bytes reversed (little-endian) by byte swaps of 32- and 16-bit units, one unpack
    into 16-byte values. Checked as a whole: hyphens and commas where they belong and hex digits
    everywhere else (a text longer or shorter than 36 characters would move a comma onto a digit's or a
    hyphen's place), so each text is the canonical 8-4-4-4-12 spelling; anything else is unusual: the
    chunk goes value by value. In row order, with no dict of the distinct values: hashing the texts
    costs about as much as converting them."""
    count = len(values)
    if not count:
        return ()
    try:
        joined = ",".join(values)
    except TypeError:  # a NULL (converted as the nil GUID, never written), or a value that is not text
        joined = ",".join([_NIL_GUID if value is None else value for value in values])
    if (len(joined) != 37 * count - 1 or joined[36::37] != "," * (count - 1)
            or not all(joined[at::37] == "-" * count for at in _GUID_DASHES)):
        raise _Unusual
    # UnicodeEncodeError or binascii.Error, both ValueErrors, for a character that is not a hex digit
    raw = binascii.a2b_hex(joined.encode("ascii").translate(None, b"-,"))
    if len(raw) != 16 * count:  # a hyphen or comma in a digit's place
        raise _Unusual
    words, swapped = array.array("I", raw), array.array("I", raw)  # "I": 4 bytes wherever CPython runs
    swapped.byteswap()
    words[0::4] = swapped[0::4]  # bytes 0-3 reversed
    halves = array.array("H", words.tobytes())
    swapped = array.array("H", halves)
    swapped.byteswap()
    halves[2::8] = swapped[2::8]  # bytes 4-5 and 6-7 each reversed
    halves[3::8] = swapped[3::8]
    return _guid_values(count).unpack(halves.tobytes())


_GLOBALS = {"_utf16": _UTF16, "_U2": _U2, "_plp": _plp, "_guids": _guids, "_bad": _bad,
            "_join": b"".join, "_column": operator.itemgetter}


@functools.lru_cache(maxsize=256)
def _cached(types: tuple[SqlType, ...]) -> Callable[[list], bytes]:
    return _make(types)


def rows_encoder(types: Sequence[SqlType]) -> Callable[[list], bytes]:
    """A function writing a list of rows (tuples of values in the store's form) as ROW tokens; made once
    per result shape."""
    return _cached(tuple(types))


def _segments(types: Sequence[SqlType]) -> list[list[int]]:
    """The columns in row order, grouped: runs of up to RUN adjacent fixed-size columns, every other
    column alone."""
    segments: list[list[int]] = []
    for index, sqltype in enumerate(types):
        last = segments[-1] if segments else []
        if sqltype.name in _FIXED and last and types[last[-1]].name in _FIXED and len(last) < RUN:
            last.append(index)
        else:
            segments.append([index])
    return segments


def _run_source(run: list[int], types: Sequence[SqlType], packers: dict[str, str], nulls: tuple = ()) -> str:
    """A run of fixed-size columns as an expression: an `is None` test per column (a date-time's or
    date's day number computed and checked on the way past) down to a leaf per pattern of NULLs, which
    packs the run's values, a NULL as the pad byte 0, in one call (`packers`: struct codes -> name)."""
    if len(run) == 1 and types[run[0]].name in _ALONE:
        return _ALONE[types[run[0]].name].format(v=f"v{run[0]}", i=run[0])
    if len(nulls) < len(run):
        index = run[len(nulls)]
        present = _run_source(run, types, packers, nulls + (False,))
        check = _DAY_CHECK.get(types[index].name)
        if check:
            present = f"({present} if {check.format(v=f'v{index}', d=f'_d{index}')} else _bad())"
        return f"({_run_source(run, types, packers, nulls + (True,))} if v{index} is None else {present})"
    if all(nulls):
        return repr(bytes(len(run)))
    codes, arguments = "<", []
    for index, null in zip(run, nulls):
        code, template = _FIXED[types[index].name]
        codes += "x" if null else code
        if not null:
            arguments.append(template.format(v=f"v{index}", d=f"_d{index}", i=index))
    name = packers.setdefault(codes, f"_pack{len(packers)}")
    return f"{name}({', '.join(arguments)})"


def _source(types: Sequence[SqlType]) -> tuple[str, dict[str, str]]:
    """The generated function's source (`fast(rows) -> bytes`) and the struct codes of the packers it
    calls by name; a column of another type calls its value-by-value encoder `_slow<index>`."""
    packers: dict[str, str] = {}
    parts = []
    for segment in _segments(types):
        index = segment[0]
        sqltype = types[index]
        if sqltype.name in _FIXED:
            parts.append(_run_source(segment, types, packers))
        elif sqltype.name == "nvarchar":
            parts.append(f"({(_PLP if sqltype.is_max else _NVARCHAR).format(v=f'v{index}')})")
        else:
            parts.append(f"_slow{index}(v{index})")
    names = ", ".join(f"v{i}" for i in range(len(types))) + ("," if len(types) == 1 else "") if types else "_"
    guids = [i for i, sqltype in enumerate(types) if sqltype.name == "uniqueidentifier"]
    if guids:  # each row's values, then its GUIDs' wire bytes (`g<index>`)
        names = f"({names}), {', '.join(f'g{i}' for i in guids)}"
        rows = f"zip(rows, {', '.join(f'guids{i}' for i in guids)})"
    else:
        rows = "rows"
    source = (
        "def fast(rows):\n"
        + "".join(f"    guids{i} = _guids(list(map(_column({i}), rows)))\n" for i in guids) +
        "    texts = {}\n"
        "    _text_seen = texts.get\n"
        "    _text_keep = texts.setdefault\n"
        "    plps = {}\n"
        "    _plp_seen = plps.get\n"
        "    out = []\n"
        "    add = out.append\n"
        f"    for {names} in {rows}:\n"
        f"        add(_join((b'\\xd1', {', '.join(parts)})))\n"
        "    return _join(out)\n"
    )
    return source, packers


def fast_function(types: Sequence[SqlType], slow: Sequence[Callable[[Any], bytes]] = ()) -> Callable[[list], bytes]:
    """The generated function, which raises on anything unusual; `slow`: the value-by-value encoders
    of the columns, for those without an inline form."""
    source, packers = _source(types)
    namespace: dict[str, Any] = dict(_GLOBALS)
    namespace.update({name: struct.Struct(codes).pack for codes, name in packers.items()})
    namespace.update({f"_slow{i}": function for i, function in enumerate(slow or [encoder(t) for t in types])})
    exec(compile(source, f"<tds rows {','.join(str(t) for t in types)}>", "exec"), namespace)
    return namespace["fast"]


# The compiled encoder's code for each type (`_rows.c`'s KIND_ constants); "o": another type, whose
# value-by-value encoder it calls.
_KINDS = {"int": "i", "bigint": "q", "smallint": "h", "tinyint": "B", "bit": "?", "float": "d", "real": "f",
          "datetime": "T", "date": "D", "uniqueidentifier": "g"}


def compiled_function(types: Sequence[SqlType], slow: Sequence[Callable[[Any], bytes]] = ()
                      ) -> Callable[[list], bytes] | None:
    """The compiled encoder for these types (raising `_rows.Unusual`, a ValueError, on anything
    unusual), or None where the install has none; `slow` as for `fast_function`."""
    if _compiled is None:
        return None
    slow = slow or [encoder(t) for t in types]
    kinds = "".join(("m" if t.is_max else "n") if t.name == "nvarchar" else _KINDS.get(t.name, "o")
                    for t in types)
    others = tuple(function if kind == "o" else None for kind, function in zip(kinds, slow))
    encode, kinds_bytes = _compiled.encode, kinds.encode("ascii")

    def compiled(rows: list) -> bytes:
        return encode(rows, kinds_bytes, others)
    return compiled


def _make(types: tuple[SqlType, ...]) -> Callable[[list], bytes]:
    slow = [encoder(t) for t in types]
    return falling_back(compiled_function(types, slow) or fast_function(types, slow), slow)


def falling_back(fast: Callable[[list], bytes], slow: Sequence[Callable[[Any], bytes]]) -> Callable[[list], bytes]:
    """`fast`, with a chunk it gives up on encoded again value by value (`slow`: each column's encoder)."""
    def careful(rows: list) -> bytes:
        return b"".join(b"\xd1" + b"".join([encode(value) for encode, value in zip(slow, row)]) for row in rows)

    def encode(rows: list) -> bytes:
        try:
            return fast(rows)
        except (_Unusual, struct.error, TypeError, ValueError, AttributeError, OverflowError):
            return careful(rows)
    return encode
