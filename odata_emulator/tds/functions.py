"""T-SQL's date and string functions that SQLite lacks, as SQLite functions on each reader connection,
and the conversions they share with the translator (date-time literals, CONVERT styles).

Date-times are epoch seconds (the store's form) in and out. The `tds_` prefix keeps them apart from
anything SQLite has.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
import sqlite3
import uuid

from ..store.values import register_functions

UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1)

# DATEADD/DATEDIFF/DATEPART units and their abbreviations.
UNITS = {
    "year": "year", "yy": "year", "yyyy": "year",
    "quarter": "quarter", "qq": "quarter", "q": "quarter",
    "month": "month", "mm": "month", "m": "month",
    "dayofyear": "dayofyear", "dy": "dayofyear", "y": "dayofyear",
    "day": "day", "dd": "day", "d": "day",
    "week": "week", "wk": "week", "ww": "week",
    "weekday": "weekday", "dw": "weekday", "w": "weekday", "dayofweek": "weekday",
    "hour": "hour", "hh": "hour",
    "minute": "minute", "mi": "minute", "n": "minute",
    "second": "second", "ss": "second", "s": "second",
    "millisecond": "millisecond", "ms": "millisecond",
}
# Units of a fixed length in seconds (DATEADD on them is arithmetic).
FIXED_SECONDS = {"week": 604800, "day": 86400, "dayofyear": 86400, "weekday": 86400, "hour": 3600, "minute": 60,
                 "second": 1, "millisecond": 0.001}
MONTHS = {"month": 1, "quarter": 3, "year": 12}
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ConversionError(ValueError):
    """A string that is not a date and time SQL Server reads (its error 241)."""


def to_datetime(seconds: float) -> dt.datetime:
    return _EPOCH + dt.timedelta(seconds=seconds)


def to_epoch(moment: dt.datetime) -> float | int:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    delta = moment - _EPOCH
    whole = delta.days * 86400 + delta.seconds
    return whole + delta.microseconds / 1e6 if delta.microseconds else whole


_FORMATS = (
    "%Y-%m-%d", "%Y%m%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
    "%Y%m%d %H:%M:%S", "%m/%d/%Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S",
    "%b %d %Y", "%b %d %Y %I:%M%p", "%d %b %Y", "%d %b %Y %H:%M:%S", "%B %d %Y", "%B %d, %Y",
)
_FRACTION = re.compile(r"^(.*?[T ]\d{1,2}:\d{2}:\d{2})\.(\d{1,7})(Z|[+-]\d{2}:?\d{2})?$")
_ZONE = re.compile(r"^(.*?)(Z|[+-]\d{2}:?\d{2})$")


def parse_datetime(text: str) -> float | int:
    """A string as SQL Server's datetime reads it (ISO 8601 and the usual US forms), as epoch seconds."""
    value = " ".join(str(text).strip().split())
    if not value:
        return -2_208_988_800  # SQL Server reads '' as 1900-01-01
    fraction = 0.0
    zone = None
    match = _FRACTION.match(value)
    if match:
        value, digits, zone = match.group(1), match.group(2), match.group(3)
        fraction = int(digits) / 10 ** len(digits)
    else:
        zoned = _ZONE.match(value)
        if zoned and re.search(r"\d{1,2}:\d{2}", zoned.group(1)):
            value, zone = zoned.group(1), zoned.group(2)
    for form in _FORMATS:
        try:
            moment = dt.datetime.strptime(value, form)
            break
        except ValueError:
            continue
    else:
        raise ConversionError("Conversion failed when converting date and/or time from character string.")
    seconds = to_epoch(moment) + fraction if fraction else to_epoch(moment)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds


def floor_day(seconds: float) -> int:
    return int(seconds // 86400) * 86400


def add_months(seconds: float, months: int) -> float | int:
    moment = to_datetime(seconds)
    total = moment.year * 12 + (moment.month - 1) + int(months)
    year, month = divmod(total, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise OverflowError("Adding a value to a 'datetime' column caused an overflow.")
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return to_epoch(moment.replace(year=year, month=month, day=day))


def _week_start(moment: dt.datetime) -> dt.date:
    """The Sunday on or before `moment` (DATEFIRST 7)."""
    day = moment.date()
    return day - dt.timedelta(days=(day.weekday() + 1) % 7)


def datediff(unit: str, start: float, end: float) -> int:
    """DATEDIFF: the number of `unit` boundaries crossed from `start` to `end`."""
    canonical = UNITS.get(str(unit).lower())
    a, b = to_datetime(start), to_datetime(end)
    if canonical == "year":
        return b.year - a.year
    if canonical == "quarter":
        return (b.year * 4 + (b.month - 1) // 3) - (a.year * 4 + (a.month - 1) // 3)
    if canonical == "month":
        return (b.year * 12 + b.month) - (a.year * 12 + a.month)
    if canonical in ("day", "dayofyear", "weekday"):
        return (b.date() - a.date()).days
    if canonical == "week":
        return (_week_start(b) - _week_start(a)).days // 7
    if canonical == "hour":
        return math.floor(end / 3600) - math.floor(start / 3600)
    if canonical == "minute":
        return math.floor(end / 60) - math.floor(start / 60)
    if canonical == "second":
        return math.floor(end) - math.floor(start)
    if canonical == "millisecond":
        return round(end * 1000) - round(start * 1000)
    raise ValueError(f"unit {canonical}")


def datepart(unit: str, seconds: float) -> int:
    canonical = UNITS.get(str(unit).lower())
    moment = to_datetime(seconds)
    if canonical == "year":
        return moment.year
    if canonical == "quarter":
        return (moment.month - 1) // 3 + 1
    if canonical == "month":
        return moment.month
    if canonical == "dayofyear":
        return moment.timetuple().tm_yday
    if canonical == "day":
        return moment.day
    if canonical == "week":
        january_1 = dt.datetime(moment.year, 1, 1)
        return (_week_start(moment) - _week_start(january_1)).days // 7 + 1
    if canonical == "weekday":
        return (moment.weekday() + 1) % 7 + 1  # Sunday = 1 (DATEFIRST 7)
    if canonical == "hour":
        return moment.hour
    if canonical == "minute":
        return moment.minute
    if canonical == "second":
        return moment.second
    if canonical == "millisecond":
        return moment.microsecond // 1000
    raise ValueError(f"unit {canonical}")


def datename(unit: str, seconds: float) -> str:
    canonical = UNITS.get(str(unit).lower())
    moment = to_datetime(seconds)
    if canonical == "month":
        return MONTH_NAMES[moment.month - 1]
    if canonical == "weekday":
        return DAY_NAMES[moment.weekday()]
    return str(datepart(unit, seconds))


def _ms(moment: dt.datetime) -> str:
    return f"{moment.microsecond // 1000:03d}"


def _default_style(moment: dt.datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{moment.strftime('%b')} {moment.day:2d} {moment.year} {hour:2d}:{moment.minute:02d}{'AM' if moment.hour < 12 else 'PM'}"


# CONVERT(nvarchar, <datetime>, style): the styles in common use.
_STYLES = {
    0: _default_style, 100: _default_style,
    1: lambda m: m.strftime("%m/%d/%y"), 101: lambda m: m.strftime("%m/%d/%Y"),
    2: lambda m: m.strftime("%y.%m.%d"), 102: lambda m: m.strftime("%Y.%m.%d"),
    3: lambda m: m.strftime("%d/%m/%y"), 103: lambda m: m.strftime("%d/%m/%Y"),
    4: lambda m: m.strftime("%d.%m.%y"), 104: lambda m: m.strftime("%d.%m.%Y"),
    5: lambda m: m.strftime("%d-%m-%y"), 105: lambda m: m.strftime("%d-%m-%Y"),
    10: lambda m: m.strftime("%m-%d-%y"), 110: lambda m: m.strftime("%m-%d-%Y"),
    11: lambda m: m.strftime("%y/%m/%d"), 111: lambda m: m.strftime("%Y/%m/%d"),
    12: lambda m: m.strftime("%y%m%d"), 112: lambda m: m.strftime("%Y%m%d"),
    8: lambda m: m.strftime("%H:%M:%S"), 108: lambda m: m.strftime("%H:%M:%S"),
    20: lambda m: m.strftime("%Y-%m-%d %H:%M:%S"), 120: lambda m: m.strftime("%Y-%m-%d %H:%M:%S"),
    21: lambda m: m.strftime("%Y-%m-%d %H:%M:%S.") + _ms(m), 121: lambda m: m.strftime("%Y-%m-%d %H:%M:%S.") + _ms(m),
    23: lambda m: m.strftime("%Y-%m-%d"),
    126: lambda m: m.strftime("%Y-%m-%dT%H:%M:%S") + (f".{_ms(m)}" if m.microsecond else ""),
    127: lambda m: m.strftime("%Y-%m-%dT%H:%M:%S") + (f".{_ms(m)}" if m.microsecond else "") + "Z",
}
STYLES = frozenset(_STYLES)


def format_datetime(seconds: float, style: int = 0, date_only: bool = False) -> str:
    moment = to_datetime(seconds)
    if date_only and style in (0, 100):
        return moment.strftime("%Y-%m-%d")
    return _STYLES[int(style)](moment)


def _guarded(function):
    def call(*args):
        if any(a is None for a in args):
            return None
        return function(*args)
    return call


def _is_numeric(value) -> int:
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        return 1
    try:
        float(str(value).strip())
        return 1
    except ValueError:
        return 0


def _replace(text, old, new):
    if text is None or old is None or new is None:
        return None
    if old == "":
        return text
    return re.sub(re.escape(str(old)), lambda _m: str(new), str(text), flags=re.IGNORECASE)


def _charindex(needle, haystack, start=1):
    if needle is None or haystack is None:
        return None
    start = max(1, int(start or 1))
    found = str(haystack).lower().find(str(needle).lower(), start - 1)
    return found + 1


def _stuff(text, start, length, insert):
    if text is None or start is None or length is None:
        return None
    text, start, length = str(text), int(start), int(length)
    if start < 1 or start > len(text) or length < 0:
        return None
    return text[:start - 1] + (insert or "") + text[start - 1 + length:]


def _replicate(text, times):
    if text is None or times is None or int(times) < 0:
        return None
    return str(text) * min(int(times), 1_000_000 // max(1, len(str(text))))


def _right(text, count):
    if text is None or count is None:
        return None
    count = int(count)
    return "" if count <= 0 else str(text)[-count:]


def _concat_ws(separator, *values):
    """CONCAT_WS: the values that are not NULL, joined by the separator."""
    return (separator or "").join(str(v) for v in values if v is not None)


def _newid() -> str:
    return str(uuid.uuid4())


def _datetime_from_text(text):
    if text is None:
        return None
    if isinstance(text, (int, float)):
        return text
    return parse_datetime(text)


def _eomonth(seconds, months=0):
    if seconds is None:
        return None
    moment = to_datetime(add_months(floor_day(seconds), int(months or 0)))
    last = calendar.monthrange(moment.year, moment.month)[1]
    return to_epoch(dt.datetime(moment.year, moment.month, last))


def register(connection: sqlite3.Connection, failures: list[BaseException]) -> None:
    """The functions the translator's SQL calls, on one connection: the store's own (file storage's
    content, `store.values`) and these. SQLite reports an exception in a function only as
    "user-defined function raised exception": the exception itself goes to `failures`."""
    register_functions(connection)

    def add(name: str, arity: int, function, deterministic: bool = True) -> None:
        def call(*args):
            try:
                return function(*args)
            except Exception as exc:
                failures.append(exc)
                raise
        connection.create_function(name, arity, call, deterministic=deterministic)

    add("tds_datediff", 3, _guarded(datediff))
    add("tds_datepart", 2, _guarded(datepart))
    add("tds_datename", 2, _guarded(datename))
    add("tds_add_months", 2, _guarded(add_months))
    add("tds_floor_day", 1, _guarded(floor_day))
    add("tds_format_datetime", 3, _guarded(format_datetime))
    add("tds_parse_datetime", 1, _datetime_from_text)
    add("tds_eomonth", 2, _eomonth)
    add("tds_isnumeric", 1, _is_numeric)
    add("tds_replace", 3, _replace)
    add("tds_charindex", 3, _charindex)
    add("tds_stuff", 4, _stuff)
    add("tds_replicate", 2, _replicate)
    add("tds_right", 2, _right)
    add("tds_reverse", 1, _guarded(lambda s: str(s)[::-1]))
    add("tds_space", 1, _guarded(lambda n: " " * max(0, min(int(n), 8000))))
    add("tds_newid", 0, _newid, deterministic=False)
    add("tds_concat_ws", -1, _concat_ws)
