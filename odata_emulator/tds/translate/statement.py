"""What a statement is translated with (`Environment`, `Param`) and what it becomes (`Query`).

Plans are cached by statement text and parameter types (`session.py`), so nothing here holds a
value: a parameter's value is bound when the statement runs, under `parameter_key(name)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog
from ..types import SqlType


@dataclass(frozen=True)
class Param:
    """A name the statement refers to (an RPC parameter or a DECLAREd variable) and its SQL Server type.
    Its value is bound when the statement runs, under `parameter_key(name)`, in storage form (epoch
    seconds, lowercase GUID text...): a plan depends on the types only, so it can be cached."""

    type: SqlType


def parameter_key(name: str) -> str:
    return f"p_{re.sub(r'[^0-9a-z_]', '_', name.lower())}"


@dataclass
class Environment:
    """What a statement is translated with."""

    catalog: Catalog
    params: dict[str, Param] = field(default_factory=dict)  # lowercase name without '@'
    version: str = "Microsoft SQL Azure (RTM) - 12.0.2000.8"
    server: str = "odata-emulator"
    database: str = "emulator"


@dataclass
class Query:
    """A SELECT ready to run: SQLite text with named placeholders, the values known now, the names
    filled in when it runs (variables, `__now`, `__rowcount`), and the result's columns."""

    sql: str  # the values in storage form, as `rows.rows_encoder` reads them (and a variable's value)
    args: dict[str, Any]
    late: tuple[str, ...]
    columns: list[tuple[str, SqlType]]
    # The result's COLMETADATA token and its rows' encoder, made on the first run: a cached plan runs often.
    head: tuple[bytes, Any] | None = field(default=None, init=False, repr=False, compare=False)
