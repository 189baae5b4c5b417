"""Whole numbers read from text a client wrote, without the pitfalls of Python's `int()`.

`int()` refuses a number longer than 4,300 digits ("Exceeds the limit (4300 digits) for integer
string conversion", `sys.get_int_max_str_digits()`), and short of that takes time quadratic in
the length. No whole number the emulator reads from a client can be wider than Int64 (19
digits), so one with more than `MAX_DIGITS` significant digits is out of range however it
continues: `whole_number` answers a stand-in beyond every range (`OUT_OF_RANGE`, with the
number's sign), and the caller's own range check refuses it with the message it gives any other
value out of range. Callers echo the client's text in their messages, never the stand-in.
"""

from __future__ import annotations

import re

MAX_DIGITS = 40
OUT_OF_RANGE = 10 ** MAX_DIGITS
# Text this short converts with int() under any digit limit Python allows (the lowest is 640).
_SHORT = 640
_LONG_NUMBER = re.compile(r"\s*([+-]?)([0-9_]+)\s*")


def whole_number(text: str) -> int:
    """`int(text)` for a number a client wrote: the same value and the same ValueError for text
    that is not a number, but a number of any length is read in linear time, and one with more
    than `MAX_DIGITS` significant digits reads as +/-`OUT_OF_RANGE`."""
    if len(text) <= _SHORT:
        return int(text)
    match = _LONG_NUMBER.fullmatch(text)
    if match is None or "__" in match.group(2) or match.group(2).startswith("_") or match.group(2).endswith("_"):
        raise ValueError(f"invalid literal for int() with base 10: {text[:40]!r}...")
    sign, digits = match.groups()
    significant = digits.replace("_", "").lstrip("0")
    if len(significant) > MAX_DIGITS:
        return -OUT_OF_RANGE if sign == "-" else OUT_OF_RANGE
    return int(sign + (significant or "0"))


__all__ = ["whole_number", "MAX_DIGITS", "OUT_OF_RANGE"]
