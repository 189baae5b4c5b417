"""Fuzz of request lines and headers (issue 11): any method on any path (the Web API's entity sets,
keys, properties, navigations, functions and documents, the control API, elsewhere), percent-encoded
or not, with the headers that name a caller or steer an answer (`Authorization`, `MSCRMCallerID`,
`CallerObjectId`, `If-None-Match`, `Prefer`, `Accept`), on an emulator that requires a token.

Every answer: no 5xx, within a few seconds, a 4xx in Dataverse's shape (even those the router gives
by itself), a refused request leaves the store as it was (tests/fuzz/harness.py). Budget: the `ci`
profile of tests/fuzz/conftest.py; `HYPOTHESIS_PROFILE=long pytest tests/fuzz` runs thousands of
examples.
"""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as fs
from tests.fuzz.harness import BASE, examples, header_value

EMULATOR = {"require_auth": True}

SEGMENTS = fs.ENTITY_SETS + ["$metadata", "$batch", "$count", "$value", "$ref", "WhoAmI", "BulkDelete",
                             "RetrieveVersion", "EntityDefinitions(LogicalName='asyncoperation')", "name",
                             "owninguser", "AsyncOperation_BulkDeleteOperation", "system_user_asyncoperation",
                             f"asyncoperations({fs.JOB})", f"systemusers({fs.SYSTEM_USER})", "asyncoperations()",
                             "asyncoperations(asyncoperationid=1)", "asyncoperations(name='x',x=1)", "%24metadata",
                             "..", ".", "", "Microsoft.Dynamics.CRM.asyncoperation"]
ROOTS = ["/api/data/v9.2/", "/api/data/v9.2/", "/api/data/v9.2/", "/api/data/v9.1/", "/api/data/", "/_emulator/v1/",
         "/_emulator/v1/jobs/", "/", "//", "/api/data/v9.2"]
METHODS = ["GET", "GET", "GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND"]


def _jwt(claims) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJub25lIn0.{payload}.sig"


tokens = st.one_of(
    st.sampled_from(["Bearer x", "Bearer x", "Bearer x", "bearer x", "Bearer", "Basic dXNlcjpwYXNz", "", "Bearer  ",
                     "Bearer " + "a" * 20_000]),
    st.builds(lambda c: "Bearer " + _jwt(c), st.fixed_dictionaries({}, optional={
        "oid": st.one_of(fs.fuzzy_guid, st.integers(), st.none()), "x": st.integers()})),
    st.builds(lambda t: "Bearer " + t, st.sampled_from(["a.b.c", "..", "a.!!!.c", "a." + "W" * 100 + ".c",
                                                        "a." + base64.urlsafe_b64encode(b"[" * 5000).decode()
                                                        + ".c"])),
)


@st.composite
def requests(draw):
    path = draw(st.sampled_from(ROOTS)) + "/".join(draw(st.lists(st.one_of(st.sampled_from(SEGMENTS), fs.junk),
                                                                 max_size=3)))
    if draw(fs.one_in(3)):
        path = "/" + fs.percent_encode(path[1:], draw(st.integers(0, 2)))
    headers = {}
    if not draw(fs.one_in(8)):
        headers["Authorization"] = draw(tokens)
    for name, values in (("MSCRMCallerID", fs.fuzzy_guid), ("CallerObjectId", fs.fuzzy_guid),
                         ("If-None-Match", st.sampled_from(["*", 'W/"1"', "x"])),
                         ("Prefer", st.sampled_from(['odata.include-annotations="*"', "odata.maxpagesize=1",
                                                     "return=representation"])),
                         ("Accept", st.sampled_from(["application/json", "application/xml", "text/html", "*/*"])),
                         ("Content-Type", st.sampled_from(["application/json", "text/plain", "multipart/mixed"]))):
        if draw(fs.one_in(5)):
            headers[name] = draw(values)
    body = draw(st.sampled_from([None, b"{}", b'{"statecode": 3}', b"x"]))
    return draw(st.sampled_from(METHODS)), BASE + path, {k: header_value(v) for k, v in headers.items()}, body


@settings(max_examples=examples(1.0))
@given(request=requests())
def test_any_method_any_path(harness, request):
    method, url, headers, body = request

    async def go():
        answer = await harness.ask_refusal_unchanged(method, url, headers=headers, content=body)
        if 200 <= answer.status < 300:
            harness.forget_ids()

    harness.run(go())
