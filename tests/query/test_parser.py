"""The query option parser, against a plain-text corpus of option texts and their syntax trees.

`corpus/*.txt` holds blocks separated by blank lines (lines starting with `#` are comments):

    filter: statecode eq 3 and statuscode eq 31
    (and (eq statecode 3:Int32) (eq statuscode 31:Int32))

The first line names the start rule (`filter`, `orderby`, `select`, `expand`, `apply`) and the
text; the second is the expected tree in the compact form `sexpr` prints below, or
`error: <exact message>` for a text that must be refused.

Printed forms: members as written (`owninguser/fullname`), aliases (`@p1`), literals typed
(`3:Int32`, `3000000000:Int64`, `1.5:Decimal`, `1E+3:Double`, `'O''Bryan'`, `true`, `null`,
`guid:<uuid>`, `dto:<UTC instant>Z`, `date:<iso date>`), operators as `(op left right)`,
`(not x)`, `(- x)`, `(in x a b)`, canonical functions as `(call name args...)`, Dataverse query
functions as `(Microsoft.Dynamics.CRM.Name Key=value ...)` with JSON arrays `["31",2]`, lambdas as
`(any path var predicate)`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import FrozenInstanceError, fields
from decimal import Decimal
from pathlib import Path

import pytest

from odata_emulator.errors import QuerySyntaxError
from odata_emulator.query import ast
from odata_emulator.query.parser import parse

CORPUS = Path(__file__).resolve().parent / "corpus"


# ------------------------------------------------------------------------------ corpus reading


def _read_corpus(path: Path) -> list[tuple[str, str, str, str]]:
    """(test id, start rule, option text, expected) for each block of a corpus file."""
    cases = []
    block: list[tuple[int, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines() + [""]
    for number, line in enumerate(lines, start=1):
        if line.startswith("#"):
            continue
        if line.strip():
            block.append((number, line))
            continue
        if not block:
            continue
        assert len(block) == 2, f"{path.name}:{block[0][0]}: a case is two lines, got {len(block)}"
        (first, head), (_, expected) = block
        start, sep, text = head.partition(": ")
        assert sep and start in ("filter", "orderby", "select", "expand", "apply"), f"{path.name}:{first}: {head!r}"
        cases.append((f"{path.stem}:{first}", start, text, expected))
        block = []
    return cases


CASES = [case for name in ("filter.txt", "other.txt") for case in _read_corpus(CORPUS / name)]
FILTER_CASES = [c for c in CASES if c[1] == "filter" and not c[3].startswith("error: ")]


# ------------------------------------------------------------------------------ printers


def _literal(node: ast.Literal) -> str:
    value, edm = node.value, node.edm_type
    if edm == "null":
        return "null"
    if edm == "Edm.Boolean":
        return "true" if value else "false"
    if edm == "Edm.String":
        return "'" + value.replace("'", "''") + "'"
    if edm == "Edm.Guid":
        return f"guid:{value}"
    if edm == "Edm.DateTimeOffset":
        assert value.utcoffset() == dt.timedelta(0)
        return "dto:" + value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{value.microsecond:06d}" if value.microsecond else "") + "Z"
    if edm == "Edm.Date":
        return f"date:{value.isoformat()}"
    return f"{value}:{edm.removeprefix('Edm.')}"


def _json_item(item) -> str:
    return json.dumps(item) if isinstance(item, str) else str(item)


def sexpr(node) -> str:
    """The compact printed form of a syntax tree (see the module docstring)."""
    if isinstance(node, ast.Literal):
        return _literal(node)
    if isinstance(node, ast.Member):
        return node.text
    if isinstance(node, ast.Alias):
        return node.name
    if isinstance(node, ast.BinaryOp):
        return f"({node.op} {sexpr(node.left)} {sexpr(node.right)})"
    if isinstance(node, ast.Not):
        return f"(not {sexpr(node.operand)})"
    if isinstance(node, ast.Negate):
        return f"(- {sexpr(node.operand)})"
    if isinstance(node, ast.In):
        return "(in " + " ".join([sexpr(node.operand), *(sexpr(i) for i in node.items)]) + ")"
    if isinstance(node, ast.Call):
        return "(call " + " ".join([node.name, *(sexpr(a) for a in node.args)]) + ")"
    if isinstance(node, ast.JsonArray):
        return "[" + ",".join(_json_item(i) for i in node.items) + "]"
    if isinstance(node, ast.DataverseCall):
        args = [f"{key}={sexpr(value)}" for key, value in node.args]
        return "(" + " ".join([f"{node.namespace}.{node.name}", *args]) + ")"
    if isinstance(node, ast.Lambda):
        parts = [node.operator, "/".join(node.path)]
        if node.variable is not None:
            parts += [node.variable, sexpr(node.predicate)]
        return "(" + " ".join(parts) + ")"
    if isinstance(node, ast.Select):
        return "(select " + " ".join([*("/".join(i.path) for i in node.items), *(["*"] if node.star else [])]) + ")"
    if isinstance(node, ast.OrderBy):
        return "(orderby " + " ".join(f"({'desc' if i.descending else 'asc'} {sexpr(i.expr)})" for i in node.items) + ")"
    if isinstance(node, ast.Expand):
        return "(expand " + " ".join(sexpr(i) for i in node.items) + ")"
    if isinstance(node, ast.ExpandItem):
        parts = ["/".join(node.path)]
        if node.ref:
            parts.append("$ref")
        if node.select is not None:
            parts.append(sexpr(node.select))
        if node.filter is not None:
            parts.append(f"(filter {sexpr(node.filter)})")
        if node.orderby is not None:
            parts.append(sexpr(node.orderby))
        if node.top is not None:
            parts.append(f"(top {node.top})")
        if node.expand is not None:
            parts.append(sexpr(node.expand))
        if node.unsupported:
            parts.append("(unsupported " + " ".join(node.unsupported) + ")")
        return "(" + " ".join(parts) + ")"
    if isinstance(node, ast.Apply):
        return "(apply " + " ".join(sexpr(s) for s in node.steps) + ")"
    if isinstance(node, ast.ApplyFilter):
        return f"(filter {sexpr(node.expr)})"
    if isinstance(node, ast.GroupBy):
        keys = "(" + " ".join("/".join(p) for p in node.paths) + ")"
        return "(groupby " + " ".join([keys, *(sexpr(a) for a in node.aggregate)]) + ")"
    if isinstance(node, ast.Aggregate):
        return "(aggregate " + " ".join(sexpr(a) for a in node.items) + ")"
    if isinstance(node, ast.AggregateItem):
        if node.path is None:
            return f"($count as {node.alias})"
        return f"({'/'.join(node.path)} with {node.method} as {node.alias})"
    if isinstance(node, ast.UnsupportedTransformation):
        return f"(unsupported {node.name})"
    raise AssertionError(f"no printed form for {node!r}")


def _odata_literal(node: ast.Literal) -> str:
    value, edm = node.value, node.edm_type
    if edm == "null":
        return "null"
    if edm == "Edm.Boolean":
        return "true" if value else "false"
    if edm == "Edm.String":
        return "'" + value.replace("'", "''") + "'"
    if edm == "Edm.DateTimeOffset":
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if edm in ("Edm.Guid", "Edm.Date", "Edm.Int32", "Edm.Int64"):
        return str(value)
    assert isinstance(value, Decimal), node
    # A double keeps an exponent (`2.5E-3`), a decimal never has one (`0.0025`).
    return format(value, "E") if edm == "Edm.Double" else format(value, "f")


def odata(node) -> str:
    """A filter tree back to OData text, fully parenthesized."""
    if isinstance(node, ast.Literal):
        return _odata_literal(node)
    if isinstance(node, ast.Member):
        return node.text
    if isinstance(node, ast.Alias):
        return node.name
    if isinstance(node, ast.BinaryOp):
        return f"({odata(node.left)} {node.op} {odata(node.right)})"
    if isinstance(node, ast.Not):
        return f"not ({odata(node.operand)})"
    if isinstance(node, ast.Negate):
        # `-(1)`, not `-1`: a negative literal is another tree.
        return f"-({odata(node.operand)})"
    if isinstance(node, ast.In):
        return f"({odata(node.operand)} in (" + ",".join(odata(i) for i in node.items) + "))"
    if isinstance(node, ast.Call):
        return f"{node.name}(" + ",".join(odata(a) for a in node.args) + ")"
    if isinstance(node, ast.JsonArray):
        return "[" + ",".join(_json_item(i) for i in node.items) + "]"
    if isinstance(node, ast.DataverseCall):
        return f"{node.namespace}.{node.name}(" + ",".join(f"{k}={odata(v)}" for k, v in node.args) + ")"
    if isinstance(node, ast.Lambda):
        inner = f"{node.variable}:{odata(node.predicate)}" if node.variable is not None else ""
        return "/".join(node.path) + f"/{node.operator}({inner})"
    raise AssertionError(f"no OData form for {node!r}")


# ------------------------------------------------------------------------------ the corpus


@pytest.mark.parametrize("start,text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_corpus(start: str, text: str, expected: str) -> None:
    if expected.startswith("error: "):
        with pytest.raises(QuerySyntaxError) as caught:
            parse(start, text)
        assert caught.value.message == expected.removeprefix("error: ")
        assert caught.value.text == text
    else:
        assert sexpr(parse(start, text)) == expected


@pytest.mark.parametrize("text", [c[2] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_round_trip(text: str) -> None:
    tree = parse("filter", text)
    printed = odata(tree)
    assert parse("filter", printed) == tree, printed


def test_corpus_size() -> None:
    assert len([c for c in CASES if c[1] == "filter"]) >= 60
    assert {c[1] for c in CASES} == {"filter", "orderby", "select", "expand", "apply"}
    assert len({c[0] for c in CASES}) == len(CASES)


# ------------------------------------------------------------------------------ caching


def test_results_are_cached() -> None:
    text = "statecode eq 3 and contains(name,'cache')"
    first = parse("filter", text)
    assert parse("filter", text) is first
    # The cache key includes the start rule.
    assert parse("orderby", "name desc") is parse("orderby", "name desc")
    assert parse("select", "name") is not parse("orderby", "name")


def test_equal_trees_from_different_texts_compare_equal_but_are_distinct() -> None:
    a = parse("filter", "statecode eq 3")
    b = parse("filter", "  statecode   eq   3")
    assert a == b and a is not b
    assert a.pos != b.pos  # positions take no part in equality


# ------------------------------------------------------------------------------ positions


def _at(text: str, pos: int, length: int) -> str:
    return text[pos:pos + length]


def test_positions_of_members_literals_and_operators() -> None:
    text = "statecode eq 3 and owninguser/fullname ne 'x'"
    tree = parse("filter", text)
    assert tree.op == "and" and tree.pos == 0
    left, right = tree.left, tree.right
    assert _at(text, left.pos, 2) == "eq"
    assert _at(text, left.left.pos, 9) == "statecode"
    assert _at(text, left.right.pos, 1) == "3"
    assert _at(text, right.pos, 2) == "ne"
    assert _at(text, right.left.pos, 19) == "owninguser/fullname"
    assert _at(text, right.right.pos, 3) == "'x'"


def test_positions_of_keywords_literals() -> None:
    text = "iswaitingforevent eq TRUE or  x eq null or y eq false"
    tree = parse("filter", text)
    true = tree.left.left.right
    null = tree.left.right.right
    false = tree.right.right
    assert (true.value, _at(text, true.pos, 4)) == (True, "TRUE")
    assert (null.value, _at(text, null.pos, 4)) == (None, "null")
    assert (false.value, _at(text, false.pos, 5)) == (False, "false")


def test_positions_of_not_negate_calls_and_lambdas() -> None:
    text = "not  contains(name, 'x') and -depth lt 2"
    tree = parse("filter", text)
    assert isinstance(tree.left, ast.Not) and tree.left.pos == 0
    call = tree.left.operand
    assert _at(text, call.pos, 8) == "contains"
    assert _at(text, call.args[0].pos, 4) == "name"
    assert _at(text, call.args[1].pos, 3) == "'x'"
    negate = tree.right.left
    assert isinstance(negate, ast.Negate) and _at(text, negate.pos, 1) == "-"
    assert _at(text, negate.operand.pos, 5) == "depth"

    text = "x eq 1 or AsyncOperation_BulkDeleteOperation/any(b:b/statecode eq 1)"
    lam = parse("filter", text).right
    assert isinstance(lam, ast.Lambda) and _at(text, lam.pos, 10) == "AsyncOpera"
    assert _at(text, lam.predicate.left.pos, 11) == "b/statecode"


def test_positions_of_has_in_and_parenthesized_operands() -> None:
    text = "(a eq 1) or  b in (1,2)"
    tree = parse("filter", text)
    assert tree.pos == 0
    assert _at(text, tree.left.left.pos, 1) == "a"
    assert isinstance(tree.right, ast.In) and _at(text, tree.right.pos, 1) == "b"
    assert [_at(text, i.pos, 1) for i in tree.right.items] == ["1", "2"]


def test_positions_of_dataverse_calls() -> None:
    text = "statecode eq 3 and Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=[\"31\"])"
    call = parse("filter", text).right
    assert _at(text, call.pos, 9) == "Microsoft"
    name = call.arg("PropertyName")
    values = call.arg("PropertyValues")
    assert _at(text, name.pos, 12) == "'statuscode'"
    assert _at(text, values.pos, 6) == '["31"]'


def test_positions_in_select_expand_apply() -> None:
    text = "name, statecode"
    assert [i.pos for i in parse("select", text).items] == [0, 6]
    text = "createdby($select=fullname),owninguser/$ref"
    items = parse("expand", text).items
    assert _at(text, items[0].pos, 9) == "createdby"
    assert _at(text, items[0].select.items[0].pos, 8) == "fullname"
    assert _at(text, items[1].pos, 10) == "owninguser"
    text = "groupby((statecode),aggregate(executiontimespan with sum as t, $count as n))"
    agg = parse("apply", text).steps[0].aggregate
    assert _at(text, agg[0].pos, 17) == "executiontimespan"
    assert _at(text, agg[1].pos, 6) == "$count"


def test_error_positions() -> None:
    for text, position in [("name eq", 7), ("a eq 1 & b", 7), ("lastname eq 'O'Bryan'", 21),
                            ("contains(name 'x')", 14), ("a eq 99999999999999999999", 5)]:
        with pytest.raises(QuerySyntaxError) as caught:
            parse("filter", text)
        assert caught.value.position == position, text


# ------------------------------------------------------------------------------ literal values


def test_literal_values() -> None:
    tree = parse("filter", "a eq 2024-05-01T10:20:30.1234567+02:00")
    assert tree.right.value == dt.datetime(2024, 5, 1, 8, 20, 30, tzinfo=dt.timezone.utc)
    tree = parse("filter", "a eq AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE")
    assert tree.right.value == uuid.UUID("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
    assert parse("filter", "a eq 2147483647").right.edm_type == "Edm.Int32"
    assert parse("filter", "a eq 2147483648").right.edm_type == "Edm.Int64"
    assert parse("filter", "a eq -2147483648").right.edm_type == "Edm.Int32"
    assert parse("filter", "a eq -2147483649").right.edm_type == "Edm.Int64"
    assert parse("filter", "a eq 1.50").right.value == Decimal("1.50")


def test_trees_are_immutable() -> None:
    tree = parse("filter", "statecode eq 3")
    with pytest.raises(FrozenInstanceError):
        tree.op = "ne"  # type: ignore[misc]
    assert all(f.name != "pos" or not f.compare for f in fields(tree))


# ------------------------------------------------------------------------------ the documented queries


def test_documented_query_texts_are_in_the_corpus() -> None:
    from urllib.parse import urlsplit

    from odata_emulator.query.options import parse_query_string
    from tests.helpers import webapi_request

    texts = {(start, text) for _, start, text, expected in CASES if not expected.startswith("error: ")}
    documented = Path(__file__).resolve().parents[2] / "fixtures" / "documented-queries"
    seen = 0
    for path in sorted(documented.glob("*.webapi.http")):
        target, _ = webapi_request(path)
        options = parse_query_string(urlsplit(target).query)
        for start in ("select", "expand", "apply", "filter", "orderby"):
            text = getattr(options, start)
            if text is not None:
                assert (start, text) in texts, (path.name, start, text)
                seen += 1
    assert seen >= 6


# ------------------------------------------------------------------------------ the grammar's cache


def test_the_parse_tables_are_cached_per_user_and_rebuilt_when_unreadable(tmp_path, monkeypatch) -> None:
    from odata_emulator.query import parser

    monkeypatch.delenv("ODATA_EMULATOR_CACHE_DIR", raising=False)  # the tests' own cache: the user's default here
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = tmp_path / "odata-emulator" / "odata-grammar.lark-cache"
    try:
        parser._lark.cache_clear()
        parser._lark()
        assert cached.stat().st_size > 10_000
        assert oct(cached.parent.stat().st_mode & 0o777) == "0o700"  # unpickled: the user's own
        cached.write_bytes(b"not a cache\n")
        parser._lark.cache_clear()
        assert parser._lark().parse("statecode eq 3", start="filter").data == "compare"
        assert cached.stat().st_size > 10_000  # written again

        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
        (tmp_path / "a-file").write_text("")  # a cache directory that cannot be made: no cache, still parses
        parser._lark.cache_clear()
        assert parser._lark().parse("statecode eq 3", start="filter").data == "compare"
        assert not (tmp_path / "a-file" / "odata-emulator").exists()
    finally:
        parser._lark.cache_clear()
