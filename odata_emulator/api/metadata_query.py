"""Query options on the metadata Web API's documents (`model/metadata.py`), evaluated in memory:
`$select`, `$filter` and `$expand` (with a nested `$select`), as Dataverse takes them on
definitions (`query-metadata-web-api.md`): "You can use any of the EntityMetadata properties with
$select system query options and you can use $filter on any properties which use primitive or
enumeration values"; enumeration values are written `Microsoft.Dynamics.CRM.<EnumType>'<Member>'`,
a complex property's primitive as a path (`RequiredLevel/Value`). There is no paging.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import QueryError, UnknownProperty
from ..model.metadata import NS, Document
from ..query import ast
from ..query.options import QueryOptions
from ..query.parser import parse_expand, parse_filter, parse_select

# `Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'`: the parser reads the string literal that follows.
_ENUM_LITERAL = re.compile(r"\bMicrosoft\.Dynamics\.CRM\.[A-Za-z]+(?=')")
_COMPARE = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}


@dataclass(frozen=True)
class Shaping:
    """The options of one request on definitions of type `type_name`, parsed."""

    type_name: str
    select: tuple[str, ...] | None
    filter: ast.Node | None
    expand: tuple[ast.ExpandItem, ...]

    @classmethod
    def read(cls, options: QueryOptions, type_name: str) -> Shaping:
        for name in ("orderby", "top", "apply", "skiptoken", "count"):
            if getattr(options, name) is not None:
                raise QueryError(f"The query option '${name}' is not supported on definitions.")
        select = None
        if options.select is not None:
            parsed = parse_select(options.select)
            select = () if parsed.star else tuple("/".join(item.path) for item in parsed.items)
        where = parse_filter(_ENUM_LITERAL.sub("", options.filter)) if options.filter is not None else None
        expand = parse_expand(options.expand).items if options.expand is not None else ()
        return cls(type_name, select, where, expand)

    @property
    def context_suffix(self) -> str:
        """`(LogicalName,OptionSet)` after the context's resource path, or nothing."""
        names = [*(self.select or ()), *("/".join(item.path) for item in self.expand)]
        return f"({','.join(names)})" if self.select else ""

    def apply(self, documents: Iterable[Document], declared: str | None = None) -> list[dict]:
        """The documents that pass `$filter`, shaped by `$select` and `$expand`."""
        return [self.shape(d, declared) for d in documents if self.passes(d)]

    def passes(self, document: Document) -> bool:
        return self.filter is None or _evaluate(self.filter, document.body, self.type_name) is True

    def shape(self, document: Document, declared: str | None = None) -> dict:
        """`declared`: the type the collection is declared as; a document of another type says its own."""
        body = document.body
        for name in self.select or ():
            if name not in body and name not in document.expandable:
                raise UnknownProperty(name, f"{NS}.{self.type_name}")
        if self.select:
            out = {k: body[k] for k in self.select if k in body}
            out.setdefault("MetadataId", body["MetadataId"])
            if "@odata.type" in body and document.type_name != declared:
                out = {"@odata.type": body["@odata.type"], **out}
        else:
            out = {k: v for k, v in body.items() if k != "@odata.type" or document.type_name != declared}
        for item in self.expand:
            name = "/".join(item.path)
            if name not in document.expandable:
                raise UnknownProperty(name, f"{NS}.{self.type_name}")
            out[name] = select_from(document.expandable[name], item.select)
        return out


def select_from(value, select: ast.Select | None):
    """An expanded definition (or list of them) with its own `$select`; MetadataId always stays."""
    if value is None or select is None or select.star:
        return value
    if isinstance(value, list):
        return [select_from(v, select) for v in value]
    names = ["/".join(item.path) for item in select.items]
    for name in names:
        if name not in value:
            raise UnknownProperty(name, f"{NS}.{value.get('@odata.type', '#OptionSetMetadata')[len(NS) + 2:]}")
    out = {k: value[k] for k in names}
    out.setdefault("MetadataId", value.get("MetadataId"))
    return out


def _evaluate(node: ast.Node, body: dict, type_name: str):
    if isinstance(node, ast.Literal):
        value = node.value
        return str(value) if node.edm_type == "Edm.Guid" else value
    if isinstance(node, ast.Member):
        found: object = body
        for step in node.path:
            if not isinstance(found, dict) or step not in found:
                raise UnknownProperty(step, f"{NS}.{type_name}")
            found = found[step]
        return found
    if isinstance(node, ast.Not):
        return not _evaluate(node.operand, body, type_name)
    if isinstance(node, ast.BinaryOp):
        if node.op in ("and", "or"):
            left = _evaluate(node.left, body, type_name) is True
            right = _evaluate(node.right, body, type_name) is True
            return (left and right) if node.op == "and" else (left or right)
        if node.op in _COMPARE:
            first, second = _evaluate(node.left, body, type_name), _evaluate(node.right, body, type_name)
            if isinstance(first, str) and isinstance(second, str):
                first, second = first.lower(), second.lower()
            try:
                return _COMPARE[node.op](first, second)
            except TypeError as exc:
                raise QueryError(f"The operands of '{node.op}' cannot be compared.") from exc
    raise QueryError("Only comparisons of properties with values, 'and', 'or' and 'not' can filter definitions.")
