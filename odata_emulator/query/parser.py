"""Query option text -> syntax tree (`ast.py`), through the lark grammar in `grammar/odata.lark`.

Parsing is pure and the trees are immutable, so results are cached by (option, text): a
repeated query string is never parsed twice. Syntax errors are reported the way ODataLib
words them (`parse_errors.py`), with the 0-based position in the option text.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import cast

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from .._resources import cache_file, grammar_text
from ..errors import QuerySyntaxError
from . import ast
from .numbers import whole_number
from .parse_errors import syntax_error

START_RULES = ("filter", "orderby", "select", "expand", "apply")

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(
        grammar_text("odata.lark"),
        parser="lalr",
        lexer="contextual",
        start=list(START_RULES),
        propagate_positions=True,
        maybe_placeholders=True,
        # The LALR tables, built from the grammar in 0.2 s at each process's first query, load from
        # the cache in 0.02 s; lark rebuilds them when the grammar, its options or lark change.
        cache=cache_file("odata-grammar.lark-cache"),
    )


def _start(tok: Token) -> int:
    """Where a token starts in the option text. lark types `start_pos` as optional; its lexer always sets it."""
    assert tok.start_pos is not None
    return tok.start_pos


class _LiteralError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


def parse_datetimeoffset(text: str) -> dt.datetime:
    """An OData DateTimeOffset literal, normalised to UTC with whole seconds."""
    value = text.replace("z", "Z")
    if "." in value:
        head, _, tail = value.partition(".")
        zone = tail.lstrip("0123456789")
        digits = tail[:len(tail) - len(zone)]
        value = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(dt.timezone.utc).replace(microsecond=0)


def _number(text: str, pos: int) -> ast.Literal:
    if any(c in text for c in ".eE"):
        try:
            decimal = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the terminal only admits numbers
            raise _LiteralError(f"Unrecognized 'Edm.Decimal' literal '{text}'", pos) from exc
        return ast.Literal(decimal, "Edm.Double" if "e" in text.lower() else "Edm.Decimal", pos)
    whole = whole_number(text)
    if _INT32[0] <= whole <= _INT32[1]:
        return ast.Literal(whole, "Edm.Int32", pos)
    if _INT64[0] <= whole <= _INT64[1]:
        return ast.Literal(whole, "Edm.Int64", pos)
    raise _LiteralError(f"Unrecognized 'Edm.Int64' literal '{text}'", pos)


@v_args(inline=True)
class _ToAst(Transformer):
    # --- literals
    def string(self, tok: Token) -> ast.Literal:
        return ast.Literal(tok.value[1:-1].replace("''", "'"), "Edm.String", _start(tok))

    def guid(self, tok: Token) -> ast.Literal:
        return ast.Literal(uuid.UUID(tok.value), "Edm.Guid", _start(tok))

    def datetimeoffset(self, tok: Token) -> ast.Literal:
        try:
            return ast.Literal(parse_datetimeoffset(tok.value), "Edm.DateTimeOffset", _start(tok))
        except ValueError as exc:
            raise _LiteralError(f"Unrecognized 'Edm.DateTimeOffset' literal '{tok.value}'", _start(tok)) from exc

    def date(self, tok: Token) -> ast.Literal:
        try:
            return ast.Literal(dt.date.fromisoformat(tok.value), "Edm.Date", _start(tok))
        except ValueError as exc:
            raise _LiteralError(f"Unrecognized 'Edm.Date' literal '{tok.value}'", _start(tok)) from exc

    def decimal(self, tok: Token) -> ast.Literal:
        return _number(tok.value, _start(tok))

    def integer(self, tok: Token) -> ast.Literal:
        return _number(tok.value, _start(tok))

    @v_args(meta=True, inline=True)
    def true(self, meta) -> ast.Literal:
        return ast.Literal(True, "Edm.Boolean", _meta_pos(meta))

    @v_args(meta=True, inline=True)
    def false(self, meta) -> ast.Literal:
        return ast.Literal(False, "Edm.Boolean", _meta_pos(meta))

    @v_args(meta=True, inline=True)
    def null(self, meta) -> ast.Literal:
        return ast.Literal(None, "null", _meta_pos(meta))

    # --- expressions
    def member(self, *names: Token) -> ast.Member:
        return ast.Member(tuple(n.value for n in names), _start(names[0]))

    def alias(self, tok: Token) -> ast.Alias:
        return ast.Alias(tok.value, _start(tok))

    # `and`, `or`, `has` and `in` are anonymous keywords: these nodes point where their text starts.
    @v_args(meta=True, inline=True)
    def or_expr(self, meta, *operands) -> ast.BinaryOp:
        return _chain("or", operands, _meta_pos(meta))

    @v_args(meta=True, inline=True)
    def and_expr(self, meta, *operands) -> ast.BinaryOp:
        return _chain("and", operands, _meta_pos(meta))

    def compare(self, left, op: Token, right) -> ast.BinaryOp:
        return ast.BinaryOp(op.value, left, right, _start(op))

    def arith(self, left, op: Token, right) -> ast.BinaryOp:
        return ast.BinaryOp(op.value, left, right, _start(op))

    @v_args(meta=True, inline=True)
    def has(self, meta, left, right) -> ast.BinaryOp:
        return ast.BinaryOp("has", left, right, _meta_pos(meta))

    @v_args(meta=True, inline=True)
    def in_(self, meta, operand, items) -> ast.In:
        return ast.In(operand, items, _meta_pos(meta))

    def list_expr(self, *items) -> tuple:
        return tuple(i for i in items if i is not None)

    @v_args(meta=True, inline=True)
    def not_(self, meta, operand) -> ast.Not:
        return ast.Not(operand, _meta_pos(meta))

    def negate(self, tok: Token, operand) -> ast.Negate:
        return ast.Negate(operand, _start(tok))

    def call(self, name: Token, *args) -> ast.Call:
        return ast.Call(name.value, tuple(a for a in args if a is not None), _start(name))

    def qualified_name(self, *names: Token) -> tuple[str, int]:
        return ".".join(n.value for n in names), _start(names[0])

    def named_arg(self, name: Token, value) -> tuple[str, ast.Node]:
        return name.value, value

    def json_string(self, tok: Token) -> str:
        import json

        return json.loads(tok.value)

    def json_single_quoted(self, tok: Token) -> str:
        return tok.value[1:-1].replace("''", "'")

    def json_number(self, tok: Token):
        # As ODataLib reads a JSON number: a whole number beyond Int64 is a Decimal (its text kept
        # exactly, for the binder to refuse as written).
        text = tok.value
        if any(c in text for c in ".eE"):
            return Decimal(text)
        value = whole_number(text)
        return value if _INT64[0] <= value <= _INT64[1] else Decimal(text)

    @v_args(meta=True, inline=True)
    def json_array(self, meta, *items) -> ast.JsonArray:
        return ast.JsonArray(tuple(i for i in items if i is not None), _meta_pos(meta))

    def dataverse_call(self, qualified, *args) -> ast.DataverseCall:
        name, pos = qualified
        namespace, _, short = name.rpartition(".")
        return ast.DataverseCall(namespace, short, tuple(a for a in args if a is not None), pos)

    # --- $orderby
    def order_item(self, expr, direction: Token | None) -> ast.OrderItem:
        return ast.OrderItem(expr, direction is not None and direction.value == "desc")

    def orderby(self, *items) -> ast.OrderBy:
        return ast.OrderBy(tuple(items))

    # --- $select
    def select_star(self, tok: Token) -> ast.SelectItem:
        return ast.SelectItem(("*",), _start(tok))

    def select_path(self, member: ast.Member) -> ast.SelectItem:
        return ast.SelectItem(member.path, member.pos)

    def select_qualified(self, qualified) -> ast.SelectItem:
        name, pos = qualified
        return ast.SelectItem((name,), pos)

    def select(self, *items) -> ast.Select:
        return ast.Select(tuple(i for i in items if i.path != ("*",)), any(i.path == ("*",) for i in items))

    # --- $expand
    def expand_select(self, value):
        return ("select", value)

    def expand_filter(self, value):
        return ("filter", value)

    def expand_orderby(self, value):
        return ("orderby", value)

    def expand_top(self, tok: Token):
        return ("top", tok.value)  # as written: the binder reads it as it reads $top

    def expand_skip(self, tok: Token):
        return ("$skip", tok.value)

    def expand_count(self, tok: Token):
        return ("$count", tok.value)

    def expand_levels(self, tok: Token):
        return ("$levels", tok.value)

    def expand_search(self, tok: Token):
        return ("$search", tok.value)

    def expand_expand(self, value):
        return ("expand", value)

    def expand_item(self, member: ast.Member, ref: Token | None, *options) -> ast.ExpandItem:
        values: dict = {}
        unsupported: list[str] = []
        for option in options:
            if option is None:
                continue
            key, value = option
            if key.startswith("$"):
                unsupported.append(key)
            else:
                values[key] = value
        return ast.ExpandItem(member.path, ref is not None, unsupported=tuple(unsupported), pos=member.pos, **values)

    def expand(self, *items) -> ast.Expand:
        return ast.Expand(tuple(items))

    # --- $apply
    def apply_filter(self, expr) -> ast.ApplyFilter:
        return ast.ApplyFilter(expr)

    def apply_groupby(self, *parts) -> ast.GroupBy:
        *members, aggregate = parts
        return ast.GroupBy(tuple(m.path for m in members), aggregate.items if aggregate is not None else ())

    def aggregate(self, *items) -> ast.Aggregate:
        return ast.Aggregate(tuple(items))

    def aggregate_with(self, member: ast.Member, method: Token, alias: Token) -> ast.AggregateItem:
        return ast.AggregateItem(member.path, method.value, alias.value, member.pos)

    @v_args(meta=True, inline=True)
    def aggregate_count(self, meta, alias: Token) -> ast.AggregateItem:
        return ast.AggregateItem(None, "count", alias.value, _meta_pos(meta))

    def apply_orderby(self, _):
        return ast.UnsupportedTransformation("orderby")

    def apply_top(self, _):
        return ast.UnsupportedTransformation("top")

    def apply_skip(self, _):
        return ast.UnsupportedTransformation("skip")

    def apply_identity(self):
        return ast.UnsupportedTransformation("identity")

    def apply_compute(self, *_):
        return ast.UnsupportedTransformation("compute")

    def apply(self, *steps) -> ast.Apply:
        return ast.Apply(tuple(steps))


def _lambda(self, *parts):
    *segments, operator, variable, predicate = parts
    path = tuple(s.value for s in segments)
    return ast.Lambda(path, operator.value, variable.value if variable is not None else None, predicate,
                      _start(segments[0]))


# `lambda` is a Python keyword, so the rule's callback is attached by name.
setattr(_ToAst, "lambda", v_args(inline=True)(_lambda))


def _meta_pos(meta) -> int:
    """Where a rule starts: for nodes whose first token is an anonymous keyword (`not`, `true`, `[`)."""
    return meta.start_pos if not meta.empty else 0


# Up to this many terms an and/or chain nests to the left, as written; a longer one is built as a
# balanced tree, so that binding and compiling it stays shallow (its meaning is the same).
_LEFT_DEEP_TERMS = 16


def _chain(op: str, operands: tuple, pos: int) -> ast.BinaryOp:
    if len(operands) <= _LEFT_DEEP_TERMS:
        node = operands[0]
        for operand in operands[1:]:
            node = ast.BinaryOp(op, node, operand, pos)
        return node
    middle = (len(operands) + 1) // 2
    return ast.BinaryOp(op, _chain(op, operands[:middle], pos), _chain(op, operands[middle:], pos), pos)


@lru_cache(maxsize=4096)
def parse(start: str, text: str) -> ast.Node:
    """Parse one option's text with the given start rule. Raises QuerySyntaxError."""
    if start not in START_RULES:  # pragma: no cover - programming error
        raise ValueError(start)
    if not text.strip():
        raise QuerySyntaxError(f"Syntax error at position 0 in '{text}'.", position=0, text=text)
    try:
        tree = _lark().parse(text, start=start)
        return _ToAst().transform(tree)
    except UnexpectedInput as exc:
        raise syntax_error(exc, text, start, _lark()) from None
    except VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, _LiteralError):
            raise QuerySyntaxError(f"{inner} at '{inner.pos}' in '{text}'.", position=inner.pos,
                                   text=text) from None
        raise


# The typed entry points, one per option: what each start rule builds.


def parse_filter(text: str) -> ast.Node:
    return parse("filter", text)


def parse_orderby(text: str) -> ast.OrderBy:
    return cast(ast.OrderBy, parse("orderby", text))


def parse_select(text: str) -> ast.Select:
    return cast(ast.Select, parse("select", text))


def parse_expand(text: str) -> ast.Expand:
    return cast(ast.Expand, parse("expand", text))


def parse_apply(text: str) -> ast.Apply:
    return cast(ast.Apply, parse("apply", text))
