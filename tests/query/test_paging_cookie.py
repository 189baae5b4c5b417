"""The `$skiptoken` paging cookie: Dataverse's format, round trips of every kind of ordering value,
and decoding that refuses anything else with InvalidSkipToken (never another exception).

(Named test_paging_cookie.py: tests/api/test_paging.py already takes the module name test_paging,
and the test directories are not packages.)
"""

from __future__ import annotations

import re
import sqlite3
import time
from urllib.parse import quote, unquote

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable

from odata_emulator.errors import InvalidSkipToken
from odata_emulator.model import MODEL
from odata_emulator.query.binder import Binder
from odata_emulator.query.compiler import Compiler
from odata_emulator.query.options import parse_query_string
from odata_emulator.query.paging import (
    MAX_COOKIE_LENGTH,
    PageCookie,
    decode_cookie,
    encode_cookie,
    keyset_predicate,
    skiptoken_query_value,
)
from odata_emulator.store.schema import METADATA
from odata_emulator.store.values import parse_datetime, to_epoch
from tests.helpers import guid

ASYNC = MODEL.entity("asyncoperation")
LAST_ID = "8151925c-cde2-e411-80db-00155d2a68cb"
FIRST_ID = "7d51925c-cde2-e411-80db-00155d2a68cb"


def order_for(query: str):
    bound = Binder(MODEL, ASYNC).bind_query(parse_query_string(query))
    return Compiler(MODEL, ASYNC).compile(bound).order


KEY_ONLY = order_for("$select=name")
MIXED = order_for("$select=name&$orderby=createdon desc,name,errorcode,executiontimespan,iswaitingforevent,"
                  "_ownerid_value,sequence")


def key_row(key: str) -> dict:
    return {"c_asyncoperationid": key}


# ------------------------------------------------------------------------------------ format


def test_outer_and_inner_format_match_dataverse():
    token = encode_cookie(KEY_ONLY, key_row(FIRST_ID), key_row(LAST_ID), 2)
    # The documented example, with the emulator's table and key.
    assert token == (
        '<cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e%3casyncoperationid%20last%3d%22'
        '%7b8151925C-CDE2-E411-80DB-00155D2A68CB%7d%22%20first%3d%22%7b7D51925C-CDE2-E411-80DB-00155D2A68CB%7d%22'
        '%20%2f%3e%3c%2fcookie%3e" istracking="False" />'
    )
    inner = re.search(r'pagingcookie="([^"]*)"', token).group(1)
    assert unquote(inner) == (
        '<cookie page="1"><asyncoperationid last="{8151925C-CDE2-E411-80DB-00155D2A68CB}" '
        'first="{7D51925C-CDE2-E411-80DB-00155D2A68CB}" /></cookie>'
    )


def test_inner_cookie_escapes_are_lowercase_and_guids_uppercase_in_braces():
    row = {"o0": 1680879541, "o1": "Bulk <delete> & \"x\"", "o2": 7, "o3": 0.25, "o4": 1,
           "o5": "Jane Doe", "o6": 2**62, "c_asyncoperationid": LAST_ID}
    token = encode_cookie(MIXED, row, row, 2)
    inner = re.search(r'pagingcookie="([^"]*)"', token).group(1)
    escapes = re.findall(r"%[0-9a-fA-F]{2}", inner)
    assert escapes and all(e == e.lower() for e in escapes)
    assert "%7b8151925C-CDE2-E411-80DB-00155D2A68CB%7d" in inner
    assert LAST_ID not in inner  # never the lowercase storage form
    decoded = unquote(inner)
    assert decoded.startswith('<cookie page="1"><createdon last="2023-04-07T14:59:01Z" first="2023-04-07T14:59:01Z" />')
    assert '<name last="Bulk &lt;delete&gt; &amp; &quot;x&quot;"' in decoded
    # A lookup sorts by the related row's primary name (webapi/query/order-rows.md), so its key is that name.
    assert '<ownerid last="Jane Doe"' in decoded
    assert decoded.endswith("</cookie>")


def test_page_numbers():
    token = encode_cookie(KEY_ONLY, key_row(FIRST_ID), key_row(LAST_ID), 7)
    assert token.startswith('<cookie pagenumber="7" pagingcookie="%3ccookie%20page%3d%226%22%3e')
    assert decode_cookie(token, KEY_ONLY).page_number == 7


def test_null_values_leave_their_attribute_out():
    order = order_for("$select=name&$orderby=errorcode")
    token = encode_cookie(order, {"o0": 3, "c_asyncoperationid": FIRST_ID}, {"o0": None, "c_asyncoperationid": LAST_ID}, 2)
    assert '<errorcode first="3" />' in unquote(token)
    assert decode_cookie(token, order).last == (None, LAST_ID)


def test_skiptoken_query_value_keeps_equals_and_encodes_the_rest():
    token = encode_cookie(KEY_ONLY, key_row(FIRST_ID), key_row(LAST_ID), 2)
    value = skiptoken_query_value(token)
    assert value == (
        "%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%253c"
        "asyncoperationid%2520last%253d%2522%257b8151925C-CDE2-E411-80DB-00155D2A68CB%257d%2522%2520first%253d"
        "%2522%257b7D51925C-CDE2-E411-80DB-00155D2A68CB%257d%2522%2520%252f%253e%253c%252fcookie%253e%22%20"
        "istracking=%22False%22%20%2F%3E"
    )
    assert "%25" in value and "%3c" not in value.replace("%253c", "")
    assert unquote(value) == token
    # As the client sends it back in the nextLink, the query string parser yields the cookie again.
    options = parse_query_string(f"$select=name&$skiptoken={value}")
    assert options.skiptoken == token
    assert decode_cookie(options.skiptoken, KEY_ONLY) == PageCookie(2, (LAST_ID,))


def test_skiptoken_query_value_escapes_what_a_query_string_would_split_on():
    order = order_for("$select=name&$orderby=name")
    name = "a&b+c#d?e=f%g h"
    token = encode_cookie(order, {"o0": name, "c_asyncoperationid": FIRST_ID},
                          {"o0": name, "c_asyncoperationid": LAST_ID}, 2)
    options = parse_query_string(f"$skiptoken={skiptoken_query_value(token)}&$select=name")
    assert options.skiptoken == token and options.select == "name"
    assert decode_cookie(options.skiptoken, order).last == (name, LAST_ID)


# ------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("query, value", [
    ("$orderby=_ownerid_value", LAST_ID),
    ("$orderby=asyncoperationid desc", LAST_ID),
    ("$orderby=createdon", to_epoch(parse_datetime("2023-04-07T14:59:01Z"))),
    ("$orderby=createdon", 0),
    ("$orderby=createdon", -86400),
    ("$orderby=recurrencestarttime", to_epoch(parse_datetime("2024-02-29T00:00:00Z"))),
    ("$orderby=errorcode", 0),
    ("$orderby=errorcode", -2147483648),
    ("$orderby=sequence", 9223372036854775807),
    ("$orderby=statecode desc", 3),
    ("$orderby=operationtype", 10),
    ("$orderby=executiontimespan", 0.1),
    ("$orderby=executiontimespan", 1234567.125),
    ("$orderby=iswaitingforevent", 1),
    ("$orderby=iswaitingforevent", 0),
    ("$orderby=name", "Bulk delete <completed> & \"failed\" jobs"),
    ("$orderby=name", "O'Brian"),
    ("$orderby=name", "  spaces  \n\ttabs\r"),
    ("$orderby=name", "é中😀"),
    ("$orderby=name", "%3c%25 + &amp;"),
    ("$orderby=name", ""),
    ("$orderby=primaryentitytype", "account"),
    ("$orderby=owninguser/fullname desc", "Jane Doe"),
    ("$orderby=errorcode", None),
    ("$orderby=name desc", None),
    ("$orderby=createdon desc", None),
    ("$orderby=_regardingobjectid_value", None),
])
def test_round_trip(query, value):
    order = order_for(f"$select=name&{query}")
    assert len(order) in (1, 2)
    last = {order[0].label: value, "c_asyncoperationid": LAST_ID}
    first = {order[0].label: None, "c_asyncoperationid": FIRST_ID}
    token = encode_cookie(order, first, last, 2)
    cookie = decode_cookie(token, order)
    assert cookie.page_number == 2
    assert cookie.last == (value, LAST_ID)[:len(order)]
    assert type(cookie.last[0]) is type(value)
    # And through the URL, as a client replays the nextLink.
    replayed = parse_query_string(f"$skiptoken={skiptoken_query_value(token)}").skiptoken
    assert decode_cookie(replayed, order) == cookie


def test_round_trip_of_many_columns():
    last = {"o0": 1680879541, "o1": None, "o2": -5, "o3": 2.5, "o4": 0, "o5": FIRST_ID, "o6": 12,
            "c_asyncoperationid": LAST_ID}
    first = dict(last, o1="x", o5=None)
    cookie = decode_cookie(encode_cookie(MIXED, first, last, 3), MIXED)
    assert cookie == PageCookie(3, (1680879541, None, -5, 2.5, 0, FIRST_ID, 12, LAST_ID))


def test_guids_decode_to_lowercase_storage_form():
    token = ('<cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e%3casyncoperationid%20last%3d%22'
             '%7b8151925C-CDE2-E411-80DB-00155D2A68CB%7d%22%20%2f%3e%3c%2fcookie%3e" />')
    assert decode_cookie(token, KEY_ONLY) == PageCookie(2, (LAST_ID,))  # istracking is optional


# ------------------------------------------------------------------------------------ rejection


def make_token(inner: str, page: str = "2") -> str:
    return f'<cookie pagenumber="{page}" pagingcookie="{quote(inner, safe="")}" istracking="False" />'


GOOD_INNER = f'<cookie page="1"><asyncoperationid last="{{{LAST_ID.upper()}}}" /></cookie>'

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + ']><cookie pagenumber="&lol9;" pagingcookie="x" />'
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE cookie [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<cookie pagenumber="2" pagingcookie="&xxe;" />'
)
PARAMETER_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE cookie [<!ENTITY % p SYSTEM "http://127.0.0.1:1/evil.dtd"> %p;]>'
    '<cookie pagenumber="2" pagingcookie="" />'
)


@pytest.mark.parametrize("token", [
    "",
    "garbage",
    "<cookie",
    "<<<>>>",
    "\x00\x01",
    "2",
    "%3Ccookie%20pagenumber=%222%22%20/%3E",  # still URL-encoded
    '<cookie pagenumber="2" />',  # no pagingcookie
    '<notcookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e%3c%2fcookie%3e" />',
    make_token(GOOD_INNER, page="two"),
    make_token(GOOD_INNER, page=""),
    make_token(GOOD_INNER, page="2.5"),
    make_token("not xml"),
    make_token(""),
    make_token(GOOD_INNER.replace("<cookie", "<other").replace("</cookie>", "</other>")),
    make_token('<cookie page="1"></cookie>'),  # no elements
    make_token(GOOD_INNER.replace("asyncoperationid", "accountid")),  # another table's key
    make_token(GOOD_INNER.replace("</cookie>", '<name last="x" /></cookie>')),  # an extra column
    make_token('<cookie page="1"><asyncoperationid last="{not-a-guid}" /></cookie>'),
    make_token(GOOD_INNER[:-len("</cookie>")]),  # truncated inner XML
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    PARAMETER_ENTITY,
    make_token(BILLION_LAUGHS.replace('pagenumber="&lol9;" pagingcookie="x" ', 'page="&lol9;"')),
    make_token(EXTERNAL_ENTITY.replace('pagenumber="2" pagingcookie="&xxe;"', 'page="1"')
               .replace("/>", '><asyncoperationid last="&xxe;" /></cookie>')),
])
def test_decode_rejects_garbage(token):
    started = time.perf_counter()
    with pytest.raises(InvalidSkipToken):
        decode_cookie(token, KEY_ONLY)
    assert time.perf_counter() - started < 1  # no entity expansion, no network


@pytest.mark.parametrize("query, inner", [
    # A cookie for another order: the keys do not match the query's.
    ("$select=name&$orderby=name", GOOD_INNER),
    ("$select=name", f'<cookie page="1"><name last="x" /><asyncoperationid last="{{{LAST_ID}}}" /></cookie>'),
    ("$select=name&$orderby=createdon", '<cookie page="1"><name last="x" /><asyncoperationid /></cookie>'),
    # Values that do not parse as the column's type.
    ("$select=name&$orderby=createdon", '<cookie page="1"><createdon last="yesterday" /><asyncoperationid /></cookie>'),
    ("$select=name&$orderby=errorcode", '<cookie page="1"><errorcode last="1.5" /><asyncoperationid /></cookie>'),
    ("$select=name&$orderby=iswaitingforevent", '<cookie page="1"><iswaitingforevent last="True" /><asyncoperationid /></cookie>'),
    ("$select=name&$orderby=executiontimespan", '<cookie page="1"><executiontimespan last="fast" /><asyncoperationid /></cookie>'),
])
def test_decode_rejects_a_cookie_for_another_order(query, inner):
    with pytest.raises(InvalidSkipToken):
        decode_cookie(make_token(inner), order_for(query))


def test_cookie_of_one_query_is_refused_by_another():
    order = order_for("$select=name&$orderby=createdon desc")
    token = encode_cookie(order, {"o0": 1, "c_asyncoperationid": FIRST_ID}, {"o0": 2, "c_asyncoperationid": LAST_ID}, 2)
    assert decode_cookie(token, order).last == (2, LAST_ID)
    for other in (KEY_ONLY, order_for("$select=name&$orderby=modifiedon desc"), MIXED):
        with pytest.raises(InvalidSkipToken):
            decode_cookie(token, other)


@pytest.mark.parametrize("page", ["1", "0", "-1", "-99999999999999999999"])
def test_decode_rejects_page_numbers_below_two(page):
    with pytest.raises(InvalidSkipToken, match="page number"):
        decode_cookie(make_token(GOOD_INNER, page=page), KEY_ONLY)


def test_decode_rejects_oversized_input_before_parsing():
    padding = " " * (MAX_COOKIE_LENGTH + 1 - len(make_token(GOOD_INNER)))
    oversized = make_token(GOOD_INNER).replace(" />", padding + " />")
    assert len(oversized) == MAX_COOKIE_LENGTH + 1
    with pytest.raises(InvalidSkipToken, match="too long"):
        decode_cookie(oversized, KEY_ONLY)
    just_fits = oversized.replace("  />", " />")
    assert len(just_fits) == MAX_COOKIE_LENGTH
    assert decode_cookie(just_fits, KEY_ONLY) == PageCookie(2, (LAST_ID,))
    with pytest.raises(InvalidSkipToken, match="too long"):
        decode_cookie("<" * 10_000_000, KEY_ONLY)


def test_every_truncation_and_corruption_is_valid_or_invalid_skiptoken():
    row = {"o0": 1680879541, "o1": "Bulk <delete>", "o2": 7, "o3": 0.25, "o4": 1, "o5": LAST_ID, "o6": 12,
           "c_asyncoperationid": LAST_ID}
    token = encode_cookie(MIXED, row, row, 2)
    candidates = [token[:i] for i in range(len(token))] + [token[i:] for i in range(1, len(token))]
    candidates += [token[:i] + "\"<&%'" [i % 5] + token[i + 1:] for i in range(len(token))]
    for candidate in candidates:
        try:
            cookie = decode_cookie(candidate, MIXED)
        except InvalidSkipToken:
            continue
        assert isinstance(cookie, PageCookie) and cookie.page_number >= 2


# ------------------------------------------------------------------------------------ paging through cookies


ROWS = [  # (errorcode, name, createdon): NULLs and ties
    (None, "b", 100), (5, "A", None), (5, "a", 100), (None, None, 200), (1, "c", None), (9, "B", 300),
    (5, None, 100), (None, "b", None), (1, "a", 200), (9, "c", 300),
]


@pytest.mark.parametrize("orderby", ["errorcode desc,name", "name,createdon desc", "createdon,errorcode desc,name desc"])
def test_paging_through_encoded_cookies_visits_every_row_once(orderby):
    bound = Binder(MODEL, ASYNC).bind_query(parse_query_string(f"$select=name&$orderby={orderby}"))
    compiled = Compiler(MODEL, ASYNC).compile(bound)

    def run(statement):
        text = statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
        return conn.execute(str(text)).fetchall()

    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(str(CreateTable(METADATA.tables["asyncoperation"]).compile(dialect=sqlite.dialect())))
        conn.executemany("INSERT INTO asyncoperation (asyncoperationid, errorcode, name, createdon) VALUES (?, ?, ?, ?)",
                         [(guid(i), *row) for i, row in enumerate(ROWS)])
        everything = [r["c_asyncoperationid"] for r in run(compiled.statement)]
        visited, cookie, page_number = [], None, 1
        while True:
            statement = compiled.statement
            if cookie is not None:
                statement = statement.where(keyset_predicate(compiled.order, cookie.last))
            page = run(statement.limit(3))
            visited.extend(r["c_asyncoperationid"] for r in page)
            if len(page) < 3:
                break
            token = encode_cookie(compiled.order, page[0], page[-1], page_number + 1)
            replayed = parse_query_string(f"$skiptoken={skiptoken_query_value(token)}").skiptoken
            cookie = decode_cookie(replayed, compiled.order)
            page_number += 1
            assert cookie.page_number == page_number
    finally:
        conn.close()
    assert visited == everything and len(set(visited)) == len(ROWS)
