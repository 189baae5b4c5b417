"""The state of one statement's rewriting, and the dispatch of its expressions.

Each expression is rewritten bottom-up into its SQLite form and typed with its SQL Server type; the
handler is looked up by the expression's exact sqlglot class in `HANDLERS`, gathered from the modules
that own them (operands, operators, aggregates, dates, strings, numbers, other functions). A class
with no handler is refused, never passed through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from ..errors import Refused
from ..types import SqlType
from . import aggregates, anonymous, dates, numbers, operands, operators, strings
from .statement import Environment
from .subset import not_a_function
from .type_rules import NULL

Typed = tuple[exp.Expr, SqlType]


class Rewriter:
    def __init__(self, env: Environment) -> None:
        self.env = env
        self.args: dict[str, Any] = {}
        self.late: list[str] = []  # placeholders bound when the statement runs
        self.types: dict[int, list[tuple[str, SqlType]]] = {}  # a SELECT's (by id) projections
        self.scope: Scope | None = None  # the scope being rewritten
        self._aliases = 0

    def expr(self, node: exp.Expr) -> Typed:
        """`node` rewritten (a new node, or `node` changed in place) and its type."""
        handler = HANDLERS.get(type(node))
        if handler is None:
            if isinstance(node, exp.Func):
                raise not_a_function(_function_name(node))
            raise Refused(f"'{node.sql('tsql')[:60]}' is not supported by the emulator.")
        return handler(self, node)

    def replace(self, node: exp.Expr) -> Typed:
        """`node` rewritten where it stands in its tree."""
        new, sqltype = self.expr(node)
        if new is not node:
            node.replace(new)
        return new, sqltype

    def child(self, node: exp.Expr, key: str) -> tuple[exp.Expr | None, SqlType]:
        value = node.args.get(key)
        if value is None:
            return None, NULL
        return self.expr(value)

    def types_of(self, node: exp.Expr) -> list[tuple[str, SqlType]]:
        while isinstance(node, exp.Subquery):
            node = node.this
        return self.types[id(node)]

    def source(self, alias: str):
        """The table or derived table `alias` names, in this scope or an enclosing one."""
        scope = self.scope
        while scope is not None:
            if alias in scope.sources:
                return scope.sources[alias]
            scope = scope.parent
        raise Refused(f"The multi-part identifier '{alias}' could not be bound.")

    def late_value(self, key: str) -> exp.Placeholder:
        """A placeholder for what is known only when the statement runs (plans are shared)."""
        self.late.append(key)
        return exp.Placeholder(this=key)

    def now(self) -> exp.Expr:
        return self.late_value("__now")

    def new_alias(self) -> str:
        self._aliases += 1
        return f"_n{self._aliases}"


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.upper()
    try:
        return node.sql_name()
    except Exception:  # pragma: no cover - every Func has a name
        return type(node).__name__.upper()


HANDLERS: dict[type, Callable[[Rewriter, Any], Typed]] = {
    **operands.HANDLERS,
    **operators.HANDLERS,
    **aggregates.HANDLERS,
    **dates.HANDLERS,
    **strings.HANDLERS,
    **numbers.HANDLERS,
    **anonymous.HANDLERS,
}
