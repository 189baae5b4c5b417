"""Fuzz of FetchXML queries (`GET asyncoperations?fetchXml=...`, issue 11): well-formed documents made
of the real elements, attributes and operators of `odata_emulator/query/fetchxml/parse.py`, with real and
unknown names and values of every kind, then sometimes mutated into something less well-formed, and
plain text.

Every answer: no 5xx, within a few seconds, a 4xx in Dataverse's shape, the store unchanged
(tests/fuzz/harness.py). Budget: the `ci` profile of tests/fuzz/conftest.py;
`HYPOTHESIS_PROFILE=long pytest tests/fuzz` runs thousands of examples.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from odata_emulator.query.fetchxml import parse as fx
from tests.fuzz import strategies as fs
from tests.fuzz.harness import examples, header_value

EMULATOR = {}

OPERATORS = sorted(fx.OPERATORS) + sorted(fx.KNOWN_UNSUPPORTED) + ["EQ", "equal", "", "x"]
LINKS = [("systemuser", "systemuserid", "owninguser"), ("systemuser", "systemuserid", "createdby"),
         ("businessunit", "businessunitid", "owningbusinessunit"), ("team", "teamid", "owningteam"),
         ("account", "accountid", "regardingobjectid"), ("bulkdeleteoperation", "asyncoperationid",
                                                         "asyncoperationid"),
         ("asyncoperation", "asyncoperationid", "asyncoperationid"), ("nosuch", "x", "y")]
LINKED_COLUMNS = ["fullname", "systemuserid", "name", "businessunitid", "teamid", "accountid", "successcount",
                  "domainname", "isdisabled", "createdon"]

attribute_values = st.one_of(fs.int_text, fs.decimal_text, fs.datetime_text, fs.guid, fs.junk,
                             st.sampled_from(["true", "false", "1", "0", "", " ", "%", "[", "a%", "{" + fs.JOB + "}"]))
booleans = st.one_of(st.sampled_from(["true", "false", "1", "0", "TRUE"]), fs.junk)
whole = st.one_of(st.integers(-1, 6000).map(str), fs.int_text, fs.junk)
column = st.one_of(fs.columns, fs.columns, st.sampled_from(LINKED_COLUMNS), fs.any_name)
alias = st.one_of(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), fs.junk)


def _maybe(draw, element: ET.Element, name: str, values) -> None:
    if draw(fs.one_in(4)):
        element.set(name, draw(values))


@st.composite
def attributes(draw, parent: ET.Element) -> None:
    element = ET.SubElement(parent, "attribute", {"name": draw(column)})
    _maybe(draw, element, "alias", alias)
    _maybe(draw, element, "aggregate", st.one_of(st.sampled_from(sorted(fx.AGGREGATES)), fs.junk))
    _maybe(draw, element, "groupby", booleans)
    _maybe(draw, element, "dategrouping", st.one_of(st.sampled_from(sorted(fx.DATE_GROUPINGS)), fs.junk))
    _maybe(draw, element, "distinct", booleans)
    _maybe(draw, element, draw(st.sampled_from(["usertimezone", "rowaggregate", "x"])), fs.junk)


@st.composite
def orders(draw, parent: ET.Element) -> None:
    element = ET.SubElement(parent, "order")
    which = draw(st.integers(0, 4))
    if which <= 2:
        element.set("attribute", draw(column))
    if which >= 2:
        element.set("alias", draw(alias))
    _maybe(draw, element, "descending", booleans)
    _maybe(draw, element, "entityname", alias)


@st.composite
def conditions(draw, parent: ET.Element) -> None:
    element = ET.SubElement(parent, "condition", {"attribute": draw(column),
                                                  "operator": draw(st.sampled_from(OPERATORS))})
    shape = draw(st.integers(0, 3))
    if shape == 0:
        element.set("value", draw(attribute_values))
    elif shape == 1:
        for value in draw(st.lists(attribute_values, max_size=5)):
            ET.SubElement(element, "value").text = value
        _maybe(draw, element, "value", st.just(""))
    elif shape == 2:
        element.set("value", draw(attribute_values))
        ET.SubElement(element, "value").text = draw(attribute_values)
    _maybe(draw, element, "entityname", st.one_of(alias, st.sampled_from(["u", "b", "asyncoperation"])))
    if draw(fs.one_in(10)):
        element.set(draw(st.sampled_from(["valueof", "column", "aggregate", "alias", "uiname", "x"])), draw(column))
    if draw(fs.one_in(15)):
        ET.SubElement(element, draw(st.sampled_from(["value", "filter", "x"]))).append(ET.Element("value"))


@st.composite
def filters(draw, parent: ET.Element, depth: int) -> None:
    element = ET.SubElement(parent, "filter")
    _maybe(draw, element, "type", st.one_of(st.sampled_from(["and", "or", "AND"]), fs.junk))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 5))
        if kind <= 3:
            draw(conditions(element))
        elif kind == 4 and depth < 6:
            draw(filters(element, depth + 1))
        else:
            ET.SubElement(element, draw(st.sampled_from(["link-entity", "attribute", "x"])))


@st.composite
def children(draw, parent: ET.Element, depth: int) -> None:
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 9))
        if kind <= 2:
            draw(attributes(parent))
        elif kind == 3:
            ET.SubElement(parent, "all-attributes")
        elif kind <= 5:
            draw(orders(parent))
        elif kind <= 7:
            draw(filters(parent, depth))
        elif kind == 8 and depth < 4:
            draw(links(parent, depth + 1))
        else:
            ET.SubElement(parent, draw(st.sampled_from(["condition", "value", "fetch", "entity", "x"])))


@st.composite
def links(draw, parent: ET.Element, depth: int) -> None:
    name, from_, to = draw(st.sampled_from(LINKS))
    element = ET.SubElement(parent, "link-entity", {"name": name, "from": from_, "to": to})
    if draw(fs.one_in(6)):
        element.set(draw(st.sampled_from(["name", "from", "to"])), draw(column))
    _maybe(draw, element, "alias", alias)
    _maybe(draw, element, "link-type", st.one_of(st.sampled_from(sorted(fx.LINK_TYPES)), fs.junk))
    _maybe(draw, element, "visible", booleans)
    draw(children(element, depth))


LINKED = {"systemuser": ("systemuserid", "owninguser"), "businessunit": ("businessunitid", "owningbusinessunit"),
          "team": ("teamid", "owningteam"), "account": ("accountid", "regardingobjectid"),
          "bulkdeleteoperation": ("asyncoperationid", "asyncoperationid")}
NUMERIC = [a.name for a in fs.ENTITY.attributes if fs.kind_of(a.type) == "number" and a.in_webapi]
GROUPABLE = ["statecode", "statuscode", "operationtype", "owninguser", "name", "createdon", "completedon", "depth"]


def _clean_filter(draw, parent: ET.Element, entity: str, depth: int) -> None:
    element = ET.SubElement(parent, "filter", {"type": draw(st.sampled_from(["and", "or"]))})
    for _ in range(draw(st.integers(1, 4))):
        if depth < 4 and draw(fs.one_in(5)):
            _clean_filter(draw, element, entity, depth + 1)
            continue
        name, operator, values = draw(fs.typed_condition(entity, noisy=draw(fs.one_in(5))))
        condition = ET.SubElement(element, "condition", {"attribute": name, "operator": operator})
        if len(values) == 1 and operator not in ("in", "not-in") and draw(st.booleans()):
            condition.set("value", values[0])
        else:
            for value in values:
                ET.SubElement(condition, "value").text = value


@st.composite
def clean_documents(draw) -> str:
    """A query as a careful client writes it: real columns, operators that fit their types, links
    along real relationships, aggregates with aliases."""
    root = ET.Element("fetch")
    entity = ET.SubElement(root, "entity", {"name": "asyncoperation"})
    aggregate = draw(fs.one_in(4))
    if aggregate:
        root.set("aggregate", "true")
        groups = draw(st.lists(st.sampled_from(GROUPABLE), max_size=3, unique=True))
        for i, name in enumerate(groups):
            group = ET.SubElement(entity, "attribute", {"name": name, "groupby": "true", "alias": f"g{i}"})
            if name in ("createdon", "completedon"):
                group.set("dategrouping", draw(st.sampled_from(["day", "week", "month", "quarter", "year"])))
        for i in range(draw(st.integers(1 if not groups else 0, 3))):
            function = draw(st.sampled_from(["count", "countcolumn", "sum", "avg", "min", "max"]))
            name = draw(st.sampled_from(NUMERIC)) if function not in ("count", "countcolumn") else \
                draw(st.sampled_from(["asyncoperationid", "name", "statecode"]))
            ET.SubElement(entity, "attribute", {"name": name, "aggregate": function, "alias": f"a{i}"})
            if function == "countcolumn" and draw(st.booleans()):
                entity[-1].set("distinct", "true")
        if groups and draw(st.booleans()):
            ET.SubElement(entity, "order", {"alias": "g0", "descending": draw(st.sampled_from(["true", "false"]))})
        if draw(fs.one_in(4)):
            root.set("aggregatelimit", str(draw(st.integers(1, 500))))
    else:
        for name in draw(st.lists(st.sampled_from(fs.READABLE), max_size=4, unique=True)):
            ET.SubElement(entity, "attribute", {"name": name})
        for name in draw(st.lists(st.sampled_from(["name", "createdon", "statecode", "sequence", "completedon"]),
                                  max_size=2, unique=True)):
            ET.SubElement(entity, "order", {"attribute": name, "descending": draw(st.sampled_from(["true", "false"]))})
        paging = draw(st.integers(0, 3))
        if paging == 0:
            root.set("top", str(draw(st.integers(1, 20))))
        elif paging == 1:
            root.set("count", str(draw(st.integers(1, 20))))
            root.set("page", str(draw(st.integers(1, 4))))
        if draw(fs.one_in(4)):
            root.set("distinct", "true")
        if draw(fs.one_in(4)):
            root.set("returntotalrecordcount", "true")
    if draw(st.booleans()):
        _clean_filter(draw, entity, "asyncoperation", 1)
    if draw(fs.one_in(3)):
        target = draw(st.sampled_from(sorted(LINKED)))
        from_, to = LINKED[target]
        link = ET.SubElement(entity, "link-entity", {"name": target, "from": from_, "to": to,
                                                     "link-type": draw(st.sampled_from(["inner", "outer"])),
                                                     "alias": "l"})
        if not aggregate and draw(st.booleans()):
            ET.SubElement(link, "attribute", {"name": "name" if target != "systemuser" else "fullname"})
        if draw(st.booleans()):
            _clean_filter(draw, link, target, 1)
    text = ET.tostring(root, encoding="unicode")
    if draw(fs.one_in(5)):
        text = draw(fs.mutated(text))
    return text


@st.composite
def documents(draw) -> str:
    if draw(fs.one_in(2)):
        return draw(clean_documents())
    root = ET.Element("fetch")
    for name, values in (("top", whole), ("count", whole), ("page", whole), ("distinct", booleans),
                         ("aggregate", booleans), ("aggregatelimit", whole), ("returntotalrecordcount", booleans),
                         ("paging-cookie", st.one_of(fs.junk, st.builds(
                             lambda g: f'<cookie page="1"><asyncoperationid last="{{{g}}}" first="{{{g}}}" />'
                                       f'</cookie>', fs.fuzzy_guid))),
                         ("no-lock", booleans), ("version", fs.junk), ("mapping", st.just("logical")),
                         ("output-format", fs.junk), ("latematerialize", booleans), ("x", fs.junk)):
        if draw(fs.one_in(6)):
            root.set(name, draw(values))
    for _ in range(draw(st.sampled_from([1, 1, 1, 1, 0, 2]))):
        entity = ET.SubElement(root, "entity", {"name": draw(st.one_of(st.just("asyncoperation"),
                                                                       st.sampled_from(fs.LOGICAL_NAMES), fs.junk))})
        draw(children(entity, depth=1))
    if draw(fs.one_in(10)):
        ET.SubElement(root, "order", {"attribute": "name"})
    text = ET.tostring(root, encoding="unicode")
    kind = draw(st.integers(0, 9))
    if kind == 0:
        text = draw(fs.mutated(text))
    elif kind == 1:
        text = draw(st.sampled_from([
            '<?xml version="1.0"?><!DOCTYPE fetch [<!ENTITY a "aaaa">]><fetch><entity name="&a;"/></fetch>',
            '<fetch><entity name="asyncoperation">' + "<link-entity name='systemuser' from='systemuserid' "
            "to='owninguser'>" * 40 + "</link-entity>" * 40 + "</entity></fetch>",
            "<fetch><entity name='asyncoperation'>" + "<filter>" * 200 + "</filter>" * 200 + "</entity></fetch>",
            "<fetch><entity name='asyncoperation'>" + "<order attribute='name'/>" * 3000 + "</entity></fetch>",
            "<fetch aggregate='true'><entity name='asyncoperation'>" + "".join(
                f"<attribute name='statecode' groupby='true' alias='g{i}'/>" for i in range(2100)) + "</entity></fetch>",
            "<fetch/>", "<fetch>", "", "<", "<x/>", "<fetch><entity/></fetch>",
            '<fetch xmlns="urn:x"><entity name="asyncoperation"/></fetch>',
            '<fetch><entity name="asyncoperation"><attribute name="name"/></entity></fetch><fetch/>',
        ]))
    elif kind == 2:
        text = draw(st.text(max_size=200))
    return text


@settings(max_examples=examples(1.5))
@given(document=documents(), count=st.sampled_from([None, None, None, "true", "false", "x"]),
       prefer=st.sampled_from([None, 'odata.include-annotations="*"', "odata.maxpagesize=2",
                               ('odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,'
                               'Microsoft.Dynamics.CRM.morerecords"')]),
       extra=st.sampled_from(["", "", "", "", "", "", "&$select=name", "&$top=1", "&$filter=statecode eq 1", "&sql=x",
                              "&fetchXml=<fetch/>", "&$nosuch=1"]),
       how=st.integers(0, 2))
def test_fetchxml(harness, document, count, prefer, extra, how):
    url = "asyncoperations?fetchXml=" + (quote(document, safe="") if how < 2 else fs.percent_encode(document, 2))
    if count is not None:
        url += f"&$count={count}"
    url += extra
    assume(len(url) < 60_000)

    async def go():
        before = await harness.digest()
        headers = {"Prefer": header_value(prefer)} if prefer else {}
        answer = await harness.ask("GET", url, headers=headers)
        assert await harness.digest() == before, answer.request
        if answer.status == 200:
            body = answer.response.json()
            assert isinstance(body.get("value"), list), answer.request

    harness.run(go())
