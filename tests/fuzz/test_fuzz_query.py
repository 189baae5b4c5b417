"""Fuzz of the Web API's query options (issue 11): `$filter`, `$select`, `$orderby`, `$top`, `$expand`,
`$apply`, `$count`, `$skiptoken`, parameter aliases and the `Prefer` header, on
`asyncoperations`, `asyncoperations(<id>)`, `asyncoperations/$count` and a few related paths, in
strict and loose mode.

Every answer: no 5xx, within a few seconds, a 4xx in Dataverse's shape (tests/fuzz/harness.py).
Queries change nothing, so every answer must also leave the store as it was.

Budget: the `ci` profile of tests/fuzz/conftest.py; `HYPOTHESIS_PROFILE=long pytest tests/fuzz`
runs thousands of examples.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as fs
from tests.fuzz.harness import examples, header_value

EMULATOR = {}

COMPARE = ["eq", "ne", "gt", "ge", "lt", "le"]
ARITHMETIC = ["add", "sub", "mul", "div", "divby", "mod"]
PATHS = ["owninguser/fullname", "createdby/fullname", "owningbusinessunit/name", "createdby/businessunitid/name",
         "regardingobjectid_account/name", "owninguser/nosuch", "name/length"]
AGGREGATES = ["sum", "min", "max", "average", "countdistinct", "count", "median"]
LOOSE_CALLS = ["tolower", "toupper", "trim", "length", "year", "month", "day", "hour", "minute", "second", "date",
               "round", "floor", "ceiling", "time", "totaloffsetminutes", "fractionalseconds", "cast", "isof"]


@st.composite
def atoms(draw) -> str:
    """One condition, as Dataverse's documentation writes them, with real names and values (mostly)."""
    name = draw(fs.any_name)
    kind = draw(st.integers(0, 11))
    if kind <= 2:
        return f"{name} {draw(st.sampled_from(COMPARE))} {draw(fs.literal_for(name))}"
    if kind == 3:
        function = draw(st.sampled_from(["contains", "startswith", "endswith", "substringof", "indexof"]))
        return f"{function}({name},{draw(fs.string_literal)})"
    if kind == 4:
        function = draw(st.sampled_from(LOOSE_CALLS))
        arguments = [name] + draw(st.lists(st.one_of(fs.int_text, fs.literal_for(name)), max_size=2))
        return f"{function}({','.join(arguments)}) {draw(st.sampled_from(COMPARE))} {draw(fs.literal_for(name))}"
    if kind == 5:
        operator = draw(st.sampled_from(ARITHMETIC))
        return f"{name} {operator} {draw(fs.int_text)} {draw(st.sampled_from(COMPARE))} {draw(fs.int_text)}"
    if kind == 6:
        values = draw(st.lists(fs.literal_for(name), max_size=5))
        return f"{name} in ({','.join(values)})"
    if kind == 7:
        function = draw(st.sampled_from(fs.DATAVERSE_FUNCTIONS))
        arguments = [draw(st.sampled_from([f"PropertyName='{name}'", f"PropertyName='{name}'", f"PropertyName={name}",
                                           "PropertyName=@p0", f"propertyname='{name}'"]))]
        shape = draw(st.integers(0, 3))
        if shape == 0:
            arguments.append(f"PropertyValue={draw(st.one_of(fs.int_text, fs.literal_for(name)))}")
        elif shape == 1:
            values = draw(st.lists(st.one_of(fs.literal_for(name), fs.int_text.map(lambda t: f'"{t}"')), max_size=4))
            arguments.append(f"PropertyValues=[{','.join(values)}]")
        elif shape == 2:
            arguments.append(f"{draw(fs.any_name)}={draw(fs.literal_for(name))}")
        return f"Microsoft.Dynamics.CRM.{function}({','.join(arguments)})"
    if kind == 8:
        return f"{draw(st.sampled_from(PATHS))} {draw(st.sampled_from(COMPARE))} {draw(fs.literal_for(name))}"
    if kind == 9:
        inner = f"b/{draw(fs.any_name)} {draw(st.sampled_from(COMPARE))} {draw(fs.literal_for(name))}"
        operator = draw(st.sampled_from(["any", "all", "none"]))
        return f"AsyncOperation_BulkDeleteOperation/{operator}(b:{inner})"
    if kind == 10:
        return f"{name} has {draw(fs.literal_for(name))}"
    return f"@p{draw(st.integers(0, 3))} {draw(st.sampled_from(COMPARE))} {draw(fs.literal_for(name))}"


def _combine(children) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", children, st.sampled_from(["and", "or"]), children),
        children.map(lambda a: f"({a})"),
        children.map(lambda a: f"not {a}"),
        children.map(lambda a: f"not ({a})"),
    )


filters = st.one_of(
    st.recursive(atoms(), _combine, max_leaves=8),
    # Deep nesting and long chains: parsers that recurse, SQL that grows.
    st.builds(lambda n, a: "(" * n + a + ")" * n, st.integers(1, 400), atoms()),
    st.builds(lambda n, a: "not " * n + a, st.integers(1, 400), atoms()),
    st.builds(lambda n, a, op: f" {op} ".join([a] * n), st.integers(2, 1200), atoms(), st.sampled_from(["and", "or"])),
    st.builds(lambda n: "retrycount" + " add 1" * n + " gt 0", st.integers(1, 600)),
    fs.junk,
)
selects = st.one_of(
    st.lists(fs.any_name, min_size=1, max_size=8).map(",".join),
    st.sampled_from(["*", "", ",", "name,", "name,name", "owninguser", "Microsoft.Dynamics.CRM.asyncoperation"]),
    st.builds(lambda n: ",".join(fs.PROPERTIES * n), st.integers(1, 60)),
)
orderbys = st.one_of(
    st.lists(st.builds(lambda n, d: f"{n}{d}", st.one_of(fs.any_name, st.sampled_from(PATHS)),
                       st.sampled_from(["", " asc", " desc", " ASC", " sideways"])), min_size=1, max_size=5).map(
        ",".join),
    st.builds(lambda n: ",".join(["name desc", "createdon"] * n), st.integers(1, 1500)),
)
tops = st.one_of(st.integers(-1, 6000).map(str), fs.int_text, fs.junk)


@st.composite
def expands(draw, depth: int = 0) -> str:
    items = []
    for _ in range(draw(st.integers(1, 3))):
        navigation = draw(st.one_of(st.sampled_from(fs.NAVIGATIONS), fs.any_name))
        options = []
        if draw(st.booleans()):
            options.append(f"$select={draw(selects)}")
        if draw(fs.one_in(4)):
            options.append(f"$filter={draw(filters)}")
        if draw(fs.one_in(4)):
            options.append(f"$orderby={draw(orderbys)}")
        if draw(fs.one_in(4)):
            options.append(f"$top={draw(tops)}")
        if depth < 3 and draw(fs.one_in(4)):
            options.append(f"$expand={draw(expands(depth + 1))}")
        items.append(navigation + (f"({';'.join(options)})" if options else ""))
    return ",".join(items)


@st.composite
def applies(draw) -> str:
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            steps.append(f"filter({draw(filters)})")
        elif kind == 1:
            group = ",".join(draw(st.lists(st.one_of(fs.any_name, st.sampled_from(PATHS)), min_size=1, max_size=4)))
            steps.append(f"groupby(({group}))" if draw(st.booleans()) else
                         f"groupby(({group}),aggregate({draw(aggregations())}))")
        elif kind == 2:
            steps.append(f"aggregate({draw(aggregations())})")
        else:
            steps.append(draw(st.sampled_from(["orderby(name)", "top(3)", "compute(1 as x)", "expand(owninguser)",
                                               "groupby()", "aggregate()", "identity"])))
    return "/".join(steps)


@st.composite
def aggregations(draw) -> str:
    items = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(fs.one_in(4)):
            items.append(f"$count as {draw(fs.any_name)}")
        else:
            items.append(f"{draw(fs.any_name)} with {draw(st.sampled_from(AGGREGATES))} as "
                         f"{draw(st.one_of(st.just('total'), fs.any_name))}")
    return ",".join(items)


def _cookie(page: str, inner: str) -> str:
    return f'<cookie pagenumber="{page}" pagingcookie="{quote(inner, safe="")}" istracking="False" />'


skiptokens = st.one_of(
    st.builds(lambda page, guid: _cookie(page, f'<cookie page="1"><asyncoperationid last="{{{guid}}}" '
                                               f'first="{{{guid}}}" /></cookie>'),
              st.one_of(st.integers(-1, 5).map(str), fs.int_text, fs.junk), fs.fuzzy_guid),
    st.builds(lambda page, name, value: _cookie(page, f'<cookie page="1"><{name} last="{value}" />'
                                                      f'<asyncoperationid last="{{{fs.JOB}}}" /></cookie>'),
              st.integers(2, 3).map(str), st.sampled_from(["name", "createdon", "retrycount", "sequence", "x"]),
              st.one_of(fs.int_text, fs.datetime_text, fs.junk)),
    fs.junk,
    st.sampled_from(["<cookie/>", "<!DOCTYPE x [<!ENTITY a 'b'>]><cookie pagenumber='2'/>", "&lt;", "%3Ccookie",
                     '<cookie pagenumber="2" pagingcookie="%3Ccookie%3E" />']),
)
annotations = st.one_of(
    st.sampled_from(['"*"', "*", '"OData.Community.Display.V1.FormattedValue"',
                     '"Microsoft.Dynamics.CRM.lookuplogicalname,Microsoft.Dynamics.CRM.totalrecordcount"',
                     "Microsoft.Dynamics.CRM.*", '"-*"', '""', '"', "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]),
    fs.junk,
)
prefers = st.lists(st.one_of(
    st.builds(lambda v: f"odata.maxpagesize={v}", st.one_of(st.integers(-1, 6000).map(str), fs.int_text, fs.junk)),
    st.builds(lambda v: f"odata.include-annotations={v}", annotations),
    st.sampled_from(["return=representation", "odata.continue-on-error", "odata.track-changes", ",", "=", '"']),
    fs.junk,
), max_size=3).map(",".join)


@st.composite
def query_strings(draw, single: bool = False) -> str:
    """A query string: options with grammar-aware values, sometimes mutated, encoded one way or another."""
    options = {
        "$filter": filters, "$select": selects, "$orderby": orderbys, "$top": tops, "$expand": expands(),
        "$apply": applies(), "$count": st.sampled_from(["true", "false", "TRUE", "1", ""]) | fs.junk,
        "$skiptoken": skiptokens, "$skip": tops, "$search": fs.junk, "$format": st.sampled_from(["json", "xml"]),
        "@p0": st.one_of(fs.names, fs.int_text, fs.string_literal), "@p1": fs.literal_for("statecode"),
        "fetchXml": fs.junk, "savedQuery": fs.fuzzy_guid, "$nosuch": fs.junk,
    }
    common = ["$filter", "$select", "$orderby", "$top", "$expand", "$apply", "$count"]
    chosen = draw(st.lists(st.sampled_from(common if draw(st.integers(0, 3)) else sorted(options)), max_size=4,
                           unique=not draw(fs.one_in(6))))
    if single:
        chosen = [c for c in chosen if c in ("$select", "$expand")] or chosen[:1]
    pairs = [(name, draw(options[name])) for name in chosen]
    how = draw(st.integers(0, 2))
    text = "&".join(f"{fs.percent_encode(name, how)}={fs.percent_encode(value, how)}" for name, value in pairs)
    if draw(fs.one_in(5)):
        text = draw(fs.mutated(text))
    return text


@st.composite
def targets(draw) -> str:
    path = draw(st.sampled_from([
        "asyncoperations", "asyncoperations", "asyncoperations", "asyncoperations/$count", f"asyncoperations({fs.JOB})",
        f"asyncoperations({fs.JOB})/owninguser", f"asyncoperations({fs.JOB})/AsyncOperation_BulkDeleteOperation",
        f"systemusers({fs.SYSTEM_USER})/system_user_asyncoperation", "systemusers", "bulkdeleteoperations",
        "EntityDefinitions",
    ]))
    if draw(fs.one_in(10)):
        path = f"asyncoperations({draw(fs.fuzzy_guid)})"
    return path + "?" + draw(query_strings(single="(" in path and "/" not in path))


def _check_query(harness, url: str, prefer: str | None) -> None:
    # httpx takes URLs up to 64 KB; the emulator refuses anything past 32 KB with a 414 anyway.
    assume(len(url) < 60_000)

    async def go():
        headers = {"Prefer": header_value(prefer)} if prefer is not None else {}
        before = await harness.digest()
        answer = await harness.ask("GET", url, headers=headers)
        # A query never writes, whatever it answers.
        assert await harness.digest() == before, answer.request
        if answer.status == 200 and not url.split("?")[0].endswith("$count"):
            body = answer.response.json()
            assert "@odata.context" in body or "value" in body or body == {}, answer.request
            link = body.get("@odata.nextLink")
            if link:  # the next page answers too
                follow = urlsplit(link)
                assert parse_qs(follow.query, keep_blank_values=True).get("$skiptoken"), link
                await harness.ask("GET", link, headers=headers)

    harness.run(go())


@settings(max_examples=examples(1.5))
@given(url=targets(), prefer=st.none() | prefers)
def test_query_options_strict(harness, url, prefer):
    _check_query(harness, url, prefer)


@settings(max_examples=examples(0.7))
@given(url=targets(), prefer=st.none() | prefers)
def test_query_options_loose(loose_harness, url, prefer):
    _check_query(loose_harness, url, prefer)


@settings(max_examples=examples(0.3))
@given(text=st.text(max_size=200), option=st.sampled_from(["$filter", "$select", "$orderby", "$expand", "$apply",
                                                             "$top", "$skiptoken", "$count", ""]))
def test_plain_text_as_an_option(harness, text, option):
    _check_query(harness, f"asyncoperations?{option}={fs.percent_encode(text, 0)}" if option else
                 f"asyncoperations?{fs.percent_encode(text, 1)}", None)


ORDERABLE = ["name", "createdon", "executiontimespan", "retrycount", "sequence", "statecode", "completedon",
             "_owninguser_value", "iswaitingforevent", "asyncoperationid", "postponeuntil", "depth"]


@st.composite
def keyset_pages(draw) -> str:
    """A next-page request as the emulator writes its @odata.nextLink (`$orderby` plus a paging cookie
    holding the last row's values), with those values replaced by anything: the cookie's element per
    sort column matches, so its values reach the keyset predicate."""
    columns = draw(st.lists(st.sampled_from(ORDERABLE), min_size=0, max_size=3, unique=True))
    orderby = ",".join(f"{c}{draw(st.sampled_from(['', ' desc']))}" for c in columns)
    names = [c.removeprefix("_").removesuffix("_value") for c in columns if c != "asyncoperationid"]
    names.append("asyncoperationid")
    anything = st.one_of(fs.int_text, fs.decimal_text, fs.datetime_text, fs.guid.map(lambda g: "{" + g + "}"),
                         st.sampled_from(["nan", "inf", "-inf", "1e999", "", " ", "true"]), fs.junk)

    def value(name: str) -> str:
        kind = fs.kind_of(fs.ENTITY.columns[name].type)
        typed = {"number": st.one_of(st.integers(-5, 500).map(str), st.floats(allow_nan=False).map(repr)),
                 "datetime": fs.datetimes.map(lambda d: d.strftime("%m/%d/%Y %H:%M:%S")) | fs.datetime_text,
                 "guid": fs.guid.map(lambda g: "{" + g.upper() + "}"), "boolean": st.sampled_from(["0", "1"]),
                 "string": st.text(max_size=12)}[kind]
        return draw(typed if draw(st.booleans()) else anything)

    elements = "".join(
        f"<{name}{'' if draw(fs.one_in(6)) else ' last=' + quote_attr(value(name))} />" for name in names)
    inner = f'<cookie page="{draw(st.sampled_from(["1", "2", "0", "-1", fs.HUGE_DIGITS[4]]))}">{elements}</cookie>'
    page = draw(st.one_of(st.sampled_from(["2", "3", "2147483648"]), fs.int_text))
    token = _cookie(page, inner)
    query = f"$select=name{'&$orderby=' + orderby if orderby else ''}&$skiptoken={quote(token, safe='=')}"
    if draw(fs.one_in(3)):
        query += f"&$filter={draw(filters)}"
    if draw(fs.one_in(4)):
        query += f"&$top={draw(st.sampled_from(['1', '5000', '5001', '10001']))}"
    return "asyncoperations?" + query


def quote_attr(value: str) -> str:
    return '"' + value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;") + '"'


@settings(max_examples=examples(0.5))
@given(url=keyset_pages(), size=st.sampled_from([None, "2", "1", "5000"]))
def test_keyset_paging_cookies(harness, url, size):
    _check_query(harness, url, f"odata.maxpagesize={size}" if size else None)
