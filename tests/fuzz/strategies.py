"""Hypothesis strategies shared by the fuzz modules: names and values from the real model, mixed
with what clients get wrong (huge numbers, unicode, control characters, stray quotes, junk)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from hypothesis import strategies as st

from odata_emulator.model import MODEL
from odata_emulator.model import AttributeType as T
from odata_emulator.query.datefunctions import CLOCK_FUNCTIONS

ENTITY = MODEL.entity("asyncoperation")
PROPERTIES = sorted(ENTITY.properties)
COLUMNS = sorted(ENTITY.columns)
READABLE = sorted(a.name for a in ENTITY.attributes if a.in_webapi and a.valid_for_read)
NAVIGATIONS = sorted(ENTITY.navigations)
ENTITY_SETS = [e.entity_set for e in MODEL.entities]
LOGICAL_NAMES = [e.logical_name for e in MODEL.entities]
OPTION_VALUES = {name: sorted(ENTITY.columns[name].option_set.labels) for name in ("statecode", "statuscode",
                                                                                   "operationtype")}
# Fixture rows (fixtures/dataset.json) and ids that exist nowhere.
JOB = "05afdb88-d7d6-4c93-b3e5-a330c1970fcd"
SYSTEM_USER = "f67a73f9-1da3-4124-974d-72e2bc80841b"
ZERO_GUID = "00000000-0000-0000-0000-000000000000"

# Text that is not a name or a value: the characters parsers trip on, control characters, unicode.
NASTY = ["'", "''", '"', "(", ")", "((", "))", ",", "/", "$", "@", ";", "=", "&", "%", "%zz", "%00", "%ff", "\\",
         "\x00", "\x01", "\x1f", "\x7f", "\t", "\n", "\r\n", " ", "\u00e9", "\u200b", "\ufeff", "\U0001f600",
         "\ud7ff", "\uffff", "<", ">", "]]>", "&amp;", "&#0;", "*", "[", "]", "{", "}", "~", "!", "+", "-", ".", ":",
         "null", "true", "eq", "not", "any(", "$filter=", "$top=", "$select=", "1e400", "-0", "NaN", "Infinity"]
HUGE_DIGITS = ["9" * 19, "9223372036854775807", "9223372036854775808", "18446744073709551616", "9" * 40,
               "9" * 400, "9" * 4301, "1" + "0" * 5000, "0" * 5000 + "1"]

names = st.sampled_from(PROPERTIES)
columns = st.sampled_from(COLUMNS)
junk = st.one_of(st.sampled_from(NASTY), st.text(max_size=12), st.text(alphabet=st.characters(max_codepoint=127),
                                                                       max_size=30))
# A name: usually real, sometimes near (case, prefix), sometimes nonsense.
any_name = st.one_of(names, names, names, columns, names.map(str.upper), names.map(lambda n: n + "x"),
                     st.sampled_from(NAVIGATIONS), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
                     junk)

huge = st.sampled_from(HUGE_DIGITS).flatmap(lambda d: st.sampled_from([d, "-" + d]))
ints = st.one_of(st.integers(-3, 100), st.integers(-2 ** 70, 2 ** 70), st.sampled_from([2 ** 31 - 1, 2 ** 31,
                 -2 ** 31 - 1, 2 ** 63 - 1, 2 ** 63, -2 ** 63 - 1]))
int_text = st.one_of(ints.map(str), huge)
option_value = st.sampled_from(sorted({v for vs in OPTION_VALUES.values() for v in vs}))
decimal_text = st.one_of(st.floats(allow_nan=False, allow_infinity=False).map(repr), st.sampled_from(
    ["1.5", "-0.0", "1e400", "1E-400", "0.1e5", ".5", "5.", "1.7976931348623157e308", "9" * 400 + ".5", "1e99999"]))
guid = st.one_of(st.sampled_from([JOB, SYSTEM_USER, ZERO_GUID, JOB.upper(), "{" + JOB + "}"]),
                 st.uuids().map(str))
fuzzy_guid = st.one_of(guid, guid, guid.map(lambda g: g[:-1]), guid.map(lambda g: g + "0"), junk)

datetimes = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
                 timezones=st.just(dt.timezone.utc)),
    st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 1, 1),
                 timezones=st.just(dt.timezone.utc)),
)
datetime_text = st.one_of(
    datetimes.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    datetimes.map(lambda d: d.isoformat()),
    datetimes.map(lambda d: d.strftime("%Y-%m-%d")),
    st.sampled_from(["2026-13-01T00:00:00Z", "2026-02-30", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                     "10000-01-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+25:00",
                     "2026-01-01T00:00:00.9999999999Z", "-2026-01-01", "2026-1-1", "2026-01-01T00:00:00+14:00",
                     "0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59-14:00"]),
)
durations = st.one_of(
    st.builds(lambda n, unit: f"PT{n}{unit}", st.integers(0, 120), st.sampled_from("HMS")),
    st.builds(lambda n, unit: f"P{n}{unit}", st.integers(0, 3), st.sampled_from("DW")),
    st.sampled_from(["PT0S", "P1D", "-PT1H", "P-1D", "P9999Y", "P10000Y", "P100000000Y", "P1Y2M3DT4H5M6S",
                     "PT1.5S", "PT" + "9" * 40 + "S", "P" + "9" * 5000 + "D", "PT", "P", "1H", "", "PT1H ",
                     "P1M", "P1Y", "P2W", "PT-0S", "PT1e5S"]),
)

# -------------------------------------------------------------------- recurrence rules (RFC 2445)

FREQUENCIES = ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"]
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def _listing(values) -> st.SearchStrategy[str]:
    return st.lists(values, min_size=1, max_size=4).map(lambda items: ",".join(str(i) for i in items))


_RULE_PARTS = {
    "FREQ": st.one_of(st.sampled_from(FREQUENCIES), st.sampled_from(FREQUENCIES).map(str.lower), junk),
    "INTERVAL": st.one_of(st.integers(-2, 30).map(str), st.sampled_from(["0", "1", "120", "3652", "87660",
                                                                         "5259600", "5259601"]), int_text, junk),
    "COUNT": st.one_of(st.integers(-1, 12).map(str), st.sampled_from(["100000", "100001"]), int_text, junk),
    "UNTIL": st.one_of(datetimes.map(lambda d: d.strftime("%Y%m%dT%H%M%SZ")), datetimes.map(lambda d: d.strftime(
        "%Y%m%d")), datetime_text, junk),
    "BYMONTH": _listing(st.one_of(st.integers(-1, 13), junk)),
    "BYMONTHDAY": _listing(st.one_of(st.integers(-32, 32), junk)),
    "BYDAY": _listing(st.one_of(st.sampled_from(WEEKDAYS), st.builds(lambda n, d: f"{n}{d}", st.integers(-60, 60),
                                                                     st.sampled_from(WEEKDAYS)), junk)),
    "BYHOUR": _listing(st.one_of(st.integers(-1, 24), junk)),
    "BYMINUTE": _listing(st.one_of(st.integers(-1, 60), junk)),
    "BYSECOND": _listing(st.integers(0, 60)),
    "BYSETPOS": _listing(st.one_of(st.integers(-367, 367), junk)),
    "BYYEARDAY": _listing(st.integers(-366, 366)),
    "BYWEEKNO": _listing(st.integers(-53, 53)),
    "WKST": st.one_of(st.sampled_from(WEEKDAYS), junk),
}


@st.composite
def recurrence_rules(draw) -> str:
    """A recurrence pattern: mostly rules made of real parts (valid or not), sometimes plain text."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.text(max_size=60))
    if kind == 1:
        return draw(st.sampled_from(["FREQ=DAILY;", "FREQ=MINUTELY;INTERVAL=0;", "FREQ=HOURLY;INTERVAL=-1;",
                                     "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30;", "FREQ=YEARLY;BYMONTHDAY=31;BYMONTH=4",
                                     "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=23;BYMINUTE=59;",
                                     "FREQ=DAILY;UNTIL=19000101;", "FREQ=WEEKLY;BYDAY=53MO;", ";;;", "",
                                     "FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR;", "FREQ=DAILY;COUNT=1;"]))
    names = draw(st.lists(st.sampled_from(sorted(_RULE_PARTS)), max_size=5, unique=kind > 3))
    if kind > 2 and "FREQ" not in names:
        names.insert(0, "FREQ")
    parts = [f"{name}={draw(_RULE_PARTS[name])}" for name in names]
    if draw(one_in(8)):
        parts.append(draw(junk))
    text = ";".join(parts)
    return text + draw(st.sampled_from([";", "", ";;", " ; "]))


# -------------------------------------------------------------------- text sent in a URL


def percent_encode(text: str, how: int) -> str:
    """The text as a client might put it in a URL: fully encoded, with the OData punctuation kept,
    or as written (the client library encodes what it must)."""
    if how == 0:
        return quote(text, safe="")
    if how == 1:
        return quote(text, safe="$=&(),'/@;:*+%")
    # As written, but for what no request line can carry (HTTP servers refuse it before the app).
    return "".join(quote(c, safe="") if c <= " " or c == "\x7f" or c == "#" else c for c in text)


@st.composite
def mutated(draw, text: str) -> str:
    """`text` after a few edits: truncated, something inserted, characters dropped or doubled."""
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.integers(0, 4))
        # Hypothesis favours small numbers: count positions from the end as often as from the start.
        position = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            position = len(text) - position
        if edit == 0:
            text = text[:max(position, len(text) // 3)]
        elif edit == 1:
            text = text[:position] + draw(junk) + text[position:]
        elif edit == 2:
            text = text[:position] + text[position + draw(st.integers(1, 6)):]
        elif edit == 3:
            text = text[:position] + text[position:position + 8] * draw(st.integers(2, 4)) + text[position + 8:]
        else:
            text = text[:position] + draw(st.sampled_from(NASTY)) + text[position:]
    return text


CLOCK_NAMES = sorted(CLOCK_FUNCTIONS)
DATAVERSE_FUNCTIONS = CLOCK_NAMES + ["In", "NotIn", "Between", "NotBetween", "On", "OnOrAfter", "OnOrBefore",
                                     "EqualUserId", "NotEqualUserId", "EqualBusinessId", "NotEqualBusinessId",
                                     "ContainValues", "Under", "EqualUserTeams", "NoSuchFunction"]


def typed_value(attribute_type) -> st.SearchStrategy[str]:
    """An OData literal of roughly the right type for a column (and sometimes of another)."""
    if attribute_type in (T.INTEGER, T.BIGINT, T.PICKLIST, T.STATE, T.STATUS):
        return st.one_of(option_value.map(str), int_text)
    if attribute_type is T.DOUBLE:
        return decimal_text
    if attribute_type is T.DATETIME:
        return datetime_text
    if attribute_type in (T.UNIQUEIDENTIFIER, T.LOOKUP, T.OWNER):
        return guid
    if attribute_type is T.BOOLEAN:
        return st.sampled_from(["true", "false", "1", "0"])
    return string_literal


string_literal = st.one_of(
    st.text(max_size=20).map(lambda t: "'" + t.replace("'", "''") + "'"),
    st.sampled_from(["'Bulk'", "'System'", "''", "'O''Connor'", "'%'", "'_'", "'[a-z]'", "'\\'", "'x" * 3 + "'"]),
    st.text(max_size=8).map(lambda t: "'" + t + "'"),  # stray quotes left unescaped
)


def literal_for(name: str) -> st.SearchStrategy[str]:
    attribute = ENTITY.properties.get(name)
    any_literal = st.one_of(int_text, decimal_text, string_literal, guid, datetime_text,
                            st.sampled_from(["null", "true", "false"]))
    if attribute is None:
        return any_literal
    return st.one_of(typed_value(attribute.type), typed_value(attribute.type), any_literal)


# -------------------------------------------------------------------- typed conditions (FetchXML names)

_NUMBER_TYPES = (T.INTEGER, T.BIGINT, T.PICKLIST, T.STATE, T.STATUS, T.DOUBLE)
_GUID_TYPES = (T.UNIQUEIDENTIFIER, T.LOOKUP, T.OWNER)
_X_OPERATORS = ["last-x-hours", "next-x-hours", "last-x-days", "next-x-days", "last-x-weeks", "next-x-weeks",
                "last-x-months", "next-x-months", "last-x-years", "next-x-years", "olderthan-x-minutes",
                "olderthan-x-hours", "olderthan-x-days", "olderthan-x-weeks", "olderthan-x-months",
                "olderthan-x-years"]
_NO_VALUE = ["null", "not-null", "today", "yesterday", "tomorrow", "last-seven-days", "next-seven-days",
             "last-week", "this-week", "next-week", "last-month", "this-month", "next-month", "last-year",
             "this-year", "next-year", "eq-userid", "ne-userid", "eq-businessid", "ne-businessid"]
OPERATORS_FOR = {
    "number": ["eq", "ne", "gt", "ge", "lt", "le", "in", "not-in", "between", "not-between", "null", "not-null"],
    "string": ["eq", "ne", "like", "not-like", "begins-with", "not-begin-with", "ends-with", "not-end-with", "in",
               "not-in", "null", "not-null"],
    "datetime": ["eq", "ne", "gt", "ge", "lt", "le", "on", "on-or-before", "on-or-after", "between", "not-between",
                 "null", "not-null", "today", "yesterday", "tomorrow", "last-seven-days", "next-seven-days",
                 "last-week", "this-week", "next-week", "last-month", "this-month", "next-month", "last-year",
                 "this-year", "next-year"] + _X_OPERATORS,
    "guid": ["eq", "ne", "in", "not-in", "null", "not-null", "eq-userid", "ne-userid", "eq-businessid",
             "ne-businessid"],
    "boolean": ["eq", "ne", "null", "not-null"],
}


def kind_of(attribute_type) -> str:
    if attribute_type in _NUMBER_TYPES:
        return "number"
    if attribute_type is T.DATETIME:
        return "datetime"
    if attribute_type in _GUID_TYPES:
        return "guid"
    if attribute_type is T.BOOLEAN:
        return "boolean"
    return "string"


_CLEAN_VALUES = {
    "number": st.one_of(option_value.map(str), st.integers(-5, 100).map(str), st.sampled_from(["1.5", "-0.5"])),
    "string": st.one_of(st.sampled_from(["Bulk%", "%Delete%", "System", "x", "", "O'Connor", "[a-c]%", "_%"]),
                        st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=10)),
    "datetime": st.one_of(datetimes.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
                          datetimes.map(lambda d: d.strftime("%Y-%m-%d"))),
    "guid": st.sampled_from([JOB, SYSTEM_USER, ZERO_GUID, "{" + JOB.upper() + "}"]),
    "boolean": st.sampled_from(["1", "0", "true", "false"]),
}


@st.composite
def typed_condition(draw, entity_name: str = "asyncoperation", noisy: bool = False):
    """(column, FetchXML operator, values) of a condition that a careful client could write about
    `entity_name`; `noisy`: now and then a value or an operator of the wrong kind."""
    entity = MODEL.entity(entity_name)
    attribute = draw(st.sampled_from([a for a in entity.attributes if a.in_webapi and a.valid_for_read]))
    kind = kind_of(attribute.type)
    operator = draw(st.sampled_from(OPERATORS_FOR[kind]))
    value = _CLEAN_VALUES[kind]
    if noisy and draw(one_in(4)):
        value = st.one_of(int_text, decimal_text, datetime_text, junk, guid)
    if operator in _NO_VALUE:
        count = 0 if not noisy or draw(st.integers(0, 5)) else 1
    elif operator in _X_OPERATORS:
        value = st.integers(0, 200).map(str) if not noisy else st.one_of(st.integers(-2, 200).map(str), int_text)
        count = 1
    elif operator in ("between", "not-between"):
        count = 2 if not noisy else draw(st.integers(1, 3))
    elif operator in ("in", "not-in"):
        count = draw(st.integers(1, 4))
    else:
        count = 1
    return attribute.name, operator, tuple(draw(value) for _ in range(count))


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in `n` draws. (Hypothesis draws the ends of an integer range far more often
    than the middle, so `integers(0, n - 1) == 0` would be true much more often than that.)"""
    return st.integers(0, n - 1).map(lambda i: i == n // 2)


@st.composite
def valid_rules(draw) -> str:
    """A recurrence pattern the service accepts (docs/deviations.md), sometimes with rare filters."""
    parts = [f"FREQ={draw(st.sampled_from(FREQUENCIES[:6]))}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 5))}")
    if draw(one_in(4)):
        parts.append(f"COUNT={draw(st.integers(1, 5))}")
    if draw(one_in(4)):
        parts.append(f"BYDAY={','.join(draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=3, unique=True)))}")
    if draw(one_in(5)):
        parts.append(f"BYMONTH={draw(st.integers(1, 12))}")
    if draw(one_in(5)):
        parts.append(f"BYMONTHDAY={draw(st.sampled_from([1, 15, 28, 29, 30, 31, -1]))}")
    if draw(one_in(5)):
        parts.append(f"BYHOUR={draw(st.integers(0, 23))}")
    return ";".join(parts) + ";"
