"""String functions: LEN ignores trailing spaces, SUBSTRING/LEFT are SUBSTR, CONCAT treats NULL as
'', and RIGHT/CHARINDEX/REPLACE/CONCAT_WS/REPLICATE/REVERSE/SPACE/STUFF are `tds_` functions
(`functions.py`). sqlglot wraps some arguments in CAST(... AS TEXT); the argument is read as written."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ..errors import Refused
from ..types import INT, NVARCHAR_MAX
from .conversions import as_text
from .nodes import string, udf
from .type_rules import STRING

if TYPE_CHECKING:  # pragma: no cover
    from .rewriter import Rewriter, Typed


def text_argument(t: Rewriter, node: exp.Expr) -> Typed:
    """sqlglot wraps some string arguments in CAST(... AS TEXT): the argument itself, as text."""
    if isinstance(node, exp.Cast) and node.args["to"].this == exp.DataType.Type.TEXT:
        node = node.this
    value, sqltype = t.expr(node)
    return as_text(value, sqltype), sqltype if sqltype.is_string else STRING


def length(t: Rewriter, node: exp.Length) -> Typed:
    text, _ = text_argument(t, node.this)
    return exp.Length(this=exp.Trim(this=text, position="TRAILING")), INT


def upper_lower(t: Rewriter, node: exp.Expr) -> Typed:
    text, sqltype = text_argument(t, node.this)
    return node.__class__(this=text), sqltype


def trim(t: Rewriter, node: exp.Trim) -> Typed:
    text, sqltype = text_argument(t, node.this)
    if node.args.get("expression") is not None:
        raise Refused("'TRIM ... FROM' is not supported by the emulator.")
    name = {"LEADING": "LTRIM", "TRAILING": "RTRIM"}.get(str(node.args.get("position") or "").upper(), "TRIM")
    return udf(name, text), sqltype


def substring(t: Rewriter, node: exp.Substring) -> Typed:
    text, sqltype = text_argument(t, node.this)
    start, _ = t.child(node, "start")
    count, _ = t.child(node, "length")
    if start is None or count is None:
        raise Refused("The substring function requires 3 argument(s).")
    return udf("SUBSTR", text, start, count), sqltype


def left(t: Rewriter, node: exp.Left) -> Typed:
    text, sqltype = text_argument(t, node.this)
    count, _ = t.expr(node.expression)
    return udf("SUBSTR", text, exp.Literal.number(1), count), sqltype


def right(t: Rewriter, node: exp.Right) -> Typed:
    text, sqltype = text_argument(t, node.this)
    count, _ = t.expr(node.expression)
    return udf("tds_right", text, count), sqltype


def charindex(t: Rewriter, node: exp.StrPosition) -> Typed:
    haystack, _ = text_argument(t, node.this)
    needle, _ = text_argument(t, node.args["substr"])
    start, _ = t.child(node, "position")
    return udf("tds_charindex", needle, haystack, start if start is not None else exp.Literal.number(1)), INT


def replace(t: Rewriter, node: exp.Replace) -> Typed:
    text, sqltype = text_argument(t, node.this)
    old, _ = text_argument(t, node.expression)
    new, _ = text_argument(t, node.args["replacement"])
    return udf("tds_replace", text, old, new), NVARCHAR_MAX if sqltype.is_max else STRING


def concat(t: Rewriter, node: exp.Concat) -> Typed:
    parts = []
    longest_max = False
    for value in node.expressions:
        text, sqltype = text_argument(t, value)
        longest_max = longest_max or sqltype.is_max
        parts.append(exp.Coalesce(this=text, expressions=[string("")]))
    result: exp.Expr = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=part)
    return exp.Paren(this=result), NVARCHAR_MAX if longest_max else STRING


def concat_ws(t: Rewriter, node: exp.ConcatWs) -> Typed:
    parts = [text_argument(t, value) for value in node.expressions]
    if len(parts) < 3:
        raise Refused("The concat_ws function requires 3 to 254 arguments.")
    longest_max = any(sqltype.is_max for _, sqltype in parts)
    return udf("tds_concat_ws", *(text for text, _ in parts)), NVARCHAR_MAX if longest_max else STRING


def replicate(t: Rewriter, node: exp.Repeat) -> Typed:
    text, _ = text_argument(t, node.this)
    times, _ = t.expr(node.args["times"])
    return udf("tds_replicate", text, times), STRING


def reverse(t: Rewriter, node: exp.Reverse) -> Typed:
    text, sqltype = text_argument(t, node.this)
    return udf("tds_reverse", text), sqltype


def space(t: Rewriter, node: exp.Space) -> Typed:
    count, _ = t.expr(node.this)
    return udf("tds_space", count), STRING


def stuff(t: Rewriter, node: exp.Stuff) -> Typed:
    text, _ = text_argument(t, node.this)
    start, _ = t.expr(node.args["start"])
    count, _ = t.expr(node.args["length"])
    insert, _ = text_argument(t, node.expression)
    return udf("tds_stuff", text, start, count, insert), STRING


HANDLERS: dict[type, Callable[[Rewriter, Any], Typed]] = {
    exp.Length: length,
    exp.Upper: upper_lower,
    exp.Lower: upper_lower,
    exp.Trim: trim,
    exp.Substring: substring,
    exp.Left: left,
    exp.Right: right,
    exp.StrPosition: charindex,
    exp.Replace: replace,
    exp.Concat: concat,
    exp.ConcatWs: concat_ws,
    exp.Repeat: replicate,
    exp.Reverse: reverse,
    exp.Space: space,
    exp.Stuff: stuff,
}
