"""Dataverse's SQL (one SELECT at a time) rewritten onto the store's SQLite tables, with its result's
types. `batch.py` parses the T-SQL with sqlglot and hands each SELECT to `Translator`.

    planner.py      the whole statement: the steps below in order, set operations, TOP's default order
    subset.py       what Dataverse's endpoint refuses; SQL Server's grouping rule (8120)
    names.py        tables and columns resolved against the model's catalog
    rewriter.py     one statement's rewriting state; expressions dispatched by sqlglot class
    operands.py     columns (choice labels and lookup names included), literals, @params, @@globals
    operators.py    arithmetic, comparisons, predicates, CASE/IIF/COALESCE/NULLIF, CAST/CONVERT
    aggregates.py, dates.py, strings.py, numbers.py, anonymous.py    the built-in functions
    conversions.py  one SQL Server type to another, over the store's storage forms
    type_rules.py   data type precedence, NULL's type, CAST/DECLARE type names
    statement.py    Environment and Param (what a statement is translated with), Query (its result)
    nodes.py        small sqlglot node builders the modules share
"""

from .planner import Translator
from .statement import Environment, Param, Query, parameter_key
from .type_rules import data_type

__all__ = ["Environment", "Param", "Query", "Translator", "data_type", "parameter_key"]
