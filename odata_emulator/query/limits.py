"""Caps on the size of a query, shared by the OData and FetchXML binders.

MAX_EXPANSIONS is Dataverse's. The others are the emulator's own (Dataverse documents none;
docs/deviations.md lists them): every sort key, group key and aggregate is a column of the SQL
statement, and SQLite refuses more than 2,000 (SQLITE_MAX_COLUMN, which bounds ORDER BY and
GROUP BY terms too); a page after the first compares every sort key with the paging cookie, a
cost that grows with the square of their number (about a second at 100 keys).
"""

from __future__ import annotations

from ..errors import QueryError

MAX_EXPANSIONS = 15
MAX_SORT_KEYS = 100
MAX_GROUP_KEYS = 100
MAX_AGGREGATES = 100


def check_sort_keys(count: int) -> None:
    if count > MAX_SORT_KEYS:
        raise QueryError(f"The $orderby query option can include at most {MAX_SORT_KEYS} properties.")
