"""One SELECT (or set operation) planned: checked, named, rewritten scope by scope, written as SQLite.

The steps, each in its own module:
1. `subset.check_subset`: what Dataverse's endpoint refuses (CTEs, OVER, INTO, FOR, OPTION, PIVOT...);
2. `names`: tables and columns resolved against the model's catalog (sqlglot's qualifier);
3. `rewriter`: every expression typed bottom-up, scope by scope, and rewritten where SQLite says it
   differently; set operations unify their branches' types; `subset.check_grouping` per SELECT;
4. TOP/OFFSET without ORDER BY on one table read by its primary key (as the Web API pages);
5. a grouping that counts system jobs by state, status and type reads the store's kept counts
   (`counted.py`);
6. sqlglot writes SQLite, refusing anything the SQLite writer cannot say (never a silent drop); the
   result's columns are renamed _c0, _c1...
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError
from sqlglot.optimizer.scope import Scope, traverse_scope

from ..errors import Refused
from ..types import SqlType
from .conversions import convert
from .counted import read_counts
from .names import first_select, normalize, qualify_columns, written_names
from .rewriter import Rewriter
from .statement import Environment, Query
from .subset import check_grouping, check_subset
from .type_rules import output_type, unify


class Translator:
    def __init__(self, env: Environment) -> None:
        self.env = env
        self.rewriter = Rewriter(env)

    def translate(self, node: exp.Expr, targets: list[SqlType] | None = None) -> Query:
        """`node` (a SELECT or a set operation) as SQLite; `targets`: the types its columns must have."""
        check_subset(node)
        names = written_names(node)
        normalize(node, self.env.catalog)
        node = qualify_columns(node, self.env.catalog)
        rewriter = self.rewriter
        for scope in traverse_scope(node):
            rewriter.scope = scope
            self._rewrite_scope(scope)
        if targets is not None:
            self._retype_projections(node, targets)
        root_types = rewriter.types_of(node)
        columns = [(_written_name(names, i, name), output_type(t)) for i, (name, t) in enumerate(root_types)]
        self._default_order(node)
        _rename_outputs(node)
        read_counts(node)
        try:
            sql = node.sql(dialect="sqlite", unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as exc:
            raise Refused(f"The statement uses SQL the emulator cannot run: {exc}") from None
        return Query(sql, dict(rewriter.args), tuple(dict.fromkeys(rewriter.late)), columns)

    def translate_expression(self, node: exp.Expr, target: SqlType) -> Query:
        """`SELECT <node>` converted to `target` (a DECLARE's default, SET @x = ...)."""
        return self.translate(exp.Select(expressions=[node]), [target])

    def _rewrite_scope(self, scope: Scope) -> None:
        node = scope.expression
        rewriter = self.rewriter
        if isinstance(node, exp.SetOperation):
            self._rewrite_set_operation(node)
            return
        if not isinstance(node, exp.Select):
            raise Refused(f"'{type(node).__name__}' is not supported by the emulator.")
        types: list[tuple[str, SqlType]] = []
        for projection in node.expressions:
            _, sqltype = rewriter.replace(projection)
            types.append((projection.alias_or_name.lower(), sqltype))
        rewriter.types[id(node)] = types
        self._rewrite_clauses(node)
        self._rewrite_limits(node)
        check_grouping(node)

    def _rewrite_clauses(self, node: exp.Select) -> None:
        """A SELECT's ON, WHERE, HAVING, GROUP BY and ORDER BY expressions, in that order."""
        rewriter = self.rewriter
        for join in node.args.get("joins") or ():
            if join.args.get("on") is not None:
                rewriter.replace(join.args["on"])
        for key in ("where", "having"):
            clause = node.args.get(key)
            if clause is not None:
                rewriter.replace(clause.this)
        group = node.args.get("group")
        if group is not None:
            for item in group.expressions:
                rewriter.replace(item)
        order = node.args.get("order")
        if order is not None:
            for ordered in order.expressions:
                rewriter.replace(ordered.this)

    def _rewrite_limits(self, node: exp.Select | exp.SetOperation) -> None:
        for key in ("limit", "offset"):
            if node.args.get(key) is not None:
                self._limit(node.args[key])

    def _rewrite_set_operation(self, node: exp.SetOperation) -> None:
        """UNION/INTERSECT/EXCEPT: both branches converted to the types they unify to."""
        rewriter = self.rewriter
        left, right = rewriter.types_of(node.left), rewriter.types_of(node.right)
        if len(left) != len(right):
            raise Refused("All queries combined using a UNION, INTERSECT or EXCEPT operator must have an "
                          "equal number of expressions in their target lists.")
        merged = [(name, unify(a, b)) for (name, a), (_, b) in zip(left, right)]
        for branch in (node.left, node.right):
            self._retype_projections(branch, [t for _, t in merged])
        rewriter.types[id(node)] = merged
        order = node.args.get("order")
        if order is not None:
            for ordered in order.expressions:
                if not isinstance(ordered.this, exp.Column):
                    rewriter.replace(ordered.this)
        self._rewrite_limits(node)

    def _retype_projections(self, branch: exp.Expr, targets: list[SqlType]) -> None:
        while isinstance(branch, exp.Subquery):
            branch = branch.this
        if isinstance(branch, exp.SetOperation):
            self._retype_projections(branch.left, targets)
            self._retype_projections(branch.right, targets)
            return
        types = self.rewriter.types
        current = types[id(branch)]
        for projection, (_name, have), want in zip(branch.expressions, current, targets):
            if have.name != want.name and have.name != "null":
                inner = projection.this if isinstance(projection, exp.Alias) else projection
                inner.replace(convert(inner.copy(), have, want))
        types[id(branch)] = [(name, want) for (name, _), want in zip(current, targets)]

    def _limit(self, clause: exp.Expr) -> None:
        for key in ("expression", "count"):
            value = clause.args.get(key)
            if value is not None:
                new, sqltype = self.rewriter.expr(value)
                if not (sqltype.is_integer or sqltype.name == "null" or sqltype.is_numeric):
                    raise Refused("The number of rows provided for a TOP or FETCH clauses row count parameter "
                                  "must be an integer.")
                if new is not value:
                    value.replace(new)

    def _default_order(self, node: exp.Expr) -> None:
        """TOP/OFFSET without ORDER BY on one table reads it by its primary key, as the Web API pages it."""
        if not isinstance(node, exp.Select) or node.args.get("order") is not None:
            return
        if node.args.get("limit") is None and node.args.get("offset") is None:
            return
        if node.args.get("joins") or node.args.get("group") or node.args.get("distinct"):
            return
        if any(projection.find(exp.AggFunc) for projection in node.expressions):
            return
        source = node.args.get("from_") or node.args.get("from")
        table = source.this if source is not None else None
        if not isinstance(table, exp.Table):
            return
        found = self.env.catalog.table(table.name)
        if found is None:
            return
        node.set("order", exp.Order(expressions=[exp.Ordered(this=exp.column(found.primary_key,
                                                                              table=table.alias_or_name))]))


def _rename_outputs(node: exp.Expr) -> None:
    """The result's columns become _c0, _c1... (the names reported are `columns`'), whatever they were
    called (duplicates and '' included)."""
    select = first_select(node)
    renamed: dict[str, str] = {}
    for index, projection in enumerate(select.expressions):
        new = f"_c{index}"
        renamed.setdefault(projection.alias_or_name.lower(), new)
        if isinstance(projection, exp.Alias):
            projection.set("alias", exp.to_identifier(new))
        else:
            projection.replace(exp.alias_(projection.copy(), new))
    order = node.args.get("order")
    for ordered in (order.expressions if order is not None else ()):
        for column in [ordered.this] + list(ordered.this.find_all(exp.Column)):
            if isinstance(column, exp.Column) and not column.table and column.name.lower() in renamed:
                column.set("this", exp.to_identifier(renamed[column.name.lower()]))


def _written_name(names: list[str | None] | None, index: int, name: str) -> str:
    """The output name the client wrote for column `index` (set operations take the first SELECT's),
    else the one the projection has."""
    written = names[index] if names and index < len(names) else None
    return written if written is not None else name
