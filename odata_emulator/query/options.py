"""The query string of a Web API request, split into OData system query options; and the scalar
options (`$top`, `$skip`, `$count`) read as the values they hold.

Decoding is form-style (`+` and `%20` are spaces, `%24select` is `$select`), done once, as every
client encodes differently. Option names are case-sensitive, as in Dataverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ..errors import Code, QueryError, UnsupportedQuery
from .numbers import whole_number

# Options the query pipeline understands.
SUPPORTED = ("$select", "$filter", "$orderby", "$top", "$expand", "$apply", "$count", "$skiptoken", "$deltatoken")
# Standard OData options that Dataverse refuses, with the message it answers.
REFUSED = {
    "$skip": "Skip Clause is not supported in CRM",
    "$search": "Search Clause is not supported in CRM",
    "$format": "Format Clause is not supported in CRM",
    "$compute": "The query parameter '$compute' is not supported.",
    "$levels": "The query parameter '$levels' is not supported.",
    "$index": "The query parameter '$index' is not supported.",
    "$schemaversion": "The query parameter '$schemaversion' is not supported.",
    "$id": "The query parameter '$id' is not supported.",
}


@dataclass(frozen=True)
class QueryOptions:
    select: str | None = None
    filter: str | None = None
    orderby: str | None = None
    top: str | None = None
    expand: str | None = None
    apply: str | None = None
    count: str | None = None
    skiptoken: str | None = None
    deltatoken: str | None = None  # a change tracking delta link's token (api/changes.py)
    # Standard options Dataverse refuses (strict mode answers with an error; loose evaluates $skip).
    refused: tuple[tuple[str, str], ...] = ()
    # Parameter aliases (@p1=...), in request order.
    aliases: tuple[tuple[str, str], ...] = ()
    # Other (non-$) parameters: fetchXml, sql, savedQuery, userQuery, annotations...
    extra: tuple[tuple[str, str], ...] = field(default=())

    def cache_key(self) -> tuple:
        """Everything but the page position: two requests with equal keys compile alike."""
        return (self.select, self.filter, self.orderby, self.top, self.expand, self.apply, self.count,
                self.refused, self.aliases)

    def extra_value(self, name: str) -> str | None:
        for key, value in self.extra:
            if key == name:
                return value
        return None


def parse_query_string(raw: str) -> QueryOptions:
    values: dict[str, str] = {}
    refused: list[tuple[str, str]] = []
    aliases: list[tuple[str, str]] = []
    extra: list[tuple[str, str]] = []
    seen: set[str] = set()
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        raise QueryError("The query string is not valid UTF-8 after URL decoding.") from None
    for key, value in pairs:
        if key in seen:
            raise QueryError(f"Query option '{key}' was specified more than once, but it must be specified at most once.")
        seen.add(key)
        if key.startswith("$"):
            if key in SUPPORTED:
                values[key[1:]] = value
            elif key in REFUSED:
                refused.append((key, value))
            else:
                raise QueryError(f"The query parameter '{key}' is not supported.")
        elif key.startswith("@"):
            aliases.append((key, value))
        else:
            extra.append((key, value))
    return QueryOptions(**values, refused=tuple(refused), aliases=tuple(aliases), extra=tuple(extra))


def check_refused(options: QueryOptions, *, strict: bool) -> None:
    """In strict mode every refused option is an error; loose mode evaluates $skip only."""
    for key, _ in options.refused:
        if strict or key != "$skip":
            raise UnsupportedQuery(REFUSED[key], code=Code.QUERY_SYNTAX)


# ------------------------------------------------------------------------------------ scalar values


def parse_nonnegative(text: str, option: str) -> int:
    # ODataLib reads these as Int64: ASCII digits only ('²'.isdigit() is true), at most Int64.MaxValue.
    if not (text.isascii() and text.isdigit()) or whole_number(text) > 2 ** 63 - 1:
        raise QueryError(
            f"Invalid value '{text}' for {option} query option found. The {option} query option requires a "
            f"non-negative integer value."
        )
    return whole_number(text)


def parse_top(text: str) -> int:
    return parse_nonnegative(text, "$top")


def parse_count(text: str) -> bool:
    if text not in ("true", "false"):
        raise QueryError(f"'{text}' is not a valid count option.")
    return text == "true"
