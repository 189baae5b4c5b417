"""The query tree (`ast.Fetch`) -> FetchXML text: what `bulkdeleteoperation.orderedquerysetxml`
holds for a BulkDelete's QuerySet. Parsing the text (`parse.py`) gives back an equal tree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .. import ast
from .parse import OPERATORS

_OPERATOR_NAMES: dict[str, str] = {}
for _written, _name in OPERATORS.items():
    _OPERATOR_NAMES.setdefault(_name, _written)


def to_fetchxml(fetch: ast.Fetch) -> str:
    """The query as FetchXML text (what `bulkdeleteoperation.orderedquerysetxml` holds); parsing
    it gives back an equal tree."""
    root = ET.Element("fetch", _flags(
        ("distinct", fetch.distinct), ("aggregate", fetch.aggregate),
        ("returntotalrecordcount", fetch.total_record_count)))
    for name, value in (("top", fetch.top), ("count", fetch.count), ("page", fetch.page),
                        ("aggregatelimit", fetch.aggregate_limit), ("paging-cookie", fetch.paging_cookie)):
        if value is not None:
            root.set(name, str(value))
    entity = ET.SubElement(root, "entity", {"name": fetch.entity})
    _print_children(entity, fetch)
    return ET.tostring(root, encoding="unicode")


def _flags(*pairs: tuple[str, bool]) -> dict[str, str]:
    return {name: "true" for name, on in pairs if on}


def _print_children(element: ET.Element, part: ast.Fetch | ast.FetchLink) -> None:
    if part.all_attributes:
        ET.SubElement(element, "all-attributes")
    for attribute in part.attributes:
        values = {"name": attribute.name}
        for key, value in (("alias", attribute.alias), ("aggregate", attribute.aggregate),
                           ("dategrouping", attribute.dategrouping)):
            if value is not None:
                values[key] = value
        values.update(_flags(("groupby", attribute.groupby), ("distinct", attribute.distinct)))
        ET.SubElement(element, "attribute", values)
    for order in part.orders:
        if order.attribute is not None:
            values = {"attribute": order.attribute}
        else:
            assert order.alias is not None  # an order names an attribute or an alias (parse.py)
            values = {"alias": order.alias}
        values.update(_flags(("descending", order.descending)))
        ET.SubElement(element, "order", values)
    if part.filter is not None:
        _print_filter(element, part.filter)
    for link in part.links:
        values = {"name": link.name, "from": link.from_attribute, "to": link.to_attribute, "link-type": link.link_type}
        if link.alias is not None:
            values["alias"] = link.alias
        _print_children(ET.SubElement(element, "link-entity", values), link)


def _print_filter(parent: ET.Element, node: ast.Node) -> None:
    kind = node.op if isinstance(node, ast.BinaryOp) else "and"
    element = ET.SubElement(parent, "filter", {"type": kind})
    pending = [node]
    while pending:
        current = pending.pop(0)
        if isinstance(current, ast.BinaryOp) and current.op == kind:
            pending[:0] = [current.left, current.right]
        elif isinstance(current, ast.BinaryOp):
            _print_filter(element, current)
        else:
            assert isinstance(current, ast.Condition)  # and/or nodes over conditions: all a filter holds
            _print_condition(element, current)


def _print_condition(parent: ET.Element, condition: ast.Condition) -> None:
    values = {"attribute": condition.attribute, "operator": _OPERATOR_NAMES[condition.operator]}
    if condition.entity is not None:
        values["entityname"] = condition.entity
    element = ET.SubElement(parent, "condition", values)
    if len(condition.values) == 1 and condition.operator not in ("In", "NotIn", "Between", "NotBetween"):
        element.set("value", condition.values[0])
    else:
        for value in condition.values:
            ET.SubElement(element, "value").text = value
